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

// ------------------------------------------------------------- canary commands

/// Runs `parky canary <verb> --state <state> --simulate --now <now> <extra…>`.
fn canary(verb: &str, state: &str, now: &str, extra: &[&str]) -> Output {
    let mut args = vec!["canary", verb, "--state", state, "--simulate", "--now", now];
    args.extend_from_slice(extra);
    parky(&args, &[])
}

#[test]
fn canary_start_promote_pause_resume_and_abort_on_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("canary.db");
    let state = path.to_str().unwrap();

    let started = stdout(&canary(
        "start",
        state,
        "2025-03-01T12:00:00Z",
        &["--canary", "v7", "--stable", "v6"],
    ));
    assert_eq!(
        started,
        "started canary v7 against v6 on demo-worker at 2025-03-01 12:00 UTC (enforce mode)\n  steps [1, 10, 50, 100], bake 5m each; the next tick puts 1% on v7\n"
    );
    // A second start while the canary runs is refused.
    let again = canary("start", state, "2025-03-01T12:00:30Z", &["--canary", "v8"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("cannot start a canary on a canary that is initializing"),
        "{}",
        stderr(&again)
    );

    // Initializing → one step: 1 % (the plan's first step), by an operator.
    let promoted = stdout(&canary("promote", state, "2025-03-01T12:01:00Z", &[]));
    assert!(
        promoted.starts_with("promote: initializing at 0% -> progressing at 1% (99% v6 + 1% v7)\n"),
        "{promoted}"
    );
    assert!(
        promoted.contains("  set traffic: 99% v6 + 1% v7\n"),
        "{promoted}"
    );
    assert!(
        promoted.contains("  step 1 started: 1% on the canary (by an operator)\n"),
        "{promoted}"
    );

    let paused: Value = serde_json::from_str(&stdout(&canary(
        "pause",
        state,
        "2025-03-01T12:02:00Z",
        &["--output", "json"],
    )))
    .unwrap();
    assert_eq!(paused["command"], "pause");
    assert_eq!(paused["before"]["phase"], "progressing");
    assert_eq!(paused["phase"], "paused");
    assert_eq!(paused["weight"], 1);
    assert_eq!(paused["deployments"].as_array().unwrap().len(), 0);

    // A paused canary is promoted a step and stays paused: 10 %.
    let promoted = stdout(&canary("promote", state, "2025-03-01T12:03:00Z", &[]));
    assert!(
        promoted.starts_with("promote: paused at 1% -> paused at 10% (90% v6 + 10% v7)\n"),
        "{promoted}"
    );
    let resumed = stdout(&canary("resume", state, "2025-03-01T12:04:00Z", &[]));
    assert_eq!(
        resumed,
        "resume: paused at 10% -> progressing at 10% (90% v6 + 10% v7)\n  resumed\n"
    );
    // The abort completes in the command: traffic back on v6 and the canary recorded as
    // aborted, in readable text (no Rust Debug form). Deployments so far: #1 v6 (the
    // simulated start), #2 1 %, #3 10 %; the rollback is #4.
    let aborted = stdout(&canary("abort", state, "2025-03-01T12:05:00Z", &[]));
    assert_eq!(
        aborted,
        "abort: progressing at 10% -> aborted at 0% (100% v6)\n  roll back: 100% to v6\n  rollback started at 10% (aborted by an operator)\n  rolled back: the stable version serves 100% (aborted by an operator)\n  deployment 00000000-0000-4000-8000-000000000004 created\n"
    );
    assert!(
        !aborted.contains('{') && !aborted.contains("RolledBack"),
        "{aborted}"
    );
    let status = stdout(&parky(&["canary", "status", "--state", state], &[]));
    assert!(
        status.contains("\nphase: aborted\nweight: 0%\n"),
        "{status}"
    );
    assert!(status.contains("\ntraffic: 100% v6\n"), "{status}");
    // The next tick has nothing left to do.
    let tick = stdout(&canary("tick", state, "2025-03-01T12:10:00Z", &[]));
    assert_eq!(
        tick,
        "ticked at 2025-03-01 12:10 UTC: aborted at 0% (100% v6)\n  no change\n"
    );
    // Nothing to resume any more.
    let late = canary("resume", state, "2025-03-01T12:11:00Z", &[]);
    assert_eq!(late.status.code(), Some(1));
    assert!(
        stderr(&late).contains("cannot resume a canary that is aborted"),
        "{}",
        stderr(&late)
    );
    // promote --full from a new start goes to 100 % at once.
    stdout(&canary(
        "start",
        state,
        "2025-03-01T12:12:00Z",
        &["--canary", "v7"],
    ));
    let full = stdout(&canary(
        "promote",
        state,
        "2025-03-01T12:13:00Z",
        &["--full"],
    ));
    assert!(
        full.starts_with("promote --full: initializing at 0% -> promoting at 100% (100% v7)\n"),
        "{full}"
    );
}

#[test]
fn canary_tick_prints_events_as_text_and_a_bad_canary_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("canary.db");
    let state = path.to_str().unwrap();
    // 12:00 starts and sets 1 %; 12:05, 12:10, 12:15 each fail (5 % errors: burn rate ≈ 50
    // against a baseline of 0); the third failed check (threshold 3) rolls back.
    let mut last = String::new();
    for minute in ["00", "05", "10", "15"] {
        last = stdout(&canary(
            "tick",
            state,
            &format!("2025-03-01T12:{minute}:00Z"),
            &["--bad"],
        ));
    }
    assert!(last.contains("rolling_back at 0% (100% v1)"), "{last}");
    assert!(
        last.contains("  check failed (3 of 3) at 1%: error burn rate "),
        "{last}"
    );
    assert!(last.contains("  roll back: 100% to v1\n"), "{last}");
    assert!(
        last.contains("  rollback started at 1% (failed checks): error burn rate "),
        "{last}"
    );
    assert!(
        last.contains("  auto-rollback decision 1 recorded\n"),
        "{last}"
    );
    assert!(
        !last.contains("CheckFailed") && !last.contains('{'),
        "{last}"
    );
}

#[test]
fn a_tick_before_the_last_recorded_one_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("canary.db");
    let state = path.to_str().unwrap();
    stdout(&canary("tick", state, "2025-03-01T12:00:00Z", &[]));
    // A far-future --now is recorded …
    stdout(&canary("tick", state, "2030-01-01T00:00:00Z", &[]));
    // … and a tick at the real time afterwards is refused, not silently skipped.
    let output = canary("tick", state, "2025-03-01T12:05:00Z", &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let err = stderr(&output);
    assert!(err.contains("canary.db"), "{err}");
    assert!(
        err.contains("a tick at 2025-03-01 12:05:00 UTC is earlier than the last recorded tick (in the slot from 2030-01-01 00:00:00 UTC)"),
        "{err}"
    );
}

#[test]
fn status_and_report_open_read_only_and_refuse_other_files() {
    let dir = tempfile::tempdir().unwrap();
    // A state file written by a tick stays byte for byte the same through the read-only
    // commands. (Another program's SQLite database is refused by the library's tests in
    // parky-deploy/tests/controller.rs.)
    let path = dir.path().join("canary.db");
    let state = path.to_str().unwrap();
    stdout(&canary("tick", state, "2025-03-01T12:00:00Z", &[]));
    let before = std::fs::read(&path).unwrap();
    stdout(&parky(&["canary", "status", "--state", state], &[]));
    stdout(&parky(
        &["deploy", "autorollback", "report", "--state", state],
        &[],
    ));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "read-only commands wrote nothing"
    );

    // A text file and an empty file are refused, naming the file, and stay as they were.
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "shopping list\n".repeat(100)).unwrap();
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, "").unwrap();
    for (file, reason) in [
        (
            &text,
            "is not a Parky canary state file: it is not an SQLite database",
        ),
        (
            &empty,
            "is not a Parky canary state file: it is empty (no canary was ever started with it)",
        ),
    ] {
        let file_arg = file.to_str().unwrap();
        for args in [
            vec!["canary", "status", "--state", file_arg],
            vec!["deploy", "autorollback", "report", "--state", file_arg],
        ] {
            let output = parky(&args, &[]);
            assert_eq!(output.status.code(), Some(1), "{args:?}");
            let err = stderr(&output);
            assert!(err.contains(file_arg) && err.contains(reason), "{err}");
        }
    }
    assert_eq!(std::fs::read(&empty).unwrap(), b"");
    assert_eq!(
        std::fs::read_to_string(&text).unwrap(),
        "shopping list\n".repeat(100)
    );
}

#[test]
fn a_second_false_positive_mark_says_it_was_already_marked() {
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("canary.db");
    state_with_a_decision(&state_path);
    let state = state_path.to_str().unwrap();
    let mark = |note: &str| {
        parky(
            &[
                "deploy",
                "autorollback",
                "mark",
                "--state",
                state,
                "1",
                "--false-positive",
                "--note",
                note,
            ],
            &[],
        )
    };
    assert_eq!(
        stdout(&mark("cold start")),
        "decision 1 marked as a false positive\n"
    );
    let second = stdout(&mark("something else"));
    assert!(
        second.starts_with("decision 1 was already marked as a false positive at "),
        "{second}"
    );
    assert!(
        second.ends_with(" (cold start); the first mark is kept, nothing changed\n"),
        "{second}"
    );
    let json: Value = serde_json::from_str(&stdout(&parky(
        &[
            "deploy",
            "autorollback",
            "report",
            "--state",
            state,
            "--output",
            "json",
        ],
        &[],
    )))
    .unwrap();
    assert_eq!(json["decisions"][0]["false_positive"]["note"], "cold start");
}

// ------------------------------------------------------------- Cloudflare (mockito)

const TOKEN: &str = "cf-token-must-never-print";
const ACCOUNT: &str = "023e105f4ecef8ad9ca31a8372d0c353";

fn cf_ok(result: Value) -> String {
    serde_json::json!({"errors": [], "messages": [], "result": result, "success": true}).to_string()
}

fn cf_deployment(id: &str, created_on: &str, versions: &[(&str, f64)]) -> Value {
    serde_json::json!({
        "id": id,
        "created_on": created_on,
        "source": "api",
        "strategy": "percentage",
        "versions": versions.iter().map(|(v, p)| serde_json::json!({"percentage": p, "version_id": v})).collect::<Vec<_>>(),
        "annotations": {"workers/triggered_by": "deployment"},
        "author_email": "user@example.com"
    })
}

#[test]
fn canary_commands_and_ticks_drive_the_cloudflare_api() {
    let mut server = mockito::Server::new();
    let base = format!("{}/client/v4", server.url());
    let deployments_path =
        format!("/client/v4/accounts/{ACCOUNT}/workers/scripts/shop/deployments");
    let auth = format!("Bearer {TOKEN}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("canary.db");
    let state = path.to_str().unwrap();
    let cf = |verb: &str, now: &str, extra: &[&str]| {
        let mut args = vec![
            "canary",
            verb,
            "--state",
            state,
            "--account-id",
            ACCOUNT,
            "--script",
            "shop",
            "--api-base",
            &base,
            "--now",
            now,
        ];
        args.extend_from_slice(extra);
        parky(&args, &[("CLOUDFLARE_API_TOKEN", TOKEN)])
    };

    // start: the platform serves v1 at 100 %.
    let d1 = cf_deployment("d1", "2025-03-01T11:00:00Z", &[("v1", 100.0)]);
    let list = server
        .mock("GET", deployments_path.as_str())
        .match_header("authorization", auth.as_str())
        .with_status(200)
        .with_body(cf_ok(serde_json::json!({"deployments": [d1.clone()]})))
        .expect(2)
        .create();
    let out = stdout(&cf("start", "2025-03-01T12:00:00Z", &["--canary", "v2"]));
    assert!(
        out.starts_with(
            "started canary v2 against v1 on shop at 2025-03-01 12:00 UTC (enforce mode)"
        ),
        "{out}"
    );

    // promote: one step, 1 %, sent as a two-version percentage deployment.
    let create = server
        .mock("POST", deployments_path.as_str())
        .match_header("authorization", auth.as_str())
        .match_header("content-type", "application/json")
        .match_body(mockito::Matcher::Json(serde_json::json!({
            "strategy": "percentage",
            "versions": [{"version_id": "v1", "percentage": 99}, {"version_id": "v2", "percentage": 1}],
            "annotations": {"workers/message": "parky canary: 1% on the canary"}
        })))
        .with_status(200)
        .with_body(cf_ok(cf_deployment("d2", "2025-03-01T12:01:00Z", &[("v1", 99.0), ("v2", 1.0)])))
        .expect(1)
        .create();
    let out = stdout(&cf("promote", "2025-03-01T12:01:00Z", &[]));
    assert!(
        out.contains("promote: initializing at 0% -> progressing at 1% (99% v1 + 1% v2)"),
        "{out}"
    );
    assert!(out.contains("  deployment d2 created\n"), "{out}");
    list.assert();
    create.assert();

    // tick at 12:06: the split is read back, the window 12:01–12:06 is judged from GraphQL
    // (canary 2000 requests, 0 errors ≥ the 1000 minimum; baseline 198000, 0 errors: pass),
    // the bake time (5 min since 12:01) has passed, so the canary goes to 10 %.
    let d2 = cf_deployment("d2", "2025-03-01T12:01:00Z", &[("v1", 99.0), ("v2", 1.0)]);
    let list = server
        .mock("GET", deployments_path.as_str())
        .with_status(200)
        .with_body(cf_ok(serde_json::json!({"deployments": [d2, d1]})))
        .expect(1)
        .create();
    let graphql = server
        .mock("POST", "/client/v4/graphql")
        .match_header("authorization", auth.as_str())
        .match_body(mockito::Matcher::PartialJson(serde_json::json!({
            "variables": {
                "accountTag": ACCOUNT,
                "scriptName": "shop",
                "datetimeStart": "2025-03-01T12:01:00Z",
                "datetimeEnd": "2025-03-01T12:06:00Z"
            }
        })))
        .with_status(200)
        .with_body(serde_json::json!({"data": {"viewer": {"accounts": [{"workersInvocationsAdaptive": [
            {"sum": {"requests": 198000, "errors": 0}, "quantiles": {"cpuTimeP99": 3000.0}, "dimensions": {"scriptVersion": "v1"}},
            {"sum": {"requests": 2000, "errors": 0}, "quantiles": {"cpuTimeP99": 3100.0}, "dimensions": {"scriptVersion": "v2"}}
        ]}]}}, "errors": null}).to_string())
        .expect(1)
        .create();
    let to_ten = server
        .mock("POST", deployments_path.as_str())
        .match_body(mockito::Matcher::PartialJson(serde_json::json!({
            "versions": [{"version_id": "v1", "percentage": 90}, {"version_id": "v2", "percentage": 10}]
        })))
        .with_status(200)
        .with_body(cf_ok(cf_deployment("d3", "2025-03-01T12:06:00Z", &[("v1", 90.0), ("v2", 10.0)])))
        .expect(1)
        .create();
    let out = stdout(&cf("tick", "2025-03-01T12:06:00Z", &[]));
    assert!(
        out.contains("progressing at 10% (90% v1 + 10% v2)"),
        "{out}"
    );
    assert!(
        out.contains("  step 2 started: 10% on the canary\n"),
        "{out}"
    );
    list.assert();
    graphql.assert();
    to_ten.assert();

    // A refusal from Cloudflare is an error naming the operation; the token never shows.
    server.reset();
    server
        .mock("GET", deployments_path.as_str())
        .with_status(403)
        .with_body(r#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[],"result":null}"#)
        .create();
    let output = cf("pause", "2025-03-01T12:07:00Z", &[]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("Authentication error") && err.contains("list deployments of shop"),
        "{err}"
    );
    assert!(!err.contains(TOKEN) && !String::from_utf8_lossy(&output.stdout).contains(TOKEN));

    // Without the token: a clear error naming the variable.
    let output = parky(
        &[
            "canary",
            "pause",
            "--state",
            state,
            "--account-id",
            ACCOUNT,
            "--script",
            "shop",
            "--api-base",
            &base,
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("CLOUDFLARE_API_TOKEN is not set"),
        "{}",
        stderr(&output)
    );
}

// ------------------------------------------------------------- deploy run / rollback

/// A plan of three services whose commands append to `calls.log` in the plan's directory.
fn run_plan(dir: &Path, smoke_url: &str, admin_deploy: &str) -> String {
    for name in ["store-sync", "public", "admin"] {
        std::fs::create_dir_all(dir.join(name)).unwrap();
    }
    let step = |verb: &str, name: &str| {
        format!("{{command: [sh, -c, 'echo {verb} {name} >> ../calls.log'], workdir: {name}}}")
    };
    let yaml = format!(
        "services:
  - name: admin
    depends_on: [public]
    deploy: {admin_deploy}
    rollback: {}
  - name: store-sync
    secrets: [PARKY_TEST_PRESENT_SECRET]
    deploy: {}
    rollback: {}
  - name: public
    depends_on: [store-sync]
    deploy: {}
    rollback: {}
    smoke_test: {{url: '{smoke_url}'}}
",
        step("rollback", "admin"),
        step("deploy", "store-sync"),
        step("rollback", "store-sync"),
        step("deploy", "public"),
        step("rollback", "public"),
    );
    write(dir, "plan.yaml", &yaml)
}

fn calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn deploy_run_deploys_in_order_and_smoke_tests() {
    let mut server = mockito::Server::new();
    let health = server
        .mock("GET", "/healthz")
        .with_status(200)
        .expect(1)
        .create();
    let dir = tempfile::tempdir().unwrap();
    let plan = run_plan(
        dir.path(),
        &format!("{}/healthz", server.url()),
        "{command: [sh, -c, 'echo deploy admin >> ../calls.log; echo \"Current Version ID: a-42\"'], workdir: admin}",
    );
    let out = stdout(&parky(
        &["deploy", "run", "--plan", &plan],
        &[("PARKY_TEST_PRESENT_SECRET", "x")],
    ));
    assert_eq!(
        calls(dir.path()),
        ["deploy store-sync", "deploy public", "deploy admin"]
    );
    assert!(
        out.contains("public: smoke test passed after 1 attempt(s)"),
        "{out}"
    );
    assert!(out.contains("admin: deployed a-42"), "{out}");
    assert!(out.ends_with("result: every service deployed\n"), "{out}");
    health.assert();
}

#[test]
fn deploy_run_rolls_back_in_reverse_order_when_a_command_fails() {
    let mut server = mockito::Server::new();
    server.mock("GET", "/healthz").with_status(200).create();
    let dir = tempfile::tempdir().unwrap();
    let plan = run_plan(
        dir.path(),
        &format!("{}/healthz", server.url()),
        "{command: [sh, -c, 'echo \"wrangler: not authorised\" >&2; exit 7']}",
    );
    let output = parky(
        &["deploy", "run", "--plan", &plan],
        &[("PARKY_TEST_PRESENT_SECRET", "x")],
    );
    assert_eq!(output.status.code(), Some(1));
    // admin's deploy failed (nothing to undo there); public, then store-sync are undone.
    assert_eq!(
        calls(dir.path()),
        [
            "deploy store-sync",
            "deploy public",
            "rollback public",
            "rollback store-sync"
        ]
    );
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        out.contains("admin: deploy failed: deploy of service `admin` failed: `sh` exited with status 7; stderr:\nwrangler: not authorised"),
        "{out}"
    );
    assert!(out.contains("result: admin failed; rolled back"), "{out}");
    let err = stderr(&output);
    assert!(
        err.contains(
            "deploy run failed at service `admin`; rolled back in reverse order: public, store-sync"
        ),
        "{err}"
    );
}

#[test]
fn deploy_run_checks_secrets_first_and_dry_run_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let plan = run_plan(
        dir.path(),
        "http://127.0.0.1:9/healthz",
        "{command: ['true']}",
    );
    let output = parky(&["deploy", "run", "--plan", &plan], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("missing secrets, nothing was started: `PARKY_TEST_PRESENT_SECRET` (services.store-sync.secrets)"),
        "{}",
        stderr(&output)
    );
    assert!(calls(dir.path()).is_empty());
    let out = stdout(&parky(
        &["deploy", "run", "--plan", &plan, "--dry-run"],
        &[],
    ));
    assert!(out.contains("1. store-sync"), "{out}");
    assert!(
        out.contains("MISSING PARKY_TEST_PRESENT_SECRET (service store-sync)"),
        "{out}"
    );
    assert!(out.ends_with("dry run: nothing was run\n"), "{out}");
    assert!(calls(dir.path()).is_empty());
}

#[test]
fn deploy_rollback_of_a_plan_service_runs_its_rollback_command() {
    let dir = tempfile::tempdir().unwrap();
    let plan = run_plan(
        dir.path(),
        "http://127.0.0.1:9/healthz",
        "{command: ['true']}",
    );
    let dry = stdout(&parky(
        &[
            "deploy",
            "rollback",
            "--plan",
            &plan,
            "--service",
            "public",
            "--dry-run",
        ],
        &[],
    ));
    // Shell-quoted, and the workdir as the plan writes it, relative to the plan's directory.
    assert_eq!(
        dry,
        format!(
            "would run: sh -c 'echo rollback public >> ../calls.log' (in public)\nworkdirs are relative to the plan file's directory: {}\n",
            dir.path().display()
        )
    );
    assert!(calls(dir.path()).is_empty());
    let out = stdout(&parky(
        &["deploy", "rollback", "--plan", &plan, "--service", "public"],
        &[],
    ));
    assert!(out.starts_with("rolled back service public: "), "{out}");
    assert_eq!(calls(dir.path()), ["rollback public"]);
    let unknown = parky(
        &["deploy", "rollback", "--plan", &plan, "--service", "pubic"],
        &[],
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("no service \"pubic\""),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn deploy_rollback_of_a_worker_follows_wranglers_rule() {
    // Simulated history v1, v2, v3 (each at 100 %): v3 serves; the newest earlier
    // single-version deployment is v2's.
    let out = stdout(&parky(
        &[
            "deploy",
            "rollback",
            "--script",
            "shop",
            "--simulate",
            "--simulated-history",
            "v1,v2,v3",
        ],
        &[],
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "rolled back Worker shop: 100% v3 -> 100% v2");
    assert!(
        lines[1]
            .starts_with("  target: the newest earlier deployment that ran one version at 100% ("),
        "{out}"
    );
    assert!(lines[2].ends_with("(Rollback)"), "{out}");
    let out = stdout(&parky(
        &[
            "deploy",
            "rollback",
            "--script",
            "shop",
            "--simulate",
            "--to",
            "v1",
            "--message",
            "bad release",
        ],
        &[],
    ));
    assert!(
        out.starts_with("rolled back Worker shop: 100% v2 -> 100% v1\n  target: --to v1\n"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("(bad release)"), "{out}");
    // One deployment in the history: nothing earlier to go back to.
    let output = parky(
        &[
            "deploy",
            "rollback",
            "--script",
            "shop",
            "--simulate",
            "--simulated-history",
            "v1",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("no rollback target for Worker `shop`"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn deploy_rollback_of_a_worker_on_cloudflare() {
    let mut server = mockito::Server::new();
    let base = format!("{}/client/v4", server.url());
    let deployments_path =
        format!("/client/v4/accounts/{ACCOUNT}/workers/scripts/shop/deployments");
    server
        .mock("GET", deployments_path.as_str())
        .match_header("authorization", format!("Bearer {TOKEN}").as_str())
        .with_status(200)
        .with_body(cf_ok(serde_json::json!({"deployments": [
            cf_deployment("d3", "2025-03-01T12:10:00Z", &[("v2", 90.0), ("v3", 10.0)]),
            cf_deployment("d2", "2025-03-01T12:00:00Z", &[("v2", 100.0)]),
            cf_deployment("d1", "2025-03-01T11:00:00Z", &[("v1", 100.0)]),
        ]})))
        .expect(2)
        .create();
    let create = server
        .mock("POST", deployments_path.as_str())
        .match_body(mockito::Matcher::Json(serde_json::json!({
            "strategy": "percentage",
            "versions": [{"version_id": "v2", "percentage": 100}],
            "annotations": {"workers/message": "Rollback"}
        })))
        .with_status(200)
        .with_body(cf_ok({
            let mut d4 = cf_deployment("d4", "2025-03-01T12:20:00Z", &[("v2", 100.0)]);
            d4["annotations"] =
                serde_json::json!({"workers/message": "Rollback", "workers/triggered_by": "rollback"});
            d4
        }))
        .expect(1)
        .create();
    let out = stdout(&parky(
        &[
            "deploy",
            "rollback",
            "--script",
            "shop",
            "--account-id",
            ACCOUNT,
            "--api-base",
            &base,
        ],
        &[("CLOUDFLARE_API_TOKEN", TOKEN)],
    ));
    assert!(out.starts_with("rolled back Worker shop: 90% v2 + 10% v3 -> 100% v2\n  target: the newest earlier deployment that ran one version at 100% (d2)\n  deployment d4 created (Rollback)\n"), "{out}");
    assert!(!out.contains(TOKEN));
    create.assert();
}

// ------------------------------------------------------------- new-user findings

#[test]
fn rollback_help_names_to_and_subcommands_have_no_version_flag() {
    let help = stdout(&parky(&["deploy", "rollback", "--help"], &[]));
    assert!(
        help.starts_with("Roll back a Worker (wrangler's rule: the newest earlier deployment that ran one version at 100 %, or the version given with --to), or one service of a plan (its rollback command)\n"),
        "{help}"
    );
    assert!(!help.contains("--version"), "{help}");
    // `--version` for `--to` is a usage error now, not the version printed with exit 0.
    let output = parky(
        &[
            "deploy",
            "rollback",
            "--script",
            "shop",
            "--simulate",
            "--version",
            "v1",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    assert!(
        stderr(&output).contains("unexpected argument '--version' found"),
        "{}",
        stderr(&output)
    );
    // `parky --version` still works.
    assert_eq!(
        stdout(&parky(&["--version"], &[])),
        format!("parky {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn top_level_help_describes_every_area() {
    let help = stdout(&parky(&["--help"], &[]));
    assert!(
        help.starts_with("The `parky` command: SLO reports and burn-rate alerts, severity-routed notifications, canary deploys and rollbacks, DORA metrics, and the end-to-end ops demo.\n"),
        "{help}"
    );
}

/// The deployment ids a canary command printed (`  deployment <id> created`).
fn deployment_ids(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("  deployment "))
        .filter_map(|l| l.strip_suffix(" created"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn simulated_deployment_ids_are_distinct_across_runs_of_one_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("canary.db");
    let state = path.to_str().unwrap();
    stdout(&canary(
        "start",
        state,
        "2025-03-01T12:00:00Z",
        &["--canary", "v2"],
    ));
    // #1 is the simulated v1 the canary starts from; each run continues the count.
    let mut ids = Vec::new();
    for (verb, now) in [
        ("tick", "2025-03-01T12:00:00Z"),    // 1 %: #2
        ("tick", "2025-03-01T12:05:00Z"),    // 10 %: #3
        ("promote", "2025-03-01T12:06:00Z"), // 50 %: #4
        ("abort", "2025-03-01T12:07:00Z"),   // 100 % v1: #5
    ] {
        ids.extend(deployment_ids(&stdout(&canary(verb, state, now, &[]))));
    }
    assert_eq!(
        ids,
        [
            "00000000-0000-4000-8000-000000000002",
            "00000000-0000-4000-8000-000000000003",
            "00000000-0000-4000-8000-000000000004",
            "00000000-0000-4000-8000-000000000005",
        ]
    );
    // A new canary in the same file goes on counting.
    stdout(&canary(
        "start",
        state,
        "2025-03-01T12:10:00Z",
        &["--canary", "v3"],
    ));
    let json: Value = serde_json::from_str(&stdout(&canary(
        "tick",
        state,
        "2025-03-01T12:10:00Z",
        &["--output", "json"],
    )))
    .unwrap();
    assert_eq!(
        json["tick"]["deployments"],
        serde_json::json!(["00000000-0000-4000-8000-000000000006"])
    );
}

#[test]
fn plan_run_and_rollback_print_the_same_quoted_commands_and_workdirs() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write(
        dir.path(),
        "plan.yaml",
        "services:
  - name: public
    deploy: {command: [npx, wrangler, deploy], workdir: workers/my site}
    rollback: {command: [npx, wrangler, rollback, --message, 'parky: public rollback'], workdir: workers/my site}
",
    );
    let rule = format!(
        "workdirs are relative to the plan file's directory: {}\n",
        dir.path().display()
    );
    let rollback_line =
        "npx wrangler rollback --message 'parky: public rollback' (in 'workers/my site')";
    let planned = stdout(&parky(&["deploy", "plan", "--plan", &plan], &[]));
    assert!(
        planned.contains(&format!("\n   rollback: {rollback_line}\n")),
        "{planned}"
    );
    assert!(
        planned.contains("\n   deploy: npx wrangler deploy (in 'workers/my site')\n"),
        "{planned}"
    );
    assert!(planned.contains(&format!("\n{rule}")), "{planned}");
    let dry_run = stdout(&parky(
        &["deploy", "run", "--plan", &plan, "--dry-run"],
        &[],
    ));
    assert!(
        dry_run.contains(&format!("\n   rollback: {rollback_line}\n"))
            && dry_run.contains(&format!("in reverse order\n{rule}")),
        "{dry_run}"
    );
    let dry_rollback = stdout(&parky(
        &[
            "deploy",
            "rollback",
            "--plan",
            &plan,
            "--service",
            "public",
            "--dry-run",
        ],
        &[],
    ));
    assert_eq!(dry_rollback, format!("would run: {rollback_line}\n{rule}"));
}

#[test]
fn autorollback_mark_takes_now_to_replay_a_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("canary.db");
    state_with_a_decision(&state_path);
    let state = state_path.to_str().unwrap();
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
            "--now",
            "2025-03-02T09:30:00+09:00",
        ],
        &[],
    );
    assert_eq!(stdout(&marked), "decision 1 marked as a false positive\n");
    let json: Value = serde_json::from_str(&stdout(&parky(
        &[
            "deploy",
            "autorollback",
            "report",
            "--state",
            state,
            "--at",
            "2025-03-03T00:00:00Z",
            "--output",
            "json",
        ],
        &[],
    )))
    .unwrap();
    // 09:30 at +09:00 is 00:30 UTC.
    assert_eq!(
        json["decisions"][0]["false_positive"]["marked_at"],
        "2025-03-02T00:30:00Z"
    );
    let bad = parky(
        &[
            "deploy",
            "autorollback",
            "mark",
            "--state",
            state,
            "1",
            "--false-positive",
            "--now",
            "yesterday",
        ],
        &[],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--now"), "{}", stderr(&bad));
}

#[test]
fn autorollback_report_without_decisions_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("canary.db");
    let state = path.to_str().unwrap();
    // A healthy canary: started, one tick, no rollback decision.
    stdout(&canary("tick", state, "2025-03-01T12:00:00Z", &[]));
    let text = stdout(&parky(
        &[
            "deploy",
            "autorollback",
            "report",
            "--state",
            state,
            "--at",
            "2025-03-02T00:00:00Z",
        ],
        &[],
    ));
    assert_eq!(
        text,
        format!(
            "auto-rollback ledger as of 2025-03-02 00:00 UTC
environment  mode     decisions  shadowed  enforced  false positives  ready to enforce
production   enforce  0          0         0         0                -

no decisions recorded in {state}
"
        )
    );
}

#[test]
fn deploy_run_redacts_the_plans_secrets_from_command_output() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write(
        dir.path(),
        "secret.yaml",
        "services:\n  - name: api\n    secrets: [PARKY_TEST_SECRET_X]\n    deploy: {command: [sh, -c, 'echo \"secret is $PARKY_TEST_SECRET_X\" >&2; exit 1']}\n",
    );
    let output = parky(
        &["deploy", "run", "--plan", &plan],
        &[("PARKY_TEST_SECRET_X", "hunter2SECRET")],
    );
    assert_eq!(output.status.code(), Some(1));
    let out = String::from_utf8_lossy(&output.stdout);
    let err = stderr(&output);
    assert!(
        out.contains("api: deploy failed: deploy of service `api` failed: `sh` exited with status 1; stderr:\nsecret is [REDACTED]\n"),
        "{out}"
    );
    assert!(!out.contains("hunter2SECRET"), "{out}");
    assert!(!err.contains("hunter2SECRET"), "{err}");
}

#[test]
fn deploy_run_failing_at_the_first_service_says_nothing_was_deployed() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write(
        dir.path(),
        "first.yaml",
        "services:\n  - name: api\n    deploy: {command: [sh, -c, 'exit 4']}\n  - name: web\n    depends_on: [api]\n    deploy: {command: ['true']}\n",
    );
    let output = parky(&["deploy", "run", "--plan", &plan], &[]);
    assert_eq!(output.status.code(), Some(1));
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        out.ends_with("result: api failed; nothing was deployed before it, nothing to roll back\n"),
        "{out}"
    );
    assert_eq!(
        stderr(&output),
        "parky: error: deploy run failed at service `api`; nothing was deployed before it, so nothing was rolled back\n"
    );
}

#[test]
fn deploy_plan_says_no_retries() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write(
        dir.path(),
        "retries.yaml",
        "services:\n  - name: api\n    deploy: {command: ['true']}\n    smoke_test: {url: 'https://api.example.com/healthz'}\n",
    );
    let out = stdout(&parky(&["deploy", "plan", "--plan", &plan], &[]));
    assert!(
        out.contains("   smoke test: GET https://api.example.com/healthz expecting 200 (timeout 10s, no retries)\n"),
        "{out}"
    );
}

#[test]
fn deploy_rollback_of_a_worker_needs_a_platform_and_a_real_history() {
    let output = parky(&["deploy", "rollback", "--script", "shop"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.starts_with("error: the following required arguments were not provided:\n  <--simulate|--account-id <ACCOUNT_ID>>\n"),
        "{err}"
    );
    assert!(!err.contains("invalid value for --simulate"), "{err}");

    let output = parky(
        &[
            "deploy",
            "rollback",
            "--script",
            "shop",
            "--simulate",
            "--simulated-history",
            "",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.starts_with("error: invalid value '' for '--simulated-history <SIMULATED_HISTORY>': a version id cannot be empty (give version ids, oldest first, e.g. v1,v2)\n"),
        "{err}"
    );
}

#[test]
fn canary_start_on_another_apps_database_says_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parky-outbox.sqlite");
    // A real notify outbox (`PRAGMA user_version = 2`, an `outbox` table).
    drop(parky_notify::outbox::SqliteOutbox::open(&path).unwrap());
    let before = std::fs::read(&path).unwrap();
    let state = path.to_str().unwrap();
    let output = canary("start", state, "2025-03-01T12:00:00Z", &["--canary", "v2"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    let prefix = format!(
        "parky: error: `{state}` is not a Parky canary state file: it is another SQLite database (tables: "
    );
    assert!(err.starts_with(&prefix), "{err}");
    assert!(err.contains("outbox"), "{err}");
    assert!(!err.contains("schema version"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "untouched");
}

#[test]
fn canary_commands_refuse_another_script_than_the_one_started() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("canary.db");
    let state = path.to_str().unwrap();
    stdout(&canary(
        "start",
        state,
        "2025-03-01T12:00:00Z",
        &["--canary", "v2", "--script", "shop"],
    ));
    let output = canary(
        "pause",
        state,
        "2025-03-01T12:01:00Z",
        &["--script", "other-worker"],
    );
    assert_eq!(output.status.code(), Some(1));
    // Printed once: the library logs the failed run at debug level only.
    assert_eq!(
        stderr(&output),
        format!("parky: error: controller state `{state}` holds the canary of Worker `shop`, not `other-worker`; refusing to act on another Worker's canary\n")
    );
    // Without --script the simulator acts on the recorded Worker.
    let ticked = stdout(&canary("tick", state, "2025-03-01T12:05:00Z", &[]));
    assert!(
        ticked.starts_with("ticked at 2025-03-01 12:05 UTC: progressing at 1% (99% v1 + 1% v2)\n"),
        "{ticked}"
    );
}
