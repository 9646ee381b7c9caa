//! SLI sources: combined access logs and Workers trace events, read through the public API.
//!
//! Expected timestamps are computed by hand (shown in the comments) and checked with GNU
//! `date -u -d '…' +%s`.
#![cfg(feature = "logs")]

use std::io::Write;

use parky_slo::error::SloError;
use parky_slo::model::SliEvent;
use parky_slo::source::combined::CombinedParser;
use parky_slo::source::{
    open_log_file, read_log_file, BadRequestRule, LogFormat, ReadOptions, ReadReport, SliReader,
};

fn read(data: &[u8], format: LogFormat, options: ReadOptions) -> (Vec<SliEvent>, ReadReport) {
    let mut events = Vec::new();
    let report = SliReader::new(data, format, options)
        .for_each_event(|e| events.push(e))
        .expect("reading succeeds");
    (events, report)
}

fn lenient() -> ReadOptions {
    ReadOptions::default()
        .with_max_malformed_share(1.0)
        .expect("1.0 is a valid share")
}

#[test]
fn apache_combined_line_from_the_real_sample() {
    let line = br#"198.18.0.2 - - [17/May/2015:10:05:03 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/logstash-monitorama-2013/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36""#;
    let (events, report) = read(line, LogFormat::Combined, ReadOptions::default());
    // 2015-05-17: 45 years since 1970 = 45*365 + 11 leap days (72..2012) = 16436 days, plus
    // Jan..Apr 2015 (31+28+31+30 = 120) + 16 = 16572 days = 1_431_820_800 s; + 10:05:03
    // (36_303 s) = 1_431_857_103 (`date -u -d '2015-05-17 10:05:03' +%s`).
    assert_eq!(
        events,
        vec![SliEvent {
            timestamp_ms: 1_431_857_103_000,
            good: true,
            status: Some(200),
            latency_seconds: None,
        }]
    );
    assert_eq!((report.lines, report.events, report.malformed), (1, 1, 0));
    let parsed = CombinedParser::new().parse_line(line).expect("parses");
    assert_eq!(parsed.bytes, Some(203_023));
}

#[test]
fn nginx_line_with_request_time_and_negative_offset() {
    let line = br#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /api/v1/items HTTP/1.1" 502 157 "-" "curl/8.0.1" 0.123"#;
    let (events, _) = read(line, LogFormat::Combined, ReadOptions::default());
    // 13:55:36 at -07:00 is 20:55:36 UTC. 1970-01-01 → 2000-01-01: 30*365 + 7 leap days
    // (72, 76, 80, 84, 88, 92, 96) = 10957 days; 2000-01-01 → 2000-10-10: 31+29+31+30+31+30+
    // 31+31+30 = 274, + 9 = 283 days; 11240 days * 86400 = 971_136_000 s; + 20:55:36 (75_336 s)
    // = 971_211_336 (`date -d '10 Oct 2000 13:55:36 -0700' +%s`).
    assert_eq!(
        events,
        vec![SliEvent {
            timestamp_ms: 971_211_336_000,
            good: false,
            status: Some(502),
            latency_seconds: Some(0.123),
        }]
    );
}

#[test]
fn positive_offset_is_subtracted() {
    // 05:30 at +05:30 is 00:00 UTC on 2000-10-10: 11240 days * 86400 = 971_136_000.
    let line = br#"h - - [10/Oct/2000:05:30:00 +0530] "GET / HTTP/1.1" 200 1 "-" "-""#;
    let (events, _) = read(line, LogFormat::Combined, ReadOptions::default());
    assert_eq!(events[0].timestamp_ms, 971_136_000_000);
}

#[test]
fn escaped_quotes_dash_request_dash_size_and_common_format() {
    let log = concat!(
        // Escaped quotes inside the request and the user agent.
        r#"10.0.0.1 - - [01/Jan/2021:00:00:00 +0000] "GET /search?q=\"a b\" HTTP/1.1" 404 - "-" "UA \"quoted\" x""#,
        "\n",
        // A `-` request (client sent nothing) and `-` size.
        r#"10.0.0.2 - - [01/Jan/2021:00:00:01 +0000] "-" 408 - "-" "-""#,
        "\n",
        // Common log format: no referer and user agent.
        r#"10.0.0.3 - bob [01/Jan/2021:00:00:02 +0000] "POST /x HTTP/1.0" 503 12"#,
        "\n",
        // Nginx `main`: an extra quoted X-Forwarded-For, then the request time.
        r#"10.0.0.4 - - [01/Jan/2021:00:00:03 +0000] "GET / HTTP/2.0" 200 5 "-" "ua" "1.2.3.4, 5.6.7.8" 1.500"#,
        "\n",
    );
    let (events, report) = read(log.as_bytes(), LogFormat::Combined, ReadOptions::default());
    assert_eq!(report.malformed, 0, "{:?}", report.first_malformed);
    // 2021-01-01T00:00:00Z = 1_609_459_200 (`date -u -d 2021-01-01 +%s`).
    let base = 1_609_459_200_000;
    let got: Vec<_> = events
        .iter()
        .map(|e| (e.timestamp_ms - base, e.status, e.good, e.latency_seconds))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, Some(404), true, None),
            (1000, Some(408), true, None),
            (2000, Some(503), false, None),
            (3000, Some(200), true, Some(1.5)),
        ]
    );
}

#[test]
fn unterminated_user_agent_at_end_of_line_is_accepted() {
    // As line 8,899 of the real 2015 sample (found with `awk -F'"' 'NF==6'`).
    let line = br#"198.18.4.69 - - [20/May/2015:12:05:17 +0000] "GET /a.py HTTP/1.1" 200 235 "-" "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html"#;
    let (events, report) = read(line, LogFormat::Combined, ReadOptions::default());
    assert_eq!((report.events, report.malformed), (1, 0));
    assert_eq!(events[0].status, Some(200));
}

#[test]
fn malformed_lines_are_counted_with_their_line_numbers() {
    let good = r#"h - - [01/Jan/2021:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-""#;
    let log = [
        good,                                                           // 1
        "",                                                             // 2 blank
        "garbage",                                                      // 3
        r#"h - - [01/Jan/2021:00:00:00 +0000] "GET / HTTP/1.1" 2x0 1"#, // 4
        "   \t",                                                        // 5 blank
        r#"h - - [31/Feb/2021:00:00:00 +0000] "GET / HTTP/1.1" 200 1"#, // 6
        good,                                                           // 7
        r#"h - - [01/Jan/2021:00:00:00 +0000] "GET / HTTP/1.1 200 1"#,  // 8
    ]
    .join("\n");
    let options = lenient().with_keep_malformed(3);
    let (events, report) = read(log.as_bytes(), LogFormat::Combined, options);
    assert_eq!(events.len(), 2);
    assert_eq!(
        (report.lines, report.blank, report.events, report.malformed),
        (8, 2, 2, 4)
    );
    let kept: Vec<_> = report
        .first_malformed
        .iter()
        .map(|m| (m.line, m.reason.as_str()))
        .collect();
    assert_eq!(
        kept,
        vec![
            (3, "no `[` before the timestamp"),
            (4, "the status is not three digits"),
            (6, "no such day in that month"),
        ]
    );
    assert_eq!(report.first_malformed[0].excerpt, "garbage");
}

fn lines_with_malformed(total: usize, malformed: usize) -> String {
    let mut log = String::new();
    for i in 0..total {
        if i < malformed {
            log.push_str("not a log line\n");
        } else {
            log.push_str(r#"h - - [01/Jan/2021:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-""#);
            log.push('\n');
        }
    }
    log
}

#[test]
fn malformed_share_threshold_at_the_end() {
    // 1 of 100 is exactly 1 %: allowed ("more than" the share fails).
    let log = lines_with_malformed(100, 1);
    let (_, report) = read(log.as_bytes(), LogFormat::Combined, ReadOptions::default());
    assert_eq!((report.events, report.malformed), (99, 1));

    // 2 of 100 is 2 %: fails, naming the input and the counts.
    let log = lines_with_malformed(100, 2);
    let err = SliReader::new(log.as_bytes(), LogFormat::Combined, ReadOptions::default())
        .with_input_name("access.log")
        .for_each_event(|_| {})
        .unwrap_err();
    match &err {
        SloError::TooManyMalformedLines {
            input,
            malformed,
            lines,
            first_line,
            ..
        } => {
            assert_eq!(
                (input.as_str(), *malformed, *lines, *first_line),
                ("access.log", 2, 100, 1)
            );
        }
        other => panic!("unexpected error {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("access.log") && message.contains("2 of 100"),
        "{message}"
    );
}

#[test]
fn malformed_share_fails_early_on_a_wrong_format() {
    // Workers JSON read as a combined log: every line is malformed. With the early check
    // after 50 lines, reading stops at line 50 (50 of 50 > one half) instead of reading all
    // 10 000.
    let line = r#"{"EventTimestampMs":1,"Outcome":"ok"}"#;
    let log = format!("{line}\n").repeat(10_000);
    let options = ReadOptions::default().with_early_check_after(50);
    let mut reader = SliReader::new(log.as_bytes(), LogFormat::Combined, options);
    let first = reader.next().expect("an item");
    assert!(matches!(
        first,
        Err(SloError::TooManyMalformedLines {
            lines: 50,
            malformed: 50,
            max_share: 0.5,
            ..
        })
    ));
    assert!(reader.next().is_none(), "the iterator ends after an error");
    assert_eq!(reader.report().lines, 50);
}

#[test]
fn early_check_also_fires_when_the_threshold_is_crossed_on_a_good_line() {
    // 60 malformed lines first, then good ones: at the 100th (good) line 60 of 100 are
    // malformed, more than one half.
    let log = lines_with_malformed(1000, 60);
    let options = ReadOptions::default().with_early_check_after(100);
    let err = SliReader::new(log.as_bytes(), LogFormat::Combined, options)
        .for_each_event(|_| {})
        .unwrap_err();
    assert!(matches!(
        err,
        SloError::TooManyMalformedLines {
            lines: 100,
            malformed: 60,
            max_share: 0.5,
            ..
        }
    ));
    // Exactly one half (50 of 100) is not more than one half: no early failure; at the end
    // 50 of 1000 = 5 % > 1 % fails over all 1000 lines, with the configured share.
    let log = lines_with_malformed(1000, 50);
    let options = ReadOptions::default().with_early_check_after(100);
    let err = SliReader::new(log.as_bytes(), LogFormat::Combined, options)
        .for_each_event(|_| {})
        .unwrap_err();
    assert!(matches!(
        err,
        SloError::TooManyMalformedLines {
            lines: 1000,
            malformed: 50,
            max_share: 0.01,
            ..
        }
    ));
}

#[test]
fn a_garbage_head_under_the_share_passes() {
    // 150 garbage lines, then 100 000 good ones. The early check at 10 000 non-blank lines
    // sees 150 of 10 000 (1.5 %, not more than one half); at the end 150 of 100 150 is
    // 0.1498 %, under the 1 % limit.
    let log = lines_with_malformed(100_150, 150);
    let (_, report) = read(log.as_bytes(), LogFormat::Combined, ReadOptions::default());
    assert_eq!(
        (report.lines, report.events, report.malformed),
        (100_150, 100_000, 150)
    );
    assert_eq!(report.first_malformed[0].line, 1);
}

#[test]
fn a_larger_configured_share_raises_the_early_bar() {
    // Share 0.8: the early check at 100 lines allows up to 80 malformed. 70 of the first 100
    // pass it, and 70 of 1000 (7 %) pass at the end.
    let lenient_80 = || {
        ReadOptions::default()
            .with_max_malformed_share(0.8)
            .expect("valid share")
            .with_early_check_after(100)
    };
    let log = lines_with_malformed(1000, 70);
    let (_, report) = read(log.as_bytes(), LogFormat::Combined, lenient_80());
    assert_eq!(report.malformed, 70);
    // 81 of the first 100 (81 % > 80 %) fail at line 100.
    let log = lines_with_malformed(1000, 81);
    let err = SliReader::new(log.as_bytes(), LogFormat::Combined, lenient_80())
        .for_each_event(|_| {})
        .unwrap_err();
    assert!(matches!(
        err,
        SloError::TooManyMalformedLines {
            lines: 100,
            malformed: 81,
            max_share: 0.8,
            ..
        }
    ));
}

#[test]
fn blank_lines_do_not_count_towards_the_early_check() {
    // 30 malformed and 20 blank lines, then good ones; early check after 50 non-blank lines:
    // lines 1–30 malformed, 31–50 blank, 51–70 good → the 50th non-blank line is line 70,
    // with 30 of 50 malformed (60 % > 50 %).
    let mut log = "x\n".repeat(30) + &"\n".repeat(20);
    log += &lines_with_malformed(100, 0);
    let options = ReadOptions::default().with_early_check_after(50);
    let mut reader = SliReader::new(log.as_bytes(), LogFormat::Combined, options);
    let err = reader.by_ref().find_map(Result::err).expect("an error");
    assert!(matches!(
        err,
        SloError::TooManyMalformedLines {
            lines: 50,
            malformed: 30,
            ..
        }
    ));
    assert_eq!(reader.report().lines, 70);
}

#[test]
fn over_long_lines_are_malformed_without_being_held() {
    let long = format!(
        "h - - [01/Jan/2021:00:00:00 +0000] \"GET /{} HTTP/1.1\" 200 1",
        "a".repeat(500)
    );
    let log = format!("{long}\nsecond\n");
    let options = lenient().with_max_line_bytes(100).expect("valid");
    let (_, report) = read(log.as_bytes(), LogFormat::Combined, options);
    assert_eq!(report.malformed, 2);
    assert_eq!(report.first_malformed[0].line, 1);
    assert_eq!(
        report.first_malformed[0].reason,
        "line too long (more than 100 bytes)"
    );
    assert_eq!(report.first_malformed[0].excerpt.len(), 100);
}

#[test]
fn crlf_lines_and_missing_final_newline() {
    let log = "h - - [01/Jan/2021:00:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\" 0.5\r\n\r\nh - - [01/Jan/2021:00:00:00 +0000] \"GET / HTTP/1.1\" 500 1";
    let (events, report) = read(log.as_bytes(), LogFormat::Combined, ReadOptions::default());
    assert_eq!((report.lines, report.blank, report.events), (3, 1, 2));
    assert_eq!(events[0].latency_seconds, Some(0.5));
    assert!(!events[1].good);
}

#[test]
fn non_utf8_bytes_do_not_panic() {
    let mut log = Vec::new();
    log.extend_from_slice(
        b"h - - [01/Jan/2021:00:00:00 +0000] \"GET /\xff\xfe HTTP/1.1\" 200 1 \"-\" \"\xc3\x28\"\n",
    );
    log.extend_from_slice(b"\xff\xff\xff garbage\n");
    let (events, report) = read(&log, LogFormat::Combined, lenient());
    assert_eq!((report.events, report.malformed), (1, 1));
    assert_eq!(events[0].status, Some(200));
    assert_eq!(
        report.first_malformed[0].excerpt,
        "\u{fffd}\u{fffd}\u{fffd} garbage"
    );

    let json = b"{\"EventTimestampMs\":1,\"Outcome\":\"ok\",\"ScriptName\":\"\xff\"}\n";
    let (_, report) = read(json, LogFormat::WorkersJsonl, lenient());
    assert_eq!((report.events, report.malformed), (0, 1));
}

const WORKERS: &str = r#"{"Event":{"RayID":"1","Request":{"URL":"https://api.example/","Method":"GET"},"Response":{"Status":200}},"EventTimestampMs":1700000000000,"EventType":"fetch","Exceptions":[],"Logs":[],"Outcome":"ok","ScriptName":"api"}
{"Event":{"RayID":"2","Request":{"URL":"https://api.example/boom","Method":"GET"}},"EventTimestampMs":1700000000100,"EventType":"fetch","Exceptions":[{"Name":"TypeError","Message":"x is undefined","TimestampMs":1700000000101}],"Logs":[],"Outcome":"exception","ScriptName":"api"}
{"Event":{"RayID":"3","Request":{"URL":"https://api.example/slow","Method":"GET"},"Response":{"Status":429}},"EventTimestampMs":1700000000200,"EventType":"fetch","Outcome":"ok","ScriptName":"api"}
{"Event":{"RayID":"4","Request":{"URL":"https://web.example/","Method":"GET"},"Response":{"Status":503}},"EventTimestampMs":1700000000300,"EventType":"fetch","Outcome":"ok","ScriptName":"web"}
{"Event":{"Cron":"*/5 * * * *","ScheduledTimeMs":1700000000400},"EventTimestampMs":1700000000400,"EventType":"scheduled","Outcome":"exceededCpu","ScriptName":"api"}

{"EventTimestampMs":"yesterday","Outcome":"ok","ScriptName":"api"}
"#;

#[test]
fn workers_trace_events() {
    let (events, report) = read(WORKERS.as_bytes(), LogFormat::WorkersJsonl, lenient());
    let got: Vec<_> = events
        .iter()
        .map(|e| (e.timestamp_ms, e.good, e.status))
        .collect();
    assert_eq!(
        got,
        vec![
            (1_700_000_000_000, true, Some(200)),
            // Uncaught exception: no Response, bad by outcome.
            (1_700_000_000_100, false, None),
            // 429 is good under the default rule.
            (1_700_000_000_200, true, Some(429)),
            // Outcome ok but status 503: bad by status.
            (1_700_000_000_300, false, Some(503)),
            // A scheduled event that ran out of CPU: no Response, bad by outcome.
            (1_700_000_000_400, false, None),
        ]
    );
    assert_eq!((report.lines, report.blank, report.malformed), (7, 1, 1));
    assert_eq!(report.first_malformed[0].line, 7);
    // serde's own "at line 1 column 31" is gone (our line is 7); the column stays:
    // `{"EventTimestampMs":"yesterday"` ends at byte 1 + 18 + 1 + 11 = 31.
    assert_eq!(
        report.first_malformed[0].reason,
        r#"invalid type: string "yesterday", expected i64 (column 31)"#
    );
    assert_eq!((report.good, report.bad), (2, 3));
    assert_eq!(report.min_timestamp_ms, Some(1_700_000_000_000));
    assert_eq!(report.max_timestamp_ms, Some(1_700_000_000_400));
}

#[test]
fn workers_script_filter_and_custom_rule() {
    let rule = BadRequestRule::default().also_bad_status(429);
    let options = lenient()
        .with_script_name("api")
        .with_bad_request_rule(rule);
    let (events, report) = read(WORKERS.as_bytes(), LogFormat::WorkersJsonl, options);
    let good: Vec<_> = events.iter().map(|e| e.good).collect();
    assert_eq!(good, vec![true, false, false, false]);
    assert_eq!(report.filtered, 1);

    let only =
        lenient().with_bad_request_rule(BadRequestRule::only_statuses([503]).ignore_outcomes());
    let (events, _) = read(WORKERS.as_bytes(), LogFormat::WorkersJsonl, only);
    let good: Vec<_> = events.iter().map(|e| e.good).collect();
    assert_eq!(good, vec![true, true, true, false, true]);
}

#[test]
fn iterator_and_callback_agree() {
    let log = lines_with_malformed(30, 0) + "oops\n";
    let options = lenient();
    let from_iter: Vec<SliEvent> =
        SliReader::new(log.as_bytes(), LogFormat::Combined, options.clone())
            .collect::<Result<_, _>>()
            .expect("no error");
    let (from_callback, _) = read(log.as_bytes(), LogFormat::Combined, options);
    assert_eq!(from_iter, from_callback);
    assert_eq!(from_iter.len(), 30);
}

#[test]
fn path_helpers_name_the_file() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(lines_with_malformed(10, 5).as_bytes())
        .expect("write");
    let path = file.path().to_owned();
    let err =
        read_log_file(&path, LogFormat::Combined, ReadOptions::default(), |_| {}).unwrap_err();
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );

    let report = open_log_file(&path, LogFormat::Combined, lenient())
        .expect("opens")
        .for_each_event(|_| {})
        .expect("reads");
    assert_eq!((report.events, report.malformed), (5, 5));

    let missing = path.with_extension("missing");
    let err = read_log_file(
        &missing,
        LogFormat::Combined,
        ReadOptions::default(),
        |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, SloError::ReadInput { line: 0, .. }));
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("cannot open `{}`: ", missing.display())),
        "{message}"
    );
    assert!(!message.contains("line"), "{message}");
}

/// Hands out `data`, then fails.
struct FailingAfter<'a> {
    data: &'a [u8],
}

impl std::io::Read for FailingAfter<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.data.is_empty() {
            return Err(std::io::Error::other("disk on fire"));
        }
        let n = out.len().min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn a_read_error_names_the_line() {
    // Two whole lines, then the reader fails while line 3 is read.
    let log = lines_with_malformed(2, 0);
    let reader = std::io::BufReader::new(FailingAfter {
        data: log.as_bytes(),
    });
    let err = SliReader::new(reader, LogFormat::Combined, ReadOptions::default())
        .with_input_name("x.log")
        .for_each_event(|_| {})
        .unwrap_err();
    assert!(matches!(err, SloError::ReadInput { line: 3, .. }));
    assert_eq!(
        err.to_string(),
        "cannot read `x.log` (at line 3): disk on fire"
    );
}

#[test]
fn bad_status_from_has_no_upper_bound() {
    // Statuses 000, 099, 404, 500, 600, 999 with every status ≥ 400 bad: the first two good.
    let log: String = ["000", "099", "404", "500", "600", "999"]
        .iter()
        .map(|status| {
            format!(
                "h - - [01/Jan/2021:00:00:00 +0000] \"GET / HTTP/1.1\" {status} 1 \"-\" \"-\"\n"
            )
        })
        .collect();
    let options = ReadOptions::default().with_bad_request_rule(BadRequestRule::from_status(400));
    let (events, report) = read(log.as_bytes(), LogFormat::Combined, options);
    let got: Vec<(Option<u16>, bool)> = events.iter().map(|e| (e.status, e.good)).collect();
    assert_eq!(
        got,
        vec![
            (Some(0), true),
            (Some(99), true),
            (Some(404), false),
            (Some(500), false),
            (Some(600), false),
            (Some(999), false),
        ]
    );
    assert_eq!((report.good, report.bad), (2, 4));
    // Workers outcomes stay as in the default rule: `exception` and `exceededCpu` are bad,
    // and 429 < 500 is good with `from_status(500)`.
    let options = lenient().with_bad_request_rule(BadRequestRule::from_status(500));
    let (events, _) = read(WORKERS.as_bytes(), LogFormat::WorkersJsonl, options);
    let good: Vec<bool> = events.iter().map(|e| e.good).collect();
    assert_eq!(good, vec![true, false, true, false, false]);
}

/// Reads the real 2015 Apache sample and checks the counts against awk.
///
/// Independent counts (GNU awk, coreutils):
///
/// ```text
/// $ awk '{print $9}' apache_combined_2015.log | sort | uniq -c
///    9126 200
///      45 206
///     164 301
///     445 304
///       2 403
///     213 404
///       2 416
///       3 500          → 10,000 lines, 3 of them ≥ 500 (bad), 9,997 good
/// $ grep -c '^$' apache_combined_2015.log                              → 0 blank lines
/// $ awk '{print $4}' apache_combined_2015.log | sort | sed -n '1p;$p'  (all in May 2015,
///   so the text sort is the time sort)
/// [17/May/2015:10:05:00
/// [20/May/2015:21:05:59
/// $ date -u -d '2015-05-17 10:05:00' +%s  → 1431857100   (earliest)
/// $ date -u -d '2015-05-20 21:05:59' +%s  → 1432155959   (latest)
/// $ head -1 / tail -1: [17/May/2015:10:05:03 +0000] → 1431857103 (first line),
///                      [20/May/2015:21:05:15 +0000] → 1432155915 (last line)
/// ```
#[test]
#[ignore = "needs PARKY_SHARED_DATA"]
fn real_apache_sample_matches_awk() {
    let dir = std::env::var_os("PARKY_SHARED_DATA")
        .expect("set PARKY_SHARED_DATA to the shared data folder (e.g. ../shared/data)");
    let path = std::path::Path::new(&dir).join("logs/apache_combined_2015.log");
    let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
    let mut first = None;
    let mut last = None;
    let report = read_log_file(
        &path,
        LogFormat::Combined,
        ReadOptions::default(),
        |event| {
            *statuses.entry(event.status.unwrap_or(0)).or_default() += 1;
            first.get_or_insert(event.timestamp_ms);
            last = Some(event.timestamp_ms);
        },
    )
    .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));

    assert_eq!(
        statuses.into_iter().collect::<Vec<_>>(),
        vec![
            (200, 9126),
            (206, 45),
            (301, 164),
            (304, 445),
            (403, 2),
            (404, 213),
            (416, 2),
            (500, 3)
        ]
    );
    assert_eq!(
        (
            report.lines,
            report.blank,
            report.events,
            report.malformed,
            report.good,
            report.bad
        ),
        (10_000, 0, 10_000, 0, 9_997, 3)
    );
    assert_eq!(first, Some(1_431_857_103_000));
    assert_eq!(last, Some(1_432_155_915_000));
    assert_eq!(report.min_timestamp_ms, Some(1_431_857_100_000));
    assert_eq!(report.max_timestamp_ms, Some(1_432_155_959_000));
}
