//! Alerts with a lifetime: [`TimedAlert`] extends the routing core's [`Alert`] with
//! Alertmanager's `startsAt` / `endsAt`, annotations and a link.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{labels_from, Alert, AlertStatus, LabelSet};

/// An alert as a source reports it: labels, when it started and (if known) when it ends.
///
/// As in Alertmanager, an alert is resolved from `ends_at` on (`ends_at <= now`); one received
/// without `ends_at` gets `received + resolve_timeout` (the sender is expected to report it
/// again while it fires). The same labels reported again update the alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimedAlert {
    /// Identifying labels (`alertname`, `severity`, `service`, …); they are its fingerprint.
    pub labels: LabelSet,
    /// Non-identifying text (`summary`, `description`, `runbook_url`).
    #[serde(default)]
    pub annotations: LabelSet,
    /// When the problem started.
    pub starts_at: DateTime<Utc>,
    /// When it ends or ended; `None` when unknown.
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    /// A link to the source (Prometheus' `generatorURL`).
    #[serde(default)]
    pub generator_url: Option<String>,
    /// Who raised it (`prometheus`, `parky-slo`); the message's `source`.
    #[serde(default)]
    pub source: Option<String>,
}

impl TimedAlert {
    /// A firing alert with these labels, started at `starts_at`, with no known end.
    pub fn new<I, K, V>(labels: I, starts_at: DateTime<Utc>) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        TimedAlert {
            labels: labels_from(labels),
            annotations: LabelSet::new(),
            starts_at,
            ends_at: None,
            generator_url: None,
            source: None,
        }
    }

    /// The same alert ending at `ends_at`.
    #[must_use]
    pub fn ending_at(mut self, ends_at: DateTime<Utc>) -> Self {
        self.ends_at = Some(ends_at);
        self
    }

    /// The same alert with an annotation added.
    #[must_use]
    pub fn with_annotation(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(name.into(), value.into());
        self
    }

    /// The same alert with a source.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Whether the alert has resolved at `at` (`ends_at <= at`).
    pub fn is_resolved_at(&self, at: DateTime<Utc>) -> bool {
        self.ends_at.is_some_and(|end| end <= at)
    }

    /// The routing core's view of the alert at `at`.
    pub fn to_alert(&self, at: DateTime<Utc>) -> Alert {
        Alert {
            labels: self.labels.clone(),
            status: if self.is_resolved_at(at) {
                AlertStatus::Resolved
            } else {
                AlertStatus::Firing
            },
        }
    }
}

/// Renders labels like Alertmanager's group labels: `{a="1", b="x"}`, sorted by name, values
/// quoted with `\`, `"` and control characters escaped. Messages list each alert this way.
pub fn format_labels(labels: &LabelSet) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(k);
        out.push_str("=\"");
        for c in v.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => out.push_str(&format!("\\u{{{:04x}}}", u32::from(c))),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn resolution_and_rendering() {
        let t = Utc.with_ymd_and_hms(2024, 6, 3, 0, 0, 0).single().unwrap();
        let a = TimedAlert::new([("b", "x\"y"), ("a", "1")], t).ending_at(t);
        assert!(a.is_resolved_at(t));
        assert_eq!(a.to_alert(t).status, AlertStatus::Resolved);
        assert!(!TimedAlert::new([("a", "1")], t).is_resolved_at(t));
        assert_eq!(format_labels(&a.labels), r#"{a="1", b="x\"y"}"#);
    }
}
