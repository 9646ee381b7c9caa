//! End-to-end use of the public API: a retry loop driven by a manual clock against
//! scripted responses, and secrets that never leak through errors.

use std::convert::Infallible;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use parky_core::{
    redact, ApiError, Backoff, Clock, CoreError, Decision, DelaySource, ExposeSecret, Failure,
    GiveUpReason, Jitter, ManualClock, RateLimit, RetryAfter, RetryPolicy, SecretString, SecretUrl,
};

/// Always returns the largest word, so full jitter picks the top of its range.
#[derive(Debug)]
struct TopRng;

impl rand::TryRng for TopRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(u32::MAX)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(u64::MAX)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        dst.fill(0xff);
        Ok(())
    }
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 12, 0, 0).single().unwrap()
}

/// A scripted response: headers of an error reply, with its status.
type Reply = (u16, Vec<(&'static str, &'static str)>);

/// Run `replies` through the policy like a client would, returning the waits and
/// the final outcome.
fn drive(
    policy: &RetryPolicy,
    clock: &ManualClock,
    replies: &[Reply],
) -> (Vec<(Duration, DelaySource)>, Option<GiveUpReason>) {
    let mut waits = Vec::new();
    let mut previous = None;
    for (index, (status, headers)) in replies.iter().enumerate() {
        let attempt = u32::try_from(index + 1).unwrap();
        let limit = RateLimit::from_headers(headers.iter().copied()).unwrap();
        let error =
            ApiError::status("scripted", *status, "").with_retry_after(limit.wait(clock.now()));
        let failure = Failure::from_error(attempt, &error).with_previous_delay(previous);
        match policy.decide(&failure, &mut TopRng) {
            Decision::Retry { after, source } => {
                waits.push((after, source));
                previous = Some(after);
                clock.advance(after);
            }
            Decision::GiveUp(reason) => return (waits, Some(reason)),
        }
    }
    (waits, None)
}

#[test]
fn retry_loop_mixes_backoff_and_retry_after() {
    let clock = ManualClock::new(start());
    let backoff = Backoff::new(
        Duration::from_secs(1),
        Duration::from_secs(20),
        Jitter::Full,
    )
    .unwrap();
    let policy = RetryPolicy::new(4, backoff, Duration::from_secs(60)).unwrap();
    let replies: Vec<Reply> = vec![
        // Attempt 1: 502 without headers -> full jitter, retry 0, top of [0, 1s] = 1s.
        (502, vec![]),
        // Attempt 2: 429, GitHub-style exhausted window resetting at 12:00:31
        // (unix 1709294431); now is 12:00:01 -> wait 30s.
        (
            429,
            vec![
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1709294431"),
            ],
        ),
        // Attempt 3: 503 with an HTTP-date 10s ahead of 12:00:31 -> 10s.
        (503, vec![("retry-after", "Fri, 01 Mar 2024 12:00:41 GMT")]),
        // Attempt 4 of 4: exhausted.
        (500, vec![]),
    ];
    let (waits, outcome) = drive(&policy, &clock, &replies);
    assert_eq!(
        waits,
        vec![
            (Duration::from_secs(1), DelaySource::Backoff),
            (Duration::from_secs(30), DelaySource::RetryAfter),
            (Duration::from_secs(10), DelaySource::RetryAfter),
        ]
    );
    assert_eq!(
        outcome,
        Some(GiveUpReason::AttemptsExhausted { attempts: 4 })
    );
    // 12:00:00 + 1 + 30 + 10 = 12:00:41, without a real sleep.
    assert_eq!(
        clock.now(),
        Utc.with_ymd_and_hms(2024, 3, 1, 12, 0, 41)
            .single()
            .unwrap()
    );
}

#[test]
fn retry_loop_stops_on_permanent_errors_and_long_waits() {
    let clock = ManualClock::new(start());
    let backoff = Backoff::new(
        Duration::from_secs(1),
        Duration::from_secs(20),
        Jitter::Equal,
    )
    .unwrap();
    let policy = RetryPolicy::new(10, backoff, Duration::from_secs(60)).unwrap();

    let (waits, outcome) = drive(&policy, &clock, &[(401, vec![])]);
    assert!(waits.is_empty());
    assert_eq!(outcome, Some(GiveUpReason::NotRetryable));

    let (_, outcome) = drive(&policy, &clock, &[(429, vec![("Retry-After", "3600")])]);
    assert_eq!(
        outcome,
        Some(GiveUpReason::RetryAfterTooLong {
            retry_after: Duration::from_secs(3600),
            max_wait: Duration::from_secs(60),
        })
    );
}

#[test]
fn rfc_examples_through_the_public_api() {
    let now = Utc
        .with_ymd_and_hms(1999, 12, 31, 23, 58, 0)
        .single()
        .unwrap();
    assert_eq!(
        parky_core::parse_retry_after("120", now).unwrap(),
        Duration::from_secs(120)
    );
    // 23:59:59 - 23:58:00 = 119s.
    assert_eq!(
        parky_core::parse_retry_after("Fri, 31 Dec 1999 23:59:59 GMT", now).unwrap(),
        Duration::from_secs(119)
    );
    let err = "garbage".parse::<RetryAfter>().unwrap_err();
    assert!(matches!(err, CoreError::InvalidRetryAfter { .. }));
    assert!(!err.is_retryable());
}

#[test]
fn webhook_tokens_never_leak() {
    const TOKEN: &str = "Zx9-webhook_T0KEN-7f3a";
    let raw = SecretString::from(format!(
        "https://discord.com/api/webhooks/1234567890/{TOKEN}"
    ));
    let url = SecretUrl::from_secret(&raw).unwrap();
    assert!(url.expose_url().as_str().ends_with(TOKEN));

    // What an HTTP library would say, wrapped in the crate's error types.
    let library_message = format!("error sending request for url ({})", raw.expose_secret());
    let api = ApiError::network("discord", url.redact(&library_message));
    let core = CoreError::from(api.clone());
    let also_redacted = redact(&library_message, &[&raw]);

    let everything = format!(
        "{url} {url:?} {raw:?} {api} {api:?} {core} {core:?} {also_redacted} {:?}",
        SecretUrl::parse(&format!("https://discord.com:70000/api/webhooks/1/{TOKEN}")).unwrap_err()
    );
    assert!(!everything.contains(TOKEN), "{everything}");
    assert!(everything.contains("https://discord.com/[REDACTED]"));
    assert!(core.is_retryable());
}
