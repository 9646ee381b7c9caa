//! The handbook's four severities.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How urgent a notification is. P0 pages a human now; P1 goes to an urgent channel; P2 to a
/// working-hours channel; P3 into a digest. Ordered from most to least urgent
/// (`Severity::P0 < Severity::P3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    /// Page now: customer-facing outage, fast error-budget burn.
    P0,
    /// Urgent: needs attention within the hour.
    P1,
    /// Working hours: deploy news, slow burns, tickets.
    P2,
    /// Digest: informational.
    P3,
}

impl Severity {
    /// All severities, most urgent first.
    pub const ALL: [Severity; 4] = [Severity::P0, Severity::P1, Severity::P2, Severity::P3];

    /// `"P0"` … `"P3"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::P0 => "P0",
            Severity::P1 => "P1",
            Severity::P2 => "P2",
            Severity::P3 => "P3",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error of [`Severity::from_str`]: the text that is not a severity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a severity (expected P0, P1, P2 or P3)")]
pub struct UnknownSeverity(pub String);

impl FromStr for Severity {
    type Err = UnknownSeverity;

    /// Accepts `P0`…`P3` in either case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "P0" => Ok(Severity::P0),
            "P1" => Ok(Severity::P1),
            "P2" => Ok(Severity::P2),
            "P3" => Ok(Severity::P3),
            _ => Err(UnknownSeverity(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders() {
        assert_eq!("p1".parse::<Severity>(), Ok(Severity::P1));
        assert_eq!(" P3 ".parse::<Severity>(), Ok(Severity::P3));
        assert!("P4".parse::<Severity>().is_err());
        assert!(Severity::P0 < Severity::P2);
        assert_eq!(Severity::P2.to_string(), "P2");
    }
}
