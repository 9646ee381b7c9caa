//! [`WorkersClient`]: the [`WorkersApi`] over Cloudflare's v4 REST API with reqwest (rustls).

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parky_core::{
    parse_retry_after, redact, ApiError, Clock, ExposeSecret, SecretString, SystemClock,
};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{
    changed_secrets, Deployment, DeploymentRequest, DeploymentVersion, WorkerVersion, WorkersApi,
    SECRETS_CHANGED_CODE,
};
use crate::error::DeployError;
use crate::model::VersionId;

const SERVICE: &str = "cloudflare";

/// Cloudflare's API base URL.
pub const CLOUDFLARE_API_BASE: &str = "https://api.cloudflare.com/client/v4";

/// How many pages [`WorkersClient`] follows in one listing before it reports a malformed
/// reply (a guard against a server that never stops paginating).
pub const MAX_PAGES: u32 = 1000;

/// A [`WorkersApi`] over Cloudflare's REST API.
///
/// - Base URL injectable ([`CLOUDFLARE_API_BASE`] or a test server); paths are
///   `/accounts/{account_id}/workers/scripts/{script_name}/…` under it, each segment
///   percent-encoded.
/// - `Authorization: Bearer <API token>`; the token is a [`SecretString`], never in `Debug`,
///   errors or logs.
/// - Replies are the v4 envelope `{"success", "errors": [{"code", "message"}], "messages",
///   "result", "result_info"}`. `success: false` or an error status becomes
///   [`DeployError::WorkersApi`] carrying the HTTP status, the first error's Cloudflare code
///   and all messages; code [`SECRETS_CHANGED_CODE`] becomes
///   [`DeployError::WorkersSecretsChanged`]. A 429 (Cloudflare: 1,200 requests per five
///   minutes per user) or 5xx is retryable and carries `Retry-After`. A 2xx reply without
///   the documented shape is [`DeployError::WorkersMalformedReply`] naming the operation.
/// - Version listings follow `result_info` (`page`, `per_page`, `count`, `total_count`)
///   page by page.
/// - The client never retries or sleeps: use [`DeployError::is_retryable`] and
///   [`DeployError::retry_after`] with a `parky_core::RetryPolicy`.
pub struct WorkersClient {
    base: Url,
    account_id: String,
    token: SecretString,
    /// `Bearer <token>`, marked sensitive; built once in `new`.
    auth: HeaderValue,
    per_page: Option<u32>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for WorkersClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkersClient")
            .field("base", &self.base.as_str())
            .field("account_id", &self.account_id)
            .field("token", &parky_core::REDACTED)
            .field("per_page", &self.per_page)
            .finish_non_exhaustive()
    }
}

fn config_error(field: &str, reason: impl Into<String>) -> DeployError {
    DeployError::InvalidConfig {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

fn argument_error(field: &str, reason: impl Into<String>) -> DeployError {
    DeployError::InvalidDeployment {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

impl WorkersClient {
    /// A client for `account_id` at `base_url` (normally [`CLOUDFLARE_API_BASE`]) with an API
    /// token, and a 30 s timeout per request.
    ///
    /// # Errors
    /// [`DeployError::InvalidConfig`] with field `base_url`, `account_id` or `token` when the
    /// URL is not an absolute http(s) URL, the account id is empty, or the token cannot be
    /// sent in a header (empty, control characters); [`DeployError::WorkersApi`] when the TLS
    /// client cannot be built.
    pub fn new(base_url: &str, account_id: &str, token: SecretString) -> Result<Self, DeployError> {
        let base = Url::parse(base_url)
            .map_err(|e| config_error("base_url", format!("{base_url:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(config_error(
                "base_url",
                format!("{base_url:?} is not an http(s) URL"),
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
            base,
            account_id: account_id.to_owned(),
            token,
            auth,
            per_page: None,
            http,
            clock: Arc::new(SystemClock),
        })
    }

    /// Use this reqwest client (its timeouts, proxy, TLS settings).
    #[must_use]
    pub fn with_http_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// Resolve HTTP-date `Retry-After` values against this clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Ask for `per_page` versions a page (`?per_page=`); by default the API's own page
    /// size is used. 0 is ignored.
    #[must_use]
    pub fn with_per_page(mut self, per_page: u32) -> Self {
        self.per_page = (per_page > 0).then_some(per_page);
        self
    }

    fn url(&self, script: &str, rest: &[&str]) -> Result<Url, DeployError> {
        if script.trim().is_empty() {
            return Err(argument_error("script", "empty"));
        }
        let mut url = self.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| config_error("base_url", "cannot be a base URL"))?;
            path.pop_if_empty();
            path.extend([
                "accounts",
                self.account_id.as_str(),
                "workers",
                "scripts",
                script,
            ]);
            path.extend(rest);
        }
        Ok(url)
    }

    fn api_error(&self, operation: &str, error: ApiError) -> DeployError {
        DeployError::WorkersApi {
            operation: operation.to_owned(),
            source: Box::new(error.redacted(&[&self.token])),
        }
    }

    fn transport_error(&self, operation: &str, e: &reqwest::Error) -> DeployError {
        let error = if e.is_timeout() {
            ApiError::timeout(SERVICE)
        } else {
            ApiError::network(SERVICE, redact(&e.to_string(), &[&self.token]))
        };
        self.api_error(operation, error)
    }

    /// Send one request and unwrap the v4 envelope of a successful reply.
    async fn call(
        &self,
        operation: &str,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Page, DeployError> {
        tracing::debug!(%method, path = url.path(), "cloudflare request");
        let mut request = self
            .http
            .request(method, url)
            .header(AUTHORIZATION, self.auth.clone());
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_error(operation, &e.without_url()))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(operation, &e.without_url()))?;
        let envelope = serde_json::from_slice::<Envelope>(&bytes);
        let failed = match &envelope {
            Ok(envelope) => envelope.success == Some(false),
            Err(_) => false,
        };
        if !status.is_success() || failed {
            tracing::debug!(status = status.as_u16(), "cloudflare error reply");
            let wait = retry_after(&headers, self.clock.now());
            return Err(self.error_reply(operation, status, envelope.ok(), &bytes, wait));
        }
        let envelope = envelope.map_err(|e| {
            self.malformed(
                operation,
                status,
                format!("not a Cloudflare v4 envelope: {e}"),
            )
        })?;
        if envelope.success != Some(true) {
            return Err(self.malformed(operation, status, "`success` is not true"));
        }
        match envelope.result {
            None | Some(Value::Null) => {
                Err(self.malformed(operation, status, "`result` is missing or null"))
            }
            Some(result) => Ok(Page {
                status,
                result,
                info: envelope.result_info,
            }),
        }
    }

    fn error_reply(
        &self,
        operation: &str,
        status: StatusCode,
        envelope: Option<Envelope>,
        body: &[u8],
        wait: Option<Duration>,
    ) -> DeployError {
        let errors = envelope.and_then(|e| e.errors).unwrap_or_default();
        let message = if errors.is_empty() {
            let text: String = String::from_utf8_lossy(body).chars().take(300).collect();
            if text.trim().is_empty() {
                status.canonical_reason().unwrap_or("error").to_owned()
            } else {
                text
            }
        } else {
            errors
                .iter()
                .map(|e| match (e.code, e.message.as_deref()) {
                    (Some(code), Some(m)) => format!("{m} [code: {code}]"),
                    (None, Some(m)) => m.to_owned(),
                    (Some(code), None) => format!("[code: {code}]"),
                    (None, None) => "error".to_owned(),
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        let mut error = ApiError::status(SERVICE, status.as_u16(), message).with_retry_after(wait);
        if let Some(secrets) = errors.iter().find(|e| e.code == Some(SECRETS_CHANGED_CODE)) {
            error = error.with_code(SECRETS_CHANGED_CODE);
            return DeployError::WorkersSecretsChanged {
                operation: operation.to_owned(),
                secrets: changed_secrets(secrets.message.as_deref().unwrap_or_default()),
                source: Box::new(error.redacted(&[&self.token])),
            };
        }
        if let Some(code) = errors.iter().find_map(|e| e.code) {
            error = error.with_code(code);
        }
        self.api_error(operation, error)
    }

    fn malformed(
        &self,
        operation: &str,
        status: StatusCode,
        reason: impl AsRef<str>,
    ) -> DeployError {
        DeployError::WorkersMalformedReply {
            operation: operation.to_owned(),
            status: status.as_u16(),
            reason: redact(reason.as_ref(), &[&self.token]),
        }
    }

    fn decode<T: for<'de> Deserialize<'de>>(
        &self,
        operation: &str,
        page: &Page,
        value: Value,
    ) -> Result<T, DeployError> {
        serde_json::from_value(value).map_err(|e| {
            self.malformed(operation, page.status, format!("unexpected `result`: {e}"))
        })
    }
}

/// A successful reply's `result` and `result_info`.
struct Page {
    status: StatusCode,
    result: Value,
    info: Option<ResultInfo>,
}

/// The v4 envelope. `errors` and `messages` may be `null` on some services.
#[derive(Deserialize)]
struct Envelope {
    success: Option<bool>,
    errors: Option<Vec<ApiMessage>>,
    result: Option<Value>,
    result_info: Option<ResultInfo>,
}

#[derive(Deserialize)]
struct ApiMessage {
    code: Option<i64>,
    message: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
struct ResultInfo {
    per_page: Option<u64>,
    count: Option<u64>,
    total_count: Option<u64>,
}

#[derive(Deserialize)]
struct VersionList {
    #[serde(default)]
    items: Option<Vec<WireVersion>>,
}

#[derive(Deserialize)]
struct DeploymentList {
    deployments: Vec<WireDeployment>,
}

#[derive(Deserialize, Default)]
struct WireAnnotations {
    #[serde(rename = "workers/message")]
    message: Option<String>,
    #[serde(rename = "workers/tag")]
    tag: Option<String>,
    #[serde(rename = "workers/triggered_by")]
    triggered_by: Option<String>,
}

#[derive(Deserialize, Default)]
struct WireVersionMetadata {
    author_email: Option<String>,
    created_on: Option<String>,
    source: Option<String>,
}

#[derive(Deserialize)]
struct WireVersion {
    id: String,
    number: Option<u64>,
    metadata: Option<WireVersionMetadata>,
    annotations: Option<WireAnnotations>,
}

#[derive(Deserialize)]
struct WireDeploymentVersion {
    version_id: String,
    percentage: f64,
}

#[derive(Deserialize)]
struct WireDeployment {
    id: String,
    created_on: String,
    source: Option<String>,
    strategy: String,
    versions: Vec<WireDeploymentVersion>,
    annotations: Option<WireAnnotations>,
    author_email: Option<String>,
}

fn parse_time(field: &str, text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("`{field}` {text:?} is not an RFC 3339 date-time: {e}"))
}

impl WireVersion {
    fn into_version(self) -> Result<WorkerVersion, String> {
        let metadata = self.metadata.unwrap_or_default();
        let annotations = self.annotations.unwrap_or_default();
        let created_on = metadata
            .created_on
            .as_deref()
            .map(|t| parse_time("metadata.created_on", t))
            .transpose()?;
        Ok(WorkerVersion {
            id: VersionId(self.id),
            number: self.number,
            created_on,
            author_email: metadata.author_email,
            source: metadata.source,
            message: annotations.message,
            tag: annotations.tag,
            triggered_by: annotations.triggered_by,
        })
    }
}

impl WireDeployment {
    fn into_deployment(self) -> Result<Deployment, String> {
        let annotations = self.annotations.unwrap_or_default();
        Ok(Deployment {
            created_on: parse_time("created_on", &self.created_on)?,
            id: self.id,
            source: self.source.unwrap_or_default(),
            strategy: self.strategy,
            versions: self
                .versions
                .into_iter()
                .map(|v| DeploymentVersion {
                    version_id: VersionId(v.version_id),
                    percentage: v.percentage,
                })
                .collect(),
            message: annotations.message,
            triggered_by: annotations.triggered_by,
            author_email: self.author_email,
        })
    }
}

/// `Authorization: Bearer <token>`, marked sensitive (never logged by the HTTP stack).
///
/// # Errors
/// [`DeployError::InvalidConfig`] with field `token` when the token is empty or cannot be
/// sent in a header (control characters).
pub(crate) fn bearer_header(token: &SecretString) -> Result<HeaderValue, DeployError> {
    let exposed = token.expose_secret();
    let mut auth = HeaderValue::from_str(&format!("Bearer {exposed}"))
        .ok()
        .filter(|_| !exposed.trim().is_empty())
        .ok_or_else(|| config_error("token", "empty, or not a valid header value"))?;
    auth.set_sensitive(true);
    Ok(auth)
}

/// `Retry-After` as delta-seconds or HTTP-date (RFC 9110), resolved against `now`.
pub(crate) fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now).ok())
}

/// The JSON body of "Create Deployment".
fn deployment_body(request: &DeploymentRequest) -> Value {
    let versions: Vec<Value> = request
        .versions
        .iter()
        .map(|(id, percent)| json!({"version_id": id.0, "percentage": percent}))
        .collect();
    let mut body = Map::new();
    body.insert("strategy".to_owned(), json!("percentage"));
    body.insert("versions".to_owned(), Value::Array(versions));
    if let Some(message) = &request.message {
        body.insert(
            "annotations".to_owned(),
            json!({ "workers/message": message }),
        );
    }
    Value::Object(body)
}

#[async_trait]
impl WorkersApi for WorkersClient {
    async fn list_versions(&self, script: &str) -> Result<Vec<WorkerVersion>, DeployError> {
        let operation = format!("list deployable versions of {script}");
        let mut versions = Vec::new();
        let mut seen = BTreeSet::new();
        for page_number in 1..=MAX_PAGES {
            let mut url = self.url(script, &["versions"])?;
            {
                let mut query = url.query_pairs_mut();
                query.append_pair("deployable", "true");
                query.append_pair("page", &page_number.to_string());
                if let Some(per_page) = self.per_page {
                    query.append_pair("per_page", &per_page.to_string());
                }
            }
            let mut page = self.call(&operation, Method::GET, url, None).await?;
            let result = std::mem::take(&mut page.result);
            let list: VersionList = self.decode(&operation, &page, result)?;
            let items = list.items.unwrap_or_default();
            let received = items.len() as u64;
            let mut new = 0_usize;
            for item in items {
                let version = item
                    .into_version()
                    .map_err(|r| self.malformed(&operation, page.status, r))?;
                if seen.insert(version.id.clone()) {
                    new += 1;
                    versions.push(version);
                }
            }
            if received == 0 {
                return Ok(versions);
            }
            if new == 0 {
                return Err(self.malformed(
                    &operation,
                    page.status,
                    format!("page {page_number} repeats versions already listed"),
                ));
            }
            let Some(info) = page.info else {
                return Ok(versions);
            };
            let done = match (info.total_count, info.per_page, info.count) {
                (Some(total), _, _) => versions.len() as u64 >= total,
                (None, Some(per_page), count) => count.unwrap_or(received) < per_page,
                (None, None, _) => false,
            };
            if done {
                return Ok(versions);
            }
        }
        Err(self.malformed(
            &operation,
            StatusCode::OK,
            format!("more than {MAX_PAGES} pages"),
        ))
    }

    async fn get_version(
        &self,
        script: &str,
        version: &VersionId,
    ) -> Result<WorkerVersion, DeployError> {
        if version.0.trim().is_empty() {
            return Err(argument_error("version_id", "empty"));
        }
        let operation = format!("get version {version} of {script}");
        let url = self.url(script, &["versions", &version.0])?;
        let mut page = self.call(&operation, Method::GET, url, None).await?;
        let result = std::mem::take(&mut page.result);
        let wire: WireVersion = self.decode(&operation, &page, result)?;
        wire.into_version()
            .map_err(|r| self.malformed(&operation, page.status, r))
    }

    async fn list_deployments(&self, script: &str) -> Result<Vec<Deployment>, DeployError> {
        let operation = format!("list deployments of {script}");
        let url = self.url(script, &["deployments"])?;
        let mut page = self.call(&operation, Method::GET, url, None).await?;
        let result = std::mem::take(&mut page.result);
        let list: DeploymentList = self.decode(&operation, &page, result)?;
        list.deployments
            .into_iter()
            .map(|d| {
                d.into_deployment()
                    .map_err(|r| self.malformed(&operation, page.status, r))
            })
            .collect()
    }

    async fn create_deployment(
        &self,
        script: &str,
        request: &DeploymentRequest,
    ) -> Result<Deployment, DeployError> {
        request.validate()?;
        let operation = format!("create deployment of {script}");
        let mut url = self.url(script, &["deployments"])?;
        if request.force {
            url.query_pairs_mut().append_pair("force", "true");
        }
        let body = deployment_body(request);
        let mut page = self
            .call(&operation, Method::POST, url, Some(&body))
            .await?;
        let result = std::mem::take(&mut page.result);
        let wire: WireDeployment = self.decode(&operation, &page, result)?;
        wire.into_deployment()
            .map_err(|r| self.malformed(&operation, page.status, r))
    }
}
