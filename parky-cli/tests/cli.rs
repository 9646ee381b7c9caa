//! End-to-end tests of the `parky` binary: flags in, text and JSON out, exit codes.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn parky(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_parky"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("the parky binary built by cargo runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "parky failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("parky prints UTF-8")
}

fn json(output: &Output) -> Value {
    serde_json::from_str(&stdout(output)).expect("parky prints one JSON document")
}

fn shared_data() -> PathBuf {
    let dir = std::env::var_os("PARKY_SHARED_DATA").expect(
        "PARKY_SHARED_DATA is not set: point it at ../shared/data (bash .ci/run does) to run this test",
    );
    PathBuf::from(dir)
}

#[test]
fn windows_json_has_the_workbook_factors_and_detection_times() {
    let doc = json(&parky(&[
        "slo",
        "windows",
        "--objective",
        "99.9",
        "--period",
        "30d",
        "--output",
        "json",
    ]));
    let windows = doc["windows"].as_array().expect("windows array");
    let got: Vec<(String, String, f64, f64)> = windows
        .iter()
        .map(|w| {
            (
                w["long_window"].as_str().unwrap().to_owned(),
                w["short_window"].as_str().unwrap().to_owned(),
                w["burn_factor"].as_f64().unwrap(),
                w["detection_time_seconds"].as_f64().unwrap(),
            )
        })
        .collect();
    // SRE workbook table 5-8 for 30 days: 14.4, 6, 3, 1. Detection at 100 % errors is
    // factor × (1 − 0.999) × long window: 14.4 × 0.001 × 3600 s = 51.84 s,
    // 6 × 0.001 × 21600 = 129.6 s, 3 × 0.001 × 86400 = 259.2 s, 1 × 0.001 × 259200 = 259.2 s.
    let expected = [
        ("1h", "5m", 14.4, 51.84),
        ("6h", "30m", 6.0, 129.6),
        ("1d", "2h", 3.0, 259.2),
        ("3d", "6h", 1.0, 259.2),
    ];
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(expected) {
        assert_eq!((g.0.as_str(), g.1.as_str()), (e.0, e.1));
        assert!((g.2 - e.2).abs() < 1e-9, "factor {g:?} vs {e:?}");
        assert!((g.3 - e.3).abs() < 1e-6, "detection {g:?} vs {e:?}");
    }
    assert_eq!(doc["objective"]["target"].as_f64(), Some(0.999));
}

#[test]
fn windows_text_for_28_days() {
    let text = stdout(&parky(&[
        "slo",
        "windows",
        "--objective",
        "99.9",
        "--period",
        "28d",
    ]));
    // 28 d: 0.02 × 672 h ÷ 1 h = 13.44; 0.05 × 672 ÷ 6 = 5.6; 0.1 × 28 ÷ 1 = 2.8;
    // 0.1 × 28 ÷ 3 = 0.9333… (printed with two decimals).
    for needle in ["13.44", "5.6", "2.8", "0.93", "48.38s"] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
}

#[test]
fn bad_flags_are_named() {
    let out = parky(&["slo", "windows", "--objective", "100"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--objective"), "{err}");

    let out = parky(&["slo", "windows", "--objective", "99.9", "--period", "soon"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--period"));
}

#[test]
fn missing_log_file_is_a_clear_error() {
    let out = parky(&[
        "slo",
        "report",
        "--log",
        "/nonexistent/access.log",
        "--objective",
        "99.9",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/access.log"), "{err}");
}

/// Five requests in two minutes, one 503 and one malformed line.
const SMALL_LOG: &str = r#"203.0.113.1 - - [01/Jun/2024:10:00:05 +0000] "GET / HTTP/1.1" 200 512 "-" "curl/8"
203.0.113.1 - - [01/Jun/2024:10:00:15 +0000] "GET /a HTTP/1.1" 503 0 "-" "curl/8"
this is not an access log line
203.0.113.2 - - [01/Jun/2024:10:00:45 +0000] "GET /b HTTP/1.1" 404 0 "-" "curl/8"
203.0.113.2 - - [01/Jun/2024:10:01:10 +0000] "POST /c HTTP/1.1" 201 10 "-" "curl/8"
203.0.113.3 - - [01/Jun/2024:12:01:50 +0200] "GET /d HTTP/1.1" 200 10 "-" "curl/8"
"#;

#[test]
fn report_counts_a_small_log_and_names_malformed_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    std::fs::write(&path, SMALL_LOG).unwrap();
    let doc = json(&parky(&[
        "slo",
        "report",
        "--log",
        path.to_str().unwrap(),
        "--objective",
        "99",
        "--period",
        "7d",
        "--max-malformed",
        "50",
        "--output",
        "json",
    ]));
    // 5 requests (12:01:50 +0200 is 10:01:50 UTC), one 503; the 404 is good by default.
    assert_eq!(doc["status"]["requests"], 5);
    assert_eq!(doc["status"]["good"], 4);
    assert_eq!(doc["status"]["bad"], 1);
    // Budget: 1 bad ÷ (1 % × 5 requests) = 20 × the budget.
    assert!((doc["status"]["budget_consumed"].as_f64().unwrap() - 20.0).abs() < 1e-9);
    // The last request is in the 10:01 bucket, so the report is as of 10:02.
    assert_eq!(doc["status"]["as_of"], "2024-06-01T10:02:00Z");
    assert_eq!(doc["input"]["malformed"], 1);
    assert_eq!(doc["input"]["first_malformed"][0]["line"], 3);

    // The 1h/5m page: 20× > 14.4× over both windows at the 10:01 boundary already
    // (the 10:00 minute holds 3 requests with 1 bad: burn (1/3)/0.01 = 33.3).
    let timeline = doc["timeline"].as_array().unwrap();
    assert_eq!(timeline[0]["severity"], "page");
    assert_eq!(timeline[0]["state"], "firing");
    assert_eq!(timeline[0]["at"], "2024-06-01T10:01:00Z");

    // Text and Markdown carry the same numbers.
    let text = stdout(&parky(&[
        "slo",
        "report",
        "--log",
        path.to_str().unwrap(),
        "--objective",
        "99",
        "--period",
        "7d",
        "--max-malformed",
        "50",
    ]));
    assert!(text.contains("5: 4 good, 1 bad"), "{text}");
    assert!(text.contains("line 3"), "{text}");
    let md = stdout(&parky(&[
        "slo",
        "report",
        "--log",
        path.to_str().unwrap(),
        "--objective",
        "99",
        "--period",
        "7d",
        "--max-malformed",
        "50",
        "--output",
        "markdown",
    ]));
    assert!(md.starts_with("# SLO report"), "{md}");
    assert!(md.contains("| bad | 1 |"), "{md}");

    // With the default 1 % limit, one malformed line in six fails the command.
    let out = parky(&[
        "slo",
        "report",
        "--log",
        path.to_str().unwrap(),
        "--objective",
        "99",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("access.log"), "{err}");
}

#[test]
fn report_reads_standard_input_and_workers_jsonl() {
    use std::io::Write;
    use std::process::Stdio;
    let lines = concat!(
        r#"{"EventTimestampMs":1717236000000,"Outcome":"ok","ScriptName":"api","Event":{"Response":{"Status":200}}}"#,
        "\n",
        r#"{"EventTimestampMs":1717236001000,"Outcome":"exception","ScriptName":"api","Event":{"Response":{"Status":500}}}"#,
        "\n",
        r#"{"EventTimestampMs":1717236002000,"Outcome":"ok","ScriptName":"web","Event":{"Response":{"Status":503}}}"#,
        "\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_parky"))
        .args([
            "slo",
            "report",
            "--log",
            "-",
            "--log-format",
            "workers-jsonl",
            "--script",
            "api",
            "--objective",
            "99.9",
            "--output",
            "json",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let doc = json(&child.wait_with_output().unwrap());
    // The `web` event is filtered out; of the two `api` events one is an exception.
    assert_eq!(doc["status"]["requests"], 2);
    assert_eq!(doc["status"]["bad"], 1);
    assert_eq!(doc["input"]["filtered"], 1);
}

#[test]
fn demo_is_deterministic_and_tells_the_incidents() {
    let first = json(&parky(&["demo", "--output", "json"]));
    let second = json(&parky(&["demo", "--output", "json"]));
    assert_eq!(first, second, "the same seed tells the same story");
    let slo = &first["slo"];
    // 30 days × 1,440 minutes × 300 requests a minute on average; the daily sine swing sums
    // to zero over whole days.
    assert_eq!(slo["status"]["requests"], 12_960_000);
    let timeline = slo["timeline"].as_array().unwrap();
    let events: Vec<(&str, &str, &str)> = timeline
        .iter()
        .map(|t| {
            (
                t["at"].as_str().unwrap(),
                t["severity"].as_str().unwrap(),
                t["state"].as_str().unwrap(),
            )
        })
        .collect();
    // Fast incident 14:00–14:10 at 15 % errors. The 1h/5m page needs a 1h error ratio above
    // 14.4 × 0.1 % = 1.44 %: after n minutes (n × 15 % + (60 − n) × 0.02 %) / 60 > 1.44 %
    // gives n > 5.69, so it fires at the 14:06 boundary. It resolves when the 5m window no
    // longer holds an incident minute: at 14:15 (window 14:10–14:15).
    assert_eq!(events[0], ("2026-10-27T14:06:00Z", "page", "firing"));
    assert_eq!(events[1], ("2026-10-27T14:15:00Z", "page", "resolved"));
    // The slow burn (0.2 %, 2× the budget rate, 29 Oct 00:00 – 31 Oct 00:00) never reaches a
    // page factor (6 × 0.1 % = 0.6 %) and opens a ticket on the 3d/6h pair while it lasts.
    assert!(events[2..].iter().all(|e| e.1 == "ticket"), "{events:?}");
    assert_eq!(events[2].2, "firing");
    assert!(
        events[2].0 > "2026-10-29T00:00:00Z" && events[2].0 < "2026-10-31T00:00:00Z",
        "{events:?}"
    );
    let last = events.last().unwrap();
    assert_eq!(last.2, "resolved");
    assert!(last.0 < "2026-11-01T00:00:00Z", "{events:?}");

    let text = stdout(&parky(&["demo"]));
    assert!(text.contains("page      firing"), "{text}");
}

#[test]
#[ignore = "needs PARKY_SHARED_DATA"]
fn report_on_the_real_apache_log_matches_an_awk_count() {
    let log = shared_data().join("logs/apache_combined_2015.log");
    let log = log.to_str().unwrap();
    let doc = json(&parky(&[
        "slo",
        "report",
        "--log",
        log,
        "--objective",
        "99.9",
        "--period",
        "30d",
        "--output",
        "json",
    ]));
    // Independent count:
    //   awk '{print $9}' apache_combined_2015.log | sort | uniq -c
    //   → 9126×200 45×206 164×301 445×304 2×403 213×404 2×416 3×500 (10,000 lines)
    //   awk '$9 >= 500' apache_combined_2015.log | wc -l → 3
    let status = &doc["status"];
    assert_eq!(doc["input"]["lines"], 10_000);
    assert_eq!(doc["input"]["malformed"], 0);
    assert_eq!(status["requests"], 10_000);
    assert_eq!(status["good"], 9_997);
    assert_eq!(status["bad"], 3);
    // Budget: 3 ÷ (0.001 × 10,000) = 0.3 consumed.
    assert!((status["budget_consumed"].as_f64().unwrap() - 0.3).abs() < 1e-9);
    // Last line: [20/May/2015:21:05:56 +0000] → its bucket ends at 21:06.
    assert_eq!(status["as_of"], "2015-05-20T21:06:00Z");
    assert_eq!(doc["timeline"].as_array().unwrap().len(), 0);

    // As of 19 May 12:00 UTC:
    //   awk '{split($4,a,/[\[\/:]/); if (a[2]<19 || (a[2]==19 && a[5]<12)) {n++; if ($9>=500) b++}}
    //        END {print n, b}' → 5964 2
    let doc = json(&parky(&[
        "slo",
        "report",
        "--log",
        log,
        "--objective",
        "99.9",
        "--at",
        "2015-05-19T12:00:00Z",
        "--output",
        "json",
    ]));
    assert_eq!(doc["status"]["requests"], 5_964);
    assert_eq!(doc["status"]["bad"], 2);
    assert_eq!(doc["input"]["after_at"], 10_000 - 5_964);

    // `--at` inside a minute is rounded down to the minute: the 115 requests of 12:05 count
    // after it, none is lost (awk with `a[5]==12 && a[6]<6` gives 6079 = 5964 + 115).
    let doc = json(&parky(&[
        "slo",
        "report",
        "--log",
        log,
        "--objective",
        "99.9",
        "--at",
        "2015-05-19T12:05:30Z",
        "--output",
        "json",
    ]));
    assert_eq!(doc["status"]["as_of"], "2015-05-19T12:05:00Z");
    assert_eq!(doc["status"]["requests"], 5_964);
    assert_eq!(doc["input"]["after_at"], 10_000 - 5_964);
    assert!(doc["notes"][0].as_str().unwrap().contains("rounded down"));

    // Every status from 400 up is bad: awk '$9 >= 400' | wc -l → 220.
    let doc = json(&parky(&[
        "slo",
        "report",
        "--log",
        log,
        "--objective",
        "99.9",
        "--bad-status-from",
        "400",
        "--output",
        "json",
    ]));
    assert_eq!(doc["status"]["bad"], 220);
}

#[test]
fn out_of_order_input_is_reported_not_hidden() {
    // The last two requests of SMALL_LOG's order put first: a rotated file read after the
    // current one.
    let lines: Vec<&str> = SMALL_LOG.lines().filter(|l| l.contains("HTTP")).collect();
    let mut shuffled = vec![lines[4], lines[0], lines[1], lines[2], lines[3]];
    shuffled.push("");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rotated.log");
    std::fs::write(&path, shuffled.join("\n")).unwrap();
    let doc = json(&parky(&[
        "slo",
        "report",
        "--log",
        path.to_str().unwrap(),
        "--objective",
        "99",
        "--output",
        "json",
    ]));
    // The 10:01:50 request opened the 10:01 bucket first, so the four requests of 10:00 and
    // 10:01:10... are late: the three of 10:00 (their bucket was evaluated at 10:01); the
    // 10:01:10 one is in the open bucket and on time.
    assert_eq!(doc["status"]["requests"], 5);
    assert_eq!(doc["status"]["late"], 3);
    let notes = doc["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().contains("not in time order")),
        "{notes:?}"
    );
}

#[test]
fn empty_input_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.log");
    std::fs::write(&path, "\n\n").unwrap();
    let out = parky(&[
        "slo",
        "report",
        "--log",
        path.to_str().unwrap(),
        "--objective",
        "99.9",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no requests found"), "{err}");
    assert!(err.contains("empty.log"), "{err}");
}

#[test]
fn short_periods_and_low_objectives_keep_the_windows_that_fit() {
    // 12 h: the 1d and 3d windows do not fit; 1h/5m (0.02 × 12 h ÷ 1 h = 0.24) and 6h/30m
    // (0.05 × 12 ÷ 6 = 0.1) remain.
    let doc = json(&parky(&[
        "slo",
        "windows",
        "--objective",
        "99.9",
        "--period",
        "12h",
        "--output",
        "json",
    ]));
    let factors: Vec<f64> = doc["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["burn_factor"].as_f64().unwrap())
        .collect();
    assert_eq!(factors.len(), 2);
    assert!((factors[0] - 0.24).abs() < 1e-12 && (factors[1] - 0.1).abs() < 1e-12);
    assert_eq!(doc["notes"].as_array().unwrap().len(), 2);

    // 90 % over 30 d: the highest possible burn rate is 1 ÷ 0.1 = 10, so the 1h/5m factor
    // 14.4 can never fire; 6, 3 and 1 remain.
    let doc = json(&parky(&[
        "slo",
        "windows",
        "--objective",
        "90",
        "--period",
        "30d",
        "--output",
        "json",
    ]));
    assert_eq!(doc["windows"].as_array().unwrap().len(), 3);
    let threshold = doc["windows"][0]["threshold_error_ratio"].as_f64().unwrap();
    // 6 × (1 − 0.9) = 0.6
    assert!((threshold - 0.6).abs() < 1e-12, "{threshold}");
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_parky"))
        .args(["demo", "--output", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close our end before the demo writes: its write fails with EPIPE.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
