//! End-to-end tests of `parky notify …` and the demo's notification stage.

use std::process::{Command, Output};

use chrono::{TimeZone, Utc};
use parky_notify::outbox::{Next, Outbox, SqliteOutbox};
use parky_notify::{Message, MessageStatus, Severity};
use serde_json::Value;

fn parky(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_parky"));
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove("SENTRY_AUTH_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the parky binary built by cargo runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "parky failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8")
}

const ROUTES: &str = r#"
route:
  receiver: team
  group_by: [alertname]
  routes:
    - matchers: ['severity=~"page|critical"']
      receiver: oncall
      continue: true
    - matchers: ['service="db"']
      receiver: dba
receivers:
  - name: team
  - name: oncall
  - name: dba
"#;

#[test]
fn route_prints_receivers_like_amtool() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(&config, ROUTES).unwrap();
    let config = config.to_str().unwrap();
    // severity=page matches the first child, which continues; service=db matches the second:
    // both receivers, in tree order (amtool prints `oncall,dba` for this config too).
    let out = parky(
        &[
            "notify",
            "route",
            "--config",
            config,
            "severity=page",
            "service=db",
        ],
        &[],
    );
    assert_eq!(stdout(&out), "oncall,dba\n");
    // No child matches: the root's receiver.
    let out = parky(&["notify", "route", "--config", config, "service=web"], &[]);
    assert_eq!(stdout(&out), "team\n");

    // A config error names the file and the field.
    std::fs::write(
        dir.path().join("bad.yml"),
        "route:\n  receiver: nope\nreceivers: [{name: x}]\n",
    )
    .unwrap();
    let bad = dir.path().join("bad.yml");
    let out = parky(
        &["notify", "route", "--config", bad.to_str().unwrap(), "a=b"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yml") && err.contains("route.receiver"),
        "{err}"
    );
}

fn message(n: u64) -> Message {
    Message {
        receiver: "discord".to_owned(),
        dedup_key: "grp".to_owned(),
        sequence: n,
        severity: Severity::P1,
        status: MessageStatus::Firing,
        title: format!("alert {n}"),
        summary: String::new(),
        fields: Vec::new(),
        mentions: Vec::new(),
        url: None,
        source: "test".to_owned(),
        timestamp: Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap(),
    }
}

#[test]
fn outbox_lists_and_requeues_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.sqlite");
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
    {
        let outbox = SqliteOutbox::open(&path).unwrap();
        outbox
            .enqueue_batch(&[message(1), message(2)], now)
            .unwrap();
        let claims = outbox
            .claim_due(now, std::time::Duration::from_secs(60), 1)
            .unwrap();
        let next = Next::DeadLetter {
            reason: "the error is not retryable".to_owned(),
        };
        outbox
            .fail(&claims[0].lease, "HTTP 404 Unknown Webhook", &next, now)
            .unwrap();
    }
    let path_s = path.to_str().unwrap();
    let out = parky(
        &[
            "notify", "outbox", "list", "--outbox", path_s, "--output", "json",
        ],
        &[],
    );
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["pending"].as_array().unwrap().len(), 1);
    assert_eq!(doc["dead_letters"].as_array().unwrap().len(), 1);
    assert_eq!(doc["dead_letters"][0]["title"], "alert 1");
    assert_eq!(
        doc["dead_letters"][0]["last_error"],
        "HTTP 404 Unknown Webhook"
    );
    let text = stdout(&parky(
        &["notify", "outbox", "list", "--outbox", path_s],
        &[],
    ));
    assert!(text.contains("1 pending, 1 dead letters"), "{text}");

    let out = parky(
        &["notify", "outbox", "retry", "--outbox", path_s, "--all"],
        &[],
    );
    assert_eq!(stdout(&out), "re-queued 1 dead letters\n");
    let outbox = SqliteOutbox::open(&path).unwrap();
    assert_eq!(outbox.pending().unwrap().len(), 2);
    assert!(outbox.dead_letters().unwrap().is_empty());

    // A missing file is an error naming it, not a new empty outbox.
    let out = parky(
        &[
            "notify",
            "outbox",
            "list",
            "--outbox",
            "/nonexistent/o.sqlite",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/o.sqlite"));
}

#[test]
fn sentry_sync_dry_run_plans_the_handbook_rules_without_writing() {
    let mut server = mockito::Server::new();
    // Sentry answers an empty first page for both listings (documented: a JSON array, and a
    // Link header whose next has results="false").
    let link = "<https://sentry.io/api/0/x/?&cursor=0:0:1>; rel=\"previous\"; results=\"false\"; cursor=\"0:0:1\", <https://sentry.io/api/0/x/?&cursor=0:100:0>; rel=\"next\"; results=\"false\"; cursor=\"0:100:0\"";
    let issue = server
        .mock("GET", "/api/0/projects/parky/api/rules/")
        .match_header("authorization", "Bearer sntrys_test_token")
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_header("link", link)
        .with_body("[]")
        .expect_at_least(1)
        .create();
    let metric = server
        .mock("GET", "/api/0/organizations/parky/alert-rules/")
        .match_header("authorization", "Bearer sntrys_test_token")
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_header("link", link)
        .with_body("[]")
        .expect(1)
        .create();
    let writes = server
        .mock("POST", mockito::Matcher::Any)
        .expect(0)
        .create();
    let rules = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../parky-notify/examples/sentry-rules.yaml"
    );
    let out = parky(
        &[
            "notify",
            "sentry-sync",
            "--rules",
            rules,
            "--dry-run",
            "--base-url",
            &server.url(),
            "--output",
            "json",
        ],
        &[("SENTRY_AUTH_TOKEN", "sntrys_test_token")],
    );
    let plan: Value = serde_json::from_str(&stdout(&out)).unwrap();
    // The handbook file holds 12 rules; Sentry has none, so all 12 are to be created.
    let steps = plan["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 12, "{plan}");
    issue.assert();
    metric.assert();
    writes.assert();

    // Without a token: a clear error naming the variable.
    let out = parky(
        &["notify", "sentry-sync", "--rules", rules, "--dry-run"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "parky: error: SENTRY_AUTH_TOKEN is not set: export a Sentry auth token with \
         alerts:read (and alerts:write to apply)\n"
    );
}

#[test]
fn demo_routes_the_slo_alerts_by_severity_into_the_file_receiver() {
    let dir = tempfile::tempdir().unwrap();
    let out = parky(
        &[
            "demo",
            "--output",
            "json",
            "--out-dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let sent = doc["notify"]["sent"].as_array().unwrap();
    // The page fired at the 14:06 boundary; group_wait 30 s → released 14:06:30 to the
    // on-call (the `severity="page"` route) with the P0 mention.
    assert_eq!(sent[0]["at"], "2026-10-27T14:06:30Z");
    assert_eq!(sent[0]["receiver"], "oncall");
    assert_eq!(sent[0]["severity"], "P0");
    assert_eq!(sent[0]["mentions"][0], "@here");
    // Resolved at 14:15; the group flushes every 5 min from 14:06:30, so 14:16:30.
    assert_eq!(sent[1]["at"], "2026-10-27T14:16:30Z");
    assert_eq!(sent[1]["status"], "resolved");
    // The ticket fired Thu 29 Oct 13:42 UTC = 22:42 in Tokyo, outside 09:00-18:00: held
    // until Friday 09:00 JST = 00:00 UTC on the 30th, for the team.
    assert_eq!(sent[2]["at"], "2026-10-30T00:00:00Z");
    assert_eq!(sent[2]["receiver"], "team");
    assert_eq!(sent[2]["severity"], "P2");
    // Everything went through the outbox into the file, one JSON line per message.
    assert_eq!(doc["notify"]["pending"], 0);
    assert_eq!(doc["notify"]["delivered"].as_u64(), Some(sent.len() as u64));
    let lines = std::fs::read_to_string(dir.path().join("notifications.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), sent.len());
}

const RECEIVERS: &str = r#"
route:
  receiver: log
  group_wait: 0s
  routes:
    - matchers: ['severity="P0"']
      receiver: oncall
receivers:
  - name: log
    file_configs: [{path: out.jsonl}]
  - name: oncall
    discord_configs: [{webhook_url: "http://127.0.0.1:1/api/webhooks/123/SECRET_TOKEN_XYZ"}]
"#;

#[test]
fn send_delivers_or_keeps_the_message_and_never_prints_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("am.yml");
    std::fs::write(&config, RECEIVERS).unwrap();
    let outbox = dir.path().join("outbox.sqlite");
    let (config, outbox) = (config.to_str().unwrap(), outbox.to_str().unwrap());
    // P2 routes to the root receiver `log`, a file receiver next to the config.
    let out = parky(
        &[
            "notify",
            "send",
            "--config",
            config,
            "--outbox",
            outbox,
            "--severity",
            "P2",
            "--title",
            "Disk 90%",
            "--field",
            "host=db1",
        ],
        &[],
    );
    assert_eq!(
        stdout(&out),
        format!("P2 to log: 1 delivered, 0 to retry, 0 dead letters (outbox {outbox})\n")
    );
    let line = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    let msg: Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(msg["title"], "[P2] Disk 90%");
    assert_eq!(msg["fields"][0]["value"], "db1");

    // P0 routes to Discord, which cannot be reached (port 1): the message stays in the outbox
    // for a retry, and nothing printed shows the webhook token.
    let out = parky(
        &[
            "notify",
            "send",
            "--config",
            config,
            "--outbox",
            outbox,
            "--severity",
            "p0",
            "--title",
            "API down",
        ],
        &[],
    );
    // Not delivered: exit code 1, the summary on stdout, the reason on stderr.
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not delivered yet"));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(
        text.starts_with("P0 to oncall: 0 delivered, 1 to retry"),
        "{text}"
    );
    let list = parky(
        &[
            "notify", "outbox", "list", "--outbox", outbox, "--output", "json",
        ],
        &[],
    );
    let list_text = stdout(&list);
    let doc: Value = serde_json::from_str(&list_text).unwrap();
    assert_eq!(doc["pending"][0]["receiver"], "oncall");
    assert!(doc["pending"][0]["last_error"]
        .as_str()
        .unwrap()
        .contains("oncall"));
    for shown in [
        text.as_str(),
        list_text.as_str(),
        &String::from_utf8_lossy(&out.stderr),
        &String::from_utf8_lossy(&list.stderr),
    ] {
        assert!(!shown.contains("SECRET_TOKEN_XYZ"), "{shown}");
    }

    // An unknown --receiver is named.
    let out = parky(
        &[
            "notify",
            "send",
            "--config",
            config,
            "--outbox",
            outbox,
            "--severity",
            "P3",
            "--title",
            "x",
            "--receiver",
            "nobody",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`nobody`"));
}

#[test]
fn serve_receives_alerts_over_http_and_stops_on_sigint() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("am.yml");
    std::fs::write(&config, RECEIVERS).unwrap();
    let outbox = dir.path().join("outbox.sqlite");
    let mut child = Command::new(env!("CARGO_BIN_EXE_parky"))
        .args([
            "notify",
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--outbox",
            outbox.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first stderr line names the address it listens on.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_owned();

    let body = r#"{"labels": {"alertname": "QueueBacklog", "severity": "P2"}}"#;
    let mut stream = TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST /api/v1/alerts HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");

    // group_wait 0s: the alert goes out at once; poll the file receiver for at most 20 s.
    let out = dir.path().join("out.jsonl");
    let deadline = Instant::now() + Duration::from_secs(20);
    let line = loop {
        if let Ok(text) = std::fs::read_to_string(&out) {
            if let Some(line) = text.lines().next() {
                break line.to_owned();
            }
        }
        assert!(
            Instant::now() < deadline,
            "no notification written to {}",
            out.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let msg: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(msg["title"], "[P2] [FIRING:1] QueueBacklog");
    assert_eq!(msg["receiver"], "log");

    // SIGINT stops it cleanly.
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn the_example_configs_load_and_route() {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../parky-notify/examples");
    let dir = tempfile::tempdir().unwrap();
    for name in ["alertmanager.yml", "strategy.yml"] {
        std::fs::copy(format!("{examples}/{name}"), dir.path().join(name)).unwrap();
    }
    // The secret files the example points to.
    std::fs::write(
        dir.path().join("pagerduty.key"),
        "R0UTINGKEY0000000000000000000000\n",
    )
    .unwrap();
    for name in ["discord-urgent.url", "discord-team.url"] {
        std::fs::write(
            dir.path().join(name),
            "https://discord.com/api/webhooks/1/tok\n",
        )
        .unwrap();
    }
    let config = dir.path().join("alertmanager.yml");
    let config = config.to_str().unwrap();
    // P0: the pager route continues, then the urgent route matches too.
    let out = parky(&["notify", "route", "--config", config, "severity=P0"], &[]);
    assert_eq!(stdout(&out), "pager,discord-urgent\n");
    let out = parky(&["notify", "route", "--config", config, "severity=P3"], &[]);
    assert_eq!(stdout(&out), "ops-log\n");
    // P3 through the strategy to the file receiver.
    let strategy = dir.path().join("strategy.yml");
    let outbox = dir.path().join("outbox.sqlite");
    let out = parky(
        &[
            "notify",
            "send",
            "--config",
            config,
            "--strategy",
            strategy.to_str().unwrap(),
            "--outbox",
            outbox.to_str().unwrap(),
            "--severity",
            "P3",
            "--title",
            "Weekly DORA report",
        ],
        &[],
    );
    assert!(stdout(&out).starts_with("P3 to ops-log: 1 delivered"));
    let written = std::fs::read_to_string(dir.path().join("notifications.jsonl")).unwrap();
    assert!(written.contains("[P3] Weekly DORA report"));
}

#[test]
fn demo_canary_is_rolled_back_at_the_ten_percent_step() {
    let dir = tempfile::tempdir().unwrap();
    let out = parky(
        &[
            "demo",
            "--output",
            "json",
            "--out-dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let canary = &doc["canary"];
    let ticks = canary["ticks"].as_array().unwrap();
    let weights: Vec<u64> = ticks
        .iter()
        .map(|t| t["weight"].as_u64().unwrap())
        .collect();
    // 09:00 starts at 1 %; 09:05 passes (v42 is healthy at 1 %) and moves to 10 %; from 10 %
    // v42 fails 2 % of its requests: burn 0.02 / 0.001 = 20 against the stable version's
    // ~0.5, far over 3 x, so 09:10 fails a check and 09:15 fails the second one, which is the
    // threshold: rollback. 09:20 completes it.
    assert_eq!(weights, [0, 1, 10, 10, 0]);
    assert!(ticks[1]["verdict"].as_str().unwrap().starts_with("pass"));
    assert!(ticks[2]["verdict"].as_str().unwrap().starts_with("FAIL"));
    assert!(ticks[3]["verdict"].as_str().unwrap().starts_with("FAIL"));
    assert_eq!(ticks[3]["phase"], "rolling_back");
    assert_eq!(canary["outcome"], "rolled_back");
    let splits: Vec<&str> = canary["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d[1].as_str().unwrap())
        .collect();
    assert_eq!(
        splits,
        [
            "v41 100 %",
            "v41 99 % + v42 1 %",
            "v41 90 % + v42 10 %",
            "v41 100 %"
        ]
    );
}

#[test]
fn send_refuses_an_outbox_written_by_another_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let config_a = dir.path().join("a.yml");
    std::fs::write(&config_a, RECEIVERS).unwrap();
    // The same receiver name `oncall`, another Discord webhook.
    let config_b = dir.path().join("b.yml");
    std::fs::write(
        &config_b,
        RECEIVERS.replace("123/SECRET_TOKEN_XYZ", "456/OTHER_TOKEN_ABC"),
    )
    .unwrap();
    let outbox = dir.path().join("outbox.sqlite");
    let outbox_s = outbox.to_str().unwrap();
    let send = |config: &std::path::Path| {
        parky(
            &[
                "notify",
                "send",
                "--config",
                config.to_str().unwrap(),
                "--outbox",
                outbox_s,
                "--severity",
                "P0",
                "--title",
                "API down",
            ],
            &[],
        )
    };
    // A's message cannot be delivered (port 1) and stays pending for A's webhook.
    let a = send(&config_a);
    assert_eq!(a.status.code(), Some(1));
    // B is refused before it writes or sends anything, naming the file and the receiver.
    let b = send(&config_b);
    assert_eq!(b.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&b.stderr).into_owned();
    assert!(
        stderr.contains(&format!(
            "outbox {outbox_s}: receiver \"oncall\" of this configuration has another target"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("1 pending notifications"), "{stderr}");
    assert!(b.stdout.is_empty());
    // `outbox list` still works: only A's entry, for `oncall`.
    let list = parky(
        &[
            "notify", "outbox", "list", "--outbox", outbox_s, "--output", "json",
        ],
        &[],
    );
    let doc: Value = serde_json::from_str(&stdout(&list)).unwrap();
    assert_eq!(doc["pending"].as_array().unwrap().len(), 1);
    assert_eq!(doc["pending"][0]["receiver"], "oncall");
    // A itself is still welcome (the normal path): its retry runs and fails the same way.
    let again = send(&config_a);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("P0 to oncall: 0 delivered"));
    // Neither token shows up in what was printed, nor anywhere in the outbox files.
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        if let Ok(b) = std::fs::read(format!("{outbox_s}{suffix}")) {
            bytes.extend(b);
        }
    }
    for token in ["SECRET_TOKEN_XYZ", "OTHER_TOKEN_ABC"] {
        assert!(!stderr.contains(token), "{stderr}");
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "{token} is in the outbox file"
        );
    }
}

/// Starts `parky notify serve` on a free port; returns the child and its address.
fn spawn_serve(
    config: &std::path::Path,
    outbox: &std::path::Path,
) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_parky"))
        .args([
            "notify",
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--outbox",
            outbox.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first stderr line names the address it listens on.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_owned();
    (child, addr)
}

/// One HTTP/1.1 request; returns the status line and the body.
fn http(addr: &str, method: &str, path: &str, body: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let status = reply.lines().next().unwrap_or_default().to_owned();
    let body = reply
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

fn stop(mut child: std::process::Child) {
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn serve_keeps_alerts_waiting_for_group_wait_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("am.yml");
    // An hour of group_wait: the alert is still waiting when serve stops.
    std::fs::write(
        &config,
        RECEIVERS.replace("group_wait: 0s", "group_wait: 1h"),
    )
    .unwrap();
    let outbox = dir.path().join("outbox.sqlite");

    let (child, addr) = spawn_serve(&config, &outbox);
    let (status, _) = http(
        &addr,
        "POST",
        "/api/v1/alerts",
        r#"{"labels": {"alertname": "QueueBacklog", "severity": "P2"}}"#,
    );
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let (_, health) = http(&addr, "GET", "/healthz", "");
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["pipeline"]["groups"], 1);
    stop(child);

    // Restarted on the same file: the group is back, nothing was sent or queued meanwhile.
    let (child, addr) = spawn_serve(&config, &outbox);
    let (_, health) = http(&addr, "GET", "/healthz", "");
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["pipeline"]["groups"], 1, "{health}");
    assert_eq!(health["outbox"]["pending"], 0, "{health}");
    assert_eq!(health["outbox"]["delivered"], 0, "{health}");
    stop(child);
    assert!(!dir.path().join("out.jsonl").exists());
}

#[test]
fn send_refuses_a_canary_state_file_as_outbox_and_leaves_it_intact() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("canary.sqlite");
    let state = state.to_str().unwrap();
    let out = parky(
        &[
            "canary",
            "start",
            "--state",
            state,
            "--simulate",
            "--canary",
            "v2",
            "--now",
            "2025-03-01T12:00:00Z",
        ],
        &[],
    );
    stdout(&out);
    let status_before = stdout(&parky(&["canary", "status", "--state", state], &[]));
    let before = std::fs::read(state).unwrap();
    let config = dir.path().join("am.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: log\nreceivers:\n  - name: log\n    file_configs: [{path: n.jsonl}]\n",
    )
    .unwrap();
    let out = parky(
        &[
            "notify",
            "send",
            "--config",
            config.to_str().unwrap(),
            "--outbox",
            state,
            "--severity",
            "P1",
            "--title",
            "t",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "parky: error: `{state}` is not a Parky outbox: it is another SQLite database \
             (tables: canary, journal, lease)\n"
        )
    );
    assert!(out.stdout.is_empty());
    // Not one byte of the canary file changed, nothing was delivered, and the controller
    // still reads it.
    assert_eq!(std::fs::read(state).unwrap(), before);
    assert!(!dir.path().join("n.jsonl").exists());
    let status_after = stdout(&parky(&["canary", "status", "--state", state], &[]));
    assert_eq!(status_after, status_before);
    // `outbox list` refuses it the same way.
    let out = parky(&["notify", "outbox", "list", "--outbox", state], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "parky: error: `{state}` is not a Parky outbox: it is another SQLite database \
             (tables: canary, journal, lease)\n"
        )
    );
    assert_eq!(std::fs::read(state).unwrap(), before);
}

#[test]
fn the_readme_commands_run_with_the_local_example() {
    // The README's `send`, then `outbox list`, from the workspace root, with the example that
    // prints every notification to standard output.
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox.sqlite");
    let outbox = outbox.to_str().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_parky"));
    let out = cmd
        .current_dir(root)
        .env_remove("RUST_LOG")
        .args([
            "notify",
            "send",
            "--config",
            "parky-notify/examples/alertmanager-local.yml",
            "--strategy",
            "parky-notify/examples/strategy.yml",
            "--outbox",
            outbox,
            "--severity",
            "P1",
            "--title",
            "Checkout 5xx above 2 %",
            "--field",
            "service=checkout",
        ])
        .output()
        .unwrap();
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    // P1 matches the urgent route only (the strategy names no extra receiver for P1).
    let sent: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(sent["receiver"], "discord-urgent");
    assert_eq!(sent["title"], "[P1] Checkout 5xx above 2 %");
    assert_eq!(
        lines[1],
        format!("P1 to discord-urgent: 1 delivered, 0 to retry, 0 dead letters (outbox {outbox})")
    );
    let out = parky(&["notify", "outbox", "list", "--outbox", outbox], &[]);
    assert!(
        stdout(&out).ends_with(&format!("0 pending, 0 dead letters ({outbox})\n")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
