//! `WorkersAnalytics` (the canary controller's metrics from Cloudflare's GraphQL Analytics
//! API) against mockito: the documented reply shape, a GraphQL `errors` reply, and a 429.
//!
//! The reply shape follows Cloudflare's tutorial "Querying Workers Metrics with GraphQL"
//! (<https://developers.cloudflare.com/analytics/graphql-api/tutorials/querying-workers-metrics>):
//! `data.viewer.accounts[0].workersInvocationsAdaptive[]`, each row with `sum { requests
//! errors }`, `quantiles { cpuTimeP99 }` and its `dimensions`.

#![cfg(all(feature = "sqlite", feature = "http"))]

use std::time::Duration;

use chrono::{TimeZone, Utc};
use mockito::Matcher;
use parky_core::SecretString;
use parky_deploy::controller::{CanaryMetrics, WorkersAnalytics, CANARY_WINDOW_QUERY};
use parky_deploy::model::{TrafficSplit, VersionId};
use parky_deploy::policy::judge::TrafficSample;
use parky_deploy::DeployError;
use serde_json::json;

const TOKEN: &str = "analytics-token-do-not-print";
const ACCOUNT: &str = "023e105f4ecef8ad9ca31a8372d0c353";

fn analytics(server: &mockito::Server) -> WorkersAnalytics {
    WorkersAnalytics::new(
        &format!("{}/client/v4/graphql", server.url()),
        ACCOUNT,
        SecretString::from(TOKEN),
    )
    .unwrap()
}

fn split() -> TrafficSplit {
    TrafficSplit {
        stable: VersionId::from("v1-uuid"),
        canary: Some((VersionId::from("v2-uuid"), 10)),
    }
}

fn expected_body() -> serde_json::Value {
    json!({
        "query": CANARY_WINDOW_QUERY,
        "variables": {
            "accountTag": ACCOUNT,
            "scriptName": "shop",
            "datetimeStart": "2025-03-01T12:00:00Z",
            "datetimeEnd": "2025-03-01T12:05:00Z",
        }
    })
}

async fn window(
    analytics: &WorkersAnalytics,
) -> Result<parky_deploy::controller::WindowTraffic, DeployError> {
    let from = Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap();
    let to = Utc.with_ymd_and_hms(2025, 3, 1, 12, 5, 0).unwrap();
    analytics.window("shop", &split(), from, to).await
}

#[tokio::test]
async fn the_documented_reply_becomes_canary_and_baseline_samples() {
    let mut server = mockito::Server::new_async().await;
    let reply = json!({
        "data": {"viewer": {"accounts": [{"workersInvocationsAdaptive": [
            {"sum": {"requests": 198000, "errors": 10}, "quantiles": {"cpuTimeP99": 3000.0},
             "dimensions": {"scriptVersion": "v1-uuid"}},
            {"sum": {"requests": 2000, "errors": 100}, "quantiles": {"cpuTimeP99": 4500.0},
             "dimensions": {"scriptVersion": "v2-uuid"}},
            {"sum": {"requests": 500, "errors": 5}, "quantiles": {"cpuTimeP99": 5200.0},
             "dimensions": {"scriptVersion": "v2-uuid"}},
            {"sum": {"requests": 7, "errors": 7}, "quantiles": {"cpuTimeP99": 99999.0},
             "dimensions": {"scriptVersion": "v0-old"}}
        ]}]}},
        "errors": null
    });
    let mock = server
        .mock("POST", "/client/v4/graphql")
        .match_header("authorization", format!("Bearer {TOKEN}").as_str())
        .match_header("content-type", "application/json")
        .match_header("accept", "application/json")
        .match_body(Matcher::Json(expected_body()))
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_body(reply.to_string())
        .expect(1)
        .create_async()
        .await;
    let traffic = window(&analytics(&server)).await.unwrap();
    // Canary: the two v2 rows summed, 2000 + 500 = 2500 requests and 100 + 5 = 105 errors;
    // p99 the larger row's, 5200 µs = 0.0052 s. Baseline: the v1 row, 3000 µs = 0.003 s.
    // The v0 row is neither version of the split and is ignored.
    assert_eq!(
        traffic.canary,
        TrafficSample {
            requests: 2500,
            errors: 105,
            p99_seconds: Some(0.0052),
        }
    );
    assert_eq!(
        traffic.baseline,
        TrafficSample {
            requests: 198_000,
            errors: 10,
            p99_seconds: Some(0.003),
        }
    );
    mock.assert_async().await;
}

#[tokio::test]
async fn graphql_errors_are_reported_with_their_messages() {
    let mut server = mockito::Server::new_async().await;
    // GraphQL reports query errors with HTTP 200, `data: null` and an `errors` array.
    let reply = json!({
        "data": null,
        "errors": [{
            "message": "cannot request data older than 2678400s",
            "path": ["viewer", "accounts", 0, "workersInvocationsAdaptive"],
            "extensions": {"code": "bad_input", "timestamp": "2025-03-01T12:05:01Z"}
        }]
    });
    server
        .mock("POST", "/client/v4/graphql")
        .with_status(200)
        .with_body(reply.to_string())
        .create_async()
        .await;
    let error = window(&analytics(&server)).await.unwrap_err();
    assert_eq!(
        error,
        DeployError::AnalyticsQuery {
            operation: "query Workers analytics of shop".to_owned(),
            messages: vec![
                "cannot request data older than 2678400s (at viewer.accounts.0.workersInvocationsAdaptive)"
                    .to_owned()
            ],
        }
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn a_429_is_retryable_with_its_retry_after_and_the_token_never_shows() {
    let mut server = mockito::Server::new_async().await;
    server
        .mock("POST", "/client/v4/graphql")
        .with_status(429)
        .with_header("retry-after", "30")
        .with_body(r#"{"data":null,"errors":[{"message":"rate limited"}]}"#)
        .create_async()
        .await;
    let analytics = analytics(&server);
    let error = window(&analytics).await.unwrap_err();
    assert!(matches!(error, DeployError::WorkersApi { .. }), "{error:?}");
    assert!(error.is_retryable());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
    assert!(error.to_string().contains("rate limited"), "{error}");
    for text in [
        error.to_string(),
        format!("{error:?}"),
        format!("{analytics:?}"),
    ] {
        assert!(!text.contains(TOKEN), "{text}");
    }
    assert!(format!("{analytics:?}").contains("REDACTED"));
}

#[tokio::test]
async fn a_reply_without_the_documented_shape_is_malformed() {
    let mut server = mockito::Server::new_async().await;
    server
        .mock("POST", "/client/v4/graphql")
        .with_status(200)
        .with_body(r#"{"data":{"viewer":{"accounts":[]}}}"#)
        .create_async()
        .await;
    match window(&analytics(&server)).await.unwrap_err() {
        DeployError::WorkersMalformedReply { status, reason, .. } => {
            assert_eq!(status, 200);
            assert!(reason.contains("has 0 entries"), "{reason}");
        }
        other => panic!("expected a malformed reply, got {other:?}"),
    }
}
