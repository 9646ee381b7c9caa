//! `GitHubSource` against mockito servers scripted with GitHub's documented replies
//! (REST API version 2022-11-28): pagination, rate limits, conditional requests, errors.
#![cfg(feature = "github")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use mockito::{Matcher, Mock, ServerGuard};
use parky_core::{Backoff, Jitter, ManualClock, RetryPolicy, SecretString};
use parky_dora::model::{Change, DeliveryHistory, Deployment, DeploymentOutcome, Incident};
use parky_dora::source::github::{
    DeploymentSignal, GitHubOptions, GitHubSource, ManualSleeper, Progress,
};
use parky_dora::source::{DeliverySource, Query};
use parky_dora::DoraError;
use serde_json::json;

const TOKEN: &str = "ghp_s3cr3tT0kenValue";

fn at(m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, m, d, h, min, 0)
        .single()
        .expect("valid date")
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn june() -> Query {
    Query {
        since: at(6, 1, 0, 0),
        until: at(6, 30, 0, 0),
        environment: "production".to_owned(),
    }
}

struct Rig {
    server: ServerGuard,
    clock: ManualClock,
    sleeper: ManualSleeper,
}

impl Rig {
    async fn new() -> Self {
        let clock = ManualClock::new(at(7, 1, 0, 0));
        Self {
            server: mockito::Server::new_async().await,
            sleeper: ManualSleeper::new(clock.clone()),
            clock,
        }
    }

    fn source(&self, signal: DeploymentSignal) -> GitHubSource {
        // No jitter, so backoff waits are exact: 1 s, 2 s, 4 s, …
        let backoff = Backoff::new(
            Duration::from_secs(1),
            Duration::from_secs(60),
            Jitter::None,
        )
        .expect("backoff");
        let retry = RetryPolicy::new(4, backoff, Duration::from_secs(3600)).expect("policy");
        GitHubSource::new("octo", "shop", SecretString::from(TOKEN))
            .expect("source")
            .with_base_url(&self.server.url())
            .expect("base url")
            .with_clock(Arc::new(self.clock.clone()))
            .with_sleeper(Arc::new(self.sleeper.clone()))
            .with_retry_policy(retry)
            .with_options(GitHubOptions {
                signal,
                ..GitHubOptions::default()
            })
            .expect("options")
    }

    /// A GET mock that checks GitHub's required headers and the exact query.
    fn get(&mut self, path: &str, query: &[(&str, &str)]) -> mockito::Mock {
        let query = Matcher::AllOf(
            query
                .iter()
                .map(|(k, v)| Matcher::UrlEncoded((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        self.server
            .mock("GET", path)
            .match_query(query)
            .match_header("accept", "application/vnd.github+json")
            .match_header("x-github-api-version", "2022-11-28")
            .match_header("authorization", format!("Bearer {TOKEN}").as_str())
            .match_header("user-agent", Matcher::Regex("^parky-dora/".to_owned()))
    }

    async fn deployments_page(&mut self, status: usize, body: &str) -> Mock {
        self.get(
            "/repos/octo/shop/deployments",
            &[("environment", "production"), ("per_page", "100")],
        )
        .with_status(status)
        .with_header("content-type", "application/json; charset=utf-8")
        .with_body(body)
        .expect(1)
        .create_async()
        .await
    }

    async fn no_incidents(&mut self, since: DateTime<Utc>) -> Mock {
        self.get(
            "/repos/octo/shop/issues",
            &[
                ("labels", "incident"),
                ("state", "all"),
                ("since", &iso(since)),
                ("per_page", "100"),
            ],
        )
        .with_status(200)
        .with_body("[]")
        .create_async()
        .await
    }
}

fn deployment_json(id: u64, sha: &str, created: DateTime<Utc>) -> serde_json::Value {
    // Trimmed from the "List deployments" example reply.
    json!({
        "url": format!("https://api.github.com/repos/octo/shop/deployments/{id}"),
        "id": id,
        "node_id": "MDEwOkRlcGxveW1lbnQx",
        "sha": sha,
        "ref": "main",
        "task": "deploy",
        "payload": {},
        "original_environment": "production",
        "environment": "production",
        "description": "Deploy request from hubot",
        "creator": {"login": "octocat", "id": 1},
        "created_at": iso(created),
        "updated_at": iso(created),
        "transient_environment": false,
        "production_environment": true
    })
}

fn status_json(id: u64, state: &str, created: DateTime<Utc>) -> serde_json::Value {
    json!({
        "id": id,
        "node_id": "MDE2OkRlcGxveW1lbnRTdGF0dXMx",
        "state": state,
        "creator": {"login": "octocat", "id": 1},
        "description": "Deployment finished successfully.",
        "environment": "production",
        "target_url": "https://example.com/deployment/42/output",
        "created_at": iso(created),
        "updated_at": iso(created),
        "log_url": "https://example.com/deployment/42/output"
    })
}

fn commit_json(
    sha: &str,
    authored: DateTime<Utc>,
    committed: DateTime<Utc>,
    parents: &[&str],
) -> serde_json::Value {
    json!({
        "sha": sha,
        "commit": {
            "author": {"name": "dev", "email": "dev@example.invalid", "date": iso(authored)},
            "committer": {"name": "GitHub", "email": "noreply@github.com", "date": iso(committed)},
            "message": "change"
        },
        "parents": parents.iter().map(|p| json!({"sha": p})).collect::<Vec<_>>()
    })
}

#[tokio::test]
async fn collects_deployments_commits_pull_requests_and_incidents() {
    let mut rig = Rig::new().await;
    let base = rig.server.url();
    // Deployments, newest first, over two pages joined by a Link header.
    let page2 =
        format!("{base}/repos/octo/shop/deployments?environment=production&per_page=100&page=2");
    let link = format!("<{page2}>; rel=\"next\", <{page2}>; rel=\"last\"");
    let m_page1 = rig
        .get(
            "/repos/octo/shop/deployments",
            &[("environment", "production"), ("per_page", "100")],
        )
        .match_query(Matcher::Exact(
            "environment=production&per_page=100".to_owned(),
        ))
        .with_status(200)
        .with_header("link", &link)
        .with_body(
            json!([
                deployment_json(3, "c3", at(6, 12, 0, 0)),
                deployment_json(2, "c2", at(6, 5, 0, 0)),
            ])
            .to_string(),
        )
        .expect(1)
        .create_async()
        .await;
    let m_page2 = rig
        .get(
            "/repos/octo/shop/deployments",
            &[
                ("environment", "production"),
                ("per_page", "100"),
                ("page", "2"),
            ],
        )
        .with_status(200)
        .with_body(json!([deployment_json(1, "c1", at(5, 20, 0, 0))]).to_string())
        .expect(1)
        .create_async()
        .await;
    // Statuses: 1 succeeded, 2 went in_progress then failure, 3 succeeded.
    let mut status_mocks = Vec::new();
    for (id, statuses) in [
        (1, json!([status_json(11, "success", at(5, 20, 1, 0))])),
        (
            2,
            json!([
                status_json(22, "failure", at(6, 5, 0, 20)),
                status_json(21, "in_progress", at(6, 5, 0, 10))
            ]),
        ),
        (3, json!([status_json(31, "success", at(6, 12, 1, 0))])),
    ] {
        status_mocks.push(
            rig.get(
                &format!("/repos/octo/shop/deployments/{id}/statuses"),
                &[("per_page", "100")],
            )
            .with_status(200)
            .with_body(statuses.to_string())
            .expect(1)
            .create_async()
            .await,
        );
    }
    // Compare between consecutive deployments.
    let m_compare12 = rig
        .get("/repos/octo/shop/compare/c1...c2", &[("per_page", "100")])
        .with_status(200)
        .with_body(
            json!({
                "status": "ahead", "ahead_by": 2, "behind_by": 0, "total_commits": 2,
                "commits": [
                    commit_json("a1", at(6, 1, 0, 0), at(6, 2, 0, 0), &["c1"]),
                    commit_json("c2", at(6, 3, 0, 0), at(6, 4, 0, 0), &["c1", "a1"]),
                ],
                "files": []
            })
            .to_string(),
        )
        .expect(1)
        .create_async()
        .await;
    let m_compare23 = rig
        .get("/repos/octo/shop/compare/c2...c3", &[("per_page", "100")])
        .with_status(200)
        .with_body(
            json!({
                "status": "ahead", "ahead_by": 1, "behind_by": 0, "total_commits": 1,
                "commits": [commit_json("c3", at(6, 10, 0, 0), at(6, 11, 12, 0), &["c2"])]
            })
            .to_string(),
        )
        .expect(1)
        .create_async()
        .await;
    // Merged pull requests (#6 squash-merged as c3, #5 merged with merge commit c2, #4
    // closed unmerged).
    let m_pulls = rig
        .get(
            "/repos/octo/shop/pulls",
            &[
                ("state", "closed"),
                ("sort", "updated"),
                ("direction", "desc"),
                ("per_page", "100"),
            ],
        )
        .with_status(200)
        .with_body(
            json!([
                {"number": 6, "state": "closed", "merged_at": iso(at(6, 11, 12, 0)),
                 "merge_commit_sha": "c3", "updated_at": iso(at(6, 11, 12, 0))},
                {"number": 5, "state": "closed", "merged_at": iso(at(6, 4, 0, 0)),
                 "merge_commit_sha": "c2", "updated_at": iso(at(6, 4, 0, 0))},
                {"number": 4, "state": "closed", "merged_at": null,
                 "merge_commit_sha": "zz", "updated_at": iso(at(5, 1, 0, 0))}
            ])
            .to_string(),
        )
        .expect(1)
        .create_async()
        .await;
    // Only #5's merge commit has two parents, so only its commits are listed.
    let m_pull5 = rig
        .get("/repos/octo/shop/pulls/5/commits", &[("per_page", "100")])
        .with_status(200)
        .with_body(json!([commit_json("a1", at(6, 1, 0, 0), at(6, 2, 0, 0), &["c1"])]).to_string())
        .expect(1)
        .create_async()
        .await;
    // Incidents since the earliest deployment returned (1, finished 05-20 01:00).
    let m_issues = rig
        .get(
            "/repos/octo/shop/issues",
            &[
                ("labels", "incident"),
                ("state", "all"),
                ("since", "2024-05-20T01:00:00Z"),
                ("per_page", "100"),
            ],
        )
        .with_status(200)
        .with_body(
            json!([
                {"number": 10, "state": "closed", "created_at": iso(at(6, 5, 1, 0)),
                 "closed_at": iso(at(6, 5, 3, 0)), "body": "Checkout 5xx\n\ndeployment: 2\n",
                 "labels": [{"name": "incident"}]},
                {"number": 11, "state": "open", "created_at": iso(at(6, 6, 0, 0)),
                 "closed_at": null, "body": "fix", "pull_request": {"url": "x"}}
            ])
            .to_string(),
        )
        .expect(1)
        .create_async()
        .await;

    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let source = rig
        .source(DeploymentSignal::Deployments)
        .with_progress(Arc::new(move |_: &Progress| {
            counter.fetch_add(1, Ordering::Relaxed);
        }));
    let got = source.collect(&june()).await.unwrap();

    let deployment =
        |id: &str, commit: &str, at: DateTime<Utc>, outcome, commits: &[&str]| Deployment {
            id: id.to_owned(),
            service: "shop".to_owned(),
            environment: "production".to_owned(),
            commit: commit.to_owned(),
            at,
            outcome,
            commits: commits.iter().map(|c| (*c).to_owned()).collect(),
        };
    let expected = DeliveryHistory {
        deployments: vec![
            // The anchor before the window; it has no base, so what it shipped is unknown.
            deployment("1", "c1", at(5, 20, 1, 0), DeploymentOutcome::Success, &[]),
            // `at` = the time of the terminal status.
            deployment(
                "2",
                "c2",
                at(6, 5, 0, 20),
                DeploymentOutcome::Failure,
                &["a1", "c2"],
            ),
            deployment(
                "3",
                "c3",
                at(6, 12, 1, 0),
                DeploymentOutcome::Success,
                &["c3"],
            ),
        ],
        changes: vec![
            Change {
                commit: "a1".to_owned(),
                authored_at: at(6, 1, 0, 0),
                committed_at: at(6, 2, 0, 0),
                pull_request: Some(5),
                merged_at: Some(at(6, 4, 0, 0)),
            },
            Change {
                commit: "c2".to_owned(),
                authored_at: at(6, 3, 0, 0),
                committed_at: at(6, 4, 0, 0),
                pull_request: Some(5),
                merged_at: Some(at(6, 4, 0, 0)),
            },
            Change {
                commit: "c3".to_owned(),
                authored_at: at(6, 10, 0, 0),
                committed_at: at(6, 11, 12, 0),
                pull_request: Some(6),
                merged_at: Some(at(6, 11, 12, 0)),
            },
        ],
        incidents: vec![Incident {
            id: "10".to_owned(),
            opened_at: at(6, 5, 1, 0),
            resolved_at: Some(at(6, 5, 3, 0)),
            deployment: Some("2".to_owned()),
        }],
    };
    assert_eq!(got, expected);
    for mock in [
        &m_page1,
        &m_page2,
        &m_compare12,
        &m_compare23,
        &m_pulls,
        &m_pull5,
        &m_issues,
    ] {
        mock.assert_async().await;
    }
    for mock in &status_mocks {
        mock.assert_async().await;
    }
    // 2 deployment pages + 3 statuses + 2 compares + pulls + #5's commits + issues = 10.
    assert_eq!(source.requests_sent(), 10);
    assert!(calls.load(Ordering::Relaxed) >= 10);
    assert!(rig.sleeper.slept().is_empty());
}

#[tokio::test]
async fn primary_rate_limit_waits_until_reset() {
    let mut rig = Rig::new().await;
    // GitHub docs: 403 with x-ratelimit-remaining 0; x-ratelimit-reset is UTC epoch seconds.
    let reset = (rig.clock_now().timestamp() + 30).to_string();
    let limited = rig
        .get(
            "/repos/octo/shop/deployments",
            &[("environment", "production"), ("per_page", "100")],
        )
        .with_status(403)
        .with_header("x-ratelimit-limit", "5000")
        .with_header("x-ratelimit-remaining", "0")
        .with_header("x-ratelimit-used", "5000")
        .with_header("x-ratelimit-reset", &reset)
        .with_body(r#"{"message":"API rate limit exceeded for user ID 1.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}"#)
        .expect(1)
        .create_async()
        .await;
    let ok = rig.deployments_page(200, "[]").await;
    let issues = rig.no_incidents(june().since).await;
    let got = rig
        .source(DeploymentSignal::Deployments)
        .collect(&june())
        .await
        .unwrap();
    assert_eq!(got, DeliveryHistory::default());
    limited.assert_async().await;
    ok.assert_async().await;
    issues.assert_async().await;
    assert_eq!(rig.sleeper.slept(), [Duration::from_secs(30)]);
}

impl Rig {
    fn clock_now(&self) -> DateTime<Utc> {
        use parky_core::Clock;
        self.clock.now()
    }
}

#[tokio::test]
async fn exhausted_quota_on_a_success_waits_before_the_next_request() {
    let mut rig = Rig::new().await;
    let reset = (rig.clock_now().timestamp() + 45).to_string();
    let m = rig
        .get(
            "/repos/octo/shop/deployments",
            &[("environment", "production"), ("per_page", "100")],
        )
        .with_status(200)
        .with_header("x-ratelimit-remaining", "0")
        .with_header("x-ratelimit-reset", &reset)
        .with_body("[]")
        .expect(1)
        .create_async()
        .await;
    let issues = rig.no_incidents(june().since).await;
    rig.source(DeploymentSignal::Deployments)
        .collect(&june())
        .await
        .unwrap();
    m.assert_async().await;
    issues.assert_async().await;
    // The issues request waited for the reset first.
    assert_eq!(rig.sleeper.slept(), [Duration::from_secs(45)]);
}

#[tokio::test]
async fn too_many_requests_with_retry_after() {
    let mut rig = Rig::new().await;
    let limited = rig
        .get(
            "/repos/octo/shop/deployments",
            &[("environment", "production"), ("per_page", "100")],
        )
        .with_status(429)
        .with_header("retry-after", "7")
        .with_body(r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}"#)
        .expect(1)
        .create_async()
        .await;
    let ok = rig.deployments_page(200, "[]").await;
    let _issues = rig.no_incidents(june().since).await;
    rig.source(DeploymentSignal::Deployments)
        .collect(&june())
        .await
        .unwrap();
    limited.assert_async().await;
    ok.assert_async().await;
    assert_eq!(rig.sleeper.slept(), [Duration::from_secs(7)]);
}

#[tokio::test]
async fn secondary_rate_limit_403_waits_a_minute() {
    let mut rig = Rig::new().await;
    let limited = rig
        .deployments_page(
            403,
            r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.","documentation_url":"https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}"#,
        )
        .await;
    let ok = rig.deployments_page(200, "[]").await;
    let _issues = rig.no_incidents(june().since).await;
    rig.source(DeploymentSignal::Deployments)
        .collect(&june())
        .await
        .unwrap();
    limited.assert_async().await;
    ok.assert_async().await;
    assert_eq!(rig.sleeper.slept(), [Duration::from_secs(60)]);
}

#[tokio::test]
async fn server_error_then_success_uses_the_backoff() {
    let mut rig = Rig::new().await;
    let failed = rig
        .deployments_page(500, r#"{"message":"Server Error"}"#)
        .await;
    let ok = rig.deployments_page(200, "[]").await;
    let _issues = rig.no_incidents(june().since).await;
    rig.source(DeploymentSignal::Deployments)
        .collect(&june())
        .await
        .unwrap();
    failed.assert_async().await;
    ok.assert_async().await;
    // Retry 0 of a 1 s base without jitter: 1 s.
    assert_eq!(rig.sleeper.slept(), [Duration::from_secs(1)]);
}

#[tokio::test]
async fn persistent_server_error_gives_a_typed_error() {
    let mut rig = Rig::new().await;
    let failed = rig
        .get(
            "/repos/octo/shop/deployments",
            &[("environment", "production"), ("per_page", "100")],
        )
        .with_status(502)
        .with_body("<html>Bad gateway</html>")
        .expect(4)
        .create_async()
        .await;
    let err = rig
        .source(DeploymentSignal::Deployments)
        .collect(&june())
        .await
        .unwrap_err();
    failed.assert_async().await;
    // Four attempts: waits 1 s, 2 s, 4 s in between.
    assert_eq!(
        rig.sleeper.slept(),
        [1, 2, 4].map(Duration::from_secs).to_vec()
    );
    match &err {
        DoraError::GitHub { operation, source } => {
            assert_eq!(operation, "list deployments of octo/shop");
            assert_eq!(source.http_status(), Some(502));
            assert_eq!(source.message(), "<html>Bad gateway</html>");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.is_retryable());
}

#[tokio::test]
async fn not_modified_is_served_from_the_cache() {
    let mut rig = Rig::new().await;
    let cache = tempfile::tempdir().unwrap();
    let body = json!([deployment_json(1, "c1", at(6, 3, 0, 0))]).to_string();
    let first = rig
        .get(
            "/repos/octo/shop/deployments",
            &[("environment", "production"), ("per_page", "100")],
        )
        .match_header("if-none-match", Matcher::Missing)
        .with_status(200)
        .with_header("etag", "W/\"a1b2c3\"")
        .with_body(&body)
        .expect(1)
        .create_async()
        .await;
    let second = rig
        .get(
            "/repos/octo/shop/deployments",
            &[("environment", "production"), ("per_page", "100")],
        )
        .match_header("if-none-match", "W/\"a1b2c3\"")
        .with_status(304)
        .with_header("etag", "W/\"a1b2c3\"")
        .expect(1)
        .create_async()
        .await;
    let statuses = rig
        .get(
            "/repos/octo/shop/deployments/1/statuses",
            &[("per_page", "100")],
        )
        .with_status(200)
        .with_body(json!([status_json(5, "success", at(6, 3, 0, 5))]).to_string())
        .expect(2)
        .create_async()
        .await;
    let _issues = rig.no_incidents(at(6, 1, 0, 0)).await;

    let one = rig
        .source(DeploymentSignal::Deployments)
        .with_cache_dir(cache.path())
        .unwrap();
    let got1 = one.collect(&june()).await.unwrap();
    let two = rig
        .source(DeploymentSignal::Deployments)
        .with_cache_dir(cache.path())
        .unwrap();
    let got2 = two.collect(&june()).await.unwrap();
    first.assert_async().await;
    second.assert_async().await;
    statuses.assert_async().await;
    assert_eq!(got1.deployments.len(), 1);
    assert_eq!(got1, got2);
    assert_eq!((one.not_modified(), two.not_modified()), (0, 1));
    // Cache files are named by a SHA-256 hex digest and never hold the token.
    let files: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let name = files[0].file_stem().unwrap().to_string_lossy().into_owned();
    assert_eq!(name.len(), 64);
    assert!(name.bytes().all(|b| b.is_ascii_hexdigit()));
    let stored = std::fs::read_to_string(&files[0]).unwrap();
    assert!(!stored.contains(TOKEN));
}

#[tokio::test]
async fn malformed_json_names_the_operation() {
    let mut rig = Rig::new().await;
    let _m = rig
        .deployments_page(200, r#"[{"id": "not a number"}"#)
        .await;
    let err = rig
        .source(DeploymentSignal::Deployments)
        .collect(&june())
        .await
        .unwrap_err();
    match &err {
        DoraError::GitHubReply { operation, reason } => {
            assert_eq!(operation, "list deployments of octo/shop");
            assert!(reason.starts_with("page 1: "), "{reason}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn next_link_to_another_origin_is_refused() {
    let mut rig = Rig::new().await;
    let m = rig
        .get(
            "/repos/octo/shop/deployments",
            &[("environment", "production"), ("per_page", "100")],
        )
        .with_status(200)
        .with_header(
            "link",
            "<https://evil.example/repos/octo/shop/deployments?page=2>; rel=\"next\"",
        )
        .with_body(json!([deployment_json(1, "c1", at(6, 3, 0, 0))]).to_string())
        .create_async()
        .await;
    let err = rig
        .source(DeploymentSignal::Deployments)
        .collect(&june())
        .await
        .unwrap_err();
    m.assert_async().await;
    assert!(
        err.to_string()
            .contains("another origin (https://evil.example)"),
        "{err}"
    );
}

#[tokio::test]
async fn token_stays_secret() {
    let mut rig = Rig::new().await;
    // A body echoing the token (GitHub does not, a proxy might): redacted in the error.
    let _m = rig
        .deployments_page(401, &format!(r#"{{"message":"Bad credentials {TOKEN}"}}"#))
        .await;
    let source = rig.source(DeploymentSignal::Deployments);
    let debug = format!("{source:?}");
    assert!(
        !debug.contains(TOKEN) && debug.contains("[REDACTED]"),
        "{debug}"
    );
    let err = source.collect(&june()).await.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(shown.contains("HTTP 401"), "{shown}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn releases_when_there_are_no_deployments() {
    let mut rig = Rig::new().await;
    let _d = rig.deployments_page(200, "[]").await;
    let releases = rig
        .get("/repos/octo/shop/releases", &[("per_page", "100")])
        .with_status(200)
        .with_body(
            json!([
                {"tag_name": "v2.1.0", "draft": true, "prerelease": false, "published_at": null,
                 "created_at": iso(at(6, 20, 0, 0))},
                {"tag_name": "v2.0.0", "draft": false, "prerelease": false,
                 "published_at": iso(at(6, 10, 0, 0)), "created_at": iso(at(6, 10, 0, 0))},
                {"tag_name": "v2.0.0-rc.1", "draft": false, "prerelease": true,
                 "published_at": iso(at(6, 8, 0, 0)), "created_at": iso(at(6, 8, 0, 0))},
                {"tag_name": "v1.0.0", "draft": false, "prerelease": false,
                 "published_at": iso(at(5, 1, 0, 0)), "created_at": iso(at(5, 1, 0, 0))}
            ])
            .to_string(),
        )
        .expect(1)
        .create_async()
        .await;
    let compare = rig
        .get(
            "/repos/octo/shop/compare/v1.0.0...v2.0.0",
            &[("per_page", "100")],
        )
        .with_status(200)
        .with_body(
            json!({"total_commits": 1,
                   "commits": [commit_json("b1", at(6, 9, 0, 0), at(6, 9, 0, 0), &["x"])]})
            .to_string(),
        )
        .expect(1)
        .create_async()
        .await;
    let _pulls = rig
        .get(
            "/repos/octo/shop/pulls",
            &[
                ("state", "closed"),
                ("sort", "updated"),
                ("direction", "desc"),
                ("per_page", "100"),
            ],
        )
        .with_status(200)
        .with_body("[]")
        .create_async()
        .await;
    let _issues = rig
        .get(
            "/repos/octo/shop/issues",
            &[
                ("labels", "incident"),
                ("state", "all"),
                ("since", "2024-05-01T00:00:00Z"),
                ("per_page", "100"),
            ],
        )
        .with_status(200)
        .with_body(
            json!([{"number": 3, "created_at": iso(at(6, 10, 2, 0)), "closed_at": null,
                    "body": "Login broken after Deployment v2.0.0?\ndeployment: v2.0.0"}])
            .to_string(),
        )
        .create_async()
        .await;
    let got = rig
        .source(DeploymentSignal::DeploymentsOrReleases)
        .collect(&june())
        .await
        .unwrap();
    releases.assert_async().await;
    compare.assert_async().await;
    let summary: Vec<(&str, DeploymentOutcome, usize)> = got
        .deployments
        .iter()
        .map(|d| (d.id.as_str(), d.outcome, d.commits.len()))
        .collect();
    // v1.0.0 is the anchor before June; the draft and the pre-release are skipped; the
    // incident linked to v2.0.0 makes it a failure.
    assert_eq!(
        summary,
        [
            ("v1.0.0", DeploymentOutcome::Success, 0),
            ("v2.0.0", DeploymentOutcome::Failure, 1)
        ]
    );
    assert_eq!(got.incidents.len(), 1);
    assert_eq!(got.incidents[0].deployment.as_deref(), Some("v2.0.0"));
}
