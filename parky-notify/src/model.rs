//! Plain data types of the domain: label sets and alerts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The labels of an alert, sorted by name. As in Alertmanager, a label with an empty value is
/// the same as a missing label for every matcher and for inhibition's `equal` list.
pub type LabelSet = BTreeMap<String, String>;

/// Whether an alert is still firing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// The alert is active.
    Firing,
    /// The alert has ended; it no longer inhibits anything.
    Resolved,
}

/// An alert as the routing core sees it: its labels and whether it fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// The alert's labels (`alertname`, `severity`, `service`, …).
    pub labels: LabelSet,
    /// Firing or resolved.
    pub status: AlertStatus,
}

impl Alert {
    /// A firing alert with the given labels.
    pub fn firing<I, K, V>(labels: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Alert {
            labels: labels_from(labels),
            status: AlertStatus::Firing,
        }
    }

    /// A resolved alert with the given labels.
    pub fn resolved<I, K, V>(labels: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Alert {
            labels: labels_from(labels),
            status: AlertStatus::Resolved,
        }
    }

    /// Whether the alert is firing.
    pub fn is_firing(&self) -> bool {
        self.status == AlertStatus::Firing
    }
}

/// Builds a [`LabelSet`] from pairs: `labels_from([("severity", "page")])`.
pub fn labels_from<I, K, V>(pairs: I) -> LabelSet
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    pairs
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
}

/// The value of `name` in `labels`, or `""` when the label is missing (Alertmanager's rule).
pub fn label_value<'a>(labels: &'a LabelSet, name: &str) -> &'a str {
    labels.get(name).map(String::as_str).unwrap_or("")
}
