//! Burn-rate alerting end to end: workbook tables, detection and reset times, zero traffic,
//! memory bounds, and invariants (monotonic burn rates, merge algebra, chunking).
//!
//! Every expected value is computed by hand in the comment next to it.

use std::time::Duration;

use parky_slo::evaluator::{AlertPhase, AlertTransition, SloEvaluator};
use parky_slo::model::SliEvent;
use parky_slo::objective::{Objective, THIRTY_DAYS};
use parky_slo::policy::alert::{AlertPolicy, AlertWindow, Severity, WORKBOOK_WINDOWS};
use parky_slo::window::{Counts, WindowedCounter, DEFAULT_RESOLUTION};
use proptest::prelude::*;

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
/// 2024-05-01T00:00:00Z, a whole minute.
const T0_S: i64 = 1_714_521_600;
/// Three days: fills every workbook window with steady traffic before the incident.
const WARM_UP_S: i64 = 3 * 86_400;

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0)
}

fn workbook_999() -> AlertPolicy {
    AlertPolicy::workbook(Objective::thirty_days(0.999).unwrap()).unwrap()
}

/// Feeds `per_second` requests in every second of `[from_s, to_s)`, evenly spread; the first
/// `bad(second)` of each second are bad.
fn steady(
    evaluator: &mut SloEvaluator,
    from_s: i64,
    to_s: i64,
    per_second: i64,
    bad: impl Fn(i64) -> i64,
) {
    for second in from_s..to_s {
        let bad_now = bad(second);
        for i in 0..per_second {
            evaluator.record(second * 1000 + i * 1000 / per_second, i >= bad_now);
        }
    }
}

#[test]
fn workbook_burn_factors_for_30_and_28_days() {
    // 30 d = 720 h: 0.02 × 720 / 1 = 14.4; 0.05 × 720 / 6 = 6; 0.10 × 720 / 24 = 3;
    // 0.10 × 720 / 72 = 1.
    let thirty = workbook_999();
    let factors: Vec<f64> = thirty
        .rules()
        .iter()
        .map(|rule| rule.burn_factor())
        .collect();
    for (actual, expected) in factors.iter().zip([14.4, 6.0, 3.0, 1.0]) {
        assert!(close(*actual, expected), "{factors:?}");
    }
    // 28 d = 672 h: 0.02 × 672 = 13.44; 0.05 × 672 / 6 = 5.6; 0.10 × 672 / 24 = 2.8;
    // 0.10 × 672 / 72 = 0.9333….
    let twenty_eight = AlertPolicy::workbook(Objective::twenty_eight_days(0.999).unwrap()).unwrap();
    let factors: Vec<f64> = twenty_eight
        .rules()
        .iter()
        .map(|rule| rule.burn_factor())
        .collect();
    for (actual, expected) in factors.iter().zip([13.44, 5.6, 2.8, 2.8 / 3.0]) {
        assert!(close(*actual, expected), "{factors:?}");
    }
    let severities: Vec<Severity> = thirty.rules().iter().map(|rule| rule.severity()).collect();
    assert_eq!(
        severities,
        [
            Severity::Page,
            Severity::Page,
            Severity::Ticket,
            Severity::Ticket
        ]
    );
}

#[test]
fn detection_times_follow_the_workbook_formula() {
    let policy = workbook_999();
    // Total outage, ((1 − SLO) ÷ e) × long × factor with 1 − SLO = 0.001, e = 1:
    // 1h: 0.001 × 3600 × 14.4 = 51.84 s; 6h: 0.001 × 21600 × 6 = 129.6 s;
    // 1d: 0.001 × 86400 × 3 = 259.2 s; 3d: 0.001 × 259200 × 1 = 259.2 s.
    let table = policy.window_table(1.0);
    let seconds: Vec<f64> = table
        .iter()
        .map(|row| row.detection_time.unwrap().as_secs_f64())
        .collect();
    for (actual, expected) in seconds.iter().zip([51.84, 129.6, 259.2, 259.2]) {
        assert!(close(*actual, expected), "{seconds:?}");
    }
    // e = 10 % on the page pair: (0.001 / 0.1) × 3600 × 14.4 = 518.4 s.
    let page = policy.rules()[0];
    assert!(close(
        page.detection_time(0.1).unwrap().as_secs_f64(),
        518.4
    ));
    // e = 1 %: burn rate 10, not above 14.4: never fires. Out-of-range ratios: None.
    assert_eq!(page.detection_time(0.01), None);
    assert_eq!(page.detection_time(0.0), None);
    assert_eq!(page.detection_time(f64::NAN), None);

    let json = serde_json::to_value(table[0]).unwrap();
    assert_eq!(json["severity"], "page");
    assert_eq!(json["long_window"], "1h");
    assert_eq!(json["short_window"], "5m");
    // The ratio the detection time is computed for, and the alert threshold itself:
    // 14.4 × (1 − 0.999) = 0.0144 (1.44 % of requests bad).
    assert_eq!(json["detection_error_ratio"], 1.0);
    assert!(close(
        json["threshold_error_ratio"].as_f64().unwrap(),
        0.0144
    ));
    assert!(json.get("error_ratio").is_none());
    assert!(close(
        json["detection_time_seconds"].as_f64().unwrap(),
        51.84
    ));
}

#[test]
fn total_outage_pages_after_52_seconds_at_one_second_resolution_and_resets() {
    let mut evaluator = SloEvaluator::new(workbook_999(), SECOND).unwrap();
    // 1 request/s; a total outage in [T0, T0 + 100 s), good traffic until T0 + 1000 s.
    steady(&mut evaluator, T0_S - WARM_UP_S, T0_S + 1000, 1, |second| {
        i64::from((T0_S..T0_S + 100).contains(&second))
    });
    let status = evaluator.status((T0_S + 1000) * 1000);
    let timeline = evaluator.timeline();
    assert_eq!(timeline.len(), 2, "{timeline:#?}");

    // Fires when the 1h window's burn rate exceeds 14.4: k bad seconds of 3600 give
    // (k / 3600) / 0.001 = k / 3.6 > 14.4 ⇔ k > 51.84 ⇔ k = 52 → T0 + 52 s. Long burn rate
    // 52 / 3.6 = 14.444…; short window: 52 bad of 300 → 52 / 0.3 = 173.33….
    let fired = timeline[0];
    assert_eq!(fired.at_ms, (T0_S + 52) * 1000);
    assert_eq!(fired.state, AlertPhase::Firing);
    assert_eq!(fired.severity, Severity::Page);
    assert_eq!((fired.long_window, fired.short_window), (HOUR, MINUTE * 5));
    assert!(close(fired.long_burn_rate.value(), 52.0 / 3.6));
    assert!(close(fired.short_burn_rate.value(), 52.0 / 0.3));

    // Errors stop at S = T0 + 100 s. At S + k (k ≥ 200) the 5m window holds 300 − k bad of
    // 300: (300 − k) / 0.3 > 14.4 ⇔ k < 295.68, so it resolves at k = 296 → T0 + 396 s, about
    // one short window after the errors stopped. Long window then: 100 / 3.6 = 27.78; short:
    // 4 / 0.3 = 13.33. The 6h/30m pair never fires: 100 bad of 21600 is a burn rate of 4.63.
    let resolved = timeline[1];
    assert_eq!(resolved.at_ms, (T0_S + 396) * 1000);
    assert_eq!(resolved.state, AlertPhase::Resolved);
    assert_eq!(
        (resolved.long_window, resolved.short_window),
        (HOUR, MINUTE * 5)
    );
    assert!(close(resolved.long_burn_rate.value(), 100.0 / 3.6));
    assert!(close(resolved.short_burn_rate.value(), 4.0 / 0.3));

    // Period totals: 3 d + 1000 s at 1 request/s = 260 200 requests, 100 bad.
    // Consumed: 100 / (0.001 × 260 200) = 0.384320….
    assert_eq!(
        (status.requests, status.bad, status.good),
        (260_200, 100, 260_100)
    );
    assert!(close(status.sli.unwrap(), 260_100.0 / 260_200.0));
    assert!(close(status.budget_consumed, 100.0 / 260.2));
    assert!(close(status.budget_remaining, 1.0 - 100.0 / 260.2));
    assert!(status.alerts.iter().all(|alert| !alert.firing));
    // The last hour still holds the outage: burn rate 100 / 3.6 = 27.78, so the budget left
    // lasts (1 − 100 / 260.2) × 2 592 000 s / 27.78 = 57 450.36 s.
    assert_eq!(status.exhaustion_window, HOUR);
    let expected = (1.0 - 100.0 / 260.2) * 2_592_000.0 / (100.0 / 3.6);
    let actual = status.time_to_exhaustion.unwrap().as_secs_f64();
    assert!((actual - expected).abs() < 1e-3, "{actual} vs {expected}");
    // An hour later the last hour is all good: burn rate 0, the budget is not being spent.
    let later = evaluator.status((T0_S + 1000 + 3600) * 1000);
    assert_eq!(later.time_to_exhaustion, None);
}

#[test]
fn total_outage_pages_at_the_first_minute_boundary_at_one_minute_resolution() {
    let mut evaluator = SloEvaluator::with_default_resolution(workbook_999()).unwrap();
    // 1 request/s; total outage in [T0, T0 + 120 s).
    steady(&mut evaluator, T0_S - WARM_UP_S, T0_S + 900, 1, |second| {
        i64::from((T0_S..T0_S + 120).contains(&second))
    });
    evaluator.advance_to((T0_S + 900) * 1000);
    let timeline = evaluator.timeline();
    assert_eq!(timeline.len(), 2, "{timeline:#?}");
    // First boundary T0 + 60 s: 1h window 60 bad of 3600 → 60 / 3.6 = 16.67 > 14.4; 5m window
    // 60 bad of 300 → 200 > 14.4.
    assert_eq!(timeline[0].at_ms, (T0_S + 60) * 1000);
    assert_eq!(timeline[0].state, AlertPhase::Firing);
    assert!(close(timeline[0].long_burn_rate.value(), 60.0 / 3.6));
    assert!(close(timeline[0].short_burn_rate.value(), 200.0));
    // The 5m window [t − 300 s, t) holds a bad minute until it starts at T0 + 120 s, i.e. at
    // t = T0 + 420 s it is all good → resolved (5 minutes after the errors stopped). The 1h
    // window holds 120 bad: 120 / 3.6 = 33.33. 6h/30m: 120 bad of 21600 → 5.56, never above 6;
    // tickets: 120 / 86.4 = 1.39 < 3 and 120 / 259.2 = 0.46 < 1.
    assert_eq!(timeline[1].at_ms, (T0_S + 420) * 1000);
    assert_eq!(timeline[1].state, AlertPhase::Resolved);
    assert!(close(timeline[1].long_burn_rate.value(), 120.0 / 3.6));
    assert_eq!(timeline[1].short_burn_rate.value(), 0.0);
}

#[test]
fn ten_percent_errors_page_after_519_seconds() {
    let mut evaluator = SloEvaluator::new(workbook_999(), SECOND).unwrap();
    // 10 requests/s; from T0 one of them is bad each second (e = 10 %).
    steady(&mut evaluator, T0_S - WARM_UP_S, T0_S + 600, 10, |second| {
        i64::from(second >= T0_S)
    });
    evaluator.advance_to((T0_S + 600) * 1000);
    // k seconds of errors: 1h window holds k bad of 36 000 → (k / 36 000) / 0.001 = k / 36 >
    // 14.4 ⇔ k > 518.4 (the detection time) ⇔ k = 519. The 6h pair needs k > 1296, the
    // tickets k > 2592 (1d) and k > 2592 (3d): not within 600 s.
    assert_eq!(
        evaluator.timeline(),
        [AlertTransition {
            at_ms: (T0_S + 519) * 1000,
            severity: Severity::Page,
            state: AlertPhase::Firing,
            long_window: HOUR,
            short_window: MINUTE * 5,
            burn_factor: evaluator.policy().rules()[0].burn_factor(),
            long_burn_rate: evaluator.timeline()[0].long_burn_rate,
            short_burn_rate: evaluator.timeline()[0].short_burn_rate,
        }]
    );
    let fired = evaluator.timeline()[0];
    assert!(close(fired.long_burn_rate.value(), 519.0 / 36.0));
    // 5m window: 300 bad of 3000 = 10 % → 100.
    assert!(close(fired.short_burn_rate.value(), 100.0));
    // Status at T0 + 600 s: 1h window 600 bad of 36 000 → burn rate 16.67; period 600 bad of
    // 2 598 000 → consumed 600 / 2598 = 0.23095; time to exhaustion at 16.67:
    // (1 − 600/2598) × 30 d / (600 / 36) = 0.76905 × 2 592 000 s / 16.667 = 119 602.8 s.
    let status = evaluator.snapshot();
    assert!(status.alerts[0].firing);
    assert_eq!(status.alerts[0].since_ms, Some((T0_S + 519) * 1000));
    let expected = (1.0 - 600.0 / 2598.0) * 2_592_000.0 / (600.0 / 36.0);
    let actual = status.time_to_exhaustion.unwrap().as_secs_f64();
    assert!((actual - expected).abs() < 1e-3, "{actual} vs {expected}");
}

#[test]
fn traffic_stopping_during_an_outage_resolves_when_the_short_window_empties() {
    let mut evaluator = SloEvaluator::new(workbook_999(), SECOND).unwrap();
    // Total outage from T0; the service then receives no traffic at all from T0 + 100 s.
    steady(&mut evaluator, T0_S - WARM_UP_S, T0_S + 100, 1, |second| {
        i64::from(second >= T0_S)
    });
    // Far beyond the horizon: must not take one evaluation per empty second forever.
    evaluator.advance_to((T0_S + 60 * 86_400) * 1000);
    let timeline = evaluator.timeline();
    // Fires at T0 + 52 s as above. Without traffic the 5m window keeps only bad requests
    // (burn rate 1000) until it holds no request at all: at T0 + 100 + 300 s, the boundary
    // where [t − 300 s, t) starts at T0 + 100 s. Zero traffic → burn rate 0 → resolved.
    let at: Vec<(i64, AlertPhase)> = timeline
        .iter()
        .filter(|transition| transition.severity == Severity::Page)
        .map(|transition| (transition.at_ms / 1000 - T0_S, transition.state))
        .collect();
    assert_eq!(at, [(52, AlertPhase::Firing), (400, AlertPhase::Resolved)]);
    let status = evaluator.snapshot();
    assert_eq!(status.requests, 0);
    assert!(status.alerts.iter().all(|alert| !alert.firing));
}

#[test]
fn zero_traffic_gives_no_alert_and_no_nan() {
    let mut evaluator = SloEvaluator::with_default_resolution(workbook_999()).unwrap();
    let before = evaluator.snapshot();
    assert_eq!(before.as_of_ms, None);
    let status = evaluator.status((T0_S + 40 * 86_400) * 1000);
    assert!(evaluator.timeline().is_empty());
    assert_eq!((status.requests, status.good, status.bad), (0, 0, 0));
    assert_eq!(status.sli, None);
    assert_eq!(status.budget_consumed, 0.0);
    assert_eq!(status.budget_remaining, 1.0);
    assert_eq!(status.time_to_exhaustion, None);
    assert!(status
        .burn_rates
        .iter()
        .all(|rate| rate.burn_rate.value() == 0.0));
    assert!(status
        .alerts
        .iter()
        .all(|alert| !alert.firing && alert.since_ms.is_none()));
    let json = serde_json::to_string(&status).unwrap();
    assert!(!json.contains("NaN") && !json.contains("inf"), "{json}");
}

#[test]
fn status_and_timeline_json_shape() {
    let mut evaluator = SloEvaluator::with_default_resolution(workbook_999()).unwrap();
    steady(&mut evaluator, T0_S - 2 * 3600, T0_S + 120, 1, |second| {
        i64::from(second >= T0_S)
    });
    let status = evaluator.finish();
    let json = serde_json::to_value(&status).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "as_of",
        "objective",
        "requests",
        "good",
        "bad",
        "sli",
        "budget_consumed",
        "budget_remaining",
        "burn_rates",
        "alerts",
        "exhaustion_window",
        "time_to_exhaustion_seconds",
        "late",
        "dropped",
    ];
    let mut sorted_keys = keys.clone();
    sorted_keys.sort_unstable();
    expected.sort_unstable();
    assert_eq!(sorted_keys, expected);
    // The open bucket [T0 + 60, T0 + 120) ends at T0 + 120 s = 00:02:00.
    assert_eq!(json["as_of"], "2024-05-01T00:02:00Z");
    assert_eq!(json["objective"]["period"], "30d");
    assert_eq!(json["objective"]["target"], 0.999);
    // 2 h + 2 min at 1 request/s = 7320 requests, 120 bad.
    assert_eq!(json["requests"], 7320);
    assert_eq!(json["bad"], 120);
    assert_eq!(json["late"], 0);
    let windows: Vec<&str> = json["burn_rates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rate| rate["window"].as_str().unwrap())
        .collect();
    assert_eq!(windows, ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"]);
    assert_eq!(json["burn_rates"][0]["window_seconds"], 300);
    assert_eq!(json["alerts"][0]["severity"], "page");
    assert_eq!(json["alerts"][0]["firing"], true);
    assert_eq!(json["alerts"][0]["since"], "2024-05-01T00:01:00Z");
    assert_eq!(json["alerts"][1]["severity"], "ticket");

    let entry = serde_json::to_value(evaluator.timeline()[0]).unwrap();
    assert_eq!(entry["at"], "2024-05-01T00:01:00Z");
    assert_eq!(entry["severity"], "page");
    assert_eq!(entry["state"], "firing");
    assert_eq!(entry["long_window"], "1h");
    assert_eq!(entry["short_window"], "5m");
    assert!(entry["long_burn_rate"].is_f64() && entry["short_burn_rate"].is_f64());
}

#[test]
fn thirty_days_at_one_minute_fit_well_under_one_mebibyte() {
    let policy = workbook_999();
    let mut evaluator = SloEvaluator::with_default_resolution(policy).unwrap();
    // 43 200 one-minute buckets × 8 bytes = 345 600 bytes of ring, plus a few hundred bytes.
    let counter = evaluator.counter();
    let bytes = counter.memory_bytes();
    println!(
        "30 d at 1 min: size_of = {} bytes, memory_bytes = {bytes}",
        std::mem::size_of::<WindowedCounter>()
    );
    assert!((345_600..400_000).contains(&bytes), "{bytes}");
    // Heavy traffic does not grow it beyond the worst case: 10 billion requests (more than
    // u32::MAX) in every minute of the 30 days. The high halves then take another
    // 43 200 × 8 = 345 600 bytes: 691 200 bytes of buckets in all, and counts stay exact.
    let mut counter = WindowedCounter::new(DEFAULT_RESOLUTION, THIRTY_DAYS, &[HOUR]).unwrap();
    for minute in 0..43_200 {
        counter.record_counts(minute * 60_000, 9_000_000_000, 1_000_000_000);
        evaluator.record(minute * 60_000, true);
    }
    counter.advance_to(43_200 * 60_000);
    assert_eq!(
        counter.window_counts(HOUR),
        Some(Counts {
            good: 60 * 9_000_000_000,
            total: 60 * 10_000_000_000,
        })
    );
    let heavy = counter.memory_bytes();
    println!("after 43 200 buckets of 10^10 requests: memory_bytes = {heavy}");
    assert!((691_200..750_000).contains(&heavy), "{heavy}");
    assert_eq!(evaluator.counter().memory_bytes(), bytes);
}

#[test]
fn custom_policies_and_resolutions_are_validated() {
    let objective = Objective::new(0.99, Duration::from_secs(7 * 86_400)).unwrap();
    let policy = AlertPolicy::new(
        objective,
        vec![AlertWindow::new(HOUR, MINUTE * 5, 0.05, Severity::Page)],
    )
    .unwrap();
    // 0.05 × 168 h / 1 h = 8.4.
    assert!(close(policy.rules()[0].burn_factor(), 8.4));
    let error = SloEvaluator::new(policy.clone(), Duration::from_secs(7 * 60)).unwrap_err();
    assert!(error.to_string().contains("`resolution`"), "{error}");
    assert!(SloEvaluator::new(policy, Duration::ZERO).is_err());
    // A 2-day period cannot hold the workbook's 3-day ticket window.
    let short_period = Objective::new(0.999, Duration::from_secs(2 * 86_400)).unwrap();
    let error = AlertPolicy::new(short_period, WORKBOOK_WINDOWS.to_vec()).unwrap_err();
    assert!(error.to_string().contains("`windows[3].long`"), "{error}");
}

/// `(seconds from T0, severity, state)` of each transition.
fn transitions(evaluator: &SloEvaluator) -> Vec<(i64, Severity, AlertPhase)> {
    evaluator
        .timeline()
        .iter()
        .map(|t| (t.at_ms / 1000 - T0_S, t.severity, t.state))
        .collect()
}

#[test]
fn late_input_is_counted_and_explains_a_missing_alert() {
    // Two files at 1 request/s: `access.log.1` (older) is an outage in [T0 − 1 h, T0),
    // `access.log` (newer) all good in [T0, T0 + 1 h).
    let older: Vec<(i64, bool)> = (T0_S - 3600..T0_S).map(|s| (s * 1000, false)).collect();
    let newer: Vec<(i64, bool)> = (T0_S..T0_S + 3600).map(|s| (s * 1000, true)).collect();

    // In time order (`cat access.log.1 access.log`). At the first boundary T0 − 3540 s every
    // window holds 60 bad of 60: burn rate 1 ÷ 0.001 = 1000 > 14.4 (1h/5m) and > 3 (1d/2h):
    // page and ticket fire. After T0 the 5m window is all good at T0 + 300 s, but the 6h/30m
    // pair keeps the page: at T0 + k the 30m window holds 1800 − k bad of 1800, a burn rate
    // (1800 − k) ÷ 1.8 > 6 ⇔ k < 1789.2; at the minute boundaries that is until T0 + 1740 s,
    // so the page resolves at T0 + 1800 s. The ticket's 2h window still holds the outage.
    let mut in_order = SloEvaluator::with_default_resolution(workbook_999()).unwrap();
    for (timestamp_ms, good) in older.iter().chain(&newer) {
        in_order.record(*timestamp_ms, *good);
    }
    let in_order_status = in_order.finish();
    assert_eq!(
        transitions(&in_order),
        [
            (-3540, Severity::Page, AlertPhase::Firing),
            (-3540, Severity::Ticket, AlertPhase::Firing),
            (1800, Severity::Page, AlertPhase::Resolved),
        ]
    );
    assert_eq!(in_order_status.late, 0);

    // Newest file first (`cat access.log access.log.1`): the good hour is evaluated first;
    // then every request of the outage is for a bucket already closed: 3600 late requests.
    // They are in the sums, so at the last boundary T0 + 3600 s (`finish`) the 2h and 1d
    // windows hold 3600 bad of 7200: burn rate 0.5 ÷ 0.001 = 500 > 3, the ticket fires; the
    // page's short windows (5m, 30m) are all good. The page never shows.
    let mut reversed = SloEvaluator::with_default_resolution(workbook_999()).unwrap();
    for (timestamp_ms, good) in newer.iter().chain(&older) {
        reversed.record(*timestamp_ms, *good);
    }
    let reversed_status = reversed.finish();
    assert_eq!(
        transitions(&reversed),
        [(3600, Severity::Ticket, AlertPhase::Firing)]
    );
    assert_eq!(reversed_status.late, 3600);
    assert_eq!(reversed_status.dropped, 0);

    // Totals and budget agree: 7200 requests, 3600 bad; consumed 3600 ÷ (0.001 × 7200) =
    // 3600 ÷ 7.2 = 500.
    for status in [&in_order_status, &reversed_status] {
        assert_eq!((status.requests, status.bad), (7200, 3600));
        assert_eq!(status.budget_consumed, 500.0);
    }
    assert_eq!(reversed_status.burn_rates, in_order_status.burn_rates);
    let json = serde_json::to_value(&reversed_status).unwrap();
    assert_eq!(json["late"], 3600);
}

#[test]
fn budget_figures_have_no_floating_point_noise() {
    // 1 − 0.999 is 0.001 in decimal (the binary difference 0.0010000000000000009 gave
    // 0.29999999999999977 and 499.99999999999955 here).
    let consumed = |bad: u64, total: u64| {
        let mut evaluator = SloEvaluator::with_default_resolution(workbook_999()).unwrap();
        // `total` requests 100 ms apart from T0, the first `bad` of them bad.
        for i in 0..total {
            evaluator.record(T0_S * 1000 + i as i64 * 100, i >= bad);
        }
        evaluator.finish()
    };
    // 3 bad of 10 000: 3 ÷ (0.001 × 10 000) = 0.3; remaining 0.7.
    let status = consumed(3, 10_000);
    assert_eq!(status.budget_consumed, 0.3);
    assert_eq!(status.budget_remaining, 0.7);
    // 5 bad of 10: 5 ÷ (0.001 × 10) = 500; the 5m window holds the same: burn rate 500.
    let status = consumed(5, 10);
    assert_eq!(status.budget_consumed, 500.0);
    assert_eq!(status.burn_rates[0].window, MINUTE * 5);
    assert_eq!(status.burn_rates[0].burn_rate.value(), 500.0);
    // 1 bad of 1000 is exactly the budget: burn rate 1 on every window, nothing left.
    let status = consumed(1, 1000);
    assert!(status
        .burn_rates
        .iter()
        .all(|rate| rate.burn_rate.value() == 1.0));
    assert_eq!(status.budget_remaining, 0.0);
    assert_eq!(
        serde_json::to_value(&status).unwrap()["budget_consumed"],
        1.0
    );
}

#[test]
fn a_12h_period_keeps_two_page_pairs_and_evaluates() {
    let objective = Objective::new(0.999, HOUR * 12).unwrap();
    let (policy, skipped) = AlertPolicy::workbook_fitting(objective).unwrap();
    assert_eq!(
        skipped.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "1d/2h: its 1d window is longer than the 12h period",
            "3d/6h: its 3d window is longer than the 12h period",
        ]
    );
    let mut evaluator = SloEvaluator::with_default_resolution(policy).unwrap();
    // 12 h of good traffic at 1 request/s, then a total outage from T0. Factors:
    // 0.02 × 12 = 0.24 (1h/5m), 0.05 × 12 ÷ 6 = 0.1 (6h/30m). At the first boundary T0 + 60 s
    // the 1h window holds 60 bad of 3600 (burn rate 60 ÷ 3.6 = 16.7 > 0.24), the 5m window
    // 60 of 300 (200 > 0.24): page.
    steady(&mut evaluator, T0_S - 12 * 3600, T0_S + 120, 1, |second| {
        i64::from(second >= T0_S)
    });
    let status = evaluator.finish();
    assert_eq!(
        transitions(&evaluator),
        [(60, Severity::Page, AlertPhase::Firing)]
    );
    let windows: Vec<Duration> = status.burn_rates.iter().map(|rate| rate.window).collect();
    assert_eq!(
        windows,
        [MINUTE * 5, MINUTE * 30, HOUR, HOUR * 6, HOUR * 12]
    );
    assert_eq!(status.alerts.len(), 1);
    assert_eq!(status.exhaustion_window, HOUR);
    // The 12 h period at T0 + 120 s holds [T0 − 11 h 58 min, T0 + 120 s): 43 200 requests,
    // 120 bad.
    assert_eq!((status.requests, status.bad), (43_200, 120));
    // A resolution must still divide the period and the kept windows: 7 min divides neither.
    let error = SloEvaluator::new(evaluator.policy().clone(), MINUTE * 7).unwrap_err();
    assert!(error.to_string().contains("`resolution`"), "{error}");
}

#[test]
fn a_90_percent_objective_keeps_the_reachable_pairs() {
    // Highest burn rate 1 ÷ 0.1 = 10: 1h/5m (14.4) is out, 6h/30m (6), 1d/2h (3) and
    // 3d/6h (1) stay.
    let (policy, skipped) =
        AlertPolicy::workbook_fitting(Objective::thirty_days(0.9).unwrap()).unwrap();
    assert_eq!(
        skipped.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["1h/5m: burn factor 14.4 can never be reached at 90 % (the highest burn rate is 10)"]
    );
    let longs: Vec<Duration> = policy.rules().iter().map(|r| r.window().long).collect();
    assert_eq!(longs, [HOUR * 6, HOUR * 24, HOUR * 72]);
    let evaluator = SloEvaluator::with_default_resolution(policy).unwrap();
    let status = evaluator.snapshot();
    let windows: Vec<Duration> = status.burn_rates.iter().map(|rate| rate.window).collect();
    assert_eq!(
        windows,
        [
            MINUTE * 30,
            HOUR * 2,
            HOUR * 6,
            HOUR * 24,
            HOUR * 72,
            THIRTY_DAYS
        ]
    );
    // The pace window is the shortest long window left, 6h.
    assert_eq!(status.exhaustion_window, HOUR * 6);
}

fn small_policy() -> AlertPolicy {
    // 90 % over 1 h: max burn rate 10. Factors 0.05 × 60 / 10 = 0.3 and 0.2 × 60 / 30 = 0.4.
    let objective = Objective::new(0.9, HOUR).unwrap();
    AlertPolicy::new(
        objective,
        vec![
            AlertWindow::new(MINUTE * 10, MINUTE, 0.05, Severity::Page),
            AlertWindow::new(MINUTE * 30, MINUTE * 5, 0.2, Severity::Ticket),
        ],
    )
    .unwrap()
}

/// Events with roughly increasing timestamps, some slightly late, some bad.
fn event_stream() -> impl Strategy<Value = Vec<SliEvent>> {
    (
        0.0f64..0.6,
        prop::collection::vec((0i64..30_000, 0i64..4_000, 0.0f64..1.0), 0..300),
    )
        .prop_map(|(bad_share, steps)| {
            let mut now = 1_700_000_000_000i64;
            steps
                .into_iter()
                .map(|(step, late, draw)| {
                    now += step;
                    SliEvent {
                        timestamp_ms: now - late,
                        good: draw >= bad_share,
                        status: None,
                        latency_seconds: None,
                    }
                })
                .collect()
        })
}

fn counter_of(events: &[(i64, bool)]) -> WindowedCounter {
    let mut counter =
        WindowedCounter::new(SECOND, MINUTE, &[SECOND * 5, SECOND * 30, MINUTE]).unwrap();
    for (timestamp_ms, good) in events {
        counter.record(*timestamp_ms, *good);
    }
    counter
}

fn shard() -> impl Strategy<Value = Vec<(i64, bool)>> {
    prop::collection::vec((0i64..200_000, any::<bool>()), 0..60)
}

proptest! {
    #[test]
    fn burn_rate_is_monotonic_in_errors(
        target in 0.5f64..0.99999,
        total in 1u64..1_000_000_000,
        a in 0.0f64..=1.0,
        b in 0.0f64..=1.0,
    ) {
        let budget = Objective::thirty_days(target).unwrap().error_budget();
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        let fewer = (low * total as f64) as u64;
        let more = (high * total as f64) as u64;
        prop_assert!(budget.burn_rate(fewer, total) <= budget.burn_rate(more, total));
        prop_assert!(budget.consumed(fewer, total) <= budget.consumed(more, total));
        prop_assert!(budget.burn_rate(more, total).value().is_finite());
    }

    #[test]
    fn turning_good_requests_bad_never_lowers_a_burn_rate(
        events in event_stream(),
        flips in prop::collection::vec(any::<bool>(), 300),
    ) {
        let worse: Vec<SliEvent> = events
            .iter()
            .zip(&flips)
            .map(|(event, flip)| SliEvent { good: event.good && !flip, ..*event })
            .collect();
        let mut base = SloEvaluator::new(small_policy(), SECOND * 10).unwrap();
        let mut flipped = SloEvaluator::new(small_policy(), SECOND * 10).unwrap();
        base.record_events(&events);
        flipped.record_events(&worse);
        let (base, flipped) = (base.finish(), flipped.finish());
        for (a, b) in base.burn_rates.iter().zip(&flipped.burn_rates) {
            prop_assert_eq!(a.requests, b.requests);
            prop_assert!(a.burn_rate <= b.burn_rate, "{:?} vs {:?}", a, b);
        }
    }

    #[test]
    fn merging_counters_is_commutative_and_associative(a in shard(), b in shard(), c in shard()) {
        let (ca, cb, cc) = (counter_of(&a), counter_of(&b), counter_of(&c));

        let mut ab = ca.clone();
        ab.merge(&cb).unwrap();
        let mut ba = cb.clone();
        ba.merge(&ca).unwrap();
        prop_assert_eq!(&ab, &ba);

        let mut ab_c = ab.clone();
        ab_c.merge(&cc).unwrap();
        let mut bc = cb.clone();
        bc.merge(&cc).unwrap();
        let mut a_bc = ca.clone();
        a_bc.merge(&bc).unwrap();
        prop_assert_eq!(&ab_c, &a_bc);

        let empty = counter_of(&[]);
        let mut with_empty = ca.clone();
        with_empty.merge(&empty).unwrap();
        prop_assert_eq!(&with_empty, &ca);
    }

    #[test]
    fn one_pass_and_chunks_give_the_same_timeline_and_status(
        events in event_stream(),
        cuts in prop::collection::vec(0usize..300, 0..8),
        pull_back in 0i64..20_000,
    ) {
        let mut one_pass = SloEvaluator::new(small_policy(), SECOND * 10).unwrap();
        for event in &events {
            one_pass.record_event(event);
        }

        let mut chunked = SloEvaluator::new(small_policy(), SECOND * 10).unwrap();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|cut| cut.min(events.len())).collect();
        cuts.push(events.len());
        cuts.sort_unstable();
        let mut start = 0;
        for cut in cuts {
            chunked.record_events(&events[start..cut]);
            // Advancing to (at most) the next event's time changes nothing it would not.
            if let Some(next) = events.get(cut) {
                chunked.advance_to(next.timestamp_ms - pull_back);
            }
            start = cut;
        }

        let end = events.last().map_or(0, |event| event.timestamp_ms) + 7_200_000;
        prop_assert_eq!(one_pass.counter(), chunked.counter());
        let (a, b) = (one_pass.status(end), chunked.status(end));
        prop_assert_eq!(one_pass.timeline(), chunked.timeline());
        prop_assert_eq!(a, b);
    }
}
