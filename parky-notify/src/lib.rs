//! Notifications for Parky Ops: Alertmanager-compatible routing, the P0-P3 severity strategy,
//! a durable outbox and delivery to Discord, PagerDuty, Slack, webhooks and files.
//!
//! # Design
//!
//! An alert travels through the same stages as in Alertmanager, with the handbook's P0-P3
//! severity strategy on top and a durable outbox at the end, so that no page is lost:
//!
//! ```text
//! alerts ──► pipeline::Pipeline (pure, clock-driven)                      ──► outbox ──► receiver
//!            inhibition → silences → time intervals → grouping → dedup       (SQLite)    (Discord,
//!            → severity strategy (escalation, quiet hours, digest, mentions)              PagerDuty,
//!            → per-receiver rate limits                                                  Slack, webhook,
//!                                                                                         file)
//! ```
//!
//! - **Routing** ([`policy`]): the `route`, `receivers`, `inhibit_rules` and
//!   `time_intervals` of an Alertmanager configuration, read as they are.
//!   [`NotifyPolicy::route`] walks the tree exactly as Alertmanager does (checked against
//!   `amtool` on over a thousand random label sets), [`NotifyPolicy::is_inhibited`] and
//!   [`NotifyPolicy::is_muted`] answer the other two questions. Pure: no I/O, no clock.
//! - **Severity strategy** ([`policy::strategy`]): P0-P3 ([`Severity`]) from a label, each
//!   with receivers, mentions, a repeat interval, escalation (a P1 still firing after N
//!   minutes becomes P0), quiet hours in a named time zone (held, never dropped) or a daily
//!   digest.
//! - **Pipeline** ([`pipeline`]): a state machine fed alerts and ticks with explicit instants;
//!   it groups (`group_wait`, `group_interval`), dedups with Alertmanager's rules
//!   (`repeat_interval`, resolved once, `send_resolved`) and emits [`Message`]s.
//! - **Outbox** ([`outbox`]): every message is written (SQLite, or memory) before delivery
//!   and removed only when a receiver accepted it; retries follow `parky-core`'s backoff and
//!   the receiver's `Retry-After`; after N attempts it becomes a dead letter that can be
//!   re-queued. At-least-once: PagerDuty's `dedup_key` absorbs a redelivery after a crash
//!   between send and acknowledgement; chat webhooks would show it twice.
//! - **Receivers** ([`receiver`]): the [`receiver::Notifier`] trait with Discord (every
//!   documented limit enforced before sending, 429 handling, 5 requests per 2 s), PagerDuty
//!   Events v2, Slack, a generic JSON webhook, and a JSON-lines file (the embedded default).
//!   Webhook URLs and routing keys are secrets: no `Debug`, error or log shows them.
//! - **Wiring and intake** ([`wiring`], [`server`]): notifiers built from the receivers'
//!   `*_configs` blocks of the same Alertmanager file, and an HTTP endpoint that accepts
//!   Alertmanager webhook payloads (version 4) and a generic alert JSON and runs the pipeline.
//! - **Sentry alert rules as code** ([`sentry`]): a YAML file of issue and metric alert
//!   rules, planned against Sentry's API (create missing, update changed, report extra) and
//!   applied idempotently.
//!
//! Features: `sqlite`, `http`, `file`, `sentry`, `server` (all on by default). With
//! `--no-default-features` the crate is the pure routing, strategy, pipeline and in-memory
//! outbox, without tokio, reqwest or SQLite.
//!
//! The flow follows the workspace convention: YAML → [`AlertmanagerConfig`] (serde structs
//! that mirror the file, unknown fields refused) → `NotifyPolicy::try_from` (validated,
//! typed; an invalid config cannot become a policy, and the [`NotifyError`] names the path
//! of the field, such as `route.routes[1].routes[0].receiver`).
//!
//! Compatibility target: Alertmanager 0.25 (Debian's `prometheus-alertmanager`), checked
//! by an integration test that routes over a thousand random label sets through several
//! configurations with both this crate and `amtool config routes test`. The semantics kept
//! from Alertmanager:
//!
//! - matchers `=`, `!=`, `=~`, `!~`; regexes fully anchored (`^(?:…)$`); a missing label is
//!   the empty string; the classic matcher string syntax ([`parse_matchers`]); legacy
//!   `match` / `match_re`;
//! - the tree walk: depth-first, left to right, `continue`, the parent matching when no child
//!   does; inheritance of `receiver`, `group_by` and the timers (defaults `30s`, `5m`, `4h`);
//!   `mute_time_intervals` / `active_time_intervals` not inherited;
//! - inhibition: only firing sources, `equal` labels, no self-inhibition;
//! - time intervals: `times`, `weekdays`, `days_of_month` (negative from the month's end),
//!   `months`, `years`, `location`.
//!
//! Sections of the file: `route`, `receivers`, `inhibit_rules`, `time_intervals` and the
//! deprecated `mute_time_intervals` are read. `global` and `templates` are accepted and
//! ignored (they only configure delivery). Receivers' integration blocks (`*_configs`) are
//! kept unchecked as opaque YAML. See [`config`] for the exact parsing rules.
//!
//! # Dependencies and why
//!
//! - `serde_yaml_ng`: YAML into serde structs. `serde_yaml` is archived; `serde_yaml_ng` is
//!   its maintained fork with the same API and error locations (line and column), which keeps
//!   the `deny_unknown_fields` structs simple. (`serde_norway` is another fork; it is equally
//!   viable, `serde_yaml_ng` was picked for its more active release history.)
//! - `regex`: RE2-syntax regular expressions with linear-time matching, like Go's `regexp`
//!   that Alertmanager uses; Go's ASCII-only `\d \w \s \b` are kept (see [`policy::matcher`]).
//! - `chrono` and `chrono-tz`: instants, calendars and the IANA time zone database for time
//!   intervals' `location`, as elsewhere in the workspace.
//! - `serde`: the configuration structs; `thiserror`: derives [`NotifyError`].
//! - `rusqlite` (feature `sqlite`, SQLite bundled so no system library is needed): the
//!   durable outbox, in WAL mode.
//! - `reqwest` with rustls (feature `http`): the receivers' and Sentry's HTTP clients;
//!   `async-trait` for the [`receiver::Notifier`] trait; `tokio` for timers.
//! - `axum` (feature `server`): the alert intake endpoint, over the same tokio and hyper
//!   that reqwest already brings.
//! - `secrecy` and `url`: webhook URLs and tokens as secrets; `sha2`: a stable PagerDuty
//!   `dedup_key` for group keys longer than 255 characters.
//!
//! # Example
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use parky_notify::{labels_from, Alert, NotifyPolicy};
//!
//! # fn main() -> Result<(), parky_notify::NotifyError> {
//! let policy = NotifyPolicy::from_yaml(
//!     r#"
//! route:
//!   receiver: default
//!   group_by: [alertname]
//!   routes:
//!     - matchers: ['team="db"']
//!       receiver: db-pager
//!       group_wait: 10s
//!       continue: true
//!     - matchers: ['severity=~"page|critical"']
//!       receiver: oncall
//!       mute_time_intervals: [maintenance]
//! receivers:
//!   - name: default
//!   - name: db-pager
//!   - name: oncall
//! time_intervals:
//!   - name: maintenance
//!     time_intervals:
//!       - weekdays: [sunday]
//!         times: [{start_time: "02:00", end_time: "04:00"}]
//!         location: Asia/Tokyo
//! inhibit_rules:
//!   - source_matchers: [severity=critical]
//!     target_matchers: [severity=warning]
//!     equal: [cluster]
//! "#,
//! )?;
//!
//! let alert = labels_from([("alertname", "DiskFull"), ("team", "db"), ("severity", "page")]);
//! let routes = policy.route(&alert);
//! let receivers: Vec<&str> = routes.iter().map(|r| r.receiver.as_str()).collect();
//! assert_eq!(receivers, ["db-pager", "oncall"]);
//! assert_eq!(routes[0].timing.group_wait.as_secs(), 10); // set on the route
//! assert_eq!(routes[1].timing.group_wait.as_secs(), 30); // inherited default
//! assert_eq!(routes[1].path, "route.routes[1]");
//!
//! // Sunday 2024-06-02 02:30 JST is 2024-06-01 17:30 UTC: the oncall route is muted.
//! // A valid UTC date and time is never ambiguous, so `unwrap` cannot fail here.
//! let at = Utc.with_ymd_and_hms(2024, 6, 1, 17, 30, 0).unwrap();
//! assert!(policy.is_muted(&routes[1], at));
//! assert!(!policy.is_muted(&routes[0], at));
//!
//! let warning = labels_from([("severity", "warning"), ("cluster", "eu1")]);
//! let critical = Alert::firing([("severity", "critical"), ("cluster", "eu1")]);
//! assert!(policy.is_inhibited(&warning, &[critical]));
//! # Ok(())
//! # }
//! ```

pub mod config;
pub mod error;
pub mod message;
pub mod model;
pub mod outbox;
pub mod pipeline;
pub mod policy;
pub mod receiver;
pub mod sentry;
#[cfg(feature = "server")]
pub mod server;
pub mod severity;
#[cfg(all(feature = "http", feature = "file"))]
pub mod wiring;

pub use config::AlertmanagerConfig;
pub use error::NotifyError;
pub use message::{Field, Message, MessageStatus};
pub use model::{labels_from, Alert, AlertStatus, LabelSet};
pub use policy::inhibit::{is_inhibited, InhibitRule};
pub use policy::matcher::{parse_matchers, MatchType, Matcher, Matchers};
pub use policy::route::{GroupBy, MatchedRoute, Route, RouteTiming};
pub use policy::time_interval::TimeInterval;
pub use policy::{NotifyPolicy, Receiver};
pub use severity::Severity;
