//! The four DORA keys — deployment frequency, lead time for changes, change failure rate and
//! failed deployment recovery time — computed from deployments, changes and incidents,
//! classified against the clusters of the Accelerate State of DevOps reports, and reported
//! as text, Markdown, JSON, a Discord message or an SVG chart of the weekly trend.
//!
//! # Design
//!
//! ```text
//! source::DeliverySource ──► model::DeliveryHistory ──► policy::compute ──► policy::FourKeys
//! (GitHub REST, git history,    deployments, changes,     (pure: window,        │
//!  in memory)                   incidents                  time zone)           ▼
//!                                                  policy::classify ──► report::DoraReport
//!                                                  (2024, 2023, 2021)    text · Markdown · JSON
//!                                                                        Discord · SVG
//! ```
//!
//! - [`model`]: plain serde data. A [`model::Deployment`] lists the commits it newly shipped;
//!   history is linear per service and environment, so the commits of a failed deployment
//!   are shipped by the next successful one.
//! - [`policy`]: the calculators. Pure — no I/O, no async, no clock: the window
//!   ([`policy::Window`], `[since, until)` in an IANA time zone, weeks starting Monday 00:00
//!   local time) is an input, and the same history always gives the same figures.
//!   [`policy::classify`](mod@policy::classify) holds the published cluster tables and the
//!   classification rules.
//! - [`report`]: [`report::DoraReport`] assembles the keys, their classes, the weekly trend
//!   and the notes, and renders them.
//! - [`source`]: where histories come from, behind the [`source::DeliverySource`] trait.
//!
//! With `--no-default-features` the crate is the model, the calculators and the reports:
//! no tokio, reqwest or process spawning.
//!
//! # Conventions (what counts)
//!
//! The full rules are in [`policy`]; in short:
//!
//! - Only deployments to the production environment count, pending ones never (but, history
//!   being linear, their commits ship with the next success, like those of failed ones).
//! - **Lead time** runs from a change's committer date (author date or merge time on request)
//!   to the first *successful* deployment containing it; a change shipped twice counts once;
//!   only changes shipped inside the window count; a change dated after its deployment is
//!   left out and counted as *skewed*, never a negative duration.
//! - **Median and percentiles** are the "type 7" quantile (linear interpolation between order
//!   statistics; R's and NumPy's default, DuckDB's `quantile_cont`), so the median of an
//!   even-sized sample is the mean of the two middle values, and every figure can be checked
//!   with DuckDB side by side. Computed exactly in integer nanoseconds.
//! - **Change failure rate** is failed ÷ completed deployments; a deployment failed if its
//!   outcome is failure or an incident links to it, and counts once however many incidents
//!   link to it. Incidents without a deployment are reported, not counted. No deployment: no
//!   rate (`None`), not NaN.
//! - **Recovery time** runs from the failed deployment to the resolution of its last incident,
//!   or to the next successful deployment of the same service; unrecovered failures are
//!   counted apart.
//! - **Classes**: a key's class is the best cluster whose published value it meets; the
//!   overall class is the worst key class. This reproduces every published profile and is
//!   monotonic, despite the 2024 change failure rates (High 20 %, Medium 10 %). See
//!   [`policy::classify`](mod@policy::classify).
//!
//! # Dependencies and why
//!
//! - `chrono` and `chrono-tz`: instants, local calendars and the IANA database (the window's
//!   days and Monday-start weeks in Asia/Tokyo or any zone, DST included), as in the rest of
//!   the workspace.
//! - `serde` / `serde_json`: the model and the JSON report.
//! - `parky-notify` (without default features: no tokio, reqwest or SQLite): the Discord
//!   message is a [`parky_notify::Message`] rendered by its Discord renderer, which enforces
//!   every Discord limit; delivery goes through parky-notify's outbox like any other message.
//! - `plotters` with only `svg_backend` and `line_series` (no default features): the SVG
//!   chart. Without its `ttf` feature it reads no system font (text is SVG `<text>`, sized by
//!   the viewer) and pulls in no native library: three small crates (`plotters-backend`,
//!   `plotters-svg`, `num-traits`).
//! - `rustc-hash`: the calculators' hash maps and sets of commit ids (FxHash: keys are our own
//!   data, not attacker-chosen, and SipHash was a quarter of the time on 10 million changes;
//!   see docs/benchmarks.md).
//! - `thiserror`: [`DoraError`]; `tracing`: logging in the sources; `async-trait`: the
//!   [`source::DeliverySource`] trait.
//!
//! # Example
//!
//! A service deployed three times in a week in Tokyo, one deployment failed and was fixed by
//! the next:
//!
//! ```
//! use chrono::{DateTime, Utc};
//! use parky_dora::model::{Change, DeliveryHistory, Deployment, DeploymentOutcome};
//! use parky_dora::policy::{compute, parse_tz, Cluster, KeysPolicy, ReportYear, Window};
//! use parky_dora::report::{DoraReport, ReportOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let at = |s: &str| s.parse::<DateTime<Utc>>();
//! let deploy = |id: &str, t: DateTime<Utc>, outcome, commits: &[&str]| Deployment {
//!     id: id.to_owned(),
//!     service: "api".to_owned(),
//!     environment: "production".to_owned(),
//!     commit: commits.last().map(|c| c.to_string()).unwrap_or_default(),
//!     at: t,
//!     outcome,
//!     commits: commits.iter().map(|c| c.to_string()).collect(),
//! };
//! let change = |commit: &str, t: DateTime<Utc>| Change {
//!     commit: commit.to_owned(),
//!     authored_at: t,
//!     committed_at: t,
//!     pull_request: None,
//!     merged_at: None,
//! };
//! let history = DeliveryHistory {
//!     deployments: vec![
//!         deploy("d1", at("2024-06-03T01:00:00Z")?, DeploymentOutcome::Success, &["a"]),
//!         deploy("d2", at("2024-06-04T01:00:00Z")?, DeploymentOutcome::Failure, &["b"]),
//!         deploy("d3", at("2024-06-04T03:00:00Z")?, DeploymentOutcome::Success, &["c"]),
//!     ],
//!     changes: vec![
//!         change("a", at("2024-06-02T23:00:00Z")?), // 2 h before d1
//!         change("b", at("2024-06-03T21:00:00Z")?), // shipped by d3 (d2 failed): 6 h
//!         change("c", at("2024-06-04T02:00:00Z")?), // 1 h before d3
//!     ],
//!     incidents: vec![],
//! };
//!
//! // The week of Monday 2024-06-03 in Tokyo: 2024-06-02 15:00 UTC to 2024-06-09 15:00 UTC.
//! let window = Window::new(
//!     at("2024-06-02T15:00:00Z")?,
//!     at("2024-06-09T15:00:00Z")?,
//!     parse_tz("Asia/Tokyo")?,
//! )?;
//! let policy = KeysPolicy::new(window);
//! let keys = compute(&history, &policy)?;
//!
//! // 2 successful deployments in 7 days; lead times 1 h, 2 h, 6 h → median 2 h.
//! assert_eq!(keys.deployment_frequency.successful, 2);
//! let lead = keys.lead_time.summary.ok_or("no lead time")?;
//! assert_eq!(lead.median, chrono::TimeDelta::hours(2));
//! // 1 failed of 3 completed; recovered by d3 two hours later.
//! assert_eq!(keys.change_failure_rate.rate, Some(1.0 / 3.0));
//! let recovery = keys.recovery_time.summary.ok_or("no recovery")?;
//! assert_eq!(recovery.median, chrono::TimeDelta::hours(2));
//!
//! let options = ReportOptions { year: ReportYear::Y2024, ..ReportOptions::default() };
//! let report = DoraReport::from_keys(keys, &policy, &options);
//! // 2 a week: High; 2 h: Elite; 33 %: Low (above High's 20 %); 2 h: High.
//! assert_eq!(report.deployment_frequency.class, Some(Cluster::High));
//! assert_eq!(report.lead_time.class, Some(Cluster::Elite));
//! assert_eq!(report.change_failure_rate.class, Some(Cluster::Low));
//! assert_eq!(report.recovery_time.class, Some(Cluster::High));
//! assert_eq!(report.overall, Cluster::Low);
//!
//! let text = report.to_text();
//! assert!(text.contains("Change failure rate    Low     33.3% (1 of 3 deployments failed)"));
//! println!("{text}");
//! # Ok(())
//! # }
//! ```

pub mod error;
pub mod model;
pub mod policy;
pub mod report;
pub mod source;

pub use error::DoraError;
pub use policy::{compute, FourKeys, KeysPolicy, Window};
pub use report::DoraReport;
