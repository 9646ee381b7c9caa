//! Service level objectives as a library: error budgets, multi-window multi-burn-rate alerts,
//! latency SLIs and the canary rollback verdict, evaluated in a stream with bounded memory.
//!
//! # Design
//!
//! The crate follows the Google SRE workbook's "Alerting on SLOs" method. An [`Objective`]
//! (say 99.9 % of requests good over 30 days) gives an [`ErrorBudget`]; the rate at which
//! errors spend it is a [`BurnRate`] (1.0 spends exactly the budget over the period). An
//! [`AlertPolicy`] pairs a long and a short window per alert ([`AlertWindow`]); a pair fires
//! only when *both* windows burn faster than its factor, which is derived as
//! `budget share × period ÷ long window` (30 days: 14.4, 6, 3, 1 for the workbook windows).
//!
//! Decisions are pure: nothing here reads a clock, sleeps, or does I/O, so the same code runs
//! in a CLI over a log file, in a service, or in a Worker.
//!
//! - [`window::WindowedCounter`] keeps good/total counts in a ring of time buckets (two
//!   `u32` per bucket, with an exact overflow table): a 30-day SLO at one-minute resolution
//!   takes about 340 KiB whatever the traffic, and recording an event is O(1).
//! - [`SloEvaluator`] feeds the counter and evaluates the policy at every bucket boundary as
//!   time advances, producing an alert timeline ([`evaluator::AlertTransition`]) and status
//!   snapshots ([`SloStatus`]): SLI, budget consumed and remaining, burn rate per window,
//!   time to exhaustion, and the requests that came too late for the alert timeline (input
//!   not in time order). Zero traffic gives no alert and no NaN. `1 − target` is computed in
//!   decimal, so 99.9 % allows exactly 0.001 and budget figures carry no binary noise.
//! - [`latency::Histogram`] implements Prometheus' `histogram_quantile` semantics (checked
//!   against `promtool` in the test suite); [`latency::LatencyObjective`] expresses "99 % of
//!   requests faster than 300 ms".
//! - [`policy::rollback`] is the handbook's auto-rollback rule: roll a canary back when its
//!   error burn rate is at least 3 × the baseline's or its p99 at least 2 × the baseline's,
//!   and never on too little data.
//! - [`source`] (feature `logs`, on by default) streams [`SliEvent`]s out of Apache/Nginx
//!   combined access logs and Cloudflare Workers trace events, counting malformed lines.
//!
//! # Dependencies
//!
//! `serde` for the documented JSON shapes, `chrono` for RFC 3339 times, `thiserror` for
//! [`SloError`], `tracing` for logs. With the `logs` feature: `memchr` (the access-log parser
//! is a hand-written byte scanner, several times faster than a regex on this format) and
//! `serde_json` (Workers trace events). `parky-core` supplies nothing at run time yet; the
//! HTTP sources that use its retry policy come with later issues.
//!
//! # Example
//!
//! A total outage of a service serving one request per second, on a 99.9 % / 30-day SLO:
//! the workbook's 1h/5m page fires 52 s in, because the 1 h window needs
//! 14.4 × 0.1 % × 3600 s = 51.84 s of errors.
//!
//! ```
//! use std::time::Duration;
//! use parky_slo::{AlertPolicy, Objective, SloEvaluator};
//! use parky_slo::policy::alert::Severity;
//!
//! # fn main() -> Result<(), parky_slo::SloError> {
//! let objective = Objective::new(0.999, Duration::from_secs(30 * 86_400))?;
//! let policy = AlertPolicy::workbook(objective)?;
//! let mut slo = SloEvaluator::new(policy, Duration::from_secs(1))?;
//!
//! let start_ms = 1_700_000_000_000; // a whole second
//! let outage_s = 3 * 86_400; // three days of good traffic first fill every window
//! for s in 0..outage_s + 600 {
//!     slo.record(start_ms + s * 1_000, s < outage_s);
//! }
//! let status = slo.finish();
//! assert_eq!(status.bad, 600);
//!
//! let first = &slo.timeline()[0];
//! assert_eq!(first.severity, Severity::Page);
//! assert_eq!(first.at_ms - (start_ms + outage_s * 1_000), 52_000);
//! # Ok(())
//! # }
//! ```

pub mod error;
pub mod evaluator;
pub mod latency;
pub mod model;
pub mod objective;
pub mod policy;
#[cfg(feature = "logs")]
pub mod source;
pub mod window;

pub use error::SloError;
pub use evaluator::{SloEvaluator, SloStatus};
pub use model::SliEvent;
pub use objective::{BurnRate, ErrorBudget, Objective};
pub use policy::alert::{AlertPolicy, AlertWindow};
