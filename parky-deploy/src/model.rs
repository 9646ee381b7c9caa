//! Plain data types shared by the canary state machine, the platform clients and the
//! simulator.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The identifier of an uploaded version of a service (a Cloudflare Workers version id, a
/// container image digest, …).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VersionId(pub String);

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for VersionId {
    fn from(id: &str) -> Self {
        VersionId(id.to_owned())
    }
}

/// How traffic is split between the stable version and, during a canary, a new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficSplit {
    /// The version that serves the rest of the traffic.
    pub stable: VersionId,
    /// The canary and its share of traffic in percent (1–99), if a canary is running.
    pub canary: Option<(VersionId, u8)>,
}

/// `100% v1`, or `90% v1 + 10% v2` during a canary.
impl fmt::Display for TrafficSplit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.canary {
            None => write!(f, "100% {}", self.stable),
            Some((canary, weight)) => write!(
                f,
                "{}% {} + {weight}% {canary}",
                100u8.saturating_sub(*weight),
                self.stable
            ),
        }
    }
}

impl TrafficSplit {
    /// All traffic on one version.
    pub fn all_on(version: VersionId) -> Self {
        TrafficSplit {
            stable: version,
            canary: None,
        }
    }

    /// The canary's share in percent (0 without a canary).
    pub fn canary_percent(&self) -> u8 {
        self.canary.as_ref().map_or(0, |(_, p)| *p)
    }
}
