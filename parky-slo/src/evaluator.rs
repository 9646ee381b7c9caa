//! Streaming SLO evaluation: SLI events in, an alert timeline and status snapshots out.
//!
//! A [`SloEvaluator`] combines an [`AlertPolicy`] (which carries its [`Objective`]) with a
//! [`WindowedCounter`] whose horizon is the SLO period. Events are fed in time order (events a
//! little late are added to their bucket, see [`crate::window`]). Every time a bucket closes
//! the evaluator evaluates the policy at that bucket boundary, so alerts fire and resolve on
//! boundaries, also across gaps with no traffic; an empty counter skips any gap in O(1).
//!
//! Late events change the window sums but not evaluations already made at past boundaries,
//! so they never appear in the alert timeline; [`SloStatus::late`] counts them, and a non-zero
//! count means the input was not in time order (e.g. `cat access.log access.log.1`, newest
//! file first): sort it, or read the files oldest first, to see its alerts.
//! The result only depends on the events and on the times advanced to, not on how the stream
//! is split into calls: feeding events one by one or in chunks gives the same timeline.
//!
//! # JSON
//! [`SloStatus`] and [`AlertTransition`] serialize with stable field names; timestamps are
//! RFC 3339 UTC strings (e.g. `"2024-05-01T12:00:00Z"`), windows compact labels (`"1h"`,
//! `"5m"`, `"30d"`), durations `*_seconds` numbers.
//!
//! ```json
//! {
//!   "as_of": "2024-05-01T12:00:00Z",
//!   "objective": {"target": 0.999, "period": "30d"},
//!   "requests": 1000, "good": 990, "bad": 10, "sli": 0.99,
//!   "budget_consumed": 10.0, "budget_remaining": -9.0,
//!   "burn_rates": [{"window": "5m", "window_seconds": 300, "requests": 10, "bad": 1, "burn_rate": 100.0}],
//!   "alerts": [{"severity": "page", "firing": true, "since": "2024-05-01T11:52:00Z"}],
//!   "exhaustion_window": "1h", "time_to_exhaustion_seconds": 0.0,
//!   "late": 0, "dropped": 0
//! }
//! ```
//! A timeline entry: `{"at": "2024-05-01T11:52:00Z", "severity": "page", "state": "firing",
//! "long_window": "1h", "short_window": "5m", "burn_factor": 14.4, "long_burn_rate": 16.6,
//! "short_burn_rate": 200.0}`.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};

use crate::error::SloError;
use crate::model::SliEvent;
use crate::objective::{
    duration_label, serialize_duration_label, serialize_optional_seconds, BurnRate, ErrorBudget,
    Objective,
};
use crate::policy::alert::{AlertPolicy, Severity};
use crate::window::{WindowedCounter, DEFAULT_RESOLUTION, MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS};

/// Whether an alert started or stopped firing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertPhase {
    /// The alert started firing.
    Firing,
    /// The alert stopped firing.
    Resolved,
}

/// One entry of the alert timeline: a severity started or stopped firing at a bucket
/// boundary, with the burn rates of the window pair behind it at that moment.
///
/// When it fires, the pair is the first firing pair of that severity in policy order; when
/// it resolves, the pair that was firing last.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AlertTransition {
    /// The bucket boundary of the evaluation, in milliseconds since the epoch (`at` in JSON,
    /// RFC 3339).
    #[serde(rename = "at", serialize_with = "serialize_timestamp")]
    pub at_ms: i64,
    /// The severity that changed.
    pub severity: Severity,
    /// Whether it started (`"firing"`) or stopped (`"resolved"`) firing.
    pub state: AlertPhase,
    /// The long window of the pair.
    #[serde(serialize_with = "serialize_duration_label")]
    pub long_window: Duration,
    /// The short window of the pair.
    #[serde(serialize_with = "serialize_duration_label")]
    pub short_window: Duration,
    /// The pair's burn factor.
    pub burn_factor: f64,
    /// The burn rate over the long window at `at`.
    pub long_burn_rate: BurnRate,
    /// The burn rate over the short window at `at`.
    pub short_burn_rate: BurnRate,
}

/// The burn rate over one window at the time of a [`SloStatus`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WindowBurnRate {
    /// The window (`"1h"` in JSON).
    #[serde(serialize_with = "serialize_duration_label")]
    pub window: Duration,
    /// The window in whole seconds.
    pub window_seconds: u64,
    /// Requests in the window.
    pub requests: u64,
    /// Bad requests in the window.
    pub bad: u64,
    /// The burn rate over the window (0 with no traffic).
    pub burn_rate: BurnRate,
}

/// Whether one severity is firing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AlertStatus {
    /// The severity.
    pub severity: Severity,
    /// Whether it is firing now.
    pub firing: bool,
    /// When the current state began (the last transition), in milliseconds since the epoch;
    /// `None` (`null`) if it never fired. `since` in JSON, RFC 3339.
    #[serde(rename = "since", serialize_with = "serialize_optional_timestamp")]
    pub since_ms: Option<i64>,
}

/// A snapshot of an SLO at a bucket boundary. Counts cover the closed buckets only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloStatus {
    /// The bucket boundary the snapshot is taken at, in milliseconds since the epoch; `None`
    /// before any event or advance. `as_of` in JSON, RFC 3339.
    #[serde(rename = "as_of", serialize_with = "serialize_optional_timestamp")]
    pub as_of_ms: Option<i64>,
    /// The objective.
    pub objective: Objective,
    /// Requests over the period.
    pub requests: u64,
    /// Good requests over the period.
    pub good: u64,
    /// Bad requests over the period.
    pub bad: u64,
    /// `good ÷ requests` over the period; `None` (`null`) with no traffic.
    pub sli: Option<f64>,
    /// Share of the period's error budget consumed (0 with no traffic; above 1 when
    /// overspent). Equals the burn rate over the period.
    pub budget_consumed: f64,
    /// `1 − budget_consumed`; negative when the budget is overspent.
    pub budget_remaining: f64,
    /// The burn rate over each window of the policy and over the period, ascending by length.
    pub burn_rates: Vec<WindowBurnRate>,
    /// The alert state of each severity of the policy, page first.
    pub alerts: Vec<AlertStatus>,
    /// The window whose burn rate `time_to_exhaustion` assumes: the policy's shortest long
    /// window (the current pace).
    #[serde(serialize_with = "serialize_duration_label")]
    pub exhaustion_window: Duration,
    /// How long the remaining budget lasts at the burn rate of `exhaustion_window`
    /// ([`Objective::time_to_exhaustion`]): `0` when already exhausted, `None` (`null`) when
    /// it is not being spent. `time_to_exhaustion_seconds` in JSON.
    #[serde(
        rename = "time_to_exhaustion_seconds",
        serialize_with = "serialize_optional_seconds"
    )]
    pub time_to_exhaustion: Option<Duration>,
    /// Requests that arrived after their bucket had been evaluated: the input is not in time
    /// order; they count in the totals and burn rates but not in the alert timeline.
    /// Cumulative since the evaluator was created ([`WindowedCounter::late`]).
    pub late: u64,
    /// Requests refused as too late for the horizon or outside the years 0000–9999.
    pub dropped: u64,
}

/// Alert state of one severity.
#[derive(Debug, Clone, Copy, PartialEq)]
struct SeverityTrack {
    severity: Severity,
    firing: bool,
    since_ms: Option<i64>,
    /// The rule reported for the current or last firing.
    rule: usize,
}

/// Streaming evaluation of one SLO and its alert policy (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct SloEvaluator {
    policy: AlertPolicy,
    budget: ErrorBudget,
    counter: WindowedCounter,
    period_window: usize,
    /// Counter window indices (long, short) of each rule.
    rule_windows: Vec<(usize, usize)>,
    exhaustion_window: usize,
    tracks: Vec<SeverityTrack>,
    timeline: Vec<AlertTransition>,
    /// Scratch space: the burn rate of each counter window at the current evaluation.
    burn_rates: Vec<BurnRate>,
}

impl SloEvaluator {
    /// An evaluator for `policy` with buckets of `resolution`.
    ///
    /// # Errors
    /// [`SloError::InvalidConfig`] naming `resolution` when it is zero, not a whole number of
    /// milliseconds, does not divide the period and every window of the policy, or gives more
    /// than [`crate::window::MAX_BUCKETS`] buckets.
    pub fn new(policy: AlertPolicy, resolution: Duration) -> Result<Self, SloError> {
        let objective = *policy.objective();
        let period = objective.period();
        let mut windows = vec![period];
        for rule in policy.rules() {
            windows.push(rule.window().long);
            windows.push(rule.window().short);
        }
        let horizon = period.max(policy.longest_window());
        let counter =
            WindowedCounter::new(resolution, horizon, &windows).map_err(|error| match error {
                SloError::InvalidConfig { field, reason } if field.starts_with("windows") => {
                    SloError::InvalidConfig {
                        field: "resolution".to_owned(),
                        reason: format!(
                            "{} must divide the period and every alert window: {reason}",
                            duration_label(resolution)
                        ),
                    }
                }
                SloError::InvalidConfig { field, reason } if field == "horizon" => {
                    SloError::InvalidConfig {
                        field: "resolution".to_owned(),
                        reason: format!(
                            "{} must divide the period: {reason}",
                            duration_label(resolution)
                        ),
                    }
                }
                other => other,
            })?;
        let index_of = |window: Duration| counter.window_index(window).unwrap_or_default();
        let rule_windows = policy
            .rules()
            .iter()
            .map(|rule| (index_of(rule.window().long), index_of(rule.window().short)))
            .collect();
        let exhaustion = policy
            .rules()
            .iter()
            .map(|rule| rule.window().long)
            .min()
            .unwrap_or(period);
        let tracks = policy
            .severities()
            .into_iter()
            .map(|severity| SeverityTrack {
                severity,
                firing: false,
                since_ms: None,
                rule: 0,
            })
            .collect();
        let window_count = counter.windows().count();
        Ok(Self {
            budget: objective.error_budget(),
            period_window: index_of(period),
            exhaustion_window: index_of(exhaustion),
            rule_windows,
            tracks,
            timeline: Vec::new(),
            burn_rates: vec![BurnRate::ZERO; window_count],
            counter,
            policy,
        })
    }

    /// An evaluator with the default one-minute resolution.
    ///
    /// # Errors
    /// As [`SloEvaluator::new`] (a period or window that is not a whole number of minutes).
    pub fn with_default_resolution(policy: AlertPolicy) -> Result<Self, SloError> {
        Self::new(policy, DEFAULT_RESOLUTION)
    }

    /// Records one request at `timestamp_ms` (milliseconds since the epoch). When it lies past
    /// the open bucket, every bucket boundary up to it is evaluated first.
    #[inline]
    pub fn record(&mut self, timestamp_ms: i64, good: bool) {
        if self.counter.in_open_bucket(timestamp_ms) {
            self.counter.add_to_open(good);
        } else {
            self.record_outside_open_bucket(timestamp_ms, good);
        }
    }

    /// Records one [`SliEvent`] (its timestamp and whether it was good).
    #[inline]
    pub fn record_event(&mut self, event: &SliEvent) {
        self.record(event.timestamp_ms, event.good);
    }

    /// Records events in order.
    pub fn record_events<'a>(&mut self, events: impl IntoIterator<Item = &'a SliEvent>) {
        for event in events {
            self.record(event.timestamp_ms, event.good);
        }
    }

    /// Lets time pass until `timestamp_ms`: closes and evaluates every bucket that ends at or
    /// before it. Does nothing when time is already past it.
    pub fn advance_to(&mut self, timestamp_ms: i64) {
        let timestamp_ms = timestamp_ms.clamp(MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS);
        if !self.counter.is_started() {
            self.counter.advance_to(timestamp_ms);
            return;
        }
        let target = timestamp_ms.div_euclid(self.counter.resolution_ms());
        while self.counter.open_bucket() < target {
            if self.counter.is_empty() && !self.tracks.iter().any(|track| track.firing) {
                // No traffic anywhere in the horizon and nothing firing: no evaluation can
                // change anything, so jump.
                self.counter.advance_to(timestamp_ms);
                break;
            }
            self.counter.close_open_bucket();
            self.evaluate();
        }
    }

    /// Advances to `timestamp_ms` and returns the status at the last boundary at or before
    /// it.
    pub fn status(&mut self, timestamp_ms: i64) -> SloStatus {
        self.advance_to(timestamp_ms);
        self.snapshot()
    }

    /// Closes the open bucket (advances to its end) and returns the status, so every recorded
    /// event is counted. Use at the end of a finite input.
    pub fn finish(&mut self) -> SloStatus {
        if let Some(start) = self.counter.closed_until_ms() {
            let end = start.saturating_add(self.counter.resolution_ms());
            self.advance_to(end);
        }
        self.snapshot()
    }

    /// The status at the last evaluated boundary, without advancing.
    pub fn snapshot(&self) -> SloStatus {
        let objective = *self.policy.objective();
        let period = self.counter.window_counts_at(self.period_window);
        let bad = period.bad();
        let budget_consumed = self.budget.consumed(bad, period.total);
        let budget_remaining = 1.0 - budget_consumed;
        let burn_rates = self
            .counter
            .windows()
            .map(|(window, counts)| WindowBurnRate {
                window,
                window_seconds: window.as_secs(),
                requests: counts.total,
                bad: counts.bad(),
                burn_rate: self.budget.burn_rate(counts.bad(), counts.total),
            })
            .collect();
        let alerts = self
            .tracks
            .iter()
            .map(|track| AlertStatus {
                severity: track.severity,
                firing: track.firing,
                since_ms: track.since_ms,
            })
            .collect();
        let pace = self.counter.window_counts_at(self.exhaustion_window);
        let pace_burn_rate = self.budget.burn_rate(pace.bad(), pace.total);
        let exhaustion_window = self
            .counter
            .windows()
            .nth(self.exhaustion_window)
            .map(|(window, _)| window)
            .unwrap_or(objective.period());
        SloStatus {
            as_of_ms: self.counter.closed_until_ms(),
            objective,
            requests: period.total,
            good: period.good,
            bad,
            sli: period.error_ratio().map(|ratio| 1.0 - ratio),
            budget_consumed,
            budget_remaining,
            burn_rates,
            alerts,
            exhaustion_window,
            time_to_exhaustion: objective.time_to_exhaustion(budget_remaining, pace_burn_rate),
            late: self.counter.late(),
            dropped: self.counter.dropped(),
        }
    }

    /// Every alert transition so far, oldest first.
    pub fn timeline(&self) -> &[AlertTransition] {
        &self.timeline
    }

    /// Takes the transitions recorded since the last call (for long-running streams, to keep
    /// memory bounded).
    pub fn take_timeline(&mut self) -> Vec<AlertTransition> {
        std::mem::take(&mut self.timeline)
    }

    /// The alert policy (and through it the objective).
    pub fn policy(&self) -> &AlertPolicy {
        &self.policy
    }

    /// The windowed counter behind the evaluator.
    pub fn counter(&self) -> &WindowedCounter {
        &self.counter
    }

    #[cold]
    #[inline(never)]
    fn record_outside_open_bucket(&mut self, timestamp_ms: i64, good: bool) {
        if (MIN_TIMESTAMP_MS..=MAX_TIMESTAMP_MS).contains(&timestamp_ms) {
            self.advance_to(timestamp_ms);
        }
        // Opens the first bucket, adds to the open or a late bucket, or counts a drop.
        self.counter.record(timestamp_ms, good);
    }

    /// Evaluates the policy at the current boundary (the start of the open bucket).
    fn evaluate(&mut self) {
        let Some(at_ms) = self.counter.closed_until_ms() else {
            return;
        };
        for (index, (_, counts)) in self.counter.windows().enumerate() {
            if let Some(slot) = self.burn_rates.get_mut(index) {
                *slot = self.budget.burn_rate(counts.bad(), counts.total);
            }
        }
        let rate = |index: usize| self.burn_rates.get(index).copied().unwrap_or_default();
        for track in &mut self.tracks {
            let firing_rule = self.policy.rules().iter().zip(&self.rule_windows).position(
                |(rule, (long, short))| {
                    rule.severity() == track.severity && rule.fires(rate(*long), rate(*short))
                },
            );
            let firing = firing_rule.is_some();
            if let Some(rule) = firing_rule {
                track.rule = rule;
            }
            if firing == track.firing {
                continue;
            }
            track.firing = firing;
            track.since_ms = Some(at_ms);
            let (Some(rule), Some((long, short))) = (
                self.policy.rules().get(track.rule),
                self.rule_windows.get(track.rule),
            ) else {
                continue;
            };
            self.timeline.push(AlertTransition {
                at_ms,
                severity: track.severity,
                state: if firing {
                    AlertPhase::Firing
                } else {
                    AlertPhase::Resolved
                },
                long_window: rule.window().long,
                short_window: rule.window().short,
                burn_factor: rule.burn_factor(),
                long_burn_rate: rate(*long),
                short_burn_rate: rate(*short),
            });
        }
    }
}

/// Formats milliseconds since the epoch as RFC 3339 UTC (`2024-05-01T12:00:00Z`, with
/// milliseconds only when non-zero); `None` outside chrono's range (never for the accepted
/// timestamps).
pub fn rfc3339(timestamp_ms: i64) -> Option<String> {
    DateTime::<Utc>::from_timestamp_millis(timestamp_ms)
        .map(|time| time.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

fn serialize_timestamp<S: Serializer>(
    timestamp_ms: &i64,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match rfc3339(*timestamp_ms) {
        Some(text) => serializer.serialize_str(&text),
        // Unreachable for accepted timestamps; keep the raw number rather than fail.
        None => serializer.serialize_i64(*timestamp_ms),
    }
}

fn serialize_optional_timestamp<S: Serializer>(
    timestamp_ms: &Option<i64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match timestamp_ms {
        Some(timestamp_ms) => serialize_timestamp(timestamp_ms, serializer),
        None => serializer.serialize_none(),
    }
}
