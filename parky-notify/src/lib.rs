//! Alert routing for Parky Ops, compatible with Prometheus Alertmanager's configuration.
//!
//! # Design
//!
//! This is the pure core of `parky-notify`: it reads the routing part of an Alertmanager
//! configuration file and answers, without any I/O, clock or randomness of its own:
//!
//! - **where does this alert go?** [`NotifyPolicy::route`] walks the routing tree exactly as
//!   Alertmanager does and returns every [`MatchedRoute`] (receiver, group-by rule, timers,
//!   time intervals) in Alertmanager's order;
//! - **is it inhibited?** [`NotifyPolicy::is_inhibited`] (or [`is_inhibited`] over a list of
//!   rules) given the alerts currently known;
//! - **is its route muted now?** [`NotifyPolicy::is_muted`] given an instant, using the named
//!   [`TimeInterval`]s.
//!
//! Delivery (the `Notifier` integrations, dedup, throttling, the outbox) comes later and will
//! consume these decisions; receivers are plain names for now.
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
