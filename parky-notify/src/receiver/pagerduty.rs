//! PagerDuty Events API v2: `POST https://events.pagerduty.com/v2/enqueue`.
//!
//! # Events
//!
//! [`render`] builds the event for a [`Message`]:
//!
//! | event field | from |
//! |---|---|
//! | `event_action` | `trigger` while firing, `resolve` once resolved ([`PagerDuty::acknowledge`] sends `acknowledge`) |
//! | `dedup_key` | [`dedup_key`] of [`Message::dedup_key`] (omitted when empty: PagerDuty then makes one) |
//! | `payload.summary` | [`Message::title`], or the summary when the title is empty; at most [`SUMMARY_LIMIT`] 1,024 characters, cut with `…` |
//! | `payload.source` | [`Message::source`], or `parky-notify` when empty (the field is required) |
//! | `payload.severity` | [`pagerduty_severity`]: P0 `critical`, P1 `error`, P2 `warning`, P3 `info` |
//! | `payload.timestamp` | [`Message::timestamp`], ISO 8601 |
//! | `payload.custom_details` | `summary` and every field (`name` → `value`; a repeated name keeps its first value) |
//! | `links` | [`Message::url`] as `{"href": url, "text": "Details"}` |
//! | `client` | `Parky Ops` |
//!
//! Acknowledge and resolve events carry only `routing_key`, `dedup_key` and `event_action`,
//! as in PagerDuty's examples. The `routing_key` is added only when the body is sent; it is
//! never part of [`PagerDutyEvent`], nor printed.
//!
//! # Replies
//!
//! | reply | result |
//! |---|---|
//! | 202 `{"status":"success","message":"Event processed","dedup_key":…}` | [`Delivery::PagerDuty`](crate::receiver::Delivery::PagerDuty) with that key |
//! | 400 `{"status":"invalid event","message":…,"errors":[…]}` | [`NotifyError::InvalidEvent`], permanent, `errors` kept |
//! | 429 | retryable [`NotifyError::Delivery`]; PagerDuty sends no `Retry-After`, so the outbox's backoff decides |
//! | 5xx | retryable (500, 502, 503, 504) [`NotifyError::Delivery`] |
//! | other | permanent [`NotifyError::Delivery`] |
//!
//! A 2xx reply whose body does not parse still counts as accepted (the event is enqueued);
//! the key sent is reported.

use std::collections::BTreeMap;

use chrono::SecondsFormat;
use serde::Serialize;
use sha2::{Digest, Sha256};

#[cfg(feature = "http")]
pub use self::client::PagerDuty;
use super::truncate_chars;
#[cfg(doc)]
use crate::error::NotifyError;
use crate::message::{Message, MessageStatus};
use crate::severity::Severity;

/// The Events API v2 endpoint.
pub const EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// Maximum characters of `dedup_key`.
pub const DEDUP_KEY_LIMIT: usize = 255;
/// Maximum characters of `payload.summary`.
pub const SUMMARY_LIMIT: usize = 1024;

/// `event_action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventAction {
    /// Open (or add to) an alert.
    Trigger,
    /// Someone is on it.
    Acknowledge,
    /// Fixed.
    Resolve,
}

/// An Events API v2 alert event, without its `routing_key`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PagerDutyEvent {
    /// What to do.
    pub event_action: EventAction,
    /// The alert's deduplication key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedup_key: Option<String>,
    /// The alert's details (trigger only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<EventPayload>,
    /// Links (trigger only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<EventLink>,
    /// The monitoring client's name (trigger only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

/// `payload` of a trigger event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventPayload {
    /// At most [`SUMMARY_LIMIT`] characters.
    pub summary: String,
    /// The affected system.
    pub source: String,
    /// `critical`, `error`, `warning` or `info`.
    pub severity: &'static str,
    /// ISO 8601.
    pub timestamp: String,
    /// Name → value.
    pub custom_details: BTreeMap<String, String>,
}

/// An entry of `links`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventLink {
    /// URL.
    pub href: String,
    /// Link text.
    pub text: String,
}

/// PagerDuty's severity for ours: P0 `critical`, P1 `error`, P2 `warning`, P3 `info`.
#[must_use]
pub fn pagerduty_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::P0 => "critical",
        Severity::P1 => "error",
        Severity::P2 => "warning",
        Severity::P3 => "info",
    }
}

/// A stable `dedup_key` of at most [`DEDUP_KEY_LIMIT`] characters for `key`.
///
/// Keys of up to 255 characters are used as they are. A longer key becomes its first 183
/// characters, then `~sha256:` and the 64 lower-case hex digits of the SHA-256 of the whole
/// key's UTF-8 bytes: 183 + 8 + 64 = 255 characters. The result depends only on `key`, so
/// every trigger, acknowledge and resolve for one incident carries the same key, and two long
/// keys sharing a prefix still differ.
#[must_use]
pub fn dedup_key(key: &str) -> String {
    if key.chars().count() <= DEDUP_KEY_LIMIT {
        return key.to_owned();
    }
    let digest = Sha256::digest(key.as_bytes());
    let mut out: String = key.chars().take(183).collect();
    out.push_str("~sha256:");
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// The event for `message`: trigger while firing, resolve once resolved.
#[must_use]
pub fn render(message: &Message) -> PagerDutyEvent {
    match message.status {
        MessageStatus::Firing => render_action(message, EventAction::Trigger),
        MessageStatus::Resolved => render_action(message, EventAction::Resolve),
    }
}

/// The event for `message` with the given action.
#[must_use]
pub fn render_action(message: &Message, action: EventAction) -> PagerDutyEvent {
    let key = (!message.dedup_key.is_empty()).then(|| dedup_key(&message.dedup_key));
    if action != EventAction::Trigger {
        return PagerDutyEvent {
            event_action: action,
            dedup_key: key,
            payload: None,
            links: Vec::new(),
            client: None,
        };
    }
    let summary = if message.title.trim().is_empty() {
        &message.summary
    } else {
        &message.title
    };
    let summary = if summary.trim().is_empty() {
        format!("{} alert", message.severity)
    } else {
        truncate_chars(summary, SUMMARY_LIMIT)
    };
    let mut custom_details = BTreeMap::new();
    if !message.summary.is_empty() {
        custom_details.insert("summary".to_owned(), message.summary.clone());
    }
    for field in &message.fields {
        custom_details
            .entry(field.name.clone())
            .or_insert_with(|| field.value.clone());
    }
    let source = if message.source.trim().is_empty() {
        "parky-notify".to_owned()
    } else {
        message.source.clone()
    };
    PagerDutyEvent {
        event_action: action,
        dedup_key: key,
        payload: Some(EventPayload {
            summary,
            source,
            severity: pagerduty_severity(message.severity),
            timestamp: message
                .timestamp
                .to_rfc3339_opts(SecondsFormat::Millis, true),
            custom_details,
        }),
        links: message
            .url
            .iter()
            .map(|href| EventLink {
                href: href.clone(),
                text: "Details".to_owned(),
            })
            .collect(),
        client: Some("Parky Ops".to_owned()),
    }
}

#[cfg(feature = "http")]
mod client {
    use std::fmt;
    use std::time::Duration;

    use async_trait::async_trait;
    use parky_core::{redact, ApiError, SecretString};
    use serde::{Deserialize, Serialize};
    use url::Url;

    use super::{render, render_action, EventAction, PagerDutyEvent, EVENTS_URL};
    use crate::error::NotifyError;
    use crate::message::Message;
    use crate::receiver::http::{excerpt, Transport};
    use crate::receiver::{Delivery, Notifier};

    const SERVICE: &str = "pagerduty";

    /// A PagerDuty Events API v2 receiver. `Debug` never shows the routing key.
    pub struct PagerDuty {
        name: String,
        routing_key: SecretString,
        endpoint: Url,
        transport: Transport,
    }

    impl fmt::Debug for PagerDuty {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("PagerDuty")
                .field("name", &self.name)
                .field("routing_key", &self.routing_key)
                .field("endpoint", &self.endpoint.as_str())
                .finish_non_exhaustive()
        }
    }

    #[derive(Serialize)]
    struct Envelope<'a> {
        routing_key: &'a str,
        #[serde(flatten)]
        event: &'a PagerDutyEvent,
    }

    #[derive(Deserialize)]
    struct Reply {
        status: Option<String>,
        message: Option<String>,
        dedup_key: Option<String>,
        #[serde(default)]
        errors: Vec<String>,
    }

    impl PagerDuty {
        /// A receiver called `name` sending to the integration `routing_key`, at
        /// [`EVENTS_URL`] with a 10 s timeout.
        ///
        /// # Errors
        /// [`NotifyError::ReceiverSetup`] if the HTTP client cannot be built.
        pub fn new(
            name: impl Into<String>,
            routing_key: SecretString,
        ) -> Result<Self, NotifyError> {
            let name = name.into();
            let transport = Transport::new(&name)?;
            // The constant is a valid absolute URL.
            let endpoint = Url::parse(EVENTS_URL).map_err(|e| NotifyError::ReceiverSetup {
                receiver: name.clone(),
                reason: e.to_string(),
            })?;
            Ok(Self {
                name,
                routing_key,
                endpoint,
                transport,
            })
        }

        /// Send to another endpoint (a mock server, a proxy, the EU service region
        /// `https://events.eu.pagerduty.com/v2/enqueue`).
        #[must_use]
        pub fn with_endpoint(mut self, endpoint: Url) -> Self {
            self.endpoint = endpoint;
            self
        }

        /// The per-request timeout.
        #[must_use]
        pub fn with_timeout(mut self, timeout: Duration) -> Self {
            self.transport.set_timeout(timeout);
            self
        }

        /// Send an `acknowledge` event for the incident of `message`.
        ///
        /// # Errors
        /// As [`Notifier::send`].
        pub async fn acknowledge(&self, message: &Message) -> Result<Delivery, NotifyError> {
            self.send_event(&render_action(message, EventAction::Acknowledge))
                .await
        }

        /// Send an event as it is.
        ///
        /// # Errors
        /// [`NotifyError::InvalidEvent`] on 400, [`NotifyError::Delivery`] otherwise.
        pub async fn send_event(&self, event: &PagerDutyEvent) -> Result<Delivery, NotifyError> {
            let secret = &self.routing_key;
            let redact = |text: &str| redact(text, &[secret]);
            let body = Envelope {
                routing_key: parky_core::ExposeSecret::expose_secret(secret),
                event,
            };
            let reply = self
                .transport
                .post_json(SERVICE, self.endpoint.clone(), &body, None, &redact)
                .await
                .map_err(|source| self.error(source))?;
            let parsed: Option<Reply> = serde_json::from_str(&reply.body).ok();
            if reply.is_success() {
                let (key, message) = match parsed {
                    Some(p) => (p.dedup_key, p.message),
                    None => {
                        tracing::warn!(receiver = %self.name, status = reply.status, "PagerDuty accepted the event but its reply does not parse");
                        (None, None)
                    }
                };
                return Ok(Delivery::PagerDuty {
                    dedup_key: key.or_else(|| event.dedup_key.clone()).unwrap_or_default(),
                    message: message.unwrap_or_default(),
                });
            }
            let error = match parsed {
                Some(p) if reply.status == 400 => NotifyError::InvalidEvent {
                    receiver: self.name.clone(),
                    message: redact(&p.message.or(p.status).unwrap_or_default()),
                    errors: p.errors.iter().map(|e| redact(e)).collect(),
                },
                Some(Reply {
                    message: Some(message),
                    ..
                }) => self.error(ApiError::status(SERVICE, reply.status, redact(&message))),
                _ => self.error(ApiError::status(
                    SERVICE,
                    reply.status,
                    excerpt(&reply.body, &redact),
                )),
            };
            tracing::warn!(receiver = %self.name, %error, "PagerDuty refused the event");
            Err(error)
        }

        fn error(&self, source: ApiError) -> NotifyError {
            NotifyError::Delivery {
                receiver: self.name.clone(),
                source,
            }
        }
    }

    #[async_trait]
    impl Notifier for PagerDuty {
        fn name(&self) -> &str {
            &self.name
        }

        async fn send(&self, message: &Message) -> Result<Delivery, NotifyError> {
            self.send_event(&render(message)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_are_kept() {
        assert_eq!(dedup_key("grp-1"), "grp-1");
        let exactly = "k".repeat(255);
        assert_eq!(dedup_key(&exactly), exactly);
    }

    #[test]
    fn long_keys_are_hashed_to_255() {
        let long = "a".repeat(300);
        let key = dedup_key(&long);
        assert_eq!(key.chars().count(), 255);
        assert!(key.starts_with(&"a".repeat(183)));
        assert_eq!(&key[183..191], "~sha256:");
        assert_eq!(key, dedup_key(&long));
        let other = format!("{}b", "a".repeat(299));
        assert_ne!(dedup_key(&other), key);
        // 253 + 3 = 256 characters: one over the limit, so hashed.
        let abc_key = format!("{}abc", "x".repeat(253));
        assert_eq!(dedup_key(&abc_key).chars().count(), 255);
    }

    #[test]
    fn sha256_matches_fips_vector() {
        let digest = Sha256::digest(b"abc");
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
