//! Discord webhooks: `POST /api/webhooks/{id}/{token}` ("Execute Webhook").
//!
//! # Rendering
//!
//! [`render`] turns a [`Message`] into one or more [`WebhookPayload`]s, each a valid Execute
//! Webhook body. One embed carries the message:
//!
//! | embed field | from |
//! |---|---|
//! | `title` | [`Message::title`] (or `"P0 firing"` when empty) |
//! | `description` | [`Message::summary`] (omitted when empty) |
//! | `url` | [`Message::url`], only if it is an absolute `http`/`https` URL |
//! | `timestamp` | [`Message::timestamp`], ISO 8601 in UTC with milliseconds |
//! | `color` | [`colour`]: red P0, orange P1, yellow P2, blue P3, green once resolved |
//! | `author.name` | [`Message::source`] (omitted when empty) |
//! | `footer.text` | `"{severity} {status} · {dedup_key}"` |
//! | `fields` | [`Message::fields`] (an empty name or value becomes `-`: Discord refuses empty ones) |
//!
//! Mentions ([`Message::mentions`]) go into `content` of the first payload only, and
//! `allowed_mentions` allows exactly those: `@here`/`@everyone` → `parse: ["everyone"]`,
//! `<@id>`/`<@!id>` → `users`, `<@&id>` → `roles` (each list at most 100 ids, Discord's
//! maximum). Every other payload sends `allowed_mentions: {"parse": []}`, so nothing in a
//! message can ping anyone by accident.
//!
//! # Limits
//!
//! Discord counts characters as Unicode code points; so does this module ([`char_count`]).
//! Every documented limit is enforced before sending, so Discord never has to answer 400:
//!
//! | limit | value | how it is met |
//! |---|---|---|
//! | `content` | [`CONTENT_LIMIT`] 2,000 | whole mentions that do not fit are dropped (a cut mention would not ping) |
//! | embeds per message | [`EMBEDS_PER_MESSAGE`] 10 | **split** into more messages |
//! | `title` | [`TITLE_LIMIT`] 256 | truncated with `…` |
//! | `description` | [`DESCRIPTION_LIMIT`] 4,096 | truncated with `…` (further if the 6,000 total needs it) |
//! | fields per embed | [`FIELDS_PER_EMBED`] 25 | **split** into more embeds (fields only) |
//! | field `name` / `value` | [`FIELD_NAME_LIMIT`] 256 / [`FIELD_VALUE_LIMIT`] 1,024 | truncated with `…` |
//! | `footer.text` | [`FOOTER_TEXT_LIMIT`] 2,048 | truncated with `…` |
//! | `author.name` | [`AUTHOR_NAME_LIMIT`] 256 | truncated with `…` |
//! | all embeds of a message | [`EMBEDS_TOTAL_LIMIT`] 6,000 | the description is shortened so the first embed fits; fields that do not fit **split** into another message |
//!
//! Truncation keeps `limit - 1` characters and appends `…`, so a cut text is exactly `limit`
//! characters long. Fields are never truncated to make them fit the total: they move to the
//! next embed (up to 10 per message) or the next message, in order.
//!
//! # Rate limits
//!
//! [`DiscordWebhook`] keeps a [`RateLimiter`] per webhook: by default at most 5 requests per 2
//! seconds (Discord's documented guidance is to respect the headers, which on webhooks report
//! 5 per 2 s; the default can be changed). The limiter also obeys `X-RateLimit-Remaining: 0`
//! with `X-RateLimit-Reset-After`, and a 429's wait. On a 429 the wait comes from the JSON
//! body's `retry_after` (fractional seconds), else `X-RateLimit-Reset-After`, else
//! `Retry-After`; the error is retryable and carries that wait, and the body's `global` flag is
//! noted in its message. Waits longer than the webhook's maximum wait (5 s by default) are not
//! slept through: [`NotifyError::Throttled`] is returned instead, for the outbox to reschedule.
//!
//! # Split messages and retries
//!
//! A message that renders to several payloads is posted part by part, in order. If a later
//! part fails (a 429, a 5xx, a timeout), `send` fails and the outbox retries the whole
//! message; so that Discord does not show the earlier parts twice, [`DiscordWebhook`]
//! remembers, per message (receiver, `dedup_key`, `sequence`), which parts Discord accepted
//! and their message ids, posts only the missing parts on the retry, and forgets the message
//! once every part is delivered. At most [`PART_MEMORY`] partly delivered messages are
//! remembered; beyond that the oldest is forgotten (its retry re-posts every part).
//!
//! This memory lives in the process only: after a restart a partly delivered message is
//! posted again from its first part, so delivery of split messages is at-least-once.

use std::fmt;

use chrono::SecondsFormat;
use serde::Serialize;

#[cfg(feature = "http")]
pub use self::client::{DiscordWebhook, RateLimiter};
use super::{char_count, truncate_chars};
#[cfg(doc)]
use crate::error::NotifyError;
use crate::message::{Message, MessageStatus};
use crate::severity::Severity;

/// Maximum characters of `content`.
pub const CONTENT_LIMIT: usize = 2000;
/// Maximum embeds in one message.
pub const EMBEDS_PER_MESSAGE: usize = 10;
/// Maximum characters of an embed `title`.
pub const TITLE_LIMIT: usize = 256;
/// Maximum characters of an embed `description`.
pub const DESCRIPTION_LIMIT: usize = 4096;
/// Maximum fields in one embed.
pub const FIELDS_PER_EMBED: usize = 25;
/// Maximum characters of a field `name`.
pub const FIELD_NAME_LIMIT: usize = 256;
/// Maximum characters of a field `value`.
pub const FIELD_VALUE_LIMIT: usize = 1024;
/// Maximum characters of `footer.text`.
pub const FOOTER_TEXT_LIMIT: usize = 2048;
/// Maximum characters of `author.name`.
pub const AUTHOR_NAME_LIMIT: usize = 256;
/// Maximum characters, summed over `title`, `description`, `fields[].name`, `fields[].value`,
/// `footer.text` and `author.name` of all embeds of one message.
pub const EMBEDS_TOTAL_LIMIT: usize = 6000;
/// Maximum ids in `allowed_mentions.users` and in `allowed_mentions.roles`.
pub const ALLOWED_MENTION_IDS: usize = 100;
/// How many partly delivered split messages a [`DiscordWebhook`] remembers (in process) so
/// that a retry skips the parts Discord already accepted; the oldest is forgotten first.
pub const PART_MEMORY: usize = 1024;

/// The embed colour (`0xRRGGBB`) for a message:
///
/// | | colour |
/// |---|---|
/// | P0 firing | `0xED4245` red (15548997) |
/// | P1 firing | `0xE67E22` orange (15105570) |
/// | P2 firing | `0xFEE75C` yellow (16705372) |
/// | P3 firing | `0x5865F2` blurple (5793266) |
/// | resolved, any severity | `0x57F287` green (5763719) |
#[must_use]
pub fn colour(severity: Severity, status: MessageStatus) -> u32 {
    match (status, severity) {
        (MessageStatus::Resolved, _) => 0x57F287,
        (MessageStatus::Firing, Severity::P0) => 0xED4245,
        (MessageStatus::Firing, Severity::P1) => 0xE67E22,
        (MessageStatus::Firing, Severity::P2) => 0xFEE75C,
        (MessageStatus::Firing, Severity::P3) => 0x5865F2,
    }
}

/// One Execute Webhook JSON body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookPayload {
    /// Message text: the mentions, on the first payload only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Up to [`EMBEDS_PER_MESSAGE`] embeds.
    pub embeds: Vec<Embed>,
    /// Who may be pinged.
    pub allowed_mentions: AllowedMentions,
}

impl WebhookPayload {
    /// Characters counted against [`EMBEDS_TOTAL_LIMIT`], over all embeds.
    #[must_use]
    pub fn embed_chars(&self) -> usize {
        self.embeds.iter().map(Embed::char_count).sum()
    }
}

/// Discord's allowed mentions object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AllowedMentions {
    /// Mention types parsed from `content`: only `"everyone"` is ever used here.
    pub parse: Vec<String>,
    /// User ids that may be pinged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// Role ids that may be pinged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

/// A rich embed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Embed {
    /// Title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Body text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Link of the title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// ISO 8601 timestamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Colour, `0xRRGGBB`.
    pub color: u32,
    /// Footer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub footer: Option<EmbedFooter>,
    /// Author.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<EmbedAuthor>,
    /// Fields, at most [`FIELDS_PER_EMBED`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<EmbedField>,
}

impl Embed {
    /// Characters of this embed counted against [`EMBEDS_TOTAL_LIMIT`].
    #[must_use]
    pub fn char_count(&self) -> usize {
        let text = |t: &Option<String>| t.as_deref().map_or(0, char_count);
        text(&self.title)
            + text(&self.description)
            + self.footer.as_ref().map_or(0, |f| char_count(&f.text))
            + self.author.as_ref().map_or(0, |a| char_count(&a.name))
            + self
                .fields
                .iter()
                .map(EmbedField::char_count)
                .sum::<usize>()
    }

    fn fields_only(color: u32) -> Self {
        Self {
            title: None,
            description: None,
            url: None,
            timestamp: None,
            color,
            footer: None,
            author: None,
            fields: Vec::new(),
        }
    }
}

/// An embed footer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmbedFooter {
    /// Footer text.
    pub text: String,
}

/// An embed author.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmbedAuthor {
    /// Author name.
    pub name: String,
}

/// An embed field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmbedField {
    /// Field name.
    pub name: String,
    /// Field value.
    pub value: String,
}

impl EmbedField {
    fn char_count(&self) -> usize {
        char_count(&self.name) + char_count(&self.value)
    }
}

/// Render `message` as Execute Webhook bodies, every limit met (see the module docs).
///
/// Always returns at least one payload.
#[must_use]
pub fn render(message: &Message) -> Vec<WebhookPayload> {
    let color = colour(message.severity, message.status);
    let (content, allowed_mentions) = mentions(&message.mentions);

    let title = if message.title.trim().is_empty() {
        format!("{} {}", message.severity, status_word(message.status))
    } else {
        message.title.clone()
    };
    let title = truncate_chars(&title, TITLE_LIMIT);
    let footer = truncate_chars(
        &format!(
            "{} {} · {}",
            message.severity,
            status_word(message.status),
            message.dedup_key
        ),
        FOOTER_TEXT_LIMIT,
    );
    let author = (!message.source.trim().is_empty())
        .then(|| truncate_chars(&message.source, AUTHOR_NAME_LIMIT));
    let others = char_count(&title) + char_count(&footer) + author.as_deref().map_or(0, char_count);
    // title + footer + author ≤ 256 + 2048 + 256 = 2560 < 6000, so the budget is positive.
    let description_limit = DESCRIPTION_LIMIT.min(EMBEDS_TOTAL_LIMIT.saturating_sub(others));
    let description = (!message.summary.trim().is_empty())
        .then(|| truncate_chars(&message.summary, description_limit));

    let first = Embed {
        title: Some(title),
        description,
        url: message
            .url
            .as_deref()
            .filter(|u| is_web_url(u))
            .map(str::to_owned),
        timestamp: Some(
            message
                .timestamp
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        ),
        color,
        footer: Some(EmbedFooter { text: footer }),
        author: author.map(|name| EmbedAuthor { name }),
        fields: Vec::new(),
    };

    let mut payloads = Vec::new();
    let mut current = WebhookPayload {
        content,
        embeds: vec![first],
        allowed_mentions,
    };
    let mut total = current.embed_chars();
    for field in &message.fields {
        let field = EmbedField {
            name: non_empty(truncate_chars(&field.name, FIELD_NAME_LIMIT)),
            value: non_empty(truncate_chars(&field.value, FIELD_VALUE_LIMIT)),
        };
        let cost = field.char_count();
        let embed_full = current
            .embeds
            .last()
            .is_none_or(|e| e.fields.len() >= FIELDS_PER_EMBED);
        let message_full = total + cost > EMBEDS_TOTAL_LIMIT
            || (embed_full && current.embeds.len() >= EMBEDS_PER_MESSAGE);
        if message_full {
            let next = WebhookPayload {
                content: None,
                embeds: vec![Embed::fields_only(color)],
                allowed_mentions: AllowedMentions::default(),
            };
            payloads.push(std::mem::replace(&mut current, next));
            total = 0;
        } else if embed_full {
            current.embeds.push(Embed::fields_only(color));
        }
        total += cost;
        if let Some(embed) = current.embeds.last_mut() {
            embed.fields.push(field);
        }
    }
    payloads.push(current);
    payloads
}

fn status_word(status: MessageStatus) -> &'static str {
    match status {
        MessageStatus::Firing => "firing",
        MessageStatus::Resolved => "resolved",
    }
}

fn non_empty(text: String) -> String {
    if text.trim().is_empty() {
        "-".to_owned()
    } else {
        text
    }
}

fn is_web_url(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

/// The `content` holding the mentions that fit, and the matching allowed mentions.
fn mentions(requested: &[String]) -> (Option<String>, AllowedMentions) {
    let mut allowed = AllowedMentions::default();
    let mut content = String::new();
    let mut length = 0;
    for mention in requested {
        let mention = mention.trim();
        if mention.is_empty() {
            continue;
        }
        let kind = MentionKind::of(mention);
        match &kind {
            MentionKind::User(_) if allowed.users.len() >= ALLOWED_MENTION_IDS => continue,
            MentionKind::Role(_) if allowed.roles.len() >= ALLOWED_MENTION_IDS => continue,
            _ => {}
        }
        let separator = usize::from(!content.is_empty());
        let cost = separator + char_count(mention);
        if length + cost > CONTENT_LIMIT {
            continue;
        }
        if separator == 1 {
            content.push(' ');
        }
        content.push_str(mention);
        length += cost;
        match kind {
            MentionKind::Everyone => {
                if allowed.parse.is_empty() {
                    allowed.parse.push("everyone".to_owned());
                }
            }
            MentionKind::User(id) => {
                if !allowed.users.contains(&id) {
                    allowed.users.push(id);
                }
            }
            MentionKind::Role(id) => {
                if !allowed.roles.contains(&id) {
                    allowed.roles.push(id);
                }
            }
            MentionKind::Text => {}
        }
    }
    ((!content.is_empty()).then_some(content), allowed)
}

enum MentionKind {
    Everyone,
    User(String),
    Role(String),
    Text,
}

impl MentionKind {
    fn of(mention: &str) -> Self {
        if mention == "@here" || mention == "@everyone" {
            return Self::Everyone;
        }
        let Some(inner) = mention.strip_prefix("<@").and_then(|m| m.strip_suffix('>')) else {
            return Self::Text;
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if let Some(id) = inner.strip_prefix('&') {
            if digits(id) {
                return Self::Role(id.to_owned());
            }
        } else {
            let id = inner.strip_prefix('!').unwrap_or(inner);
            if digits(id) {
                return Self::User(id.to_owned());
            }
        }
        Self::Text
    }
}

impl fmt::Display for WebhookPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Discord message with {} embed(s), {} characters",
            self.embeds.len(),
            self.embed_chars()
        )
    }
}

#[cfg(feature = "http")]
mod client {
    use std::collections::{BTreeMap, HashMap, VecDeque};
    use std::fmt;
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::Duration;

    use async_trait::async_trait;
    use chrono::{DateTime, TimeDelta, Utc};
    use parky_core::{ApiError, Clock, RateLimit, RetryAfter, SecretUrl, SystemClock};
    use serde::Deserialize;

    use super::{render, PART_MEMORY};
    use crate::error::NotifyError;
    use crate::message::Message;
    use crate::policy::strategy::add;
    use crate::receiver::http::{excerpt, redact_url, Reply, Transport};
    use crate::receiver::{Delivery, Notifier, Sleeper, TokioSleeper};

    const SERVICE: &str = "discord";

    /// A sliding-window limit on requests, plus "blocked until" instants learnt from Discord.
    /// Pure: the caller passes the time.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct RateLimiter {
        max_requests: usize,
        window: Duration,
        sent: VecDeque<DateTime<Utc>>,
        blocked_until: Option<DateTime<Utc>>,
    }

    impl RateLimiter {
        /// At most `max_requests` (at least 1) requests in any `window`.
        #[must_use]
        pub fn new(max_requests: usize, window: Duration) -> Self {
            Self {
                max_requests: max_requests.max(1),
                window,
                sent: VecDeque::new(),
                blocked_until: None,
            }
        }

        /// Discord webhooks' 5 requests per 2 seconds.
        #[must_use]
        pub fn discord_default() -> Self {
            Self::new(5, Duration::from_secs(2))
        }

        /// How long to wait, from `now`, before the next request may go.
        #[must_use]
        pub fn wait(&self, now: DateTime<Utc>) -> Duration {
            let window = TimeDelta::from_std(self.window).unwrap_or(TimeDelta::MAX);
            let in_window: Vec<&DateTime<Utc>> = self
                .sent
                .iter()
                .filter(|t| t.checked_add_signed(window).is_none_or(|end| end > now))
                .collect();
            let mut until = self.blocked_until;
            if in_window.len() >= self.max_requests {
                // The request that must leave the window before the next may go.
                let leaving = in_window[in_window.len() - self.max_requests];
                let free_at = leaving
                    .checked_add_signed(window)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC);
                until = Some(until.map_or(free_at, |u| u.max(free_at)));
            }
            until
                .and_then(|u| (u - now).to_std().ok())
                .unwrap_or(Duration::ZERO)
        }

        /// A request went out at `now`.
        pub fn record(&mut self, now: DateTime<Utc>) {
            let window = TimeDelta::from_std(self.window).unwrap_or(TimeDelta::MAX);
            while self
                .sent
                .front()
                .is_some_and(|t| t.checked_add_signed(window).is_some_and(|end| end <= now))
            {
                self.sent.pop_front();
            }
            self.sent.push_back(now);
        }

        /// Let no request go before `until` (a 429's wait, an exhausted bucket).
        pub fn block_until(&mut self, until: DateTime<Utc>) {
            self.blocked_until = Some(self.blocked_until.map_or(until, |u| u.max(until)));
        }
    }

    /// A Discord webhook receiver.
    ///
    /// `Debug` shows the name and options; the webhook URL is shown redacted.
    pub struct DiscordWebhook {
        name: String,
        url: SecretUrl,
        thread_id: Option<u64>,
        wait: bool,
        max_wait: Duration,
        transport: Transport,
        clock: Arc<dyn Clock>,
        sleeper: Arc<dyn Sleeper>,
        limiter: Mutex<RateLimiter>,
        parts: Mutex<AcceptedParts>,
    }

    /// A message's identity: receiver, `dedup_key`, `sequence`.
    type PartKey = (String, String, u64);

    /// Per split message some part of which Discord accepted but not all: the accepted part
    /// indices with their message ids (`None` for a `204`); oldest first for eviction.
    #[derive(Debug, Default)]
    struct AcceptedParts {
        accepted: HashMap<PartKey, BTreeMap<usize, Option<String>>>,
        order: VecDeque<PartKey>,
    }

    impl AcceptedParts {
        fn get(&self, key: &PartKey) -> BTreeMap<usize, Option<String>> {
            self.accepted.get(key).cloned().unwrap_or_default()
        }

        fn remember(&mut self, key: &PartKey, index: usize, id: Option<String>) {
            if let Some(parts) = self.accepted.get_mut(key) {
                parts.insert(index, id);
                return;
            }
            self.accepted
                .insert(key.clone(), BTreeMap::from([(index, id)]));
            self.order.push_back(key.clone());
            while self.order.len() > PART_MEMORY {
                if let Some(old) = self.order.pop_front() {
                    self.accepted.remove(&old);
                }
            }
        }

        fn forget(&mut self, key: &PartKey) {
            if self.accepted.remove(key).is_some() {
                self.order.retain(|k| k != key);
            }
        }
    }

    impl fmt::Debug for DiscordWebhook {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("DiscordWebhook")
                .field("name", &self.name)
                .field("url", &self.url)
                .field("thread_id", &self.thread_id)
                .field("wait", &self.wait)
                .field("max_wait", &self.max_wait)
                .field("sleeper", &self.sleeper)
                .finish_non_exhaustive()
        }
    }

    impl DiscordWebhook {
        /// A receiver called `name` posting to `url`
        /// (`https://discord.com/api/webhooks/{id}/{token}`), with `?wait=true`, the system
        /// clock, tokio's sleep, 5 requests per 2 s, a 5 s maximum wait and a 10 s timeout.
        ///
        /// # Errors
        /// [`NotifyError::ReceiverSetup`] if the HTTP client cannot be built.
        pub fn new(name: impl Into<String>, url: SecretUrl) -> Result<Self, NotifyError> {
            let name = name.into();
            let transport = Transport::new(&name)?;
            Ok(Self {
                name,
                url,
                thread_id: None,
                wait: true,
                max_wait: Duration::from_secs(5),
                transport,
                clock: Arc::new(SystemClock),
                sleeper: Arc::new(TokioSleeper),
                limiter: Mutex::new(RateLimiter::discord_default()),
                parts: Mutex::new(AcceptedParts::default()),
            })
        }

        /// Post into this thread of the webhook's channel (`?thread_id=`).
        #[must_use]
        pub fn with_thread_id(mut self, thread_id: u64) -> Self {
            self.thread_id = Some(thread_id);
            self
        }

        /// Whether to send `?wait=true` (default) so Discord answers with the message object
        /// (and its id); without it Discord answers `204 No Content`.
        #[must_use]
        pub fn with_wait(mut self, wait: bool) -> Self {
            self.wait = wait;
            self
        }

        /// The clock the rate limiter reads.
        #[must_use]
        pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
            self.clock = clock;
            self
        }

        /// How the rate limiter waits.
        #[must_use]
        pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
            self.sleeper = sleeper;
            self
        }

        /// Replace the client-side rate limit.
        #[must_use]
        pub fn with_rate_limit(self, max_requests: usize, window: Duration) -> Self {
            *self.limiter() = RateLimiter::new(max_requests, window);
            self
        }

        /// The longest wait the receiver sleeps through before a request; longer waits give
        /// [`NotifyError::Throttled`].
        #[must_use]
        pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
            self.max_wait = max_wait;
            self
        }

        /// The per-request timeout.
        #[must_use]
        pub fn with_timeout(mut self, timeout: Duration) -> Self {
            self.transport.set_timeout(timeout);
            self
        }

        /// How long the next request would have to wait now.
        #[must_use]
        pub fn next_request_in(&self) -> Duration {
            self.limiter().wait(self.clock.now())
        }

        fn limiter(&self) -> std::sync::MutexGuard<'_, RateLimiter> {
            // The limiter's fields are always consistent between statements, so a poisoned
            // lock still guards valid data; recovering avoids a panic.
            self.limiter.lock().unwrap_or_else(PoisonError::into_inner)
        }

        fn parts(&self) -> std::sync::MutexGuard<'_, AcceptedParts> {
            // The map and queue are updated together without any call that can panic
            // half-way, so a poisoned lock still guards consistent data.
            self.parts.lock().unwrap_or_else(PoisonError::into_inner)
        }

        /// How many split messages are remembered as partly delivered.
        #[must_use]
        pub fn partly_delivered(&self) -> usize {
            self.parts().accepted.len()
        }

        fn request_url(&self) -> url::Url {
            let mut url = self.url.expose_url().clone();
            {
                let mut query = url.query_pairs_mut();
                if self.wait {
                    query.append_pair("wait", "true");
                }
                if let Some(thread_id) = self.thread_id {
                    query.append_pair("thread_id", &thread_id.to_string());
                }
            }
            if url.query() == Some("") {
                url.set_query(None);
            }
            url
        }

        fn error(&self, source: ApiError) -> NotifyError {
            NotifyError::Delivery {
                receiver: self.name.clone(),
                source,
            }
        }

        /// Wait for the limiter, then take a slot.
        async fn throttle(&self) -> Result<(), NotifyError> {
            loop {
                let wait = self.limiter().wait(self.clock.now());
                if wait.is_zero() {
                    self.limiter().record(self.clock.now());
                    return Ok(());
                }
                if wait > self.max_wait {
                    return Err(NotifyError::Throttled {
                        receiver: self.name.clone(),
                        retry_after: wait,
                    });
                }
                tracing::debug!(receiver = %self.name, wait_ms = wait.as_millis(), "waiting for Discord rate limit");
                self.sleeper.sleep(wait).await;
            }
        }

        /// Learn from the rate-limit headers of any reply.
        fn observe(&self, reply: &Reply, now: DateTime<Utc>) {
            if let Ok(limits) = RateLimit::from_headers(reply.headers.iter().map(|(n, v)| (n, v))) {
                if limits.is_exhausted() {
                    // X-RateLimit-Reset-After is exact; Retry-After is rounded up to seconds.
                    if let Some(wait) = limits.reset_after.or_else(|| limits.wait(now)) {
                        self.block_for(now, wait);
                    }
                }
            }
        }

        fn block_for(&self, now: DateTime<Utc>, wait: Duration) {
            self.limiter().block_until(add(now, wait));
        }

        fn failure(&self, reply: &Reply, now: DateTime<Utc>) -> NotifyError {
            let redact = |text: &str| redact_url(&self.url, text);
            let body: Option<DiscordError> = serde_json::from_str(&reply.body).ok();
            let message = match &body {
                Some(DiscordError {
                    message: Some(m), ..
                }) => redact(m),
                _ => excerpt(&reply.body, &redact),
            };
            let mut error = if reply.status == 429 {
                let global = body.as_ref().and_then(|b| b.global).unwrap_or(false)
                    || reply
                        .header("x-ratelimit-global")
                        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
                let wait = retry_wait(body.as_ref(), reply, now);
                if let Some(wait) = wait {
                    self.block_for(now, wait);
                }
                let scope = if global { " (global)" } else { "" };
                ApiError::status(SERVICE, 429, format!("{message}{scope}")).with_retry_after(wait)
            } else {
                let retry_after = reply.retry_after(now);
                ApiError::status(SERVICE, reply.status, message).with_retry_after(retry_after)
            };
            if let Some(code) = body.and_then(|b| b.code) {
                error = error.with_code(code);
            }
            self.error(error)
        }
    }

    /// Discord's error and rate-limit bodies.
    #[derive(Debug, Deserialize)]
    struct DiscordError {
        message: Option<String>,
        code: Option<i64>,
        retry_after: Option<f64>,
        global: Option<bool>,
    }

    /// Discord's message object; only the id is used.
    #[derive(Debug, Deserialize)]
    struct PostedMessage {
        id: String,
    }

    /// A 429's wait: body `retry_after`, else `X-RateLimit-Reset-After`, else `Retry-After`.
    fn retry_wait(
        body: Option<&DiscordError>,
        reply: &Reply,
        now: DateTime<Utc>,
    ) -> Option<Duration> {
        if let Some(secs) = body.and_then(|b| b.retry_after) {
            if let Ok(retry) = RetryAfter::from_secs_f64(secs) {
                return Some(retry.wait_from(now));
            }
        }
        let limits = RateLimit::from_headers(
            reply
                .headers
                .iter()
                .filter(|(n, _)| {
                    n.eq_ignore_ascii_case("x-ratelimit-reset-after")
                        || n.eq_ignore_ascii_case("retry-after")
                })
                .map(|(n, v)| (n, v)),
        )
        .ok()?;
        limits
            .reset_after
            .or_else(|| limits.retry_after.map(|r| r.wait_from(now)))
    }

    #[async_trait]
    impl Notifier for DiscordWebhook {
        fn name(&self) -> &str {
            &self.name
        }

        /// Posts every rendered part in order, skipping the parts of a split message that
        /// Discord accepted on an earlier, failed `send` (see the module docs).
        async fn send(&self, message: &Message) -> Result<Delivery, NotifyError> {
            let payloads = render(message);
            let parts = payloads.len();
            let key: PartKey = (
                message.receiver.clone(),
                message.dedup_key.clone(),
                message.sequence,
            );
            let mut accepted = if parts > 1 {
                self.parts().get(&key)
            } else {
                BTreeMap::new()
            };
            tracing::debug!(receiver = %self.name, parts, already_accepted = accepted.len(), "posting to Discord");
            for (index, payload) in payloads.iter().enumerate() {
                if accepted.contains_key(&index) {
                    continue;
                }
                self.throttle().await?;
                let redact = |text: &str| redact_url(&self.url, text);
                let reply = self
                    .transport
                    .post_json(SERVICE, self.request_url(), payload, None, &redact)
                    .await
                    .map_err(|e| self.error(e))?;
                let now = self.clock.now();
                self.observe(&reply, now);
                if !reply.is_success() {
                    let error = self.failure(&reply, now);
                    tracing::warn!(receiver = %self.name, part = index + 1, parts, %error, "Discord refused the message");
                    return Err(error);
                }
                let mut id = None;
                if self.wait && reply.status != 204 {
                    match serde_json::from_str::<PostedMessage>(&reply.body) {
                        Ok(posted) => id = Some(posted.id),
                        Err(_) => tracing::warn!(
                            receiver = %self.name,
                            status = reply.status,
                            "Discord accepted the message but its reply is not a message object"
                        ),
                    }
                }
                if index + 1 < parts {
                    // Remembered at once, so a later failure (or a cancelled send) does not
                    // lead to this part being posted again.
                    self.parts().remember(&key, index, id.clone());
                }
                accepted.insert(index, id);
            }
            if parts > 1 {
                self.parts().forget(&key);
            }
            let message_ids: Vec<String> = accepted.into_values().flatten().collect();
            Ok(Delivery::Discord { message_ids, parts })
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::message::Field;

    pub(crate) fn sample_message() -> Message {
        Message {
            receiver: "discord-ops".into(),
            dedup_key: "grp-1".into(),
            sequence: 1,
            severity: Severity::P0,
            status: MessageStatus::Firing,
            title: "[P0] HighErrorRate: api".into(),
            summary: "5xx ratio 12% over 5m".into(),
            fields: vec![Field {
                name: "service".into(),
                value: "api".into(),
            }],
            mentions: vec!["@here".into()],
            url: Some("https://runbooks.example.com/api".into()),
            source: "parky-slo".into(),
            // unwrap: a valid UTC date-time maps to exactly one instant.
            timestamp: Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap(),
        }
    }

    #[test]
    fn colours_per_severity() {
        assert_eq!(colour(Severity::P0, MessageStatus::Firing), 15548997);
        assert_eq!(colour(Severity::P3, MessageStatus::Firing), 5793266);
        assert_eq!(colour(Severity::P0, MessageStatus::Resolved), 5763719);
    }

    #[test]
    fn mention_kinds() {
        let (content, allowed) = mentions(&[
            "<@123>".into(),
            "<@!456>".into(),
            "<@&789>".into(),
            "@everyone".into(),
            "<@abc>".into(),
            " ".into(),
        ]);
        assert_eq!(
            content.as_deref(),
            Some("<@123> <@!456> <@&789> @everyone <@abc>")
        );
        assert_eq!(allowed.parse, ["everyone"]);
        assert_eq!(allowed.users, ["123", "456"]);
        assert_eq!(allowed.roles, ["789"]);
    }

    #[test]
    fn bad_urls_are_dropped() {
        let mut message = sample_message();
        message.url = Some("not a url".into());
        assert_eq!(render(&message)[0].embeds[0].url, None);
    }
}
