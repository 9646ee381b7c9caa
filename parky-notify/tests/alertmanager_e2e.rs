//! The alert intake endpoint: its payloads and errors over 127.0.0.1, the outbox keeping a
//! message a receiver refused, and (ignored unless `--include-ignored`) the whole chain with
//! a real Alertmanager 0.25 in front and a mockito server standing in for Discord.
//!
//! Expected messages are worked out by hand from the documented rules: the pipeline's title
//! `[<severity>] [<FIRING|RESOLVED>:<count>] <alertname>`, summary lines
//! `- [<state>] {labels}: <summary>`, `dedup_key` `<group key>|<receiver>` with
//! Alertmanager's group key `{}:{alertname="…"}` for the root route; Discord's embed colours
//! (P0 firing `0xED4245` = 15548997, resolved `0x57F287` = 5763719) and footer
//! `<severity> <state> · <dedup_key>`.

#![cfg(feature = "server")]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use mockito::{Matcher, Server, ServerGuard};
use parky_core::{Backoff, Clock, Jitter, ManualClock, RetryPolicy, SystemClock};
use parky_notify::outbox::{DeliveryPolicy, MemoryOutbox, Outbox};
use parky_notify::pipeline::Pipeline;
use parky_notify::policy::strategy::SeverityStrategy;
use parky_notify::receiver::{MemoryNotifier, Notifier};
use parky_notify::server::{router, serve, Service, ALERTMANAGER_PATH, ALERTS_PATH};
use parky_notify::wiring::notifiers_from_policy;
use parky_notify::{MessageStatus, NotifyPolicy, Severity};
use serde_json::{json, Value};

const ALERTMANAGER_BIN: &str = "/usr/bin/prometheus-alertmanager";

fn t0() -> DateTime<Utc> {
    // A valid UTC date and time: `single()` is always `Some`.
    Utc.with_ymd_and_hms(2024, 6, 3, 10, 0, 0).single().unwrap()
}

fn delivery_policy() -> DeliveryPolicy {
    // Valid constants: base ≤ cap and at least one attempt.
    let backoff = Backoff::new(
        Duration::from_secs(1),
        Duration::from_secs(10),
        Jitter::Full,
    )
    .unwrap();
    DeliveryPolicy::new(RetryPolicy::new(5, backoff, Duration::from_secs(60)).unwrap())
}

fn strategy() -> SeverityStrategy {
    SeverityStrategy::from_yaml("severities:\n  P0:\n    mentions: [\"@here\"]\n").unwrap()
}

/// [`strategy`], and the in-memory receiver `ops` (which has no `*_configs` to take
/// `send_resolved` from) hears about resolutions.
fn ops_strategy() -> SeverityStrategy {
    SeverityStrategy::from_yaml(
        "severities:\n  P0:\n    mentions: [\"@here\"]\nreceivers:\n  ops: {send_resolved: true}\n",
    )
    .unwrap()
}

/// Serves the router (no delivery loop: the tests drive `run_once` with a manual clock).
async fn start(service: Arc<Service>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router(service)).await;
    });
    format!("http://{addr}")
}

struct Fixture {
    service: Arc<Service>,
    clock: ManualClock,
    recorder: Arc<MemoryNotifier>,
    outbox: Arc<MemoryOutbox>,
    base: String,
}

/// A service whose only receiver `ops` records messages in memory.
async fn memory_fixture() -> Fixture {
    let policy = NotifyPolicy::from_yaml(
        "route:\n  receiver: ops\n  group_by: [alertname]\n  group_wait: 10s\nreceivers:\n  - name: ops\n",
    )
    .unwrap();
    let clock = ManualClock::new(t0());
    let recorder = Arc::new(MemoryNotifier::new("ops"));
    let outbox = Arc::new(MemoryOutbox::new());
    let mut notifiers: BTreeMap<String, Arc<dyn Notifier>> = BTreeMap::new();
    notifiers.insert("ops".into(), recorder.clone());
    let service = Arc::new(
        Service::new(
            Pipeline::new(policy, ops_strategy()).unwrap(),
            outbox.clone(),
            notifiers,
            Arc::new(clock.clone()),
            delivery_policy(),
        )
        .with_rng_seed(7),
    );
    let base = start(service.clone()).await;
    Fixture {
        service,
        clock,
        recorder,
        outbox,
        base,
    }
}

async fn post(url: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let reply = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    let text = reply.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, value)
}

/// Alertmanager's documented webhook payload (version 4), filled in for one firing alert.
fn v4_payload() -> Value {
    json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"HighErrorRate\"}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "parky",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"alertname": "HighErrorRate", "service": "api", "severity": "critical"},
        "commonAnnotations": {"summary": "5xx ratio 7%"},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "HighErrorRate", "service": "api", "severity": "critical"},
            "annotations": {"summary": "5xx ratio 7%"},
            "startsAt": "2024-06-03T09:59:30.123Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example:9090/graph?g0.expr=rate",
            "fingerprint": "d3c5a1e0b4f2a6c7"
        }]
    })
}

#[tokio::test]
async fn alertmanager_v4_payload_becomes_a_message() {
    let f = memory_fixture().await;
    let (status, body) = post(
        &format!("{}{ALERTMANAGER_PATH}", f.base),
        v4_payload().to_string(),
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!({"status": "success", "alerts": 1}))
    );

    // The alert started 30 s before it arrived, more than group_wait (10 s) ago: the group
    // flushes at once.
    let report = f.service.run_once(f.clock.now()).await.unwrap();
    assert_eq!((report.enqueued, report.delivery.delivered), (1, 1));
    let sent = f.recorder.sent();
    assert_eq!(sent.len(), 1);
    let m = &sent[0];
    assert_eq!(m.title, "[P0] [FIRING:1] HighErrorRate");
    assert_eq!(
        m.summary,
        r#"- [firing] {alertname="HighErrorRate", service="api", severity="critical"}: 5xx ratio 7%"#
    );
    assert_eq!(m.severity, Severity::P0);
    assert_eq!(m.status, MessageStatus::Firing);
    assert_eq!(m.mentions, ["@here"]);
    assert_eq!(m.source, "alertmanager");
    assert_eq!(m.dedup_key, r#"{}:{alertname="HighErrorRate"}|ops"#);
    assert_eq!(
        m.url.as_deref(),
        Some("http://prometheus.example:9090/graph?g0.expr=rate")
    );
    assert_eq!(
        m.timestamp,
        Utc.with_ymd_and_hms(2024, 6, 3, 9, 59, 30).unwrap() + chrono::TimeDelta::milliseconds(123)
    );

    // The same alert resolved (endsAt in the past): a resolved message at the next
    // group_interval (default 5 m).
    let mut resolved = v4_payload();
    resolved["status"] = json!("resolved");
    resolved["alerts"][0]["status"] = json!("resolved");
    resolved["alerts"][0]["endsAt"] = json!("2024-06-03T10:00:00Z");
    f.clock.advance(Duration::from_secs(60));
    let (status, _) = post(
        &format!("{}{ALERTMANAGER_PATH}", f.base),
        resolved.to_string(),
    )
    .await;
    assert_eq!(status, 200);
    f.clock.advance(Duration::from_secs(5 * 60));
    f.service.run_once(f.clock.now()).await.unwrap();
    let sent = f.recorder.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].title, "[P0] [RESOLVED:1] HighErrorRate");
    assert_eq!(sent[1].status, MessageStatus::Resolved);
    assert_eq!(sent[1].timestamp, t0());
    assert!(sent[1].mentions.is_empty());
}

#[tokio::test]
async fn generic_alerts_one_object_or_an_array() {
    let f = memory_fixture().await;
    let url = format!("{}{ALERTS_PATH}", f.base);
    let one = json!({
        "labels": {"alertname": "DiskFull", "severity": "warning"},
        "annotations": {"summary": "disk 91% full"},
        "source": "cron-check"
    });
    assert_eq!(
        post(&url, one.to_string()).await,
        (200, json!({"status": "success", "alerts": 1}))
    );
    let many = json!([
        {"labels": {"alertname": "CertExpiry", "severity": "info", "host": "b"},
         "startsAt": "2024-06-03T09:00:00Z", "endsAt": "2024-06-03T12:00:00Z",
         "generatorURL": "https://grafana.example/d/certs"},
        {"labels": {"alertname": "QueueStuck", "severity": "error"}, "startsAt": "2024-06-03T09:00:00Z"}
    ]);
    assert_eq!(
        post(&url, many.to_string()).await,
        (200, json!({"status": "success", "alerts": 2}))
    );

    // CertExpiry and QueueStuck started an hour ago: flushed at once. DiskFull started now:
    // after group_wait (10 s).
    f.service.run_once(f.clock.now()).await.unwrap();
    let titles: Vec<String> = f.recorder.sent().iter().map(|m| m.title.clone()).collect();
    assert_eq!(
        titles,
        ["[P3] [FIRING:1] CertExpiry", "[P1] [FIRING:1] QueueStuck"]
    );
    f.clock.advance(Duration::from_secs(10));
    f.service.run_once(f.clock.now()).await.unwrap();
    let sent = f.recorder.sent();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[2].title, "[P2] [FIRING:1] DiskFull");
    assert_eq!(sent[2].source, "cron-check");
    assert_eq!(sent[0].source, "api");
    assert_eq!(
        sent[0].url.as_deref(),
        Some("https://grafana.example/d/certs")
    );
    assert_eq!(
        sent[0].timestamp,
        Utc.with_ymd_and_hms(2024, 6, 3, 9, 0, 0).unwrap()
    );
}

#[tokio::test]
async fn bad_bodies_get_400_naming_the_field() {
    let f = memory_fixture().await;
    let am = format!("{}{ALERTMANAGER_PATH}", f.base);
    let generic = format!("{}{ALERTS_PATH}", f.base);

    let mut wrong_version = v4_payload();
    wrong_version["version"] = json!("3");
    let mut no_alerts = v4_payload();
    no_alerts.as_object_mut().unwrap().remove("alerts");
    let mut no_version = v4_payload();
    no_version.as_object_mut().unwrap().remove("version");
    let mut no_starts = v4_payload();
    no_starts["alerts"][0]
        .as_object_mut()
        .unwrap()
        .remove("startsAt");
    let mut bad_status = v4_payload();
    bad_status["alerts"][0]["status"] = json!("pending");
    let mut bad_labels = v4_payload();
    bad_labels["alerts"][0]["labels"] = json!({"alertname": 5});
    let mut bad_time = v4_payload();
    bad_time["alerts"][0]["startsAt"] = json!("03/06/2024");

    let cases: Vec<(&str, String, &str, &str)> = vec![
        (&am, wrong_version.to_string(), "version", r#"version: unsupported webhook payload version "3" (only "4" is supported)"#),
        (&am, no_version.to_string(), "version", "version: missing field"),
        (&am, no_alerts.to_string(), "alerts", "alerts: missing field"),
        (&am, no_starts.to_string(), "alerts[0].startsAt", "alerts[0].startsAt: missing field"),
        (&am, bad_status.to_string(), "alerts[0].status", r#"alerts[0].status: expected "firing" or "resolved", got "pending""#),
        (&am, bad_labels.to_string(), "alerts[0].labels.alertname", "alerts[0].labels.alertname: expected a string"),
        (&am, bad_time.to_string(), "alerts[0].startsAt", r#"alerts[0].startsAt: invalid RFC 3339 timestamp "03/06/2024": premature end of input"#),
        (&am, "[]".to_owned(), "$", "$: expected a JSON object"),
        (&generic, r#"[{"labels": {"a": "b"}}, {"lables": {"a": "b"}}]"#.to_owned(), "[1].lables", "[1].lables: unknown field (expected labels, annotations, startsAt, endsAt, generatorURL, source)"),
        // docs/notify.md: the field is the JSON path inside the body, so an array posted to the
        // generic endpoint has no `alerts` prefix, and a single alert no index.
        (&generic, r#"[{"labels": {"a": "b"}, "startsAt": "yesterday"}]"#.to_owned(), "[0].startsAt", r#"[0].startsAt: invalid RFC 3339 timestamp "yesterday": premature end of input"#),
        (&generic, r#"{"labels": {"a": "b"}, "startsAt": "yesterday"}"#.to_owned(), "startsAt", r#"startsAt: invalid RFC 3339 timestamp "yesterday": premature end of input"#),
        (&generic, r#"{"annotations": {}}"#.to_owned(), "labels", "labels: missing field"),
        (&generic, r#"{"labels": {"a": ""}}"#.to_owned(), "labels", "labels: at least one label with a non-empty value is required"),
        (&generic, r#"{"labels": {"a": "b"}, "startsAt": "2024-06-03T10:00:00Z", "endsAt": "2024-06-03T09:00:00Z"}"#.to_owned(), "endsAt", "endsAt: before startsAt"),
    ];
    for (url, body, field, error) in cases {
        let (status, reply) = post(url, body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            reply,
            json!({"status": "error", "field": field, "error": error}),
            "{body}"
        );
    }

    // Malformed JSON: serde's message with line and column.
    let (status, reply) = post(&am, r#"{"version": "4", "alerts": [}"#).await;
    assert_eq!(status, 400);
    assert_eq!(reply["field"], "$");
    assert_eq!(
        reply["error"],
        "$: invalid JSON: expected value at line 1 column 29"
    );

    // Over the body limit: 413, same shape.
    let big = format!(
        r#"{{"labels": {{"a": "{}"}}}}"#,
        "x".repeat(parky_notify::server::MAX_BODY_BYTES)
    );
    let (status, reply) = post(&generic, big).await;
    assert_eq!(status, 413);
    assert_eq!(reply["status"], "error");
    assert_eq!(reply["field"], "$");

    // Nothing was taken in.
    f.clock.advance(Duration::from_secs(3600));
    f.service.run_once(f.clock.now()).await.unwrap();
    assert!(f.recorder.sent().is_empty());
    assert!(f.outbox.pending().unwrap().is_empty());
}

#[tokio::test]
async fn healthz_reports_the_outbox() {
    let f = memory_fixture().await;
    let reply = reqwest::get(format!("{}/healthz", f.base)).await.unwrap();
    assert_eq!(reply.status().as_u16(), 200);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "status": "ok",
            "outbox": {"pending": 0, "in_flight": 0, "delivered": 0, "dead": 0},
            "pipeline": {"groups": 0, "pending_messages": 0},
        })
    );
}

fn discord_message_object(content: &str) -> String {
    // Discord's documented message object, as returned by Execute Webhook with `?wait=true`.
    json!({
        "id": "1234567890123456789",
        "type": 0,
        "content": content,
        "channel_id": "111111111111111111",
        "author": {"bot": true, "id": "123", "username": "Parky", "avatar": null, "discriminator": "0000"},
        "attachments": [],
        "embeds": [],
        "mentions": [],
        "mention_roles": [],
        "pinned": false,
        "mention_everyone": content == "@here",
        "tts": false,
        "timestamp": "2024-06-03T10:00:01.123000+00:00",
        "edited_timestamp": null,
        "flags": 0,
        "components": [],
        "webhook_id": "123"
    })
    .to_string()
}

fn discord_policy(discord: &ServerGuard, group_interval: &str) -> NotifyPolicy {
    NotifyPolicy::from_yaml(&format!(
        "route:\n  receiver: discord\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: {group_interval}\n\
         receivers:\n  - name: discord\n    discord_configs:\n      - webhook_url: {}/api/webhooks/123/TOKEN\n",
        discord.url()
    ))
    .unwrap()
}

#[tokio::test]
async fn a_refused_message_stays_in_the_outbox_until_delivered() {
    let mut discord = Server::new_async().await;
    let policy = discord_policy(&discord, "5m");
    let notifiers = notifiers_from_policy(&policy, Path::new(".")).unwrap();
    let clock = ManualClock::new(t0());
    let outbox = Arc::new(MemoryOutbox::new());
    let service = Arc::new(Service::new(
        Pipeline::new(policy, strategy()).unwrap(),
        outbox.clone(),
        notifiers,
        Arc::new(clock.clone()),
        delivery_policy(),
    ));
    let base = start(service.clone()).await;

    let failing = discord
        .mock("POST", "/api/webhooks/123/TOKEN")
        .match_query(Matcher::UrlEncoded("wait".into(), "true".into()))
        .with_status(500)
        .with_header("content-type", "application/json")
        .with_body(r#"{"message": "500: Internal Server Error", "code": 0}"#)
        .expect(1)
        .create_async()
        .await;
    let alert = json!({"labels": {"alertname": "QueueStuck", "severity": "page"}, "startsAt": "2024-06-03T09:00:00Z"});
    assert_eq!(
        post(&format!("{base}{ALERTS_PATH}"), alert.to_string())
            .await
            .0,
        200
    );

    let report = service.run_once(clock.now()).await.unwrap();
    assert_eq!(report.enqueued, 1);
    assert_eq!((report.delivery.delivered, report.delivery.retried), (0, 1));
    failing.assert_async().await;
    let pending = outbox.pending().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].message.title, "[P0] [FIRING:1] QueueStuck");
    assert_eq!(pending[0].attempts, 1);
    let error = pending[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("500"), "{error}");
    assert!(
        !error.contains("TOKEN"),
        "the webhook token leaked: {error}"
    );
    failing.remove_async().await;

    let ok = discord
        .mock("POST", "/api/webhooks/123/TOKEN")
        .match_query(Matcher::UrlEncoded("wait".into(), "true".into()))
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_body(discord_message_object("@here"))
        .expect(1)
        .create_async()
        .await;
    // Due again at the latest after the backoff cap (10 s).
    clock.advance(Duration::from_secs(10));
    let report = service.run_once(clock.now()).await.unwrap();
    assert_eq!(report.delivery.delivered, 1);
    ok.assert_async().await;
    assert!(outbox.pending().unwrap().is_empty());
    assert_eq!(outbox.counts(clock.now()).unwrap().delivered, 1);
}

// ---------------------------------------------------------------------------------------
// With the real Alertmanager
// ---------------------------------------------------------------------------------------

/// Kills the Alertmanager process when dropped, also when the test panics.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Polls `check` every 100 ms until it returns `Some`, for at most `limit`.
async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        // A bounded poll of a real external server (allowed by the test conventions).
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus-alertmanager"]
async fn alertmanager_to_discord_end_to_end() {
    assert!(
        Path::new(ALERTMANAGER_BIN).exists(),
        "{ALERTMANAGER_BIN} is missing: install the Debian package prometheus-alertmanager (.ci/run does)"
    );
    let started = Instant::now();

    // Discord, recording every body it is sent.
    let mut discord = Server::new_async().await;
    let bodies: Arc<Mutex<Vec<Value>>> = Arc::default();
    let recorded = bodies.clone();
    let _discord_mock = discord
        .mock("POST", "/api/webhooks/123/TOKEN")
        .match_query(Matcher::UrlEncoded("wait".into(), "true".into()))
        .match_header("content-type", "application/json")
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_body_from_request(move |request| {
            let body: Value = request
                .body()
                .ok()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            let content = body["content"].as_str().unwrap_or("").to_owned();
            recorded.lock().unwrap().push(body);
            discord_message_object(&content).into_bytes()
        })
        .create_async()
        .await;

    // Parky, with the real delivery loop and the system clock.
    let policy = discord_policy(&discord, "1s");
    let notifiers = notifiers_from_policy(&policy, Path::new(".")).unwrap();
    let service = Arc::new(
        Service::new(
            Pipeline::new(policy, strategy()).unwrap(),
            Arc::new(MemoryOutbox::new()),
            notifiers,
            Arc::new(SystemClock),
            delivery_policy(),
        )
        .with_poll_interval(Duration::from_millis(200)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let parky = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, service.clone(), async move {
        let _ = stopped.await;
    }));

    // Alertmanager, routing everything to Parky's webhook endpoint.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: parky\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: parky\n    webhook_configs:\n      - url: http://{parky}{ALERTMANAGER_PATH}\n"
        ),
    )
    .unwrap();
    let am_port = free_port();
    let am = KillOnDrop(
        Command::new(ALERTMANAGER_BIN)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus-alertmanager"),
    );
    let am_url = format!("http://127.0.0.1:{am_port}");
    let http = reqwest::Client::new();
    wait_for(
        "Alertmanager to be ready",
        Duration::from_secs(30),
        || async {
            let reply = http.get(format!("{am_url}/-/ready")).send().await.ok()?;
            reply.status().is_success().then_some(())
        },
    )
    .await;

    // A firing alert, started a minute ago (whole seconds, so its timestamps are exact).
    let starts_at = Utc::now().with_nanosecond_zero() - chrono::TimeDelta::seconds(60);
    let labels = json!({"alertname": "HighErrorRate", "service": "api", "severity": "critical"});
    let annotations = json!({"summary": "5xx ratio 7%", "runbook_url": "https://runbooks.example/high-error-rate"});
    let alert = json!([{
        "labels": labels,
        "annotations": annotations,
        "startsAt": starts_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "generatorURL": "http://prometheus.example:9090/graph"
    }]);
    let reply = http
        .post(format!("{am_url}/api/v2/alerts"))
        .json(&alert)
        .send()
        .await
        .unwrap();
    assert_eq!(
        reply.status().as_u16(),
        200,
        "{}",
        reply.text().await.unwrap_or_default()
    );

    let firing = wait_for(
        "the firing message on Discord",
        Duration::from_secs(30),
        || async { bodies.lock().unwrap().first().cloned() },
    )
    .await;
    let dedup_key = r#"{}:{alertname="HighErrorRate"}|discord"#;
    assert_eq!(
        firing,
        json!({
            "content": "@here",
            "embeds": [{
                "title": "[P0] [FIRING:1] HighErrorRate",
                "description": "- [firing] {alertname=\"HighErrorRate\", service=\"api\", severity=\"critical\"}: 5xx ratio 7%",
                "url": "https://runbooks.example/high-error-rate",
                "timestamp": starts_at.to_rfc3339_opts(SecondsFormat::Millis, true),
                "color": 15548997,
                "footer": {"text": format!("P0 firing · {dedup_key}")},
                "author": {"name": "alertmanager"},
                "fields": [{"name": "alertname", "value": "HighErrorRate"}]
            }],
            "allowed_mentions": {"parse": ["everyone"]}
        })
    );

    // Resolve it: the same labels with an end in the past.
    let ends_at = Utc::now().with_nanosecond_zero() - chrono::TimeDelta::seconds(1);
    let resolved = json!([{
        "labels": labels,
        "annotations": annotations,
        "startsAt": starts_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "endsAt": ends_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "generatorURL": "http://prometheus.example:9090/graph"
    }]);
    let reply = http
        .post(format!("{am_url}/api/v2/alerts"))
        .json(&resolved)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 200);
    let resolved = wait_for(
        "the resolved message on Discord",
        Duration::from_secs(30),
        || async { bodies.lock().unwrap().get(1).cloned() },
    )
    .await;
    assert_eq!(
        resolved,
        json!({
            "embeds": [{
                "title": "[P0] [RESOLVED:1] HighErrorRate",
                "description": "- [resolved] {alertname=\"HighErrorRate\", service=\"api\", severity=\"critical\"}: 5xx ratio 7%",
                "url": "https://runbooks.example/high-error-rate",
                "timestamp": ends_at.to_rfc3339_opts(SecondsFormat::Millis, true),
                "color": 5763719,
                "footer": {"text": format!("P0 resolved · {dedup_key}")},
                "author": {"name": "alertmanager"},
                "fields": [{"name": "alertname", "value": "HighErrorRate"}]
            }],
            "allowed_mentions": {"parse": []}
        })
    );
    assert_eq!(
        bodies.lock().unwrap().len(),
        2,
        "exactly two Discord messages"
    );

    drop(am);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    let counts = service.outbox().counts(Utc::now()).unwrap();
    assert_eq!((counts.pending, counts.delivered, counts.dead), (0, 2, 0));
    eprintln!("end-to-end test took {:?}", started.elapsed());
}

trait WholeSeconds {
    fn with_nanosecond_zero(self) -> Self;
}

impl WholeSeconds for DateTime<Utc> {
    fn with_nanosecond_zero(self) -> Self {
        chrono::Timelike::with_nanosecond(&self, 0).unwrap_or(self)
    }
}
