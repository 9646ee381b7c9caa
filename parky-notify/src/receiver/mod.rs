//! Delivery: the [`Notifier`] trait and one implementation per outside service.
//!
//! # Design
//!
//! A [`Notifier`] takes a rendered [`Message`] and delivers it to one receiver (a
//! `receivers[].name` of the configuration). It answers with a [`Delivery`] saying what the
//! service accepted (Discord's message ids, PagerDuty's `dedup_key`, …) or a [`NotifyError`]
//! whose [`NotifyError::is_retryable`] and [`NotifyError::retry_after`] tell the outbox whether
//! and when to try again; `retry_after` carries the service's own `Retry-After` (or Discord's
//! JSON `retry_after`) where it sent one.
//!
//! | receiver | service | feature |
//! |---|---|---|
//! | [`DiscordWebhook`] | Discord "Execute Webhook" | `http` |
//! | [`PagerDuty`] | PagerDuty Events API v2 | `http` |
//! | [`SlackWebhook`] | Slack incoming webhooks | `http` |
//! | [`JsonWebhook`] | any endpoint taking the [`Message`] as JSON | `http` |
//! | [`FileNotifier`] | a JSON-lines file or standard output (the embedded default) | `file` |
//! | [`MemoryNotifier`] | records what would have been sent (tests, dry runs) | always |
//!
//! Rendering is pure and public ([`discord::render`], [`slack::render`],
//! [`pagerduty::render`]), so a payload can be checked without a network.
//!
//! # Secrets
//!
//! Webhook URLs are [`parky_core::SecretUrl`]s and tokens are [`SecretString`]s: neither shows
//! in `Debug`, `Display`, errors or log lines. Errors from the HTTP client (which echo the
//! request URL) are stripped of the URL and passed through [`SecretUrl::redact`] before they
//! become part of a [`NotifyError`].
//!
//! # Time
//!
//! Nothing here sleeps on its own: Discord's client-side rate limiter reads an injected
//! [`parky_core::Clock`] and waits through an injected [`Sleeper`] ([`TokioSleeper`] in
//! production, [`ManualSleeper`] in tests, which moves a [`ManualClock`] instead).
//!
//! [`SecretUrl::redact`]: parky_core::SecretUrl::redact
//! [`SecretString`]: parky_core::SecretString
//! [`ManualClock`]: parky_core::ManualClock

use std::fmt;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
#[cfg(feature = "http")]
pub use parky_core::TokioSleeper;
pub use parky_core::{ManualSleeper, Sleeper};

use crate::error::NotifyError;
use crate::message::Message;

pub mod discord;
#[cfg(feature = "file")]
pub mod file;
#[cfg(feature = "http")]
mod http;
pub mod pagerduty;
pub mod slack;
#[cfg(feature = "http")]
pub mod webhook;

#[cfg(feature = "http")]
pub use discord::DiscordWebhook;
#[cfg(feature = "file")]
pub use file::FileNotifier;
#[cfg(feature = "http")]
pub use pagerduty::PagerDuty;
#[cfg(feature = "http")]
pub use slack::SlackWebhook;
#[cfg(feature = "http")]
pub use webhook::JsonWebhook;

/// Delivers messages to one receiver.
///
/// Implementations are cheap to share (`Send + Sync`, used behind `Arc<dyn Notifier>`) and
/// never panic. They do not retry on their own: a retryable error goes back to the caller
/// (the outbox), which follows [`NotifyError::retry_after`] or its backoff.
#[async_trait]
pub trait Notifier: Send + Sync + fmt::Debug {
    /// The receiver's name, as in the configuration (`receivers[].name`).
    fn name(&self) -> &str;

    /// Deliver `message`.
    ///
    /// # Errors
    /// A [`NotifyError`] describing the refusal or failure; see
    /// [`NotifyError::is_retryable`].
    async fn send(&self, message: &Message) -> Result<Delivery, NotifyError>;
}

/// What a service accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Discord posted the message, split into `parts` webhook messages.
    Discord {
        /// The ids of the posted messages, in order. Empty when the webhook was executed
        /// without `?wait=true` (Discord then answers `204 No Content`), or when a 2xx reply
        /// carried no readable message object.
        message_ids: Vec<String>,
        /// How many webhook messages the [`Message`] needed (1 unless limits forced a split).
        parts: usize,
    },
    /// PagerDuty enqueued the event.
    PagerDuty {
        /// The `dedup_key` PagerDuty answered with; use it for later acknowledge/resolve.
        dedup_key: String,
        /// PagerDuty's `message` (`Event processed`).
        message: String,
    },
    /// Slack answered `200 ok`.
    Slack,
    /// A generic webhook answered with a 2xx status.
    Webhook {
        /// The HTTP status.
        status: u16,
    },
    /// A line was appended to a file (or written to standard output).
    File {
        /// The file's path, or `-` for standard output.
        path: String,
    },
    /// A [`MemoryNotifier`] recorded the message.
    Recorded {
        /// How many messages it holds now.
        count: usize,
    },
}

#[async_trait]
impl<N: Notifier + ?Sized> Notifier for std::sync::Arc<N> {
    fn name(&self) -> &str {
        (**self).name()
    }

    async fn send(&self, message: &Message) -> Result<Delivery, NotifyError> {
        (**self).send(message).await
    }
}

/// A [`Notifier`] that keeps every message it is given, for tests and dry runs (the
/// in-memory exporter of the design).
#[derive(Debug, Default)]
pub struct MemoryNotifier {
    name: String,
    sent: Mutex<Vec<Message>>,
}

impl MemoryNotifier {
    /// An empty recorder for the receiver `name`.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            sent: Mutex::new(Vec::new()),
        }
    }

    /// A copy of the messages recorded so far, oldest first.
    #[must_use]
    pub fn sent(&self) -> Vec<Message> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Message>> {
        // A poisoned lock still holds a valid Vec (pushes are atomic with respect to the
        // data), so recovering the guard is sound and avoids a panic.
        self.sent.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Notifier for MemoryNotifier {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, message: &Message) -> Result<Delivery, NotifyError> {
        let mut sent = self.lock();
        sent.push(message.clone());
        Ok(Delivery::Recorded { count: sent.len() })
    }
}

/// The ellipsis appended to text cut to a limit.
pub const ELLIPSIS: char = '…';

/// Cut `text` to at most `limit` Unicode scalar values (Rust `char`s, which is how Discord,
/// Slack and PagerDuty count "characters"), replacing the tail with [`ELLIPSIS`] when it is
/// cut: the result then has exactly `limit` characters, the last being `…`. Text within the
/// limit is returned unchanged; a limit of 0 gives the empty string.
#[must_use]
pub fn truncate_chars(text: &str, limit: usize) -> String {
    if limit == 0 {
        return String::new();
    }
    match text.char_indices().nth(limit) {
        None => text.to_owned(),
        Some(_) => {
            // Keep limit - 1 characters, then the ellipsis.
            let cut = text
                .char_indices()
                .nth(limit - 1)
                .map_or(text.len(), |(i, _)| i);
            let mut out = String::with_capacity(cut + ELLIPSIS.len_utf8());
            out.push_str(&text[..cut]);
            out.push(ELLIPSIS);
            out
        }
    }
}

/// The number of characters (Unicode scalar values) in `text`.
#[must_use]
pub fn char_count(text: &str) -> usize {
    text.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_code_points() {
        assert_eq!(truncate_chars("abcdef", 6), "abcdef");
        assert_eq!(truncate_chars("abcdefg", 6), "abcde…");
        // "é" is one code point (two UTF-8 bytes); "🚨" is one code point (four bytes).
        assert_eq!(truncate_chars("ééééé🚨", 6), "ééééé🚨");
        assert_eq!(truncate_chars("🚨🚨🚨🚨🚨🚨🚨", 3), "🚨🚨…");
        assert_eq!(char_count(&truncate_chars(&"x".repeat(5000), 4096)), 4096);
        assert_eq!(truncate_chars("abc", 0), "");
        assert_eq!(truncate_chars("abc", 1), "…");
    }

    #[tokio::test]
    async fn memory_notifier_records() {
        let notifier = MemoryNotifier::new("dry-run");
        let message = crate::receiver::discord::tests::sample_message();
        let delivery = notifier.send(&message).await;
        assert_eq!(delivery, Ok(Delivery::Recorded { count: 1 }));
        assert_eq!(notifier.sent(), vec![message]);
        assert_eq!(notifier.name(), "dry-run");
    }
}
