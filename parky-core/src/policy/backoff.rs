//! Capped exponential backoff with the jitter strategies from the AWS Architecture
//! Blog post "Exponential Backoff And Jitter" (Marc Brooker, 2015).
//!
//! | strategy | delay for retry `n` (0-based) |
//! |---|---|
//! | [`Jitter::None`] | `min(cap, base * 2^n)` |
//! | [`Jitter::Full`] | `random_between(0, min(cap, base * 2^n))` |
//! | [`Jitter::Equal`] | `t = min(cap, base * 2^n); t/2 + random_between(0, t/2)` |
//! | [`Jitter::Decorrelated`] | `min(cap, random_between(base, previous * 3))`, `previous` starting at `base` |
//!
//! `random_between(lo, hi)` is inclusive on both ends. Randomness is an input: every
//! method takes the random source as `&mut R` where `R: rand::Rng` (one `next_u64`
//! per call, zero for [`Jitter::None`]); nothing here reads a global RNG.
//!
//! Arithmetic is done on whole nanoseconds in `u64`, saturating: durations longer
//! than `u64::MAX` nanoseconds (about 584 years) are treated as that length. No
//! attempt number can overflow or panic; `base * 2^1000` is simply the cap.

use std::time::Duration;

use rand::Rng;

use crate::CoreError;

/// How randomness is mixed into the exponential delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// No randomness: `min(cap, base * 2^n)`. Synchronised clients retry together;
    /// use only when there is a single client.
    None,
    /// `random_between(0, min(cap, base * 2^n))`: the blog's recommended default.
    #[default]
    Full,
    /// `t/2 + random_between(0, t/2)` with `t = min(cap, base * 2^n)`: never waits
    /// less than half the exponential delay.
    Equal,
    /// `min(cap, random_between(base, previous * 3))`: depends on the previous delay
    /// rather than on the attempt number.
    Decorrelated,
}

/// A capped exponential backoff with a [`Jitter`] strategy.
///
/// Invariants, checked by [`Backoff::new`]: `base <= cap`. Every delay it returns is
/// within `[0, cap]` (and within `[base, cap]` for [`Jitter::Decorrelated`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    jitter: Jitter,
}

impl Backoff {
    /// A backoff starting at `base`, doubling per retry, never above `cap`.
    ///
    /// # Errors
    /// [`CoreError::BackoffBaseAboveCap`] if `base > cap`.
    pub fn new(base: Duration, cap: Duration, jitter: Jitter) -> Result<Self, CoreError> {
        if base > cap {
            return Err(CoreError::BackoffBaseAboveCap { base, cap });
        }
        Ok(Self { base, cap, jitter })
    }

    /// The delay of the first retry before jitter.
    #[must_use]
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The largest delay ever returned.
    #[must_use]
    pub fn cap(&self) -> Duration {
        self.cap
    }

    /// The jitter strategy.
    #[must_use]
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The un-jittered delay for retry `retry` (0-based): `min(cap, base * 2^retry)`.
    #[must_use]
    pub fn exponential(&self, retry: u32) -> Duration {
        from_nanos(capped_exponential(nanos(self.base), nanos(self.cap), retry))
    }

    /// The delay before retry `retry` (0-based: the first retry is `0`).
    ///
    /// `previous` is the delay used before the previous retry; only
    /// [`Jitter::Decorrelated`] reads it, and treats `None` as `base` (the blog's
    /// starting value). The other strategies ignore it.
    #[must_use]
    pub fn delay<R: Rng + ?Sized>(
        &self,
        retry: u32,
        previous: Option<Duration>,
        rng: &mut R,
    ) -> Duration {
        let base = nanos(self.base);
        let cap = nanos(self.cap);
        let sleep = match self.jitter {
            Jitter::None => capped_exponential(base, cap, retry),
            Jitter::Full => random_between(0, capped_exponential(base, cap, retry), rng),
            Jitter::Equal => {
                let temp = capped_exponential(base, cap, retry);
                // temp - temp/2 (not temp/2) so that odd nanosecond counts still
                // reach `temp` at the top of the range.
                let half = temp / 2;
                half + random_between(0, temp - half, rng)
            }
            Jitter::Decorrelated => {
                let previous = previous.map_or(base, nanos);
                // A caller-supplied `previous` below base/3 would make the range
                // empty; the blog's range always starts at `base`.
                let upper = previous.saturating_mul(3).max(base);
                random_between(base, upper, rng).min(cap)
            }
        };
        from_nanos(sleep)
    }
}

/// `min(cap, base * 2^retry)` on nanoseconds, without overflow.
fn capped_exponential(base: u64, cap: u64, retry: u32) -> u64 {
    if base == 0 {
        return 0;
    }
    let factor = 1u64.checked_shl(retry).filter(|_| retry < u64::BITS);
    match factor {
        Some(factor) => base.saturating_mul(factor).min(cap),
        None => cap,
    }
}

/// A uniformly distributed integer in `[lo, hi]` (inclusive) from one `next_u64`.
///
/// Uses the multiply-shift map `lo + ((hi - lo + 1) * r) >> 64`, whose result is
/// at most `hi - lo` because `r < 2^64`. The bias is below `2^-64` per value.
fn random_between<R: Rng + ?Sized>(lo: u64, hi: u64, rng: &mut R) -> u64 {
    if hi <= lo {
        return lo;
    }
    let span = u128::from(hi - lo) + 1;
    let r = u128::from(rng.next_u64());
    let offset = (span * r) >> 64;
    // offset <= hi - lo < 2^64, so the conversion cannot fail; fall back to the
    // upper bound rather than panicking all the same.
    lo + u64::try_from(offset).unwrap_or(hi - lo)
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

fn from_nanos(nanos: u64) -> Duration {
    Duration::from_nanos(nanos)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::convert::Infallible;

    /// A "random" source that always returns the same word, so expected delays can
    /// be computed by hand.
    #[derive(Debug)]
    pub(crate) struct FixedRng(pub(crate) u64);

    impl rand::TryRng for FixedRng {
        type Error = Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Infallible> {
            Ok((self.0 >> 32) as u32)
        }
        fn try_next_u64(&mut self) -> Result<u64, Infallible> {
            Ok(self.0)
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
            dst.fill(0);
            Ok(())
        }
    }

    const MIN: u64 = 0;
    const HALF: u64 = 1 << 63;
    const MAX: u64 = u64::MAX;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn backoff(jitter: Jitter) -> Backoff {
        Backoff::new(ms(100), ms(10_000), jitter).unwrap()
    }

    #[test]
    fn base_above_cap_is_rejected() {
        let err = Backoff::new(ms(2), ms(1), Jitter::Full).unwrap_err();
        assert!(matches!(err, CoreError::BackoffBaseAboveCap { .. }));
    }

    #[test]
    fn exponential_doubles_then_caps() {
        let b = backoff(Jitter::None);
        // 100ms * 2^0 = 100ms, * 2^1 = 200ms, * 2^6 = 6400ms,
        // * 2^7 = 12800ms > cap 10000ms -> 10000ms.
        assert_eq!(b.exponential(0), ms(100));
        assert_eq!(b.exponential(1), ms(200));
        assert_eq!(b.exponential(6), ms(6_400));
        assert_eq!(b.exponential(7), ms(10_000));
        assert_eq!(b.delay(3, None, &mut FixedRng(HALF)), ms(800));
    }

    #[test]
    fn huge_attempt_numbers_are_capped_without_overflow() {
        for jitter in [
            Jitter::None,
            Jitter::Full,
            Jitter::Equal,
            Jitter::Decorrelated,
        ] {
            let b = backoff(jitter);
            for retry in [63, 64, 65, 1000, u32::MAX] {
                assert!(b.delay(retry, Some(Duration::MAX), &mut FixedRng(MAX)) <= ms(10_000));
            }
        }
        assert_eq!(backoff(Jitter::None).exponential(1000), ms(10_000));
        let huge = Backoff::new(Duration::MAX, Duration::MAX, Jitter::Full).unwrap();
        // Saturates at u64::MAX nanoseconds.
        assert_eq!(
            huge.delay(1000, None, &mut FixedRng(MAX)),
            Duration::from_nanos(u64::MAX)
        );
    }

    #[test]
    fn full_jitter_hand_computed() {
        let b = backoff(Jitter::Full);
        // retry 2: t = 100ms * 4 = 400ms = 400_000_000ns.
        // r = 0        -> 0.
        // r = 2^63     -> (400_000_000 + 1) * 2^63 >> 64 = floor(400_000_001 / 2) = 200_000_000ns.
        // r = 2^64 - 1 -> floor(400_000_001 * (1 - 2^-64)) = 400_000_000ns.
        assert_eq!(b.delay(2, None, &mut FixedRng(MIN)), Duration::ZERO);
        assert_eq!(b.delay(2, None, &mut FixedRng(HALF)), ms(200));
        assert_eq!(b.delay(2, None, &mut FixedRng(MAX)), ms(400));
        // retry 10: 100ms * 1024 = 102400ms, capped at 10000ms; half of 10_000_000_001
        // nanoseconds floored is 5_000_000_000ns.
        assert_eq!(b.delay(10, None, &mut FixedRng(HALF)), ms(5_000));
    }

    #[test]
    fn equal_jitter_hand_computed() {
        let b = backoff(Jitter::Equal);
        // retry 1: t = 200ms; t/2 = 100ms; random_between(0, 100ms):
        // r = 0 -> 100ms; r = 2^63 -> 100ms + floor(100_000_001 / 2)ns = 150ms;
        // r = max -> 100ms + 100ms = 200ms.
        assert_eq!(b.delay(1, None, &mut FixedRng(MIN)), ms(100));
        assert_eq!(b.delay(1, None, &mut FixedRng(HALF)), ms(150));
        assert_eq!(b.delay(1, None, &mut FixedRng(MAX)), ms(200));
    }

    #[test]
    fn equal_jitter_odd_nanoseconds_reach_the_top() {
        let b = Backoff::new(
            Duration::from_nanos(3),
            Duration::from_nanos(3),
            Jitter::Equal,
        )
        .unwrap();
        // t = 3ns; t/2 = 1ns; random_between(0, 3 - 1 = 2): r = max -> 2; 1 + 2 = 3ns.
        assert_eq!(
            b.delay(0, None, &mut FixedRng(MAX)),
            Duration::from_nanos(3)
        );
        assert_eq!(
            b.delay(0, None, &mut FixedRng(MIN)),
            Duration::from_nanos(1)
        );
    }

    #[test]
    fn decorrelated_jitter_hand_computed() {
        let b = backoff(Jitter::Decorrelated);
        // First retry: previous = base = 100ms; range [100ms, 300ms].
        // r = 0 -> 100ms; r = max -> 300ms;
        // r = 2^63 -> 100ms + floor(200_000_001 / 2)ns = 200ms.
        assert_eq!(b.delay(0, None, &mut FixedRng(MIN)), ms(100));
        assert_eq!(b.delay(0, None, &mut FixedRng(MAX)), ms(300));
        assert_eq!(b.delay(0, None, &mut FixedRng(HALF)), ms(200));
        // previous = 300ms: range [100ms, 900ms], r = max -> 900ms.
        assert_eq!(b.delay(1, Some(ms(300)), &mut FixedRng(MAX)), ms(900));
        // previous = 5000ms: range [100ms, 15000ms], r = max -> 15000ms, capped to 10000ms.
        assert_eq!(b.delay(2, Some(ms(5_000)), &mut FixedRng(MAX)), ms(10_000));
        // previous below base/3 (10ms -> 30ms < 100ms): the range collapses to base.
        assert_eq!(b.delay(2, Some(ms(10)), &mut FixedRng(MAX)), ms(100));
    }

    #[test]
    fn zero_base_waits_zero() {
        let b = Backoff::new(Duration::ZERO, ms(1_000), Jitter::Full).unwrap();
        assert_eq!(b.delay(5, None, &mut FixedRng(MAX)), Duration::ZERO);
    }

    fn any_backoff() -> impl Strategy<Value = (Duration, Duration)> {
        (0u64..=u64::MAX, 0u64..=u64::MAX).prop_map(|(a, b)| {
            let (base, cap) = if a <= b { (a, b) } else { (b, a) };
            (Duration::from_nanos(base), Duration::from_nanos(cap))
        })
    }

    proptest! {
        #[test]
        fn full_jitter_within_zero_and_exponential(
            (base, cap) in any_backoff(), retry in any::<u32>(), r in any::<u64>()
        ) {
            let b = Backoff::new(base, cap, Jitter::Full).unwrap();
            let delay = b.delay(retry, None, &mut FixedRng(r));
            prop_assert!(delay <= b.exponential(retry));
            prop_assert!(delay <= cap);
        }

        #[test]
        fn equal_jitter_within_half_and_exponential(
            (base, cap) in any_backoff(), retry in any::<u32>(), r in any::<u64>()
        ) {
            let b = Backoff::new(base, cap, Jitter::Equal).unwrap();
            let temp = b.exponential(retry);
            let delay = b.delay(retry, None, &mut FixedRng(r));
            prop_assert!(delay >= temp / 2);
            prop_assert!(delay <= temp);
        }

        #[test]
        fn decorrelated_jitter_within_base_and_cap(
            (base, cap) in any_backoff(),
            previous in proptest::option::of(any::<u64>().prop_map(Duration::from_nanos)),
            retry in any::<u32>(),
            r in any::<u64>(),
        ) {
            let b = Backoff::new(base, cap, Jitter::Decorrelated).unwrap();
            let delay = b.delay(retry, previous, &mut FixedRng(r));
            prop_assert!(delay >= base);
            prop_assert!(delay <= cap);
        }

        #[test]
        fn exponential_is_monotonic_and_capped(
            (base, cap) in any_backoff(), retry in 0u32..2000
        ) {
            let b = Backoff::new(base, cap, Jitter::None).unwrap();
            prop_assert!(b.exponential(retry) <= b.exponential(retry + 1));
            prop_assert!(b.exponential(retry) <= cap);
        }

        #[test]
        fn no_strategy_ever_exceeds_the_cap(
            base_ms in 0u64..10_000, extra_ms in 0u64..100_000,
            retry in any::<u32>(), r in any::<u64>(), previous_ms in any::<u64>(),
            jitter in prop_oneof![
                Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Equal), Just(Jitter::Decorrelated)
            ],
        ) {
            let cap = ms(base_ms + extra_ms);
            let b = Backoff::new(ms(base_ms), cap, jitter).unwrap();
            let delay = b.delay(retry, Some(ms(previous_ms)), &mut FixedRng(r));
            prop_assert!(delay <= cap);
        }
    }
}
