//! The canary state machine, the SLO judge and the shadow ledger, end to end, with times and
//! dates computed by hand in the comments.

use chrono::{DateTime, Duration, TimeZone, Utc};
use parky_deploy::model::{TrafficSplit, VersionId};
use parky_deploy::policy::canary::{
    Action, CanaryConfig, CanaryPlan, CanaryState, Check, Command, Event, EventKind, Phase,
    RollbackCause,
};
use parky_deploy::policy::judge::{CanaryJudge, SloJudge, TrafficSample, Verdict};
use parky_deploy::policy::shadow::{
    DecisionId, Enforcement, EnforcementMode, EnvironmentReport, ShadowLedger,
};
use parky_deploy::DeployError;
use proptest::prelude::*;

/// 2025-03-01 12:00:00 UTC plus `minutes`.
fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0)
        .single()
        .expect("valid date")
        + Duration::minutes(minutes)
}

/// Steps 1, 10, 50, 100; bake 5 min; 1000 requests per step; deadline 30 min.
fn plan(threshold: u32) -> CanaryPlan {
    CanaryPlan::try_from(CanaryConfig {
        failure_threshold: threshold,
        ..CanaryConfig::default()
    })
    .expect("valid plan")
}

fn new_state() -> CanaryState {
    CanaryState::new("v1".into(), "v2".into(), at(0)).expect("valid state")
}

fn split(percent: u8) -> TrafficSplit {
    TrafficSplit {
        stable: "v1".into(),
        canary: Some(("v2".into(), percent)),
    }
}

fn record(minutes: i64, attempt: u32, kind: EventKind) -> Action {
    Action::Record(Event {
        at: at(minutes),
        attempt,
        kind,
    })
}

fn started(minutes: i64, step: usize, weight: u8, manual: bool) -> Action {
    record(
        minutes,
        1,
        EventKind::StepStarted {
            step,
            weight,
            manual,
        },
    )
}

fn pass(requests: u64) -> Check {
    Check::new(Verdict::Pass, requests)
}

fn fail(reason: &str) -> Check {
    Check::new(Verdict::fail(reason), 5_000)
}

/// Ticks and returns the new state, asserting the actions.
fn tick_expect(
    plan: &CanaryPlan,
    state: CanaryState,
    minutes: i64,
    check: &Check,
    expected: &[Action],
) -> CanaryState {
    let (state, actions) = plan.tick(state, at(minutes), check);
    assert_eq!(actions, expected, "tick at +{minutes} min");
    state
}

fn command_expect(
    plan: &CanaryPlan,
    state: CanaryState,
    minutes: i64,
    command: Command,
    expected: &[Action],
) -> CanaryState {
    let (state, actions) = plan
        .command(state, at(minutes), command)
        .expect("command allowed");
    assert_eq!(actions, expected, "{command:?} at +{minutes} min");
    state
}

#[test]
fn happy_path_1_10_50_100() {
    let plan = plan(2);
    // 12:00 first tick: 1 %.
    let s = tick_expect(
        &plan,
        new_state(),
        0,
        &pass(0),
        &[Action::SetTraffic(split(1)), started(0, 0, 1, false)],
    );
    assert_eq!(
        (s.phase(), s.weight(), s.step(&plan)),
        (Phase::Progressing, 1, Some(0))
    );
    // 12:01: baked 1 min < 5 → hold.
    let s = tick_expect(&plan, s, 1, &pass(200), &[]);
    // 12:05: baked 5 min, but 999 < 1000 requests → hold.
    let s = tick_expect(&plan, s, 5, &pass(999), &[]);
    // 12:06: baked 6 min and 1200 requests → 10 %.
    let s = tick_expect(
        &plan,
        s,
        6,
        &pass(1_200),
        &[Action::SetTraffic(split(10)), started(6, 1, 10, false)],
    );
    assert_eq!(s.step_started_at(), at(6));
    // 12:10: 4 min into the step → hold; 12:11: 5 min → 50 %.
    let s = tick_expect(&plan, s, 10, &pass(5_000), &[]);
    let s = tick_expect(
        &plan,
        s,
        11,
        &pass(5_000),
        &[Action::SetTraffic(split(50)), started(11, 2, 50, false)],
    );
    // 12:16: 5 min at 50 % → the next step is 100: promote.
    let s = tick_expect(
        &plan,
        s,
        16,
        &pass(30_000),
        &[
            Action::Promote("v2".into()),
            record(16, 1, EventKind::PromotionStarted { manual: false }),
        ],
    );
    assert_eq!((s.phase(), s.weight()), (Phase::Promoting, 100));
    assert_eq!(s.traffic(), TrafficSplit::all_on("v2".into()));
    // 12:17: the promotion was applied → succeeded; later ticks change nothing.
    let s = tick_expect(
        &plan,
        s,
        17,
        &pass(0),
        &[record(17, 1, EventKind::Succeeded)],
    );
    assert_eq!(s.phase(), Phase::Succeeded);
    let s = tick_expect(&plan, s, 60, &fail("late"), &[]);
    assert_eq!(s.phase(), Phase::Succeeded);
    assert_eq!(s.history().len(), 5);
    assert_eq!(s.failed_checks(), 0);
}

#[test]
fn failing_check_at_10_percent_rolls_back_with_exact_actions() {
    let plan = plan(1);
    let s = tick_expect(
        &plan,
        new_state(),
        0,
        &pass(0),
        &[Action::SetTraffic(split(1)), started(0, 0, 1, false)],
    );
    let s = tick_expect(
        &plan,
        s,
        5,
        &pass(1_000),
        &[Action::SetTraffic(split(10)), started(5, 1, 10, false)],
    );
    // The SLO judge: baseline 5/10 000 → burn 0.5; canary 4/2000 → burn 2.0 ≥ 3 × 0.5 and
    // ≥ 1.0 → fail. p99 0.25 < 2 × 0.2 → no latency reason.
    let verdict = SloJudge::default().judge(
        &TrafficSample {
            requests: 2_000,
            errors: 4,
            p99_seconds: Some(0.25),
        },
        &TrafficSample {
            requests: 10_000,
            errors: 5,
            p99_seconds: Some(0.2),
        },
    );
    let reasons = vec!["error burn rate 2.000 >= 3 x baseline 0.500 (and >= 1)".to_owned()];
    assert_eq!(
        verdict,
        Verdict::Fail {
            reasons: reasons.clone()
        }
    );
    // 12:07: one failed check reaches threshold 1 → roll back from 10 %.
    let s = tick_expect(
        &plan,
        s,
        7,
        &Check::new(verdict, 2_000),
        &[
            record(
                7,
                1,
                EventKind::CheckFailed {
                    weight: 10,
                    failed_checks: 1,
                    threshold: 1,
                    reasons: reasons.clone(),
                },
            ),
            Action::Rollback { to: "v1".into() },
            record(
                7,
                1,
                EventKind::RollbackStarted {
                    cause: RollbackCause::FailedChecks,
                    weight: 10,
                    reasons,
                },
            ),
        ],
    );
    assert_eq!((s.phase(), s.weight()), (Phase::RollingBack, 0));
    assert_eq!(s.traffic(), TrafficSplit::all_on("v1".into()));
    // 12:08: confirmed.
    let s = tick_expect(
        &plan,
        s,
        8,
        &pass(0),
        &[record(
            8,
            1,
            EventKind::RolledBack {
                cause: RollbackCause::FailedChecks,
            },
        )],
    );
    assert_eq!(s.phase(), Phase::RolledBack);
    assert_eq!(s.rollback_cause(), Some(RollbackCause::FailedChecks));
}

#[test]
fn inconclusive_holds_without_counting() {
    let plan = plan(1);
    let s = plan.tick(new_state(), at(0), &pass(0)).0;
    // Threshold 1, yet ten inconclusive checks over 12:05–12:14 neither fail nor advance.
    let mut s = s;
    for minute in 5..15 {
        s = tick_expect(
            &plan,
            s,
            minute,
            &Check::new(Verdict::inconclusive("canary served 10 requests"), 10_000),
            &[],
        );
    }
    assert_eq!(
        (s.phase(), s.weight(), s.failed_checks()),
        (Phase::Progressing, 1, 0)
    );
    // 12:15 the data arrives: 15 min baked, pass → 10 %.
    tick_expect(
        &plan,
        s,
        15,
        &pass(10_000),
        &[Action::SetTraffic(split(10)), started(15, 1, 10, false)],
    );
}

#[test]
fn threshold_2_counts_cumulatively_across_steps() {
    let plan = plan(2);
    let s = plan.tick(new_state(), at(0), &pass(0)).0;
    // 12:05: baked and 5000 requests, but the check fails: counted (1/2), no advance.
    let s = tick_expect(
        &plan,
        s,
        5,
        &fail("p99 high"),
        &[record(
            5,
            1,
            EventKind::CheckFailed {
                weight: 1,
                failed_checks: 1,
                threshold: 2,
                reasons: vec!["p99 high".to_owned()],
            },
        )],
    );
    assert_eq!(
        (s.phase(), s.weight(), s.failed_checks()),
        (Phase::Progressing, 1, 1)
    );
    // 12:06: pass → 10 %; a pass does not reset the count (Flagger counts cumulatively).
    let s = tick_expect(
        &plan,
        s,
        6,
        &pass(5_000),
        &[Action::SetTraffic(split(10)), started(6, 1, 10, false)],
    );
    assert_eq!(s.failed_checks(), 1);
    // 12:11: second failure (2/2) → rollback from 10 %.
    let s = tick_expect(
        &plan,
        s,
        11,
        &fail("errors"),
        &[
            record(
                11,
                1,
                EventKind::CheckFailed {
                    weight: 10,
                    failed_checks: 2,
                    threshold: 2,
                    reasons: vec!["errors".to_owned()],
                },
            ),
            Action::Rollback { to: "v1".into() },
            record(
                11,
                1,
                EventKind::RollbackStarted {
                    cause: RollbackCause::FailedChecks,
                    weight: 10,
                    reasons: vec!["errors".to_owned()],
                },
            ),
        ],
    );
    assert_eq!(s.phase(), Phase::RollingBack);
}

#[test]
fn progress_deadline_rolls_back() {
    let plan = plan(3);
    let s = plan.tick(new_state(), at(0), &pass(0)).0;
    // Low traffic: bake time passes (12:05) but 1000 requests never arrive.
    let s = tick_expect(&plan, s, 10, &pass(400), &[]);
    // A failed check below the threshold before the deadline only counts.
    let s = plan.tick(s, at(20), &fail("x")).0;
    assert_eq!((s.phase(), s.failed_checks()), (Phase::Progressing, 1));
    // 12:29: 29 min < 30 → hold.
    let s = tick_expect(&plan, s, 29, &pass(900), &[]);
    // 12:30: 30 min without progress since the step started at 12:00 → rollback.
    let s = tick_expect(
        &plan,
        s,
        30,
        &pass(990),
        &[
            Action::Rollback { to: "v1".into() },
            record(
                30,
                1,
                EventKind::RollbackStarted {
                    cause: RollbackCause::ProgressDeadline,
                    weight: 1,
                    reasons: vec!["no progress for 30m (progress deadline)".to_owned()],
                },
            ),
        ],
    );
    let s = plan.tick(s, at(31), &pass(0)).0;
    assert_eq!(s.phase(), Phase::RolledBack);
    assert_eq!(s.rollback_cause(), Some(RollbackCause::ProgressDeadline));
}

#[test]
fn pause_promote_resume_and_full_promotion() {
    let plan = plan(2);
    let s = plan.tick(new_state(), at(0), &pass(0)).0;
    let s = command_expect(
        &plan,
        s,
        1,
        Command::Pause,
        &[record(1, 1, EventKind::Paused)],
    );
    assert_eq!(s.phase(), Phase::Paused);
    // Paused at 12:40: no advance although baked with traffic, no deadline although 40 > 30.
    let s = tick_expect(&plan, s, 40, &pass(10_000), &[]);
    let s = command_expect(&plan, s, 40, Command::Pause, &[]);
    // 12:41: promote one step by hand: 10 %, still paused.
    let s = command_expect(
        &plan,
        s,
        41,
        Command::PromoteStep,
        &[Action::SetTraffic(split(10)), started(41, 1, 10, true)],
    );
    assert_eq!((s.phase(), s.weight()), (Phase::Paused, 10));
    // 12:42: resume; the deadline restarts from 12:42.
    let s = command_expect(
        &plan,
        s,
        42,
        Command::Resume,
        &[record(42, 1, EventKind::Resumed)],
    );
    assert_eq!((s.phase(), s.progress_at()), (Phase::Progressing, at(42)));
    let s = command_expect(&plan, s, 42, Command::Resume, &[]);
    // 12:46: 5 min since the 10 % step started at 12:41 → 50 %.
    let s = tick_expect(
        &plan,
        s,
        46,
        &pass(2_000),
        &[Action::SetTraffic(split(50)), started(46, 2, 50, false)],
    );
    // 12:47: full promotion by hand.
    let s = command_expect(
        &plan,
        s,
        47,
        Command::PromoteFull,
        &[
            Action::Promote("v2".into()),
            record(47, 1, EventKind::PromotionStarted { manual: true }),
        ],
    );
    assert_eq!(
        plan.command(s.clone(), at(47), Command::Resume),
        Err(DeployError::CommandNotAllowed {
            command: "resume".to_owned(),
            phase: "promoting".to_owned()
        })
    );
    let s = plan.tick(s, at(48), &pass(0)).0;
    for command in [
        Command::Retry,
        Command::Abort,
        Command::Pause,
        Command::PromoteStep,
    ] {
        let error = plan.command(s.clone(), at(49), command).unwrap_err();
        assert!(
            error.to_string().ends_with("a canary that is succeeded"),
            "{error}"
        );
    }
}

#[test]
fn failed_checks_still_count_while_paused() {
    let plan = plan(1);
    let s = plan.tick(new_state(), at(0), &pass(0)).0;
    let s = plan.command(s, at(1), Command::Pause).expect("pause").0;
    let (s, actions) = plan.tick(s, at(2), &fail("errors"));
    assert_eq!(s.phase(), Phase::RollingBack);
    assert_eq!(actions[1], Action::Rollback { to: "v1".into() });
}

#[test]
fn abort_and_retry() {
    let plan = plan(2);
    let s = plan.tick(new_state(), at(0), &pass(0)).0;
    let s = plan.tick(s, at(3), &fail("x")).0;
    assert_eq!(s.failed_checks(), 1);
    let s = command_expect(
        &plan,
        s,
        4,
        Command::Abort,
        &[
            Action::Rollback { to: "v1".into() },
            record(
                4,
                1,
                EventKind::RollbackStarted {
                    cause: RollbackCause::Aborted,
                    weight: 1,
                    reasons: vec!["aborted by an operator".to_owned()],
                },
            ),
        ],
    );
    let s = command_expect(&plan, s, 4, Command::Abort, &[]);
    assert!(plan.command(s.clone(), at(4), Command::Retry).is_err());
    let s = tick_expect(
        &plan,
        s,
        5,
        &pass(0),
        &[record(
            5,
            1,
            EventKind::RolledBack {
                cause: RollbackCause::Aborted,
            },
        )],
    );
    assert_eq!(s.phase(), Phase::Aborted);
    let s = command_expect(
        &plan,
        s,
        10,
        Command::Retry,
        &[record(10, 2, EventKind::Retried { attempt: 2 })],
    );
    assert_eq!(
        (
            s.phase(),
            s.weight(),
            s.failed_checks(),
            s.attempt(),
            s.rollback_cause()
        ),
        (Phase::Initializing, 0, 0, 2, None)
    );
    tick_expect(
        &plan,
        s,
        11,
        &pass(0),
        &[
            Action::SetTraffic(split(1)),
            record(
                11,
                2,
                EventKind::StepStarted {
                    step: 0,
                    weight: 1,
                    manual: false,
                },
            ),
        ],
    );
}

#[test]
fn shadow_mode_records_instead_of_rolling_back() {
    let plan = plan(2).with_mode(EnforcementMode::Shadow);
    let s = plan.tick(new_state(), at(0), &pass(0)).0;
    let s = plan.tick(s, at(2), &fail("errors")).0;
    let (s, actions) = plan.tick(s, at(3), &fail("errors"));
    // No Rollback: the would-be rollback is recorded; count and deadline clock restart.
    assert_eq!(
        actions,
        [
            record(
                3,
                1,
                EventKind::CheckFailed {
                    weight: 1,
                    failed_checks: 2,
                    threshold: 2,
                    reasons: vec!["errors".to_owned()],
                },
            ),
            record(
                3,
                1,
                EventKind::RollbackShadowed {
                    cause: RollbackCause::FailedChecks,
                    weight: 1,
                    reasons: vec!["errors".to_owned()],
                },
            ),
        ]
    );
    assert_eq!(
        (s.phase(), s.weight(), s.failed_checks(), s.progress_at()),
        (Phase::Progressing, 1, 0, at(3))
    );
    // The controller's part: shadowed rollbacks go to the ledger.
    let mut ledger = ShadowLedger::new();
    ledger.set_mode("production", EnforcementMode::Shadow, at(-60));
    for action in &actions {
        if let Action::Record(Event {
            at,
            kind: EventKind::RollbackShadowed { reasons, .. },
            ..
        }) = action
        {
            ledger.record(
                "production",
                *at,
                s.canary().clone(),
                Enforcement::Shadowed,
                reasons.clone(),
            );
        }
    }
    assert_eq!(ledger.decisions().len(), 1);
    assert_eq!(ledger.decisions()[0].canary, VersionId::from("v2"));
    // The canary goes on: 12:05 pass with traffic → 10 %.
    let (s, _) = plan.tick(s, at(5), &pass(1_000));
    assert_eq!(s.weight(), 10);
    // A shadowed deadline: 30 min after 12:05 without progress.
    let (_, actions) = plan.tick(s, at(35), &Check::new(Verdict::inconclusive("no data"), 0));
    assert!(matches!(
        &actions[..],
        [Action::Record(Event {
            kind: EventKind::RollbackShadowed {
                cause: RollbackCause::ProgressDeadline,
                ..
            },
            ..
        })]
    ));
}

fn day(d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, d, h, 0, 0)
        .single()
        .expect("valid date")
}

fn env<'a>(report: &'a [EnvironmentReport], name: &str) -> &'a EnvironmentReport {
    report
        .iter()
        .find(|r| r.environment == name)
        .expect("environment in report")
}

#[test]
fn two_week_rule_with_hand_dates() {
    let mut ledger = ShadowLedger::new();
    ledger.set_mode("production", EnforcementMode::Shadow, day(1, 9));
    ledger.set_mode("staging", EnforcementMode::Enforce, day(1, 9));
    let d1 = ledger.record(
        "production",
        day(3, 12),
        "v2".into(),
        Enforcement::Shadowed,
        vec!["error burn rate 4.000 >= 3 x baseline 1.000 (and >= 1)".to_owned()],
    );
    let d2 = ledger.record(
        "production",
        day(8, 12),
        "v3".into(),
        Enforcement::Shadowed,
        vec!["p99 0.600s >= 2 x baseline 0.250s".to_owned()],
    );
    let d3 = ledger.record(
        "staging",
        day(5, 12),
        "v3".into(),
        Enforcement::Enforced,
        vec![],
    );
    assert_eq!((d1, d2, d3), (DecisionId(1), DecisionId(2), DecisionId(3)));
    // d1 was a false positive (marked the next day).
    ledger
        .mark_false_positive(d1, day(4, 10), "cold start right after deploy")
        .expect("known decision");

    // 15 Mar 09:00: shadow since 1 Mar 09:00 → 14 days exactly, met; but the false positive of
    // 3 Mar 12:00 is within 14 days: ready at 3 Mar 12:00 + 14 d = 17 Mar 12:00.
    let report = ledger.report(day(15, 9));
    let production = env(&report.environments, "production");
    assert_eq!(production.mode, Some(EnforcementMode::Shadow));
    assert_eq!(production.shadow_since, Some(day(1, 9)));
    assert_eq!(
        (
            production.decisions,
            production.shadowed,
            production.enforced
        ),
        (2, 2, 0)
    );
    assert_eq!(production.false_positives, 1);
    assert_eq!(production.last_false_positive, Some(day(3, 12)));
    // Window (1 Mar 09:00, 15 Mar 09:00] holds both decisions.
    assert_eq!(production.decisions_last_14_days, 2);
    assert_eq!(production.ready_at, Some(day(17, 12)));
    assert!(!production.ready);
    let staging = env(&report.environments, "staging");
    assert_eq!(
        (
            staging.mode,
            staging.enforced,
            staging.ready,
            staging.ready_at
        ),
        (Some(EnforcementMode::Enforce), 1, false, None)
    );

    // 17 Mar 11:00: an hour short; 17 Mar 12:00: met.
    assert!(!env(&ledger.report(day(17, 11)).environments, "production").ready);
    let met = ledger.report(day(17, 12));
    let production = env(&met.environments, "production");
    assert!(production.ready);
    // Window (3 Mar 12:00, 17 Mar 12:00]: d1 is exactly on the edge, outside; d2 inside.
    assert_eq!(production.decisions_last_14_days, 1);

    // d2 turns out to be a false positive too (marked late, on 18 Mar): 8 Mar 12:00 + 14 d.
    ledger
        .mark_false_positive(d2, day(18, 9), "shared dependency was slow")
        .expect("known decision");
    let production = env(&ledger.report(day(18, 9)).environments, "production").clone();
    assert_eq!(production.ready_at, Some(day(22, 12)));
    assert!(!production.ready);

    // A report for a date before the decisions ignores them.
    let early = ledger.report(day(2, 9));
    let production = env(&early.environments, "production");
    assert_eq!((production.decisions, production.false_positives), (0, 0));
    assert_eq!(production.ready_at, Some(day(15, 9)));

    // The ledger is persisted as JSON.
    let json = serde_json::to_string(&ledger).expect("serializes");
    let back: ShadowLedger = serde_json::from_str(&json).expect("parses");
    assert_eq!(back, ledger);
}

// ---------------------------------------------------------------------------------------------
// Invariants over random plans, verdicts and commands.

#[derive(Debug, Clone)]
enum Input {
    Tick {
        minutes: i64,
        verdict: u8,
        requests: u64,
    },
    Command(Command),
}

fn any_input() -> impl Strategy<Value = Input> {
    prop_oneof![
        8 => (0_i64..20, 0_u8..3, 0_u64..3_000).prop_map(|(minutes, verdict, requests)| {
            Input::Tick { minutes, verdict, requests }
        }),
        1 => prop_oneof![
            Just(Command::PromoteStep),
            Just(Command::PromoteFull),
            Just(Command::Pause),
            Just(Command::Resume),
            Just(Command::Abort),
            Just(Command::Retry),
        ]
        .prop_map(Input::Command),
    ]
}

fn any_plan() -> impl Strategy<Value = CanaryPlan> {
    (
        proptest::collection::btree_set(1_u32..100, 1..6),
        0_u64..10,
        0_u64..2_000,
        1_u32..4,
        1_u64..40,
        any::<bool>(),
    )
        .prop_map(|(steps, bake, min_requests, threshold, extra, shadow)| {
            let mut steps: Vec<u32> = steps.into_iter().collect();
            steps.push(100);
            CanaryPlan::try_from(CanaryConfig {
                steps,
                bake_time: format!("{bake}m"),
                min_requests,
                failure_threshold: threshold,
                progress_deadline: format!("{}m", bake + extra),
            })
            .expect("generated plans are valid")
            .with_mode(if shadow {
                EnforcementMode::Shadow
            } else {
                EnforcementMode::Enforce
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn state_machine_invariants(
        plan in any_plan(),
        inputs in proptest::collection::vec(any_input(), 1..80),
    ) {
        let stable = VersionId::from("v1");
        let mut now = at(0);
        let mut state = CanaryState::new(stable.clone(), "v2".into(), now).expect("valid");
        // The canary's share as the platform sees it from the actions.
        let mut traffic: u8 = 0;
        for input in inputs {
            let before = state.clone();
            let (after, actions, ticked_verdict, requests) = match &input {
                Input::Tick { minutes, verdict, requests } => {
                    now += Duration::minutes(*minutes);
                    let verdict = match verdict {
                        0 => Verdict::Pass,
                        1 => Verdict::fail("bad"),
                        _ => Verdict::inconclusive("thin"),
                    };
                    let (s, a) = plan.tick(state, now, &Check::new(verdict.clone(), *requests));
                    (s, a, Some(verdict), *requests)
                }
                Input::Command(command) => match plan.command(state, now, *command) {
                    Ok((s, a)) => (s, a, None, 0),
                    Err(DeployError::CommandNotAllowed { .. }) => (before.clone(), vec![], None, 0),
                    Err(other) => panic!("unexpected error {other}"),
                },
            };
            let full_promote = matches!(input, Input::Command(Command::PromoteFull));
            for action in &actions {
                match action {
                    Action::SetTraffic(split) => {
                        let p = split.canary_percent();
                        // Never skips a step, never decreases.
                        let next = plan.steps().iter().copied().find(|&s| s > traffic);
                        prop_assert_eq!(Some(p), next, "from {}", traffic);
                        prop_assert!(p > traffic && p < 100);
                        prop_assert_eq!(&split.stable, &stable);
                        traffic = p;
                    }
                    Action::Promote(version) => {
                        prop_assert_eq!(version, before.canary());
                        if !full_promote {
                            let next = plan.steps().iter().copied().find(|&s| s > traffic);
                            prop_assert_eq!(next, Some(100), "promoted from {}", traffic);
                        }
                        traffic = 100;
                    }
                    Action::Rollback { to } => {
                        // A rollback returns 100 % to the stable version.
                        prop_assert_eq!(to, &stable);
                        prop_assert_eq!(after.traffic(), TrafficSplit::all_on(stable.clone()));
                        traffic = 0;
                    }
                    Action::Record(_) => {}
                }
            }
            let moved_forward = actions
                .iter()
                .any(|a| matches!(a, Action::SetTraffic(_) | Action::Promote(_)));
            if let Some(verdict) = &ticked_verdict {
                // Never forward after a failing check in the same tick (Initializing has no
                // canary traffic to judge yet).
                if matches!(verdict, Verdict::Fail { .. }) && before.phase() != Phase::Initializing {
                    prop_assert!(!moved_forward, "{:?}", actions);
                }
                // A step advances only after its bake time and its minimum requests.
                if moved_forward && before.phase() != Phase::Initializing {
                    prop_assert_eq!(before.phase(), Phase::Progressing);
                    prop_assert!(matches!(verdict, Verdict::Pass));
                    let baked = (now - before.step_started_at()).to_std().unwrap_or_default();
                    prop_assert!(baked >= plan.bake_time());
                    prop_assert!(requests >= plan.min_requests());
                }
                // Shadow mode never rolls back by itself.
                if plan.mode() == EnforcementMode::Shadow {
                    let rolled_back = actions.iter().any(|a| matches!(a, Action::Rollback { .. }));
                    prop_assert!(!rolled_back, "{:?}", actions);
                }
            }
            // Terminal phases stay terminal, except for a retry.
            if before.phase().is_terminal()
                && !matches!(input, Input::Command(Command::Retry))
            {
                prop_assert_eq!(&after, &before);
                prop_assert!(actions.is_empty());
            }
            // The state agrees with the platform, and it survives persistence.
            prop_assert_eq!(after.weight(), traffic);
            let json = serde_json::to_string(&after).expect("serializes");
            let back: CanaryState = serde_json::from_str(&json).expect("valid state");
            prop_assert_eq!(&back, &after);
            state = after;
        }
    }

    #[test]
    fn configs_validate_or_name_a_field(
        steps in proptest::collection::vec(0_u32..300, 0..8),
        bake in 0_u64..100,
        deadline in 0_u64..100,
        threshold in 0_u32..3,
    ) {
        let config = CanaryConfig {
            steps,
            bake_time: format!("{bake}s"),
            progress_deadline: format!("{deadline}s"),
            failure_threshold: threshold,
            ..CanaryConfig::default()
        };
        match CanaryPlan::try_from(config) {
            Ok(plan) => {
                prop_assert!(plan.steps().windows(2).all(|w| w[0] < w[1]));
                prop_assert_eq!(plan.steps().last(), Some(&100));
                prop_assert!(plan.steps().len() >= 2 && plan.steps()[0] >= 1);
                prop_assert!(plan.progress_deadline() > plan.bake_time());
            }
            Err(DeployError::InvalidConfig { field, .. }) => {
                prop_assert!(
                    field.starts_with("steps")
                        || field == "progress_deadline"
                        || field == "failure_threshold",
                    "{}", field
                );
            }
            Err(other) => prop_assert!(false, "{}", other),
        }
    }

    #[test]
    fn judge_never_panics(
        c in (0_u64..5_000, 0_u64..5_000, proptest::option::of(proptest::num::f64::ANY)),
        b in (0_u64..5_000, 0_u64..5_000, proptest::option::of(proptest::num::f64::ANY)),
    ) {
        let sample = |(requests, errors, p99_seconds)| TrafficSample { requests, errors, p99_seconds };
        let (canary, baseline) = (sample(c), sample(b));
        let verdict = SloJudge::default().judge(&canary, &baseline);
        if canary.requests < 1000 || baseline.requests < 1000 {
            prop_assert!(matches!(verdict, Verdict::Inconclusive { .. }), "{:?}", verdict);
        }
        if let Verdict::Fail { reasons } = verdict {
            prop_assert!(!reasons.is_empty());
        }
    }
}

#[test]
fn complete_rollback_confirms_an_abort_at_once_and_leaves_other_phases_alone() {
    let plan = plan(3);
    // 12:00 initializing → 1 % by tick; 12:02 an operator aborts: rolling back.
    let (state, _) = plan.tick(new_state(), at(0), &Check::new(Verdict::Pass, 0));
    let (rolling, _) = plan.command(state, at(2), Command::Abort).unwrap();
    assert_eq!(rolling.phase(), Phase::RollingBack);
    // Confirmed in the same minute, as the next tick would have: aborted, one event.
    let (done, actions) = plan.complete_rollback(rolling, at(2));
    assert_eq!(done.phase(), Phase::Aborted);
    assert_eq!(done.weight(), 0);
    assert_eq!(done.rollback_cause(), Some(RollbackCause::Aborted));
    assert_eq!(
        actions,
        vec![record(
            2,
            1,
            EventKind::RolledBack {
                cause: RollbackCause::Aborted
            }
        )]
    );
    // Any other phase: unchanged, no actions.
    let (same, none) = plan.complete_rollback(done.clone(), at(3));
    assert_eq!((same, none), (done, Vec::new()));
    let (fresh, none) = plan.complete_rollback(new_state(), at(3));
    assert_eq!((fresh, none), (new_state(), Vec::new()));
}
