//! Plain data types shared by the SLI sources and the evaluators.

use serde::{Deserialize, Serialize};

/// One request as seen by an SLI source: when it happened, whether it was good, and what is
/// known about it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SliEvent {
    /// When the request happened, in milliseconds since the Unix epoch (UTC).
    pub timestamp_ms: i64,
    /// Whether the request counts as good for the availability SLI.
    pub good: bool,
    /// The HTTP status, when the source records one.
    pub status: Option<u16>,
    /// How long the request took, in seconds, when the source records it.
    pub latency_seconds: Option<f64>,
}
