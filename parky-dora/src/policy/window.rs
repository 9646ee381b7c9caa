//! [`Window`]: the half-open interval `[since, until)` and its local calendar.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::error::DoraError;

/// The period a report covers: `[since, until)`, read in a time zone.
///
/// The time zone decides the calendar: which local day a deployment falls on and which week
/// (weeks start on Monday 00:00 local time) it belongs to. Instants are compared in UTC, so
/// a deployment at Sunday 23:59:59 JST (Sunday 14:59:59 UTC) belongs to the week before one at
/// Monday 00:00 JST (Sunday 15:00 UTC).
///
/// The window's length ([`Window::length_days`]) is measured on the local wall clock: four
/// weeks from a Monday 00:00 to a Monday 00:00 are 28 days even when a daylight-saving change
/// makes them 671 or 673 hours long. (Only if a window is so short that the wall clock runs
/// backwards across it, at a fall-back change, is the elapsed time used instead.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    tz: Tz,
}

impl Window {
    /// A window from `since` (inclusive) to `until` (exclusive) in `tz`.
    ///
    /// # Errors
    /// [`DoraError::InvalidConfig`] naming `since` when `since` is not before `until`.
    pub fn new(since: DateTime<Utc>, until: DateTime<Utc>, tz: Tz) -> Result<Self, DoraError> {
        if since >= until {
            return Err(DoraError::InvalidConfig {
                field: "since".to_owned(),
                reason: format!(
                    "must be before until ({} is not before {})",
                    since.to_rfc3339(),
                    until.to_rfc3339()
                ),
            });
        }
        let window = Self { since, until, tz };
        // Rates per day and per week of a shorter window would be extrapolations (one
        // deployment in an hour is not 24 a day).
        if window.length_days() < 1.0 {
            return Err(DoraError::InvalidConfig {
                field: "until".to_owned(),
                reason: format!(
                    "the window must be at least one day long on the local clock ({} to {} is {:.3} days)",
                    since.to_rfc3339(),
                    until.to_rfc3339(),
                    window.length_days()
                ),
            });
        }
        Ok(window)
    }

    /// First instant of the window (inclusive).
    #[must_use]
    pub fn since(&self) -> DateTime<Utc> {
        self.since
    }

    /// End of the window (exclusive).
    #[must_use]
    pub fn until(&self) -> DateTime<Utc> {
        self.until
    }

    /// The time zone of the calendar.
    #[must_use]
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// Whether `at` is inside `[since, until)`.
    #[must_use]
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.since <= at && at < self.until
    }

    /// The window's length in days, on the local wall clock (see the type's docs).
    #[must_use]
    pub fn length_days(&self) -> f64 {
        let local = self.until.with_timezone(&self.tz).naive_local()
            - self.since.with_timezone(&self.tz).naive_local();
        let length = if local > TimeDelta::zero() {
            local
        } else {
            self.until - self.since
        };
        seconds_f64(length) / 86_400.0
    }

    /// The window's length in weeks: [`Window::length_days`] / 7.
    #[must_use]
    pub fn length_weeks(&self) -> f64 {
        self.length_days() / 7.0
    }

    /// The local calendar date of `at`.
    #[must_use]
    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }

    /// The Monday that starts the local week of `at`.
    #[must_use]
    pub fn week_of(&self, at: DateTime<Utc>) -> NaiveDate {
        monday_of(self.local_date(at))
    }

    /// The first and last local dates the window touches (a partly covered day counts).
    #[must_use]
    pub fn local_dates(&self) -> (NaiveDate, NaiveDate) {
        // `until` is exclusive: the last instant inside is one nanosecond before it, which is
        // not before `since` because `since < until`.
        let last = self.until - TimeDelta::nanoseconds(1);
        (self.local_date(self.since), self.local_date(last))
    }

    /// The local weeks the window touches, oldest first: each week's Monday and how many of its
    /// seven days are (at least partly) inside the window.
    #[must_use]
    pub fn weeks(&self) -> Vec<(NaiveDate, u32)> {
        let (first, last) = self.local_dates();
        let mut weeks = Vec::new();
        let mut monday = monday_of(first);
        while monday <= last {
            let sunday = monday + TimeDelta::days(6);
            let from = monday.max(first);
            let to = sunday.min(last);
            let days = u32::try_from((to - from).num_days() + 1).unwrap_or(0);
            weeks.push((monday, days));
            monday += TimeDelta::days(7);
        }
        weeks
    }
}

/// The Monday on or before `date`.
#[must_use]
pub fn monday_of(date: NaiveDate) -> NaiveDate {
    date - TimeDelta::days(i64::from(date.weekday().num_days_from_monday()))
}

/// A duration in (fractional) seconds.
pub(crate) fn seconds_f64(d: TimeDelta) -> f64 {
    d.num_seconds() as f64 + f64::from(d.subsec_nanos()) / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn since_must_be_before_until() {
        let at = utc(2024, 6, 3, 0, 0, 0);
        let err = Window::new(at, at, chrono_tz::Asia::Tokyo).err();
        assert!(
            matches!(err, Some(DoraError::InvalidConfig { ref field, .. }) if field == "since")
        );
    }

    #[test]
    fn tokyo_week_boundary() {
        // Monday 2024-06-03 00:00 JST is Sunday 2024-06-02 15:00 UTC.
        let w = Window::new(
            utc(2024, 5, 26, 15, 0, 0),
            utc(2024, 6, 9, 15, 0, 0),
            chrono_tz::Asia::Tokyo,
        )
        .expect("a valid window");
        let monday = NaiveDate::from_ymd_opt(2024, 6, 3).unwrap_or_default();
        assert_eq!(w.week_of(utc(2024, 6, 2, 15, 0, 0)), monday);
        assert_eq!(
            w.week_of(utc(2024, 6, 2, 14, 59, 59)),
            monday - TimeDelta::days(7)
        );
        assert_eq!(w.weeks().len(), 2);
        assert!((w.length_days() - 14.0).abs() < 1e-12);
    }

    #[test]
    fn dst_window_is_28_local_days() {
        // Europe/Berlin: 2024-03-25 00:00 CET (23:00 UTC the day before) to 2024-04-22 00:00
        // CEST (22:00 UTC the day before): 671 hours, 28 days on the wall clock.
        let w = Window::new(
            utc(2024, 3, 24, 23, 0, 0),
            utc(2024, 4, 21, 22, 0, 0),
            chrono_tz::Europe::Berlin,
        )
        .expect("a valid window");
        assert_eq!(w.until() - w.since(), TimeDelta::hours(671));
        assert!((w.length_days() - 28.0).abs() < 1e-12);
        let weeks = w.weeks();
        assert_eq!(weeks.len(), 4);
        assert!(weeks.iter().all(|&(_, days)| days == 7));
    }
}
