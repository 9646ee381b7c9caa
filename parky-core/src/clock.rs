//! Time as an input: the [`Clock`] trait, the real [`SystemClock`] and the
//! test-friendly [`ManualClock`].

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// A source of the current time.
///
/// Code that needs "now" takes a `&dyn Clock` (or a generic `C: Clock`) instead of
/// calling [`Utc::now`] itself, so tests can pin and move time without sleeping.
pub trait Clock: Send + Sync {
    /// The current instant, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for Box<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

/// The operating system's wall clock ([`Utc::now`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to.
///
/// Clones share the same time: hand a clone to the code under test, keep one in
/// the test, and [`advance`](ManualClock::advance) it. It can also be wrapped in an
/// [`Arc`] (`Arc<ManualClock>` is a [`Clock`] too).
///
/// Moving the clock never panics: a move past the largest representable instant
/// saturates at [`DateTime::<Utc>::MAX_UTC`].
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock that reads `start` until it is moved.
    #[must_use]
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// A clock starting at the Unix epoch, 1970-01-01T00:00:00Z.
    #[must_use]
    pub fn at_epoch() -> Self {
        Self::new(DateTime::<Utc>::UNIX_EPOCH)
    }

    /// Jump to `instant` (forwards or backwards).
    pub fn set(&self, instant: DateTime<Utc>) {
        *self.lock() = instant;
    }

    /// Move forward by `by`, saturating at [`DateTime::<Utc>::MAX_UTC`].
    pub fn advance(&self, by: Duration) {
        let mut now = self.lock();
        let moved = TimeDelta::from_std(by)
            .ok()
            .and_then(|delta| now.checked_add_signed(delta));
        *now = moved.unwrap_or(DateTime::<Utc>::MAX_UTC);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        // A poisoned lock still holds a valid `DateTime` (writes are single
        // assignments), so recovering the guard is sound and avoids a panic.
        self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::at_epoch()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, h, m, s).single().unwrap()
    }

    #[test]
    fn manual_clock_set_and_advance() {
        let clock = ManualClock::new(t(12, 0, 0));
        assert_eq!(clock.now(), t(12, 0, 0));
        // 12:00:00 + 90 s = 12:01:30
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now(), t(12, 1, 30));
        clock.set(t(8, 0, 0));
        assert_eq!(clock.now(), t(8, 0, 0));
    }

    #[test]
    fn clones_and_arcs_share_time() {
        let clock = ManualClock::new(t(0, 0, 0));
        let handle = clock.clone();
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        handle.advance(Duration::from_secs(3600));
        assert_eq!(clock.now(), t(1, 0, 0));
        assert_eq!(shared.now(), t(1, 0, 0));
    }

    #[test]
    fn advance_saturates_instead_of_panicking() {
        let clock = ManualClock::at_epoch();
        clock.advance(Duration::MAX);
        assert_eq!(clock.now(), DateTime::<Utc>::MAX_UTC);
        clock.advance(Duration::from_secs(1));
        assert_eq!(clock.now(), DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn system_clock_is_after_2020() {
        let earliest = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).single().unwrap();
        assert!(SystemClock.now() > earliest);
    }
}
