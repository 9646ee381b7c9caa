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
    // An alert has a handful of labels: a scan that rejects most names on their length alone
    // beats the map's ordered search, which compares every key it passes byte by byte.
    let found = if labels.len() <= SCAN_LABELS {
        labels
            .iter()
            .find(|(k, _)| text_eq(k, name))
            .map(|(_, v)| v)
    } else {
        labels.get(name)
    };
    found.map(String::as_str).unwrap_or("")
}

/// Up to how many labels [`label_value`] scans instead of searching.
const SCAN_LABELS: usize = 8;

/// `a == b`, quicker for the short strings labels are made of: up to 16 bytes are compared
/// with at most two (overlapping) word loads instead of a call to `memcmp`.
#[inline]
pub(crate) fn text_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    match a.len() {
        0 => true,
        1..=3 => {
            a.first() == b.first()
                && a.get(a.len() / 2) == b.get(b.len() / 2)
                && a.last() == b.last()
        }
        4..=8 => {
            a.first_chunk::<4>() == b.first_chunk::<4>()
                && a.last_chunk::<4>() == b.last_chunk::<4>()
        }
        9..=16 => {
            a.first_chunk::<8>() == b.first_chunk::<8>()
                && a.last_chunk::<8>() == b.last_chunk::<8>()
        }
        _ => a == b,
    }
}
