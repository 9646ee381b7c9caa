//! Sentry alert rules as code: the HTTP client against mockito servers that reply with the
//! JSON of Sentry's API documentation (the examples of docs.sentry.io "List a Project's
//! Issue Alert Rules", "Create an Issue Alert Rule for a Project", "Update an Issue Alert
//! Rule", "List an Organization's Metric Alert Rules", "Create a Metric Alert Rule for an
//! Organization", "Update a Metric Alert Rule"; pagination from "Paginating Results"; rate
//! limits from "Rate Limits"), and the planner's idempotency against the in-memory API.
#![cfg(all(feature = "sentry", feature = "http"))]

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use mockito::{Matcher, Server};
use parky_core::{ManualClock, SecretString};
use parky_notify::sentry::{
    apply, plan, plan_sync, ApplyOptions, Change, InMemorySentry, RuleKind, RuleSet, SentryApi,
    SentryClient,
};
use parky_notify::NotifyError;
use serde_json::{json, Value};

const TOKEN: &str = "sntrys_eyJpYXQiOjE3MDAwMDAwMDB9_s3cr3tT0ken";
const AUTH: &str = "Bearer sntrys_eyJpYXQiOjE3MDAwMDAwMDB9_s3cr3tT0ken";
const HANDBOOK: &str = include_str!("../examples/sentry-rules.yaml");

fn client(server: &Server) -> SentryClient {
    SentryClient::new(&server.url(), SecretString::from(TOKEN)).unwrap()
}

/// The documented reply of "List a Project's Issue Alert Rules".
fn documented_issue_list() -> Value {
    json!([{
        "id": "3",
        "conditions": [{"interval": "1h", "id": "sentry.rules.conditions.event_frequency.EventFrequencyCondition", "value": 1000}],
        "filters": [
            {"value": "1", "id": "sentry.rules.filters.issue_category.IssueCategoryFilter"},
            {"value": "2", "id": "sentry.rules.filters.issue_category.IssueCategoryFilter"}
        ],
        "actions": [{"targetType": "Team", "fallthroughType": "ActiveMembers", "id": "sentry.mail.actions.NotifyEmailAction", "targetIdentifier": 4367234414355u64}],
        "actionMatch": "any",
        "filterMatch": "any",
        "frequency": 60,
        "name": "High Number of Issues with Production",
        "dateCreated": "2023-01-15T06:45:34.353346Z",
        "owner": "team:63562",
        "createdBy": {"id": 2435786, "name": "John Doe", "email": "john.doe@example.com"},
        "environment": "prod",
        "projects": ["melody"],
        "status": "active",
        "lastTriggered": "2023-07-15T00:00:00.351236Z",
        "snooze": false
    }])
}

/// The documented reply of "Retrieve / Update an Issue Alert Rule".
fn documented_issue_rule_7() -> Value {
    json!({
        "id": "7",
        "conditions": [{"id": "sentry.rules.conditions.regression_event.RegressionEventCondition"}],
        "filters": [
            {"id": "sentry.rules.filters.age_comparison.AgeComparisonFilter", "comparison_type": "older", "value": 4, "time": "week"},
            {"id": "sentry.rules.filters.issue_occurrences.IssueOccurrencesFilter", "value": 1000},
            {"id": "sentry.rules.filters.level.LevelFilter", "match": "gte", "level": "40"}
        ],
        "actions": [{"id": "sentry.integrations.slack.notify_action.SlackNotifyServiceAction", "workspace": 976462356, "channel": "#fatal", "tags": "browser,release"}],
        "actionMatch": "all",
        "filterMatch": "all",
        "frequency": 60,
        "name": "Many Old Regressions!",
        "dateCreated": "2023-02-17T18:31:14.246012Z",
        "owner": "user:635623",
        "createdBy": {"id": 635623, "name": "John Doe", "email": "john.doe@email.com"},
        "environment": null,
        "projects": ["javascript"],
        "status": "active",
        "snooze": false
    })
}

/// The documented reply of "Create a Metric Alert Rule for an Organization" (201).
fn documented_metric_created() -> Value {
    json!({
        "id": "177104",
        "name": "Apdex % Check",
        "organizationId": "4505676595200000",
        "queryType": 2,
        "dataset": "metrics",
        "query": "",
        "aggregate": "percentage(sessions_crashed, sessions) AS _crash_rate_alert_aggregate",
        "thresholdType": 0,
        "resolveThreshold": 80.0,
        "timeWindow": 120,
        "environment": null,
        "triggers": [
            {"id": "293990", "alertRuleId": "177104", "label": "critical", "thresholdType": 0, "alertThreshold": 75, "resolveThreshold": 80.0, "dateCreated": "2023-09-25T22:01:28.673305Z",
             "actions": [{"id": "281887", "alertRuleTriggerId": "293990", "type": "email", "targetType": "team", "targetIdentifier": "2378589792734981", "inputChannelId": null, "integrationId": null, "sentryAppId": null, "dateCreated": "2023-09-25T22:01:28.680793Z"}]},
            {"id": "492849", "alertRuleId": "482923", "label": "warning", "thresholdType": 1, "alertThreshold": 50, "resolveThreshold": 80, "dateCreated": "2023-09-25T22:01:28.673305Z", "actions": []}
        ],
        "projects": ["our-project"],
        "owner": "team:4505676595200000",
        "originalAlertRuleId": null,
        "comparisonDelta": 10080,
        "dateModified": "2023-09-25T22:01:28.637506Z",
        "dateCreated": "2023-09-25T22:01:28.637514Z",
        "createdBy": {"id": 2837708, "name": "Jane Doe", "email": "jane.doe@sentry.io"},
        "monitorType": 0,
        "activations": []
    })
}

/// The documented reply of "List an Organization's Metric Alert Rules".
fn documented_metric_list() -> Value {
    json!([{
        "id": "7",
        "name": "Counting Bad Request and Unauthorized Errors in Prod",
        "organizationId": "237655244234",
        "queryType": 0,
        "dataset": "events",
        "query": "tags[http.status_code]:[400, 401]",
        "aggregate": "count()",
        "thresholdType": 0,
        "resolveThreshold": null,
        "timeWindow": 1440,
        "environment": "prod",
        "triggers": [{"id": "394289", "alertRuleId": "17723", "label": "critical", "thresholdType": 0, "alertThreshold": 100, "resolveThreshold": null, "dateCreated": "2023-09-25T22:15:26.375126Z",
            "actions": [{"id": "394280", "alertRuleTriggerId": "92481", "type": "slack", "targetType": "specific", "targetIdentifier": "30489048931789", "inputChannelId": "#my-channel", "integrationId": "8753467", "sentryAppId": null, "dateCreated": "2023-09-25T22:15:26.375126Z"}]}],
        "projects": ["super-cool-project"],
        "owner": "user:53256",
        "originalAlertRuleId": null,
        "comparisonDelta": null,
        "dateModified": "2023-09-25T22:15:26.375126Z",
        "dateCreated": "2023-09-25T22:15:26.375126Z",
        "createdBy": {"id": 983948, "name": "John Doe", "email": "john.doe@sentry.io"},
        "monitorType": 0,
        "activations": []
    }])
}

/// A `Link` header as in "Paginating Results", pointing at `path` on `base`.
fn link(base: &str, path: &str, previous: (&str, bool), next: (&str, bool)) -> String {
    format!(
        r#"<{base}{path}?&cursor={p}>; rel="previous"; results="{pr}"; cursor="{p}", <{base}{path}?&cursor={n}>; rel="next"; results="{nr}"; cursor="{n}""#,
        p = previous.0,
        pr = previous.1,
        n = next.0,
        nr = next.1,
    )
}

fn api_error(err: &NotifyError) -> &parky_core::ApiError {
    match err {
        NotifyError::SentryApi { source, .. } => source,
        other => panic!("expected a Sentry API error, got {other:?}"),
    }
}

#[tokio::test]
async fn lists_issue_rules_across_two_pages_with_the_link_cursor() {
    let mut server = Server::new_async().await;
    let path = "/api/0/projects/parky/api/rules/";
    let first = server
        .mock("GET", path)
        .match_query(Matcher::Missing)
        .match_header("authorization", AUTH)
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_header(
            "link",
            &link(&server.url(), path, ("0:0:1", false), ("0:100:0", true)),
        )
        .with_body(documented_issue_list().to_string())
        .expect(1)
        .create_async()
        .await;
    let second = server
        .mock("GET", path)
        .match_query(Matcher::UrlEncoded("cursor".into(), "0:100:0".into()))
        .match_header("authorization", AUTH)
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_header(
            "link",
            &link(&server.url(), path, ("0:0:1", true), ("0:200:0", false)),
        )
        .with_body(json!([documented_issue_rule_7()]).to_string())
        .expect(1)
        .create_async()
        .await;

    let rules = client(&server)
        .list_issue_rules("parky", "api")
        .await
        .unwrap();
    first.assert_async().await;
    second.assert_async().await;
    let ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["3", "7"]);
    assert_eq!(rules[0].name, "High Number of Issues with Production");
    assert_eq!(rules[1].body["frequency"], json!(60));
}

#[tokio::test]
async fn lists_metric_rules_across_two_pages() {
    let mut server = Server::new_async().await;
    let path = "/api/0/organizations/parky/alert-rules/";
    let first = server
        .mock("GET", path)
        .match_query(Matcher::Missing)
        .match_header("authorization", AUTH)
        .with_status(200)
        .with_header(
            "link",
            &link(&server.url(), path, ("0:0:1", false), ("0:25:0", true)),
        )
        .with_body(documented_metric_list().to_string())
        .create_async()
        .await;
    let second = server
        .mock("GET", path)
        .match_query(Matcher::UrlEncoded("cursor".into(), "0:25:0".into()))
        .match_header("authorization", AUTH)
        .with_status(200)
        .with_header(
            "link",
            &link(&server.url(), path, ("0:0:1", true), ("0:50:0", false)),
        )
        .with_body(json!([documented_metric_created()]).to_string())
        .create_async()
        .await;

    let rules = client(&server).list_metric_rules("parky").await.unwrap();
    first.assert_async().await;
    second.assert_async().await;
    let names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Counting Bad Request and Unauthorized Errors in Prod",
            "Apdex % Check"
        ]
    );
}

fn handbook() -> RuleSet {
    RuleSet::from_yaml(HANDBOOK).unwrap()
}

fn rule_body(rules: &RuleSet, name: &str) -> Value {
    rules
        .rules
        .iter()
        .find(|r| r.name == name)
        .map(|r| r.body.clone())
        .unwrap()
}

#[tokio::test]
async fn creates_an_issue_rule_with_the_documented_body_and_reads_the_201() {
    let mut server = Server::new_async().await;
    let rules = handbook();
    let body = rule_body(&rules, "[parky] 5xx burst");
    // The request body, written out from the "Create an Issue Alert Rule" parameters.
    let expected = json!({
        "name": "[parky] 5xx burst",
        "environment": "production",
        "owner": "team:4509876",
        "actionMatch": "any",
        "filterMatch": "all",
        "frequency": 5,
        "conditions": [{"id": "sentry.rules.conditions.event_frequency.EventFrequencyCondition", "value": 100, "interval": "5m"}],
        "filters": [{"id": "sentry.rules.filters.tagged_event.TaggedEventFilter", "key": "http.status_code", "match": "sw", "value": "5"}],
        "actions": [
            {"id": "sentry.integrations.discord.notify_action.DiscordNotifyServiceAction", "server": 63408298, "channel_id": "1112223334445556601", "tags": "environment,release,url"},
            {"id": "sentry.integrations.pagerduty.notify_action.PagerDutyNotifyServiceAction", "account": 92385907, "service": 9823924, "severity": "critical"}
        ]
    });
    assert_eq!(body, expected);
    let mock = server
        .mock("POST", "/api/0/projects/parky/api/rules/")
        .match_header("authorization", AUTH)
        .match_header("content-type", "application/json")
        .match_body(Matcher::Json(expected))
        .with_status(201)
        .with_header("content-type", "application/json")
        .with_body(
            json!({
                "id": "1",
                "conditions": [{"id": "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"}],
                "filters": [{"targetType": "Unassigned", "id": "sentry.rules.filters.assigned_to.AssignedToFilter", "targetIdentifier": ""}],
                "actions": [{"targetType": "Member", "fallthroughType": "ActiveMembers", "id": "sentry.mail.actions.NotifyEmailAction", "targetIdentifier": 1523125}],
                "actionMatch": "any",
                "filterMatch": "all",
                "frequency": 1440,
                "name": "Owner Alert",
                "dateCreated": "2023-09-08T20:00:07.244602Z",
                "owner": "team:74234",
                "createdBy": {"id": 24601, "name": "Jean Valjean", "email": "jean@example.com"},
                "environment": null,
                "projects": ["python"],
                "status": "active",
                "snooze": false
            })
            .to_string(),
        )
        .create_async()
        .await;

    let created = client(&server)
        .create_issue_rule("parky", "api", &body)
        .await
        .unwrap();
    mock.assert_async().await;
    assert_eq!(created.id, "1");
    assert_eq!(created.name, "Owner Alert");
}

#[tokio::test]
async fn updates_an_issue_rule_with_put_and_reads_the_200() {
    let mut server = Server::new_async().await;
    let body = rule_body(&handbook(), "[parky] Regression");
    let mock = server
        .mock("PUT", "/api/0/projects/parky/api/rules/7/")
        .match_header("authorization", AUTH)
        .match_header("content-type", "application/json")
        .match_body(Matcher::Json(body.clone()))
        .with_status(200)
        .with_body(documented_issue_rule_7().to_string())
        .create_async()
        .await;
    let updated = client(&server)
        .update_issue_rule("parky", "api", "7", &body)
        .await
        .unwrap();
    mock.assert_async().await;
    assert_eq!(updated.id, "7");
}

#[tokio::test]
async fn creates_and_updates_metric_rules() {
    let mut server = Server::new_async().await;
    let rules = handbook();
    let body = rule_body(&rules, "[parky] p95 latency high");
    // Written out from "Create a Metric Alert Rule for an Organization": the P1 critical
    // trigger gets P1's Discord channel, the warning trigger P2's.
    let expected = json!({
        "name": "[parky] p95 latency high",
        "environment": "production",
        "owner": "team:4509876",
        "projects": ["api"],
        "dataset": "generic_metrics",
        "queryType": 1,
        "query": "",
        "aggregate": "p95(transaction.duration)",
        "timeWindow": 15,
        "thresholdType": 0,
        "triggers": [
            {"label": "critical", "alertThreshold": 1500.0, "actions": [
                {"type": "discord", "targetType": "specific", "targetIdentifier": "1112223334445556602", "integrationId": 63408298}
            ]},
            {"label": "warning", "alertThreshold": 1000.0, "actions": [
                {"type": "discord", "targetType": "specific", "targetIdentifier": "1112223334445556603", "integrationId": 63408298}
            ]}
        ]
    });
    assert_eq!(body, expected);
    let create = server
        .mock("POST", "/api/0/organizations/parky/alert-rules/")
        .match_header("authorization", AUTH)
        .match_header("content-type", "application/json")
        .match_body(Matcher::Json(expected.clone()))
        .with_status(201)
        .with_body(documented_metric_created().to_string())
        .create_async()
        .await;
    let update = server
        .mock("PUT", "/api/0/organizations/parky/alert-rules/345989573/")
        .match_header("authorization", AUTH)
        .match_body(Matcher::Json(expected))
        .with_status(200)
        .with_body(
            json!({
                "id": "345989573", "name": "P30 Transaction Duration", "organizationId": "02403489017",
                "queryType": 1, "dataset": "transactions", "query": "",
                "aggregate": "percentile(transaction.duration,0.3)", "thresholdType": 1,
                "resolveThreshold": null, "timeWindow": 60, "environment": null,
                "triggers": [{"id": "0543809890", "alertRuleId": "345989573", "label": "critical", "thresholdType": 1, "alertThreshold": 70.0, "resolveThreshold": null, "dateCreated": "2023-09-25T23:35:31.832084Z", "actions": []}],
                "projects": ["backend"], "owner": "team:9390258908", "originalAlertRuleId": null,
                "comparisonDelta": 10080.0, "dateModified": "2023-09-25T23:35:31.787866Z",
                "dateCreated": "2023-09-25T23:35:31.787875Z",
                "createdBy": {"id": 902843590658u64, "name": "Spongebob Squarepants", "email": "spongebob.s@example.com"},
                "monitorType": 0, "activations": []
            })
            .to_string(),
        )
        .create_async()
        .await;

    let api = client(&server);
    let created = api.create_metric_rule("parky", &body).await.unwrap();
    assert_eq!(created.id, "177104");
    let updated = api
        .update_metric_rule("parky", "345989573", &body)
        .await
        .unwrap();
    assert_eq!(updated.id, "345989573");
    create.assert_async().await;
    update.assert_async().await;
}

#[tokio::test]
async fn validation_error_carries_sentrys_field_message() {
    let mut server = Server::new_async().await;
    // Sentry's reply to a rule without actions (project_rules.py).
    let mock = server
        .mock("POST", "/api/0/projects/parky/api/rules/")
        .match_header("authorization", AUTH)
        .with_status(400)
        .with_body(r#"{"actions": ["You must add an action for this alert to fire."]}"#)
        .create_async()
        .await;
    let err = client(&server)
        .create_issue_rule("parky", "api", &json!({"name": "x", "actions": []}))
        .await
        .unwrap_err();
    mock.assert_async().await;
    let api = api_error(&err);
    assert_eq!(api.http_status(), Some(400));
    assert_eq!(
        api.message(),
        "actions: You must add an action for this alert to fire."
    );
    assert!(!err.is_retryable());
    assert_eq!(
        err.to_string(),
        "sentry create issue rule in parky/api: sentry API error: HTTP 400: actions: You must add an action for this alert to fire."
    );
}

#[tokio::test]
async fn auth_failures_are_permanent_and_carry_the_detail() {
    let mut server = Server::new_async().await;
    let unauthorized = server
        .mock("GET", "/api/0/projects/parky/api/rules/")
        .with_status(401)
        .with_body(r#"{"detail": "Invalid token"}"#)
        .create_async()
        .await;
    let forbidden = server
        .mock("GET", "/api/0/organizations/parky/alert-rules/")
        .with_status(403)
        .with_body(r#"{"detail": "You do not have permission to perform this action."}"#)
        .create_async()
        .await;
    let api = client(&server);
    let err = api.list_issue_rules("parky", "api").await.unwrap_err();
    assert_eq!(api_error(&err).http_status(), Some(401));
    assert_eq!(api_error(&err).message(), "Invalid token");
    assert!(!err.is_retryable());
    let err = api.list_metric_rules("parky").await.unwrap_err();
    assert_eq!(api_error(&err).http_status(), Some(403));
    assert_eq!(
        api_error(&err).message(),
        "You do not have permission to perform this action."
    );
    assert!(!err.is_retryable());
    unauthorized.assert_async().await;
    forbidden.assert_async().await;
}

#[tokio::test]
async fn rate_limited_requests_are_retryable_with_the_requested_wait() {
    let mut server = Server::new_async().await;
    // Body from Sentry's RatelimitMiddleware; headers from docs.sentry.io "Rate Limits".
    let limited = server
        .mock("GET", "/api/0/projects/parky/api/rules/")
        .match_header("authorization", AUTH)
        .with_status(429)
        .with_header("retry-after", "30")
        .with_header("x-sentry-rate-limit-limit", "40")
        .with_header("x-sentry-rate-limit-remaining", "0")
        .with_header("x-sentry-rate-limit-reset", "1700000001")
        .with_body(r#"{"detail": "You are attempting to use this endpoint too frequently. Limit is 40 requests in 1 seconds"}"#)
        .create_async()
        .await;
    let err = client(&server)
        .list_issue_rules("parky", "api")
        .await
        .unwrap_err();
    limited.assert_async().await;
    assert!(err.is_retryable());
    assert_eq!(api_error(&err).retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(
        api_error(&err).message(),
        "You are attempting to use this endpoint too frequently. Limit is 40 requests in 1 seconds"
    );

    // Without Retry-After, the wait comes from X-Sentry-Rate-Limit-Reset (epoch seconds):
    // reset 1700000012 - now 1700000000 = 12 s.
    let mut server = Server::new_async().await;
    let limited = server
        .mock("GET", "/api/0/organizations/parky/alert-rules/")
        .with_status(429)
        .with_header("x-sentry-rate-limit-remaining", "0")
        .with_header("x-sentry-rate-limit-reset", "1700000012")
        .with_body(r#"{"detail": "You are attempting to use this endpoint too frequently. Limit is 40 requests in 1 seconds"}"#)
        .create_async()
        .await;
    let clock = ManualClock::new(Utc.timestamp_opt(1_700_000_000, 0).unwrap());
    let api = client(&server).with_clock(Arc::new(clock));
    let err = api.list_metric_rules("parky").await.unwrap_err();
    limited.assert_async().await;
    assert!(err.is_retryable());
    assert_eq!(api_error(&err).retry_after(), Some(Duration::from_secs(12)));
}

#[tokio::test]
async fn server_errors_are_retryable() {
    let mut server = Server::new_async().await;
    let unavailable = server
        .mock("PUT", "/api/0/organizations/parky/alert-rules/7/")
        .with_status(503)
        .with_header("content-type", "text/html")
        .with_body("<html><body>503 Service Temporarily Unavailable</body></html>")
        .create_async()
        .await;
    let internal = server
        .mock("POST", "/api/0/organizations/parky/alert-rules/")
        .with_status(500)
        .with_body(r#"{"detail": "Internal Error", "errorId": "8a1b2c"}"#)
        .create_async()
        .await;
    let api = client(&server);
    let err = api
        .update_metric_rule("parky", "7", &json!({"name": "x"}))
        .await
        .unwrap_err();
    assert_eq!(api_error(&err).http_status(), Some(503));
    assert!(err.is_retryable());
    let err = api
        .create_metric_rule("parky", &json!({"name": "x"}))
        .await
        .unwrap_err();
    assert_eq!(api_error(&err).message(), "Internal Error");
    assert!(err.is_retryable());
    unavailable.assert_async().await;
    internal.assert_async().await;
}

#[tokio::test]
async fn malformed_bodies_are_typed_errors() {
    let mut server = Server::new_async().await;
    let list = server
        .mock("GET", "/api/0/projects/parky/api/rules/")
        .with_status(200)
        .with_body(r#"[{"id": "3", "name": "truncated"#)
        .create_async()
        .await;
    let not_a_list = server
        .mock("GET", "/api/0/organizations/parky/alert-rules/")
        .with_status(200)
        .with_body(r#"{"detail": "not a list"}"#)
        .create_async()
        .await;
    let no_id = server
        .mock("POST", "/api/0/organizations/parky/alert-rules/")
        .with_status(201)
        .with_body(r#"{"name": "x"}"#)
        .create_async()
        .await;
    let api = client(&server);
    for err in [
        api.list_issue_rules("parky", "api").await.unwrap_err(),
        api.list_metric_rules("parky").await.unwrap_err(),
        api.create_metric_rule("parky", &json!({}))
            .await
            .unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                NotifyError::SentryMalformedResponse {
                    status: 200 | 201,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!err.is_retryable());
    }
    list.assert_async().await;
    not_a_list.assert_async().await;
    no_id.assert_async().await;
}

#[tokio::test]
async fn the_token_never_shows_in_debug_or_errors() {
    let mut server = Server::new_async().await;
    // A server that echoes the credential back in its error body.
    let echo = server
        .mock("GET", "/api/0/projects/parky/api/rules/")
        .with_status(401)
        .with_body(format!(r#"{{"detail": "Invalid token {TOKEN}"}}"#))
        .create_async()
        .await;
    let api = client(&server);
    let shown = format!("{api:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(shown.contains("[REDACTED]"), "{shown}");
    let err = api.list_issue_rules("parky", "api").await.unwrap_err();
    echo.assert_async().await;
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(shown.contains("[REDACTED]"), "{shown}");

    // A network failure (nothing listens on the port) does not show it either.
    let closed = SentryClient::new("http://127.0.0.1:9/", SecretString::from(TOKEN)).unwrap();
    let err = closed.list_metric_rules("parky").await.unwrap_err();
    assert!(err.is_retryable());
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(TOKEN), "{shown}");

    // Nor does a token that cannot be a header value.
    let err =
        SentryClient::new(&server.url(), SecretString::from(format!("{TOKEN}\n"))).unwrap_err();
    assert!(!format!("{err} {err:?}").contains(TOKEN));
}

#[tokio::test]
async fn handbook_sync_is_idempotent_against_the_in_memory_api() {
    let rules = handbook();
    assert_eq!(rules.rules.len(), 12);
    let kinds = |k| rules.rules.iter().filter(|r| r.kind == k).count();
    assert_eq!((kinds(RuleKind::Issue), kinds(RuleKind::Metric)), (6, 6));

    let sentry = InMemorySentry::new();
    // A rule made by hand in Sentry's UI: not managed, never touched.
    sentry.insert_issue_rule("parky", "api", json!({"name": "Hand-made", "frequency": 5}));
    // A managed rule that the file no longer has.
    let old = sentry.insert_metric_rule(
        "parky",
        json!({"name": "[parky] Old burn alert", "projects": ["api"]}),
    );

    let first = plan_sync(&sentry, &rules).await.unwrap();
    let summary = first.summary();
    assert_eq!(
        (
            summary.create,
            summary.update,
            summary.unchanged,
            summary.extra
        ),
        (12, 0, 0, 1)
    );
    let report = apply(&sentry, &first, ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(report.created.len(), 12);
    assert_eq!(report.untouched, ["[parky] Old burn alert"]);

    let second = plan_sync(&sentry, &rules).await.unwrap();
    assert!(second.is_in_sync(), "{second}");
    let summary = second.summary();
    assert_eq!(
        (
            summary.create,
            summary.update,
            summary.unchanged,
            summary.extra
        ),
        (0, 0, 12, 1)
    );
    sentry.clear_calls();
    let report = apply(&sentry, &second, ApplyOptions::default())
        .await
        .unwrap();
    assert!(report.created.is_empty() && report.updated.is_empty() && report.deleted.is_empty());
    assert!(sentry.calls().is_empty(), "no writes: {:?}", sentry.calls());

    // Change one field in the file: exactly one update, with a field-level diff.
    let edited =
        RuleSet::from_yaml(&HANDBOOK.replace("frequency: 60\n", "frequency: 120\n")).unwrap();
    let third = plan_sync(&sentry, &edited).await.unwrap();
    let updates: Vec<_> = third
        .steps
        .iter()
        .filter_map(|s| match &s.change {
            Change::Update { diff, .. } => Some((s.name.as_str(), diff.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].0, "[parky] New issue in production");
    assert_eq!(updates[0].1.len(), 1);
    assert_eq!(updates[0].1[0].field, "frequency");
    assert_eq!(
        (&updates[0].1[0].before, &updates[0].1[0].after),
        (&json!(60), &json!(120))
    );
    assert!(third
        .to_string()
        .contains("  ~ update issue rule \"[parky] New issue in production\" in api (id "));
    assert!(third.to_string().contains("      frequency: 60 -> 120\n"));
    apply(&sentry, &third, ApplyOptions::default())
        .await
        .unwrap();
    assert!(plan_sync(&sentry, &edited).await.unwrap().is_in_sync());

    // Extras go only on request; hand-made rules never.
    let with_delete = plan_sync(&sentry, &edited).await.unwrap();
    let report = apply(&sentry, &with_delete, ApplyOptions { delete_extra: true })
        .await
        .unwrap();
    assert_eq!(report.deleted, ["[parky] Old burn alert"]);
    assert!(sentry.metric_rules("parky").iter().all(|r| r.id != old));
    assert!(sentry
        .issue_rules("parky", "api")
        .iter()
        .any(|r| r.name == "Hand-made"));
    assert_eq!(
        plan_sync(&sentry, &edited).await.unwrap().summary().extra,
        0
    );
}

#[tokio::test]
async fn plan_sync_and_apply_through_the_http_client() {
    let mut server = Server::new_async().await;
    let rules = RuleSet::from_yaml(
        r#"
organization: parky
defaults: {project: api}
routing:
  P1: [{discord: {server: 63408298, channel_id: "1112223334445556602"}}]
rules:
  - {name: Regression, kind: issue, severity: P1, frequency: 30,
     conditions: [{id: sentry.rules.conditions.regression_event.RegressionEventCondition}]}
"#,
    )
    .unwrap();
    let desired = rules.rules[0].body.clone();
    // Sentry has the rule with another frequency, plus a hand-made one.
    let mut existing = desired.clone();
    existing["frequency"] = json!(60);
    existing["id"] = json!("42");
    existing["dateCreated"] = json!("2023-02-17T18:31:14.246012Z");
    let list = server
        .mock("GET", "/api/0/projects/parky/api/rules/")
        .match_header("authorization", AUTH)
        .with_status(200)
        .with_body(json!([existing, documented_issue_rule_7()]).to_string())
        .create_async()
        .await;
    let metrics = server
        .mock("GET", "/api/0/organizations/parky/alert-rules/")
        .match_header("authorization", AUTH)
        .with_status(200)
        .with_body("[]")
        .create_async()
        .await;
    let mut reply = desired.clone();
    reply["id"] = json!("42");
    let put = server
        .mock("PUT", "/api/0/projects/parky/api/rules/42/")
        .match_header("authorization", AUTH)
        .match_body(Matcher::Json(desired))
        .with_status(200)
        .with_body(reply.to_string())
        .expect(1)
        .create_async()
        .await;

    let api = client(&server);
    let planned = plan_sync(&api, &rules).await.unwrap();
    assert_eq!(
        planned.to_string(),
        "Sentry alert rules of organization \"parky\" (managed prefix \"[parky] \"): 0 to create, 1 to update, 0 unchanged, 0 extra\n\
         \x20 ~ update issue rule \"[parky] Regression\" in api (id 42, P1)\n\
         \x20     frequency: 60 -> 30\n"
    );
    let json = serde_json::to_value(&planned).unwrap();
    assert_eq!(json["steps"][0]["change"], json!("update"));
    assert_eq!(json["steps"][0]["id"], json!("42"));
    assert_eq!(json["steps"][0]["severity"], json!("P1"));
    assert_eq!(
        json["steps"][0]["diff"],
        json!([{"field": "frequency", "before": 60, "after": 30}])
    );
    let report = apply(&api, &planned, ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(report.updated, ["[parky] Regression"]);
    list.assert_async().await;
    metrics.assert_async().await;
    put.assert_async().await;
}

#[test]
fn the_planner_alone_is_pure() {
    let rules = handbook();
    let empty = plan(&rules, &Default::default());
    assert_eq!(empty.summary().create, 12);
    assert!(!empty.is_in_sync());
    let text = empty.to_string();
    assert!(text.starts_with(
        "Sentry alert rules of organization \"parky\" (managed prefix \"[parky] \"): 12 to create, 0 to update, 0 unchanged, 0 extra\n"
    ));
    assert!(text.contains("  + create issue rule \"[parky] 5xx burst\" in api (P0)\n"));
    assert!(text.contains("  + create metric rule \"[parky] Error budget fast burn\" (P0)\n"));
}
