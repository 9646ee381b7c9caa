//! Deploy records: the GitHub Deployments recorder against mockito servers replying as
//! GitHub's REST docs show ("REST API endpoints for deployments" / "… deployment statuses",
//! API version 2022-11-28), and the JSON-lines file recorder.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use mockito::{Matcher, Server};
use parky_core::{ManualClock, SecretString};
use parky_deploy::recorder::{
    DeployRecorder, DeploymentId, DeploymentState, FileRecorder, GitHubFieldError, GitHubRecorder,
    NewDeployment, RecordLine, StatusUpdate,
};
use parky_deploy::DeployError;
use serde_json::json;

const TOKEN: &str = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";
const AUTH: &str = "Bearer ghp_16C7e42F292c6912E7710c838347Ae178B4a";
const DEPLOYMENTS: &str = "/repos/octocat/example/deployments";

/// The documented 201 reply of "Create a deployment" (2022-11-28 docs).
const CREATED_DEPLOYMENT: &str = r#"{
  "url": "https://api.github.com/repos/octocat/example/deployments/1",
  "id": 1,
  "node_id": "MDEwOkRlcGxveW1lbnQx",
  "sha": "a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d",
  "ref": "topic-branch",
  "task": "deploy",
  "payload": {},
  "original_environment": "staging",
  "environment": "production",
  "description": "Deploy request from hubot",
  "creator": {
    "login": "octocat",
    "id": 1,
    "node_id": "MDQ6VXNlcjE=",
    "avatar_url": "https://github.com/images/error/octocat_happy.gif",
    "gravatar_id": "",
    "url": "https://api.github.com/users/octocat",
    "html_url": "https://github.com/octocat",
    "followers_url": "https://api.github.com/users/octocat/followers",
    "following_url": "https://api.github.com/users/octocat/following{/other_user}",
    "gists_url": "https://api.github.com/users/octocat/gists{/gist_id}",
    "starred_url": "https://api.github.com/users/octocat/starred{/owner}{/repo}",
    "subscriptions_url": "https://api.github.com/users/octocat/subscriptions",
    "organizations_url": "https://api.github.com/users/octocat/orgs",
    "repos_url": "https://api.github.com/users/octocat/repos",
    "events_url": "https://api.github.com/users/octocat/events{/privacy}",
    "received_events_url": "https://api.github.com/users/octocat/received_events",
    "type": "User",
    "site_admin": false
  },
  "created_at": "2012-07-20T01:19:13Z",
  "updated_at": "2012-07-20T01:19:13Z",
  "statuses_url": "https://api.github.com/repos/octocat/example/deployments/1/statuses",
  "repository_url": "https://api.github.com/repos/octocat/example",
  "transient_environment": false,
  "production_environment": true
}"#;

/// The documented 201 reply of "Create a deployment status", with `state` substituted.
fn created_status(state: &str) -> String {
    format!(
        r#"{{
  "url": "https://api.github.com/repos/octocat/example/deployments/42/statuses/1",
  "id": 1,
  "node_id": "MDE2OkRlcGxveW1lbnRTdGF0dXMx",
  "state": "{state}",
  "creator": {{
    "login": "octocat",
    "id": 1,
    "node_id": "MDQ6VXNlcjE=",
    "avatar_url": "https://github.com/images/error/octocat_happy.gif",
    "gravatar_id": "",
    "url": "https://api.github.com/users/octocat",
    "html_url": "https://github.com/octocat",
    "type": "User",
    "site_admin": false
  }},
  "description": "Deployment finished successfully.",
  "environment": "production",
  "target_url": "https://example.com/deployment/42/output",
  "created_at": "2012-07-20T01:19:13Z",
  "updated_at": "2012-07-20T01:19:13Z",
  "deployment_url": "https://api.github.com/repos/octocat/example/deployments/42",
  "repository_url": "https://api.github.com/repos/octocat/example",
  "environment_url": "https://test-branch.lab.acme.com",
  "log_url": "https://example.com/deployment/42/output"
}}"#
    )
}

/// 2024-05-01T12:00:00Z = Unix 1714564800.
fn clock() -> ManualClock {
    ManualClock::new(Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap())
}

fn recorder(server: &Server) -> GitHubRecorder {
    GitHubRecorder::new(
        &server.url(),
        "octocat",
        "example",
        SecretString::from(TOKEN),
    )
    .unwrap()
    .with_clock(Arc::new(clock()))
}

/// The documented request example: ref, payload (as a string), description.
fn hubot_deployment() -> NewDeployment {
    let mut deployment = NewDeployment::new("topic-branch");
    deployment.payload = Some(json!("{ \"deploy\": \"migrate\" }"));
    deployment.description = Some("Deploy request from hubot".to_owned());
    deployment
}

fn create_mock(server: &mut Server, body: serde_json::Value) -> mockito::Mock {
    server
        .mock("POST", DEPLOYMENTS)
        .match_header("accept", "application/vnd.github+json")
        .match_header("x-github-api-version", "2022-11-28")
        .match_header("authorization", AUTH)
        .match_header("content-type", "application/json")
        .match_header("user-agent", Matcher::Regex("^parky-deploy/".to_owned()))
        .match_body(Matcher::Json(body))
}

fn api_error(err: &DeployError) -> (u16, &str, Option<&str>, &[GitHubFieldError], bool) {
    match err {
        DeployError::GitHubApi {
            source,
            documentation_url,
            errors,
            ..
        } => (
            source.http_status().unwrap_or(0),
            source.message(),
            documentation_url.as_deref(),
            errors,
            err.is_retryable(),
        ),
        other => panic!("not a GitHub API error: {other:?}"),
    }
}

// ---------------------------------------------------------------- create a deployment

#[tokio::test]
async fn create_sends_the_documented_request_and_reads_the_id() {
    let mut server = Server::new_async().await;
    // The documented example request; a string payload is sent as is.
    let mock = create_mock(
        &mut server,
        json!({
            "ref": "topic-branch",
            "payload": "{ \"deploy\": \"migrate\" }",
            "description": "Deploy request from hubot"
        }),
    )
    .with_status(201)
    .with_header("content-type", "application/json; charset=utf-8")
    .with_body(CREATED_DEPLOYMENT)
    .expect(1)
    .create_async()
    .await;
    let id = recorder(&server)
        .start("public", &hubot_deployment())
        .await
        .unwrap();
    assert_eq!(id, DeploymentId("1".to_owned()));
    mock.assert_async().await;
}

#[tokio::test]
async fn create_sends_every_field_and_the_service_in_the_payload() {
    let mut server = Server::new_async().await;
    let mock = create_mock(
        &mut server,
        json!({
            "ref": "a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d",
            "environment": "production",
            "description": "parky deploy admin",
            "auto_merge": false,
            "required_contexts": [],
            "payload": {"service": "admin", "plan": "shop.yaml"},
            "transient_environment": false,
            "production_environment": true
        }),
    )
    .with_status(201)
    .with_body(CREATED_DEPLOYMENT)
    .create_async()
    .await;
    let deployment = NewDeployment {
        git_ref: "a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d".to_owned(),
        environment: Some("production".to_owned()),
        description: Some("parky deploy admin".to_owned()),
        auto_merge: Some(false),
        required_contexts: Some(Vec::new()),
        payload: Some(json!({"plan": "shop.yaml"})),
        transient_environment: Some(false),
        production_environment: Some(true),
    };
    recorder(&server).start("admin", &deployment).await.unwrap();
    mock.assert_async().await;
}

#[tokio::test]
async fn accepted_202_means_github_merged_instead() {
    let mut server = Server::new_async().await;
    let mock = server
        .mock("POST", DEPLOYMENTS)
        .with_status(202)
        .with_body(r#"{"message": "Auto-merged master into topic-branch on deployment."}"#)
        .create_async()
        .await;
    let err = recorder(&server)
        .start("public", &hubot_deployment())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeployError::GitHubAutoMerged {
            message: "Auto-merged master into topic-branch on deployment.".to_owned()
        }
    );
    assert!(err.is_retryable());
    mock.assert_async().await;
}

#[tokio::test]
async fn conflict_409_is_a_permanent_error_with_githubs_message() {
    let mut server = Server::new_async().await;
    // GitHub documents 409 "Conflict when there is a merge conflict or the commit's status
    // checks failed" without a body example; its errors carry `message` and
    // `documentation_url` like every REST error.
    server
        .mock("POST", DEPLOYMENTS)
        .with_status(409)
        .with_body(
            r#"{"message":"Conflict merging master into topic-branch.","documentation_url":"https://docs.github.com/rest/deployments/deployments#create-a-deployment"}"#,
        )
        .create_async()
        .await;
    let err = recorder(&server)
        .start("public", &hubot_deployment())
        .await
        .unwrap_err();
    let (status, message, docs, errors, retryable) = api_error(&err);
    assert_eq!(status, 409);
    assert_eq!(message, "Conflict merging master into topic-branch.");
    assert_eq!(
        docs,
        Some("https://docs.github.com/rest/deployments/deployments#create-a-deployment")
    );
    assert!(errors.is_empty());
    assert!(!retryable);
    assert_eq!(
        err.to_string(),
        "GitHub create deployment: github API error: HTTP 409: Conflict merging master into \
         topic-branch. (see https://docs.github.com/rest/deployments/deployments#create-a-deployment)"
    );
}

#[tokio::test]
async fn validation_failed_422_keeps_the_errors() {
    let mut server = Server::new_async().await;
    server
        .mock("POST", DEPLOYMENTS)
        .with_status(422)
        .with_body(
            r#"{
  "message": "Validation Failed",
  "errors": [
    {"resource": "Deployment", "field": "ref", "code": "invalid"},
    {"resource": "Deployment", "code": "custom", "message": "Conflict: Commit status checks failed for topic-branch."}
  ],
  "documentation_url": "https://docs.github.com/rest/deployments/deployments#create-a-deployment"
}"#,
        )
        .create_async()
        .await;
    let err = recorder(&server)
        .start("public", &hubot_deployment())
        .await
        .unwrap_err();
    let (status, message, _, errors, retryable) = api_error(&err);
    assert_eq!(
        (status, message, retryable),
        (422, "Validation Failed", false)
    );
    assert_eq!(
        errors,
        [
            GitHubFieldError {
                resource: Some("Deployment".to_owned()),
                field: Some("ref".to_owned()),
                code: Some("invalid".to_owned()),
                message: None,
            },
            GitHubFieldError {
                resource: Some("Deployment".to_owned()),
                field: None,
                code: Some("custom".to_owned()),
                message: Some("Conflict: Commit status checks failed for topic-branch.".to_owned()),
            },
        ]
    );
    let text = err.to_string();
    assert!(
        text.contains("; Deployment.ref invalid; Deployment custom: Conflict"),
        "{text}"
    );
}

#[tokio::test]
async fn primary_rate_limit_403_waits_until_the_reset() {
    let mut server = Server::new_async().await;
    // Reset at 1714564845 = 45 s after the manual clock's 12:00:00.
    server
        .mock("POST", DEPLOYMENTS)
        .with_status(403)
        .with_header("x-ratelimit-limit", "5000")
        .with_header("x-ratelimit-remaining", "0")
        .with_header("x-ratelimit-used", "5000")
        .with_header("x-ratelimit-reset", "1714564845")
        .with_body(
            r#"{"message":"API rate limit exceeded for user ID 1.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}"#,
        )
        .create_async()
        .await;
    let err = recorder(&server)
        .start("public", &hubot_deployment())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeployError::GitHubRateLimited {
            operation: "create deployment".to_owned(),
            status: 403,
            message: "API rate limit exceeded for user ID 1.".to_owned(),
            documentation_url: Some(
                "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api".to_owned()
            ),
            retry_after: Some(Duration::from_secs(45)),
        }
    );
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(45)));
}

#[tokio::test]
async fn rate_limit_429_follows_retry_after() {
    let mut server = Server::new_async().await;
    server
        .mock("POST", "/repos/octocat/example/deployments/42/statuses")
        .with_status(429)
        .with_header("retry-after", "30")
        .with_body(
            r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}"#,
        )
        .create_async()
        .await;
    let err = recorder(&server)
        .status(
            &DeploymentId("42".to_owned()),
            &StatusUpdate::new(DeploymentState::Success),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        DeployError::GitHubRateLimited { status: 429, .. }
    ));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
}

#[tokio::test]
async fn secondary_rate_limit_without_headers_waits_a_minute() {
    let mut server = Server::new_async().await;
    server
        .mock("POST", DEPLOYMENTS)
        .with_status(403)
        .with_body(
            r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}"#,
        )
        .create_async()
        .await;
    let err = recorder(&server)
        .start("public", &hubot_deployment())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        DeployError::GitHubRateLimited { status: 403, .. }
    ));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(60)));
}

#[tokio::test]
async fn forbidden_403_without_rate_limit_is_permanent() {
    let mut server = Server::new_async().await;
    server
        .mock("POST", DEPLOYMENTS)
        .with_status(403)
        .with_header("x-ratelimit-remaining", "4999")
        .with_body(
            r#"{"message":"Resource not accessible by integration","documentation_url":"https://docs.github.com/rest/deployments/deployments#create-a-deployment"}"#,
        )
        .create_async()
        .await;
    let err = recorder(&server)
        .start("public", &hubot_deployment())
        .await
        .unwrap_err();
    let (status, message, _, _, retryable) = api_error(&err);
    assert_eq!(
        (status, message, retryable),
        (403, "Resource not accessible by integration", false)
    );
}

#[tokio::test]
async fn server_errors_are_retryable_even_without_json() {
    let mut server = Server::new_async().await;
    server
        .mock("POST", DEPLOYMENTS)
        .with_status(502)
        .with_header("content-type", "text/html")
        .with_body("<html><body><h1>502 Bad Gateway</h1></body></html>")
        .create_async()
        .await;
    let err = recorder(&server)
        .start("public", &hubot_deployment())
        .await
        .unwrap_err();
    let (status, message, docs, _, retryable) = api_error(&err);
    assert_eq!(status, 502);
    assert_eq!(
        message,
        "<html><body><h1>502 Bad Gateway</h1></body></html>"
    );
    assert_eq!(docs, None);
    assert!(retryable);

    server
        .mock("POST", "/repos/octocat/example/deployments/42/statuses")
        .with_status(503)
        .with_header("retry-after", "120")
        .create_async()
        .await;
    let err = recorder(&server)
        .status(
            &DeploymentId("42".to_owned()),
            &StatusUpdate::new(DeploymentState::Failure),
        )
        .await
        .unwrap_err();
    let (status, message, _, _, retryable) = api_error(&err);
    assert_eq!(
        (status, message, retryable),
        (503, "Service Unavailable", true)
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
}

#[tokio::test]
async fn malformed_success_replies_are_typed() {
    let mut server = Server::new_async().await;
    server
        .mock("POST", DEPLOYMENTS)
        .with_status(201)
        .with_body(
            r#"{"url": "https://api.github.com/repos/octocat/example/deployments/1", "id": "#,
        )
        .create_async()
        .await;
    let err = recorder(&server)
        .start("public", &hubot_deployment())
        .await
        .unwrap_err();
    match err {
        DeployError::GitHubMalformedReply {
            operation,
            status,
            reason,
        } => {
            assert_eq!((operation.as_str(), status), ("create deployment", 201));
            assert!(reason.starts_with("not JSON"), "{reason}");
        }
        other => panic!("{other:?}"),
    }

    server
        .mock("POST", "/repos/octocat/example/deployments/7/statuses")
        .with_status(201)
        .with_body(r#"{"state": "success"}"#)
        .create_async()
        .await;
    let err = recorder(&server)
        .status(
            &DeploymentId("7".to_owned()),
            &StatusUpdate::new(DeploymentState::Success),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeployError::GitHubMalformedReply {
            operation: "create deployment status".to_owned(),
            status: 201,
            reason: "no numeric `id` in the reply".to_owned(),
        }
    );
}

// ---------------------------------------------------------------- statuses

#[tokio::test]
async fn each_status_sends_the_documented_request() {
    let mut server = Server::new_async().await;
    let states = [
        (DeploymentState::Queued, "queued"),
        (DeploymentState::InProgress, "in_progress"),
        (DeploymentState::Success, "success"),
        (DeploymentState::Failure, "failure"),
        (DeploymentState::Inactive, "inactive"),
        (DeploymentState::Error, "error"),
        (DeploymentState::Pending, "pending"),
    ];
    let recorder = recorder(&server);
    for (state, name) in states {
        let mock = server
            .mock("POST", "/repos/octocat/example/deployments/42/statuses")
            .match_header("accept", "application/vnd.github+json")
            .match_header("x-github-api-version", "2022-11-28")
            .match_header("authorization", AUTH)
            .match_header("content-type", "application/json")
            .match_body(Matcher::Json(json!({ "state": name })))
            .with_status(201)
            .with_body(created_status(name))
            .expect(1)
            .create_async()
            .await;
        recorder
            .status(&DeploymentId("42".to_owned()), &StatusUpdate::new(state))
            .await
            .unwrap();
        mock.assert_async().await;
        mock.remove_async().await;
    }
}

#[tokio::test]
async fn status_sends_every_field() {
    let mut server = Server::new_async().await;
    // The documented example body, plus environment_url and auto_inactive (environment is
    // not sent: the deployment's own is kept).
    let mock = server
        .mock("POST", "/repos/octocat/example/deployments/42/statuses")
        .match_header("authorization", AUTH)
        .match_body(Matcher::Json(json!({
            "state": "success",
            "log_url": "https://example.com/deployment/42/output",
            "description": "Deployment finished successfully.",
            "environment_url": "https://test-branch.lab.acme.com",
            "auto_inactive": false
        })))
        .with_status(201)
        .with_body(created_status("success"))
        .create_async()
        .await;
    let update = StatusUpdate {
        state: DeploymentState::Success,
        description: Some("Deployment finished successfully.".to_owned()),
        log_url: Some("https://example.com/deployment/42/output".to_owned()),
        environment_url: Some("https://test-branch.lab.acme.com".to_owned()),
        auto_inactive: Some(false),
    };
    recorder(&server)
        .status(&DeploymentId("42".to_owned()), &update)
        .await
        .unwrap();
    mock.assert_async().await;
}

#[tokio::test]
async fn a_non_numeric_id_is_refused_before_sending() {
    let server = Server::new_async().await;
    let err = recorder(&server)
        .status(
            &DeploymentId("../../admin".to_owned()),
            &StatusUpdate::new(DeploymentState::Success),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, DeployError::InvalidConfig { ref field, .. } if field == "deployment_id")
    );
}

// ---------------------------------------------------------------- secrets

#[tokio::test]
async fn the_token_never_shows() {
    let mut server = Server::new_async().await;
    // A reply that echoes the token back must not carry it into the error.
    server
        .mock("POST", DEPLOYMENTS)
        .with_status(401)
        .with_body(format!(
            r#"{{"message":"Bad credentials: {TOKEN}","documentation_url":"https://docs.github.com/rest"}}"#
        ))
        .create_async()
        .await;
    let recorder = recorder(&server);
    assert!(!format!("{recorder:?}").contains(TOKEN));
    let err = recorder
        .start("public", &hubot_deployment())
        .await
        .unwrap_err();
    let (status, message, _, _, _) = api_error(&err);
    assert_eq!(status, 401);
    assert_eq!(message, "Bad credentials: [REDACTED]");
    assert!(!err.to_string().contains(TOKEN));
    assert!(!format!("{err:?}").contains(TOKEN));

    // Network errors too (nothing listens on this port).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let offline = GitHubRecorder::new(
        &format!("http://{closed}"),
        "octocat",
        "example",
        SecretString::from(TOKEN),
    )
    .unwrap();
    let err = offline
        .start("public", &hubot_deployment())
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    assert!(!format!("{err} {err:?}").contains(TOKEN));
}

// ---------------------------------------------------------------- file recorder

#[tokio::test]
async fn file_recorder_writes_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deploys.jsonl");
    let clock = clock();
    let recorder = FileRecorder::new(&path).with_clock(Arc::new(clock.clone()));
    let mut deployment = NewDeployment::new("v1.2.3");
    deployment.environment = Some("production".to_owned());

    let first = recorder.start("public", &deployment).await.unwrap();
    clock.advance(Duration::from_secs(5));
    recorder
        .status(&first, &StatusUpdate::new(DeploymentState::Success))
        .await
        .unwrap();
    let second = recorder.start("admin", &deployment).await.unwrap();
    recorder
        .status(
            &second,
            &StatusUpdate::new(DeploymentState::Failure).with_description("HTTP 503"),
        )
        .await
        .unwrap();
    assert_eq!((first.0.as_str(), second.0.as_str()), ("1", "2"));

    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        concat!(
            r#"{"event":"start","at":"2024-05-01T12:00:00Z","id":"1","service":"public","deployment":{"ref":"v1.2.3","environment":"production"}}"#,
            "\n",
            r#"{"event":"status","at":"2024-05-01T12:00:05Z","id":"1","update":{"state":"success"}}"#,
            "\n",
            r#"{"event":"start","at":"2024-05-01T12:00:05Z","id":"2","service":"admin","deployment":{"ref":"v1.2.3","environment":"production"}}"#,
            "\n",
            r#"{"event":"status","at":"2024-05-01T12:00:05Z","id":"2","update":{"state":"failure","description":"HTTP 503"}}"#,
            "\n",
        )
    );

    // A new recorder on the same file goes on numbering, and reads the records back.
    let again = FileRecorder::new(&path).with_clock(Arc::new(clock.clone()));
    assert_eq!(
        again.start("marketing", &deployment).await.unwrap(),
        DeploymentId("3".to_owned())
    );
    let records = again.records().unwrap();
    assert_eq!(records.len(), 5);
    let failures = records
        .iter()
        .filter(|r| r.state() == Some(DeploymentState::Failure))
        .count();
    assert_eq!(failures, 1);
    assert!(matches!(&records[4], RecordLine::Start { service, .. } if service == "marketing"));
}

#[tokio::test]
async fn file_recorder_reports_bad_lines_and_paths() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deploys.jsonl");
    std::fs::write(&path, "{\"event\":\"start\"}\n").unwrap();
    let err = FileRecorder::new(&path).records().unwrap_err();
    match err {
        DeployError::RecordFile { reason, .. } => {
            assert!(reason.starts_with("line 1:"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // A directory cannot be appended to.
    let err = FileRecorder::new(dir.path())
        .status(
            &DeploymentId("1".to_owned()),
            &StatusUpdate::new(DeploymentState::Success),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DeployError::RecordFile { .. }));
    // An absent file has no records.
    assert_eq!(
        FileRecorder::new(dir.path().join("none.jsonl")).records(),
        Ok(Vec::new())
    );
}
