//! [`WorkersAnalytics`]: a [`CanaryMetrics`] over Cloudflare's GraphQL Analytics API.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use parky_core::{redact, ApiError, Clock, SecretString, SystemClock};
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Url;
use serde::Deserialize;
use serde_json::{json, Value};

use super::metrics::{CanaryMetrics, WindowTraffic};
use crate::error::DeployError;
use crate::model::TrafficSplit;
use crate::policy::judge::TrafficSample;
use crate::workers::{bearer_header, retry_after};

const SERVICE: &str = "cloudflare";

/// Cloudflare's GraphQL Analytics endpoint.
pub const CLOUDFLARE_GRAPHQL_ENDPOINT: &str = "https://api.cloudflare.com/client/v4/graphql";

/// The most rows asked for in one query (`limit: 100` in [`CANARY_WINDOW_QUERY`]; one row
/// per Worker version in the window, so a handful in practice).
pub const ANALYTICS_ROW_LIMIT: u32 = 100;

/// The query [`WorkersAnalytics`] sends.
///
/// It follows Cloudflare's tutorial "Querying Workers Metrics with GraphQL"
/// (<https://developers.cloudflare.com/analytics/graphql-api/tutorials/querying-workers-metrics>):
/// `viewer.accounts(filter: {accountTag})`, the dataset `workersInvocationsAdaptive` filtered
/// by `scriptName`, `datetime_geq` and `datetime_leq`, with `sum { requests errors }` and
/// `quantiles { cpuTimeP99 }` (CPU time, in microseconds). It groups by the dimension
/// `scriptVersion` (the Worker version id that served the invocations) instead of the
/// tutorial's `datetime scriptName status`, so that there is one row per version. The
/// tutorial does not show `scriptVersion`: check it against your account's schema with
/// introspection (Cloudflare's "Explore the GraphQL schema") if the API refuses the query —
/// the refusal comes back as a [`DeployError::AnalyticsQuery`] with GraphQL's messages.
pub const CANARY_WINDOW_QUERY: &str = "query ParkyCanaryWindow($accountTag: string, $scriptName: string, $datetimeStart: string, $datetimeEnd: string) { viewer { accounts(filter: {accountTag: $accountTag}) { workersInvocationsAdaptive(limit: 100, filter: {scriptName: $scriptName, datetime_geq: $datetimeStart, datetime_leq: $datetimeEnd}) { sum { requests errors } quantiles { cpuTimeP99 } dimensions { scriptVersion } } } } }";

/// A [`CanaryMetrics`] that asks Cloudflare's GraphQL Analytics API how each Worker version
/// did over the tick's window ([`CANARY_WINDOW_QUERY`]).
///
/// - `POST` to the endpoint ([`CLOUDFLARE_GRAPHQL_ENDPOINT`] or a test server) with
///   `{"query", "variables": {"accountTag", "scriptName", "datetimeStart", "datetimeEnd"}}`, `Authorization: Bearer <token>` (a [`SecretString`], never in `Debug`,
///   errors or logs), `Accept` and `Content-Type: application/json`.
/// - The rows whose `dimensions.scriptVersion` is the split's canary make the canary's
///   sample, the stable version's rows the baseline: requests and errors summed, p99 the
///   largest row's `quantiles.cpuTimeP99` (µs → seconds). Other versions are ignored; a
///   version without rows served no requests (p99 unknown).
/// - A reply with a non-empty `errors` array (GraphQL answers those with HTTP 200 and
///   `data: null`) is [`DeployError::AnalyticsQuery`] listing the messages; an error status
///   is [`DeployError::WorkersApi`] (429 and 5xx retryable, with `Retry-After` resolved
///   against the injected clock); a 2xx reply without the documented shape is
///   [`DeployError::WorkersMalformedReply`].
/// - Adaptive datasets are sampled: the sums are Cloudflare's estimates.
/// - It never retries or sleeps: the controller treats an error as "no tick this time".
pub struct WorkersAnalytics {
    endpoint: Url,
    account_id: String,
    token: SecretString,
    /// `Bearer <token>`, marked sensitive; built once in `new`.
    auth: HeaderValue,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for WorkersAnalytics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkersAnalytics")
            .field("endpoint", &self.endpoint.as_str())
            .field("account_id", &self.account_id)
            .field("token", &parky_core::REDACTED)
            .finish_non_exhaustive()
    }
}

fn config_error(field: &str, reason: impl Into<String>) -> DeployError {
    DeployError::InvalidConfig {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

impl WorkersAnalytics {
    /// A source for `account_id` at `endpoint` (normally [`CLOUDFLARE_GRAPHQL_ENDPOINT`])
    /// with an API token (it needs the *Account Analytics: Read* permission), and a 30 s
    /// timeout per request.
    ///
    /// # Errors
    /// [`DeployError::InvalidConfig`] with field `endpoint`, `account_id` or `token`;
    /// [`DeployError::WorkersApi`] when the TLS client cannot be built.
    pub fn new(endpoint: &str, account_id: &str, token: SecretString) -> Result<Self, DeployError> {
        let url = Url::parse(endpoint)
            .map_err(|e| config_error("endpoint", format!("{endpoint:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(config_error(
                "endpoint",
                format!("{endpoint:?} is not an http(s) URL"),
            ));
        }
        if account_id.trim().is_empty() {
            return Err(config_error("account_id", "empty"));
        }
        let auth = bearer_header(&token)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| DeployError::WorkersApi {
                operation: "build HTTP client".to_owned(),
                source: Box::new(ApiError::network(SERVICE, e.to_string())),
            })?;
        Ok(Self {
            endpoint: url,
            account_id: account_id.to_owned(),
            token,
            auth,
            http,
            clock: Arc::new(SystemClock),
        })
    }

    /// Resolve HTTP-date `Retry-After` values against this clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The request body for `script` between `from` and `to`.
    #[must_use]
    pub fn request_body(&self, script: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Value {
        json!({
            "query": CANARY_WINDOW_QUERY,
            "variables": {
                "accountTag": self.account_id,
                "scriptName": script,
                "datetimeStart": from.to_rfc3339_opts(SecondsFormat::Secs, true),
                "datetimeEnd": to.to_rfc3339_opts(SecondsFormat::Secs, true),
            }
        })
    }

    fn api_error(&self, operation: &str, error: ApiError) -> DeployError {
        DeployError::WorkersApi {
            operation: operation.to_owned(),
            source: Box::new(error.redacted(&[&self.token])),
        }
    }

    fn malformed(&self, operation: &str, status: u16, reason: impl AsRef<str>) -> DeployError {
        DeployError::WorkersMalformedReply {
            operation: operation.to_owned(),
            status,
            reason: redact(reason.as_ref(), &[&self.token]),
        }
    }
}

#[derive(Deserialize)]
struct Reply {
    data: Option<Value>,
    errors: Option<Vec<GraphQlError>>,
}

#[derive(Deserialize)]
struct GraphQlError {
    message: Option<String>,
    path: Option<Vec<Value>>,
}

#[derive(Deserialize)]
struct Data {
    viewer: Viewer,
}

#[derive(Deserialize)]
struct Viewer {
    accounts: Vec<Account>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Account {
    workers_invocations_adaptive: Vec<Row>,
}

#[derive(Deserialize)]
struct Row {
    sum: RowSum,
    quantiles: Option<RowQuantiles>,
    dimensions: RowDimensions,
}

#[derive(Deserialize)]
struct RowSum {
    requests: u64,
    errors: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RowQuantiles {
    cpu_time_p99: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RowDimensions {
    script_version: Option<String>,
}

/// Sums the rows of `version` into one sample.
fn sample_of(rows: &[Row], version: Option<&str>) -> TrafficSample {
    let mut sample = TrafficSample {
        requests: 0,
        errors: 0,
        p99_seconds: None,
    };
    let Some(version) = version else {
        return sample;
    };
    for row in rows
        .iter()
        .filter(|r| r.dimensions.script_version.as_deref() == Some(version))
    {
        sample.requests = sample.requests.saturating_add(row.sum.requests);
        sample.errors = sample.errors.saturating_add(row.sum.errors);
        let p99 = row
            .quantiles
            .as_ref()
            .and_then(|q| q.cpu_time_p99)
            .filter(|p| p.is_finite() && *p >= 0.0)
            .map(|micros| micros / 1_000_000.0);
        sample.p99_seconds = match (sample.p99_seconds, p99) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    sample
}

#[async_trait]
impl CanaryMetrics for WorkersAnalytics {
    async fn window(
        &self,
        script: &str,
        split: &TrafficSplit,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<WindowTraffic, DeployError> {
        let operation = format!("query Workers analytics of {script}");
        let body = self.request_body(script, from, to);
        tracing::debug!(script, %from, %to, "cloudflare analytics query");
        let response = self
            .http
            .post(self.endpoint.clone())
            .header(AUTHORIZATION, self.auth.clone())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| {
                let e = e.without_url();
                let error = if e.is_timeout() {
                    ApiError::timeout(SERVICE)
                } else {
                    ApiError::network(SERVICE, e.to_string())
                };
                self.api_error(&operation, error)
            })?;
        let status = response.status().as_u16();
        let wait = retry_after(response.headers(), self.clock.now());
        let bytes = response.bytes().await.map_err(|e| {
            self.api_error(
                &operation,
                ApiError::network(SERVICE, e.without_url().to_string()),
            )
        })?;
        let reply = serde_json::from_slice::<Reply>(&bytes);
        if !(200..300).contains(&status) {
            let messages: Vec<String> = reply
                .ok()
                .and_then(|r| r.errors)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|e| e.message)
                .collect();
            let message = if messages.is_empty() {
                String::from_utf8_lossy(&bytes).chars().take(300).collect()
            } else {
                messages.join("; ")
            };
            return Err(self.api_error(
                &operation,
                ApiError::status(SERVICE, status, message).with_retry_after(wait),
            ));
        }
        let reply = reply
            .map_err(|e| self.malformed(&operation, status, format!("not a GraphQL reply: {e}")))?;
        let errors = reply.errors.unwrap_or_default();
        if !errors.is_empty() {
            return Err(DeployError::AnalyticsQuery {
                operation,
                messages: errors
                    .into_iter()
                    .map(|e| {
                        let message = e.message.unwrap_or_else(|| "error".to_owned());
                        let message = redact(&message, &[&self.token]);
                        match e.path {
                            Some(path) if !path.is_empty() => {
                                let path: Vec<String> = path
                                    .iter()
                                    .map(|p| match p {
                                        Value::String(s) => s.clone(),
                                        other => other.to_string(),
                                    })
                                    .collect();
                                format!("{message} (at {})", path.join("."))
                            }
                            _ => message,
                        }
                    })
                    .collect(),
            });
        }
        let data = match reply.data {
            None | Some(Value::Null) => {
                return Err(self.malformed(&operation, status, "`data` is missing or null"))
            }
            Some(data) => data,
        };
        let data: Data = serde_json::from_value(data)
            .map_err(|e| self.malformed(&operation, status, format!("unexpected `data`: {e}")))?;
        let rows: Vec<Row> = match <[Account; 1]>::try_from(data.viewer.accounts) {
            Ok([account]) => account.workers_invocations_adaptive,
            Err(accounts) => {
                return Err(self.malformed(
                    &operation,
                    status,
                    format!(
                        "`data.viewer.accounts` has {} entries; expected the one account asked for",
                        accounts.len()
                    ),
                ))
            }
        };
        Ok(WindowTraffic {
            canary: sample_of(&rows, split.canary.as_ref().map(|(v, _)| v.0.as_str())),
            baseline: sample_of(&rows, Some(split.stable.0.as_str())),
        })
    }
}
