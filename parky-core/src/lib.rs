//! Shared plumbing for the Parky Ops crates: time, retries, HTTP API errors and
//! secrets.
//!
//! # Design
//!
//! Everything in this crate is a *pure decision*: no I/O, no sleeping, no global
//! state. The things that make operational code hard to test are inputs:
//!
//! - **Time** comes from a [`Clock`]. Production code uses [`SystemClock`]; tests
//!   use a [`ManualClock`] and move it with [`ManualClock::advance`] instead of
//!   sleeping.
//! - **Waiting** goes through a [`Sleeper`], the crate's one async trait. Tests use a
//!   [`ManualSleeper`], which moves a [`ManualClock`] and records each wait;
//!   production code uses `TokioSleeper` (feature `tokio`, off by default).
//! - **Randomness** is a parameter. Backoff jitter takes `&mut R` where
//!   `R: rand::Rng`, as tower's retry policy does, so a test can pass a fixed
//!   source and assert exact delays.
//! - **Retrying** is split, like tower, into a policy that decides
//!   ([`RetryPolicy::decide`] returns a [`Decision`]) and whatever machinery
//!   applies it (a loop with `std::thread::sleep`, `tokio::time::sleep`, a Worker's
//!   alarm). The crate never waits itself.
//!
//! The pieces:
//!
//! - [`Backoff`]: capped exponential backoff with the jitter strategies of the AWS
//!   Architecture Blog post "Exponential Backoff And Jitter" ([`Jitter::Full`],
//!   [`Jitter::Equal`], [`Jitter::Decorrelated`], [`Jitter::None`]); any attempt
//!   number is safe.
//! - [`RetryAfter`]: the `Retry-After` header of RFC 9110 §10.2.3 (delta-seconds or
//!   HTTP-date), resolved against a given "now", plus fractional seconds from JSON
//!   bodies.
//! - [`RetryPolicy`]: max attempts, backoff and a maximum wait → retry after a
//!   duration, or give up with a [`GiveUpReason`]. `Retry-After` beats backoff.
//! - [`ApiError`]: a typed error from an HTTP API (service, status, the service's
//!   own code, message, `Retry-After`) with a documented
//!   [`is_retryable`](ApiError::is_retryable) rule.
//! - [`RateLimit`]: the `x-ratelimit-*` and `retry-after` headers of GitHub,
//!   Discord and others.
//! - [`link_values`] and [`next_link`]: the `Link` header (RFC 8288) that GitHub and
//!   Sentry paginate with.
//! - [`SecretUrl`], [`redact`] and the re-exported [`SecretString`]: webhook URLs
//!   and tokens that never show up in `Debug`, `Display` or error messages.
//! - [`CoreError`]: the crate's one error enum.
//!
//! # Dependencies and why
//!
//! - `chrono`: [`DateTime<Utc>`](chrono::DateTime) for instants, as in the rest of
//!   the workspace.
//! - `httpdate`: parses the HTTP-date formats RFC 9110 §5.6.7 requires (IMF-fixdate
//!   and the obsolete RFC 850 and asctime forms).
//! - `rand`: only its `Rng` trait, as the type of the random source passed in; no
//!   generator is constructed here.
//! - `secrecy`: [`SecretString`] zeroes its memory on drop and prints `[REDACTED]`.
//! - `url`: WHATWG-conformant parsing of webhook URLs inside [`SecretUrl`].
//! - `thiserror`: derives [`CoreError`]; `serde`: lets configs deserialize a
//!   [`SecretUrl`].
//! - `async-trait`: the [`Sleeper`] trait, as every async trait of the workspace.
//! - `tokio` (optional, feature `tokio`, only its `time` feature): `TokioSleeper`.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//!
//! use chrono::{TimeZone, Utc};
//! use parky_core::{
//!     ApiError, Backoff, Clock, Decision, DelaySource, Failure, Jitter, ManualClock,
//!     RetryAfter, RetryPolicy,
//! };
//!
//! # fn main() -> Result<(), parky_core::CoreError> {
//! // Any `rand::Rng` works; this one always returns the middle of its range.
//! struct Midpoint;
//! impl rand::TryRng for Midpoint {
//!     type Error = std::convert::Infallible;
//!     fn try_next_u32(&mut self) -> Result<u32, Self::Error> { Ok(1 << 31) }
//!     fn try_next_u64(&mut self) -> Result<u64, Self::Error> { Ok(1 << 63) }
//!     fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
//!         dst.fill(0x80);
//!         Ok(())
//!     }
//! }
//!
//! // Full jitter: the third retry (0-based 2) waits random_between(0, 100ms * 2^2);
//! // the midpoint of [0, 400ms] is 200ms.
//! let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10), Jitter::Full)?;
//! assert_eq!(backoff.delay(2, None, &mut Midpoint), Duration::from_millis(200));
//!
//! // A 503 with an HTTP-date Retry-After, received at 23:59:29 on a manual clock.
//! // (unwrap: a valid UTC date-time maps to exactly one instant.)
//! let clock = ManualClock::new(Utc.with_ymd_and_hms(1999, 12, 31, 23, 59, 29).unwrap());
//! let retry_after = RetryAfter::parse("Fri, 31 Dec 1999 23:59:59 GMT")?;
//! let wait = retry_after.wait_from(clock.now());
//! assert_eq!(wait, Duration::from_secs(30));
//!
//! let error = ApiError::status("example", 503, "maintenance").with_retry_after(Some(wait));
//! let policy = RetryPolicy::new(5, backoff, Duration::from_secs(60))?;
//! let decision = policy.decide(&Failure::from_error(1, &error), &mut Midpoint);
//! assert_eq!(
//!     decision,
//!     Decision::Retry { after: Duration::from_secs(30), source: DelaySource::RetryAfter }
//! );
//!
//! // The caller sleeps (here: moves the manual clock) and tries again.
//! clock.advance(wait);
//! assert_eq!(retry_after.wait_from(clock.now()), Duration::ZERO);
//! # Ok(())
//! # }
//! ```

mod clock;
mod error;
mod http;
mod policy;
mod secret;
mod sleeper;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{CoreError, SecretUrlError};
pub use http::{
    is_retryable_status, link_values, next_link, parse_retry_after, ApiError, ApiErrorKind,
    LinkValue, RateLimit, RetryAfter, ServiceErrorCode,
};
pub use policy::{
    Backoff, Decision, DelaySource, Failure, GiveUpReason, Jitter, RetryPolicy, Retryable,
};
pub use secrecy::{ExposeSecret, SecretString};
pub use secret::{redact, SecretUrl, REDACTED};
#[cfg(feature = "tokio")]
pub use sleeper::TokioSleeper;
pub use sleeper::{ManualSleeper, Sleeper};
