//! The four keys on small histories, every expected value computed by hand in the comments.
//!
//! Times are UTC. Tokyo is UTC+9 all year: Monday 2024-06-03 00:00 JST is Sunday 2024-06-02
//! 15:00 UTC, so the Tokyo week of 2024-06-03 is [2024-06-02T15:00Z, 2024-06-09T15:00Z).

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use parky_dora::model::{Change, DeliveryHistory, Deployment, DeploymentOutcome, Incident};
use parky_dora::policy::{
    compute, parse_tz, FourKeys, KeysConfig, KeysPolicy, LeadTimeStart, Window,
};
use parky_dora::DoraError;

use DeploymentOutcome::{Failure, Pending, Success};

fn t(s: &str) -> DateTime<Utc> {
    s.parse().expect("a valid RFC 3339 instant in the test")
}

fn h(hours: i64) -> TimeDelta {
    TimeDelta::hours(hours)
}

fn m(minutes: i64) -> TimeDelta {
    TimeDelta::minutes(minutes)
}

fn deploy(id: &str, at: &str, outcome: DeploymentOutcome, commits: &[&str]) -> Deployment {
    deploy_to(id, "api", "production", at, outcome, commits)
}

fn deploy_to(
    id: &str,
    service: &str,
    environment: &str,
    at: &str,
    outcome: DeploymentOutcome,
    commits: &[&str],
) -> Deployment {
    Deployment {
        id: id.to_owned(),
        service: service.to_owned(),
        environment: environment.to_owned(),
        commit: commits.last().map(|c| (*c).to_owned()).unwrap_or_default(),
        at: t(at),
        outcome,
        commits: commits.iter().map(|c| (*c).to_owned()).collect(),
    }
}

fn change(commit: &str, committed_at: &str) -> Change {
    Change {
        commit: commit.to_owned(),
        authored_at: t(committed_at),
        committed_at: t(committed_at),
        pull_request: None,
        merged_at: None,
    }
}

fn incident(id: &str, opened: &str, resolved: Option<&str>, deployment: Option<&str>) -> Incident {
    Incident {
        id: id.to_owned(),
        opened_at: t(opened),
        resolved_at: resolved.map(t),
        deployment: deployment.map(str::to_owned),
    }
}

/// Tokyo weeks from Monday 2024-06-03 00:00 JST, `weeks` of them.
fn tokyo_weeks(weeks: i64) -> KeysPolicy {
    let since = t("2024-06-02T15:00:00Z");
    let window = Window::new(
        since,
        since + TimeDelta::weeks(weeks),
        parse_tz("Asia/Tokyo").expect("Asia/Tokyo"),
    )
    .expect("since < until");
    KeysPolicy::new(window)
}

fn keys(history: &DeliveryHistory, policy: &KeysPolicy) -> FourKeys {
    compute(history, policy).expect("a valid history")
}

fn date(s: &str) -> NaiveDate {
    s.parse().expect("a valid date in the test")
}

#[test]
fn lead_time_even_sample_median_is_the_mean_of_the_middle_two() {
    // d1 ships a (committed 02:00, 1 h before) and b (00:00, 3 h before);
    // d2 ships c (21:00 the day before, 6 h) and d (13:00 the day before, 14 h).
    // Sorted: 1 h, 3 h, 6 h, 14 h (n = 4).
    // median: h = 3 × 0.5 = 1.5 → 3 h + 0.5 × (6 h − 3 h) = 4 h 30 m
    // p75:    h = 3 × 0.75 = 2.25 → 6 h + 0.25 × (14 h − 6 h) = 8 h
    // p90:    h = 3 × 0.9 = 2.7 → 6 h + 0.7 × 8 h = 11 h 36 m
    let history = DeliveryHistory {
        deployments: vec![
            deploy("d1", "2024-06-03T03:00:00Z", Success, &["a", "b"]),
            deploy("d2", "2024-06-05T03:00:00Z", Success, &["c", "d"]),
        ],
        changes: vec![
            change("a", "2024-06-03T02:00:00Z"),
            change("b", "2024-06-03T00:00:00Z"),
            change("c", "2024-06-04T21:00:00Z"),
            change("d", "2024-06-04T13:00:00Z"),
        ],
        incidents: vec![],
    };
    let k = keys(&history, &tokyo_weeks(1));
    let s = k.lead_time.summary.expect("four lead times");
    assert_eq!(s.count, 4);
    assert_eq!(s.median, h(4) + m(30));
    assert_eq!(s.p75, h(8));
    assert_eq!(s.p90, h(11) + m(36));
    assert_eq!(k.lead_time.skewed, 0);
}

#[test]
fn commits_of_a_failed_deployment_ship_with_the_next_success() {
    // d2 fails carrying b (committed 01:00); d3 at 05:00 is the first success containing b:
    // lead time 4 h, not the 2 h to d2. a: 03:00 − 02:00 = 1 h; c: 05:00 − 04:30 = 30 m.
    // Sorted 30 m, 1 h, 4 h: median 1 h; p75 h = 1.5 → 1 h + 0.5 × 3 h = 2 h 30 m;
    // p90 h = 1.8 → 1 h + 0.8 × 3 h = 3 h 24 m.
    // CFR 1 of 3; d2 recovers at d3: 2 h.
    let history = DeliveryHistory {
        deployments: vec![
            deploy("d1", "2024-06-03T03:00:00Z", Success, &["a"]),
            deploy("d2", "2024-06-04T03:00:00Z", Failure, &["b"]),
            deploy("d3", "2024-06-04T05:00:00Z", Success, &["c"]),
        ],
        changes: vec![
            change("a", "2024-06-03T02:00:00Z"),
            change("b", "2024-06-04T01:00:00Z"),
            change("c", "2024-06-04T04:30:00Z"),
        ],
        incidents: vec![],
    };
    let k = keys(&history, &tokyo_weeks(1));
    let s = k.lead_time.summary.expect("three lead times");
    assert_eq!(
        (s.count, s.median, s.p75, s.p90),
        (3, h(1), h(2) + m(30), h(3) + m(24))
    );
    assert_eq!(k.change_failure_rate.failed, 1);
    assert_eq!(k.change_failure_rate.completed, 3);
    assert_eq!(k.change_failure_rate.rate, Some(1.0 / 3.0));
    let r = k.recovery_time.summary.expect("one recovery");
    assert_eq!((r.count, r.median), (1, h(2)));
}

#[test]
fn commits_of_a_pending_deployment_ship_with_the_next_success() {
    // d2 is still pending (never reported) and carries b (01:00); history is linear, so d3
    // at 05:00 ships b: 4 h. d2 counts nowhere: 2 completed, 2 successful, no failure.
    // Sample 1 h (a), 4 h (b), 30 m (c): median 1 h.
    let history = DeliveryHistory {
        deployments: vec![
            deploy("d1", "2024-06-03T03:00:00Z", Success, &["a"]),
            deploy("d2", "2024-06-04T03:00:00Z", Pending, &["b"]),
            deploy("d3", "2024-06-04T05:00:00Z", Success, &["c"]),
        ],
        changes: vec![
            change("a", "2024-06-03T02:00:00Z"),
            change("b", "2024-06-04T01:00:00Z"),
            change("c", "2024-06-04T04:30:00Z"),
        ],
        incidents: vec![],
    };
    let k = keys(&history, &tokyo_weeks(1));
    let s = k.lead_time.summary.expect("three lead times");
    assert_eq!((s.count, s.median), (3, h(1)));
    // p90: h = 2 × 0.9 = 1.8 → 1 h + 0.8 × (4 h − 1 h) = 3 h 24 m.
    assert_eq!(s.p90, h(3) + m(24));
    assert_eq!(k.change_failure_rate.completed, 2);
    assert_eq!(k.change_failure_rate.failed, 0);
    assert_eq!(k.deployment_frequency.successful, 2);
}

#[test]
fn commit_dated_after_its_deployment_is_skewed_not_negative() {
    // fourkeys defect: a commit pushed after the deployment gave a negative lead time.
    // x is committed at 05:00 but listed in d1 at 03:00: excluded, skewed = 1.
    // a (02:00) is the only lead time: 1 h.
    let history = DeliveryHistory {
        deployments: vec![deploy("d1", "2024-06-03T03:00:00Z", Success, &["x", "a"])],
        changes: vec![
            change("a", "2024-06-03T02:00:00Z"),
            change("x", "2024-06-03T05:00:00Z"),
        ],
        incidents: vec![],
    };
    let k = keys(&history, &tokyo_weeks(1));
    assert_eq!(k.lead_time.skewed, 1);
    let s = k.lead_time.summary.expect("one lead time");
    assert_eq!((s.count, s.median, s.p90), (1, h(1), h(1)));
}

#[test]
fn a_change_in_several_deployments_counts_once_at_the_first_success() {
    // a is listed by d1 (api, 03:00) and again by d2 (api, a day later) and by w1 (web, 02:00
    // the next day): it counts once, at d1: 03:00 − 01:00 = 2 h.
    // b is listed by w1 (web, 2024-06-04T02:00) and d2 (api, 2024-06-04T03:00): first is w1,
    // 02:00 − 00:00 = 2 h. Sample: 2 h, 2 h.
    let history = DeliveryHistory {
        deployments: vec![
            deploy("d1", "2024-06-03T03:00:00Z", Success, &["a"]),
            deploy("d2", "2024-06-04T03:00:00Z", Success, &["a", "b"]),
            deploy_to(
                "w1",
                "web",
                "production",
                "2024-06-04T02:00:00Z",
                Success,
                &["a", "b"],
            ),
        ],
        changes: vec![
            change("a", "2024-06-03T01:00:00Z"),
            change("b", "2024-06-04T00:00:00Z"),
        ],
        incidents: vec![],
    };
    let k = keys(&history, &tokyo_weeks(1));
    let s = k.lead_time.summary.expect("two lead times");
    assert_eq!((s.count, s.median, s.p90), (2, h(2), h(2)));
    assert_eq!(k.deployment_frequency.successful, 3);
}

#[test]
fn only_changes_shipped_inside_the_window_count() {
    // Window: the Tokyo week [2024-06-02T15:00Z, 2024-06-09T15:00Z).
    // d0 (before the window) ships z: not counted.
    // f0 (failed, before the window) carries y, shipped by d1 inside: counted, 2024-06-01T00:00
    // to 2024-06-03T00:00 = 48 h.
    // d9 at exactly `until` ships w: outside (the end is exclusive).
    // d1 also ships its own v (committed 2024-06-02T23:00): 1 h. Sample 1 h, 48 h: median
    // 24 h 30 m.
    let history = DeliveryHistory {
        deployments: vec![
            deploy("d0", "2024-06-01T03:00:00Z", Success, &["z"]),
            deploy("f0", "2024-06-02T03:00:00Z", Failure, &["y"]),
            deploy("d1", "2024-06-03T00:00:00Z", Success, &["v"]),
            deploy("d9", "2024-06-09T15:00:00Z", Success, &["w"]),
        ],
        changes: vec![
            change("z", "2024-06-01T02:00:00Z"),
            change("y", "2024-06-01T00:00:00Z"),
            change("v", "2024-06-02T23:00:00Z"),
            change("w", "2024-06-09T14:00:00Z"),
        ],
        incidents: vec![],
    };
    let k = keys(&history, &tokyo_weeks(1));
    let s = k.lead_time.summary.expect("two lead times");
    assert_eq!((s.count, s.median), (2, h(24) + m(30)));
    // Only d1 is a deployment in the window.
    assert_eq!(k.deployment_frequency.successful, 1);
    assert_eq!(k.change_failure_rate.completed, 1);
    assert_eq!(k.change_failure_rate.failed, 0);
}

#[test]
fn lead_time_start_can_be_the_author_date_or_the_merge() {
    // a: authored 2024-06-02T20:00, committed 2024-06-03T00:00, merged 2024-06-03T01:00;
    // deployed 2024-06-03T03:00: authored → 7 h, committed → 3 h, merged → 2 h.
    // b has no merge time: with `merged` it is counted in missing_start.
    let mut a = change("a", "2024-06-03T00:00:00Z");
    a.authored_at = t("2024-06-02T20:00:00Z");
    a.merged_at = Some(t("2024-06-03T01:00:00Z"));
    a.pull_request = Some(7);
    let history = DeliveryHistory {
        deployments: vec![deploy("d1", "2024-06-03T03:00:00Z", Success, &["a", "b"])],
        changes: vec![a, change("b", "2024-06-03T00:00:00Z")],
        incidents: vec![],
    };
    let mut policy = tokyo_weeks(1);
    for (from, expected, missing) in [
        (LeadTimeStart::Authored, h(7), 0),
        (LeadTimeStart::Committed, h(3), 0),
        (LeadTimeStart::Merged, h(2), 1),
    ] {
        policy.lead_time_from = from;
        let k = keys(&history, &policy);
        let s = k.lead_time.summary.expect("a lead time");
        // Authored/committed: a and b (b is 3 h under both); merged: a only.
        let expected_median = if missing == 0 {
            // Two values: (expected + 3 h) / 2.
            (expected + h(3)) / 2
        } else {
            expected
        };
        assert_eq!(s.median, expected_median, "{from:?}");
        assert_eq!(k.lead_time.missing_start, missing, "{from:?}");
    }
}

#[test]
fn shipped_commit_without_a_change_record_is_reported() {
    let history = DeliveryHistory {
        deployments: vec![deploy(
            "d1",
            "2024-06-03T03:00:00Z",
            Success,
            &["a", "ghost"],
        )],
        changes: vec![change("a", "2024-06-03T02:00:00Z")],
        incidents: vec![],
    };
    let k = keys(&history, &tokyo_weeks(1));
    assert_eq!(k.lead_time.unknown_commits, 1);
    assert_eq!(k.lead_time.summary.map(|s| s.count), Some(1));
}

#[test]
fn each_failed_deployment_counts_once_however_many_incidents() {
    // d1: incident i1, recorded twice (the fourkeys defect counted it twice). Resolved 04:00.
    // d2: two incidents, i2 resolved 03:00 and i3 resolved 06:00.
    // d3: outcome failure, no incident; next success of api is d4 at 02:30.
    // d4: success. d5: pending, with an incident: ignored. s1: staging, with an incident:
    // ignored. i7: no deployment (reported apart); i8: an unknown deployment; i9: no
    // deployment but opened before the window (not reported).
    //
    // Completed in production: d1, d2, d3, d4 = 4. Failed: d1, d2, d3 = 3 (not 5 as one row
    // per incident would give). Rate 3/4.
    // Recovery: d1 01:00 → 04:00 = 3 h; d2 01:00 → max(03:00, 06:00) = 5 h;
    // d3 01:00 → d4 02:30 = 1 h 30 m. Sorted 1 h 30 m, 3 h, 5 h: median 3 h.
    let history = DeliveryHistory {
        deployments: vec![
            deploy("d1", "2024-06-03T01:00:00Z", Success, &["a"]),
            deploy("d2", "2024-06-04T01:00:00Z", Success, &["b"]),
            deploy("d3", "2024-06-05T01:00:00Z", Failure, &["c"]),
            deploy("d4", "2024-06-05T02:30:00Z", Success, &["e"]),
            deploy("d5", "2024-06-05T05:00:00Z", Pending, &["f"]),
            deploy_to(
                "s1",
                "api",
                "staging",
                "2024-06-05T06:00:00Z",
                Success,
                &["g"],
            ),
        ],
        changes: vec![],
        incidents: vec![
            incident(
                "i1",
                "2024-06-03T02:00:00Z",
                Some("2024-06-03T04:00:00Z"),
                Some("d1"),
            ),
            incident(
                "i1",
                "2024-06-03T02:00:00Z",
                Some("2024-06-03T04:00:00Z"),
                Some("d1"),
            ),
            incident(
                "i2",
                "2024-06-04T02:00:00Z",
                Some("2024-06-04T03:00:00Z"),
                Some("d2"),
            ),
            incident(
                "i3",
                "2024-06-04T02:30:00Z",
                Some("2024-06-04T06:00:00Z"),
                Some("d2"),
            ),
            incident("i5", "2024-06-05T05:10:00Z", None, Some("d5")),
            incident("i6", "2024-06-05T06:10:00Z", None, Some("s1")),
            incident("i7", "2024-06-06T00:00:00Z", None, None),
            incident("i8", "2024-06-06T01:00:00Z", None, Some("nope")),
            incident("i9", "2024-06-01T00:00:00Z", None, None),
        ],
    };
    let k = keys(&history, &tokyo_weeks(1));
    let c = &k.change_failure_rate;
    assert_eq!((c.failed, c.completed, c.rate), (3, 4, Some(0.75)));
    assert_eq!((c.failed_by_outcome, c.failed_by_incident), (1, 2));
    assert_eq!(c.incidents_without_deployment, 1);
    assert_eq!(c.incidents_with_unknown_deployment, 1);
    let r = k.recovery_time.summary.expect("three recoveries");
    assert_eq!((r.count, r.median), (3, h(3)));
    assert_eq!(k.recovery_time.unrecovered, 0);
    // Frequency: d1, d2, d4 succeeded (d5 pending, s1 staging).
    assert_eq!(k.deployment_frequency.successful, 3);
}

#[test]
fn unrecovered_failures_are_counted_not_measured() {
    // d1: one incident resolved, one still open → unrecovered.
    // d2: failure with no later success → unrecovered.
    // d0: failure fixed by d1 (success) 1 h later → recovered, 1 h.
    let history = DeliveryHistory {
        deployments: vec![
            deploy("d0", "2024-06-03T00:00:00Z", Failure, &["a"]),
            deploy("d1", "2024-06-03T01:00:00Z", Success, &["b"]),
            deploy("d2", "2024-06-04T01:00:00Z", Failure, &["c"]),
        ],
        changes: vec![],
        incidents: vec![
            incident(
                "i1",
                "2024-06-03T02:00:00Z",
                Some("2024-06-03T03:00:00Z"),
                Some("d1"),
            ),
            incident("i2", "2024-06-03T02:00:00Z", None, Some("d1")),
        ],
    };
    let k = keys(&history, &tokyo_weeks(1));
    assert_eq!(k.change_failure_rate.failed, 3);
    assert_eq!(k.recovery_time.unrecovered, 2);
    let r = k.recovery_time.summary.expect("one recovery");
    assert_eq!((r.count, r.median), (1, h(1)));
}

#[test]
fn zero_deployments_give_no_rate_and_no_lead_time() {
    // Nothing completed in production (only a pending one and a staging one).
    let history = DeliveryHistory {
        deployments: vec![
            deploy("p", "2024-06-03T00:00:00Z", Pending, &["a"]),
            deploy_to(
                "s",
                "api",
                "staging",
                "2024-06-03T00:00:00Z",
                Success,
                &["a"],
            ),
        ],
        changes: vec![change("a", "2024-06-02T00:00:00Z")],
        incidents: vec![incident("i", "2024-06-04T00:00:00Z", None, None)],
    };
    let k = keys(&history, &tokyo_weeks(2));
    let f = &k.deployment_frequency;
    assert_eq!(
        (f.successful, f.per_day, f.per_week, f.deploy_days_per_week),
        (0, 0.0, 0.0, 0.0)
    );
    assert_eq!(f.days, 14.0);
    assert_eq!(k.change_failure_rate.rate, None);
    assert_eq!(k.change_failure_rate.completed, 0);
    assert_eq!(k.change_failure_rate.incidents_without_deployment, 1);
    assert_eq!(k.lead_time.summary, None);
    assert_eq!(k.recovery_time.summary, None);
    assert_eq!(k.weeks.len(), 2);
    assert!(k.weeks.iter().all(|w| w.change_failure_rate.is_none()));
    // The empty history too.
    let k = keys(&DeliveryHistory::default(), &tokyo_weeks(1));
    assert_eq!(k.change_failure_rate.rate, None);
    assert_eq!(k.deployment_frequency.per_day, 0.0);
}

#[test]
fn tokyo_week_boundary_sunday_235959_and_monday_0000() {
    // 2024-06-09T14:59:59Z is Sunday 23:59:59 JST: week of Monday 2024-06-03.
    // 2024-06-09T15:00:00Z is Monday 2024-06-10 00:00 JST: the next week.
    // In UTC both are on Sunday 2024-06-09, in the same (UTC) week.
    // Window: two Tokyo weeks, 14 days: per day 2/14, per week 1, 2 deploy days (06-09 and
    // 06-10 local) / 2 weeks = 1 a week.
    let history = DeliveryHistory {
        deployments: vec![
            deploy("sun", "2024-06-09T14:59:59Z", Success, &["a"]),
            deploy("mon", "2024-06-09T15:00:00Z", Success, &["b"]),
        ],
        changes: vec![],
        incidents: vec![],
    };
    let k = keys(&history, &tokyo_weeks(2));
    let weeks: Vec<(NaiveDate, u64, u32)> = k
        .weeks
        .iter()
        .map(|w| (w.week, w.deployments, w.deploy_days))
        .collect();
    assert_eq!(
        weeks,
        [(date("2024-06-03"), 1, 1), (date("2024-06-10"), 1, 1)]
    );
    let f = &k.deployment_frequency;
    assert_eq!(f.per_day, 2.0 / 14.0);
    assert_eq!(f.per_week, 1.0);
    assert_eq!(f.deploy_days, 2);
    assert_eq!(f.deploy_days_per_week, 1.0);
}

#[test]
fn deploy_days_per_week_is_the_mean_over_the_weeks() {
    // Week of 06-03: Monday (twice), Tuesday, Wednesday → 3 days with a deploy, 4 deploys.
    // Week of 06-10: Friday → 1 day, 1 deploy. Mean (3 + 1) / 2 = 2 days a week.
    // 5 deployments in 14 days: 5/14 a day, 2.5 a week.
    // (Monday 09:00 JST = 00:00Z; Friday 2024-06-14 09:00 JST = 2024-06-14T00:00Z.)
    let history = DeliveryHistory {
        deployments: vec![
            deploy("a", "2024-06-03T00:00:00Z", Success, &[]),
            deploy("b", "2024-06-03T05:00:00Z", Success, &[]),
            deploy("c", "2024-06-04T00:00:00Z", Success, &[]),
            deploy("d", "2024-06-05T00:00:00Z", Success, &[]),
            deploy("e", "2024-06-14T00:00:00Z", Success, &[]),
        ],
        changes: vec![],
        incidents: vec![],
    };
    let k = keys(&history, &tokyo_weeks(2));
    let f = &k.deployment_frequency;
    assert_eq!(f.deploy_days_per_week, 2.0);
    assert_eq!(f.per_week, 2.5);
    assert_eq!(f.per_day, 5.0 / 14.0);
    let per_week: Vec<(u64, u32)> = k
        .weeks
        .iter()
        .map(|w| (w.deployments, w.deploy_days))
        .collect();
    assert_eq!(per_week, [(4, 3), (1, 1)]);
}

#[test]
fn dst_zone_week_boundary_follows_the_local_clock() {
    // Europe/Berlin moves to CEST on Sunday 2024-03-31. Monday 2024-03-25 00:00 CET is
    // 2024-03-24T23:00Z; Monday 2024-04-01 00:00 CEST is 2024-03-31T22:00Z; Monday 2024-04-08
    // 00:00 CEST is 2024-04-07T22:00Z. The window of those two weeks is 335 hours but 14
    // days on the wall clock.
    // 2024-03-31T21:59:59Z (Sunday 23:59:59 CEST) → week of 03-25;
    // 2024-03-31T22:00:00Z (Monday 00:00 CEST) → week of 04-01.
    // In Tokyo (UTC+9) both instants are Monday 2024-04-01 morning: the same week.
    let history = DeliveryHistory {
        deployments: vec![
            deploy("sun", "2024-03-31T21:59:59Z", Success, &[]),
            deploy("mon", "2024-03-31T22:00:00Z", Success, &[]),
        ],
        changes: vec![],
        incidents: vec![],
    };
    let berlin = Window::new(
        t("2024-03-24T23:00:00Z"),
        t("2024-04-07T22:00:00Z"),
        parse_tz("Europe/Berlin").expect("Europe/Berlin"),
    )
    .expect("a window");
    assert_eq!(berlin.until() - berlin.since(), h(335));
    let k = keys(&history, &KeysPolicy::new(berlin));
    let weeks: Vec<(NaiveDate, u64)> = k.weeks.iter().map(|w| (w.week, w.deployments)).collect();
    assert_eq!(weeks, [(date("2024-03-25"), 1), (date("2024-04-01"), 1)]);
    assert_eq!(k.deployment_frequency.days, 14.0);
    assert_eq!(k.deployment_frequency.per_week, 1.0);

    let tokyo = Window::new(
        t("2024-03-24T15:00:00Z"),
        t("2024-04-07T15:00:00Z"),
        parse_tz("Asia/Tokyo").expect("Asia/Tokyo"),
    )
    .expect("a window");
    let k = keys(&history, &KeysPolicy::new(tokyo));
    let weeks: Vec<(NaiveDate, u64)> = k.weeks.iter().map(|w| (w.week, w.deployments)).collect();
    assert_eq!(weeks, [(date("2024-03-25"), 0), (date("2024-04-01"), 2)]);
}

#[test]
fn ragged_window_edges_are_partial_weeks() {
    // From Wednesday 2024-06-05 00:00 JST (06-04T15:00Z) to Wednesday 2024-06-12 12:00 JST
    // (06-12T03:00Z): 7.5 days; local dates 06-05..06-12 → week of 06-03 has 5 days in the
    // window (Wed–Sun), week of 06-10 has 3 (Mon–Wed).
    let window = Window::new(
        t("2024-06-04T15:00:00Z"),
        t("2024-06-12T03:00:00Z"),
        parse_tz("Asia/Tokyo").expect("Asia/Tokyo"),
    )
    .expect("a window");
    let k = keys(&DeliveryHistory::default(), &KeysPolicy::new(window));
    assert_eq!(k.deployment_frequency.days, 7.5);
    let days: Vec<(NaiveDate, u32)> = k.weeks.iter().map(|w| (w.week, w.days)).collect();
    assert_eq!(days, [(date("2024-06-03"), 5), (date("2024-06-10"), 3)]);
}

#[test]
fn weekly_series_splits_every_key() {
    // Week of 06-03: d1 ok (a, 1 h), d2 succeeds but an incident links to it (resolved 2 h
    // after d2).
    // Week of 06-10: d3 ok (b, 3 h), d4 ok (c, 5 h).
    // Week 1: 2 successful deploys, 1 change (1 h), CFR 1/2, recovery 2 h.
    // Week 2: 2 deploys, 2 changes (median 4 h), CFR 0/2, no recovery.
    let history = DeliveryHistory {
        deployments: vec![
            deploy("d1", "2024-06-03T03:00:00Z", Success, &["a"]),
            deploy("d2", "2024-06-04T03:00:00Z", Success, &[]),
            deploy("d3", "2024-06-10T03:00:00Z", Success, &["b"]),
            deploy("d4", "2024-06-11T03:00:00Z", Success, &["c"]),
        ],
        changes: vec![
            change("a", "2024-06-03T02:00:00Z"),
            change("b", "2024-06-10T00:00:00Z"),
            change("c", "2024-06-10T22:00:00Z"),
        ],
        incidents: vec![incident(
            "i",
            "2024-06-04T04:00:00Z",
            Some("2024-06-04T05:00:00Z"),
            Some("d2"),
        )],
    };
    let k = keys(&history, &tokyo_weeks(2));
    let w1 = &k.weeks[0];
    assert_eq!(
        (w1.deployments, w1.changes, w1.lead_time_median),
        (2, 1, Some(h(1)))
    );
    assert_eq!(
        (w1.failed, w1.completed, w1.change_failure_rate),
        (1, 2, Some(0.5))
    );
    assert_eq!(w1.recovery_median, Some(h(2)));
    let w2 = &k.weeks[1];
    assert_eq!(
        (w2.deployments, w2.changes, w2.lead_time_median),
        (2, 2, Some(h(4)))
    );
    assert_eq!(
        (w2.failed, w2.completed, w2.change_failure_rate),
        (0, 2, Some(0.0))
    );
    assert_eq!(w2.recovery_median, None);
}

#[test]
fn invalid_histories_and_configs_are_refused_with_their_field() {
    let dup = DeliveryHistory {
        deployments: vec![
            deploy("d1", "2024-06-03T03:00:00Z", Success, &[]),
            deploy_to("d1", "web", "staging", "2024-06-04T03:00:00Z", Success, &[]),
        ],
        changes: vec![],
        incidents: vec![],
    };
    let err = compute(&dup, &tokyo_weeks(1)).expect_err("duplicate ids");
    assert!(matches!(err, DoraError::InvalidHistory { ref reason } if reason.contains("d1")));

    let conflicting = DeliveryHistory {
        deployments: vec![],
        changes: vec![
            change("a", "2024-06-03T02:00:00Z"),
            change("a", "2024-06-03T03:00:00Z"),
        ],
        incidents: vec![],
    };
    assert!(matches!(
        compute(&conflicting, &tokyo_weeks(1)),
        Err(DoraError::InvalidHistory { .. })
    ));
    // The same record twice is harmless.
    let same = DeliveryHistory {
        deployments: vec![],
        changes: vec![
            change("a", "2024-06-03T02:00:00Z"),
            change("a", "2024-06-03T02:00:00Z"),
        ],
        incidents: vec![],
    };
    assert!(compute(&same, &tokyo_weeks(1)).is_ok());

    let field = |r: Result<KeysPolicy, DoraError>| match r {
        Err(DoraError::InvalidConfig { field, .. }) => field,
        other => panic!("expected InvalidConfig, got {other:?}"),
    };
    let config = |since: &str, until: &str, tz: &str| KeysConfig {
        since: t(since),
        until: t(until),
        tz: tz.to_owned(),
        environment: "production".to_owned(),
        lead_time_from: LeadTimeStart::Committed,
    };
    let ok = "2024-06-02T15:00:00Z";
    let later = "2024-06-09T15:00:00Z";
    assert_eq!(
        field(KeysPolicy::try_from(config(later, ok, "Asia/Tokyo"))),
        "since"
    );
    assert_eq!(
        field(KeysPolicy::try_from(config(ok, ok, "Asia/Tokyo"))),
        "since"
    );
    assert_eq!(
        field(KeysPolicy::try_from(config(ok, later, "Mars/Olympus"))),
        "tz"
    );
    let mut empty_env = config(ok, later, "Asia/Tokyo");
    empty_env.environment = " ".to_owned();
    assert_eq!(field(KeysPolicy::try_from(empty_env)), "environment");

    // From JSON, with defaults; unknown fields refused.
    let parsed: KeysConfig = serde_json::from_str(
        r#"{"since": "2024-06-02T15:00:00Z", "until": "2024-06-09T15:00:00Z"}"#,
    )
    .expect("a config");
    assert_eq!(parsed.tz, "Asia/Tokyo");
    assert_eq!(parsed.environment, "production");
    assert_eq!(parsed.lead_time_from, LeadTimeStart::Committed);
    let policy = KeysPolicy::try_from(parsed).expect("valid");
    assert_eq!(policy.window.length_days(), 7.0);
    assert!(serde_json::from_str::<KeysConfig>(
        r#"{"since": "2024-06-02T15:00:00Z", "until": "2024-06-09T15:00:00Z", "zone": "UTC"}"#
    )
    .is_err());
}
