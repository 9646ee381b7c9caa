//! Classification against the performance clusters of the Accelerate State of DevOps reports.
//!
//! # The published tables
//!
//! Each report's cluster analysis of its survey gives four clusters (Elite, High, Medium,
//! Low) and, for each, the typical answer on each key. The tables below are those of the
//! reports, typed from their "software delivery performance" tables (DORA, Google Cloud:
//! *Accelerate State of DevOps Report* 2024, 2023 and 2021, <https://dora.dev/research/>);
//! [`ReportYear::profiles`] holds them and a test spells every cell out again.
//!
//! **2024** (the default)
//!
//! | | Elite | High | Medium | Low |
//! |---|---|---|---|---|
//! | Deployment frequency | On demand (multiple deploys per day) | Between once per day and once per week | Between once per week and once per month | Between once per month and once every six months |
//! | Change lead time | Less than one day | Between one day and one week | Between one week and one month | Between one month and six months |
//! | Change fail rate | 5% | 20% | 10% | 40% |
//! | Failed deployment recovery time | Less than one hour | Less than one day | Less than one day | Between one week and one month |
//! | Share of respondents | 19% | 22% | 35% | 25% |
//!
//! **2023**
//!
//! | | Elite | High | Medium | Low |
//! |---|---|---|---|---|
//! | Deployment frequency | On demand (multiple deploys per day) | Between once per day and once per week | Between once per week and once per month | Between once per week and once per month |
//! | Change lead time | Less than one day | Between one day and one week | Between one week and one month | Between one week and one month |
//! | Change failure rate | 5% | 10% | 15% | 64% |
//! | Failed deployment recovery time | Less than one hour | Less than one day | Between one day and one week | Between one month and six months |
//! | Share of respondents | 18% | 31% | 33% | 17% |
//!
//! **2021**
//!
//! | | Elite | High | Medium | Low |
//! |---|---|---|---|---|
//! | Deployment frequency | On demand (multiple deploys per day) | Between once per week and once per month | Between once per month and once every six months | Fewer than once per six months |
//! | Lead time for changes | Less than one hour | Between one day and one week | Between one month and six months | More than six months |
//! | Time to restore service | Less than one hour | Less than one day | Between one day and one week | More than six months |
//! | Change failure rate | 0%–15% | 16%–30% | 16%–30% | 16%–30% |
//! | Share of respondents | 26% | 40% | 28% | 7% |
//!
//! (2022's report found no Elite cluster and is not offered.)
//!
//! # From a measurement to a survey answer
//!
//! The published values are survey answers, so a measurement is first placed on the answer
//! scale. A month is the mean Gregorian month, 365.2425 / 12 = 30.436875 days; six months
//! are six of them. A value exactly on a boundary gets the faster answer for frequencies and
//! the slower band for durations (bands are half-open):
//!
//! - deployment frequency ([`DeployCadence::from_per_day`]) from successful deployments per
//!   day `d`: on demand when `d ≥ 1` (at least one a day on average: a daily average cannot
//!   tell "once a day" from "several on most days", and the 2024 High answer begins at "once per
//!   day", so a team at exactly one a day is placed with the faster answer); between once per
//!   day and once per week when `d ≥ 1/7`; between once per week and once per month when
//!   `d ≥ 1/month`; between once per month and once every six months when `d ≥ 1/(6 months)`;
//!   fewer otherwise (including no deployment at all).
//! - durations ([`DurationBand::from_duration`]), half-open: less than one hour, `[1 h, 1 d)`,
//!   `[1 d, 1 week)`, `[1 week, 1 month)`, `[1 month, 6 months)`, six months or more. So
//!   "less than one day" means strictly less than 24 hours.
//! - change failure rate: a published single value (5 %) is met by a rate at or below it; a
//!   range (0–15 %) by a rate at or below its upper end.
//!
//! # The rule for a key's class
//!
//! **A key's class is the best cluster whose published value the measurement meets** (is at
//! least as good as): the clusters are tried from Elite to Low, and the first met wins;
//! below every published value, the class is Low. For a published range ("less than one day",
//! "between one day and one week") *meeting* means being no slower than its slow end.
//!
//! This is the same rule for all four keys, and it is monotonic: a better measurement never
//! gets a worse class. That matters for change failure rate, which the 2024 clusters do not
//! order (High 20 %, Medium 10 %): a rate of 12 % meets High's 20 % and is classed High on that
//! key (not Medium, which its 10 % would suggest), and a rate of 8 % is High too, since
//! meeting 20 % comes before meeting 10 % in the Elite-to-Low order. Per key, 2024's change
//! failure rate therefore has the classes Elite (≤ 5 %), High (≤ 20 %) and Low (above 20 %).
//! Ties in a table (2024 recovery: High and Medium both "less than one day"; 2023 frequency
//! and lead time: Medium and Low alike) go to the better cluster.
//!
//! # The rule for the overall class
//!
//! **The overall class is the worst of the key classes** (over the keys that could be
//! measured: a window without failures has no recovery time). A team is as good as its
//! weakest key. The rule is defended by three properties, each tested:
//!
//! 1. *It reproduces the tables*: every published cluster profile, fed in as a measurement,
//!    is classed as its own cluster, in each of the three years, despite 2024's non-monotonic
//!    change failure rate and 2023's identical Medium and Low throughput (their change failure
//!    rate and recovery time tell them apart).
//! 2. *It is monotonic*: improving any key never lowers the overall class.
//! 3. *No single metric decides*: the class needs every key at that level.
//!
//! The alternative of "the nearest cluster profile" was rejected: it needs a distance that
//! mixes frequencies, durations and percentages (any weighting would be ours, not the
//! report's), and it is not monotonic with 2024's change failure rates (lowering a 20 % rate
//! to 10 % could move a team from High to Medium).

use std::fmt;
use std::str::FromStr;

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use super::keys::FourKeys;
use crate::error::DoraError;

/// The mean Gregorian month in seconds: 365.2425 days / 12 = 30.436875 days.
pub const MONTH_SECONDS: i64 = 2_629_746;

/// A performance cluster of the State of DevOps reports, best first (`Elite < Low`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cluster {
    /// The best cluster.
    Elite,
    /// The second.
    High,
    /// The third.
    Medium,
    /// The last.
    Low,
}

impl Cluster {
    /// All clusters, best first.
    pub const ALL: [Cluster; 4] = [Cluster::Elite, Cluster::High, Cluster::Medium, Cluster::Low];

    /// `"Elite"`, `"High"`, `"Medium"` or `"Low"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Cluster::Elite => "Elite",
            Cluster::High => "High",
            Cluster::Medium => "Medium",
            Cluster::Low => "Low",
        }
    }
}

impl fmt::Display for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The report whose clusters are used. 2024 is the default. In JSON, the year as a number.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(try_from = "u16", into = "u16")]
pub enum ReportYear {
    /// Accelerate State of DevOps Report 2021.
    Y2021,
    /// Accelerate State of DevOps Report 2023.
    Y2023,
    /// Accelerate State of DevOps Report 2024.
    #[default]
    Y2024,
}

impl ReportYear {
    /// Every supported year, oldest first.
    pub const ALL: [ReportYear; 3] = [ReportYear::Y2021, ReportYear::Y2023, ReportYear::Y2024];

    /// The year as a number.
    #[must_use]
    pub fn number(self) -> u16 {
        match self {
            ReportYear::Y2021 => 2021,
            ReportYear::Y2023 => 2023,
            ReportYear::Y2024 => 2024,
        }
    }

    /// The report's title.
    #[must_use]
    pub fn source(self) -> &'static str {
        match self {
            ReportYear::Y2021 => "Accelerate State of DevOps Report 2021 (DORA, Google Cloud)",
            ReportYear::Y2023 => "Accelerate State of DevOps Report 2023 (DORA, Google Cloud)",
            ReportYear::Y2024 => "Accelerate State of DevOps Report 2024 (DORA, Google Cloud)",
        }
    }

    /// The report's four cluster profiles, Elite first (see the module docs for the tables).
    #[must_use]
    pub fn profiles(self) -> &'static [ClusterProfile; 4] {
        match self {
            ReportYear::Y2021 => &PROFILES_2021,
            ReportYear::Y2023 => &PROFILES_2023,
            ReportYear::Y2024 => &PROFILES_2024,
        }
    }
}

impl From<ReportYear> for u16 {
    fn from(y: ReportYear) -> u16 {
        y.number()
    }
}

impl TryFrom<u16> for ReportYear {
    type Error = DoraError;

    fn try_from(year: u16) -> Result<Self, DoraError> {
        ReportYear::ALL
            .into_iter()
            .find(|y| y.number() == year)
            .ok_or_else(|| DoraError::InvalidConfig {
                field: "year".to_owned(),
                reason: format!("{year} is not a supported report year (2021, 2023 or 2024)"),
            })
    }
}

impl FromStr for ReportYear {
    type Err = DoraError;

    fn from_str(s: &str) -> Result<Self, DoraError> {
        let year: u16 = s.trim().parse().map_err(|_| DoraError::InvalidConfig {
            field: "year".to_owned(),
            reason: format!("`{s}` is not a year"),
        })?;
        ReportYear::try_from(year)
    }
}

impl fmt::Display for ReportYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

/// Survey answers for deployment frequency, fastest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployCadence {
    /// On demand (multiple deploys per day).
    OnDemand,
    /// Between once per day and once per week.
    DailyToWeekly,
    /// Between once per week and once per month.
    WeeklyToMonthly,
    /// Between once per month and once every six months.
    MonthlyToSixMonthly,
    /// Fewer than once per six months.
    FewerThanSixMonthly,
}

impl DeployCadence {
    /// The answer for `per_day` successful deployments per day (see the module docs).
    #[must_use]
    pub fn from_per_day(per_day: f64) -> Self {
        let month_days = MONTH_SECONDS as f64 / 86_400.0;
        if per_day >= 1.0 {
            DeployCadence::OnDemand
        } else if per_day >= 1.0 / 7.0 {
            DeployCadence::DailyToWeekly
        } else if per_day >= 1.0 / month_days {
            DeployCadence::WeeklyToMonthly
        } else if per_day >= 1.0 / (6.0 * month_days) {
            DeployCadence::MonthlyToSixMonthly
        } else {
            // Also NaN, which no window produces.
            DeployCadence::FewerThanSixMonthly
        }
    }

    /// The answer's wording in the reports.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            DeployCadence::OnDemand => "On demand (multiple deploys per day)",
            DeployCadence::DailyToWeekly => "Between once per day and once per week",
            DeployCadence::WeeklyToMonthly => "Between once per week and once per month",
            DeployCadence::MonthlyToSixMonthly => {
                "Between once per month and once every six months"
            }
            DeployCadence::FewerThanSixMonthly => "Fewer than once per six months",
        }
    }
}

/// Survey answers for a duration (lead time, recovery time), shortest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DurationBand {
    /// Less than one hour.
    LessThanHour,
    /// One hour to less than one day.
    HourToDay,
    /// One day to less than one week.
    DayToWeek,
    /// One week to less than one month.
    WeekToMonth,
    /// One month to less than six months.
    MonthToSixMonths,
    /// Six months or more.
    MoreThanSixMonths,
}

impl DurationBand {
    /// The band of `d` (half-open bands; negative durations are "less than one hour").
    #[must_use]
    pub fn from_duration(d: TimeDelta) -> Self {
        // Whole seconds, truncated towards zero: `d < limit` exactly when `secs < limit` for
        // the positive limits below.
        let secs = d.num_seconds();
        let below = |limit: i64| secs < limit;
        if below(3_600) {
            DurationBand::LessThanHour
        } else if below(86_400) {
            DurationBand::HourToDay
        } else if below(7 * 86_400) {
            DurationBand::DayToWeek
        } else if below(MONTH_SECONDS) {
            DurationBand::WeekToMonth
        } else if below(6 * MONTH_SECONDS) {
            DurationBand::MonthToSixMonths
        } else {
            DurationBand::MoreThanSixMonths
        }
    }

    fn lower(self) -> Option<&'static str> {
        match self {
            DurationBand::LessThanHour => None,
            DurationBand::HourToDay => Some("one hour"),
            DurationBand::DayToWeek => Some("one day"),
            DurationBand::WeekToMonth => Some("one week"),
            DurationBand::MonthToSixMonths => Some("one month"),
            DurationBand::MoreThanSixMonths => Some("six months"),
        }
    }

    fn upper(self) -> Option<&'static str> {
        match self {
            DurationBand::LessThanHour => Some("one hour"),
            DurationBand::HourToDay => Some("one day"),
            DurationBand::DayToWeek => Some("one week"),
            DurationBand::WeekToMonth => Some("one month"),
            DurationBand::MonthToSixMonths => Some("six months"),
            DurationBand::MoreThanSixMonths => None,
        }
    }
}

/// A published duration answer: the bands from `fastest` to `slowest` (e.g. "less than one
/// day" is `LessThanHour..=HourToDay`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DurationRange {
    /// The fastest band included.
    pub fastest: DurationBand,
    /// The slowest band included.
    pub slowest: DurationBand,
}

impl DurationRange {
    const fn new(fastest: DurationBand, slowest: DurationBand) -> Self {
        Self { fastest, slowest }
    }

    /// The wording in the reports, e.g. "Less than one day", "Between one week and one month".
    #[must_use]
    pub fn label(self) -> String {
        match (self.fastest.lower(), self.slowest.upper()) {
            (None, Some(upper)) => format!("Less than {upper}"),
            (Some(lower), None) => format!("More than {lower}"),
            (Some(lower), Some(upper)) => format!("Between {lower} and {upper}"),
            (None, None) => "Any duration".to_owned(),
        }
    }

    /// Whether a duration in `band` is no slower than this range's slow end.
    #[must_use]
    pub fn is_met_by(self, band: DurationBand) -> bool {
        band <= self.slowest
    }
}

/// A published change failure rate: a single value (`from_pct == to_pct`) or a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FailureRange {
    /// Lower end, percent.
    pub from_pct: u8,
    /// Upper end, percent.
    pub to_pct: u8,
}

impl FailureRange {
    const fn single(pct: u8) -> Self {
        Self {
            from_pct: pct,
            to_pct: pct,
        }
    }

    /// The wording in the reports: "5%" or "16%–30%".
    #[must_use]
    pub fn label(self) -> String {
        if self.from_pct == self.to_pct {
            format!("{}%", self.to_pct)
        } else {
            format!("{}%–{}%", self.from_pct, self.to_pct)
        }
    }

    /// Whether `rate` (a fraction in `[0, 1]`) is at or below the upper end.
    #[must_use]
    pub fn is_met_by(self, rate: f64) -> bool {
        rate <= f64::from(self.to_pct) / 100.0
    }
}

/// One cluster's row of a report's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClusterProfile {
    /// The cluster.
    pub cluster: Cluster,
    /// Deployment frequency.
    pub deployment_frequency: DeployCadence,
    /// Lead time for changes.
    pub lead_time: DurationRange,
    /// Change failure rate.
    pub change_failure_rate: FailureRange,
    /// Failed deployment recovery time (time to restore service in 2021).
    pub recovery_time: DurationRange,
    /// Share of the survey's respondents in the cluster, percent.
    pub share_pct: u8,
}

use DurationBand as B;

const PROFILES_2024: [ClusterProfile; 4] = [
    ClusterProfile {
        cluster: Cluster::Elite,
        deployment_frequency: DeployCadence::OnDemand,
        lead_time: DurationRange::new(B::LessThanHour, B::HourToDay),
        change_failure_rate: FailureRange::single(5),
        recovery_time: DurationRange::new(B::LessThanHour, B::LessThanHour),
        share_pct: 19,
    },
    ClusterProfile {
        cluster: Cluster::High,
        deployment_frequency: DeployCadence::DailyToWeekly,
        lead_time: DurationRange::new(B::DayToWeek, B::DayToWeek),
        change_failure_rate: FailureRange::single(20),
        recovery_time: DurationRange::new(B::LessThanHour, B::HourToDay),
        share_pct: 22,
    },
    ClusterProfile {
        cluster: Cluster::Medium,
        deployment_frequency: DeployCadence::WeeklyToMonthly,
        lead_time: DurationRange::new(B::WeekToMonth, B::WeekToMonth),
        change_failure_rate: FailureRange::single(10),
        recovery_time: DurationRange::new(B::LessThanHour, B::HourToDay),
        share_pct: 35,
    },
    ClusterProfile {
        cluster: Cluster::Low,
        deployment_frequency: DeployCadence::MonthlyToSixMonthly,
        lead_time: DurationRange::new(B::MonthToSixMonths, B::MonthToSixMonths),
        change_failure_rate: FailureRange::single(40),
        recovery_time: DurationRange::new(B::WeekToMonth, B::WeekToMonth),
        share_pct: 25,
    },
];

const PROFILES_2023: [ClusterProfile; 4] = [
    ClusterProfile {
        cluster: Cluster::Elite,
        deployment_frequency: DeployCadence::OnDemand,
        lead_time: DurationRange::new(B::LessThanHour, B::HourToDay),
        change_failure_rate: FailureRange::single(5),
        recovery_time: DurationRange::new(B::LessThanHour, B::LessThanHour),
        share_pct: 18,
    },
    ClusterProfile {
        cluster: Cluster::High,
        deployment_frequency: DeployCadence::DailyToWeekly,
        lead_time: DurationRange::new(B::DayToWeek, B::DayToWeek),
        change_failure_rate: FailureRange::single(10),
        recovery_time: DurationRange::new(B::LessThanHour, B::HourToDay),
        share_pct: 31,
    },
    ClusterProfile {
        cluster: Cluster::Medium,
        deployment_frequency: DeployCadence::WeeklyToMonthly,
        lead_time: DurationRange::new(B::WeekToMonth, B::WeekToMonth),
        change_failure_rate: FailureRange::single(15),
        recovery_time: DurationRange::new(B::DayToWeek, B::DayToWeek),
        share_pct: 33,
    },
    ClusterProfile {
        cluster: Cluster::Low,
        deployment_frequency: DeployCadence::WeeklyToMonthly,
        lead_time: DurationRange::new(B::WeekToMonth, B::WeekToMonth),
        change_failure_rate: FailureRange::single(64),
        recovery_time: DurationRange::new(B::MonthToSixMonths, B::MonthToSixMonths),
        share_pct: 17,
    },
];

const PROFILES_2021: [ClusterProfile; 4] = [
    ClusterProfile {
        cluster: Cluster::Elite,
        deployment_frequency: DeployCadence::OnDemand,
        lead_time: DurationRange::new(B::LessThanHour, B::LessThanHour),
        change_failure_rate: FailureRange {
            from_pct: 0,
            to_pct: 15,
        },
        recovery_time: DurationRange::new(B::LessThanHour, B::LessThanHour),
        share_pct: 26,
    },
    ClusterProfile {
        cluster: Cluster::High,
        deployment_frequency: DeployCadence::WeeklyToMonthly,
        lead_time: DurationRange::new(B::DayToWeek, B::DayToWeek),
        change_failure_rate: FailureRange {
            from_pct: 16,
            to_pct: 30,
        },
        recovery_time: DurationRange::new(B::LessThanHour, B::HourToDay),
        share_pct: 40,
    },
    ClusterProfile {
        cluster: Cluster::Medium,
        deployment_frequency: DeployCadence::MonthlyToSixMonthly,
        lead_time: DurationRange::new(B::MonthToSixMonths, B::MonthToSixMonths),
        change_failure_rate: FailureRange {
            from_pct: 16,
            to_pct: 30,
        },
        recovery_time: DurationRange::new(B::DayToWeek, B::DayToWeek),
        share_pct: 28,
    },
    ClusterProfile {
        cluster: Cluster::Low,
        deployment_frequency: DeployCadence::FewerThanSixMonthly,
        lead_time: DurationRange::new(B::MoreThanSixMonths, B::MoreThanSixMonths),
        change_failure_rate: FailureRange {
            from_pct: 16,
            to_pct: 30,
        },
        recovery_time: DurationRange::new(B::MoreThanSixMonths, B::MoreThanSixMonths),
        share_pct: 7,
    },
];

/// The measured values a classification reads.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Measurements {
    /// Successful deployments per day.
    pub deploys_per_day: f64,
    /// Median lead time for changes, if any was measured.
    pub lead_time_median: Option<TimeDelta>,
    /// Change failure rate in `[0, 1]`, if any deployment completed.
    pub change_failure_rate: Option<f64>,
    /// Median failed deployment recovery time, if any failure recovered.
    pub recovery_median: Option<TimeDelta>,
}

impl From<&FourKeys> for Measurements {
    fn from(keys: &FourKeys) -> Self {
        Self {
            deploys_per_day: keys.deployment_frequency.per_day,
            lead_time_median: keys.lead_time.summary.map(|s| s.median),
            change_failure_rate: keys.change_failure_rate.rate,
            recovery_median: keys.recovery_time.summary.map(|s| s.median),
        }
    }
}

/// The class of each key and of the whole (see the module docs for the rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    /// The report whose clusters were used.
    pub year: ReportYear,
    /// Deployment frequency's class (always measured: no deployment is a frequency of 0).
    pub deployment_frequency: Cluster,
    /// Lead time's class; `None` without a measured lead time.
    pub lead_time: Option<Cluster>,
    /// Change failure rate's class; `None` without a completed deployment.
    pub change_failure_rate: Option<Cluster>,
    /// Recovery time's class; `None` without a recovered failure.
    pub recovery_time: Option<Cluster>,
    /// The worst of the key classes above.
    pub overall: Cluster,
}

impl Classification {
    /// How many of the four keys had a value to classify.
    #[must_use]
    pub fn keys_classified(&self) -> usize {
        1 + [self.lead_time, self.change_failure_rate, self.recovery_time]
            .iter()
            .filter(|c| c.is_some())
            .count()
    }
}

/// The best cluster of `year` whose value `meets` accepts; Low when none does.
fn best_met(year: ReportYear, meets: impl Fn(&ClusterProfile) -> bool) -> Cluster {
    year.profiles()
        .iter()
        .find(|p| meets(p))
        .map_or(Cluster::Low, |p| p.cluster)
}

/// Deployment frequency's class for `per_day` successful deployments a day.
#[must_use]
pub fn classify_deployment_frequency(per_day: f64, year: ReportYear) -> Cluster {
    let cadence = DeployCadence::from_per_day(per_day);
    best_met(year, |p| cadence <= p.deployment_frequency)
}

/// Lead time's class for a median lead time.
#[must_use]
pub fn classify_lead_time(median: TimeDelta, year: ReportYear) -> Cluster {
    let band = DurationBand::from_duration(median);
    best_met(year, |p| p.lead_time.is_met_by(band))
}

/// Change failure rate's class for a rate in `[0, 1]`.
#[must_use]
pub fn classify_change_failure_rate(rate: f64, year: ReportYear) -> Cluster {
    best_met(year, |p| p.change_failure_rate.is_met_by(rate))
}

/// Recovery time's class for a median recovery time.
#[must_use]
pub fn classify_recovery_time(median: TimeDelta, year: ReportYear) -> Cluster {
    let band = DurationBand::from_duration(median);
    best_met(year, |p| p.recovery_time.is_met_by(band))
}

/// Classify `m` against `year`'s clusters.
#[must_use]
pub fn classify(m: &Measurements, year: ReportYear) -> Classification {
    let deployment_frequency = classify_deployment_frequency(m.deploys_per_day, year);
    let lead_time = m.lead_time_median.map(|d| classify_lead_time(d, year));
    let change_failure_rate = m
        .change_failure_rate
        .map(|r| classify_change_failure_rate(r, year));
    let recovery_time = m.recovery_median.map(|d| classify_recovery_time(d, year));
    let overall = [lead_time, change_failure_rate, recovery_time]
        .into_iter()
        .flatten()
        .fold(deployment_frequency, Ord::max);
    Classification {
        year,
        deployment_frequency,
        lead_time,
        change_failure_rate,
        recovery_time,
        overall,
    }
}

/// Classify computed keys against `year`'s clusters.
#[must_use]
pub fn classify_keys(keys: &FourKeys, year: ReportYear) -> Classification {
    classify(&Measurements::from(keys), year)
}
