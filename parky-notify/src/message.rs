//! What a receiver delivers: one rendered notification, independent of the service it goes to.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::severity::Severity;

/// Whether a message announces a problem or its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    /// At least one alert of the group is firing.
    Firing,
    /// Every alert of the group has resolved.
    Resolved,
}

/// A name/value pair shown with a message (Discord embed field, Slack field, PagerDuty custom
/// detail).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// The field's name, e.g. `service`.
    pub name: String,
    /// The field's value, e.g. `api`.
    pub value: String,
}

/// One notification for one receiver, ready to be rendered by a [`crate::receiver`] and kept
/// in the outbox until the receiver accepts it. Plain data: it serializes to JSON for storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The receiver (a `receivers[].name` of the configuration) it is for.
    pub receiver: String,
    /// A stable key for the incident this message is about (the alert group's key). Messages
    /// with the same key update one incident: PagerDuty's `dedup_key`, the outbox's
    /// idempotency key together with `sequence`.
    pub dedup_key: String,
    /// Increases with every notification sent for the same `dedup_key`, so a retried message
    /// can be told from a new one.
    pub sequence: u64,
    /// How urgent it is.
    pub severity: Severity,
    /// Firing or resolved.
    pub status: MessageStatus,
    /// One-line title, e.g. `[P0] HighErrorRate: api`.
    pub title: String,
    /// The body text (may be long; receivers truncate to their limits).
    pub summary: String,
    /// Details shown as fields.
    pub fields: Vec<Field>,
    /// Mentions to prepend, e.g. `@here` for P0 on Discord.
    pub mentions: Vec<String>,
    /// A link for more (runbook, dashboard, the alert's generator URL).
    pub url: Option<String>,
    /// Who raised it, e.g. `parky-slo` or `alertmanager`.
    pub source: String,
    /// When the underlying problem started (or resolved).
    pub timestamp: DateTime<Utc>,
}
