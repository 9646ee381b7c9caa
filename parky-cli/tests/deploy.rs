//! End-to-end tests of `parky deploy …` and `parky canary …`.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use parky_deploy::controller::{CanaryController, ControllerSettings, SimulatedMetrics};
use parky_deploy::model::{TrafficSplit, VersionId};
use parky_deploy::policy::canary::CanaryPlan;
use parky_deploy::policy::judge::SloJudge;
use parky_deploy::policy::shadow::EnforcementMode;
use parky_deploy::workers::{DeploymentRequest, VersionBehaviour, WorkersApi, WorkersSimulator};
use serde_json::Value;

fn parky(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_parky"));
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove("PARKY_TEST_MISSING_SECRET");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the parky binary built by cargo runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "parky failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the test file");
    path.to_str().expect("UTF-8 path").to_owned()
}

const PLAN: &str = "\
services:
  - name: admin
    depends_on: [public]
    secrets: [PARKY_TEST_MISSING_SECRET]
    deploy: {command: [deploy-admin]}
  - name: store-sync
    secrets: [PARKY_TEST_PRESENT_SECRET]
    deploy: {command: [npx, wrangler, deploy], workdir: workers/store-sync}
  - name: public
    depends_on: [store-sync]
    deploy: {command: [deploy-public]}
";

#[test]
fn plan_prints_the_dependency_order_and_marks_missing_secrets_without_failing() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write(dir.path(), "plan.yaml", PLAN);
    let out = stdout(&parky(
        &["deploy", "plan", "--plan", &plan],
        &[("PARKY_TEST_PRESENT_SECRET", "x")],
    ));
    let first = out.find("1. store-sync").expect(&out);
    let second = out.find("2. public (after store-sync)").expect(&out);
    let third = out.find("3. admin (after public)").expect(&out);
    assert!(first < second && second < third, "{out}");
    assert!(
        out.contains("deploy: npx wrangler deploy (in workers/store-sync)"),
        "{out}"
    );
    assert!(
        out.contains("MISSING PARKY_TEST_MISSING_SECRET (service admin)"),
        "{out}"
    );
    assert!(!out.contains("MISSING PARKY_TEST_PRESENT_SECRET"), "{out}");
    assert!(out.contains("secrets: 1 missing"), "{out}");

    let all_set = stdout(&parky(
        &["deploy", "plan", "--plan", &plan],
        &[
            ("PARKY_TEST_PRESENT_SECRET", "x"),
            ("PARKY_TEST_MISSING_SECRET", "y"),
        ],
    ));
    assert!(all_set.contains("secrets: all present"), "{all_set}");
    assert!(!all_set.contains("  MISSING "), "{all_set}");
}

#[test]
fn plan_with_a_cycle_fails_naming_the_services_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write(
        dir.path(),
        "cycle.yaml",
        "services:\n  - name: a\n    depends_on: [b]\n    deploy: {command: [x]}\n  - name: b\n    depends_on: [a]\n    deploy: {command: [y]}\n",
    );
    let output = parky(&["deploy", "plan", "--plan", &plan], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let err = stderr(&output);
    assert!(err.contains("--plan"), "{err}");
    assert!(err.contains("cycle.yaml"), "{err}");
    assert!(err.contains("dependency cycle a → b → a"), "{err}");
}

#[test]
fn plan_errors_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.yaml");
    let output = parky(
        &["deploy", "plan", "--plan", missing.to_str().unwrap()],
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("absent.yaml"),
        "{}",
        stderr(&output)
    );

    let unknown = write(
        dir.path(),
        "unknown.yaml",
        "services:\n  - name: a\n    depends_on: [pubic]\n    deploy: {command: [x]}\n",
    );
    let output = parky(&["deploy", "plan", "--plan", &unknown], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("pubic"), "{}", stderr(&output));

    // Usage errors are clap's exit code 2.
    assert_eq!(parky(&["deploy", "plan"], &[]).status.code(), Some(2));
}

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, minute, 0).unwrap()
}

/// A state file with one shadowed rollback decision: a bad canary in shadow mode, ticked
/// through the controller API until the third failed check.
fn state_with_a_decision(path: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let simulator = WorkersSimulator::new();
        let p99 = Duration::from_millis(120);
        simulator.upload_version("demo-worker", "v1".into(), VersionBehaviour::healthy(p99));
        simulator.upload_version(
            "demo-worker",
            "v2".into(),
            VersionBehaviour::new(0.05, p99).unwrap(),
        );
        simulator
            .create_deployment(
                "demo-worker",
                &DeploymentRequest::from_split(&TrafficSplit::all_on("v1".into())),
            )
            .await
            .unwrap();
        let controller = CanaryController::open(
            path,
            ControllerSettings::new("demo-worker", "production"),
            Arc::new(simulator.clone()),
            Arc::new(SimulatedMetrics::new(simulator, 200_000, 7)),
            Arc::new(SloJudge::default()),
        )
        .unwrap();
        let plan = CanaryPlan::default().with_mode(EnforcementMode::Shadow);
        controller
            .start(at(0), &plan, VersionId::from("v2"))
            .await
            .unwrap();
        for minute in [0, 5, 10, 15, 20, 25] {
            controller.tick(at(minute)).await.unwrap();
            if !controller.status().unwrap().ledger.decisions().is_empty() {
                return;
            }
        }
        panic!("the bad canary was never judged for rollback");
    });
}

#[test]
fn autorollback_report_and_mark_a_false_positive() {
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("canary.db");
    state_with_a_decision(&state_path);
    let state = state_path.to_str().unwrap();

    let report = |output: &str| {
        parky(
            &[
                "deploy",
                "autorollback",
                "report",
                "--state",
                state,
                "--at",
                "2025-03-02T00:00:00Z",
                "--output",
                output,
            ],
            &[],
        )
    };
    let json: Value = serde_json::from_str(&stdout(&report("json"))).unwrap();
    let decisions = json["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 1, "{json}");
    assert_eq!(decisions[0]["id"], 1);
    assert_eq!(decisions[0]["enforcement"], "shadowed");
    assert_eq!(decisions[0]["canary"], "v2");
    assert!(decisions[0]["false_positive"].is_null());
    let env = &json["report"]["environments"][0];
    assert_eq!(env["environment"], "production");
    assert_eq!(env["mode"], "shadow");
    assert_eq!(env["shadowed"], 1);
    assert_eq!(env["ready"], false, "a day of shadow mode is not two weeks");

    let text = stdout(&report("text"));
    assert!(text.contains("production"), "{text}");
    assert!(text.contains("shadowed"), "{text}");

    let marked = parky(
        &[
            "deploy",
            "autorollback",
            "mark",
            "--state",
            state,
            "1",
            "--false-positive",
            "--note",
            "cold start",
        ],
        &[],
    );
    assert!(stdout(&marked).contains("decision 1 marked as a false positive"));

    let json: Value = serde_json::from_str(&stdout(&report("json"))).unwrap();
    assert_eq!(json["decisions"][0]["false_positive"]["note"], "cold start");
    assert_eq!(json["report"]["environments"][0]["false_positives"], 1);
    assert!(stdout(&report("text")).contains("cold start"));

    // An unknown decision fails, naming it; the flag is required.
    let unknown = parky(
        &[
            "deploy",
            "autorollback",
            "mark",
            "--state",
            state,
            "7",
            "--false-positive",
        ],
        &[],
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("no decision 7"),
        "{}",
        stderr(&unknown)
    );
    let no_flag = parky(
        &["deploy", "autorollback", "mark", "--state", state, "1"],
        &[],
    );
    assert_eq!(no_flag.status.code(), Some(2));

    // `canary status` reads the same file.
    let status = stdout(&parky(&["canary", "status", "--state", state], &[]));
    for expected in [
        "phase: progressing",
        "weight: 1%",
        "stable: v1",
        "canary: v2",
        "failed checks: 0",
        "last slot: ",
        "shadow mode",
        "rollback decisions: 1",
    ] {
        assert!(status.contains(expected), "{expected} in {status}");
    }
}

#[test]
fn state_commands_refuse_a_missing_state_file_without_creating_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.db");
    let state = path.to_str().unwrap();
    for args in [
        vec!["canary", "status", "--state", state],
        vec!["deploy", "autorollback", "report", "--state", state],
        vec![
            "deploy",
            "autorollback",
            "mark",
            "--state",
            state,
            "1",
            "--false-positive",
        ],
    ] {
        let output = parky(&args, &[]);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(stderr(&output).contains("absent.db"), "{}", stderr(&output));
    }
    assert!(!path.exists());
}

#[test]
fn canary_tick_simulates_one_tick_per_slot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("canary.db");
    let state = path.to_str().unwrap();
    let tick = |now: &str| {
        parky(
            &[
                "canary",
                "tick",
                "--state",
                state,
                "--simulate",
                "--now",
                now,
            ],
            &[],
        )
    };
    let first = stdout(&tick("2025-03-01T12:00:00Z"));
    assert!(
        first.contains("started canary v2 against v1 (enforce mode)"),
        "{first}"
    );
    assert!(
        first.contains("progressing at 1% (99% v1 + 1% v2)"),
        "{first}"
    );
    let again = stdout(&tick("2025-03-01T12:01:00Z"));
    assert!(again.contains("skipped: already ticked"), "{again}");
    assert!(!again.contains("started"), "{again}");
    let next = stdout(&tick("2025-03-01T12:05:00Z"));
    assert!(next.contains("ticked at 2025-03-01 12:05 UTC"), "{next}");

    let status = stdout(&parky(&["canary", "status", "--state", state], &[]));
    assert!(status.contains("canary: v2"), "{status}");
    assert!(status.contains("(from 2025-03-01 12:05 UTC)"), "{status}");

    // Only the simulator is wired in: --simulate is required.
    let output = parky(&["canary", "tick", "--state", state], &[]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn the_example_plan_from_the_readme_is_valid_and_ordered() {
    let plan = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../parky-deploy/examples/deploy-plan.yaml"
    );
    let text = stdout(&parky(&["deploy", "plan", "--plan", plan], &[]));
    // store-sync ← public ← admin ← marketing: the dependency chain is the only order.
    let order: Vec<&str> = ["1. store-sync", "2. public", "3. admin", "4. marketing"]
        .into_iter()
        .filter(|step| text.contains(step))
        .collect();
    assert_eq!(order.len(), 4, "{text}");
}
