//! The canary controller end to end: SQLite state, the lease, tick slots, reconciliation after
//! a real crash (a child process that aborts between the API call and the state write), shadow
//! mode, and the exact deployments the simulated platform received.
//!
//! Timeline used throughout (hand computed from the default plan: steps 1 → 10 → 50 → 100,
//! bake 5 min, 1000 canary requests per step, 3 failed checks, deadline 30 min; ticks every
//! 5 min starting 2025-03-01 12:00 UTC):
//!
//! | tick  | phase before | judged                         | action            |
//! |-------|--------------|--------------------------------|-------------------|
//! | 12:00 | initializing | no                             | 1 %               |
//! | 12:05 | 1 %          | 200 000 req × 1 % ≈ 2 000 ≥ 1 000 on the canary, 0 errors: pass | 10 %   |
//! | 12:10 | 10 %         | pass                           | 50 %              |
//! | 12:15 | 50 %         | pass                           | promote (100 %)   |
//! | 12:20 | promoting    | no                             | none: succeeded   |
//!
//! A bad canary has a 5 % error rate: its burn rate is 0.05 / 0.001 = 50 against a baseline
//! of 0, so the SLO judge fails it (50 ≥ 3 × 0 and 50 ≥ the floor of 1).

#![cfg(feature = "sqlite")]

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use parky_core::ManualClock;
use parky_deploy::controller::{
    CanaryController, CanaryMetrics, ControllerSettings, MarkOutcome, Recovery, Report,
    SimulatedMetrics, SkipReason, StateFile, TickOutcome, WindowTraffic,
    JOURNAL_DEPLOYMENT_CREATED,
};
use parky_deploy::model::{TrafficSplit, VersionId};
use parky_deploy::policy::canary::{Action, CanaryPlan, Command, EventKind, Phase, RollbackCause};
use parky_deploy::policy::judge::SloJudge;
use parky_deploy::policy::shadow::{DecisionId, Enforcement, EnforcementMode};
use parky_deploy::workers::{
    Deployment, DeploymentRequest, Operation, VersionBehaviour, WorkerVersion, WorkersApi,
    WorkersSimulator,
};
use parky_deploy::DeployError;

const SCRIPT: &str = "shop";
const REQUESTS_PER_WINDOW: u64 = 200_000;

/// 2025-03-01 12:00:00 UTC plus `minutes`.
fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0)
        .single()
        .expect("valid date")
        + chrono::Duration::minutes(minutes)
}

fn at_secs(seconds: i64) -> DateTime<Utc> {
    at(0) + chrono::Duration::seconds(seconds)
}

fn v(id: &str) -> VersionId {
    VersionId::from(id)
}

fn healthy() -> VersionBehaviour {
    VersionBehaviour::healthy(Duration::from_millis(200))
}

fn bad() -> VersionBehaviour {
    VersionBehaviour::new(0.05, Duration::from_millis(200)).expect("valid rate")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

/// The platform before any canary: v1 deployed at 100 %, v2 uploaded; then `replayed`
/// deployments (those a crashed child process made) applied in order.
fn platform(clock: &ManualClock, replayed: &[DeploymentRequest]) -> WorkersSimulator {
    let sim = WorkersSimulator::new().with_clock(Arc::new(clock.clone()));
    sim.upload_version(SCRIPT, v("v1"), healthy());
    sim.upload_version(SCRIPT, v("v2"), healthy());
    at_once(sim.create_deployment(SCRIPT, &DeploymentRequest::all_on(v("v1"))))
        .expect("initial deployment");
    for request in replayed {
        at_once(sim.create_deployment(SCRIPT, request)).expect("replayed deployment");
    }
    sim
}

/// Runs a future that never waits (the simulator's calls) to completion, inside or outside
/// a runtime.
fn at_once<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the simulator never waits"),
    }
}

/// Each deployment as `[(version, percent)]`, oldest first.
fn deployments(sim: &WorkersSimulator) -> Vec<Vec<(String, u8)>> {
    sim.history(SCRIPT)
        .iter()
        .map(|d| {
            d.versions
                .iter()
                .map(|x| (x.version_id.0.clone(), x.percentage as u8))
                .collect()
        })
        .collect()
}

fn dep(versions: &[(&str, u8)]) -> Vec<(String, u8)> {
    versions
        .iter()
        .map(|(id, p)| ((*id).to_owned(), *p))
        .collect()
}

fn split(percent: u8) -> TrafficSplit {
    TrafficSplit {
        stable: v("v1"),
        canary: Some((v("v2"), percent)),
    }
}

fn controller_with(
    path: &Path,
    api: Arc<dyn WorkersApi>,
    metrics: Arc<dyn CanaryMetrics>,
    holder: &str,
) -> CanaryController {
    CanaryController::open(
        path,
        ControllerSettings::new(SCRIPT, "production").with_holder(holder),
        api,
        metrics,
        Arc::new(SloJudge::default()),
    )
    .expect("open controller")
}

fn controller(path: &Path, sim: &WorkersSimulator, holder: &str) -> CanaryController {
    controller_with(
        path,
        Arc::new(sim.clone()),
        Arc::new(SimulatedMetrics::new(sim.clone(), REQUESTS_PER_WINDOW, 42)),
        holder,
    )
}

/// A test directory with a state file path, a clock and the platform.
struct Rig {
    _dir: tempfile::TempDir,
    path: PathBuf,
    clock: ManualClock,
    sim: WorkersSimulator,
}

impl Rig {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("canary.db");
        let clock = ManualClock::new(at(-10));
        let sim = platform(&clock, &[]);
        Self {
            _dir: dir,
            path,
            clock,
            sim,
        }
    }

    /// Ticks `controller` at `now` (the platform's clock moves too).
    async fn tick(&self, controller: &CanaryController, now: DateTime<Utc>) -> TickOutcome {
        self.clock.set(now);
        controller.tick(now).await.expect("tick")
    }
}

fn ticked(outcome: TickOutcome) -> Report {
    match outcome {
        TickOutcome::Ticked(report) => *report,
        other => panic!("expected a tick, got {other:?}"),
    }
}

fn events(report: &Report) -> Vec<EventKind> {
    report
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Record(e) => Some(e.kind.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_healthy_canary_is_promoted_by_ticks() {
    let rig = Rig::new();
    let c = controller(&rig.path, &rig.sim, "cron");
    assert_eq!(
        rig.tick(&c, at(-5)).await,
        TickOutcome::Skipped(SkipReason::NoCanary)
    );
    let started = c
        .start(at(0), &CanaryPlan::default(), v("v2"))
        .await
        .expect("start");
    assert_eq!(started.phase, Phase::Initializing);
    assert_eq!(started.traffic, TrafficSplit::all_on(v("v1")));

    let expected = [
        (0, Phase::Progressing, 1, split(1)),
        (5, Phase::Progressing, 10, split(10)),
        (10, Phase::Progressing, 50, split(50)),
        (15, Phase::Promoting, 100, TrafficSplit::all_on(v("v2"))),
        (20, Phase::Succeeded, 100, TrafficSplit::all_on(v("v2"))),
    ];
    for (minute, phase, weight, traffic) in expected {
        let report = ticked(rig.tick(&c, at(minute)).await);
        assert_eq!(
            (report.phase, report.weight, &report.traffic),
            (phase, weight, &traffic),
            "at 12:{minute:02}"
        );
        assert_eq!(report.recovery, None);
        // One deployment per tick that changed the split, none for the confirmation.
        assert_eq!(report.deployments.len(), usize::from(minute < 20));
    }
    assert_eq!(
        deployments(&rig.sim),
        vec![
            dep(&[("v1", 100)]),
            dep(&[("v1", 99), ("v2", 1)]),
            dep(&[("v1", 90), ("v2", 10)]),
            dep(&[("v1", 50), ("v2", 50)]),
            dep(&[("v2", 100)]),
        ]
    );
    let status = c.status().expect("status");
    assert_eq!(status.state.expect("state").phase(), Phase::Succeeded);
    assert_eq!(status.pending, None);
    assert_eq!(status.lease, None, "every tick released its lease");
    assert_eq!(status.last_slot, Some(c.slot(at(20))));
    assert!(status.ledger.decisions().is_empty());
    // A terminal canary: further ticks do nothing on the platform.
    let report = ticked(rig.tick(&c, at(25)).await);
    assert!(report.actions.is_empty() && report.deployments.is_empty());
    assert_eq!(rig.sim.history(SCRIPT).len(), 5);
}

#[tokio::test]
async fn a_bad_canary_is_rolled_back_at_the_ten_percent_step() {
    let rig = Rig::new();
    let c = controller(&rig.path, &rig.sim, "cron");
    c.start(at(0), &CanaryPlan::default(), v("v2"))
        .await
        .expect("start");
    assert_eq!(ticked(rig.tick(&c, at(0)).await).weight, 1);
    assert_eq!(ticked(rig.tick(&c, at(5)).await).weight, 10);
    // The regression shows up under 10 % of the traffic.
    rig.sim
        .set_behaviour(SCRIPT, &v("v2"), bad())
        .expect("set behaviour");
    for (minute, failed) in [(10, 1), (15, 2)] {
        let report = ticked(rig.tick(&c, at(minute)).await);
        assert_eq!((report.phase, report.weight), (Phase::Progressing, 10));
        assert!(report.deployments.is_empty());
        assert!(matches!(
            events(&report).as_slice(),
            [EventKind::CheckFailed { failed_checks, weight: 10, .. }] if *failed_checks == failed
        ));
    }
    // Third failed check: the threshold (3) is reached, the canary is rolled back.
    let report = ticked(rig.tick(&c, at(20)).await);
    assert_eq!((report.phase, report.weight), (Phase::RollingBack, 0));
    assert_eq!(report.traffic, TrafficSplit::all_on(v("v1")));
    assert_eq!(report.deployments.len(), 1);
    assert_eq!(report.decisions, vec![DecisionId(1)]);
    assert!(report.actions.contains(&Action::Rollback { to: v("v1") }));
    // The next tick confirms it, without another deployment.
    let report = ticked(rig.tick(&c, at(25)).await);
    assert_eq!(report.phase, Phase::RolledBack);
    assert_eq!(
        events(&report),
        vec![EventKind::RolledBack {
            cause: RollbackCause::FailedChecks
        }]
    );
    assert_eq!(
        deployments(&rig.sim),
        vec![
            dep(&[("v1", 100)]),
            dep(&[("v1", 99), ("v2", 1)]),
            dep(&[("v1", 90), ("v2", 10)]),
            dep(&[("v1", 100)]),
        ]
    );
    let ledger = c.status().expect("status").ledger;
    assert_eq!(ledger.decisions().len(), 1);
    assert_eq!(ledger.decisions()[0].enforcement, Enforcement::Enforced);
    assert_eq!(ledger.decisions()[0].at, at(20));
}

#[tokio::test]
async fn two_ticks_in_the_same_slot_act_once() {
    let rig = Rig::new();
    let c = controller(&rig.path, &rig.sim, "cron");
    let other = controller(&rig.path, &rig.sim, "another-cron");
    c.start(at(0), &CanaryPlan::default(), v("v2"))
        .await
        .expect("start");
    // 12:00:00 and 12:04:59 are both in slot floor(t / 5 min); 12:05:00 starts the next.
    assert_eq!(c.slot(at(0)), c.slot(at_secs(299)));
    assert_eq!(c.slot(at(0)) + 1, c.slot(at(5)));

    assert_eq!(ticked(rig.tick(&c, at(0)).await).weight, 1);
    let state = c.status().expect("status").state;
    let slot = c.slot(at(0));
    for (who, now) in [(&c, at_secs(1)), (&other, at_secs(150)), (&c, at_secs(299))] {
        assert_eq!(
            rig.tick(who, now).await,
            TickOutcome::Skipped(SkipReason::AlreadyTicked { slot })
        );
    }
    assert_eq!(c.status().expect("status").state, state, "nothing changed");
    assert_eq!(rig.sim.history(SCRIPT).len(), 2);
    // The next slot acts again (from the other controller: the slot is shared).
    assert_eq!(ticked(rig.tick(&other, at(5)).await).weight, 10);
    assert_eq!(rig.sim.history(SCRIPT).len(), 3);
}

/// Metrics that, while armed, announce they were called and block until released: the
/// controller calling them holds the lease meanwhile.
struct GatedMetrics {
    inner: SimulatedMetrics,
    armed: AtomicBool,
    entered: Mutex<Sender<()>>,
    release: Mutex<Receiver<()>>,
}

#[async_trait]
impl CanaryMetrics for GatedMetrics {
    async fn window(
        &self,
        script: &str,
        split: &TrafficSplit,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<WindowTraffic, DeployError> {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.entered.lock().unwrap().send(()).unwrap();
            // Blocks this controller's own thread (and runtime) only.
            self.release.lock().unwrap().recv().unwrap();
        }
        self.inner.window(script, split, from, to).await
    }
}

#[test]
fn concurrent_controllers_act_once_per_slot() {
    let rig = Rig::new();
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let gated = Arc::new(GatedMetrics {
        inner: SimulatedMetrics::new(rig.sim.clone(), REQUESTS_PER_WINDOW, 1),
        armed: AtomicBool::new(false),
        entered: Mutex::new(entered_tx),
        release: Mutex::new(release_rx),
    });
    // Two controllers, each with its own SQLite connection to the same file.
    let a = controller_with(&rig.path, Arc::new(rig.sim.clone()), gated.clone(), "a");
    let b = controller(&rig.path, &rig.sim, "b");
    let rt = runtime();
    rt.block_on(b.start(at(0), &CanaryPlan::default(), v("v2")))
        .expect("start");
    rig.clock.set(at(0));
    assert_eq!(ticked(rt.block_on(b.tick(at(0))).expect("tick")).weight, 1);

    // Slot 12:05: `a` takes the lease and stops inside its metrics call.
    rig.clock.set(at(5));
    gated.armed.store(true, Ordering::SeqCst);
    std::thread::scope(|scope| {
        let a_run = scope.spawn(|| runtime().block_on(a.tick(at(5))));
        entered_rx.recv().expect("a is inside its tick");
        // `b` (another connection) skips, and its commands are refused, while `a` holds it.
        assert_eq!(
            rt.block_on(b.tick(at_secs(5 * 60 + 30))).expect("b ticks"),
            TickOutcome::Skipped(SkipReason::Busy {
                holder: "a".to_owned(),
                until: at(9),
            })
        );
        assert_eq!(
            rt.block_on(b.command(at_secs(5 * 60 + 31), Command::Pause)),
            Err(DeployError::LeaseBusy {
                holder: "a".to_owned(),
                until: at(9),
            })
        );
        assert_eq!(rig.sim.history(SCRIPT).len(), 2, "a has not deployed yet");
        release_tx.send(()).expect("release a");
        let report = ticked(a_run.join().expect("a's thread").expect("a's tick"));
        assert_eq!(report.weight, 10);
    });
    // The slot is done: `b` does not act again in it.
    assert_eq!(
        rt.block_on(b.tick(at(6))).expect("b ticks"),
        TickOutcome::Skipped(SkipReason::AlreadyTicked {
            slot: b.slot(at(5))
        })
    );

    // Slots 12:10 and 12:15: both race for real; exactly one acts in each.
    for minute in [10, 15] {
        rig.clock.set(at(minute));
        let outcomes = std::thread::scope(|scope| {
            let runs: Vec<_> = [&a, &b]
                .into_iter()
                .map(|c| scope.spawn(move || runtime().block_on(c.tick(at(minute)))))
                .collect();
            runs.into_iter()
                .map(|r| r.join().expect("thread").expect("tick"))
                .collect::<Vec<_>>()
        });
        let acted = outcomes
            .iter()
            .filter(|o| matches!(o, TickOutcome::Ticked(_)))
            .count();
        assert_eq!(acted, 1, "at 12:{minute}: {outcomes:?}");
        assert!(outcomes.iter().all(|o| matches!(
            o,
            TickOutcome::Ticked(_)
                | TickOutcome::Skipped(SkipReason::Busy { .. } | SkipReason::AlreadyTicked { .. })
        )));
    }
    // Exactly one deployment per slot, each created in its own slot.
    let history = rig.sim.history(SCRIPT);
    let slots: Vec<i64> = history[1..].iter().map(|d| b.slot(d.created_on)).collect();
    assert_eq!(
        slots,
        vec![b.slot(at(0)), b.slot(at(5)), b.slot(at(10)), b.slot(at(15))]
    );
    assert_eq!(
        deployments(&rig.sim),
        vec![
            dep(&[("v1", 100)]),
            dep(&[("v1", 99), ("v2", 1)]),
            dep(&[("v1", 90), ("v2", 10)]),
            dep(&[("v1", 50), ("v2", 50)]),
            dep(&[("v2", 100)]),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Crash between the API call and the state write, in a real child process
// ---------------------------------------------------------------------------------------------

const CRASH_DB: &str = "PARKY_CONTROLLER_CRASH_DB";
const CRASH_LOG: &str = "PARKY_CONTROLLER_CRASH_LOG";

/// The platform as the child sees it; after a successful deployment it writes the request to
/// `log` (so the parent can rebuild the platform's state) and aborts the process: no unwinding,
/// no destructors, the state write never happens.
struct AbortAfterDeploy {
    inner: WorkersSimulator,
    log: PathBuf,
}

#[async_trait]
impl WorkersApi for AbortAfterDeploy {
    async fn list_versions(&self, script: &str) -> Result<Vec<WorkerVersion>, DeployError> {
        self.inner.list_versions(script).await
    }

    async fn get_version(
        &self,
        script: &str,
        version: &VersionId,
    ) -> Result<WorkerVersion, DeployError> {
        self.inner.get_version(script, version).await
    }

    async fn list_deployments(&self, script: &str) -> Result<Vec<Deployment>, DeployError> {
        self.inner.list_deployments(script).await
    }

    async fn create_deployment(
        &self,
        script: &str,
        request: &DeploymentRequest,
    ) -> Result<Deployment, DeployError> {
        self.inner.create_deployment(script, request).await?;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        writeln!(log, "{}", serde_json::to_string(request).unwrap()).unwrap();
        log.sync_all().unwrap();
        std::process::abort();
    }
}

/// The child's side of `a_crash_after_the_deployment_is_reconciled_without_redeploying`;
/// does nothing unless the parent set the environment.
#[test]
fn crash_child() {
    let (Ok(db), Ok(log)) = (std::env::var(CRASH_DB), std::env::var(CRASH_LOG)) else {
        return;
    };
    let clock = ManualClock::new(at(0));
    let sim = platform(&clock, &[]);
    let c = controller_with(
        Path::new(&db),
        Arc::new(AbortAfterDeploy {
            inner: sim.clone(),
            log: log.into(),
        }),
        Arc::new(SimulatedMetrics::new(sim, REQUESTS_PER_WINDOW, 3)),
        "child",
    );
    let rt = runtime();
    rt.block_on(c.start(at(0), &CanaryPlan::default(), v("v2")))
        .unwrap();
    let _ = rt.block_on(c.tick(at(0)));
    unreachable!("the platform aborts the process after deploying the 1 % step");
}

#[test]
fn a_crash_after_the_deployment_is_reconciled_without_redeploying() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("canary.db");
    let log = dir.path().join("deployed.jsonl");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--test-threads=1", "--nocapture"])
        .env(CRASH_DB, &db)
        .env(CRASH_LOG, &log)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the child must have died: {status:?}");

    // The platform after the crash: the child's deployment did land.
    let replayed: Vec<DeploymentRequest> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(replayed.len(), 1);
    let clock = ManualClock::new(at(0));
    let sim = platform(&clock, &replayed);
    assert_eq!(sim.split(SCRIPT).unwrap(), split(1));

    // The state file: the canary is still initializing, with the 1 % change pending and the
    // dead child's lease (12:00 + 4 min).
    let c = controller(&db, &sim, "survivor");
    let status = c.status().unwrap();
    assert_eq!(status.state.as_ref().unwrap().phase(), Phase::Initializing);
    assert_eq!(status.pending, Some(split(1)));
    assert_eq!(status.lease, Some(("child".to_owned(), at(4))));
    assert_eq!(status.last_slot, None);

    let rt = runtime();
    // 12:01: the dead run's lease has not expired yet.
    assert_eq!(
        rt.block_on(c.tick(at(1))).unwrap(),
        TickOutcome::Skipped(SkipReason::Busy {
            holder: "child".to_owned(),
            until: at(4),
        })
    );
    // 12:04, still the 12:00 slot: the platform serves the pending target, so the state is
    // adopted; the dead run was this slot's tick, so the tick is complete with nothing more.
    clock.set(at(4));
    let report = ticked(rt.block_on(c.tick(at(4))).unwrap());
    assert_eq!(
        report.recovery,
        Some(Recovery::Adopted {
            split: split(1),
            planned_at: at(0),
        })
    );
    assert!(report.actions.is_empty() && report.deployments.is_empty());
    assert_eq!((report.phase, report.weight), (Phase::Progressing, 1));
    assert_eq!(
        rt.block_on(c.tick(at_secs(4 * 60 + 30))).unwrap(),
        TickOutcome::Skipped(SkipReason::AlreadyTicked {
            slot: c.slot(at(0))
        })
    );
    // 12:05: an ordinary tick again, from the adopted step (started 12:00): 10 %.
    clock.set(at(5));
    let report = ticked(rt.block_on(c.tick(at(5))).unwrap());
    assert_eq!((report.recovery, report.weight), (None, 10));

    // No duplicate 1 % deployment, no reversal to v1 alone.
    assert_eq!(
        deployments(&sim),
        vec![
            dep(&[("v1", 100)]),
            dep(&[("v1", 99), ("v2", 1)]),
            dep(&[("v1", 90), ("v2", 10)]),
        ]
    );
    let kinds: Vec<String> = c.journal().unwrap().into_iter().map(|j| j.kind).collect();
    assert_eq!(
        kinds,
        [
            "canary_started",
            "lease_taken_over",
            "recovered",
            "deployment_created"
        ],
        "journal"
    );
}

#[tokio::test]
async fn an_api_error_leaves_the_state_and_the_next_tick_retries() {
    let rig = Rig::new();
    let c = controller(&rig.path, &rig.sim, "cron");
    c.start(at(0), &CanaryPlan::default(), v("v2"))
        .await
        .expect("start");
    rig.sim.fail_next(
        Operation::CreateDeployment,
        WorkersSimulator::http_failure(Operation::CreateDeployment, 503, "overloaded", None),
    );
    rig.clock.set(at(0));
    let error = c.tick(at(0)).await.unwrap_err();
    assert!(error.is_retryable(), "{error}");
    let status = c.status().expect("status");
    assert_eq!(status.state.expect("state").phase(), Phase::Initializing);
    assert_eq!((status.last_slot, status.lease), (None, None));
    assert_eq!(status.pending, Some(split(1)), "kept in case it landed");
    assert_eq!(rig.sim.history(SCRIPT).len(), 1);
    // Same slot, one minute later: the change never landed, so it is planned again, once.
    let report = ticked(rig.tick(&c, at(1)).await);
    assert!(matches!(report.recovery, Some(Recovery::Discarded { .. })));
    assert_eq!((report.weight, report.deployments.len()), (1, 1));
    assert_eq!(
        deployments(&rig.sim),
        vec![dep(&[("v1", 100)]), dep(&[("v1", 99), ("v2", 1)])]
    );
}

#[tokio::test]
async fn a_split_changed_by_hand_stops_the_controller_but_not_an_abort() {
    let rig = Rig::new();
    let c = controller(&rig.path, &rig.sim, "cron");
    c.start(at(0), &CanaryPlan::default(), v("v2"))
        .await
        .expect("start");
    ticked(rig.tick(&c, at(0)).await);
    // Someone puts v1 back at 100 % by hand.
    rig.sim
        .create_deployment(SCRIPT, &DeploymentRequest::all_on(v("v1")))
        .await
        .expect("manual deployment");
    let error = c.tick(at(5)).await.unwrap_err();
    assert_eq!(
        error,
        DeployError::TrafficDrift {
            script: SCRIPT.to_owned(),
            expected: "v1 99% + v2 1%".to_owned(),
            actual: "v1 100%".to_owned(),
        }
    );
    assert_eq!(c.status().expect("status").lease, None);
    // An operator's abort goes through; the platform already serves v1, so nothing is sent,
    // and the abort is complete at once.
    let report = c.command(at(6), Command::Abort).await.expect("abort");
    assert_eq!(report.phase, Phase::Aborted);
    assert!(report.deployments.is_empty());
    assert_eq!(
        events(&report).last(),
        Some(&EventKind::RolledBack {
            cause: RollbackCause::Aborted
        })
    );
    let report = ticked(rig.tick(&c, at(10)).await);
    assert_eq!(report.phase, Phase::Aborted);
    assert!(report.actions.is_empty());
    assert_eq!(rig.sim.history(SCRIPT).len(), 3);
}

#[tokio::test]
async fn shadow_mode_records_the_rollback_in_the_ledger_instead() {
    let rig = Rig::new();
    let c = controller(&rig.path, &rig.sim, "cron");
    let plan = CanaryPlan::default().with_mode(EnforcementMode::Shadow);
    c.start(at(0), &plan, v("v2")).await.expect("start");
    ticked(rig.tick(&c, at(0)).await);
    ticked(rig.tick(&c, at(5)).await);
    rig.sim
        .set_behaviour(SCRIPT, &v("v2"), bad())
        .expect("set behaviour");
    ticked(rig.tick(&c, at(10)).await);
    ticked(rig.tick(&c, at(15)).await);
    // The third failed check would roll back; in shadow mode it is only recorded.
    let report = ticked(rig.tick(&c, at(20)).await);
    assert_eq!((report.phase, report.weight), (Phase::Progressing, 10));
    assert!(report.deployments.is_empty());
    assert!(!report
        .actions
        .iter()
        .any(|a| matches!(a, Action::Rollback { .. })));
    assert!(events(&report).iter().any(|k| matches!(
        k,
        EventKind::RollbackShadowed {
            cause: RollbackCause::FailedChecks,
            weight: 10,
            ..
        }
    )));
    assert_eq!(report.decisions, vec![DecisionId(1)]);
    assert_eq!(
        deployments(&rig.sim),
        vec![
            dep(&[("v1", 100)]),
            dep(&[("v1", 99), ("v2", 1)]),
            dep(&[("v1", 90), ("v2", 10)]),
        ],
        "still at 10 %: nothing was rolled back"
    );

    // The ledger's report: shadow since the start (12:00), one shadowed decision at 12:20,
    // no false positive: ready on 1 March + 14 days = 15 March 12:00.
    let ledger = c.status().expect("status").ledger;
    let report = ledger.report(at(21));
    let env = &report.environments[0];
    assert_eq!(env.environment, "production");
    assert_eq!(env.mode, Some(EnforcementMode::Shadow));
    assert_eq!(env.shadow_since, Some(at(0)));
    assert_eq!((env.decisions, env.shadowed, env.enforced), (1, 1, 0));
    assert_eq!(env.false_positives, 0);
    assert!(!env.ready);
    assert_eq!(env.ready_at, Some(at(0) + chrono::Duration::days(14)));

    // Marked as a false positive (through the lease): the clock restarts from the decision,
    // 12:20 + 14 days.
    assert_eq!(
        c.mark_false_positive(at(22), DecisionId(1), "load test traffic")
            .await
            .expect("mark"),
        MarkOutcome::Marked
    );
    let ledger = c.status().expect("status").ledger;
    let env = ledger.report(at(23)).environments[0].clone();
    assert_eq!(env.false_positives, 1);
    assert_eq!(env.last_false_positive, Some(at(20)));
    assert_eq!(env.ready_at, Some(at(20) + chrono::Duration::days(14)));
    assert_eq!(
        c.mark_false_positive(at(24), DecisionId(9), "?").await,
        Err(DeployError::UnknownDecision { id: 9 })
    );
}

#[tokio::test]
async fn a_second_mark_says_the_decision_was_already_marked_and_keeps_the_first() {
    let rig = Rig::new();
    let c = controller(&rig.path, &rig.sim, "cron");
    let plan = CanaryPlan::default().with_mode(EnforcementMode::Shadow);
    rig.sim
        .set_behaviour(SCRIPT, &v("v2"), bad())
        .expect("set behaviour");
    c.start(at(0), &plan, v("v2")).await.expect("start");
    // 12:00 sets 1 %; 12:05, 12:10, 12:15 fail: the third failed check is decision 1.
    for minute in [0, 5, 10, 15] {
        ticked(rig.tick(&c, at(minute)).await);
    }
    assert_eq!(c.status().expect("status").ledger.decisions().len(), 1);
    let first = c
        .mark_false_positive(at(20), DecisionId(1), "cold start")
        .await
        .expect("first mark");
    assert_eq!(first, MarkOutcome::Marked);
    let second = c
        .mark_false_positive(at(21), DecisionId(1), "another note")
        .await
        .expect("second mark");
    match second {
        MarkOutcome::AlreadyMarked(fp) => {
            assert_eq!((fp.marked_at, fp.note.as_str()), (at(20), "cold start"));
        }
        other => panic!("expected AlreadyMarked, got {other:?}"),
    }
    // The lease is free again and the ledger kept the first note.
    let status = c.status().expect("status");
    assert_eq!(status.lease, None);
    let fp = status.ledger.decisions()[0]
        .false_positive
        .clone()
        .expect("marked");
    assert_eq!(fp.note, "cold start");
}

#[tokio::test]
async fn a_tick_before_the_last_recorded_tick_is_refused_and_changes_nothing() {
    let rig = Rig::new();
    let c = controller(&rig.path, &rig.sim, "cron");
    c.start(at(0), &CanaryPlan::default(), v("v2"))
        .await
        .expect("start");
    // A tick far in the future (a wrong --now) is recorded: slot of 2030-01-01 00:00.
    let future = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    rig.clock.set(future);
    ticked(c.tick(future).await.expect("future tick"));
    let state = c.status().expect("status").state;
    // Back to the real time: refused with the last slot's start, nothing saved.
    rig.clock.set(at(5));
    let error = c.tick(at(5)).await.unwrap_err();
    assert_eq!(
        error,
        DeployError::TickBeforeLast {
            path: rig.path.display().to_string(),
            now: at(5),
            last_tick_slot_start: future,
        }
    );
    assert!(error
        .to_string()
        .contains("earlier than the last recorded tick"));
    assert_eq!(c.status().expect("status").state, state);
    assert_eq!(c.status().expect("status").lease, None);
    // The same slot as the last tick is still the idempotent skip, not an error
    // (2030-01-01 00:04:59 is in the slot that starts at 00:00).
    let same_slot = future + chrono::Duration::seconds(299);
    assert_eq!(
        c.tick(same_slot).await.expect("same slot"),
        TickOutcome::Skipped(SkipReason::AlreadyTicked {
            slot: c.slot(future)
        })
    );
}

#[test]
fn a_file_that_is_not_a_state_file_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let other = dir.path().join("other.db");
    other_database(&other);
    let before = std::fs::read(&other).expect("read");
    let sim = WorkersSimulator::new();
    for result in [
        StateFile::open(&other).map(drop),
        CanaryController::open(
            &other,
            ControllerSettings::new(SCRIPT, "production"),
            Arc::new(sim.clone()),
            Arc::new(SimulatedMetrics::new(sim.clone(), 1, 1)),
            Arc::new(SloJudge::default()),
        )
        .map(drop),
    ] {
        assert_eq!(
            result.unwrap_err(),
            DeployError::NotAStateFile {
                path: other.display().to_string(),
                reason: "it is another SQLite database (tables: notes)".to_owned(),
            }
        );
    }
    assert_eq!(std::fs::read(&other).expect("read"), before, "untouched");

    let text = dir.path().join("notes.txt");
    std::fs::write(
        &text,
        "not a database at all, just some text that is long enough\n".repeat(20),
    )
    .expect("write");
    assert_eq!(
        StateFile::open(&text).unwrap_err(),
        DeployError::NotAStateFile {
            path: text.display().to_string(),
            reason: "it is not an SQLite database".to_owned(),
        }
    );
    // A missing file is not created by a read-only open.
    let missing = dir.path().join("missing.db");
    assert!(matches!(
        StateFile::open(&missing),
        Err(DeployError::StateStore { .. })
    ));
    assert!(!missing.exists());
}

#[tokio::test]
async fn a_read_only_state_file_reads_what_the_controller_wrote() {
    let rig = Rig::new();
    let c = controller(&rig.path, &rig.sim, "cron");
    c.start(at(0), &CanaryPlan::default(), v("v2"))
        .await
        .expect("start");
    ticked(rig.tick(&c, at(0)).await);
    let file = StateFile::open(&rig.path).expect("read-only open");
    assert_eq!(file.status().expect("status"), c.status().expect("status"));
    assert_eq!(
        file.journal().expect("journal"),
        c.journal().expect("journal")
    );
}

/// An SQLite database of another program: one table, `notes`.
fn other_database(path: &Path) {
    let connection = rusqlite::Connection::open(path).expect("open");
    connection
        .execute_batch("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('mine');")
        .expect("create");
}

#[tokio::test]
async fn an_abort_completes_in_the_command_and_each_deployment_is_journaled() {
    let rig = Rig::new();
    let c = controller(&rig.path, &rig.sim, "cron");
    c.start(at(0), &CanaryPlan::default(), v("v2"))
        .await
        .expect("start");
    ticked(rig.tick(&c, at(0)).await); // 1 %: deployment #2 (#1 is the platform's v1)
    let report = c.command(at(2), Command::Abort).await.expect("abort");
    assert_eq!((report.phase, report.weight), (Phase::Aborted, 0));
    assert_eq!(report.traffic, TrafficSplit::all_on(v("v1")));
    assert_eq!(
        events(&report),
        vec![
            EventKind::RollbackStarted {
                cause: RollbackCause::Aborted,
                weight: 1,
                reasons: vec!["aborted by an operator".to_owned()],
            },
            EventKind::RolledBack {
                cause: RollbackCause::Aborted
            },
        ]
    );
    assert_eq!(
        report.deployments,
        vec!["00000000-0000-4000-8000-000000000003".to_owned()]
    );
    let state = c.status().expect("status").state.expect("a canary");
    assert_eq!(state.phase(), Phase::Aborted);
    assert_eq!(
        deployments(&rig.sim),
        vec![
            dep(&[("v1", 100)]),
            dep(&[("v1", 99), ("v2", 1)]),
            dep(&[("v1", 100)])
        ]
    );
    let created: Vec<String> = c
        .journal()
        .expect("journal")
        .into_iter()
        .filter(|j| j.kind == JOURNAL_DEPLOYMENT_CREATED)
        .map(|j| j.detail)
        .collect();
    assert_eq!(
        created,
        [
            "00000000-0000-4000-8000-000000000002: v1 99% + v2 1% (parky canary: 1% on the canary)",
            "00000000-0000-4000-8000-000000000003: v1 100% (parky canary: rolled back)",
        ]
    );
    // The next tick has nothing left to do.
    let report = ticked(rig.tick(&c, at(5)).await);
    assert_eq!(report.phase, Phase::Aborted);
    assert!(report.actions.is_empty() && report.deployments.is_empty());
}

#[test]
fn another_apps_database_with_its_own_user_version_is_not_a_state_file() {
    // A notify outbox: `PRAGMA user_version = 2` (newer than nothing of ours, but not ours)
    // and one table, `outbox`. It must not read as "a newer Parky state file".
    let dir = tempfile::tempdir().expect("tempdir");
    let outbox = dir.path().join("parky-outbox.sqlite");
    let connection = rusqlite::Connection::open(&outbox).expect("open");
    connection
        .execute_batch("CREATE TABLE outbox (id INTEGER PRIMARY KEY); PRAGMA user_version = 2;")
        .expect("create");
    drop(connection);
    let before = std::fs::read(&outbox).expect("read");
    let sim = WorkersSimulator::new();
    for result in [
        StateFile::open(&outbox).map(drop),
        CanaryController::open(
            &outbox,
            ControllerSettings::new(SCRIPT, "production"),
            Arc::new(sim.clone()),
            Arc::new(SimulatedMetrics::new(sim.clone(), 1, 1)),
            Arc::new(SloJudge::default()),
        )
        .map(drop),
    ] {
        assert_eq!(
            result.unwrap_err(),
            DeployError::NotAStateFile {
                path: outbox.display().to_string(),
                reason: "it is another SQLite database (tables: outbox)".to_owned(),
            }
        );
    }
    assert_eq!(std::fs::read(&outbox).expect("read"), before, "untouched");
}

#[tokio::test]
async fn a_controller_for_another_worker_is_refused_and_changes_nothing() {
    let rig = Rig::new();
    let c = controller(&rig.path, &rig.sim, "cron");
    c.start(at(0), &CanaryPlan::default(), v("v2"))
        .await
        .expect("start");
    let status = c.status().expect("status");
    assert_eq!(status.script.as_deref(), Some(SCRIPT));

    let other_sim = WorkersSimulator::new();
    let other = CanaryController::open(
        &rig.path,
        ControllerSettings::new("other-worker", "production").with_holder("operator"),
        Arc::new(other_sim.clone()),
        Arc::new(SimulatedMetrics::new(other_sim.clone(), 1, 1)),
        Arc::new(SloJudge::default()),
    )
    .expect("open");
    let refused = DeployError::WrongScript {
        path: rig.path.display().to_string(),
        recorded: SCRIPT.to_owned(),
        given: "other-worker".to_owned(),
    };
    assert_eq!(
        other.command(at(1), Command::Pause).await.unwrap_err(),
        refused
    );
    assert_eq!(other.tick(at(5)).await.unwrap_err(), refused);
    // A running canary cannot be restarted on another Worker either.
    assert_eq!(
        other
            .start(at(6), &CanaryPlan::default(), v("v3"))
            .await
            .unwrap_err(),
        refused
    );
    assert_eq!(
        refused.to_string(),
        format!(
            "controller state `{}` holds the canary of Worker `shop`, not `other-worker`; refusing to act on another Worker's canary",
            rig.path.display()
        )
    );
    // Nothing changed: same state, no deployment on either platform, lease free.
    let after = c.status().expect("status");
    assert_eq!(after.state, status.state);
    assert_eq!(after.lease, None);
    assert_eq!(deployments(&rig.sim), [dep(&[("v1", 100)])]);
    assert!(other_sim.history("other-worker").is_empty());
}
