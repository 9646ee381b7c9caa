//! Cloudflare Workers Versions & Deployments: the HTTP client against mockito servers that
//! reply with the JSON of Cloudflare's API reference (developers.cloudflare.com/api:
//! "List Versions", "Get Version Detail", "List Deployments", "Create Deployment", the v4
//! envelope with `result_info`, and the "Rate limits" page: 1,200 requests per five minutes,
//! then 429 with `retry-after`), wrangler's rollback rule and code 10220
//! (workers-sdk `packages/wrangler/src/versions/api.ts`, `rollback/index.ts`), and the
//! in-memory simulator.
#![cfg(feature = "http")]

use std::time::Duration;

use mockito::{Matcher, Server, ServerGuard};
use parky_core::{ApiErrorKind, SecretString, ServiceErrorCode};
use parky_deploy::model::{TrafficSplit, VersionId};
use parky_deploy::workers::{
    rollback, rollback_target, DeploymentRequest, Operation, RollbackOptions, VersionBehaviour,
    WorkersApi, WorkersClient, WorkersSimulator, SECRETS_CHANGED_CODE,
};
use parky_deploy::DeployError;
use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;
use serde_json::{json, Value};

// The account id and script name of Cloudflare's examples.
const ACCOUNT: &str = "023e105f4ecef8ad9ca31a8372d0c353";
const SCRIPT: &str = "this-is_my_script-01";
const TOKEN: &str = "Sn3lZJTBX6kkg7OdcBUAxOO963GEIyGQqnFTOFYY";
const AUTH: &str = "Bearer Sn3lZJTBX6kkg7OdcBUAxOO963GEIyGQqnFTOFYY";
const BASE_PATH: &str =
    "/client/v4/accounts/023e105f4ecef8ad9ca31a8372d0c353/workers/scripts/this-is_my_script-01";

const V1: &str = "18f97339-c287-4872-9bdd-e2135c07ec12";
const V2: &str = "182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e";
const V3: &str = "bcf48806-b317-4351-9ee7-36e7d557d4de";

fn client(server: &ServerGuard) -> WorkersClient {
    // unwrap: mockito's URL is an absolute http URL and the token is a valid header value.
    WorkersClient::new(
        &format!("{}/client/v4", server.url()),
        ACCOUNT,
        SecretString::from(TOKEN),
    )
    .unwrap()
}

fn path(rest: &str) -> String {
    format!("{BASE_PATH}{rest}")
}

/// The v4 success envelope.
fn ok(result: Value) -> String {
    json!({"errors": [], "messages": [], "result": result, "success": true}).to_string()
}

/// A version item as "List Versions" documents it (`id`, `metadata`, `number`).
fn version_item(id: &str, number: u64) -> Value {
    json!({
        "id": id,
        "metadata": {
            "author_email": "user@example.com",
            "author_id": "408cbcdfd4dda4617efef40b04d168a1",
            "created_on": "2022-11-08T17:19:29.176266Z",
            "hasPreview": true,
            "modified_on": "2022-11-08T17:19:29.176266Z",
            "source": "api"
        },
        "number": number
    })
}

/// A deployment as "List Deployments" / "Create Deployment" document it.
fn deployment(id: &str, created_on: &str, versions: &[(&str, f64)]) -> Value {
    json!({
        "id": id,
        "created_on": created_on,
        "source": "api",
        "strategy": "percentage",
        "versions": versions
            .iter()
            .map(|(v, p)| json!({"percentage": p, "version_id": v}))
            .collect::<Vec<_>>(),
        "annotations": {"workers/message": "Deploy bug fix.", "workers/triggered_by": "deployment"},
        "author_email": "user@example.com"
    })
}

#[tokio::test]
async fn list_versions_follows_result_info_over_pages() {
    let mut server = Server::new_async().await;
    let page1 = server
        .mock("GET", path("/versions").as_str())
        .match_query(Matcher::Exact("deployable=true&page=1&per_page=2".into()))
        .match_header("authorization", AUTH)
        .match_header("content-type", Matcher::Missing)
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_body(
            json!({
                "errors": [], "messages": [], "success": true,
                "result": {"items": [version_item(V3, 3), version_item(V2, 2)]},
                "result_info": {"count": 2, "page": 1, "per_page": 2, "total_count": 3}
            })
            .to_string(),
        )
        .expect(1)
        .create_async()
        .await;
    let page2 = server
        .mock("GET", path("/versions").as_str())
        .match_query(Matcher::Exact("deployable=true&page=2&per_page=2".into()))
        .match_header("authorization", AUTH)
        .with_status(200)
        .with_body(
            json!({
                "errors": [], "messages": [], "success": true,
                "result": {"items": [version_item(V1, 1)]},
                "result_info": {"count": 1, "page": 2, "per_page": 2, "total_count": 3}
            })
            .to_string(),
        )
        .expect(1)
        .create_async()
        .await;
    let versions = client(&server)
        .with_per_page(2)
        .list_versions(SCRIPT)
        .await
        .unwrap();
    page1.assert_async().await;
    page2.assert_async().await;
    let ids: Vec<&str> = versions.iter().map(|v| v.id.0.as_str()).collect();
    assert_eq!(ids, [V3, V2, V1]);
    assert_eq!(versions[2].number, Some(1));
    assert_eq!(
        versions[0].author_email.as_deref(),
        Some("user@example.com")
    );
    assert_eq!(versions[0].source.as_deref(), Some("api"));
    assert_eq!(
        versions[0].created_on.unwrap().to_rfc3339(),
        "2022-11-08T17:19:29.176266+00:00"
    );
}

#[tokio::test]
async fn list_versions_stops_when_deployable_ignores_pagination() {
    // "deployable: Only return versions that can be used in a deployment. Ignores
    // pagination." One page holds everything; total_count says so.
    let mut server = Server::new_async().await;
    let mock = server
        .mock("GET", path("/versions").as_str())
        .match_query(Matcher::Exact("deployable=true&page=1".into()))
        .match_header("authorization", AUTH)
        .with_status(200)
        .with_body(
            json!({
                "errors": [], "messages": [], "success": true,
                "result": {"items": [version_item(V2, 2), version_item(V1, 1)]},
                "result_info": {"count": 2, "page": 1, "per_page": 20, "total_count": 2}
            })
            .to_string(),
        )
        .expect(1)
        .create_async()
        .await;
    let versions = client(&server).list_versions(SCRIPT).await.unwrap();
    mock.assert_async().await;
    assert_eq!(versions.len(), 2);
}

#[tokio::test]
async fn list_versions_refuses_a_server_that_repeats_pages() {
    let mut server = Server::new_async().await;
    let _mock = server
        .mock("GET", path("/versions").as_str())
        .match_query(Matcher::Any)
        .with_status(200)
        .with_body(
            json!({
                "errors": [], "messages": [], "success": true,
                "result": {"items": [version_item(V1, 1)]},
                "result_info": {"count": 1, "page": 1, "per_page": 1, "total_count": 5}
            })
            .to_string(),
        )
        .expect(2)
        .create_async()
        .await;
    let err = client(&server).list_versions(SCRIPT).await.unwrap_err();
    assert!(
        matches!(&err, DeployError::WorkersMalformedReply { operation, .. } if operation == "list deployable versions of this-is_my_script-01"),
        "{err:?}"
    );
}

#[tokio::test]
async fn get_version_parses_the_documented_detail() {
    let mut server = Server::new_async().await;
    // The example reply of "Get Version Detail".
    let body = json!({
        "errors": [],
        "messages": [],
        "result": {
            "resources": {
                "bindings": [{"name": "MY_ENV_VAR", "text": "my_data", "type": "plain_text"}],
                "script": {
                    "etag": "13a3240e8fb414561b0366813b0b8f42b3e6cfa0d9e70e99835dae83d0d8a794",
                    "handlers": ["fetch"],
                    "last_deployed_from": "api",
                    "named_handlers": [{"handlers": ["fetch"], "name": "MyClass"}]
                },
                "script_runtime": {
                    "compatibility_date": "2022-11-08",
                    "compatibility_flags": ["x"],
                    "limits": {"cpu_ms": 50},
                    "migration_tag": "v1",
                    "usage_model": "standard"
                }
            },
            "id": V1,
            "metadata": {
                "author_email": "user@example.com",
                "author_id": "408cbcdfd4dda4617efef40b04d168a1",
                "created_on": "2022-11-08T17:19:29.176266Z",
                "hasPreview": true,
                "modified_on": "2022-11-08T17:19:29.176266Z",
                "source": "api"
            },
            "number": 1
        },
        "success": true
    });
    let mock = server
        .mock("GET", path(&format!("/versions/{V1}")).as_str())
        .match_query(Matcher::Missing)
        .match_header("authorization", AUTH)
        .with_status(200)
        .with_body(body.to_string())
        .expect(1)
        .create_async()
        .await;
    let version = client(&server)
        .get_version(SCRIPT, &VersionId::from(V1))
        .await
        .unwrap();
    mock.assert_async().await;
    assert_eq!(version.id, VersionId::from(V1));
    assert_eq!(version.number, Some(1));
    assert_eq!(version.message, None);
}

#[tokio::test]
async fn list_deployments_and_current_split() {
    let mut server = Server::new_async().await;
    // Newest first, as documented: a 10 % canary of V2 over V1, after V1 alone.
    let body = ok(json!({"deployments": [
        deployment("d0000000-0000-4000-8000-000000000002", "2024-05-01T12:10:00.000000Z", &[(V1, 90.0), (V2, 10.0)]),
        deployment("d0000000-0000-4000-8000-000000000001", "2024-05-01T12:00:00.000000Z", &[(V1, 100.0)]),
    ]}));
    let mock = server
        .mock("GET", path("/deployments").as_str())
        .match_query(Matcher::Missing)
        .match_header("authorization", AUTH)
        .match_header("content-type", Matcher::Missing)
        .with_status(200)
        .with_body(body)
        .expect(2)
        .create_async()
        .await;
    let api = client(&server);
    let deployments = api.list_deployments(SCRIPT).await.unwrap();
    assert_eq!(deployments.len(), 2);
    assert_eq!(deployments[0].strategy, "percentage");
    assert_eq!(deployments[0].message.as_deref(), Some("Deploy bug fix."));
    assert_eq!(deployments[0].triggered_by.as_deref(), Some("deployment"));
    assert_eq!(deployments[0].versions[1].percentage, 10.0);
    let split = api.current_split(SCRIPT).await.unwrap();
    mock.assert_async().await;
    assert_eq!(
        split,
        TrafficSplit {
            stable: VersionId::from(V1),
            canary: Some((VersionId::from(V2), 10)),
        }
    );
}

#[tokio::test]
async fn create_deployment_sends_the_documented_body() {
    let mut server = Server::new_async().await;
    let mock = server
        .mock("POST", path("/deployments").as_str())
        .match_query(Matcher::Missing)
        .match_header("authorization", AUTH)
        .match_header("content-type", "application/json")
        .match_body(Matcher::Json(json!({
            "strategy": "percentage",
            "versions": [
                {"version_id": V1, "percentage": 90},
                {"version_id": V2, "percentage": 10}
            ],
            "annotations": {"workers/message": "canary step 1: 10%"}
        })))
        .with_status(200)
        .with_body(ok(deployment(
            "d0000000-0000-4000-8000-000000000003",
            "2024-05-01T12:20:00.000000Z",
            &[(V1, 90.0), (V2, 10.0)],
        )))
        .expect(1)
        .create_async()
        .await;
    let request = DeploymentRequest::split(VersionId::from(V1), VersionId::from(V2), 10)
        .with_message("canary step 1: 10%");
    let created = client(&server)
        .create_deployment(SCRIPT, &request)
        .await
        .unwrap();
    mock.assert_async().await;
    assert_eq!(created.id, "d0000000-0000-4000-8000-000000000003");
    assert_eq!(created.versions.len(), 2);
}

#[tokio::test]
async fn invalid_percentages_are_refused_before_any_request() {
    let mut server = Server::new_async().await;
    let no_get = server
        .mock("GET", Matcher::Any)
        .expect(0)
        .create_async()
        .await;
    let no_post = server
        .mock("POST", Matcher::Any)
        .expect(0)
        .create_async()
        .await;
    let api = client(&server);
    let requests = [
        // 90 + 20 = 110.
        DeploymentRequest {
            versions: vec![(VersionId::from(V1), 90), (VersionId::from(V2), 20)],
            message: None,
            force: false,
        },
        // A single version at 50 %.
        DeploymentRequest {
            versions: vec![(VersionId::from(V1), 50)],
            message: None,
            force: false,
        },
        // Three versions.
        DeploymentRequest {
            versions: vec![
                (VersionId::from(V1), 50),
                (VersionId::from(V2), 25),
                (VersionId::from(V3), 25),
            ],
            message: None,
            force: false,
        },
        DeploymentRequest::split(VersionId::from(V1), VersionId::from(V2), 100),
    ];
    for request in &requests {
        let err = api.create_deployment(SCRIPT, request).await.unwrap_err();
        assert!(
            matches!(err, DeployError::InvalidDeployment { .. }),
            "{request:?}: {err:?}"
        );
        assert!(!err.is_retryable());
    }
    no_get.assert_async().await;
    no_post.assert_async().await;
}

#[tokio::test]
async fn rate_limit_429_is_retryable_with_retry_after() {
    let mut server = Server::new_async().await;
    // Cloudflare documents the 429 status and `retry-after` (seconds, rounded up); the body
    // is the v4 failure envelope (the code here is illustrative).
    let _mock = server
        .mock("GET", path("/deployments").as_str())
        .with_status(429)
        .with_header("retry-after", "30")
        .with_header("ratelimit", "\"default\";r=0;t=30")
        .with_body(
            json!({
                "success": false,
                "errors": [{"code": 10000, "message": "Rate limited. Please wait and consider throttling your request speed"}],
                "messages": [],
                "result": null
            })
            .to_string(),
        )
        .create_async()
        .await;
    let err = client(&server).list_deployments(SCRIPT).await.unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
    let DeployError::WorkersApi { operation, source } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(operation, "list deployments of this-is_my_script-01");
    assert_eq!(source.http_status(), Some(429));
    assert_eq!(source.code(), Some(&ServiceErrorCode::Numeric(10000)));
}

#[tokio::test]
async fn server_errors_are_retryable() {
    let mut server = Server::new_async().await;
    let _html = server
        .mock("GET", path("/deployments").as_str())
        .with_status(502)
        .with_header("content-type", "text/html")
        .with_body("<html><body>502 Bad Gateway</body></html>")
        .create_async()
        .await;
    let _enveloped = server
        .mock("POST", path("/deployments").as_str())
        .with_status(500)
        .with_body(
            json!({"success": false, "errors": [{"code": 10013, "message": "An unknown error has occurred"}], "messages": [], "result": null})
                .to_string(),
        )
        .create_async()
        .await;
    let api = client(&server);
    let err = api.list_deployments(SCRIPT).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(err.retry_after(), None);
    let DeployError::WorkersApi { source, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(source.http_status(), Some(502));
    assert!(source.message().contains("502 Bad Gateway"));
    let err = api
        .create_deployment(SCRIPT, &DeploymentRequest::all_on(VersionId::from(V1)))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    let DeployError::WorkersApi { source, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(source.code(), Some(&ServiceErrorCode::Numeric(10013)));
}

#[tokio::test]
async fn failure_envelope_carries_the_cloudflare_code() {
    let mut server = Server::new_async().await;
    // The documented failure example of the v4 API: `{"code": 7003, "message": "No route
    // for the URI"}`.
    let _mock = server
        .mock("GET", path(&format!("/versions/{V3}")).as_str())
        .with_status(404)
        .with_body(
            json!({"errors": [{"code": 7003, "message": "No route for the URI"}], "messages": [], "result": null, "success": false})
                .to_string(),
        )
        .create_async()
        .await;
    let err = client(&server)
        .get_version(SCRIPT, &VersionId::from(V3))
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    let DeployError::WorkersApi { operation, source } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(operation, &format!("get version {V3} of {SCRIPT}"));
    assert_eq!(source.code(), Some(&ServiceErrorCode::Numeric(7003)));
    assert!(matches!(
        source.kind(),
        ApiErrorKind::Status { status: 404, .. }
    ));
    assert!(err.to_string().contains("No route for the URI"));

    // `success: false` with HTTP 200 is an error too.
    let _ok_status = server
        .mock("GET", path("/deployments").as_str())
        .with_status(200)
        .with_body(
            json!({"errors": [{"code": 10007, "message": "This Worker does not exist on your account."}], "messages": [], "result": null, "success": false})
                .to_string(),
        )
        .create_async()
        .await;
    let err = client(&server).list_deployments(SCRIPT).await.unwrap_err();
    let DeployError::WorkersApi { source, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(source.code(), Some(&ServiceErrorCode::Numeric(10007)));
}

#[tokio::test]
async fn malformed_replies_name_the_operation() {
    let mut server = Server::new_async().await;
    let _not_json = server
        .mock("GET", path("/deployments").as_str())
        .with_status(200)
        .with_body("{\"success\": true, \"result\": {\"deployments\": [")
        .create_async()
        .await;
    let _wrong_shape = server
        .mock("GET", path(&format!("/versions/{V1}")).as_str())
        .with_status(200)
        .with_body(ok(json!({"number": 1})))
        .create_async()
        .await;
    let _bad_date = server
        .mock("POST", path("/deployments").as_str())
        .with_status(200)
        .with_body(ok(deployment("d", "yesterday", &[(V1, 100.0)])))
        .create_async()
        .await;
    let api = client(&server);
    let err = api.list_deployments(SCRIPT).await.unwrap_err();
    assert!(
        matches!(&err, DeployError::WorkersMalformedReply { operation, status: 200, .. } if operation == "list deployments of this-is_my_script-01"),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    let err = api
        .get_version(SCRIPT, &VersionId::from(V1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DeployError::WorkersMalformedReply { operation, .. } if operation.starts_with("get version")),
        "{err:?}"
    );
    let err = api
        .create_deployment(SCRIPT, &DeploymentRequest::all_on(VersionId::from(V1)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DeployError::WorkersMalformedReply { operation, reason, .. } if operation.starts_with("create deployment") && reason.contains("yesterday")),
        "{err:?}"
    );
}

#[tokio::test]
async fn rollback_picks_wranglers_target_and_needs_force_after_a_secret_change() {
    let mut server = Server::new_async().await;
    // Hand-built history, deliberately not in order. Newest (current): V3 canary at 50 %.
    // Before it: a 50/50 split, then V2 alone, then V1 alone. Wrangler's rule skips the
    // current deployment and takes the newest one that ran a single version at 100 %: V2.
    let history = ok(json!({"deployments": [
        deployment("d1", "2024-05-01T10:00:00Z", &[(V1, 100.0)]),
        deployment("d4", "2024-05-01T13:00:00Z", &[(V2, 50.0), (V3, 50.0)]),
        deployment("d2", "2024-05-01T11:00:00Z", &[(V2, 100.0)]),
        deployment("d3", "2024-05-01T12:00:00Z", &[(V2, 70.0), (V1, 30.0)]),
    ]}));
    let list = server
        .mock("GET", path("/deployments").as_str())
        .match_header("authorization", AUTH)
        .with_status(200)
        .with_body(history)
        .expect(2)
        .create_async()
        .await;
    let body = json!({
        "strategy": "percentage",
        "versions": [{"version_id": V2, "percentage": 100}],
        "annotations": {"workers/message": "Rollback"}
    });
    // Cloudflare refuses with 10220; the names after "The following secrets have changed:"
    // are what wrangler shows (the exact wording of the rest is not documented).
    let refused = server
        .mock("POST", path("/deployments").as_str())
        .match_query(Matcher::Missing)
        .match_header("authorization", AUTH)
        .match_header("content-type", "application/json")
        .match_body(Matcher::Json(body.clone()))
        .with_status(400)
        .with_body(
            json!({
                "success": false,
                "errors": [{"code": 10220, "message": "A secret has changed since this version was active. The following secrets have changed: API_KEY, DB_PASSWORD"}],
                "messages": [],
                "result": null
            })
            .to_string(),
        )
        .expect(1)
        .create_async()
        .await;
    let forced = server
        .mock("POST", path("/deployments").as_str())
        .match_query(Matcher::Exact("force=true".into()))
        .match_header("authorization", AUTH)
        .match_header("content-type", "application/json")
        .match_body(Matcher::Json(body))
        .with_status(200)
        .with_body(ok(deployment("d5", "2024-05-01T14:00:00Z", &[(V2, 100.0)])))
        .expect(1)
        .create_async()
        .await;
    let api = client(&server);
    let err = rollback(&api, SCRIPT, &RollbackOptions::default())
        .await
        .unwrap_err();
    let DeployError::WorkersSecretsChanged {
        secrets, source, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(secrets, &["API_KEY".to_owned(), "DB_PASSWORD".to_owned()]);
    assert_eq!(
        source.code(),
        Some(&ServiceErrorCode::Numeric(SECRETS_CHANGED_CODE))
    );
    assert!(!err.is_retryable());
    let options = RollbackOptions {
        force: true,
        ..RollbackOptions::default()
    };
    let outcome = rollback(&api, SCRIPT, &options).await.unwrap();
    list.assert_async().await;
    refused.assert_async().await;
    forced.assert_async().await;
    assert_eq!(outcome.version, VersionId::from(V2));
    assert_eq!(outcome.from_deployment.as_deref(), Some("d2"));
    assert_eq!(outcome.deployment.id, "d5");
}

#[tokio::test]
async fn the_token_never_shows() {
    let mut server = Server::new_async().await;
    // A reply that echoes the token back must not put it into our error.
    let _mock = server
        .mock("GET", path("/deployments").as_str())
        .with_status(401)
        .with_body(
            json!({"success": false, "errors": [{"code": 10000, "message": format!("Authentication error for token {TOKEN}")}], "messages": [], "result": null})
                .to_string(),
        )
        .create_async()
        .await;
    let api = client(&server);
    assert!(!format!("{api:?}").contains(TOKEN));
    assert!(format!("{api:?}").contains("[REDACTED]"));
    let err = api.list_deployments(SCRIPT).await.unwrap_err();
    assert!(!err.to_string().contains(TOKEN), "{err}");
    assert!(!format!("{err:?}").contains(TOKEN), "{err:?}");
    assert!(err.to_string().contains("[REDACTED]"), "{err}");

    // Nor does a network failure.
    let closed = WorkersClient::new(
        "http://127.0.0.1:1/client/v4",
        ACCOUNT,
        SecretString::from(TOKEN),
    )
    .unwrap();
    let err = closed.list_deployments(SCRIPT).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(!format!("{err:?}").contains(TOKEN));

    // Invalid configuration names the field.
    for (base, account, token, field) in [
        ("not a url", ACCOUNT, TOKEN, "base_url"),
        ("http://x", "", TOKEN, "account_id"),
        ("http://x", ACCOUNT, "", "token"),
        ("http://x", ACCOUNT, "a\nb", "token"),
    ] {
        let err = WorkersClient::new(base, account, SecretString::from(token)).unwrap_err();
        assert!(
            matches!(&err, DeployError::InvalidConfig { field: f, .. } if f == field),
            "{err:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The simulator.

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn simulator_with_canary(canary_error_rate: f64) -> WorkersSimulator {
    let sim = WorkersSimulator::new();
    sim.upload_version(
        "api",
        VersionId::from("stable"),
        VersionBehaviour::new(0.001, ms(120)).unwrap(),
    );
    sim.upload_version(
        "api",
        VersionId::from("canary"),
        VersionBehaviour::new(canary_error_rate, ms(300)).unwrap(),
    );
    sim
}

#[tokio::test]
async fn simulator_routes_the_split_and_samples_error_rates() {
    let sim = simulator_with_canary(0.05);
    sim.create_deployment("api", &DeploymentRequest::all_on("stable".into()))
        .await
        .unwrap();
    sim.create_deployment(
        "api",
        &DeploymentRequest::split("stable".into(), "canary".into(), 10),
    )
    .await
    .unwrap();
    assert_eq!(
        sim.current_split("api").await.unwrap(),
        TrafficSplit {
            stable: "stable".into(),
            canary: Some(("canary".into(), 10)),
        }
    );
    let window = sim
        .simulate_window("api", 10_000, &mut Xoshiro256PlusPlus::seed_from_u64(7))
        .unwrap();
    let canary = window.canary.clone().unwrap();
    // By hand: canary requests ~ Binomial(10 000, 0.1): mean 1 000, sd = √(10 000·0.1·0.9)
    // = 30, so ±5 sd is 850–1 150. Canary errors ~ Binomial(≈1 000, 0.05): mean 50,
    // sd ≈ √(1 000·0.05·0.95) ≈ 6.9, ±5 sd ≈ 15–85. Stable errors ~ Binomial(≈9 000,
    // 0.001): mean 9, sd 3, so at most 9 + 5·3 = 24.
    assert_eq!(
        window.stable.sample.requests + canary.sample.requests,
        10_000
    );
    assert!(
        (850..=1_150).contains(&canary.sample.requests),
        "{canary:?}"
    );
    assert!((15..=85).contains(&canary.sample.errors), "{canary:?}");
    assert!(window.stable.sample.errors <= 24, "{window:?}");
    assert_eq!(canary.sample.p99_seconds, Some(0.3));
    assert_eq!(window.stable.sample.p99_seconds, Some(0.12));
    // The same seed gives the same window.
    let again = sim
        .simulate_window("api", 10_000, &mut Xoshiro256PlusPlus::seed_from_u64(7))
        .unwrap();
    assert_eq!(window, again);

    // All traffic on one version: no canary, every request on stable.
    sim.create_deployment("api", &DeploymentRequest::all_on("stable".into()))
        .await
        .unwrap();
    let window = sim
        .simulate_window("api", 500, &mut Xoshiro256PlusPlus::seed_from_u64(1))
        .unwrap();
    assert_eq!(window.stable.sample.requests, 500);
    assert!(window.canary.is_none());
    // Zero requests: no p99.
    let empty = sim
        .simulate_window("api", 0, &mut Xoshiro256PlusPlus::seed_from_u64(1))
        .unwrap();
    assert_eq!(empty.stable.sample.p99_seconds, None);
    assert!(sim
        .simulate_window("api", u64::MAX, &mut Xoshiro256PlusPlus::seed_from_u64(1))
        .is_err());
    assert!(matches!(
        sim.simulate_window("nope", 1, &mut Xoshiro256PlusPlus::seed_from_u64(1)),
        Err(DeployError::NoDeployment { .. })
    ));
}

#[tokio::test]
async fn simulator_error_rates_at_the_extremes_are_exact() {
    let sim = simulator_with_canary(1.0);
    sim.create_deployment(
        "api",
        &DeploymentRequest::split("stable".into(), "canary".into(), 50),
    )
    .await
    .unwrap();
    sim.set_behaviour("api", &"stable".into(), VersionBehaviour::healthy(ms(80)))
        .unwrap();
    let window = sim
        .simulate_window("api", 2_000, &mut Xoshiro256PlusPlus::seed_from_u64(42))
        .unwrap();
    let canary = window.canary.unwrap();
    // Error rate 1: every canary request fails; error rate 0: none of stable's do.
    assert_eq!(canary.sample.errors, canary.sample.requests);
    assert_eq!(window.stable.sample.errors, 0);
    assert!(VersionBehaviour::new(1.5, ms(1)).is_err());
    assert!(VersionBehaviour::new(f64::NAN, ms(1)).is_err());
}

#[tokio::test]
async fn simulator_scripted_failures_and_rollback() {
    let sim = simulator_with_canary(0.2);
    sim.create_deployment("api", &DeploymentRequest::all_on("stable".into()))
        .await
        .unwrap();
    sim.create_deployment(
        "api",
        &DeploymentRequest::split("stable".into(), "canary".into(), 25),
    )
    .await
    .unwrap();
    // The controller crashes mid-rollback: the next create fails with a 503.
    sim.fail_next(
        Operation::CreateDeployment,
        WorkersSimulator::http_failure(
            Operation::CreateDeployment,
            503,
            "Service Unavailable",
            Some(Duration::from_secs(5)),
        ),
    );
    let err = rollback(&sim, "api", &RollbackOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(5)));
    assert_eq!(sim.history("api").len(), 2, "nothing was deployed");
    // Retrying goes through, to the last version that ran alone at 100 %.
    let outcome = rollback(&sim, "api", &RollbackOptions::default())
        .await
        .unwrap();
    assert_eq!(outcome.version, VersionId::from("stable"));
    assert_eq!(outcome.deployment.message.as_deref(), Some("Rollback"));
    assert_eq!(
        sim.split("api").unwrap(),
        TrafficSplit::all_on("stable".into())
    );
    assert_eq!(
        sim.calls(),
        [
            Operation::CreateDeployment,
            Operation::CreateDeployment,
            Operation::ListDeployments,
            Operation::CreateDeployment,
            Operation::ListDeployments,
            Operation::CreateDeployment,
        ]
    );
    // The same rule as over HTTP: the pure function agrees with the history.
    let history = sim.history("api");
    assert_eq!(
        rollback_target(&history[..3]).map(|(_, v)| v.clone()),
        Some(VersionId::from("stable"))
    );
    // Validation happens before the (scripted) API is involved.
    let invalid = DeploymentRequest {
        versions: vec![("stable".into(), 60), ("canary".into(), 60)],
        message: None,
        force: false,
    };
    assert!(matches!(
        sim.create_deployment("api", &invalid).await,
        Err(DeployError::InvalidDeployment { .. })
    ));
}

#[tokio::test]
async fn simulator_needs_force_after_a_secret_change() {
    let sim = simulator_with_canary(0.0);
    sim.create_deployment("api", &DeploymentRequest::all_on("stable".into()))
        .await
        .unwrap();
    sim.create_deployment("api", &DeploymentRequest::all_on("canary".into()))
        .await
        .unwrap();
    sim.change_secret("api", "API_KEY");
    sim.upload_version("api", "patched".into(), VersionBehaviour::healthy(ms(100)));
    // A version uploaded after the change deploys without force.
    sim.create_deployment("api", &DeploymentRequest::all_on("patched".into()))
        .await
        .unwrap();
    // Rolling back to "canary" (uploaded before the change, not running) needs force.
    let err = rollback(&sim, "api", &RollbackOptions::default())
        .await
        .unwrap_err();
    let DeployError::WorkersSecretsChanged { secrets, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(secrets, &["API_KEY".to_owned()]);
    let forced = rollback(
        &sim,
        "api",
        &RollbackOptions {
            version: Some("stable".into()),
            message: Some("back to stable".into()),
            force: true,
        },
    )
    .await
    .unwrap();
    assert_eq!(forced.from_deployment, None);
    assert_eq!(
        sim.split("api").unwrap(),
        TrafficSplit::all_on("stable".into())
    );
    // Versions are listed newest first.
    let ids: Vec<String> = sim
        .list_versions("api")
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.id.0)
        .collect();
    assert_eq!(ids, ["patched", "canary", "stable"]);
}

#[tokio::test]
async fn a_rebuilt_simulator_continues_the_deployment_ids_it_is_given() {
    // Deployment ids are `00000000-0000-4000-8000-` + the deployment's number in 12 hex
    // digits; a simulator told that 9 deployments were already made numbers the next 10 (a)
    // and 11 (b).
    let sim = simulator_with_canary(0.0).with_deployments_created(9);
    let first = sim
        .create_deployment("api", &DeploymentRequest::all_on("stable".into()))
        .await
        .unwrap();
    let second = sim
        .create_deployment("api", &DeploymentRequest::all_on("canary".into()))
        .await
        .unwrap();
    assert_eq!(first.id, "00000000-0000-4000-8000-00000000000a");
    assert_eq!(second.id, "00000000-0000-4000-8000-00000000000b");
    // A new simulator starts at 1.
    let fresh = simulator_with_canary(0.0);
    let one = fresh
        .create_deployment("api", &DeploymentRequest::all_on("stable".into()))
        .await
        .unwrap();
    assert_eq!(one.id, "00000000-0000-4000-8000-000000000001");
}
