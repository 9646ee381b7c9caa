//! Throughput of the SLI sources.
//!
//! `cargo bench -p parky-slo --bench sources` measures bytes per second of parsing combined
//! access logs (the real 2015 sample repeated in memory when `PARKY_SHARED_DATA` is set,
//! generated lines otherwise) and Workers trace events (generated).
//!
//! With `PARKY_SCAN_LOG=/path/to/access.log` the binary instead reads that file once with
//! `read_log_file` and prints one JSON line of counts and throughput: `scripts/bench-logs.sh`
//! uses it to measure wall time and peak memory on a multi-gigabyte file.

use std::hint::black_box;
use std::io::BufReader;
use std::time::Instant;

use criterion::{Criterion, Throughput};
use parky_slo::source::{read_log_file, LogFormat, ReadOptions, SliReader};

/// About 9 MB of combined log lines.
fn combined_input() -> (Vec<u8>, &'static str) {
    if let Some(dir) = std::env::var_os("PARKY_SHARED_DATA") {
        let path = std::path::Path::new(&dir).join("logs/apache_combined_2015.log");
        match std::fs::read(&path) {
            Ok(sample) => return (sample.repeat(4), "real-2015-x4"),
            Err(e) => eprintln!("cannot read {}: {e}; using generated lines", path.display()),
        }
    }
    let mut out = Vec::with_capacity(9_500_000);
    let statuses = [200, 200, 200, 200, 304, 404, 200, 301, 500, 200];
    for i in 0..40_000_u32 {
        let day = 10 + i / 20_000;
        let (h, m, s) = ((i / 3600) % 24, (i / 60) % 60, i % 60);
        let status = statuses[(i % 10) as usize];
        out.extend_from_slice(
            format!(
                "198.18.{}.{} - - [{day:02}/May/2015:{h:02}:{m:02}:{s:02} +0000] \"GET /articles/{i}/index.html?ref=feed HTTP/1.1\" {status} {} \"http://example.com/blog/\" \"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0 Safari/537.36\"\n",
                i % 7,
                i % 251,
                1000 + i % 90_000,
            )
            .as_bytes(),
        );
    }
    (out, "generated")
}

fn workers_input() -> Vec<u8> {
    let outcomes = [
        "ok",
        "ok",
        "ok",
        "ok",
        "exception",
        "ok",
        "ok",
        "canceled",
        "ok",
        "ok",
    ];
    let mut out = Vec::new();
    for i in 0..20_000_u64 {
        let outcome = outcomes[(i % 10) as usize];
        let response = if outcome == "exception" {
            String::new()
        } else {
            format!(
                ",\"Response\":{{\"Status\":{}}}",
                if i % 97 == 0 { 503 } else { 200 }
            )
        };
        out.extend_from_slice(
            format!(
                "{{\"DispatchNamespace\":\"\",\"Event\":{{\"RayID\":\"{i:016x}\",\"Request\":{{\"URL\":\"https://api.example.com/v1/items/{i}\",\"Method\":\"GET\"}}{response}}},\"EventTimestampMs\":{},\"EventType\":\"fetch\",\"Exceptions\":[],\"Logs\":[{{\"Level\":\"log\",\"Message\":[\"handled {i}\"],\"TimestampMs\":{}}}],\"Outcome\":\"{outcome}\",\"ScriptName\":\"{}\",\"ScriptTags\":[]}}\n",
                1_700_000_000_000 + i * 10,
                1_700_000_000_000 + i * 10,
                if i % 5 == 0 { "web" } else { "api" },
            )
            .as_bytes(),
        );
    }
    out
}

fn count_bad(data: &[u8], format: LogFormat, options: &ReadOptions, buffered: bool) -> u64 {
    let mut bad = 0_u64;
    let on_event = |e: parky_slo::model::SliEvent| bad += u64::from(!e.good);
    let report = if buffered {
        let reader = BufReader::with_capacity(256 * 1024, data);
        SliReader::new(reader, format, options.clone()).for_each_event(on_event)
    } else {
        SliReader::new(data, format, options.clone()).for_each_event(on_event)
    };
    black_box(report.map(|r| r.events).unwrap_or(0));
    bad
}

fn bench_combined(c: &mut Criterion) {
    let (data, origin) = combined_input();
    let options = ReadOptions::default();
    let mut group = c.benchmark_group(format!("combined/{origin}"));
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(20);
    group.bench_function("for_each_event/slice", |b| {
        b.iter(|| count_bad(black_box(&data), LogFormat::Combined, &options, false));
    });
    group.bench_function("for_each_event/bufreader-256k", |b| {
        b.iter(|| count_bad(black_box(&data), LogFormat::Combined, &options, true));
    });
    group.bench_function("iterator/slice", |b| {
        b.iter(|| {
            SliReader::new(black_box(&data[..]), LogFormat::Combined, options.clone())
                .filter(|e| e.as_ref().is_ok_and(|e| !e.good))
                .count()
        });
    });
    group.finish();
}

fn bench_workers(c: &mut Criterion) {
    let data = workers_input();
    let options = ReadOptions::default().with_script_name("api");
    let mut group = c.benchmark_group("workers-jsonl/generated");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(20);
    group.bench_function("for_each_event/slice", |b| {
        b.iter(|| count_bad(black_box(&data), LogFormat::WorkersJsonl, &options, false));
    });
    group.finish();
}

/// One pass over a file, for `scripts/bench-logs.sh`.
fn scan(path: &std::ffi::OsStr) {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let start = Instant::now();
    let mut bad = 0_u64;
    let result = read_log_file(path, LogFormat::Combined, ReadOptions::default(), |e| {
        bad += u64::from(!e.good);
    });
    let seconds = start.elapsed().as_secs_f64();
    match result {
        Ok(report) => println!(
            "{{\"bytes\":{size},\"seconds\":{seconds:.3},\"mib_per_s\":{:.1},\"lines\":{},\"events\":{},\"bad\":{bad},\"malformed\":{}}}",
            size as f64 / seconds / 1_048_576.0,
            report.lines,
            report.events,
            report.malformed,
        ),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}

fn main() {
    if let Some(path) = std::env::var_os("PARKY_SCAN_LOG") {
        scan(&path);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench_combined(&mut c);
    bench_workers(&mut c);
    c.final_summary();
}
