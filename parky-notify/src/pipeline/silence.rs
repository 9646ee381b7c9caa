//! Silences, as in Alertmanager: matchers and a time window.

use chrono::{DateTime, Utc};

use crate::error::NotifyError;
use crate::model::LabelSet;
use crate::policy::matcher::{parse_matchers, Matcher, Matchers};

/// Mutes every alert whose labels match all its matchers while it is active:
/// `starts_at <= t < ends_at`. Like Alertmanager, a silence needs at least one matcher and
/// at least one matcher that does not match the empty string (so it cannot silence
/// everything by accident).
#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    matchers: Matchers,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
}

impl Silence {
    /// A validated silence.
    ///
    /// # Errors
    ///
    /// [`NotifyError::InvalidSilence`] for no matchers, only matchers that match the empty
    /// string, or `ends_at` not after `starts_at`.
    pub fn new(
        matchers: Vec<Matcher>,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    ) -> Result<Self, NotifyError> {
        if matchers.is_empty() {
            return Err(NotifyError::InvalidSilence {
                field: "matchers",
                reason: "at least one matcher is required".to_owned(),
            });
        }
        if matchers.iter().all(|m| m.matches_value("")) {
            return Err(NotifyError::InvalidSilence {
                field: "matchers",
                reason: "at least one matcher must not match the empty string".to_owned(),
            });
        }
        if ends_at <= starts_at {
            return Err(NotifyError::InvalidSilence {
                field: "ends_at",
                reason: format!("{ends_at} is not after starts_at {starts_at}"),
            });
        }
        Ok(Silence {
            matchers: Matchers::new(matchers),
            starts_at,
            ends_at,
        })
    }

    /// A silence from matcher text in Alertmanager's syntax (`alertname="DiskFull",
    /// env=~"prod|staging"`, braces optional).
    ///
    /// # Errors
    ///
    /// [`NotifyError::InvalidSilence`] for text that does not parse or for the cases of
    /// [`Silence::new`].
    pub fn parse(
        matchers: &str,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    ) -> Result<Self, NotifyError> {
        let parsed = parse_matchers(matchers).map_err(|e| NotifyError::InvalidSilence {
            field: "matchers",
            reason: format!("{e}: {matchers}"),
        })?;
        Silence::new(parsed, starts_at, ends_at)
    }

    /// The matchers.
    pub fn matchers(&self) -> &Matchers {
        &self.matchers
    }

    /// When it starts muting.
    pub fn starts_at(&self) -> DateTime<Utc> {
        self.starts_at
    }

    /// When it stops muting (exclusive).
    pub fn ends_at(&self) -> DateTime<Utc> {
        self.ends_at
    }

    /// Whether it is active at `at`.
    pub fn is_active(&self, at: DateTime<Utc>) -> bool {
        self.starts_at <= at && at < self.ends_at
    }

    /// Whether it mutes an alert with these labels at `at`.
    pub fn mutes(&self, labels: &LabelSet, at: DateTime<Utc>) -> bool {
        self.is_active(at) && self.matchers.matches(labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::labels_from;
    use chrono::TimeZone;

    #[test]
    fn window_and_validation() {
        let t = |h| Utc.with_ymd_and_hms(2024, 6, 3, h, 0, 0).single().unwrap();
        let s = Silence::parse(r#"alertname="DiskFull""#, t(1), t(2)).unwrap();
        let l = labels_from([("alertname", "DiskFull")]);
        assert!(!s.mutes(&l, t(0)));
        assert!(s.mutes(&l, t(1)));
        assert!(!s.mutes(&l, t(2)), "ends_at is exclusive");
        assert!(!s.mutes(&labels_from([("alertname", "Other")]), t(1)));
        for bad in [
            Silence::parse("", t(1), t(2)),
            Silence::parse(r#"a=~".*""#, t(1), t(2)),
        ] {
            assert!(matches!(
                bad,
                Err(NotifyError::InvalidSilence {
                    field: "matchers",
                    ..
                })
            ));
        }
        assert!(matches!(
            Silence::parse("a=1", t(2), t(2)),
            Err(NotifyError::InvalidSilence {
                field: "ends_at",
                ..
            })
        ));
        assert!(Silence::parse("a=\"", t(1), t(2)).is_err());
    }
}
