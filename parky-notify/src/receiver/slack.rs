//! Slack incoming webhooks: `POST https://hooks.slack.com/services/T…/B…/…`.
//!
//! # Rendering
//!
//! [`render`] builds a message with a top-level `text` (the notification fallback: mentions
//! and title) and one attachment coloured by severity ([`colour`]) holding Block Kit blocks:
//!
//! | block | content | limit enforced |
//! |---|---|---|
//! | `header` | the title, `plain_text` | [`HEADER_LIMIT`] 150 characters |
//! | `section` | the summary, `mrkdwn` | [`SECTION_TEXT_LIMIT`] 3,000 characters |
//! | `section` with `fields` | `*name*\nvalue`, 10 per section | [`SECTION_FIELDS`] 10 fields, [`FIELD_TEXT_LIMIT`] 2,000 characters each |
//! | `context` | severity, status, source and the link | [`SECTION_TEXT_LIMIT`] |
//!
//! A message holds at most [`BLOCKS_LIMIT`] 50 blocks: fields that would need more are
//! dropped and the last field section says how many. Text is cut with `…` to the limit;
//! `&`, `<` and `>` in mrkdwn text are escaped as Slack requires, and the escaped text is what
//! is counted. Mentions `@here`, `@channel` and `@everyone` become `<!here>`, `<!channel>`
//! and `<!everyone>`; other mentions (e.g. `<@U123>`) are passed as they are.
//!
//! # Replies
//!
//! Slack answers `200` with the body `ok`, or an error status with a plain-text code:
//! `400 invalid_payload`, `400 no_text`, `400 too_many_attachments`, `403 action_prohibited`,
//! `403 invalid_token`, `404 no_service`, `404 channel_not_found`, `410 channel_is_archived`,
//! … The code is kept as the error's code. Those are permanent; `429` (with `Retry-After`)
//! and `5xx` are retryable.

use serde::Serialize;

#[cfg(feature = "http")]
pub use self::client::SlackWebhook;
use super::{char_count, truncate_chars};
use crate::message::{Message, MessageStatus};
use crate::severity::Severity;

/// Maximum characters of a `header` block's text.
pub const HEADER_LIMIT: usize = 150;
/// Maximum characters of a `section` block's text.
pub const SECTION_TEXT_LIMIT: usize = 3000;
/// Maximum fields of a `section` block.
pub const SECTION_FIELDS: usize = 10;
/// Maximum characters of one field's text.
pub const FIELD_TEXT_LIMIT: usize = 2000;
/// Maximum blocks of a message.
pub const BLOCKS_LIMIT: usize = 50;
/// Characters of the top-level `text` kept (it is a notification fallback).
pub const TEXT_LIMIT: usize = 3000;

/// The attachment colour: `#ED4245` P0, `#E67E22` P1, `#FEE75C` P2, `#5865F2` P3, `#57F287`
/// once resolved (the same palette as Discord).
#[must_use]
pub fn colour(severity: Severity, status: MessageStatus) -> String {
    format!("#{:06X}", super::discord::colour(severity, status))
}

/// A Slack message body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlackPayload {
    /// Fallback text (notifications, screen readers).
    pub text: String,
    /// One coloured attachment with the blocks.
    pub attachments: Vec<SlackAttachment>,
}

/// A legacy attachment, used for its colour bar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlackAttachment {
    /// `#RRGGBB`.
    pub color: String,
    /// Block Kit blocks, as JSON.
    pub blocks: Vec<serde_json_value::Value>,
}

/// A tiny JSON value, so rendering needs no `serde_json` (it stays in the pure build).
pub mod serde_json_value {
    use serde::ser::{SerializeMap, SerializeSeq};
    use serde::{Serialize, Serializer};

    /// A JSON value built by the Slack renderer.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Value {
        /// A string.
        String(String),
        /// A boolean.
        Bool(bool),
        /// An array.
        Array(Vec<Value>),
        /// An object, in insertion order.
        Object(Vec<(String, Value)>),
    }

    impl Serialize for Value {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            match self {
                Value::String(s) => serializer.serialize_str(s),
                Value::Bool(b) => serializer.serialize_bool(*b),
                Value::Array(items) => {
                    let mut seq = serializer.serialize_seq(Some(items.len()))?;
                    for item in items {
                        seq.serialize_element(item)?;
                    }
                    seq.end()
                }
                Value::Object(entries) => {
                    let mut map = serializer.serialize_map(Some(entries.len()))?;
                    for (k, v) in entries {
                        map.serialize_entry(k, v)?;
                    }
                    map.end()
                }
            }
        }
    }

    pub(super) fn obj<const N: usize>(entries: [(&str, Value); N]) -> Value {
        Value::Object(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }

    pub(super) fn s(text: impl Into<String>) -> Value {
        Value::String(text.into())
    }
}

use serde_json_value::{obj, s, Value};

/// Escape `&`, `<`, `>` for mrkdwn.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Escape `text`, cut so that the escaped result has at most `limit` characters (the
/// longest such cut, found by bisection).
fn fit_escaped(text: &str, limit: usize) -> String {
    let whole = escape(text);
    if char_count(&whole) <= limit {
        return whole;
    }
    // Invariant: keeping `low` characters fits (0 always does); keeping `high` does not.
    let (mut low, mut high) = (0, limit.min(char_count(text)) + 1);
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        if char_count(&escape(&truncate_chars(text, mid))) <= limit {
            low = mid;
        } else {
            high = mid;
        }
    }
    escape(&truncate_chars(text, low))
}

fn mention(text: &str) -> String {
    match text {
        "@here" => "<!here>".to_owned(),
        "@channel" => "<!channel>".to_owned(),
        "@everyone" => "<!everyone>".to_owned(),
        other => other.to_owned(),
    }
}

fn mrkdwn(text: String) -> Value {
    obj([("type", s("mrkdwn")), ("text", s(text))])
}

/// Render `message` for an incoming webhook, every limit met (see the module docs).
#[must_use]
pub fn render(message: &Message) -> SlackPayload {
    let status = match message.status {
        MessageStatus::Firing => "firing",
        MessageStatus::Resolved => "resolved",
    };
    let title = if message.title.trim().is_empty() {
        format!("{} {status}", message.severity)
    } else {
        message.title.clone()
    };
    let mentions: Vec<String> = message
        .mentions
        .iter()
        .map(|m| m.trim())
        .filter(|m| !m.is_empty())
        .map(mention)
        .collect();
    let mut text = mentions.join(" ");
    if !text.is_empty() {
        text.push(' ');
    }
    text.push_str(&escape(&title));
    let text = truncate_chars(&text, TEXT_LIMIT);

    let mut blocks = vec![obj([
        ("type", s("header")),
        (
            "text",
            obj([
                ("type", s("plain_text")),
                ("text", s(truncate_chars(&title, HEADER_LIMIT))),
                ("emoji", Value::Bool(true)),
            ]),
        ),
    ])];
    if !message.summary.trim().is_empty() {
        blocks.push(obj([
            ("type", s("section")),
            (
                "text",
                mrkdwn(fit_escaped(&message.summary, SECTION_TEXT_LIMIT)),
            ),
        ]));
    }
    // Header, summary and context take up to 3 blocks; the rest may hold fields.
    let field_blocks = BLOCKS_LIMIT - blocks.len() - 1;
    let chunks: Vec<_> = message.fields.chunks(SECTION_FIELDS).collect();
    let shown = chunks.len().min(field_blocks);
    for (index, chunk) in chunks.iter().take(shown).enumerate() {
        let mut fields: Vec<Value> = chunk
            .iter()
            .map(|f| {
                let name = fit_escaped(&f.name, FIELD_TEXT_LIMIT / 2);
                let budget = FIELD_TEXT_LIMIT - char_count(&name) - 3;
                mrkdwn(format!("*{name}*\n{}", fit_escaped(&f.value, budget)))
            })
            .collect();
        if index + 1 == shown && chunks.len() > shown {
            let hidden = message.fields.len() - shown * SECTION_FIELDS;
            if let Some(last) = fields.last_mut() {
                *last = mrkdwn(format!("_… {hidden} more fields not shown_"));
            }
        }
        blocks.push(obj([
            ("type", s("section")),
            ("fields", Value::Array(fields)),
        ]));
    }
    let mut context = format!("{} {status}", message.severity);
    if !message.source.trim().is_empty() {
        context.push_str(" · ");
        context.push_str(&escape(&message.source));
    }
    if let Some(url) = &message.url {
        if !url.contains(['<', '>', '|']) {
            context.push_str(&format!(" · <{url}|Details>"));
        }
    }
    blocks.push(obj([
        ("type", s("context")),
        (
            "elements",
            Value::Array(vec![mrkdwn(truncate_chars(&context, SECTION_TEXT_LIMIT))]),
        ),
    ]));
    SlackPayload {
        text,
        attachments: vec![SlackAttachment {
            color: colour(message.severity, message.status),
            blocks,
        }],
    }
}

#[cfg(feature = "http")]
mod client {
    use std::fmt;
    use std::sync::Arc;
    use std::time::Duration;

    use async_trait::async_trait;
    use parky_core::{ApiError, Clock, SecretUrl, SystemClock};

    use super::render;
    use crate::error::NotifyError;
    use crate::message::Message;
    use crate::receiver::http::{excerpt, redact_url, Transport};
    use crate::receiver::{Delivery, Notifier};

    const SERVICE: &str = "slack";

    /// A Slack incoming-webhook receiver. `Debug` shows the URL redacted.
    pub struct SlackWebhook {
        name: String,
        url: SecretUrl,
        transport: Transport,
        clock: Arc<dyn Clock>,
    }

    impl fmt::Debug for SlackWebhook {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("SlackWebhook")
                .field("name", &self.name)
                .field("url", &self.url)
                .finish_non_exhaustive()
        }
    }

    impl SlackWebhook {
        /// A receiver called `name` posting to `url`, with a 10 s timeout.
        ///
        /// # Errors
        /// [`NotifyError::ReceiverSetup`] if the HTTP client cannot be built.
        pub fn new(name: impl Into<String>, url: SecretUrl) -> Result<Self, NotifyError> {
            let name = name.into();
            let transport = Transport::new(&name)?;
            Ok(Self {
                name,
                url,
                transport,
                clock: Arc::new(SystemClock),
            })
        }

        /// The clock an HTTP-date `Retry-After` is resolved against.
        #[must_use]
        pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
            self.clock = clock;
            self
        }

        /// The per-request timeout.
        #[must_use]
        pub fn with_timeout(mut self, timeout: Duration) -> Self {
            self.transport.set_timeout(timeout);
            self
        }
    }

    #[async_trait]
    impl Notifier for SlackWebhook {
        fn name(&self) -> &str {
            &self.name
        }

        async fn send(&self, message: &Message) -> Result<Delivery, NotifyError> {
            let redact = |text: &str| redact_url(&self.url, text);
            let reply = self
                .transport
                .post_json(
                    SERVICE,
                    self.url.expose_url().clone(),
                    &render(message),
                    None,
                    &redact,
                )
                .await
                .map_err(|source| NotifyError::Delivery {
                    receiver: self.name.clone(),
                    source,
                })?;
            if reply.is_success() {
                return Ok(Delivery::Slack);
            }
            let code = reply.body.trim();
            let is_code = !code.is_empty()
                && code.len() <= 64
                && code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit());
            let retry_after = reply.retry_after(self.clock.now());
            let mut source = ApiError::status(SERVICE, reply.status, excerpt(&reply.body, &redact))
                .with_retry_after(retry_after);
            if is_code {
                source = source.with_code(code);
            }
            let error = NotifyError::Delivery {
                receiver: self.name.clone(),
                source,
            };
            tracing::warn!(receiver = %self.name, %error, "Slack refused the message");
            Err(error)
        }
    }
}
