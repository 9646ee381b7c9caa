//! Receivers against mockito servers that reply as the services document, asserting the
//! captured request (method, path, query, headers, exact JSON body); Discord's limits, one test
//! each, with the expected lengths computed by hand in the comments; and a leak test: no
//! webhook token or routing key in any `Debug`, `Display`, error or log line.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use mockito::{Matcher, Server, ServerGuard};
use parky_core::{ManualClock, SecretString, SecretUrl, ServiceErrorCode};
use parky_notify::receiver::discord::{self, render};
use parky_notify::receiver::pagerduty::{self, pagerduty_severity};
use parky_notify::receiver::{
    slack, Delivery, DiscordWebhook, FileNotifier, JsonWebhook, ManualSleeper, Notifier, PagerDuty,
    SlackWebhook,
};
use parky_notify::{Field, Message, MessageStatus, NotifyError, Severity};
use serde_json::json;

const TOKEN: &str = "SECRET_TOKEN_d1sc0rd";
const DISCORD_PATH: &str = "/api/webhooks/123/SECRET_TOKEN_d1sc0rd";
const SLACK_PATH: &str = "/services/T000/B000/SECRET_TOKEN_d1sc0rd";
const ROUTING_KEY: &str = "R0UT1NGKEY0SECRET0123456789abcde";

fn message() -> Message {
    Message {
        receiver: "ops".into(),
        dedup_key: "grp-1".into(),
        sequence: 1,
        severity: Severity::P0,
        status: MessageStatus::Firing,
        title: "[P0] HighErrorRate: api".into(),
        summary: "5xx ratio 12% over 5m".into(),
        fields: vec![field("service", "api"), field("region", "eu-west-1")],
        mentions: vec!["@here".into()],
        url: Some("https://runbooks.example.com/api".into()),
        source: "parky-slo".into(),
        // unwrap: a valid UTC date-time maps to exactly one instant.
        timestamp: Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap(),
    }
}

/// A message whose fixed parts are one character each: title `t`, author `s`, no summary,
/// no mentions, footer `P0 firing · k` (13 characters).
fn bare_message() -> Message {
    Message {
        title: "t".into(),
        summary: String::new(),
        fields: Vec::new(),
        mentions: Vec::new(),
        url: None,
        source: "s".into(),
        dedup_key: "k".into(),
        ..message()
    }
}

fn field(name: &str, value: &str) -> Field {
    Field {
        name: name.into(),
        value: value.into(),
    }
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

fn secret_url(server: &ServerGuard, path: &str) -> SecretUrl {
    // unwrap: mockito's URL is an absolute http URL.
    SecretUrl::parse(&format!("{}{path}", server.url())).unwrap()
}

fn discord(server: &ServerGuard) -> DiscordWebhook {
    // unwrap: the client builds with the rustls backend compiled in.
    DiscordWebhook::new("discord-ops", secret_url(server, DISCORD_PATH)).unwrap()
}

fn discord_body() -> serde_json::Value {
    json!({
        "content": "@here",
        "embeds": [{
            "title": "[P0] HighErrorRate: api",
            "description": "5xx ratio 12% over 5m",
            "url": "https://runbooks.example.com/api",
            "timestamp": "2024-05-01T12:00:00.000Z",
            "color": 15548997,
            "footer": {"text": "P0 firing · grp-1"},
            "author": {"name": "parky-slo"},
            "fields": [
                {"name": "service", "value": "api"},
                {"name": "region", "value": "eu-west-1"}
            ]
        }],
        "allowed_mentions": {"parse": ["everyone"]}
    })
}

/// The message object Discord returns for `?wait=true` (Execute Webhook → message object).
fn discord_message_object() -> String {
    json!({
        "id": "1234567890123456789",
        "type": 0,
        "content": "@here",
        "channel_id": "111111111111111111",
        "author": {
            "bot": true,
            "id": "123",
            "username": "Parky",
            "avatar": null,
            "discriminator": "0000"
        },
        "attachments": [],
        "embeds": [],
        "mentions": [],
        "mention_roles": [],
        "pinned": false,
        "mention_everyone": true,
        "tts": false,
        "timestamp": "2024-05-01T12:00:01.123000+00:00",
        "edited_timestamp": null,
        "flags": 0,
        "components": [],
        "webhook_id": "123"
    })
    .to_string()
}

fn api_code(err: &NotifyError) -> Option<ServiceErrorCode> {
    match err {
        NotifyError::Delivery { source, .. } => source.code().cloned(),
        _ => None,
    }
}

fn http_status(err: &NotifyError) -> Option<u16> {
    match err {
        NotifyError::Delivery { source, .. } => source.http_status(),
        _ => None,
    }
}

// ---------------------------------------------------------------- Discord over HTTP

#[tokio::test]
async fn discord_200_with_wait_returns_the_message_id() {
    let mut server = Server::new_async().await;
    let mock = server
        .mock("POST", DISCORD_PATH)
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("wait".into(), "true".into()),
            Matcher::UrlEncoded("thread_id".into(), "987654321".into()),
        ]))
        .match_header("content-type", "application/json")
        .match_header("user-agent", Matcher::Regex("^parky-notify/".into()))
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Json(discord_body()))
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_header("x-ratelimit-limit", "5")
        .with_header("x-ratelimit-remaining", "4")
        .with_header("x-ratelimit-reset", "1714564801.123")
        .with_header("x-ratelimit-reset-after", "2")
        .with_header("x-ratelimit-bucket", "abcd1234")
        .with_body(discord_message_object())
        .create_async()
        .await;
    let receiver = discord(&server).with_thread_id(987654321);
    let delivery = receiver.send(&message()).await;
    mock.assert_async().await;
    assert_eq!(
        delivery,
        Ok(Delivery::Discord {
            message_ids: vec!["1234567890123456789".into()],
            parts: 1
        })
    );
    assert_eq!(receiver.name(), "discord-ops");
}

#[tokio::test]
async fn discord_204_without_wait() {
    let mut server = Server::new_async().await;
    let mock = server
        .mock("POST", DISCORD_PATH)
        .match_query(Matcher::Missing)
        .match_body(Matcher::Json(discord_body()))
        .with_status(204)
        .create_async()
        .await;
    let delivery = discord(&server).with_wait(false).send(&message()).await;
    mock.assert_async().await;
    assert_eq!(
        delivery,
        Ok(Delivery::Discord {
            message_ids: vec![],
            parts: 1
        })
    );
}

#[tokio::test]
async fn discord_429_follows_the_body_retry_after() {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap());
    let mut server = Server::new_async().await;
    let mock = server
        .mock("POST", DISCORD_PATH)
        .match_query(Matcher::UrlEncoded("wait".into(), "true".into()))
        .with_status(429)
        .with_header("content-type", "application/json")
        .with_header("retry-after", "1")
        .with_header("x-ratelimit-limit", "5")
        .with_header("x-ratelimit-remaining", "0")
        .with_header("x-ratelimit-reset", "1714564800.5")
        .with_header("x-ratelimit-reset-after", "0.5")
        .with_header("x-ratelimit-bucket", "abcd1234")
        .with_header("x-ratelimit-scope", "user")
        .with_body(
            r#"{"message": "You are being rate limited.", "retry_after": 0.5, "global": false}"#,
        )
        .create_async()
        .await;
    let receiver = discord(&server).with_clock(Arc::new(clock.clone()));
    let err = receiver.send(&message()).await.unwrap_err();
    mock.assert_async().await;
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_millis(500)));
    assert_eq!(http_status(&err), Some(429));
    assert!(
        err.to_string().contains("You are being rate limited."),
        "{err}"
    );
    assert!(!err.to_string().contains("global"), "{err}");
    // The limiter now holds the next request for the 0.5 s Discord asked for.
    assert_eq!(receiver.next_request_in(), Duration::from_millis(500));
    clock.advance(Duration::from_millis(500));
    assert_eq!(receiver.next_request_in(), Duration::ZERO);
}

#[tokio::test]
async fn discord_429_global_and_header_only() {
    let mut server = Server::new_async().await;
    // No usable retry_after in the body: X-RateLimit-Reset-After (fractional) is used.
    let mock = server
        .mock("POST", DISCORD_PATH)
        .match_query(Matcher::Any)
        .with_status(429)
        .with_header("x-ratelimit-global", "true")
        .with_header("x-ratelimit-reset-after", "1.25")
        .with_header("retry-after", "2")
        .with_body(r#"{"message": "You are being rate limited.", "global": true}"#)
        .create_async()
        .await;
    let err = discord(&server).send(&message()).await.unwrap_err();
    mock.assert_async().await;
    assert_eq!(err.retry_after(), Some(Duration::from_millis(1250)));
    assert!(err.to_string().contains("(global)"), "{err}");
}

#[tokio::test]
async fn discord_wait_longer_than_the_maximum_is_throttled_locally() {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap());
    let mut server = Server::new_async().await;
    let mock = server
        .mock("POST", DISCORD_PATH)
        .match_query(Matcher::Any)
        .with_status(429)
        .with_body(
            r#"{"message": "You are being rate limited.", "retry_after": 64.57, "global": false}"#,
        )
        .expect(1)
        .create_async()
        .await;
    let receiver = discord(&server).with_clock(Arc::new(clock.clone()));
    let first = receiver.send(&message()).await.unwrap_err();
    assert_eq!(first.retry_after(), Some(Duration::from_millis(64_570)));
    // The second send does not reach Discord: 64.57 s is above the 5 s maximum wait.
    let second = receiver.send(&message()).await.unwrap_err();
    mock.assert_async().await;
    assert!(
        matches!(second, NotifyError::Throttled { .. }),
        "{second:?}"
    );
    assert!(second.is_retryable());
    assert_eq!(second.retry_after(), Some(Duration::from_millis(64_570)));
}

#[tokio::test]
async fn discord_unknown_webhook_is_permanent_and_keeps_the_code() {
    let mut server = Server::new_async().await;
    let mock = server
        .mock("POST", DISCORD_PATH)
        .match_query(Matcher::Any)
        .with_status(404)
        .with_header("content-type", "application/json")
        .with_body(r#"{"message": "Unknown Webhook", "code": 10015}"#)
        .create_async()
        .await;
    let err = discord(&server).send(&message()).await.unwrap_err();
    mock.assert_async().await;
    assert!(!err.is_retryable());
    assert_eq!(http_status(&err), Some(404));
    assert_eq!(api_code(&err), Some(ServiceErrorCode::Numeric(10015)));
    assert_eq!(
        err.to_string(),
        r#"receiver "discord-ops": discord API error: HTTP 404 (code 10015): Unknown Webhook"#
    );
}

#[tokio::test]
async fn discord_malformed_bodies() {
    let mut server = Server::new_async().await;
    // A 200 whose body is not a message object: the message was posted, so it is a success
    // without an id (retrying would post it twice).
    let ok = server
        .mock("POST", DISCORD_PATH)
        .match_query(Matcher::Any)
        .with_status(200)
        .with_body("{not json")
        .create_async()
        .await;
    let delivery = discord(&server).send(&message()).await;
    ok.assert_async().await;
    assert_eq!(
        delivery,
        Ok(Delivery::Discord {
            message_ids: vec![],
            parts: 1
        })
    );
    ok.remove_async().await;

    // A 400 with an HTML body: permanent, the body excerpt is the message.
    let bad = server
        .mock("POST", DISCORD_PATH)
        .match_query(Matcher::Any)
        .with_status(400)
        .with_body("<html>Bad Request</html>")
        .create_async()
        .await;
    let err = discord(&server).send(&message()).await.unwrap_err();
    bad.assert_async().await;
    assert!(!err.is_retryable());
    assert_eq!(api_code(&err), None);
    assert!(
        err.to_string()
            .ends_with("HTTP 400: <html>Bad Request</html>"),
        "{err}"
    );
}

#[tokio::test]
async fn discord_5xx_is_retryable() {
    let mut server = Server::new_async().await;
    for status in [500, 502, 503] {
        let mock = server
            .mock("POST", DISCORD_PATH)
            .match_query(Matcher::Any)
            .with_status(status)
            .with_body(r#"{"message": "500: Internal Server Error", "code": 0}"#)
            .create_async()
            .await;
        let err = discord(&server).send(&message()).await.unwrap_err();
        mock.assert_async().await;
        assert!(err.is_retryable(), "{status}");
        assert_eq!(http_status(&err), Some(status as u16));
        mock.remove_async().await;
    }
}

#[tokio::test]
async fn discord_client_side_limit_is_5_per_2_seconds() {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap());
    let sleeper = ManualSleeper::new(clock.clone());
    let mut server = Server::new_async().await;
    let mock = server
        .mock("POST", DISCORD_PATH)
        .match_query(Matcher::Any)
        .with_status(200)
        .with_body(discord_message_object())
        .expect(7)
        .create_async()
        .await;
    let receiver = discord(&server)
        .with_clock(Arc::new(clock.clone()))
        .with_sleeper(Arc::new(sleeper.clone()));
    for _ in 0..7 {
        receiver.send(&message()).await.unwrap();
    }
    mock.assert_async().await;
    // Sends 1–5 go at 12:00:00.000; the 6th must wait until the 1st leaves the 2 s window
    // (12:00:02.000), a 2 s wait; the 7th then finds only the 6th in its window.
    assert_eq!(sleeper.slept(), vec![Duration::from_secs(2)]);
}

#[tokio::test]
async fn discord_split_message_is_posted_in_order() {
    // 260 small fields need 11 embeds: two webhook messages (see `limit_ten_embeds`).
    let mut msg = bare_message();
    msg.fields = (0..260).map(|i| field(&format!("f{i:03}"), "v")).collect();
    let payloads = render(&msg);
    let mut server = Server::new_async().await;
    let first = server
        .mock("POST", DISCORD_PATH)
        .match_query(Matcher::Any)
        .match_body(Matcher::Json(serde_json::to_value(&payloads[0]).unwrap()))
        .with_status(200)
        .with_body(r#"{"id": "1", "type": 0, "content": "", "channel_id": "9"}"#)
        .create_async()
        .await;
    let second = server
        .mock("POST", DISCORD_PATH)
        .match_query(Matcher::Any)
        .match_body(Matcher::Json(serde_json::to_value(&payloads[1]).unwrap()))
        .with_status(200)
        .with_body(r#"{"id": "2", "type": 0, "content": "", "channel_id": "9"}"#)
        .create_async()
        .await;
    let delivery = discord(&server).send(&msg).await;
    first.assert_async().await;
    second.assert_async().await;
    assert_eq!(
        delivery,
        Ok(Delivery::Discord {
            message_ids: vec!["1".into(), "2".into()],
            parts: 2
        })
    );
}

#[tokio::test]
async fn discord_split_message_retry_skips_the_parts_already_posted() {
    // 510 small fields need 21 embeds: three webhook messages (10 + 10 + 1 embeds).
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap());
    let sleeper = ManualSleeper::new(clock.clone());
    let mut msg = bare_message();
    msg.fields = (0..510).map(|i| field(&format!("f{i:03}"), "v")).collect();
    let payloads = render(&msg);
    assert_eq!(payloads.len(), 3);
    let body = |i: usize| Matcher::Json(serde_json::to_value(&payloads[i]).unwrap());
    let mut server = Server::new_async().await;
    let part1 = server
        .mock("POST", DISCORD_PATH)
        .match_query(Matcher::Any)
        .match_body(body(0))
        .with_status(204)
        .expect(1)
        .create_async()
        .await;
    // Both match part 2; mockito answers with the first created one still missing hits.
    let part2_limited = server
        .mock("POST", DISCORD_PATH)
        .match_query(Matcher::Any)
        .match_body(body(1))
        .with_status(429)
        .with_header("content-type", "application/json")
        .with_body(
            r#"{"message": "You are being rate limited.", "retry_after": 0.5, "global": false}"#,
        )
        .expect(1)
        .create_async()
        .await;
    let part2 = server
        .mock("POST", DISCORD_PATH)
        .match_query(Matcher::Any)
        .match_body(body(1))
        .with_status(200)
        .with_body(r#"{"id": "2", "type": 0, "content": "", "channel_id": "9"}"#)
        .expect(1)
        .create_async()
        .await;
    let part3 = server
        .mock("POST", DISCORD_PATH)
        .match_query(Matcher::Any)
        .match_body(body(2))
        .with_status(200)
        .with_body(r#"{"id": "3", "type": 0, "content": "", "channel_id": "9"}"#)
        .expect(1)
        .create_async()
        .await;
    let receiver = discord(&server)
        .with_clock(Arc::new(clock.clone()))
        .with_sleeper(Arc::new(sleeper.clone()));

    let err = receiver.send(&msg).await.unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_millis(500)));
    assert_eq!(receiver.partly_delivered(), 1);

    // The outbox retries: part 1 is not posted again, parts 2 and 3 go after the 0.5 s wait.
    let delivery = receiver.send(&msg).await;
    assert_eq!(
        delivery,
        Ok(Delivery::Discord {
            message_ids: vec!["2".into(), "3".into()],
            parts: 3
        })
    );
    part1.assert_async().await;
    part2_limited.assert_async().await;
    part2.assert_async().await;
    part3.assert_async().await;
    assert_eq!(sleeper.slept(), vec![Duration::from_millis(500)]);
    // Delivered in full: forgotten, so memory does not grow.
    assert_eq!(receiver.partly_delivered(), 0);
}

// ---------------------------------------------------------------- Discord limits

#[test]
fn limit_content_2000_keeps_whole_mentions() {
    // 100 user mentions of 21 characters ("<@" + 18 digits + ">"), joined by spaces:
    // n mentions take 21n + (n - 1) = 22n - 1 characters; 22n - 1 ≤ 2000 gives n = 90,
    // i.e. 90 × 21 + 89 = 1979 characters (a 91st would make 2001).
    let mut msg = bare_message();
    msg.mentions = (0..100)
        .map(|i| format!("<@1000000000000000{i:02}>"))
        .collect();
    let payloads = render(&msg);
    let content = payloads[0].content.clone().unwrap();
    assert_eq!(chars(&content), 1979);
    assert_eq!(content.split(' ').count(), 90);
    assert_eq!(payloads[0].allowed_mentions.users.len(), 90);
    assert!(payloads[0].allowed_mentions.parse.is_empty());
}

#[test]
fn limit_title_256() {
    // 300 characters → 255 kept + "…" = 256.
    let mut msg = bare_message();
    msg.title = "T".repeat(300);
    let title = render(&msg)[0].embeds[0].title.clone().unwrap();
    assert_eq!(chars(&title), 256);
    assert_eq!(title, format!("{}…", "T".repeat(255)));
}

#[test]
fn limit_title_counts_code_points() {
    // 256 four-byte emoji are 256 characters for Discord: kept whole (1,024 UTF-8 bytes).
    let mut msg = bare_message();
    msg.title = "🚨".repeat(256);
    assert_eq!(
        render(&msg)[0].embeds[0].title.as_deref(),
        Some(msg.title.as_str())
    );
    msg.title.push('!');
    let title = render(&msg)[0].embeds[0].title.clone().unwrap();
    assert_eq!(title, format!("{}…", "🚨".repeat(255)));
}

#[test]
fn limit_description_4096() {
    // 5000 characters → 4095 kept + "…" = 4096 (title 1 + footer 13 + author 1 leave 5985).
    let mut msg = bare_message();
    msg.summary = "d".repeat(5000);
    let description = render(&msg)[0].embeds[0].description.clone().unwrap();
    assert_eq!(chars(&description), 4096);
    assert!(description.ends_with("d…"));
}

#[test]
fn limit_twenty_five_fields_per_embed() {
    // 30 fields → 25 in the first embed, 5 in a second (fields-only) embed, one message.
    let mut msg = bare_message();
    msg.fields = (0..30).map(|i| field(&format!("f{i:02}"), "v")).collect();
    let payloads = render(&msg);
    assert_eq!(payloads.len(), 1);
    let counts: Vec<usize> = payloads[0].embeds.iter().map(|e| e.fields.len()).collect();
    assert_eq!(counts, [25, 5]);
    assert_eq!(payloads[0].embeds[1].title, None);
    assert_eq!(payloads[0].embeds[1].color, 15548997);
    assert_eq!(payloads[0].embeds[1].fields[0].name, "f25");
}

#[test]
fn limit_field_name_256() {
    let mut msg = bare_message();
    msg.fields = vec![field(&"n".repeat(300), "v")];
    let name = &render(&msg)[0].embeds[0].fields[0].name;
    assert_eq!(chars(name), 256);
    assert_eq!(*name, format!("{}…", "n".repeat(255)));
}

#[test]
fn limit_field_value_1024() {
    let mut msg = bare_message();
    msg.fields = vec![field("n", &"v".repeat(2000)), field("", " ")];
    let fields = &render(&msg)[0].embeds[0].fields;
    assert_eq!(chars(&fields[0].value), 1024);
    assert_eq!(fields[0].value, format!("{}…", "v".repeat(1023)));
    // Empty names and values are refused by Discord: replaced by "-".
    assert_eq!(
        (fields[1].name.as_str(), fields[1].value.as_str()),
        ("-", "-")
    );
}

#[test]
fn limit_footer_2048() {
    // Footer "P0 firing · " (12 characters) + a 3000-character key = 3012 → 2047 + "…".
    let mut msg = bare_message();
    msg.dedup_key = "k".repeat(3000);
    let footer = render(&msg)[0].embeds[0].footer.clone().unwrap().text;
    assert_eq!(chars(&footer), 2048);
    assert_eq!(footer, format!("P0 firing · {}…", "k".repeat(2035)));
}

#[test]
fn limit_author_name_256() {
    let mut msg = bare_message();
    msg.source = "s".repeat(300);
    let author = render(&msg)[0].embeds[0].author.clone().unwrap().name;
    assert_eq!(chars(&author), 256);
    assert_eq!(author, format!("{}…", "s".repeat(255)));
}

#[test]
fn limit_ten_embeds_per_message() {
    // 260 fields of 5 characters ("f000" + "v"): 1300 + 15 characters in all, far below
    // 6000, but 260 / 25 = 10.4 → 11 embeds: 10 embeds (250 fields) in the first message,
    // 1 embed (10 fields) in a second one, which carries no mentions.
    let mut msg = bare_message();
    msg.mentions = vec!["@here".into()];
    msg.fields = (0..260).map(|i| field(&format!("f{i:03}"), "v")).collect();
    let payloads = render(&msg);
    assert_eq!(payloads.len(), 2);
    assert_eq!(payloads[0].embeds.len(), 10);
    assert_eq!(payloads[1].embeds.len(), 1);
    assert_eq!(payloads[1].embeds[0].fields.len(), 10);
    assert_eq!(payloads[1].embeds[0].fields[0].name, "f250");
    assert_eq!(payloads[0].content.as_deref(), Some("@here"));
    assert_eq!(payloads[1].content, None);
    assert_eq!(
        serde_json::to_value(&payloads[1].allowed_mentions).unwrap(),
        json!({"parse": []})
    );
}

#[test]
fn limit_total_6000_splits_fields() {
    // Base: title 1 + footer 13 + author 1 = 15. Fields of "ab" + 998 × "v" cost 1000 each.
    // Message 1: 15 + 5 × 1000 = 5015 (a 6th would make 6015 > 6000).
    // Message 2: 6 × 1000 = 6000 exactly. Message 3: the 12th field, 1000.
    let mut msg = bare_message();
    msg.fields = (0..12).map(|_| field("ab", &"v".repeat(998))).collect();
    let payloads = render(&msg);
    let totals: Vec<usize> = payloads.iter().map(|p| p.embed_chars()).collect();
    assert_eq!(totals, [5015, 6000, 1000]);
    let fields: Vec<usize> = payloads
        .iter()
        .map(|p| p.embeds.iter().map(|e| e.fields.len()).sum())
        .collect();
    assert_eq!(fields, [5, 6, 1]);
}

#[test]
fn limit_total_6000_shortens_the_description() {
    // Title 256 + author 256 + footer 2048 = 2560 leave 6000 − 2560 = 3440 for the
    // description (3439 + "…"): the first embed is exactly 6000 characters.
    let mut msg = bare_message();
    msg.title = "T".repeat(300);
    msg.source = "s".repeat(300);
    msg.dedup_key = "k".repeat(3000);
    msg.summary = "d".repeat(5000);
    let payloads = render(&msg);
    let description = payloads[0].embeds[0].description.clone().unwrap();
    assert_eq!(chars(&description), 3440);
    assert_eq!(payloads[0].embed_chars(), 6000);
}

#[test]
fn every_rendered_payload_is_within_every_limit() {
    let mut msg = message();
    msg.title = "é".repeat(1000);
    msg.summary = "ü".repeat(9000);
    msg.fields = (0..400)
        .map(|i| field(&"n".repeat(i % 300), &"🚨".repeat((i * 37) % 1500)))
        .collect();
    for payload in render(&msg) {
        assert!(payload.embeds.len() <= discord::EMBEDS_PER_MESSAGE);
        assert!(payload.embed_chars() <= discord::EMBEDS_TOTAL_LIMIT);
        assert!(payload.content.as_deref().map_or(0, chars) <= discord::CONTENT_LIMIT);
        for embed in &payload.embeds {
            assert!(embed.fields.len() <= discord::FIELDS_PER_EMBED);
            assert!(embed.title.as_deref().map_or(0, chars) <= discord::TITLE_LIMIT);
            assert!(embed.description.as_deref().map_or(0, chars) <= discord::DESCRIPTION_LIMIT);
            for f in &embed.fields {
                assert!(chars(&f.name) <= discord::FIELD_NAME_LIMIT && !f.name.is_empty());
                assert!(chars(&f.value) <= discord::FIELD_VALUE_LIMIT && !f.value.is_empty());
            }
        }
    }
}

// ---------------------------------------------------------------- PagerDuty

fn pagerduty(server: &ServerGuard) -> PagerDuty {
    let endpoint = format!("{}/v2/enqueue", server.url()).parse().unwrap();
    // unwrap: the client builds with the rustls backend compiled in.
    PagerDuty::new("pager", SecretString::from(ROUTING_KEY))
        .unwrap()
        .with_endpoint(endpoint)
}

#[tokio::test]
async fn pagerduty_trigger_202() {
    let mut server = Server::new_async().await;
    let mock = server
        .mock("POST", "/v2/enqueue")
        .match_header("content-type", "application/json")
        .match_header("authorization", Matcher::Missing)
        .match_body(Matcher::Json(json!({
            "routing_key": ROUTING_KEY,
            "event_action": "trigger",
            "dedup_key": "grp-1",
            "payload": {
                "summary": "[P0] HighErrorRate: api",
                "source": "parky-slo",
                "severity": "critical",
                "timestamp": "2024-05-01T12:00:00.000Z",
                "custom_details": {
                    "summary": "5xx ratio 12% over 5m",
                    "service": "api",
                    "region": "eu-west-1"
                }
            },
            "links": [{"href": "https://runbooks.example.com/api", "text": "Details"}],
            "client": "Parky Ops"
        })))
        .with_status(202)
        .with_header("content-type", "application/json")
        .with_body(r#"{"status":"success","message":"Event processed","dedup_key":"grp-1"}"#)
        .create_async()
        .await;
    let delivery = pagerduty(&server).send(&message()).await;
    mock.assert_async().await;
    assert_eq!(
        delivery,
        Ok(Delivery::PagerDuty {
            dedup_key: "grp-1".into(),
            message: "Event processed".into()
        })
    );
}

#[tokio::test]
async fn pagerduty_acknowledge_and_resolve() {
    let mut server = Server::new_async().await;
    let ack = server
        .mock("POST", "/v2/enqueue")
        .match_body(Matcher::Json(json!({
            "routing_key": ROUTING_KEY, "dedup_key": "grp-1", "event_action": "acknowledge"
        })))
        .with_status(202)
        .with_body(r#"{"status":"success","message":"Event processed","dedup_key":"grp-1"}"#)
        .create_async()
        .await;
    let resolve = server
        .mock("POST", "/v2/enqueue")
        .match_body(Matcher::Json(json!({
            "routing_key": ROUTING_KEY, "dedup_key": "grp-1", "event_action": "resolve"
        })))
        .with_status(202)
        .with_body(r#"{"status":"success","message":"Event processed","dedup_key":"grp-1"}"#)
        .create_async()
        .await;
    let receiver = pagerduty(&server);
    receiver.acknowledge(&message()).await.unwrap();
    let resolved = Message {
        status: MessageStatus::Resolved,
        ..message()
    };
    receiver.send(&resolved).await.unwrap();
    ack.assert_async().await;
    resolve.assert_async().await;
}

#[tokio::test]
async fn pagerduty_400_invalid_event_keeps_errors() {
    let mut server = Server::new_async().await;
    let mock = server
        .mock("POST", "/v2/enqueue")
        .with_status(400)
        .with_header("content-type", "application/json")
        .with_body(
            r#"{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}"#,
        )
        .create_async()
        .await;
    let err = pagerduty(&server).send(&message()).await.unwrap_err();
    mock.assert_async().await;
    assert!(!err.is_retryable());
    assert_eq!(
        err,
        NotifyError::InvalidEvent {
            receiver: "pager".into(),
            message: "Event object is invalid".into(),
            errors: vec!["Length of 'routing_key' is incorrect (should be 32 characters)".into()],
        }
    );
}

#[tokio::test]
async fn pagerduty_429_and_500_are_retryable_without_retry_after() {
    let mut server = Server::new_async().await;
    let throttled = server
        .mock("POST", "/v2/enqueue")
        .with_status(429)
        .with_body(r#"{"status":"throttle event","message":"Requests for this service are arriving too quickly.  Please retry later."}"#)
        .create_async()
        .await;
    let err = pagerduty(&server).send(&message()).await.unwrap_err();
    throttled.assert_async().await;
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), None);
    assert_eq!(http_status(&err), Some(429));
    throttled.remove_async().await;

    let broken = server
        .mock("POST", "/v2/enqueue")
        .with_status(500)
        .with_body("")
        .create_async()
        .await;
    let err = pagerduty(&server).send(&message()).await.unwrap_err();
    broken.assert_async().await;
    assert!(err.is_retryable());
    assert_eq!(http_status(&err), Some(500));
}

#[test]
fn pagerduty_severity_and_long_keys() {
    let severities: Vec<&str> = Severity::ALL.into_iter().map(pagerduty_severity).collect();
    assert_eq!(severities, ["critical", "error", "warning", "info"]);
    let mut msg = message();
    msg.dedup_key = "g".repeat(400);
    msg.title = "x".repeat(2000);
    let event = pagerduty::render(&msg);
    let key = event.dedup_key.unwrap();
    assert_eq!(chars(&key), 255);
    assert_eq!(key, pagerduty::dedup_key(&msg.dedup_key));
    // 1024 = 1023 + "…".
    assert_eq!(chars(&event.payload.unwrap().summary), 1024);
}

// ---------------------------------------------------------------- Slack

fn slack(server: &ServerGuard) -> SlackWebhook {
    // unwrap: the client builds with the rustls backend compiled in.
    SlackWebhook::new("slack-ops", secret_url(server, SLACK_PATH)).unwrap()
}

#[tokio::test]
async fn slack_200_ok() {
    let mut server = Server::new_async().await;
    let mock = server
        .mock("POST", SLACK_PATH)
        .match_header("content-type", "application/json")
        .match_body(Matcher::Json(json!({
            "text": "<!here> [P0] HighErrorRate: api",
            "attachments": [{
                "color": "#ED4245",
                "blocks": [
                    {"type": "header", "text": {"type": "plain_text", "text": "[P0] HighErrorRate: api", "emoji": true}},
                    {"type": "section", "text": {"type": "mrkdwn", "text": "5xx ratio 12% over 5m"}},
                    {"type": "section", "fields": [
                        {"type": "mrkdwn", "text": "*service*\napi"},
                        {"type": "mrkdwn", "text": "*region*\neu-west-1"}
                    ]},
                    {"type": "context", "elements": [
                        {"type": "mrkdwn", "text": "P0 firing · parky-slo · <https://runbooks.example.com/api|Details>"}
                    ]}
                ]
            }]
        })))
        .with_status(200)
        .with_header("content-type", "text/html")
        .with_body("ok")
        .create_async()
        .await;
    let delivery = slack(&server).send(&message()).await;
    mock.assert_async().await;
    assert_eq!(delivery, Ok(Delivery::Slack));
}

#[tokio::test]
async fn slack_errors() {
    let cases = [
        (400, "invalid_payload", false),
        (404, "no_service", false),
        (410, "channel_is_archived", false),
        (403, "action_prohibited", false),
    ];
    let mut server = Server::new_async().await;
    for (status, code, retryable) in cases {
        let mock = server
            .mock("POST", SLACK_PATH)
            .with_status(status)
            .with_header("content-type", "text/html")
            .with_body(code)
            .create_async()
            .await;
        let err = slack(&server).send(&message()).await.unwrap_err();
        mock.assert_async().await;
        assert_eq!(err.is_retryable(), retryable, "{code}");
        assert_eq!(api_code(&err), Some(ServiceErrorCode::Text(code.into())));
        assert_eq!(http_status(&err), Some(status as u16));
        mock.remove_async().await;
    }
    let limited = server
        .mock("POST", SLACK_PATH)
        .with_status(429)
        .with_header("retry-after", "30")
        .with_body("rate_limited")
        .create_async()
        .await;
    let err = slack(&server).send(&message()).await.unwrap_err();
    limited.assert_async().await;
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
}

#[test]
fn slack_limits_and_escaping() {
    let mut msg = message();
    msg.title = "a < b & c".repeat(40);
    msg.summary = "<&>".repeat(2000);
    msg.fields = (0..600).map(|i| field(&format!("f{i}"), "v")).collect();
    let payload = slack::render(&msg);
    let blocks = serde_json::to_value(&payload.attachments[0].blocks).unwrap();
    let blocks = blocks.as_array().unwrap();
    assert_eq!(blocks.len(), slack::BLOCKS_LIMIT);
    assert_eq!(chars(blocks[0]["text"]["text"].as_str().unwrap()), 150);
    let summary = blocks[1]["text"]["text"].as_str().unwrap();
    assert_eq!(chars(summary), 3000);
    assert!(summary.starts_with("&lt;&amp;&gt;"));
    // 50 blocks − header − summary − context = 47 field sections × 10 = 470 places; the
    // last says how many of the 600 fields are hidden: 600 − 470 = 130.
    let last_fields = blocks[48]["fields"].as_array().unwrap();
    assert_eq!(last_fields[9]["text"], "_… 130 more fields not shown_");
}

// ---------------------------------------------------------------- generic webhook and file

#[tokio::test]
async fn json_webhook_posts_the_message_with_a_bearer_token() {
    let mut server = Server::new_async().await;
    let mock = server
        .mock("POST", "/hooks/SECRET_TOKEN_d1sc0rd")
        .match_header("content-type", "application/json")
        .match_header("authorization", "Bearer b3arer-SECRET")
        .match_body(Matcher::Json(serde_json::to_value(message()).unwrap()))
        .with_status(201)
        .create_async()
        .await;
    let receiver = JsonWebhook::new("hook", secret_url(&server, "/hooks/SECRET_TOKEN_d1sc0rd"))
        .unwrap()
        .with_bearer_token(SecretString::from("b3arer-SECRET"));
    let delivery = receiver.send(&message()).await;
    mock.assert_async().await;
    assert_eq!(delivery, Ok(Delivery::Webhook { status: 201 }));
    assert!(!format!("{receiver:?}").contains("b3arer-SECRET"));
}

#[tokio::test]
async fn json_webhook_503_with_retry_after() {
    let mut server = Server::new_async().await;
    let mock = server
        .mock("POST", "/hooks/x")
        .with_status(503)
        .with_header("retry-after", "120")
        .with_body("maintenance")
        .create_async()
        .await;
    let err = JsonWebhook::new("hook", secret_url(&server, "/hooks/x"))
        .unwrap()
        .send(&message())
        .await
        .unwrap_err();
    mock.assert_async().await;
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    assert!(err.to_string().contains("HTTP 503: maintenance"), "{err}");
}

#[tokio::test]
async fn file_notifier_appends_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notifications.jsonl");
    let receiver = FileNotifier::new("file", &path);
    let second = Message {
        sequence: 2,
        status: MessageStatus::Resolved,
        ..message()
    };
    receiver.send(&message()).await.unwrap();
    let delivery = receiver.send(&second).await.unwrap();
    assert_eq!(
        delivery,
        Delivery::File {
            path: path.display().to_string()
        }
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Message> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, vec![message(), second]);
    assert!(text.ends_with('\n'));

    let missing = FileNotifier::new("file", dir.path().join("no/such/dir/x.jsonl"));
    let err = missing.send(&message()).await.unwrap_err();
    assert!(
        matches!(
            err,
            NotifyError::ReceiverIo {
                operation: "open",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

// ---------------------------------------------------------------- secrets

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_in_debug_display_errors_or_logs() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut server = Server::new_async().await;
    let echo = format!("{}{DISCORD_PATH}?wait=true token={TOKEN}", server.url());
    let mut shown = Vec::new();

    // Discord: a non-JSON error body and a JSON message, both echoing the URL and token.
    let plain = server
        .mock("POST", DISCORD_PATH)
        .match_query(Matcher::Any)
        .with_status(400)
        .with_body(format!("bad request for {echo}"))
        .create_async()
        .await;
    let receiver = discord(&server);
    shown.push(format!("{receiver:?}"));
    let err = receiver.send(&message()).await.unwrap_err();
    shown.push(format!("{err} {err:?}"));
    plain.remove_async().await;
    let json_echo = server
        .mock("POST", DISCORD_PATH)
        .match_query(Matcher::Any)
        .with_status(429)
        .with_body(json!({"message": echo, "retry_after": 0.1, "global": false}).to_string())
        .create_async()
        .await;
    let err = discord(&server).send(&message()).await.unwrap_err();
    shown.push(format!("{err} {err:?}"));
    json_echo.remove_async().await;

    // Slack and the generic webhook echo too.
    let slack_echo = server
        .mock("POST", SLACK_PATH)
        .with_status(500)
        .with_body(format!("oops {echo} {SLACK_PATH}"))
        .create_async()
        .await;
    let receiver = slack(&server);
    shown.push(format!("{receiver:?}"));
    let err = receiver.send(&message()).await.unwrap_err();
    shown.push(format!("{err} {err:?}"));
    slack_echo.remove_async().await;

    let hook_path = format!("/hooks/{TOKEN}");
    let hook_echo = server
        .mock("POST", hook_path.as_str())
        .with_status(502)
        .with_body(format!("upstream failed for {}{hook_path}", server.url()))
        .create_async()
        .await;
    let receiver = JsonWebhook::new("hook", secret_url(&server, &hook_path))
        .unwrap()
        .with_bearer_token(SecretString::from(TOKEN));
    shown.push(format!("{receiver:?}"));
    let err = receiver.send(&message()).await.unwrap_err();
    shown.push(format!("{err} {err:?}"));
    hook_echo.remove_async().await;

    // PagerDuty: errors echoing the routing key.
    let pd_echo = server
        .mock("POST", "/v2/enqueue")
        .with_status(400)
        .with_body(
            json!({"status": "invalid event", "message": format!("bad key {ROUTING_KEY}"),
                   "errors": [format!("routing_key {ROUTING_KEY} unknown")]})
            .to_string(),
        )
        .create_async()
        .await;
    let receiver = pagerduty(&server);
    shown.push(format!("{receiver:?}"));
    let err = receiver.send(&message()).await.unwrap_err();
    shown.push(format!("{err} {err:?}"));
    pd_echo.remove_async().await;

    // A network failure: nothing listens on the port any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let dead = SecretUrl::parse(&format!("http://127.0.0.1:{port}{DISCORD_PATH}")).unwrap();
    let receiver = DiscordWebhook::new("dead", dead).unwrap();
    let err = receiver.send(&message()).await.unwrap_err();
    assert!(err.is_retryable());
    assert!(matches!(
        &err,
        NotifyError::Delivery { source, .. } if source.http_status().is_none()
    ));
    shown.push(format!("{err} {err:?}"));
    let dead_pd = PagerDuty::new("dead-pd", SecretString::from(ROUTING_KEY))
        .unwrap()
        .with_endpoint(
            format!("http://127.0.0.1:{port}/v2/enqueue?k={ROUTING_KEY}")
                .parse()
                .unwrap(),
        );
    let err = dead_pd.send(&message()).await.unwrap_err();
    shown.push(format!("{err} {err:?}"));

    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("refused"),
        "expected warnings in the log:\n{logged}"
    );
    shown.push(logged);
    for text in &shown {
        assert!(!text.contains(TOKEN), "token leaked: {text}");
        assert!(!text.contains(ROUTING_KEY), "routing key leaked: {text}");
        assert!(!text.contains("b3arer"), "bearer leaked: {text}");
    }
}
