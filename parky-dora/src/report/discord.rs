//! The report as a [`parky_notify::Message`], for Discord (or any receiver of parky-notify).
//!
//! | message field | from the report |
//! |---|---|
//! | `title` | `"DORA weekly: {overall} · {title} · {environment}"` |
//! | `summary` | the window, the report year, then one line per trend week |
//! | `fields` | one per key (`"{key} — {class}"` → figures), then `Notes` when there are any |
//! | `severity` / `status` | P3 (informational) / firing |
//! | `dedup_key` | `dora:{environment}:{since}:{until}` (RFC 3339): a re-run of the same window is the same message |
//! | `timestamp` | the end of the window |
//!
//! The Discord payloads come from [`parky_notify::receiver::discord::render`], which enforces
//! every Discord limit: an over-long description is cut with `…`, fields beyond the 6,000
//! character budget move to another message.

use chrono::SecondsFormat;
use parky_notify::{Field, Message, MessageStatus, Severity};

use super::text::{key_lines, overall_line, percent, window_line};
use super::{format_duration, DoraReport};

/// The `source` of the messages (Discord shows it as the embed's author).
pub const DISCORD_SOURCE: &str = "parky-dora";

/// The start of every message title.
pub const DISCORD_TITLE_PREFIX: &str = "DORA weekly";

pub(super) fn message(r: &DoraReport, receiver: &str) -> Message {
    let mut summary = format!(
        "{}\nClusters: {}\nOverall: {}",
        window_line(r),
        r.source,
        overall_line(r)
    );
    if !r.trend.is_empty() {
        summary
            .push_str("\n\nWeekly trend (week of · deploys · lead time p50 · CFR · recovery p50):");
        for w in &r.trend {
            summary.push_str(&format!(
                "\n{} · {} · {} · {} · {}",
                w.week,
                w.deployments,
                w.lead_time_median
                    .map_or_else(|| "-".to_owned(), format_duration),
                w.change_failure_rate
                    .map_or_else(|| "-".to_owned(), percent),
                w.recovery_median
                    .map_or_else(|| "-".to_owned(), format_duration),
            ));
        }
    }
    let mut fields: Vec<Field> = key_lines(r)
        .into_iter()
        .map(|(name, figures, class)| Field {
            name: format!("{name} — {class}"),
            value: figures,
        })
        .collect();
    let notes = &r.notes;
    if !notes.is_empty() {
        fields.push(Field {
            name: "Notes".to_owned(),
            value: notes.join("\n"),
        });
    }
    Message {
        receiver: receiver.to_owned(),
        dedup_key: format!(
            "dora:{}:{}:{}",
            r.environment,
            r.window.since.to_rfc3339_opts(SecondsFormat::Secs, true),
            r.window.until.to_rfc3339_opts(SecondsFormat::Secs, true)
        ),
        sequence: 0,
        severity: Severity::P3,
        status: MessageStatus::Firing,
        title: format!(
            "{DISCORD_TITLE_PREFIX}: {} · {} · {}",
            r.overall, r.title, r.environment
        ),
        summary,
        fields,
        mentions: Vec::new(),
        url: None,
        source: DISCORD_SOURCE.to_owned(),
        timestamp: r.window.until,
    }
}
