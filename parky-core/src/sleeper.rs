//! Waiting as an input: the [`Sleeper`] trait, the test-friendly [`ManualSleeper`] and,
//! with the `tokio` feature, the real [`TokioSleeper`].

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::ManualClock;

/// Waits for a duration.
///
/// Code that has to wait (between retries, for a rate-limit window) takes an
/// `Arc<dyn Sleeper>` instead of calling a runtime's timer itself, so tests can move a
/// [`ManualClock`] instead of sleeping.
#[async_trait]
pub trait Sleeper: Send + Sync + fmt::Debug {
    /// Return after `duration` has passed (by whatever clock the sleeper serves).
    async fn sleep(&self, duration: Duration);
}

/// The real sleeper: `tokio::time::sleep` (so it also follows tokio's paused test time).
#[cfg(feature = "tokio")]
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

#[cfg(feature = "tokio")]
#[async_trait]
impl Sleeper for TokioSleeper {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// A sleeper that moves a [`ManualClock`] forward instead of waiting, and records every
/// requested wait. For tests and simulations.
///
/// Clones share the clock and the record: hand a clone to the code under test and keep
/// one in the test.
#[derive(Debug, Clone)]
pub struct ManualSleeper {
    clock: ManualClock,
    slept: Arc<Mutex<Vec<Duration>>>,
}

impl ManualSleeper {
    /// A sleeper that advances `clock` (clones share time, so keep one in the test).
    #[must_use]
    pub fn new(clock: ManualClock) -> Self {
        Self {
            clock,
            slept: Arc::default(),
        }
    }

    /// Every wait requested so far, in order.
    #[must_use]
    pub fn slept(&self) -> Vec<Duration> {
        self.lock().clone()
    }

    /// The clock this sleeper moves.
    #[must_use]
    pub fn clock(&self) -> &ManualClock {
        &self.clock
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Duration>> {
        // A poisoned lock still holds a valid Vec (every write is a single push), so
        // recovering the guard is sound and avoids a panic.
        self.slept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Sleeper for ManualSleeper {
    async fn sleep(&self, duration: Duration) {
        self.lock().push(duration);
        self.clock.advance(duration);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Clock;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// Drive a future that never waits on I/O (the manual sleeper completes at once).
    fn ready<F: Future>(future: F) -> F::Output {
        let mut future = pin!(future);
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("a manual sleep never pends"),
        }
    }

    #[test]
    fn manual_sleeper_moves_the_clock_and_records() {
        let clock = ManualClock::at_epoch();
        let sleeper = ManualSleeper::new(clock.clone());
        let shared: Arc<dyn Sleeper> = Arc::new(sleeper.clone());
        ready(shared.sleep(Duration::from_secs(2)));
        ready(shared.sleep(Duration::from_millis(500)));
        assert_eq!(
            sleeper.slept(),
            [Duration::from_secs(2), Duration::from_millis(500)]
        );
        // 0 s + 2 s + 0.5 s = 2.5 s after the epoch.
        assert_eq!(
            clock.now(),
            chrono::DateTime::<chrono::Utc>::UNIX_EPOCH + chrono::TimeDelta::milliseconds(2500)
        );
        assert_eq!(sleeper.clock().now(), clock.now());
    }
}
