//! The published cluster tables, cell by cell, and the classification rules.
//!
//! The expected cells are typed from the "software delivery performance" tables of the
//! Accelerate State of DevOps Reports (DORA, Google Cloud) 2024, 2023 and 2021, independently
//! of `ReportYear::profiles`.

use chrono::TimeDelta;
use parky_dora::policy::classify::{
    classify, classify_change_failure_rate, classify_deployment_frequency, classify_lead_time,
    classify_recovery_time, Cluster, DeployCadence, DurationBand, Measurements, ReportYear,
    MONTH_SECONDS,
};
use Cluster::{Elite, High, Low, Medium};

/// (cluster, deployment frequency, lead time, change failure rate, recovery time, share %).
type Row = (
    Cluster,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    u8,
);

const TABLE_2024: [Row; 4] = [
    (
        Elite,
        "On demand (multiple deploys per day)",
        "Less than one day",
        "5%",
        "Less than one hour",
        19,
    ),
    (
        High,
        "Between once per day and once per week",
        "Between one day and one week",
        "20%",
        "Less than one day",
        22,
    ),
    (
        Medium,
        "Between once per week and once per month",
        "Between one week and one month",
        "10%",
        "Less than one day",
        35,
    ),
    (
        Low,
        "Between once per month and once every six months",
        "Between one month and six months",
        "40%",
        "Between one week and one month",
        25,
    ),
];

const TABLE_2023: [Row; 4] = [
    (
        Elite,
        "On demand (multiple deploys per day)",
        "Less than one day",
        "5%",
        "Less than one hour",
        18,
    ),
    (
        High,
        "Between once per day and once per week",
        "Between one day and one week",
        "10%",
        "Less than one day",
        31,
    ),
    (
        Medium,
        "Between once per week and once per month",
        "Between one week and one month",
        "15%",
        "Between one day and one week",
        33,
    ),
    (
        Low,
        "Between once per week and once per month",
        "Between one week and one month",
        "64%",
        "Between one month and six months",
        17,
    ),
];

const TABLE_2021: [Row; 4] = [
    (
        Elite,
        "On demand (multiple deploys per day)",
        "Less than one hour",
        "0%–15%",
        "Less than one hour",
        26,
    ),
    (
        High,
        "Between once per week and once per month",
        "Between one day and one week",
        "16%–30%",
        "Less than one day",
        40,
    ),
    (
        Medium,
        "Between once per month and once every six months",
        "Between one month and six months",
        "16%–30%",
        "Between one day and one week",
        28,
    ),
    (
        Low,
        "Fewer than once per six months",
        "More than six months",
        "16%–30%",
        "More than six months",
        7,
    ),
];

fn table(year: ReportYear) -> [Row; 4] {
    match year {
        ReportYear::Y2021 => TABLE_2021,
        ReportYear::Y2023 => TABLE_2023,
        ReportYear::Y2024 => TABLE_2024,
    }
}

#[test]
fn published_tables_cell_by_cell() {
    for year in ReportYear::ALL {
        for (profile, row) in year.profiles().iter().zip(table(year)) {
            let cells = (
                profile.cluster,
                profile.deployment_frequency.label(),
                profile.lead_time.label(),
                profile.change_failure_rate.label(),
                profile.recovery_time.label(),
                profile.share_pct,
            );
            assert_eq!(
                (
                    cells.0,
                    cells.1,
                    cells.2.as_str(),
                    cells.3.as_str(),
                    cells.4.as_str(),
                    cells.5
                ),
                row,
                "{year}"
            );
        }
        // The shares of respondents add up to 100 % (2024: 19 + 22 + 35 + 25 = 101, rounded
        // in the report; 2023: 99; 2021: 101).
        let total: u32 = year.profiles().iter().map(|p| u32::from(p.share_pct)).sum();
        assert!((99..=101).contains(&total), "{year}: {total}");
    }
}

fn per_day(cadence: DeployCadence) -> f64 {
    // A value well inside each answer.
    match cadence {
        DeployCadence::OnDemand => 3.0,
        DeployCadence::DailyToWeekly => 2.0 / 7.0,
        DeployCadence::WeeklyToMonthly => 1.0 / 14.0,
        DeployCadence::MonthlyToSixMonthly => 1.0 / 60.0,
        DeployCadence::FewerThanSixMonthly => 1.0 / 365.0,
    }
}

fn duration(band: DurationBand) -> TimeDelta {
    match band {
        DurationBand::LessThanHour => TimeDelta::minutes(30),
        DurationBand::HourToDay => TimeDelta::hours(5),
        DurationBand::DayToWeek => TimeDelta::days(3),
        DurationBand::WeekToMonth => TimeDelta::days(14),
        DurationBand::MonthToSixMonths => TimeDelta::days(90),
        DurationBand::MoreThanSixMonths => TimeDelta::days(400),
    }
}

#[test]
fn every_published_profile_is_classed_as_its_own_cluster() {
    // Each profile, at both ends of its published ranges, fed back as a measurement.
    for year in ReportYear::ALL {
        for p in year.profiles() {
            for (lead, recovery, cfr) in [
                (
                    p.lead_time.fastest,
                    p.recovery_time.fastest,
                    p.change_failure_rate.from_pct,
                ),
                (
                    p.lead_time.slowest,
                    p.recovery_time.slowest,
                    p.change_failure_rate.to_pct,
                ),
            ] {
                let m = Measurements {
                    deploys_per_day: per_day(p.deployment_frequency),
                    lead_time_median: Some(duration(lead)),
                    change_failure_rate: Some(f64::from(cfr) / 100.0),
                    recovery_median: Some(duration(recovery)),
                };
                let c = classify(&m, year);
                assert_eq!(c.overall, p.cluster, "{year} {:?}: {c:?}", p.cluster);
            }
        }
    }
}

#[test]
fn the_2024_medium_profile_by_hand() {
    // Weekly–monthly → Medium; 2 weeks → Medium; 10 % meets High's 20 % (tried before
    // Medium's 10 %) → High; 5 h meets High's "less than one day" → High.
    // Overall: the worst, Medium.
    let m = Measurements {
        deploys_per_day: 1.0 / 14.0,
        lead_time_median: Some(TimeDelta::days(14)),
        change_failure_rate: Some(0.10),
        recovery_median: Some(TimeDelta::hours(5)),
    };
    let c = classify(&m, ReportYear::Y2024);
    assert_eq!(
        (
            c.deployment_frequency,
            c.lead_time,
            c.change_failure_rate,
            c.recovery_time,
            c.overall
        ),
        (Medium, Some(Medium), Some(High), Some(High), Medium)
    );
    assert_eq!(c.keys_classified(), 4);
}

#[test]
fn change_failure_rate_per_key_classes() {
    let y24 = ReportYear::Y2024;
    // 2024: Elite 5 %, High 20 %, Medium 10 %, Low 40 %; best met first.
    for (rate, class) in [
        (0.0, Elite),
        (0.05, Elite),
        (0.050_001, High),
        (0.08, High), // meets Medium's 10 % too, but High's 20 % is tried first
        (0.12, High),
        (0.20, High),
        (0.200_001, Low),
        (0.40, Low),
        (1.0, Low),
    ] {
        assert_eq!(
            classify_change_failure_rate(rate, y24),
            class,
            "2024 {rate}"
        );
    }
    // 2023: 5, 10, 15, 64: monotonic.
    for (rate, class) in [
        (0.05, Elite),
        (0.10, High),
        (0.15, Medium),
        (0.16, Low),
        (0.64, Low),
    ] {
        assert_eq!(
            classify_change_failure_rate(rate, ReportYear::Y2023),
            class,
            "2023 {rate}"
        );
    }
    // 2021: 0–15 %, then 16–30 % three times.
    for (rate, class) in [
        (0.15, Elite),
        (0.155, High),
        (0.16, High),
        (0.30, High),
        (0.31, Low),
    ] {
        assert_eq!(
            classify_change_failure_rate(rate, ReportYear::Y2021),
            class,
            "2021 {rate}"
        );
    }
}

#[test]
fn deployment_frequency_boundaries() {
    let month_days = MONTH_SECONDS as f64 / 86_400.0;
    assert_eq!(month_days, 30.436_875);
    let y24 = ReportYear::Y2024;
    for (per_day, class) in [
        (5.0, Elite),
        (1.0, Elite), // one a day on average is "on demand" (documented)
        (0.99, High),
        (1.0 / 7.0, High),
        (0.999 / 7.0, Medium),
        (1.0 / month_days, Medium),
        (0.999 / month_days, Low),
        (1.0 / (6.0 * month_days), Low),
        (0.0, Low),
        (f64::NAN, Low),
    ] {
        assert_eq!(
            classify_deployment_frequency(per_day, y24),
            class,
            "{per_day}"
        );
    }
    // 2021: High is weekly–monthly, so a daily-to-weekly team is High as well; Medium is
    // monthly–six-monthly; Low fewer.
    let y21 = ReportYear::Y2021;
    assert_eq!(classify_deployment_frequency(2.0 / 7.0, y21), High);
    assert_eq!(classify_deployment_frequency(1.0 / 60.0, y21), Medium);
    assert_eq!(classify_deployment_frequency(1.0 / 365.0, y21), Low);
    // 2023: Medium and Low share weekly–monthly: the tie goes to Medium.
    assert_eq!(
        classify_deployment_frequency(1.0 / 14.0, ReportYear::Y2023),
        Medium
    );
    assert_eq!(
        classify_deployment_frequency(1.0 / 60.0, ReportYear::Y2023),
        Low
    );
}

#[test]
fn duration_boundaries() {
    let y24 = ReportYear::Y2024;
    let s = TimeDelta::seconds;
    let day = 86_400;
    // Lead time 2024: < 1 day Elite; [1 d, 1 w) High; [1 w, 1 month) Medium; then Low.
    for (d, class) in [
        (s(day - 1), Elite),
        (s(day) - TimeDelta::nanoseconds(1), Elite),
        (s(day), High),
        (s(7 * day - 1), High),
        (s(7 * day), Medium),
        (s(MONTH_SECONDS - 1), Medium),
        (s(MONTH_SECONDS), Low),
        (s(6 * MONTH_SECONDS), Low),
    ] {
        assert_eq!(classify_lead_time(d, y24), class, "{d}");
    }
    // Recovery 2024: < 1 h Elite; < 1 day High (Medium's "less than one day" ties: High);
    // 1 day – 1 month Low; slower still Low.
    for (d, class) in [
        (s(3_599), Elite),
        (s(3_600), High),
        (s(day - 1), High),
        (s(day), Low),
        (s(60 * day), Low),
    ] {
        assert_eq!(classify_recovery_time(d, y24), class, "{d}");
    }
    // Lead time 2021: Elite needs less than one hour; 5 hours meets High's "one day to one
    // week".
    assert_eq!(classify_lead_time(s(3_599), ReportYear::Y2021), Elite);
    assert_eq!(classify_lead_time(s(5 * 3_600), ReportYear::Y2021), High);
    assert_eq!(
        DurationBand::from_duration(s(-5)),
        DurationBand::LessThanHour
    );
}

#[test]
fn overall_is_the_worst_classified_key() {
    // No lead time or recovery measured: only frequency (Elite) and CFR (High) count.
    let m = Measurements {
        deploys_per_day: 2.0,
        lead_time_median: None,
        change_failure_rate: Some(0.15),
        recovery_median: None,
    };
    let c = classify(&m, ReportYear::Y2024);
    assert_eq!(
        (c.lead_time, c.recovery_time, c.overall),
        (None, None, High)
    );
    assert_eq!(c.keys_classified(), 2);
    // Zero deployments: frequency Low, nothing else: Low.
    let none = Measurements {
        deploys_per_day: 0.0,
        lead_time_median: None,
        change_failure_rate: None,
        recovery_median: None,
    };
    let c = classify(&none, ReportYear::Y2024);
    assert_eq!(
        (c.deployment_frequency, c.overall, c.keys_classified()),
        (Low, Low, 1)
    );
}

#[test]
fn report_years_parse_and_serialize() {
    assert_eq!(ReportYear::default(), ReportYear::Y2024);
    assert_eq!("2023".parse::<ReportYear>().ok(), Some(ReportYear::Y2023));
    let err = "2022".parse::<ReportYear>().expect_err("no 2022 clusters");
    assert!(
        matches!(err, parky_dora::DoraError::InvalidConfig { ref field, .. } if field == "year")
    );
    assert_eq!(
        serde_json::to_string(&ReportYear::Y2021).ok().as_deref(),
        Some("2021")
    );
    assert_eq!(
        serde_json::from_str::<ReportYear>("2024").ok(),
        Some(ReportYear::Y2024)
    );
    assert!(serde_json::from_str::<ReportYear>("2019").is_err());
    assert_eq!(
        serde_json::to_string(&Cluster::Medium).ok().as_deref(),
        Some("\"medium\"")
    );
}
