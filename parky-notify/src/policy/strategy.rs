//! The severity strategy: what each severity P0–P3 means for delivery.
//!
//! Routing ([`NotifyPolicy`]) decides *where* an alert's group goes and *when* it may be
//! notified (`group_wait`, `group_interval`, `repeat_interval`). The strategy adds the
//! handbook's severity rules on top, per [`Severity`]:
//!
//! - **receivers**: extra receivers every notification of that severity also goes to (in
//!   addition to the route's receiver), e.g. a pager for P0;
//! - **mentions**: prepended to firing messages, e.g. `@here` for P0;
//! - **repeat interval**: replaces the route's `repeat_interval` for groups of that severity;
//! - **escalation**: `escalate_after` + `escalate_to`: an alert of this severity still firing
//!   `escalate_after` after it started is treated as `escalate_to` (which must be more urgent).
//!   Escalations chain: each next step counts from the instant of the previous one;
//! - **quiet hours**: working windows in an IANA time zone; a message created outside them is
//!   held (never dropped) until the next window opens ([`QuietHours::release_at`]);
//! - **digest**: messages are collected and released once a day at a local time
//!   ([`Digest::next_at_or_after`]).
//!
//! How an alert gets its severity ([`SeverityStrategy::severity_of`]): the value of the label
//! `severity_label` (default `severity`), compared case-insensitively, first against the
//! configured `aliases`, then against these built-in names, else `default_severity`
//! (default `P2`):
//!
//! | value | severity |
//! |---|---|
//! | `P0`, `critical`, `page`, `emergency` | P0 |
//! | `P1`, `error`, `high`, `major` | P1 |
//! | `P2`, `warning`, `warn`, `ticket`, `medium`, `minor` | P2 |
//! | `P3`, `info`, `informational`, `low`, `notice`, `none` | P3 |
//!
//! Per receiver, the strategy can also set `send_resolved` and a `rate_limit` (a token bucket:
//! `burst` messages at once, refilled at `messages` per `per`; see [`RateLimit`]).
//!
//! ```yaml
//! severity_label: severity          # default
//! default_severity: P2              # default
//! aliases: {sev1: P0, sev2: P1}     # extra label values, case-insensitive
//! severities:
//!   P0:
//!     receivers: [pagerduty]
//!     mentions: ["@here"]
//!     repeat_interval: 30m
//!   P1:
//!     receivers: [discord-urgent]
//!     escalate_after: 30m
//!     escalate_to: P0
//!   P2:
//!     quiet_hours:
//!       timezone: Asia/Tokyo
//!       working_hours:
//!         - weekdays: ["monday:friday"]
//!           start: "09:00"
//!           end: "18:00"
//!   P3:
//!     digest: {timezone: Asia/Tokyo, at: "09:30"}
//! receivers:
//!   pagerduty: {send_resolved: true}
//!   discord-urgent:
//!     rate_limit: {messages: 10, per: 1m, burst: 5}
//! ```
//!
//! Local times that fall in a daylight-saving gap resolve to the first minute after the gap
//! (02:30 on a spring-forward night in New York is 03:00 EDT); times that occur twice resolve
//! to the earlier one.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeDelta, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::NotifyError;
use crate::model::{label_value, LabelSet};
use crate::policy::route::parse_prometheus_duration;
use crate::policy::NotifyPolicy;
use crate::severity::Severity;

// ---------------------------------------------------------------------------------------------
// Configuration (the file as written)
// ---------------------------------------------------------------------------------------------

/// The strategy file as written (see the [module docs](self) for the format). Unknown fields
/// are refused; validate it into a [`SeverityStrategy`] with `SeverityStrategy::try_from`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyConfig {
    /// The label carrying the severity (default `severity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_label: Option<String>,
    /// The severity of alerts without a recognised label value (default `P2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_severity: Option<String>,
    /// Extra label values (case-insensitive) and the severity they mean.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aliases: BTreeMap<String, String>,
    /// The rules of each severity, keyed `P0`…`P3`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub severities: BTreeMap<String, SeverityConfig>,
    /// Delivery settings per receiver name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub receivers: BTreeMap<String, ReceiverSettingsConfig>,
}

/// One severity's rules as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityConfig {
    /// Receivers every notification of this severity also goes to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub receivers: Vec<String>,
    /// Mentions prepended to firing messages (`@here`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
    /// Replaces the route's `repeat_interval` (Prometheus duration, `30m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_interval: Option<String>,
    /// How long an alert may fire at this severity before it escalates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_after: Option<String>,
    /// The severity it escalates to (more urgent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_to: Option<String>,
    /// Hold messages outside working hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHoursConfig>,
    /// Collect messages into a daily digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<DigestConfig>,
}

/// Quiet hours as written: the working windows; everything else is quiet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursConfig {
    /// IANA time zone name, e.g. `Asia/Tokyo`.
    pub timezone: String,
    /// The working windows (at least one).
    pub working_hours: Vec<WorkingWindowConfig>,
}

/// One working window as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkingWindowConfig {
    /// Weekday names or ranges (`monday:friday`, `saturday`); case-insensitive; three-letter
    /// abbreviations accepted; a range may wrap around the week (`friday:monday`).
    pub weekdays: Vec<String>,
    /// Local start time `HH:MM` (inclusive).
    pub start: String,
    /// Local end time `HH:MM` (exclusive, `24:00` allowed), after `start`.
    pub end: String,
}

/// A daily digest as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestConfig {
    /// IANA time zone name.
    pub timezone: String,
    /// Local time of day `HH:MM` the digest is released at.
    pub at: String,
}

/// Delivery settings of one receiver as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverSettingsConfig {
    /// Whether resolved notifications are sent (default: from the receiver's Alertmanager
    /// integrations, see `Pipeline`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_resolved: Option<bool>,
    /// A token-bucket rate limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitConfig>,
}

/// A rate limit as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Messages allowed per `per` (at least 1).
    pub messages: u32,
    /// The period (Prometheus duration, non-zero).
    pub per: String,
    /// How many may go at once (default `messages`, at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
}

impl StrategyConfig {
    /// Parses the YAML text (shape only; validation is `SeverityStrategy::try_from`).
    ///
    /// # Errors
    ///
    /// [`NotifyError::Yaml`] for text that is not YAML or does not fit the structure.
    pub fn from_yaml(text: &str) -> Result<Self, NotifyError> {
        if text.trim().is_empty() {
            return Ok(StrategyConfig::default());
        }
        Ok(serde_yaml_ng::from_str(text)?)
    }
}

// ---------------------------------------------------------------------------------------------
// Validated policy values
// ---------------------------------------------------------------------------------------------

/// A validated severity strategy.
#[derive(Debug, Clone, PartialEq)]
pub struct SeverityStrategy {
    severity_label: String,
    default_severity: Severity,
    aliases: BTreeMap<String, Severity>,
    rules: [SeverityRule; 4],
    receivers: BTreeMap<String, ReceiverSettings>,
}

/// What one severity means for delivery.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeverityRule {
    /// Receivers notifications of this severity also go to, in order.
    pub receivers: Vec<String>,
    /// Mentions for firing messages.
    pub mentions: Vec<String>,
    /// Replaces the route's `repeat_interval` when set.
    pub repeat_interval: Option<Duration>,
    /// Escalation to a more urgent severity.
    pub escalation: Option<Escalation>,
    /// When messages go out.
    pub delivery: Delivery,
}

/// An alert still firing `after` its start (or its previous escalation) counts as `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escalation {
    /// How long it may fire first.
    pub after: Duration,
    /// The more urgent severity it becomes.
    pub to: Severity,
}

/// When a message of a severity goes out.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Delivery {
    /// As soon as it is created.
    #[default]
    Immediate,
    /// In working hours; held until the next working window otherwise.
    QuietHours(QuietHours),
    /// Collected into a daily digest.
    Digest(Digest),
}

/// Working windows in a time zone; outside them it is quiet.
#[derive(Debug, Clone, PartialEq)]
pub struct QuietHours {
    timezone: Tz,
    windows: Vec<WorkingWindow>,
}

/// Some weekdays from a local start minute (inclusive) to an end minute (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkingWindow {
    /// Bit `n` set: the window applies on the weekday with `num_days_from_monday() == n`.
    weekdays: u8,
    start_minute: u32,
    end_minute: u32,
}

/// A daily release time in a time zone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Digest {
    timezone: Tz,
    minute: u32,
}

/// Delivery settings of one receiver.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiverSettings {
    /// Overrides the receiver's integrations' `send_resolved` when set.
    pub send_resolved: Option<bool>,
    /// The receiver's rate limit.
    pub rate_limit: Option<RateLimit>,
}

/// A token bucket: holds at most `burst` tokens, one more every [`interval`](Self::interval)
/// (`per / messages`, rounded up to the nanosecond so the rate is never exceeded); a message
/// takes a token or waits for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Messages per `per`.
    pub messages: u32,
    /// The period.
    pub per: Duration,
    /// The bucket's capacity.
    pub burst: u32,
}

impl RateLimit {
    /// The time one token takes to refill: `per / messages`, rounded up, at least 1 ns.
    pub fn interval(&self) -> Duration {
        let nanos = self
            .per
            .as_nanos()
            .div_ceil(u128::from(self.messages.max(1)));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX).max(1))
    }
}

impl Default for SeverityStrategy {
    /// No rules: label `severity`, default `P2`, every severity delivered immediately to the
    /// route's receiver only.
    fn default() -> Self {
        SeverityStrategy {
            severity_label: "severity".to_owned(),
            default_severity: Severity::P2,
            aliases: BTreeMap::new(),
            rules: Default::default(),
            receivers: BTreeMap::new(),
        }
    }
}

/// The built-in label values (lower case) of each severity; see the module docs.
pub fn builtin_severity(value: &str) -> Option<Severity> {
    match value.trim().to_ascii_lowercase().as_str() {
        "p0" | "critical" | "page" | "emergency" => Some(Severity::P0),
        "p1" | "error" | "high" | "major" => Some(Severity::P1),
        "p2" | "warning" | "warn" | "ticket" | "medium" | "minor" => Some(Severity::P2),
        "p3" | "info" | "informational" | "low" | "notice" | "none" => Some(Severity::P3),
        _ => None,
    }
}

fn index(s: Severity) -> usize {
    match s {
        Severity::P0 => 0,
        Severity::P1 => 1,
        Severity::P2 => 2,
        Severity::P3 => 3,
    }
}

impl SeverityStrategy {
    /// Parses and validates the YAML text of a strategy.
    ///
    /// # Errors
    ///
    /// [`NotifyError::Yaml`] for text that does not fit the structure,
    /// [`NotifyError::InvalidStrategy`] naming the field for invalid values.
    pub fn from_yaml(text: &str) -> Result<Self, NotifyError> {
        SeverityStrategy::try_from(StrategyConfig::from_yaml(text)?)
    }

    /// The label the severity is read from.
    pub fn severity_label(&self) -> &str {
        &self.severity_label
    }

    /// The severity of alerts without a recognised value.
    pub fn default_severity(&self) -> Severity {
        self.default_severity
    }

    /// The severity the labels declare: aliases first, then the built-in names, else the
    /// default (see the module docs).
    pub fn severity_of(&self, labels: &LabelSet) -> Severity {
        let value = label_value(labels, &self.severity_label)
            .trim()
            .to_ascii_lowercase();
        self.aliases
            .get(&value)
            .copied()
            .or_else(|| builtin_severity(&value))
            .unwrap_or(self.default_severity)
    }

    /// The rules of a severity.
    pub fn rule(&self, severity: Severity) -> &SeverityRule {
        &self.rules[index(severity)]
    }

    /// The settings of a receiver, if the strategy has any.
    pub fn receiver_settings(&self, receiver: &str) -> Option<&ReceiverSettings> {
        self.receivers.get(receiver)
    }

    /// The escalation steps of an alert of severity `base` that started at `starts_at`: each
    /// instant and the severity it becomes then, in time order (empty without escalation).
    pub fn escalations(
        &self,
        base: Severity,
        starts_at: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, Severity)> {
        let mut out = Vec::new();
        let mut current = base;
        let mut since = starts_at;
        // Each step is strictly more urgent (validated), so there are at most three.
        while let Some(esc) = self.rule(current).escalation {
            if esc.to >= current {
                break;
            }
            since = add(since, esc.after);
            current = esc.to;
            out.push((since, current));
        }
        out
    }

    /// The severity at `at` of an alert of severity `base` that started at `starts_at` (and
    /// still fires): `base` after the escalations due by then.
    pub fn effective_severity(
        &self,
        base: Severity,
        starts_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Severity {
        self.escalations(base, starts_at)
            .into_iter()
            .take_while(|(when, _)| *when <= at)
            .last()
            .map_or(base, |(_, s)| s)
    }

    /// Checks the receivers the strategy names against the routing configuration's.
    ///
    /// # Errors
    ///
    /// [`NotifyError::InvalidStrategy`] naming the field, e.g.
    /// `severities.P0.receivers[1]: undefined receiver "pager"`.
    pub fn check_receivers(&self, policy: &NotifyPolicy) -> Result<(), NotifyError> {
        for s in Severity::ALL {
            for (i, r) in self.rule(s).receivers.iter().enumerate() {
                if policy.receiver(r).is_none() {
                    return Err(strategy_error(
                        format!("severities.{s}.receivers[{i}]"),
                        format!("undefined receiver {r:?}"),
                    ));
                }
            }
        }
        for name in self.receivers.keys() {
            if policy.receiver(name).is_none() {
                return Err(strategy_error(
                    format!("receivers.{name}"),
                    format!("undefined receiver {name:?}"),
                ));
            }
        }
        Ok(())
    }
}

impl QuietHours {
    /// The time zone the windows are read in.
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// The working windows.
    pub fn windows(&self) -> &[WorkingWindow] {
        &self.windows
    }

    /// Whether `at` is inside a working window.
    pub fn is_working(&self, at: DateTime<Utc>) -> bool {
        self.release_at(at) == at
    }

    /// When a message created at `at` may go out: `at` itself inside a working window, else
    /// the instant the next window opens (across weekends and daylight-saving changes).
    pub fn release_at(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let today = at.with_timezone(&self.timezone).date_naive();
        let mut next: Option<DateTime<Utc>> = None;
        // A window on any listed weekday opens within the next eight local days.
        for offset in 0..=8u64 {
            let Some(day) = today.checked_add_days(Days::new(offset)) else {
                break;
            };
            for w in &self.windows {
                if !w.applies_on(day.weekday()) {
                    continue;
                }
                let (Some(start), Some(end)) = (
                    local_instant(self.timezone, day, w.start_minute),
                    local_instant(self.timezone, day, w.end_minute),
                ) else {
                    continue;
                };
                if start <= at && at < end {
                    return at;
                }
                if start > at && next.is_none_or(|n| start < n) {
                    next = Some(start);
                }
            }
        }
        // Validation guarantees a window with a weekday, so `next` is set; sending at once is
        // the fallback that never drops a message.
        next.unwrap_or(at)
    }
}

impl WorkingWindow {
    /// Whether the window applies on this weekday.
    pub fn applies_on(&self, day: Weekday) -> bool {
        self.weekdays & (1 << day.num_days_from_monday()) != 0
    }

    /// Local start, minutes after midnight.
    pub fn start_minute(&self) -> u32 {
        self.start_minute
    }

    /// Local end (exclusive), minutes after midnight (`1440` for `24:00`).
    pub fn end_minute(&self) -> u32 {
        self.end_minute
    }
}

impl Digest {
    /// The time zone of the release time.
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// The local release time, minutes after midnight.
    pub fn minute_of_day(&self) -> u32 {
        self.minute
    }

    /// The first release instant at or after `at`.
    pub fn next_at_or_after(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let today = at.with_timezone(&self.timezone).date_naive();
        for offset in 0..=2u64 {
            let Some(day) = today
                .checked_sub_days(Days::new(1))
                .and_then(|d| d.checked_add_days(Days::new(offset)))
            else {
                continue;
            };
            if let Some(when) = local_instant(self.timezone, day, self.minute) {
                if when >= at {
                    return when;
                }
            }
        }
        at
    }
}

/// The instant of local `minute` (may be 1440, the next midnight) on `day` in `tz`: the
/// earlier one when ambiguous, the first existing minute after a gap.
pub(crate) fn local_instant(tz: Tz, day: NaiveDate, minute: u32) -> Option<DateTime<Utc>> {
    let naive = day
        .and_hms_opt(0, 0, 0)?
        .checked_add_signed(TimeDelta::minutes(i64::from(minute)))?;
    // Gaps are at most a day long (in practice one hour or 30 minutes).
    for step in 0..=1440 {
        let candidate = naive.checked_add_signed(TimeDelta::minutes(step))?;
        if let Some(found) = tz.from_local_datetime(&candidate).earliest() {
            return Some(found.with_timezone(&Utc));
        }
    }
    None
}

/// `at + d`, saturating at the largest instant.
pub(crate) fn add(at: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|delta| at.checked_add_signed(delta))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

fn strategy_error(path: String, reason: String) -> NotifyError {
    NotifyError::InvalidStrategy { path, reason }
}

fn parse_severity(text: &str, path: String) -> Result<Severity, NotifyError> {
    text.parse::<Severity>().map_err(|_| {
        strategy_error(
            path,
            format!("{text:?} is not a severity (expected P0, P1, P2 or P3)"),
        )
    })
}

fn parse_duration(text: &str, path: String) -> Result<Duration, NotifyError> {
    match parse_prometheus_duration(text) {
        Some(d) if !d.is_zero() => Ok(d),
        Some(_) => Err(strategy_error(path, "must not be zero".to_owned())),
        None => Err(strategy_error(
            path,
            format!("not a valid duration string: {text:?}"),
        )),
    }
}

fn parse_timezone(text: &str, path: String) -> Result<Tz, NotifyError> {
    text.parse::<Tz>()
        .map_err(|_| strategy_error(path, format!("unknown time zone {text:?}")))
}

/// `HH:MM` → minutes after midnight; `24:00` only when `allow_24`.
fn parse_clock(text: &str, path: String, allow_24: bool) -> Result<u32, NotifyError> {
    let bad = || {
        strategy_error(
            path.clone(),
            format!("invalid time of day {text:?} (expected HH:MM)"),
        )
    };
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if m > 59 || h > 24 || (h == 24 && (m != 0 || !allow_24)) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn parse_weekday(text: &str, path: &str) -> Result<u32, NotifyError> {
    let lower = text.trim().to_ascii_lowercase();
    let days = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    days.iter()
        .position(|d| *d == lower || (lower.len() == 3 && d.starts_with(&lower)))
        .and_then(|i| u32::try_from(i).ok())
        .ok_or_else(|| strategy_error(path.to_owned(), format!("unknown weekday {text:?}")))
}

fn parse_weekdays(list: &[String], path: &str) -> Result<u8, NotifyError> {
    if list.is_empty() {
        return Err(strategy_error(
            path.to_owned(),
            "at least one weekday is required".to_owned(),
        ));
    }
    let mut mask = 0u8;
    for (i, item) in list.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let (from, to) = match item.split_once(':') {
            Some((a, b)) => (parse_weekday(a, &p)?, parse_weekday(b, &p)?),
            None => {
                let d = parse_weekday(item, &p)?;
                (d, d)
            }
        };
        let mut d = from;
        loop {
            mask |= 1 << d;
            if d == to {
                break;
            }
            d = (d + 1) % 7;
        }
    }
    Ok(mask)
}

fn build_quiet_hours(cfg: &QuietHoursConfig, path: &str) -> Result<QuietHours, NotifyError> {
    let timezone = parse_timezone(&cfg.timezone, format!("{path}.timezone"))?;
    if cfg.working_hours.is_empty() {
        return Err(strategy_error(
            format!("{path}.working_hours"),
            "at least one working window is required (messages would be held forever)".to_owned(),
        ));
    }
    let mut windows = Vec::with_capacity(cfg.working_hours.len());
    for (i, w) in cfg.working_hours.iter().enumerate() {
        let p = format!("{path}.working_hours[{i}]");
        let weekdays = parse_weekdays(&w.weekdays, &format!("{p}.weekdays"))?;
        let start_minute = parse_clock(&w.start, format!("{p}.start"), false)?;
        let end_minute = parse_clock(&w.end, format!("{p}.end"), true)?;
        if end_minute <= start_minute {
            return Err(strategy_error(
                format!("{p}.end"),
                format!("end {:?} must be after start {:?}", w.end, w.start),
            ));
        }
        windows.push(WorkingWindow {
            weekdays,
            start_minute,
            end_minute,
        });
    }
    Ok(QuietHours { timezone, windows })
}

fn build_rule(
    cfg: &SeverityConfig,
    severity: Severity,
    path: &str,
) -> Result<SeverityRule, NotifyError> {
    for (i, r) in cfg.receivers.iter().enumerate() {
        if r.is_empty() {
            return Err(strategy_error(
                format!("{path}.receivers[{i}]"),
                "empty receiver name".to_owned(),
            ));
        }
    }
    let repeat_interval = cfg
        .repeat_interval
        .as_deref()
        .map(|t| parse_duration(t, format!("{path}.repeat_interval")))
        .transpose()?;
    let escalation = match (&cfg.escalate_after, &cfg.escalate_to) {
        (None, None) => None,
        (Some(_), None) => {
            return Err(strategy_error(
                format!("{path}.escalate_to"),
                "required with escalate_after".to_owned(),
            ))
        }
        (None, Some(_)) => {
            return Err(strategy_error(
                format!("{path}.escalate_after"),
                "required with escalate_to".to_owned(),
            ))
        }
        (Some(after), Some(to)) => {
            let after = parse_duration(after, format!("{path}.escalate_after"))?;
            let to_sev = parse_severity(to, format!("{path}.escalate_to"))?;
            if to_sev >= severity {
                return Err(strategy_error(
                    format!("{path}.escalate_to"),
                    format!("{to_sev} is not more urgent than {severity}"),
                ));
            }
            Some(Escalation { after, to: to_sev })
        }
    };
    let delivery = match (&cfg.quiet_hours, &cfg.digest) {
        (Some(_), Some(_)) => {
            return Err(strategy_error(
                format!("{path}.digest"),
                "cannot be combined with quiet_hours".to_owned(),
            ))
        }
        (Some(q), None) => {
            Delivery::QuietHours(build_quiet_hours(q, &format!("{path}.quiet_hours"))?)
        }
        (None, Some(d)) => {
            let p = format!("{path}.digest");
            Delivery::Digest(Digest {
                timezone: parse_timezone(&d.timezone, format!("{p}.timezone"))?,
                minute: parse_clock(&d.at, format!("{p}.at"), false)?,
            })
        }
        (None, None) => Delivery::Immediate,
    };
    Ok(SeverityRule {
        receivers: cfg.receivers.clone(),
        mentions: cfg.mentions.clone(),
        repeat_interval,
        escalation,
        delivery,
    })
}

impl TryFrom<StrategyConfig> for SeverityStrategy {
    type Error = NotifyError;

    fn try_from(cfg: StrategyConfig) -> Result<Self, Self::Error> {
        let severity_label = cfg.severity_label.unwrap_or_else(|| "severity".to_owned());
        if !crate::policy::is_valid_label_name(&severity_label) {
            return Err(strategy_error(
                "severity_label".to_owned(),
                format!("invalid label name {severity_label:?}"),
            ));
        }
        let default_severity = match cfg.default_severity.as_deref() {
            None => Severity::P2,
            Some(t) => parse_severity(t, "default_severity".to_owned())?,
        };
        let mut aliases = BTreeMap::new();
        for (value, sev) in &cfg.aliases {
            let s = parse_severity(sev, format!("aliases.{value}"))?;
            aliases.insert(value.trim().to_ascii_lowercase(), s);
        }
        let mut rules: [SeverityRule; 4] = Default::default();
        let mut seen = [false; 4];
        for (key, rule) in &cfg.severities {
            let path = format!("severities.{key}");
            let severity = parse_severity(key, path.clone())?;
            let i = index(severity);
            if seen[i] {
                return Err(strategy_error(
                    path,
                    format!("{severity} is configured twice"),
                ));
            }
            seen[i] = true;
            rules[i] = build_rule(rule, severity, &path)?;
        }
        let mut receivers = BTreeMap::new();
        for (name, r) in &cfg.receivers {
            let path = format!("receivers.{name}");
            let rate_limit = r
                .rate_limit
                .as_ref()
                .map(|rl| {
                    let p = format!("{path}.rate_limit");
                    if rl.messages == 0 {
                        return Err(strategy_error(
                            format!("{p}.messages"),
                            "must be at least 1".to_owned(),
                        ));
                    }
                    let burst = rl.burst.unwrap_or(rl.messages);
                    if burst == 0 {
                        return Err(strategy_error(
                            format!("{p}.burst"),
                            "must be at least 1".to_owned(),
                        ));
                    }
                    Ok(RateLimit {
                        messages: rl.messages,
                        per: parse_duration(&rl.per, format!("{p}.per"))?,
                        burst,
                    })
                })
                .transpose()?;
            receivers.insert(
                name.clone(),
                ReceiverSettings {
                    send_resolved: r.send_resolved,
                    rate_limit,
                },
            );
        }
        Ok(SeverityStrategy {
            severity_label,
            default_severity,
            aliases,
            rules,
            receivers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::labels_from;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        // Valid UTC dates are never ambiguous.
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).single().unwrap()
    }

    fn quiet(tz: &str, days: &str, start: &str, end: &str) -> QuietHours {
        build_quiet_hours(
            &QuietHoursConfig {
                timezone: tz.into(),
                working_hours: vec![WorkingWindowConfig {
                    weekdays: vec![days.into()],
                    start: start.into(),
                    end: end.into(),
                }],
            },
            "q",
        )
        .unwrap()
    }

    #[test]
    fn severity_from_labels() {
        let s = SeverityStrategy::from_yaml("aliases: {SEV1: P0}\ndefault_severity: p3\n").unwrap();
        let sev = |v: &str| s.severity_of(&labels_from([("severity", v)]));
        assert_eq!(sev("P1"), Severity::P1);
        assert_eq!(sev("p0"), Severity::P0);
        assert_eq!(sev("Critical"), Severity::P0);
        assert_eq!(sev("page"), Severity::P0);
        assert_eq!(sev("error"), Severity::P1);
        assert_eq!(sev("warning"), Severity::P2);
        assert_eq!(sev("ticket"), Severity::P2);
        assert_eq!(sev("info"), Severity::P3);
        assert_eq!(sev("sev1"), Severity::P0);
        assert_eq!(sev("bogus"), Severity::P3);
        assert_eq!(s.severity_of(&LabelSet::new()), Severity::P3);
        assert_eq!(
            SeverityStrategy::default().severity_of(&LabelSet::new()),
            Severity::P2
        );
    }

    #[test]
    fn escalation_chains() {
        let s = SeverityStrategy::from_yaml(
            "severities:\n  P2: {escalate_after: 2h, escalate_to: P1}\n  P1: {escalate_after: 30m, escalate_to: P0}\n",
        )
        .unwrap();
        let t0 = utc(2024, 6, 3, 0, 0);
        // P2 → P1 at 02:00, → P0 30 minutes later at 02:30.
        assert_eq!(
            s.escalations(Severity::P2, t0),
            vec![
                (utc(2024, 6, 3, 2, 0), Severity::P1),
                (utc(2024, 6, 3, 2, 30), Severity::P0)
            ]
        );
        assert_eq!(
            s.effective_severity(Severity::P2, t0, utc(2024, 6, 3, 1, 59)),
            Severity::P2
        );
        assert_eq!(
            s.effective_severity(Severity::P2, t0, utc(2024, 6, 3, 2, 0)),
            Severity::P1
        );
        assert_eq!(
            s.effective_severity(Severity::P2, t0, utc(2024, 6, 3, 3, 0)),
            Severity::P0
        );
        assert_eq!(
            s.effective_severity(Severity::P3, t0, utc(2024, 6, 9, 0, 0)),
            Severity::P3
        );
    }

    #[test]
    fn quiet_hours_release_in_tokyo() {
        let q = quiet("Asia/Tokyo", "monday:friday", "09:00", "18:00");
        // Friday 2024-06-07 23:00 JST = 14:00 UTC → Monday 2024-06-10 09:00 JST = 00:00 UTC.
        assert_eq!(q.release_at(utc(2024, 6, 7, 14, 0)), utc(2024, 6, 10, 0, 0));
        // Tuesday 2024-06-04 10:00 JST = 01:00 UTC: working, released at once.
        assert!(q.is_working(utc(2024, 6, 4, 1, 0)));
        // Tuesday 08:59 JST = Monday 23:59 UTC → 09:00 JST Tuesday = 00:00 UTC.
        assert_eq!(q.release_at(utc(2024, 6, 3, 23, 59)), utc(2024, 6, 4, 0, 0));
        // 18:00 JST exactly (09:00 UTC) is outside (end exclusive) → Wednesday 09:00 JST.
        assert_eq!(q.release_at(utc(2024, 6, 4, 9, 0)), utc(2024, 6, 5, 0, 0));
    }

    #[test]
    fn quiet_hours_across_dst() {
        let q = quiet("America/New_York", "mon:fri", "09:00", "18:00");
        // Friday 2024-03-08 20:00 EST = Saturday 01:00 UTC. DST starts Sunday 03-10, so
        // Monday 2024-03-11 09:00 EDT (UTC-4) = 13:00 UTC.
        assert_eq!(q.release_at(utc(2024, 3, 9, 1, 0)), utc(2024, 3, 11, 13, 0));
        // A window starting in the gap (02:30 on Sunday 2024-03-10) opens at 03:00 EDT =
        // 07:00 UTC.
        let gap = quiet("America/New_York", "sunday", "02:30", "05:00");
        assert_eq!(
            gap.release_at(utc(2024, 3, 10, 0, 0)),
            utc(2024, 3, 10, 7, 0)
        );
        // A wrap-around range: friday:monday covers Saturday.
        let weekend = quiet("UTC", "friday:monday", "00:00", "24:00");
        assert!(weekend.is_working(utc(2024, 6, 8, 12, 0)));
        assert_eq!(
            weekend.release_at(utc(2024, 6, 5, 12, 0)),
            utc(2024, 6, 7, 0, 0)
        );
    }

    #[test]
    fn digest_times_across_dst() {
        let d = Digest {
            timezone: "Europe/Berlin".parse().unwrap(),
            minute: 8 * 60,
        };
        // 08:00 CEST on Saturday 2024-10-26 = 06:00 UTC.
        assert_eq!(
            d.next_at_or_after(utc(2024, 10, 26, 5, 0)),
            utc(2024, 10, 26, 6, 0)
        );
        assert_eq!(
            d.next_at_or_after(utc(2024, 10, 26, 6, 0)),
            utc(2024, 10, 26, 6, 0)
        );
        // After it: Sunday 2024-10-27 is CET (UTC+1) → 07:00 UTC.
        assert_eq!(
            d.next_at_or_after(utc(2024, 10, 26, 6, 1)),
            utc(2024, 10, 27, 7, 0)
        );
    }

    #[test]
    fn invalid_config_names_the_field() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "severities:\n  P2:\n    quiet_hours: {timezone: Asia/Tokio, working_hours: [{weekdays: [monday], start: '09:00', end: '18:00'}]}\n",
                "severities.P2.quiet_hours.timezone",
                "severities.P2.quiet_hours.timezone: unknown time zone \"Asia/Tokio\"",
            ),
            ("severities: {P4: {}}\n", "severities.P4", ""),
            ("severities: {P1: {escalate_after: 30m, escalate_to: P2}}\n", "severities.P1.escalate_to", ""),
            ("severities: {P1: {escalate_after: 30m}}\n", "severities.P1.escalate_to", ""),
            ("severities: {P1: {escalate_after: 0s, escalate_to: P0}}\n", "severities.P1.escalate_after", ""),
            ("severities: {P1: {repeat_interval: 1.5h}}\n", "severities.P1.repeat_interval", ""),
            ("severities: {P3: {digest: {timezone: UTC, at: '24:00'}}}\n", "severities.P3.digest.at", ""),
            ("severities: {P2: {quiet_hours: {timezone: UTC, working_hours: []}}}\n", "severities.P2.quiet_hours.working_hours", ""),
            ("severities: {P2: {quiet_hours: {timezone: UTC, working_hours: [{weekdays: [funday], start: '09:00', end: '18:00'}]}}}\n", "severities.P2.quiet_hours.working_hours[0].weekdays[0]", ""),
            ("severities: {P2: {quiet_hours: {timezone: UTC, working_hours: [{weekdays: [monday], start: '19:00', end: '18:00'}]}}}\n", "severities.P2.quiet_hours.working_hours[0].end", ""),
            ("severities: {P2: {quiet_hours: {timezone: UTC, working_hours: [{weekdays: [monday], start: '9:00', end: '18:00'}]}}}\n", "severities.P2.quiet_hours.working_hours[0].start", ""),
            ("severities: {P0: {}, p0: {}}\n", "severities.p0", ""),
            ("default_severity: P9\n", "default_severity", ""),
            ("severity_label: 'a-b'\n", "severity_label", ""),
            ("receivers: {x: {rate_limit: {messages: 0, per: 1m}}}\n", "receivers.x.rate_limit.messages", ""),
            ("receivers: {x: {rate_limit: {messages: 1, per: 0s}}}\n", "receivers.x.rate_limit.per", ""),
        ];
        for (yaml, path, text) in cases {
            let e = SeverityStrategy::from_yaml(yaml).unwrap_err();
            assert_eq!(e.path(), Some(*path), "{yaml} → {e}");
            if !text.is_empty() {
                assert_eq!(e.to_string(), *text);
            }
        }
        let e = SeverityStrategy::from_yaml("severities: {P0: {recievers: [a]}}\n").unwrap_err();
        assert!(matches!(e, NotifyError::Yaml { .. }), "{e}");
    }

    #[test]
    fn receivers_checked_against_routing() {
        let policy = NotifyPolicy::from_yaml(
            "route: {receiver: a}\nreceivers: [{name: a}, {name: pager}]\n",
        )
        .unwrap();
        let ok = SeverityStrategy::from_yaml("severities: {P0: {receivers: [pager]}}\n").unwrap();
        assert_eq!(ok.check_receivers(&policy), Ok(()));
        let bad =
            SeverityStrategy::from_yaml("severities: {P0: {receivers: [a, pagr]}}\n").unwrap();
        assert_eq!(
            bad.check_receivers(&policy).unwrap_err().to_string(),
            "severities.P0.receivers[1]: undefined receiver \"pagr\""
        );
        let bad =
            SeverityStrategy::from_yaml("receivers: {nope: {send_resolved: true}}\n").unwrap();
        assert_eq!(
            bad.check_receivers(&policy).unwrap_err().path(),
            Some("receivers.nope")
        );
    }

    #[test]
    fn rate_limit_interval_rounds_up() {
        let r = RateLimit {
            messages: 7,
            per: Duration::from_secs(60),
            burst: 1,
        };
        // 60 s / 7 = 8.571428571428… s → 8_571_428_572 ns.
        assert_eq!(r.interval(), Duration::from_nanos(8_571_428_572));
    }

    proptest::proptest! {
        #[test]
        fn release_is_in_a_window_and_not_before(secs in 0i64..(4 * 365 * 86_400)) {
            let q = quiet("Europe/Berlin", "monday:friday", "09:00", "17:30");
            let at = utc(2023, 1, 1, 0, 0) + TimeDelta::seconds(secs);
            let r = q.release_at(at);
            proptest::prop_assert!(r >= at);
            proptest::prop_assert!(q.is_working(r));
            proptest::prop_assert!(r - at <= TimeDelta::days(4));
        }
    }
}
