//! Ordered multi-service deploys: plan validation, order, secrets, rollback in reverse order,
//! smoke-test retries, and the HTTP prober against mockito.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use parky_core::ManualClock;
use parky_deploy::model::VersionId;
use parky_deploy::plan::{
    Call, CallLog, DeployPlan, Executor, HttpProber, ManualSleeper, ProbeResult, Prober,
    RunOutcome, ScriptedDeployer, ScriptedProber, SecretNames, StepEvent,
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
   smoke test: GET https://store-sync.example.com/healthz expecting 200 (timeout 10s, 0 retries every 5s)
2. public (after store-sync)
   secrets: CLOUDFLARE_API_TOKEN
   deploy: npx wrangler deploy (in public)
   smoke test: GET https://www.example.com/ expecting 200 (timeout 10s, 0 retries every 5s)
3. admin (after public)
   secrets: ADMIN_TOKEN, CLOUDFLARE_API_TOKEN
   deploy: npx wrangler deploy (in admin)
   smoke test: GET https://admin.example.com/healthz expecting 200 (timeout 3s, 2 retries every 10s)
4. marketing (after admin)
   deploy: npx wrangler deploy (in marketing)
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
