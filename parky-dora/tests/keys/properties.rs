//! Invariants of the calculators and the classification, on generated histories.

use chrono::{DateTime, TimeDelta, Utc};
use parky_dora::model::{Change, DeliveryHistory, Deployment, DeploymentOutcome, Incident};
use parky_dora::policy::classify::{classify, Measurements, ReportYear};
use parky_dora::policy::stats::quantile_sorted;
use parky_dora::policy::{compute, parse_tz, FourKeys, KeysPolicy, Window};
use proptest::prelude::*;

/// The window: four Tokyo weeks from Monday 2024-06-03 00:00 JST.
fn since() -> DateTime<Utc> {
    "2024-06-02T15:00:00Z".parse().unwrap_or_default()
}

fn policy() -> KeysPolicy {
    let tz = parse_tz("Asia/Tokyo").unwrap_or(chrono_tz::UTC);
    match Window::new(since(), since() + TimeDelta::weeks(4), tz) {
        Ok(w) => KeysPolicy::new(w),
        Err(e) => panic!("a valid window: {e}"),
    }
}

const COMMITS: [&str; 12] = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"];

/// An instant from a week before the window to a week after it, by the minute.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (0_i64..(6 * 7 * 24 * 60)).prop_map(|m| since() - TimeDelta::weeks(1) + TimeDelta::minutes(m))
}

fn outcome() -> impl Strategy<Value = DeploymentOutcome> {
    prop_oneof![
        6 => Just(DeploymentOutcome::Success),
        3 => Just(DeploymentOutcome::Failure),
        1 => Just(DeploymentOutcome::Pending),
    ]
}

fn deployment_parts(
) -> impl Strategy<Value = (DateTime<Utc>, DeploymentOutcome, bool, bool, Vec<usize>)> {
    (
        instant(),
        outcome(),
        any::<bool>(),              // service: api or web
        prop::bool::weighted(0.85), // production or staging
        prop::collection::vec(0..COMMITS.len(), 0..4),
    )
}

fn history() -> impl Strategy<Value = DeliveryHistory> {
    (
        prop::collection::vec(deployment_parts(), 0..16),
        prop::collection::vec((instant(), prop::option::of(0_i64..600)), COMMITS.len()),
        prop::collection::vec(
            (
                instant(),
                prop::option::of(0_i64..3_000),
                0_usize..20,
                any::<bool>(),
            ),
            0..8,
        ),
    )
        .prop_map(|(deps, changes, incidents)| {
            let deployments: Vec<Deployment> = deps
                .into_iter()
                .enumerate()
                .map(|(i, (at, outcome, web, prod, commits))| Deployment {
                    id: format!("d{i}"),
                    service: if web { "web" } else { "api" }.to_owned(),
                    environment: if prod { "production" } else { "staging" }.to_owned(),
                    commit: commits
                        .last()
                        .map(|&c| COMMITS[c].to_owned())
                        .unwrap_or_default(),
                    at,
                    outcome,
                    commits: commits.iter().map(|&c| COMMITS[c].to_owned()).collect(),
                })
                .collect();
            let n = deployments.len();
            let changes = COMMITS
                .iter()
                .zip(changes)
                .map(|(c, (at, merged))| Change {
                    commit: (*c).to_owned(),
                    authored_at: at - TimeDelta::hours(1),
                    committed_at: at,
                    pull_request: merged.map(|_| 1),
                    merged_at: merged.map(|m| at + TimeDelta::minutes(m)),
                })
                .collect();
            let incidents = incidents
                .into_iter()
                .enumerate()
                .map(|(i, (opened, resolved, target, linked))| Incident {
                    id: format!("i{i}"),
                    opened_at: opened,
                    resolved_at: resolved.map(|m| opened + TimeDelta::minutes(m)),
                    // Linked to an existing deployment, to an unknown one, or to none.
                    deployment: linked.then(|| {
                        if target < n {
                            format!("d{target}")
                        } else {
                            format!("gone{target}")
                        }
                    }),
                })
                .collect();
            DeliveryHistory {
                deployments,
                changes,
                incidents,
            }
        })
}

fn keys(h: &DeliveryHistory) -> FourKeys {
    match compute(h, &policy()) {
        Ok(k) => k,
        Err(e) => panic!("generated histories are valid: {e}"),
    }
}

fn non_decreasing(s: &parky_dora::policy::DurationSummary) -> bool {
    TimeDelta::zero() <= s.median && s.median <= s.p75 && s.p75 <= s.p90
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn invariants_hold(h in history()) {
        let k = keys(&h);
        let c = &k.change_failure_rate;
        prop_assert!(c.failed <= c.completed);
        prop_assert_eq!(c.rate.is_none(), c.completed == 0);
        if let Some(rate) = c.rate {
            prop_assert!((0.0..=1.0).contains(&rate));
        }
        prop_assert_eq!(c.failed, c.failed_by_outcome + c.failed_by_incident);
        if let Some(s) = &k.lead_time.summary {
            prop_assert!(non_decreasing(s), "{:?}", s);
        }
        if let Some(s) = &k.recovery_time.summary {
            prop_assert!(non_decreasing(s), "{:?}", s);
        }
        // The weeks add up to the window.
        let sum = |f: fn(&parky_dora::policy::WeeklyKeys) -> u64| k.weeks.iter().map(f).sum::<u64>();
        prop_assert_eq!(sum(|w| w.deployments), k.deployment_frequency.successful);
        prop_assert_eq!(sum(|w| w.failed), c.failed);
        prop_assert_eq!(sum(|w| w.completed), c.completed);
        prop_assert_eq!(
            sum(|w| w.changes) as usize,
            k.lead_time.summary.map_or(0, |s| s.count)
        );
        prop_assert_eq!(k.weeks.len(), 4);
        for w in &k.weeks {
            if let Some(rate) = w.change_failure_rate {
                prop_assert!((0.0..=1.0).contains(&rate));
            }
            prop_assert!(w.lead_time_median.is_none_or(|d| d >= TimeDelta::zero()));
            prop_assert!(w.recovery_median.is_none_or(|d| d >= TimeDelta::zero()));
        }
        let f = &k.deployment_frequency;
        prop_assert!(f.deploy_days <= f.successful);
        prop_assert!(f.deploy_days_per_week <= 7.0);
    }

    #[test]
    fn input_order_does_not_matter(h in history()) {
        let mut reversed = h.clone();
        reversed.deployments.reverse();
        reversed.changes.reverse();
        reversed.incidents.reverse();
        prop_assert_eq!(keys(&h), keys(&reversed));
    }

    #[test]
    fn a_failed_deployment_never_lowers_the_change_failure_rate(
        h in history(),
        minute in 0_i64..(4 * 7 * 24 * 60),
        by_incident in any::<bool>(),
    ) {
        let before = keys(&h).change_failure_rate;
        let mut more = h.clone();
        let at = since() + TimeDelta::minutes(minute);
        more.deployments.push(Deployment {
            id: "extra".to_owned(),
            service: "api".to_owned(),
            environment: "production".to_owned(),
            commit: String::new(),
            at,
            outcome: if by_incident { DeploymentOutcome::Success } else { DeploymentOutcome::Failure },
            commits: vec![],
        });
        if by_incident {
            more.incidents.push(Incident {
                id: "extra-incident".to_owned(),
                opened_at: at,
                resolved_at: None,
                deployment: Some("extra".to_owned()),
            });
        }
        let after = keys(&more).change_failure_rate;
        prop_assert_eq!(after.failed, before.failed + 1);
        prop_assert_eq!(after.completed, before.completed + 1);
        prop_assert!(after.rate.unwrap_or(0.0) >= before.rate.unwrap_or(0.0));
    }

    #[test]
    fn linking_an_incident_again_changes_nothing(h in history(), target in 0_usize..16) {
        // The fourkeys defect: one incident recorded twice must not count twice.
        prop_assume!(!h.deployments.is_empty());
        let id = h.deployments[target % h.deployments.len()].id.clone();
        let incident = Incident {
            id: "twice".to_owned(),
            opened_at: since(),
            resolved_at: Some(since() + TimeDelta::hours(1)),
            deployment: Some(id),
        };
        let mut once = h.clone();
        once.incidents.push(incident.clone());
        let mut twice = once.clone();
        twice.incidents.push(incident);
        prop_assert_eq!(keys(&once), keys(&twice));
    }

    #[test]
    fn better_keys_never_give_a_worse_class(
        df in 0.0_f64..5.0, df_gain in 0.0_f64..5.0,
        lt in 0_i64..400 * 86_400, lt_gain in 0_i64..400 * 86_400,
        cfr in 0.0_f64..=1.0, cfr_gain in 0.0_f64..=1.0,
        rt in 0_i64..400 * 86_400, rt_gain in 0_i64..400 * 86_400,
        year in prop::sample::select(ReportYear::ALL.to_vec()),
    ) {
        let m = Measurements {
            deploys_per_day: df,
            lead_time_median: Some(TimeDelta::seconds(lt)),
            change_failure_rate: Some(cfr),
            recovery_median: Some(TimeDelta::seconds(rt)),
        };
        let better = Measurements {
            deploys_per_day: df + df_gain,
            lead_time_median: Some(TimeDelta::seconds((lt - lt_gain).max(0))),
            change_failure_rate: Some((cfr - cfr_gain).max(0.0)),
            recovery_median: Some(TimeDelta::seconds((rt - rt_gain).max(0))),
        };
        let (a, b) = (classify(&m, year), classify(&better, year));
        // Elite < High < Medium < Low: "not worse" is "not greater".
        prop_assert!(b.overall <= a.overall);
        prop_assert!(b.deployment_frequency <= a.deployment_frequency);
        prop_assert!(b.lead_time <= a.lead_time);
        prop_assert!(b.change_failure_rate <= a.change_failure_rate);
        prop_assert!(b.recovery_time <= a.recovery_time);
        prop_assert_eq!(a.overall, [a.deployment_frequency, a.lead_time.unwrap_or(a.deployment_frequency),
            a.change_failure_rate.unwrap_or(a.deployment_frequency),
            a.recovery_time.unwrap_or(a.deployment_frequency)].into_iter().max().unwrap_or(a.overall));
    }

    #[test]
    fn quantiles_match_a_floating_point_type7(mut sample in prop::collection::vec(-1_000_000_i128..1_000_000, 1..40)) {
        // Reference: NumPy's default percentile, in f64, on the same sample.
        sample.sort_unstable();
        let n = sample.len();
        for (num, den) in [(1_u32, 2_u32), (3, 4), (9, 10)] {
            let p = f64::from(num) / f64::from(den);
            let h = (n - 1) as f64 * p;
            let lo = h.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            let reference = sample[lo] as f64 + (h - lo as f64) * (sample[hi] - sample[lo]) as f64;
            let exact = quantile_sorted(&sample, num, den).unwrap_or(i128::MIN);
            prop_assert!((exact as f64 - reference).abs() <= 0.5 + 1e-6, "{} vs {}", exact, reference);
        }
    }
}
