//! The retry decision: given what just failed, wait how long, or give up why.
//!
//! Like tower's retry `Policy`, this module only *decides*; it never sleeps and
//! never runs anything. A synchronous loop, a tokio task or a Cloudflare Worker can
//! drive it with its own timer.

use std::time::Duration;

use rand::Rng;

use super::backoff::Backoff;
use crate::CoreError;

/// Anything that knows whether retrying it can help.
pub trait Retryable {
    /// Whether the same request may succeed if sent again later.
    fn is_retryable(&self) -> bool;

    /// How long the server asked the client to wait, if it did (`Retry-After`).
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// One failed attempt, as seen by [`RetryPolicy::decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    attempt: u32,
    retryable: bool,
    retry_after: Option<Duration>,
    previous_delay: Option<Duration>,
}

impl Failure {
    /// Attempt number `attempt` (1-based: the first call is attempt 1) failed, with
    /// an error that is `retryable` or not.
    #[must_use]
    pub fn new(attempt: u32, retryable: bool) -> Self {
        Self {
            attempt,
            retryable,
            retry_after: None,
            previous_delay: None,
        }
    }

    /// Attempt number `attempt` (1-based) failed with `error`; takes both
    /// retryability and `Retry-After` from the error.
    #[must_use]
    pub fn from_error<E: Retryable + ?Sized>(attempt: u32, error: &E) -> Self {
        Self {
            retry_after: error.retry_after(),
            ..Self::new(attempt, error.is_retryable())
        }
    }

    /// The server's `Retry-After` (already resolved against "now", see
    /// [`crate::RetryAfter::wait_from`]).
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// The delay that preceded this attempt (needed by decorrelated jitter).
    #[must_use]
    pub fn with_previous_delay(mut self, previous_delay: Option<Duration>) -> Self {
        self.previous_delay = previous_delay;
        self
    }

    /// The 1-based attempt number.
    #[must_use]
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Whether the error is retryable.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// The server-requested wait, if any.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The delay that preceded this attempt, if any.
    #[must_use]
    pub fn previous_delay(&self) -> Option<Duration> {
        self.previous_delay
    }
}

/// Where a retry delay came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DelaySource {
    /// The server's `Retry-After`, used as is.
    RetryAfter,
    /// The policy's [`Backoff`].
    Backoff,
}

/// Why the policy gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GiveUpReason {
    /// The error is permanent (e.g. HTTP 400, 401, 403, 404).
    NotRetryable,
    /// `attempts` attempts were made, which is the policy's maximum.
    AttemptsExhausted {
        /// Attempts made so far.
        attempts: u32,
    },
    /// The server asked for a longer wait than the policy allows.
    RetryAfterTooLong {
        /// What the server asked for.
        retry_after: Duration,
        /// The policy's maximum wait.
        max_wait: Duration,
    },
}

/// What to do after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Wait `after`, then make attempt number `attempt + 1`.
    Retry {
        /// How long to wait.
        after: Duration,
        /// Where the duration came from.
        source: DelaySource,
    },
    /// Stop and surface the error.
    GiveUp(GiveUpReason),
}

/// A pure retry policy: a maximum number of attempts, a [`Backoff`] and a maximum
/// wait.
///
/// Rules, applied in order by [`RetryPolicy::decide`]:
/// 1. a non-retryable error gives up with [`GiveUpReason::NotRetryable`];
/// 2. once `max_attempts` attempts (counting the first) have been made, it gives up
///    with [`GiveUpReason::AttemptsExhausted`];
/// 3. a `Retry-After` takes precedence over the backoff: it is used exactly if it
///    is at most `max_wait`, otherwise the policy gives up with
///    [`GiveUpReason::RetryAfterTooLong`] (waiting less than the server asked for
///    would only earn another 429 or 503);
/// 4. otherwise the delay is the backoff for retry `attempt - 1`, clamped to
///    `max_wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RetryPolicy {
    max_attempts: u32,
    backoff: Backoff,
    max_wait: Duration,
}

impl RetryPolicy {
    /// A policy making at most `max_attempts` attempts in total (first call
    /// included), spacing them with `backoff`, and never waiting longer than
    /// `max_wait` at once.
    ///
    /// # Errors
    /// [`CoreError::InvalidRetryPolicy`] if `max_attempts` is zero.
    pub fn new(max_attempts: u32, backoff: Backoff, max_wait: Duration) -> Result<Self, CoreError> {
        if max_attempts == 0 {
            return Err(CoreError::InvalidRetryPolicy {
                field: "max_attempts",
                reason: "must be at least 1 (the first attempt counts)",
            });
        }
        Ok(Self {
            max_attempts,
            backoff,
            max_wait,
        })
    }

    /// The maximum number of attempts, first call included.
    #[must_use]
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The backoff used when the server gives no `Retry-After`.
    #[must_use]
    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// The longest single wait the policy accepts.
    #[must_use]
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// Decide what to do after `failure`. `rng` feeds the backoff's jitter.
    #[must_use]
    pub fn decide<R: Rng + ?Sized>(&self, failure: &Failure, rng: &mut R) -> Decision {
        if !failure.retryable {
            return Decision::GiveUp(GiveUpReason::NotRetryable);
        }
        if failure.attempt >= self.max_attempts {
            return Decision::GiveUp(GiveUpReason::AttemptsExhausted {
                attempts: failure.attempt,
            });
        }
        if let Some(retry_after) = failure.retry_after {
            if retry_after > self.max_wait {
                return Decision::GiveUp(GiveUpReason::RetryAfterTooLong {
                    retry_after,
                    max_wait: self.max_wait,
                });
            }
            return Decision::Retry {
                after: retry_after,
                source: DelaySource::RetryAfter,
            };
        }
        let retry = failure.attempt.saturating_sub(1);
        let delay = self.backoff.delay(retry, failure.previous_delay, rng);
        Decision::Retry {
            after: delay.min(self.max_wait),
            source: DelaySource::Backoff,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::backoff::tests::FixedRng;
    use crate::policy::Jitter;
    use proptest::prelude::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn policy(jitter: Jitter) -> RetryPolicy {
        let backoff = Backoff::new(secs(1), secs(30), jitter).unwrap();
        RetryPolicy::new(5, backoff, secs(60)).unwrap()
    }

    #[test]
    fn zero_attempts_is_rejected() {
        let backoff = Backoff::new(secs(1), secs(2), Jitter::None).unwrap();
        let err = RetryPolicy::new(0, backoff, secs(1)).unwrap_err();
        assert!(matches!(
            err,
            CoreError::InvalidRetryPolicy {
                field: "max_attempts",
                ..
            }
        ));
    }

    #[test]
    fn backoff_follows_attempt_numbers() {
        let p = policy(Jitter::None);
        // Attempt 1 failed -> retry 0 -> 1s * 2^0 = 1s; attempt 3 -> retry 2 -> 4s.
        let mut rng = FixedRng(0);
        assert_eq!(
            p.decide(&Failure::new(1, true), &mut rng),
            Decision::Retry {
                after: secs(1),
                source: DelaySource::Backoff
            }
        );
        assert_eq!(
            p.decide(&Failure::new(3, true), &mut rng),
            Decision::Retry {
                after: secs(4),
                source: DelaySource::Backoff
            }
        );
    }

    #[test]
    fn full_jitter_uses_the_rng() {
        let p = policy(Jitter::Full);
        // Attempt 4 -> retry 3 -> t = 8s; r = 2^63 -> floor((8e9 + 1) / 2)ns = 4s.
        assert_eq!(
            p.decide(&Failure::new(4, true), &mut FixedRng(1 << 63)),
            Decision::Retry {
                after: secs(4),
                source: DelaySource::Backoff
            }
        );
    }

    #[test]
    fn non_retryable_gives_up_first() {
        let p = policy(Jitter::None);
        let failure = Failure::new(9, false).with_retry_after(Some(secs(1)));
        assert_eq!(
            p.decide(&failure, &mut FixedRng(0)),
            Decision::GiveUp(GiveUpReason::NotRetryable)
        );
    }

    #[test]
    fn attempts_exhausted() {
        let p = policy(Jitter::None);
        assert_eq!(
            p.decide(&Failure::new(5, true), &mut FixedRng(0)),
            Decision::GiveUp(GiveUpReason::AttemptsExhausted { attempts: 5 })
        );
        // Attempt 4 of 5 may still retry.
        assert!(matches!(
            p.decide(&Failure::new(4, true), &mut FixedRng(0)),
            Decision::Retry { .. }
        ));
    }

    #[test]
    fn retry_after_takes_precedence_over_backoff() {
        let p = policy(Jitter::None);
        // Backoff would say 1s; the server says 45s, within the 60s maximum.
        let failure = Failure::new(1, true).with_retry_after(Some(secs(45)));
        assert_eq!(
            p.decide(&failure, &mut FixedRng(0)),
            Decision::Retry {
                after: secs(45),
                source: DelaySource::RetryAfter
            }
        );
        // Retry-After: 0 means "now".
        let failure = Failure::new(1, true).with_retry_after(Some(Duration::ZERO));
        assert_eq!(
            p.decide(&failure, &mut FixedRng(0)),
            Decision::Retry {
                after: Duration::ZERO,
                source: DelaySource::RetryAfter
            }
        );
    }

    #[test]
    fn retry_after_longer_than_max_wait_gives_up() {
        let p = policy(Jitter::None);
        let failure = Failure::new(1, true).with_retry_after(Some(secs(3600)));
        assert_eq!(
            p.decide(&failure, &mut FixedRng(0)),
            Decision::GiveUp(GiveUpReason::RetryAfterTooLong {
                retry_after: secs(3600),
                max_wait: secs(60)
            })
        );
    }

    #[test]
    fn backoff_is_clamped_to_max_wait() {
        let backoff = Backoff::new(secs(10), secs(600), Jitter::None).unwrap();
        let p = RetryPolicy::new(10, backoff, secs(60)).unwrap();
        // Attempt 4 -> retry 3 -> 10s * 8 = 80s > max wait 60s -> 60s.
        assert_eq!(
            p.decide(&Failure::new(4, true), &mut FixedRng(0)),
            Decision::Retry {
                after: secs(60),
                source: DelaySource::Backoff
            }
        );
    }

    #[test]
    fn decorrelated_reads_previous_delay() {
        let p = policy(Jitter::Decorrelated);
        // previous 4s -> range [1s, 12s]; r = max -> 12s.
        let failure = Failure::new(2, true).with_previous_delay(Some(secs(4)));
        assert_eq!(
            p.decide(&failure, &mut FixedRng(u64::MAX)),
            Decision::Retry {
                after: secs(12),
                source: DelaySource::Backoff
            }
        );
    }

    struct Flaky;
    impl Retryable for Flaky {
        fn is_retryable(&self) -> bool {
            true
        }
        fn retry_after(&self) -> Option<Duration> {
            Some(Duration::from_secs(7))
        }
    }

    #[test]
    fn failure_from_error() {
        let failure = Failure::from_error(2, &Flaky);
        assert!(failure.is_retryable());
        assert_eq!(failure.retry_after(), Some(secs(7)));
        assert_eq!(failure.attempt(), 2);
    }

    proptest! {
        #[test]
        fn decisions_never_exceed_max_wait(
            attempt in any::<u32>(),
            retryable in any::<bool>(),
            retry_after in proptest::option::of(0u64..10_000),
            previous in proptest::option::of(0u64..10_000),
            r in any::<u64>(),
        ) {
            let p = policy(Jitter::Decorrelated);
            let failure = Failure::new(attempt, retryable)
                .with_retry_after(retry_after.map(Duration::from_secs))
                .with_previous_delay(previous.map(Duration::from_secs));
            match p.decide(&failure, &mut FixedRng(r)) {
                Decision::Retry { after, .. } => {
                    prop_assert!(after <= p.max_wait());
                    prop_assert!(retryable && attempt < p.max_attempts());
                }
                Decision::GiveUp(_) => {}
            }
        }
    }
}
