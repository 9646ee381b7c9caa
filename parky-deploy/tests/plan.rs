//! Ordered multi-service deploys: plan validation, order, secrets, rollback in reverse order,
//! smoke-test retries, and the HTTP prober against mockito.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use parky_core::ManualClock;
use parky_deploy::error::CommandFailure;
use parky_deploy::model::VersionId;
use parky_deploy::plan::{
    Call, CallLog, CommandDeployer, DeployPlan, Deployer, Executor, HttpProber, ManualSleeper,
    ProbeResult, Prober, RunOutcome, ScriptedDeployer, ScriptedProber, SecretNames, StepEvent,
    DEFAULT_COMMAND_TIMEOUT, UNREPORTED_VERSION,
};
use parky_deploy::recorder::{
    DeploymentId, DeploymentState, MemoryRecorder, NewDeployment, Recorded,
};
use parky_deploy::DeployError;

/// The four services of the issue, written out of order on purpose.
const SHOP: &str = r#"
services:
  - name: marketing
    depends_on: [admin]
    deploy: { command: [npx, wrangler, deploy], workdir: marketing }
  - name: admin
    depends_on: [public]
    secrets: [ADMIN_TOKEN, CLOUDFLARE_API_TOKEN]
    deploy: { command: [npx, wrangler, deploy], workdir: admin }
    smoke_test:
      url: https://admin.example.com/healthz
      retries: 2
      interval: 10s
      timeout: 3s
  - name: public
    depends_on: [store-sync]
    secrets: [CLOUDFLARE_API_TOKEN]
    deploy: { command: [npx, wrangler, deploy], workdir: public }
    smoke_test:
      url: https://www.example.com/
      expect_status: 200
  - name: store-sync
    secrets: [CLOUDFLARE_API_TOKEN, STORE_SYNC_KEY]
    deploy: { command: [npx, wrangler, deploy], workdir: store-sync }
    rollback: { command: [npx, wrangler, rollback], workdir: store-sync }
    smoke_test:
      url: https://store-sync.example.com/healthz
"#;

fn all_secrets() -> SecretNames {
    SecretNames::new(["ADMIN_TOKEN", "CLOUDFLARE_API_TOKEN", "STORE_SYNC_KEY"])
}

fn names(plan: &DeployPlan) -> Vec<&str> {
    plan.services().iter().map(|s| s.name.as_str()).collect()
}

fn invalid(field: &str, reason: &str) -> DeployError {
    DeployError::InvalidConfig {
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

fn clock() -> ManualClock {
    ManualClock::new(Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap())
}

struct Harness {
    log: CallLog,
    clock: ManualClock,
    sleeper: ManualSleeper,
}

impl Harness {
    fn new() -> Self {
        let clock = clock();
        Self {
            log: CallLog::new(),
            sleeper: ManualSleeper::new(clock.clone()),
            clock,
        }
    }

    fn executor(&self, deployer: ScriptedDeployer, prober: ScriptedProber) -> Executor {
        Executor::new(
            Arc::new(deployer),
            Arc::new(prober),
            Arc::new(self.sleeper.clone()),
            Arc::new(self.clock.clone()),
        )
    }
}

fn deploy(s: &str) -> Call {
    Call::Deploy(s.to_owned())
}
fn probe(s: &str) -> Call {
    Call::Probe(s.to_owned())
}
fn rollback(s: &str) -> Call {
    Call::Rollback(s.to_owned())
}
fn failed(reason: &str) -> ProbeResult {
    ProbeResult::Failed {
        reason: reason.to_owned(),
    }
}

// ---------------------------------------------------------------- validation and order

#[test]
fn dependencies_come_first() {
    let plan = DeployPlan::from_yaml(SHOP).unwrap();
    assert_eq!(names(&plan), ["store-sync", "public", "admin", "marketing"]);
}

#[test]
fn ties_go_in_file_order() {
    // c and a are ready at once (no dependencies): file order puts c first; b waits for a.
    let plan = DeployPlan::from_yaml(
        "services:
  - {name: c, deploy: {command: [x]}}
  - {name: b, depends_on: [a], deploy: {command: [x]}}
  - {name: a, deploy: {command: [x]}}
  - {name: d, depends_on: [c], deploy: {command: [x]}}
",
    )
    .unwrap();
    // Ready: {c(0), a(2)} → c; then d(3) becomes ready: {a(2), d(3)} → a; then b(1): {b, d} → b, d.
    assert_eq!(names(&plan), ["c", "a", "b", "d"]);
}

#[test]
fn unknown_dependency_is_named() {
    let yaml = SHOP.replace("depends_on: [public]", "depends_on: [pubic]");
    let err = DeployPlan::from_yaml(&yaml).unwrap_err();
    assert_eq!(
        err,
        invalid("services.admin.depends_on[0]", "unknown service \"pubic\"")
    );
    assert_eq!(
        err.to_string(),
        "invalid value for `services.admin.depends_on[0]`: unknown service \"pubic\""
    );
}

#[test]
fn cycle_names_every_service_in_it() {
    // a needs c, c needs b, b needs a: a → c → b → a. `ok` is outside the cycle; `late`
    // only depends on the cycle and is not part of it.
    let err = DeployPlan::from_yaml(
        "services:
  - {name: ok, deploy: {command: [x]}}
  - {name: a, depends_on: [ok, c], deploy: {command: [x]}}
  - {name: b, depends_on: [a], deploy: {command: [x]}}
  - {name: c, depends_on: [b], deploy: {command: [x]}}
  - {name: late, depends_on: [b], deploy: {command: [x]}}
",
    )
    .unwrap_err();
    assert_eq!(
        err,
        invalid("services.a.depends_on", "dependency cycle a → c → b → a")
    );
}

#[test]
fn self_dependency_is_a_cycle() {
    let err = DeployPlan::from_yaml(
        "services:\n  - {name: solo, depends_on: [solo], deploy: {command: [x]}}\n",
    )
    .unwrap_err();
    assert_eq!(
        err,
        invalid("services.solo.depends_on", "dependency cycle solo → solo")
    );
}

#[test]
fn duplicate_names_are_refused() {
    let err = DeployPlan::from_yaml(
        "services:
  - {name: public, deploy: {command: [x]}}
  - {name: admin, deploy: {command: [x]}}
  - {name: public, deploy: {command: [y]}}
",
    )
    .unwrap_err();
    assert_eq!(
        err,
        invalid(
            "services[2].name",
            "duplicate service \"public\" (first at services[0])"
        )
    );
}

#[test]
fn other_fields_are_validated_and_named() {
    let base = "services:\n  - name: web\n    deploy: {command: [x]}\n";
    let cases = [
        ("services: []\n", "services"),
        (
            "services:\n  - {name: 'a b', deploy: {command: [x]}}\n",
            "services[0].name",
        ),
        (
            "services:\n  - {name: web, deploy: {command: []}}\n",
            "services.web.deploy.command",
        ),
        (
            "services:\n  - {name: web, secrets: [A, A], deploy: {command: [x]}}\n",
            "services.web.secrets[1]",
        ),
        (
            "services:\n  - {name: web, depends_on: [x, x], deploy: {command: [x]}}\n  - {name: x, deploy: {command: [x]}}\n",
            "services.web.depends_on[1]",
        ),
    ];
    for (yaml, field) in cases {
        match DeployPlan::from_yaml(yaml) {
            Err(DeployError::InvalidConfig { field: got, .. }) => assert_eq!(got, field, "{yaml}"),
            other => panic!("{yaml}: {other:?}"),
        }
    }
    let smoke = [
        ("{url: 'ftp://x.example'}", "services.web.smoke_test.url"),
        ("{url: not a url}", "services.web.smoke_test.url"),
        (
            "{url: 'https://x.example', expect_status: 42}",
            "services.web.smoke_test.expect_status",
        ),
        (
            "{url: 'https://x.example', timeout: 0s}",
            "services.web.smoke_test.timeout",
        ),
        (
            "{url: 'https://x.example', timeout: soon}",
            "services.web.smoke_test.timeout",
        ),
        (
            "{url: 'https://x.example', interval: often}",
            "services.web.smoke_test.interval",
        ),
        (
            "{url: 'https://x.example', retries: 101}",
            "services.web.smoke_test.retries",
        ),
    ];
    for (test, field) in smoke {
        let yaml = format!("{base}    smoke_test: {test}\n");
        match DeployPlan::from_yaml(&yaml) {
            Err(DeployError::InvalidConfig { field: got, .. }) => assert_eq!(got, field, "{yaml}"),
            other => panic!("{yaml}: {other:?}"),
        }
    }
}

#[test]
fn unknown_fields_are_syntax_errors_with_a_line() {
    let err = DeployPlan::from_yaml(
        "services:\n  - name: web\n    deploy: {command: [x]}\n    smoke: {url: x}\n",
    )
    .unwrap_err();
    match err {
        DeployError::PlanSyntax { line, reason, .. } => {
            assert_eq!(line, Some(4));
            assert!(reason.contains("unknown field `smoke`"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn dry_run_prints_the_ordered_steps() {
    let plan = DeployPlan::from_yaml(SHOP).unwrap();
    let dry_run = plan.dry_run();
    assert_eq!(dry_run.steps.len(), 4);
    assert_eq!(
        dry_run.to_string(),
        "deploy plan: 4 service(s), in order
1. store-sync
   secrets: CLOUDFLARE_API_TOKEN, STORE_SYNC_KEY
   deploy: npx wrangler deploy (in store-sync)
   rollback: npx wrangler rollback (in store-sync)
   smoke test: GET https://store-sync.example.com/healthz expecting 200 (timeout 10s, no retries)
2. public (after store-sync)
   secrets: CLOUDFLARE_API_TOKEN
   deploy: npx wrangler deploy (in public)
   rollback: none (stays deployed if a later step fails)
   smoke test: GET https://www.example.com/ expecting 200 (timeout 10s, no retries)
3. admin (after public)
   secrets: ADMIN_TOKEN, CLOUDFLARE_API_TOKEN
   deploy: npx wrangler deploy (in admin)
   rollback: none (stays deployed if a later step fails)
   smoke test: GET https://admin.example.com/healthz expecting 200 (timeout 3s, 2 retries every 10s)
4. marketing (after admin)
   deploy: npx wrangler deploy (in marketing)
   rollback: none (stays deployed if a later step fails)
   smoke test: none
on failure: roll back the services already deployed, in reverse order"
    );
}

// ---------------------------------------------------------------- secrets

#[tokio::test]
async fn missing_secrets_are_all_listed_and_nothing_starts() {
    let plan = DeployPlan::from_yaml(SHOP).unwrap();
    let h = Harness::new();
    let executor = h.executor(
        ScriptedDeployer::new(h.log.clone()),
        ScriptedProber::new(h.log.clone()),
    );
    let err = executor
        .run(&plan, &SecretNames::new(["CLOUDFLARE_API_TOKEN"]))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeployError::MissingSecrets {
            missing: vec![
                ("store-sync".to_owned(), "STORE_SYNC_KEY".to_owned()),
                ("admin".to_owned(), "ADMIN_TOKEN".to_owned()),
            ],
        }
    );
    assert_eq!(
        err.to_string(),
        "missing secrets, nothing was started: `STORE_SYNC_KEY` (services.store-sync.secrets), \
         `ADMIN_TOKEN` (services.admin.secrets)"
    );
    assert_eq!(h.log.calls(), []);
}

// ---------------------------------------------------------------- execution

#[tokio::test]
async fn everything_deploys_in_order() {
    let plan = DeployPlan::from_yaml(SHOP).unwrap();
    let h = Harness::new();
    let report = h
        .executor(
            ScriptedDeployer::new(h.log.clone()),
            ScriptedProber::new(h.log.clone()),
        )
        .run(&plan, &all_secrets())
        .await
        .unwrap();
    assert!(report.is_success());
    assert_eq!(
        h.log.calls(),
        [
            deploy("store-sync"),
            probe("store-sync"),
            deploy("public"),
            probe("public"),
            deploy("admin"),
            probe("admin"),
            deploy("marketing"),
        ]
    );
    let deployed: Vec<VersionId> = report
        .steps
        .iter()
        .filter_map(|s| match &s.event {
            StepEvent::Deployed { version } => Some(version.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        deployed,
        ["store-sync@1", "public@2", "admin@3", "marketing@4"].map(VersionId::from)
    );
}

#[tokio::test]
async fn deploy_failure_in_the_third_rolls_back_second_then_first() {
    let plan = DeployPlan::from_yaml(SHOP).unwrap();
    let h = Harness::new();
    let report = h
        .executor(
            ScriptedDeployer::new(h.log.clone()).fail_deploy("admin", "wrangler exited with 1"),
            ScriptedProber::new(h.log.clone()),
        )
        .run(&plan, &all_secrets())
        .await
        .unwrap();
    assert_eq!(
        h.log.calls(),
        [
            deploy("store-sync"),
            probe("store-sync"),
            deploy("public"),
            probe("public"),
            deploy("admin"),
            rollback("public"),
            rollback("store-sync"),
        ]
    );
    assert_eq!(
        report.outcome,
        RunOutcome::RolledBack {
            failed: "admin".to_owned()
        }
    );
    let events: Vec<(String, String)> = report
        .steps
        .iter()
        .map(|s| (s.service.clone(), s.event.to_string()))
        .collect();
    let expected = [
        ("store-sync", "deployed store-sync@1"),
        ("store-sync", "smoke test attempt 1: passed"),
        ("store-sync", "smoke test passed after 1 attempt(s)"),
        ("public", "deployed public@2"),
        ("public", "smoke test attempt 1: passed"),
        ("public", "smoke test passed after 1 attempt(s)"),
        (
            "admin",
            "deploy failed: deploy of service `admin` failed: wrangler exited with 1",
        ),
        ("marketing", "not started"),
        ("public", "rolled back"),
        ("store-sync", "rolled back"),
    ]
    .map(|(a, b)| (a.to_owned(), b.to_owned()));
    assert_eq!(events, expected);
    assert!(report
        .to_string()
        .ends_with("result: admin failed; rolled back"));
}

#[tokio::test]
async fn smoke_test_retries_then_rolls_back_the_failed_service_first() {
    let plan = DeployPlan::from_yaml(SHOP).unwrap();
    let h = Harness::new();
    let prober = ScriptedProber::new(h.log.clone()).script(
        "admin",
        [
            failed("HTTP 502, expected 200"),
            failed("no reply within 3s"),
            failed("HTTP 503, expected 200"),
        ],
    );
    let report = h
        .executor(ScriptedDeployer::new(h.log.clone()), prober)
        .run(&plan, &all_secrets())
        .await
        .unwrap();
    // retries: 2 → three attempts, 10 s apart; admin was deployed, so it is rolled back
    // first, then public, then store-sync.
    assert_eq!(
        h.log.calls(),
        [
            deploy("store-sync"),
            probe("store-sync"),
            deploy("public"),
            probe("public"),
            deploy("admin"),
            probe("admin"),
            probe("admin"),
            probe("admin"),
            rollback("admin"),
            rollback("public"),
            rollback("store-sync"),
        ]
    );
    assert_eq!(
        h.sleeper.slept(),
        [Duration::from_secs(10), Duration::from_secs(10)]
    );
    let failed_step = report
        .steps
        .iter()
        .find(|s| matches!(s.event, StepEvent::SmokeFailed { .. }))
        .unwrap();
    assert_eq!(
        failed_step.event,
        StepEvent::SmokeFailed {
            attempts: 3,
            reason: "HTTP 503, expected 200".to_owned()
        }
    );
    // The clock moved only through the sleeper: 20 s after the start.
    assert_eq!(
        failed_step.at,
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 20).unwrap()
    );
    assert_eq!(
        report.outcome,
        RunOutcome::RolledBack {
            failed: "admin".to_owned()
        }
    );
}

#[tokio::test]
async fn smoke_test_passing_on_a_retry_goes_on() {
    let plan = DeployPlan::from_yaml(SHOP).unwrap();
    let h = Harness::new();
    let prober = ScriptedProber::new(h.log.clone()).script(
        "admin",
        [failed("HTTP 502, expected 200"), ProbeResult::Passed],
    );
    let report = h
        .executor(ScriptedDeployer::new(h.log.clone()), prober)
        .run(&plan, &all_secrets())
        .await
        .unwrap();
    assert!(report.is_success());
    assert_eq!(h.sleeper.slept(), [Duration::from_secs(10)]);
    assert!(report
        .steps
        .iter()
        .any(|s| s.service == "admin" && s.event == StepEvent::SmokePassed { attempts: 2 }));
    assert_eq!(
        h.log
            .calls()
            .iter()
            .filter(|c| **c == probe("admin"))
            .count(),
        2
    );
}

#[tokio::test]
async fn a_failed_rollback_is_reported_and_the_others_still_roll_back() {
    let plan = DeployPlan::from_yaml(SHOP).unwrap();
    let h = Harness::new();
    let report = h
        .executor(
            ScriptedDeployer::new(h.log.clone())
                .fail_deploy("admin", "boom")
                .fail_rollback("public", "no previous version"),
            ScriptedProber::new(h.log.clone()),
        )
        .run(&plan, &all_secrets())
        .await
        .unwrap();
    assert_eq!(
        h.log.calls()[5..],
        [rollback("public"), rollback("store-sync")]
    );
    assert_eq!(
        report.outcome,
        RunOutcome::RollbackIncomplete {
            failed: "admin".to_owned(),
            still_deployed: vec!["public".to_owned()],
        }
    );
}

#[tokio::test]
async fn deployments_are_recorded() {
    let plan = DeployPlan::from_yaml(
        "services:
  - {name: a, deploy: {command: [x]}}
  - {name: b, depends_on: [a], deploy: {command: [x]}, smoke_test: {url: 'https://b.example'}}
",
    )
    .unwrap();
    let h = Harness::new();
    let recorder = Arc::new(MemoryRecorder::new());
    let prober = ScriptedProber::new(h.log.clone()).script("b", [failed("HTTP 500, expected 200")]);
    let mut template = NewDeployment::new("v1.2.3");
    template.environment = Some("production".to_owned());
    let report = h
        .executor(ScriptedDeployer::new(h.log.clone()), prober)
        .with_recorder(recorder.clone(), template.clone())
        .run(&plan, &SecretNames::default())
        .await
        .unwrap();
    assert!(!report.is_success());
    let status = |id: &str, state: DeploymentState, description: Option<&str>| Recorded::Status {
        id: DeploymentId(id.to_owned()),
        update: parky_deploy::recorder::StatusUpdate {
            state,
            description: description.map(str::to_owned),
            log_url: None,
            environment_url: None,
            auto_inactive: None,
        },
    };
    let start = |id: &str, service: &str| Recorded::Start {
        id: DeploymentId(id.to_owned()),
        service: service.to_owned(),
        deployment: template.clone(),
    };
    assert_eq!(
        recorder.calls(),
        [
            start("1", "a"),
            status("1", DeploymentState::InProgress, None),
            status(
                "1",
                DeploymentState::Success,
                Some("deployed and smoke-tested")
            ),
            start("2", "b"),
            status("2", DeploymentState::InProgress, None),
            status(
                "2",
                DeploymentState::Failure,
                Some("HTTP 500, expected 200")
            ),
            status(
                "2",
                DeploymentState::Inactive,
                Some("rolled back: b failed")
            ),
            status(
                "1",
                DeploymentState::Inactive,
                Some("rolled back: b failed")
            ),
        ]
    );
}

// ---------------------------------------------------------------- HTTP prober

fn smoke_test_for(url: &str, timeout: &str) -> parky_deploy::plan::SmokeTest {
    let yaml = format!(
        "services:\n  - name: web\n    deploy: {{command: [x]}}\n    smoke_test: {{url: '{url}', expect_status: 200, timeout: {timeout}}}\n"
    );
    let plan = DeployPlan::from_yaml(&yaml).unwrap();
    plan.services()[0].smoke_test.clone().unwrap()
}

#[tokio::test]
async fn http_prober_passes_on_the_expected_status() {
    let mut server = mockito::Server::new_async().await;
    let healthy = server
        .mock("GET", "/healthz")
        .with_status(200)
        .with_body("ok")
        .expect(1)
        .create_async()
        .await;
    let test = smoke_test_for(&format!("{}/healthz", server.url()), "2s");
    let prober = HttpProber::new().unwrap();
    assert_eq!(prober.probe("web", &test).await, ProbeResult::Passed);
    healthy.assert_async().await;
}

#[tokio::test]
async fn http_prober_fails_on_another_status_and_does_not_follow_redirects() {
    let mut server = mockito::Server::new_async().await;
    let down = server
        .mock("GET", "/healthz")
        .with_status(503)
        .with_body("maintenance")
        .create_async()
        .await;
    let moved = server
        .mock("GET", "/old")
        .with_status(301)
        .with_header("location", "/healthz")
        .create_async()
        .await;
    let prober = HttpProber::new().unwrap();
    let test = smoke_test_for(&format!("{}/healthz", server.url()), "2s");
    assert_eq!(
        prober.probe("web", &test).await,
        failed("HTTP 503, expected 200")
    );
    let test = smoke_test_for(&format!("{}/old", server.url()), "2s");
    assert_eq!(
        prober.probe("web", &test).await,
        failed("HTTP 301, expected 200")
    );
    down.assert_async().await;
    moved.assert_async().await;
}

#[tokio::test(start_paused = true)]
async fn http_prober_times_out_without_waiting() {
    // A listener that never accepts: the connection completes in the kernel's backlog, the
    // request is never answered. With tokio's clock paused, the 30 s deadline passes as
    // soon as the runtime is idle, so the test does not wait 30 s.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let test = smoke_test_for(&format!("http://{address}/healthz"), "30s");
    let prober = HttpProber::new().unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        prober.probe("web", &test).await,
        failed("no reply within 30s")
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(listener);
}

#[tokio::test]
async fn http_prober_reports_a_refused_connection() {
    // Bind then drop: the port is (almost certainly) closed.
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let test = smoke_test_for(&format!("http://{address}/healthz"), "2s");
    match HttpProber::new().unwrap().probe("web", &test).await {
        ProbeResult::Failed { reason } => {
            assert!(reason.starts_with("request failed: "), "{reason}")
        }
        ProbeResult::Passed => panic!("a closed port passed"),
    }
}

// ---------------------------------------------------------------- real commands

fn one_service(yaml_steps: &str) -> DeployPlan {
    DeployPlan::from_yaml(&format!("services:\n  - name: api\n{yaml_steps}")).unwrap()
}

#[test]
fn command_steps_have_a_timeout_and_an_optional_rollback() {
    let plan = one_service(
        "    deploy: {command: [deploy-api], timeout: 90s}\n    rollback: {command: [undo-api], workdir: api}\n",
    );
    let api = &plan.services()[0];
    assert_eq!(api.deploy.timeout, Duration::from_secs(90));
    let rollback = api.rollback.as_ref().expect("rollback");
    assert_eq!(rollback.command, ["undo-api"]);
    assert_eq!(rollback.workdir.as_deref(), Some("api"));
    assert_eq!(rollback.timeout, DEFAULT_COMMAND_TIMEOUT);
    assert_eq!(DEFAULT_COMMAND_TIMEOUT, Duration::from_secs(600));
    let err = DeployPlan::from_yaml(
        "services:\n  - name: api\n    deploy: {command: [x]}\n    rollback: {command: []}\n",
    )
    .unwrap_err();
    assert_eq!(
        err,
        invalid("services.api.rollback.command", "must name a program")
    );
    let err = DeployPlan::from_yaml(
        "services:\n  - name: api\n    deploy: {command: [x], timeout: 0s}\n",
    )
    .unwrap_err();
    assert_eq!(
        err,
        invalid("services.api.deploy.timeout", "must be more than zero")
    );
}

#[tokio::test]
async fn command_deployer_runs_the_argv_without_a_shell_in_the_workdir() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("api")).unwrap();
    // wrangler prints the new version as "Current Version ID: <id>".
    let plan = one_service(
        "    deploy: {command: [sh, -c, 'pwd > where.txt; echo \"Current Version ID: 9f1c-77\"'], workdir: api}\n",
    );
    let deployer = CommandDeployer::new(dir.path());
    let version = deployer.deploy(&plan.services()[0]).await.unwrap();
    assert_eq!(version, VersionId::from("9f1c-77"));
    let where_ = std::fs::read_to_string(dir.path().join("api/where.txt")).unwrap();
    assert_eq!(
        Path::new(where_.trim()).canonicalize().unwrap(),
        dir.path().join("api").canonicalize().unwrap()
    );

    // An argument is passed as it is: `$(…)` and `;` are not interpreted.
    let plan = one_service("    deploy: {command: [echo, '$(touch injected); touch injected2']}\n");
    let version = deployer.deploy(&plan.services()[0]).await.unwrap();
    assert_eq!(version, VersionId::from(UNREPORTED_VERSION));
    assert!(!dir.path().join("injected").exists());
    assert!(!dir.path().join("injected2").exists());
}

#[tokio::test]
async fn a_failed_command_names_the_service_its_status_and_the_stderr_tail() {
    let dir = tempfile::tempdir().unwrap();
    let plan = one_service(
        "    deploy: {command: [sh, -c, 'echo uploading; echo first >&2; echo \"quota exceeded\" >&2; exit 3']}\n",
    );
    let error = CommandDeployer::new(dir.path())
        .deploy(&plan.services()[0])
        .await
        .unwrap_err();
    assert_eq!(
        error,
        DeployError::ServiceCommand {
            service: "api".to_owned(),
            operation: "deploy".to_owned(),
            program: "sh".to_owned(),
            failure: CommandFailure::Exit(3),
            stderr_tail: "first\nquota exceeded".to_owned(),
        }
    );
    assert_eq!(
        error.to_string(),
        "deploy of service `api` failed: `sh` exited with status 3; stderr:\nfirst\nquota exceeded"
    );

    // A program that does not exist.
    let plan = one_service("    deploy: {command: [parky-test-no-such-program]}\n");
    match CommandDeployer::new(dir.path())
        .deploy(&plan.services()[0])
        .await
        .unwrap_err()
    {
        DeployError::ServiceCommand {
            service,
            program,
            failure: CommandFailure::Spawn(_),
            ..
        } => assert_eq!(
            (service.as_str(), program.as_str()),
            ("api", "parky-test-no-such-program")
        ),
        other => panic!("expected a spawn failure, got {other:?}"),
    }

    // No rollback command: the rollback fails naming the missing field.
    let plan = one_service("    deploy: {command: [true]}\n");
    assert_eq!(
        CommandDeployer::new(dir.path())
            .rollback(&plan.services()[0])
            .await
            .unwrap_err(),
        DeployError::ServiceOperation {
            service: "api".to_owned(),
            operation: "rollback".to_owned(),
            reason: "the plan has no rollback command for it (services.api.rollback)".to_owned(),
        }
    );
}

#[tokio::test]
async fn a_command_past_its_timeout_is_killed() {
    // The child runs in real time, so the deadline is real: 200 ms against a 30 s sleep.
    let dir = tempfile::tempdir().unwrap();
    let plan = one_service("    deploy: {command: [sleep, '30'], timeout: 200ms}\n");
    let started = std::time::Instant::now();
    let error = CommandDeployer::new(dir.path())
        .deploy(&plan.services()[0])
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "killed, not waited for"
    );
    assert_eq!(
        error,
        DeployError::ServiceCommand {
            service: "api".to_owned(),
            operation: "deploy".to_owned(),
            program: "sleep".to_owned(),
            failure: CommandFailure::TimedOut(Duration::from_millis(200)),
            stderr_tail: String::new(),
        }
    );
    assert!(error
        .to_string()
        .contains("`sleep` did not finish within 200ms and was killed"));
}

#[tokio::test]
async fn a_real_run_smoke_tests_over_http_and_rolls_back_in_reverse_order() {
    let mut server = mockito::Server::new_async().await;
    let sync_ok = server
        .mock("GET", "/sync/healthz")
        .with_status(200)
        .expect(1)
        .create_async()
        .await;
    let public_ok = server
        .mock("GET", "/public/healthz")
        .with_status(200)
        .expect(1)
        .create_async()
        .await;
    // admin answers 503 to both attempts (retries: 1).
    let admin_down = server
        .mock("GET", "/admin/healthz")
        .with_status(503)
        .expect(2)
        .create_async()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let step = |verb: &str, name: &str| {
        format!("{{command: [sh, -c, 'echo {verb} {name} >> ../calls.log'], workdir: {name}}}")
    };
    let mut yaml = String::from("services:\n");
    for (name, after, path, retries) in [
        ("store-sync", "", "sync", 0),
        ("public", "store-sync", "public", 0),
        ("admin", "public", "admin", 1),
        ("marketing", "admin", "", 0),
    ] {
        std::fs::create_dir(dir.path().join(name)).unwrap();
        yaml.push_str(&format!("  - name: {name}\n"));
        if !after.is_empty() {
            yaml.push_str(&format!("    depends_on: [{after}]\n"));
        }
        yaml.push_str(&format!("    deploy: {}\n", step("deploy", name)));
        yaml.push_str(&format!("    rollback: {}\n", step("rollback", name)));
        if !path.is_empty() {
            yaml.push_str(&format!(
                "    smoke_test: {{url: '{}/{path}/healthz', retries: {retries}, interval: 7s}}\n",
                server.url()
            ));
        }
    }
    let plan = DeployPlan::from_yaml(&yaml).unwrap();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap());
    let sleeper = ManualSleeper::new(clock.clone());
    let executor = Executor::new(
        Arc::new(CommandDeployer::new(dir.path())),
        Arc::new(HttpProber::new().unwrap()),
        Arc::new(sleeper.clone()),
        Arc::new(clock),
    );
    let report = executor.run(&plan, &SecretNames::default()).await.unwrap();
    assert_eq!(
        report.outcome,
        RunOutcome::RolledBack {
            failed: "admin".to_owned()
        }
    );
    // admin's deploy succeeded, so it is rolled back first; then public, then store-sync;
    // marketing never started.
    let calls = std::fs::read_to_string(dir.path().join("calls.log")).unwrap();
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        [
            "deploy store-sync",
            "deploy public",
            "deploy admin",
            "rollback admin",
            "rollback public",
            "rollback store-sync",
        ]
    );
    // One wait of the configured interval between admin's two attempts.
    assert_eq!(sleeper.slept(), [Duration::from_secs(7)]);
    let last: Vec<(String, String)> = report
        .steps
        .iter()
        .map(|s| (s.service.clone(), s.event.to_string()))
        .filter(|(_, e)| e.starts_with("smoke test failed") || e == "not started")
        .collect();
    assert_eq!(
        last,
        [
            (
                "admin".to_owned(),
                "smoke test failed after 2 attempt(s): HTTP 503, expected 200".to_owned()
            ),
            ("marketing".to_owned(), "not started".to_owned()),
        ]
    );
    assert_eq!(
        report.into_result().unwrap_err(),
        DeployError::RunFailed {
            failed: "admin".to_owned(),
            rolled_back: ["admin", "public", "store-sync"]
                .map(str::to_owned)
                .to_vec(),
            still_deployed: Vec::new(),
        }
    );
    sync_ok.assert_async().await;
    public_ok.assert_async().await;
    admin_down.assert_async().await;
}

#[test]
fn dry_run_prints_commands_shell_quoted_and_workdirs_as_written() {
    // Pasted into `sh`, each printed line must give back the plan's argv: words with a
    // space, a `'` or a `$` are single-quoted (`'` written as '\''), plain words are not.
    let plan = DeployPlan::from_yaml(
        "services:
  - name: public
    deploy: {command: [npx, wrangler, deploy, --var, 'GREETING:it''s $HOME'], workdir: workers/my site}
    rollback: {command: [npx, wrangler, rollback, --message, 'parky: public rollback'], workdir: workers/public}
",
    )
    .unwrap();
    assert_eq!(
        plan.dry_run().to_string(),
        r"deploy plan: 1 service(s), in order
1. public
   deploy: npx wrangler deploy --var 'GREETING:it'\''s $HOME' (in 'workers/my site')
   rollback: npx wrangler rollback --message 'parky: public rollback' (in workers/public)
   smoke test: none
on failure: roll back the services already deployed, in reverse order"
    );
    assert_eq!(
        parky_deploy::plan::shell_join(&["sh", "-c", "echo ok"]),
        "sh -c 'echo ok'"
    );
}

/// The process states (`ps` STAT: `S`, `R`, `Z`, …) of the members of process group `pgid`
/// still alive; killed members that are zombies (dead, waiting for init, which adopted them,
/// to reap them) are left out. Empty when the group no longer exists (`kill -0 -- -<pgid>`
/// fails) or every member is dead.
#[cfg(unix)]
fn live_members(pgid: &str) -> Vec<String> {
    let exists = std::process::Command::new("kill")
        .args(["-0", "--", &format!("-{pgid}")])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run kill")
        .success();
    if !exists {
        return Vec::new();
    }
    let ps = std::process::Command::new("ps")
        .args(["-A", "-o", "pgid=,stat=,comm="])
        .output()
        .expect("run ps");
    String::from_utf8_lossy(&ps.stdout)
        .lines()
        .filter(|line| line.split_whitespace().next() == Some(pgid))
        .filter(|line| {
            !line
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .starts_with('Z')
        })
        .map(|line| line.trim().to_owned())
        .collect()
}

#[cfg(unix)]
#[tokio::test]
async fn a_timeout_kills_the_commands_whole_process_group() {
    // `sh` records its pid (= the group id: each command gets its own group), starts a
    // grandchild that would touch `marker` after 1 s, and waits on a 30 s sleep. The 300 ms
    // timeout must kill all three, so that a timed-out deploy cannot finish later.
    let dir = tempfile::tempdir().unwrap();
    let plan = one_service(
        "    deploy: {command: [sh, -c, 'echo $$ > pgid; (sleep 1; touch marker) & sleep 30'], timeout: 300ms}\n",
    );
    let started = std::time::Instant::now();
    let error = CommandDeployer::new(dir.path())
        .deploy(&plan.services()[0])
        .await
        .unwrap_err();
    // The grandchild holds the output pipes too: returning within the 1 s of its sleep
    // shows it did not run to the end.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        error,
        DeployError::ServiceCommand {
            service: "api".to_owned(),
            operation: "deploy".to_owned(),
            program: "sh".to_owned(),
            failure: CommandFailure::TimedOut(Duration::from_millis(300)),
            stderr_tail: String::new(),
        }
    );
    let pgid = std::fs::read_to_string(dir.path().join("pgid")).unwrap();
    let pgid = pgid.trim();
    assert!(pgid.parse::<u32>().is_ok(), "{pgid:?}");
    // Killed members are reparented to init, which reaps them when it gets to it: until
    // then they are zombies. None may be alive: the grandchild would touch `marker` at 1 s.
    // (`kill` was waited for, and the pipes closed only once every member had died.)
    assert_eq!(live_members(pgid), Vec::<String>::new());
    assert!(!dir.path().join("marker").exists());
}

#[tokio::test]
async fn secret_values_are_redacted_from_command_output() {
    // The variables exist only in this test binary's environment.
    std::env::set_var("PARKY_TEST_REDACT_OWN", "hunter2SECRET");
    std::env::set_var("PARKY_TEST_REDACT_OTHER", "0therS3cret");
    let dir = tempfile::tempdir().unwrap();
    let plan = DeployPlan::from_yaml(
        "services:\n  - name: api\n    secrets: [PARKY_TEST_REDACT_OWN]\n    deploy: {command: [sh, -c, 'echo \"secret is $PARKY_TEST_REDACT_OWN\" >&2; echo \"other: $PARKY_TEST_REDACT_OTHER\" >&2; exit 2']}\n  - name: web\n    secrets: [PARKY_TEST_REDACT_OTHER]\n    deploy: {command: [sh, -c, 'echo \"Current Version ID: $PARKY_TEST_REDACT_OTHER\"']}\n",
    )
    .unwrap();
    // The service's own secret is always redacted; another service's only with the plan's.
    let error = CommandDeployer::new(dir.path())
        .deploy(&plan.services()[0])
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "deploy of service `api` failed: `sh` exited with status 2; stderr:\nsecret is [REDACTED]\nother: 0therS3cret"
    );
    let deployer = CommandDeployer::new(dir.path()).redacting_secrets_of(&plan);
    let error = deployer.deploy(&plan.services()[0]).await.unwrap_err();
    assert_eq!(
        error,
        DeployError::ServiceCommand {
            service: "api".to_owned(),
            operation: "deploy".to_owned(),
            program: "sh".to_owned(),
            failure: CommandFailure::Exit(2),
            stderr_tail: "secret is [REDACTED]\nother: [REDACTED]".to_owned(),
        }
    );
    assert!(!format!("{error} {error:?}").contains("hunter2SECRET"));
    // Standard output (the reported version) is redacted too.
    assert_eq!(
        deployer.deploy(&plan.services()[1]).await.unwrap(),
        VersionId::from("[REDACTED]")
    );
    // Values given directly.
    let deployer =
        CommandDeployer::new(dir.path()).redacting([parky_core::SecretString::from("0therS3cret")]);
    assert_eq!(
        deployer.deploy(&plan.services()[1]).await.unwrap(),
        VersionId::from("[REDACTED]")
    );
}

#[tokio::test]
async fn a_failed_first_deploy_says_nothing_was_deployed_before_it() {
    let plan = DeployPlan::from_yaml(SHOP).unwrap();
    let h = Harness::new();
    let report = h
        .executor(
            ScriptedDeployer::new(h.log.clone())
                .fail_deploy("store-sync", "wrangler exited with 1"),
            ScriptedProber::new(h.log.clone()),
        )
        .run(&plan, &all_secrets())
        .await
        .unwrap();
    assert_eq!(h.log.calls(), [deploy("store-sync")]);
    assert!(report.rolled_back().is_empty());
    assert!(
        report.to_string().ends_with(
            "result: store-sync failed; nothing was deployed before it, nothing to roll back"
        ),
        "{report}"
    );
    let error = report.into_result().unwrap_err();
    assert_eq!(
        error,
        DeployError::RunFailed {
            failed: "store-sync".to_owned(),
            rolled_back: Vec::new(),
            still_deployed: Vec::new(),
        }
    );
    assert_eq!(
        error.to_string(),
        "deploy run failed at service `store-sync`; nothing was deployed before it, so nothing was rolled back"
    );
}

#[tokio::test]
async fn a_later_failure_names_what_was_rolled_back() {
    let plan = DeployPlan::from_yaml(SHOP).unwrap();
    let h = Harness::new();
    let error = h
        .executor(
            ScriptedDeployer::new(h.log.clone()).fail_deploy("admin", "wrangler exited with 1"),
            ScriptedProber::new(h.log.clone()),
        )
        .run(&plan, &all_secrets())
        .await
        .unwrap()
        .into_result()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "deploy run failed at service `admin`; rolled back in reverse order: public, store-sync"
    );
}

#[test]
fn dry_run_says_how_many_smoke_test_retries() {
    let plan = DeployPlan::from_yaml(
        "services:\n  - name: a\n    deploy: {command: [x]}\n    smoke_test: {url: 'https://a.example', retries: 1, interval: 10s}\n  - name: b\n    deploy: {command: [x]}\n    smoke_test: {url: 'https://b.example'}\n",
    )
    .unwrap();
    let text = plan.dry_run().to_string();
    assert!(
        text.contains("   smoke test: GET https://a.example/ expecting 200 (timeout 10s, 1 retry 10s later)\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "   smoke test: GET https://b.example/ expecting 200 (timeout 10s, no retries)\n"
        ),
        "{text}"
    );
}
