//! Multi-window, multi-burn-rate alert policies (Google SRE Workbook, chapter 5, "Alerting on
//! SLOs").
//!
//! An [`AlertWindow`] pairs a long window with a short one and says which share of the error
//! budget may burn within the long window before someone is told. Its burn factor is
//! `budget_share × period ÷ long`: spending 2 % of a 30-day budget within one hour is a burn
//! rate of `0.02 × 720 h ÷ 1 h = 14.4`.
//!
//! A window pair fires when the burn rates over **both** its long and its short window are
//! **strictly greater** than the burn factor. This is the workbook's PromQL
//! `error_ratio > factor * (1 - slo)`; the short window makes the alert reset soon after the
//! errors stop. A burn rate exactly equal to the factor does not fire, which is why
//! [`AlertRule::detection_time`] is the instant the long window reaches the factor and an
//! evaluator at resolution `r` fires at its first evaluation strictly after that instant.
//!
//! The workbook defaults ([`WORKBOOK_WINDOWS`]) give these burn factors:
//!
//! | severity | long | short | budget share | 30 days | 28 days |
//! |----------|------|-------|--------------|---------|---------|
//! | page     | 1h   | 5m    | 2 %          | 14.4    | 13.44   |
//! | page     | 6h   | 30m   | 5 %          | 6       | 5.6     |
//! | ticket   | 1d   | 2h    | 10 %         | 3       | 2.8     |
//! | ticket   | 3d   | 6h    | 10 %         | 1       | 0.9333… |
//!
//! Not every pair fits every objective: a pair whose long window is longer than the period
//! cannot be measured, and a factor at or above the highest possible burn rate
//! `1 ÷ (1 − target)` (10 at 90 %, so 14.4 is out of reach) can never fire.
//! [`AlertPolicy::workbook`] refuses such objectives; [`AlertPolicy::workbook_fitting`] keeps
//! the pairs that work and reports the others as [`SkippedWindow`]s.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::SloError;
use crate::objective::{
    duration_label, serialize_duration_label, serialize_optional_seconds, BurnRate, Objective,
};

/// How urgently a firing alert needs a human. The notify crate maps it to P-levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Wake someone up now: the budget burns fast.
    Page,
    /// Someone should look during working hours: the budget burns slowly but steadily.
    Ticket,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        })
    }
}

/// One long/short window pair of a multi-window, multi-burn-rate policy.
///
/// Serializes as `{"long": "1h", "short": "5m", "budget_share": 0.02, "severity": "page"}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AlertWindow {
    /// The long window: how much budget burned recently.
    #[serde(serialize_with = "serialize_duration_label")]
    pub long: Duration,
    /// The short window, shorter than `long`: is it still burning right now?
    #[serde(serialize_with = "serialize_duration_label")]
    pub short: Duration,
    /// The share of the whole period's budget that may burn within `long`, in `(0, 1]`.
    pub budget_share: f64,
    /// Who is told when the pair fires.
    pub severity: Severity,
}

impl AlertWindow {
    /// A window pair (not validated until it is part of an [`AlertPolicy`]).
    pub const fn new(
        long: Duration,
        short: Duration,
        budget_share: f64,
        severity: Severity,
    ) -> Self {
        Self {
            long,
            short,
            budget_share,
            severity,
        }
    }

    /// The burn factor of this pair for an SLO `period`: `budget_share × period ÷ long`.
    /// 0 when `long` is zero (such a window is refused by [`AlertPolicy::new`]).
    pub fn burn_factor(&self, period: Duration) -> f64 {
        if self.long.is_zero() {
            return 0.0;
        }
        self.budget_share * period.as_secs_f64() / self.long.as_secs_f64()
    }
}

const HOUR: u64 = 3600;

/// The workbook's recommended pairs: page on 2 % of the budget in 1h (5m short window) or 5 %
/// in 6h (30m), ticket on 10 % in 1d (2h) or 10 % in 3d (6h).
pub const WORKBOOK_WINDOWS: [AlertWindow; 4] = [
    AlertWindow::new(
        Duration::from_secs(HOUR),
        Duration::from_secs(5 * 60),
        0.02,
        Severity::Page,
    ),
    AlertWindow::new(
        Duration::from_secs(6 * HOUR),
        Duration::from_secs(30 * 60),
        0.05,
        Severity::Page,
    ),
    AlertWindow::new(
        Duration::from_secs(24 * HOUR),
        Duration::from_secs(2 * HOUR),
        0.10,
        Severity::Ticket,
    ),
    AlertWindow::new(
        Duration::from_secs(72 * HOUR),
        Duration::from_secs(6 * HOUR),
        0.10,
        Severity::Ticket,
    ),
];

/// A validated window pair of an [`AlertPolicy`], with its burn factor for the policy's
/// objective.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertRule {
    window: AlertWindow,
    burn_factor: f64,
    allowed_bad_ratio: f64,
}

impl AlertRule {
    /// The window pair.
    pub fn window(&self) -> &AlertWindow {
        &self.window
    }

    /// Who is told when this pair fires.
    pub fn severity(&self) -> Severity {
        self.window.severity
    }

    /// The burn rate both windows must exceed: `budget_share × period ÷ long`.
    pub fn burn_factor(&self) -> f64 {
        self.burn_factor
    }

    /// Whether the pair fires: both burn rates strictly greater than the burn factor.
    pub fn fires(&self, long_burn_rate: BurnRate, short_burn_rate: BurnRate) -> bool {
        long_burn_rate.value() > self.burn_factor && short_burn_rate.value() > self.burn_factor
    }

    /// How long after a constant error ratio `error_ratio` starts (with error-free, steady
    /// traffic before) the long window's burn rate reaches the burn factor:
    /// `((1 − SLO) ÷ error_ratio) × long × factor`.
    ///
    /// The short window is shorter, so it reaches the factor earlier and the long window
    /// decides. An evaluator with resolution `r` fires at its first bucket boundary strictly
    /// after this instant (e.g. 51.84 s → 52 s at one-second resolution). `None` when the pair
    /// never fires at that ratio: its burn rate `error_ratio ÷ (1 − SLO)` is not strictly
    /// greater than the factor, or `error_ratio` is not in `(0, 1]`.
    pub fn detection_time(&self, error_ratio: f64) -> Option<Duration> {
        if !(error_ratio > 0.0 && error_ratio <= 1.0) {
            return None;
        }
        if error_ratio / self.allowed_bad_ratio <= self.burn_factor {
            return None;
        }
        let seconds = self.allowed_bad_ratio / error_ratio
            * self.window.long.as_secs_f64()
            * self.burn_factor;
        Duration::try_from_secs_f64(seconds).ok()
    }
}

/// A validated multi-window, multi-burn-rate alert policy for one [`Objective`].
#[derive(Debug, Clone, PartialEq)]
pub struct AlertPolicy {
    objective: Objective,
    rules: Vec<AlertRule>,
}

impl AlertPolicy {
    /// Validates `windows` against `objective`.
    ///
    /// # Errors
    /// [`SloError::InvalidConfig`] whose field names the offending value, e.g.
    /// `windows[2].short`: `windows` when the list is empty; `windows[i].long` when the long
    /// window is zero or longer than the period; `windows[i].short` when the short window is
    /// zero or not shorter than the long one; `windows[i].budget_share` when the share is not
    /// in `(0, 1]`, or so small/large that the burn factor is not below the highest possible
    /// burn rate `1 ÷ (1 − target)` (the pair could never fire).
    pub fn new(objective: Objective, windows: Vec<AlertWindow>) -> Result<Self, SloError> {
        if windows.is_empty() {
            return Err(invalid(
                "windows",
                "at least one window pair is needed".to_owned(),
            ));
        }
        let period = objective.period();
        let allowed_bad_ratio = objective.error_budget().allowed_bad_ratio();
        let max_burn_rate = 1.0 / allowed_bad_ratio;
        let mut rules = Vec::with_capacity(windows.len());
        for (index, window) in windows.into_iter().enumerate() {
            let field = |name: &str| format!("windows[{index}].{name}");
            if window.long.is_zero() || window.long > period {
                return Err(invalid(
                    &field("long"),
                    format!(
                        "{} is not in (0, period = {}]",
                        duration_label(window.long),
                        duration_label(period)
                    ),
                ));
            }
            if window.short.is_zero() || window.short >= window.long {
                return Err(invalid(
                    &field("short"),
                    format!(
                        "{} must be non-zero and shorter than the long window {}",
                        duration_label(window.short),
                        duration_label(window.long)
                    ),
                ));
            }
            if !(window.budget_share > 0.0 && window.budget_share <= 1.0) {
                return Err(invalid(
                    &field("budget_share"),
                    format!("{} is not in (0, 1]", window.budget_share),
                ));
            }
            let burn_factor = window.burn_factor(period);
            if burn_factor >= max_burn_rate {
                return Err(invalid(
                    &field("budget_share"),
                    format!(
                        "burn factor {burn_factor} is not below the highest possible burn rate \
                         {max_burn_rate} (100 % errors) for objective {}: the pair could never fire",
                        objective.target()
                    ),
                ));
            }
            rules.push(AlertRule {
                window,
                burn_factor,
                allowed_bad_ratio,
            });
        }
        Ok(Self { objective, rules })
    }

    /// The workbook's recommended policy ([`WORKBOOK_WINDOWS`]) for `objective`.
    ///
    /// # Errors
    /// As [`AlertPolicy::new`], e.g. when the period is shorter than three days or the target
    /// is too low for a 14.4× burn factor to be reachable. [`AlertPolicy::workbook_fitting`]
    /// keeps the pairs that work instead.
    pub fn workbook(objective: Objective) -> Result<Self, SloError> {
        Self::new(objective, WORKBOOK_WINDOWS.to_vec())
    }

    /// The workbook policy reduced to the pairs of [`WORKBOOK_WINDOWS`] that can work for
    /// `objective`, in workbook order, with the pairs left out and why.
    ///
    /// A pair is left out when its long window is longer than the period
    /// ([`SkipReason::LongerThanPeriod`]: a 12h period keeps only 1h/5m and 6h/30m), or when
    /// its burn factor is at or above the highest possible burn rate `1 ÷ (1 − target)`
    /// ([`SkipReason::FactorUnreachable`]: at 90 % over 30 days the 1h/5m factor 14.4 is
    /// above 10). The kept pairs keep the factors they have in the full workbook policy, and
    /// an evaluator accepts the reduced policy at any resolution that divides the period and
    /// the kept windows (one minute for every period of whole minutes).
    ///
    /// # Errors
    /// [`SloError::InvalidConfig`] when no pair remains: naming `period` when the period is
    /// shorter than every long window (under 1h), else `objective` (the target is too low for
    /// any factor, e.g. 90 % over a 3660-day period), with every pair's reason.
    pub fn workbook_fitting(objective: Objective) -> Result<(Self, Vec<SkippedWindow>), SloError> {
        let period = objective.period();
        let max_burn_rate = 1.0 / objective.error_budget().allowed_bad_ratio();
        let mut kept = Vec::with_capacity(WORKBOOK_WINDOWS.len());
        let mut skipped = Vec::new();
        for window in WORKBOOK_WINDOWS {
            let reason = if window.long > period {
                Some(SkipReason::LongerThanPeriod)
            } else {
                let burn_factor = window.burn_factor(period);
                // The same test as `AlertPolicy::new`, which would refuse the pair.
                (burn_factor >= max_burn_rate).then_some(SkipReason::FactorUnreachable {
                    burn_factor,
                    max_burn_rate,
                })
            };
            match reason {
                Some(reason) => skipped.push(SkippedWindow {
                    window,
                    reason,
                    period,
                }),
                None => kept.push(window),
            }
        }
        if kept.is_empty() {
            let field = if skipped
                .iter()
                .all(|skip| skip.reason == SkipReason::LongerThanPeriod)
            {
                "period"
            } else {
                "objective"
            };
            let reasons: Vec<String> = skipped.iter().map(ToString::to_string).collect();
            return Err(invalid(
                field,
                format!(
                    "no workbook alert window fits {} % over {}: {}",
                    percent_label(objective.target()),
                    duration_label(period),
                    reasons.join("; ")
                ),
            ));
        }
        let policy = Self::new(objective, kept)?;
        Ok((policy, skipped))
    }

    /// The objective the policy was validated for.
    pub fn objective(&self) -> &Objective {
        &self.objective
    }

    /// The validated window pairs, in the order given.
    pub fn rules(&self) -> &[AlertRule] {
        &self.rules
    }

    /// The severities used by the policy, in severity order (page before ticket), each once.
    pub fn severities(&self) -> Vec<Severity> {
        let mut severities: Vec<Severity> = self.rules.iter().map(AlertRule::severity).collect();
        severities.sort();
        severities.dedup();
        severities
    }

    /// The longest window of the policy (long windows are never longer than the period).
    pub fn longest_window(&self) -> Duration {
        self.rules
            .iter()
            .map(|rule| rule.window.long)
            .max()
            .unwrap_or_default()
    }

    /// One row per window pair with its burn factor, its alert threshold as an error ratio,
    /// and its detection time at a constant `detection_error_ratio` (`1.0` for a total
    /// outage): the table printed by `parky slo windows`.
    pub fn window_table(&self, detection_error_ratio: f64) -> Vec<WindowSummary> {
        self.rules
            .iter()
            .map(|rule| WindowSummary {
                severity: rule.window.severity,
                long_window: rule.window.long,
                short_window: rule.window.short,
                budget_share: rule.window.budget_share,
                burn_factor: rule.burn_factor,
                threshold_error_ratio: rule.burn_factor * rule.allowed_bad_ratio,
                detection_error_ratio,
                detection_time: rule.detection_time(detection_error_ratio),
            })
            .collect()
    }
}

/// One row of [`AlertPolicy::window_table`].
///
/// Serializes as `{"severity": "page", "long_window": "1h", "short_window": "5m",
/// "budget_share": 0.02, "burn_factor": 14.4, "threshold_error_ratio": 0.0144,
/// "detection_error_ratio": 1.0, "detection_time_seconds": 51.84}` (a 99.9 % / 30-day
/// objective; `detection_time_seconds` is `null` when the pair never fires at that ratio).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WindowSummary {
    /// Who is told when the pair fires.
    pub severity: Severity,
    /// The long window.
    #[serde(serialize_with = "serialize_duration_label")]
    pub long_window: Duration,
    /// The short window.
    #[serde(serialize_with = "serialize_duration_label")]
    pub short_window: Duration,
    /// The share of the period's budget the long window may burn.
    pub budget_share: f64,
    /// The burn rate both windows must exceed.
    pub burn_factor: f64,
    /// The alert threshold as an error ratio: the pair fires when the error ratio over both
    /// windows is strictly above `burn_factor × (1 − target)` (0.0144, i.e. 1.44 % of requests
    /// bad, for 1h/5m at 99.9 % over 30 days). This is the PromQL rule's right-hand side.
    pub threshold_error_ratio: f64,
    /// The constant error ratio the detection time is computed for (the argument of
    /// [`AlertPolicy::window_table`], `1.0` for a total outage); not a threshold.
    pub detection_error_ratio: f64,
    /// [`AlertRule::detection_time`] at `detection_error_ratio`.
    #[serde(
        rename = "detection_time_seconds",
        serialize_with = "serialize_optional_seconds"
    )]
    pub detection_time: Option<Duration>,
}

/// A workbook window pair left out by [`AlertPolicy::workbook_fitting`], and why.
///
/// Displays as `1d/2h: its 1d window is longer than the 12h period` or
/// `1h/5m: burn factor 14.4 can never be reached at 90 % (the highest burn rate is 10)`.
/// Serializes as `{"window": {"long": "1d", …}, "reason": {"kind": "longer_than_period"}}` or
/// `{"window": …, "reason": {"kind": "factor_unreachable", "burn_factor": 14.4,
/// "max_burn_rate": 10.0}}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SkippedWindow {
    /// The workbook pair left out.
    pub window: AlertWindow,
    /// Why it was left out.
    pub reason: SkipReason,
    /// The SLO period, for the message.
    #[serde(skip)]
    period: Duration,
}

/// Why [`AlertPolicy::workbook_fitting`] left a window pair out.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SkipReason {
    /// The long window is longer than the SLO period, so it can never be full.
    LongerThanPeriod,
    /// The pair's burn factor is at or above the highest burn rate the objective allows
    /// (`1 ÷ (1 − target)`, reached when every request is bad): the pair could never fire.
    FactorUnreachable {
        /// The pair's burn factor for the period, `budget_share × period ÷ long`.
        burn_factor: f64,
        /// The highest possible burn rate, `1 ÷ (1 − target)`.
        max_burn_rate: f64,
    },
}

impl std::fmt::Display for SkippedWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let long = duration_label(self.window.long);
        write!(f, "{long}/{}: ", duration_label(self.window.short))?;
        match self.reason {
            SkipReason::LongerThanPeriod => write!(
                f,
                "its {long} window is longer than the {} period",
                duration_label(self.period)
            ),
            SkipReason::FactorUnreachable { .. } => write!(f, "{}", self.reason),
        }
    }
}

impl std::fmt::Display for SkipReason {
    /// `the long window is longer than the period`, or `burn factor 14.4 can never be reached
    /// at 90 % (the highest burn rate is 10)`; [`SkippedWindow`] adds the window and period.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            SkipReason::LongerThanPeriod => {
                f.write_str("the long window is longer than the period")
            }
            SkipReason::FactorUnreachable {
                burn_factor,
                max_burn_rate,
            } => {
                // max_burn_rate = 1 ÷ (1 − target), so target = 1 − 1 ÷ max_burn_rate; rounded
                // to 12 significant digits it prints as the target was written.
                let target = round_significant(1.0 - 1.0 / max_burn_rate);
                write!(
                    f,
                    "burn factor {} can never be reached at {} % (the highest burn rate is {})",
                    round_significant(burn_factor),
                    percent_label(target),
                    round_significant(max_burn_rate)
                )
            }
        }
    }
}

/// `x` rounded to 12 significant digits, for messages (14.400000000000002 → 14.4).
fn round_significant(x: f64) -> f64 {
    format!("{x:.11e}").parse().unwrap_or(x)
}

/// A target in (0, 1) as a percentage, shifting the decimal digits: 0.9 → `90`,
/// 0.999 → `99.9`, 0.00001 → `0.001`.
fn percent_label(target: f64) -> String {
    let text = target.to_string();
    let Some(fraction) = text
        .strip_prefix("0.")
        .filter(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
    else {
        return (target * 100.0).to_string();
    };
    let padded = format!("{fraction:0<2}");
    let (whole, rest) = padded.split_at(2);
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    if rest.is_empty() {
        whole.to_owned()
    } else {
        format!("{whole}.{rest}")
    }
}

fn invalid(field: &str, reason: String) -> SloError {
    SloError::InvalidConfig {
        field: field.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::THIRTY_DAYS;

    fn factors(policy: &AlertPolicy) -> Vec<f64> {
        policy.rules().iter().map(AlertRule::burn_factor).collect()
    }

    #[test]
    fn validation_names_the_field() {
        let objective = Objective::thirty_days(0.999).unwrap();
        let mut windows = WORKBOOK_WINDOWS.to_vec();
        windows[2].short = windows[2].long;
        let error = AlertPolicy::new(objective, windows).unwrap_err();
        assert!(error.to_string().contains("`windows[2].short`"), "{error}");

        let mut windows = WORKBOOK_WINDOWS.to_vec();
        windows[1].budget_share = 0.0;
        let error = AlertPolicy::new(objective, windows).unwrap_err();
        assert!(
            error.to_string().contains("`windows[1].budget_share`"),
            "{error}"
        );

        let mut windows = WORKBOOK_WINDOWS.to_vec();
        windows[3].long = THIRTY_DAYS + Duration::from_secs(1);
        let error = AlertPolicy::new(objective, windows).unwrap_err();
        assert!(error.to_string().contains("`windows[3].long`"), "{error}");

        assert!(AlertPolicy::new(objective, Vec::new()).is_err());
        // 90 %: the highest burn rate is 10, below the 14.4 page factor.
        let low = Objective::thirty_days(0.9).unwrap();
        let error = AlertPolicy::workbook(low).unwrap_err();
        assert!(
            error.to_string().contains("`windows[0].budget_share`"),
            "{error}"
        );
    }

    #[test]
    fn workbook_fitting_drops_windows_longer_than_a_12h_period() {
        // 12 h period at 99.9 %: 1h/5m factor 0.02 × 12 h ÷ 1 h = 0.24, 6h/30m factor
        // 0.05 × 12 ÷ 6 = 0.1, both below 1 ÷ 0.001 = 1000; 1d and 3d do not fit in 12 h.
        let objective = Objective::new(0.999, Duration::from_secs(12 * HOUR)).unwrap();
        let (policy, skipped) = AlertPolicy::workbook_fitting(objective).unwrap();
        let kept: Vec<AlertWindow> = policy.rules().iter().map(|rule| *rule.window()).collect();
        assert_eq!(kept, WORKBOOK_WINDOWS[..2]);
        let factors = factors(&policy);
        assert!((factors[0] - 0.24).abs() < 1e-12 && (factors[1] - 0.1).abs() < 1e-12);
        assert_eq!(policy.severities(), vec![Severity::Page]);
        assert_eq!(
            skipped,
            vec![
                SkippedWindow {
                    window: WORKBOOK_WINDOWS[2],
                    reason: SkipReason::LongerThanPeriod,
                    period: Duration::from_secs(12 * HOUR),
                },
                SkippedWindow {
                    window: WORKBOOK_WINDOWS[3],
                    reason: SkipReason::LongerThanPeriod,
                    period: Duration::from_secs(12 * HOUR),
                },
            ]
        );
        assert_eq!(
            skipped[0].to_string(),
            "1d/2h: its 1d window is longer than the 12h period"
        );
        assert_eq!(
            skipped[1].to_string(),
            "3d/6h: its 3d window is longer than the 12h period"
        );
        let json = serde_json::to_value(skipped[0]).unwrap();
        assert_eq!(json["window"]["long"], "1d");
        assert_eq!(json["reason"]["kind"], "longer_than_period");
    }

    #[test]
    fn workbook_fitting_drops_unreachable_factors_at_90_percent() {
        // 90 % over 30 days: the highest burn rate is 1 ÷ (1 − 0.9) = 1 ÷ 0.1 = 10. Factors
        // 14.4 (1h/5m, ≥ 10: skipped), 6 (6h/30m), 3 (1d/2h), 1 (3d/6h) are kept.
        let objective = Objective::thirty_days(0.9).unwrap();
        let (policy, skipped) = AlertPolicy::workbook_fitting(objective).unwrap();
        let kept: Vec<AlertWindow> = policy.rules().iter().map(|rule| *rule.window()).collect();
        assert_eq!(kept, WORKBOOK_WINDOWS[1..]);
        assert_eq!(policy.severities(), vec![Severity::Page, Severity::Ticket]);
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].window, WORKBOOK_WINDOWS[0]);
        let SkipReason::FactorUnreachable {
            burn_factor,
            max_burn_rate,
        } = skipped[0].reason
        else {
            panic!("expected an unreachable factor, got {:?}", skipped[0]);
        };
        assert!((burn_factor - 14.4).abs() < 1e-12, "{burn_factor}");
        assert_eq!(max_burn_rate, 10.0);
        assert_eq!(
            skipped[0].to_string(),
            "1h/5m: burn factor 14.4 can never be reached at 90 % (the highest burn rate is 10)"
        );
        // 99.9 % over 30 days keeps all four.
        let (policy, skipped) =
            AlertPolicy::workbook_fitting(Objective::thirty_days(0.999).unwrap()).unwrap();
        assert_eq!(
            policy,
            AlertPolicy::workbook(Objective::thirty_days(0.999).unwrap()).unwrap()
        );
        assert!(skipped.is_empty());
        // 93 % over 30 days: highest burn rate 1 ÷ 0.07 = 14.2857… < 14.4: skipped at 93 %.
        let (_, skipped) =
            AlertPolicy::workbook_fitting(Objective::thirty_days(0.93).unwrap()).unwrap();
        assert_eq!(
            skipped[0].to_string(),
            "1h/5m: burn factor 14.4 can never be reached at 93 % (the highest burn rate is \
             14.2857142857)"
        );
    }

    #[test]
    fn workbook_fitting_fails_when_nothing_fits() {
        // A 30 min period is shorter than every long window (1h, 6h, 1d, 3d).
        let objective = Objective::new(0.999, Duration::from_secs(1800)).unwrap();
        let error = AlertPolicy::workbook_fitting(objective).unwrap_err();
        let SloError::InvalidConfig { field, reason } = &error else {
            panic!("expected InvalidConfig, got {error:?}");
        };
        assert_eq!(field, "period");
        assert!(
            reason.starts_with("no workbook alert window fits 99.9 % over 30m: 1h/5m: its 1h"),
            "{reason}"
        );
        // 90 % over 3660 days (highest burn rate 10): factors 0.02 × 87 840 h = 1756.8,
        // 0.05 × 14 640 = 732, 0.1 × 3660 = 366, 0.1 × 1220 = 122, all ≥ 10.
        let objective = Objective::new(0.9, crate::objective::MAX_PERIOD).unwrap();
        let error = AlertPolicy::workbook_fitting(objective).unwrap_err();
        let SloError::InvalidConfig { field, reason } = &error else {
            panic!("expected InvalidConfig, got {error:?}");
        };
        assert_eq!(field, "objective");
        assert!(
            reason.contains("3d/6h: burn factor 122 can never be reached at 90 %"),
            "{reason}"
        );
    }

    #[test]
    fn percent_labels_shift_the_decimal_digits() {
        assert_eq!(percent_label(0.9), "90");
        assert_eq!(percent_label(0.999), "99.9");
        assert_eq!(percent_label(0.95), "95");
        assert_eq!(percent_label(0.05), "5");
        assert_eq!(percent_label(0.00001), "0.001");
        assert_eq!(percent_label(0.99999), "99.999");
    }

    #[test]
    fn window_table_separates_threshold_and_detection_ratio() {
        let policy = AlertPolicy::workbook(Objective::thirty_days(0.999).unwrap()).unwrap();
        // Threshold = factor × 0.001: 14.4 → 0.0144, 6 → 0.006, 3 → 0.003, 1 → 0.001.
        let table = policy.window_table(0.5);
        for (row, expected) in table.iter().zip([0.0144, 0.006, 0.003, 0.001]) {
            assert!(
                (row.threshold_error_ratio - expected).abs() < 1e-15,
                "{row:?}"
            );
            assert_eq!(row.detection_error_ratio, 0.5);
        }
        let json = serde_json::to_value(table[0]).unwrap();
        assert!((json["threshold_error_ratio"].as_f64().unwrap() - 0.0144).abs() < 1e-15);
        assert_eq!(json["detection_error_ratio"], 0.5);
        assert!(json.get("error_ratio").is_none());
    }

    #[test]
    fn fires_only_strictly_above_the_factor_on_both_windows() {
        let policy = AlertPolicy::workbook(Objective::thirty_days(0.999).unwrap()).unwrap();
        let rule = policy.rules()[1]; // factor 0.05 × 720 / 6 = 6
        let rate = |value| BurnRate::new(value).unwrap();
        assert!(rule.fires(rate(6.5), rate(7.0)));
        assert!(!rule.fires(rate(6.0), rate(7.0)));
        assert!(!rule.fires(rate(7.0), rate(5.0)));
        assert_eq!(policy.severities(), vec![Severity::Page, Severity::Ticket]);
        assert!(factors(&policy).iter().all(|factor| *factor > 0.0));
    }
}
