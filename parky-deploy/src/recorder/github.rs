//! [`GitHubRecorder`]: deploy records as GitHub Deployments, over reqwest (rustls).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parky_core::{ApiError, Clock, ExposeSecret, RateLimit, SecretString, SystemClock};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use reqwest::{StatusCode, Url};
use serde_json::Value;

use super::{DeployRecorder, DeploymentId, GitHubFieldError, NewDeployment, StatusUpdate};
use crate::error::DeployError;

/// The service name used in [`ApiError`]s.
const SERVICE: &str = "github";
/// The media type GitHub recommends in `Accept`.
pub const MEDIA_TYPE: &str = "application/vnd.github+json";
/// The REST API version sent as `X-GitHub-Api-Version`.
pub const API_VERSION: &str = "2022-11-28";
/// The wait GitHub's docs ask for after a secondary rate limit without any header:
/// "wait for at least one minute before retrying".
const SECONDARY_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// How much of a non-JSON error body is kept as the message.
const BODY_EXCERPT_CHARS: usize = 200;

/// A [`DeployRecorder`] over GitHub's Deployments REST API.
///
/// - [`start`](DeployRecorder::start): `POST {base}/repos/{owner}/{repo}/deployments` with
///   the [`NewDeployment`] fields (`ref`, `environment`, `description`, `auto_merge`,
///   `required_contexts`, `payload`, `transient_environment`, `production_environment`);
///   the service name is added to `payload` as `"service"` (an object payload keeps its
///   other keys; no payload becomes `{"service": …}`). `201` → the deployment `id`;
///   `202` (GitHub merged the default branch instead) → [`DeployError::GitHubAutoMerged`].
/// - [`status`](DeployRecorder::status): `POST {base}/repos/{owner}/{repo}/deployments/{id}/statuses`
///   with `state`, `description`, `log_url`, `environment_url`, `auto_inactive`; `201`.
/// - Headers: `Accept: application/vnd.github+json`, `X-GitHub-Api-Version: 2022-11-28`,
///   `Authorization: Bearer <token>`, `User-Agent: parky-deploy/<version>`.
/// - Errors: [`DeployError::GitHubApi`] with GitHub's `message`, `documentation_url` and the
///   `errors` of a 422; [`DeployError::GitHubRateLimited`] for 403/429 with `retry-after`,
///   `x-ratelimit-remaining: 0` or a secondary-rate-limit message (the wait comes from
///   `retry-after`, else `x-ratelimit-reset` against the injected [`Clock`], else one
///   minute); [`DeployError::GitHubMalformedReply`] for a 2xx that is not the documented
///   JSON. The token is a [`SecretString`]: never in `Debug`, errors or logs.
pub struct GitHubRecorder {
    base: Url,
    owner: String,
    repo: String,
    token: SecretString,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for GitHubRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHubRecorder")
            .field("base", &self.base.as_str())
            .field("owner", &self.owner)
            .field("repo", &self.repo)
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

impl GitHubRecorder {
    /// A recorder for `owner/repo` on the GitHub API at `base_url`
    /// (`https://api.github.com`, a GitHub Enterprise `https://host/api/v3`, a test server),
    /// with a 30 s timeout per request and the system clock.
    ///
    /// # Errors
    /// [`DeployError::InvalidConfig`] naming `base_url`, `owner`, `repo` or `token` when the
    /// URL is not an absolute http(s) URL, owner or repo is empty or contains `/`, or the
    /// token is empty or cannot be sent in a header.
    pub fn new(
        base_url: &str,
        owner: &str,
        repo: &str,
        token: SecretString,
    ) -> Result<Self, DeployError> {
        let base = Url::parse(base_url)
            .map_err(|e| config_error("base_url", format!("{base_url:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(config_error(
                "base_url",
                format!("{base_url:?} is not an http(s) URL"),
            ));
        }
        for (field, value) in [("owner", owner), ("repo", repo)] {
            if value.trim().is_empty() || value.contains('/') {
                return Err(config_error(
                    field,
                    format!("{value:?} must be a non-empty name without `/`"),
                ));
            }
        }
        let exposed = token.expose_secret();
        if exposed.trim().is_empty() || HeaderValue::from_str(&format!("Bearer {exposed}")).is_err()
        {
            return Err(config_error("token", "empty, or not a valid header value"));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| config_error("http_client", e.without_url().to_string()))?;
        Ok(Self {
            base,
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            token,
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

    /// Resolve `retry-after` dates and `x-ratelimit-reset` against this clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn url(&self, tail: &[&str]) -> Result<Url, DeployError> {
        let mut url = self.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| config_error("base_url", "cannot be a base URL"))?;
            path.pop_if_empty();
            path.extend(["repos", self.owner.as_str(), self.repo.as_str()]);
            path.extend(tail);
        }
        Ok(url)
    }

    /// POST `body`; a 2xx reply gives its status and body, anything else an error.
    async fn post(
        &self,
        operation: &str,
        url: Url,
        body: &Value,
    ) -> Result<(StatusCode, Vec<u8>), DeployError> {
        // Checked in `new`: the token makes a valid header value.
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", self.token.expose_secret()))
            .map_err(|_| config_error("token", "not a valid header value"))?;
        auth.set_sensitive(true);
        let request = self
            .http
            .post(url)
            .header(ACCEPT, MEDIA_TYPE)
            .header("X-GitHub-Api-Version", API_VERSION)
            .header(AUTHORIZATION, auth)
            .header(
                USER_AGENT,
                concat!("parky-deploy/", env!("CARGO_PKG_VERSION")),
            )
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        let network = |e: reqwest::Error| {
            let error = if e.is_timeout() {
                ApiError::timeout(SERVICE)
            } else {
                ApiError::network(SERVICE, e.without_url().to_string())
            };
            DeployError::GitHubApi {
                operation: operation.to_owned(),
                source: Box::new(error.redacted(&[&self.token])),
                documentation_url: None,
                errors: Vec::new(),
            }
        };
        let response = request.send().await.map_err(network)?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(network)?;
        if status.is_success() {
            Ok((status, bytes.to_vec()))
        } else {
            Err(error_from_reply(
                operation,
                status.as_u16(),
                &headers,
                &bytes,
                self.clock.now(),
                &self.token,
            ))
        }
    }
}

/// The deployment body: the [`NewDeployment`] fields, with `service` added to `payload`.
fn deployment_body(service: &str, deployment: &NewDeployment) -> Result<Value, DeployError> {
    let mut body = serde_json::to_value(deployment).map_err(|e| DeployError::InvalidConfig {
        field: "deployment".to_owned(),
        reason: e.to_string(),
    })?;
    if let Value::Object(map) = &mut body {
        let service = Value::String(service.to_owned());
        match map.get_mut("payload") {
            Some(Value::Object(payload)) => {
                payload.entry("service".to_owned()).or_insert(service);
            }
            Some(_) => {}
            None => {
                let mut payload = serde_json::Map::new();
                payload.insert("service".to_owned(), service);
                map.insert("payload".to_owned(), Value::Object(payload));
            }
        }
    }
    Ok(body)
}

fn malformed(operation: &str, status: StatusCode, reason: impl Into<String>) -> DeployError {
    DeployError::GitHubMalformedReply {
        operation: operation.to_owned(),
        status: status.as_u16(),
        reason: reason.into(),
    }
}

/// The numeric `id` of a 201 reply (a deployment or a deployment status).
fn reply_id(operation: &str, status: StatusCode, body: &[u8]) -> Result<u64, DeployError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| malformed(operation, status, format!("not JSON: {e}")))?;
    value
        .get("id")
        .and_then(Value::as_u64)
        .ok_or_else(|| malformed(operation, status, "no numeric `id` in the reply"))
}

#[async_trait]
impl DeployRecorder for GitHubRecorder {
    async fn start(
        &self,
        service: &str,
        deployment: &NewDeployment,
    ) -> Result<DeploymentId, DeployError> {
        const OPERATION: &str = "create deployment";
        let body = deployment_body(service, deployment)?;
        let url = self.url(&["deployments"])?;
        let (status, reply) = self.post(OPERATION, url, &body).await?;
        if status == StatusCode::ACCEPTED {
            let message = serde_json::from_slice::<Value>(&reply)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
                .ok_or_else(|| malformed(OPERATION, status, "202 without a `message`"))?;
            return Err(DeployError::GitHubAutoMerged { message });
        }
        if status != StatusCode::CREATED {
            return Err(malformed(OPERATION, status, "expected 201 Created"));
        }
        let id = reply_id(OPERATION, status, &reply)?;
        Ok(DeploymentId(id.to_string()))
    }

    async fn status(&self, id: &DeploymentId, update: &StatusUpdate) -> Result<(), DeployError> {
        const OPERATION: &str = "create deployment status";
        if id.0.is_empty() || !id.0.bytes().all(|b| b.is_ascii_digit()) {
            return Err(config_error(
                "deployment_id",
                format!("{:?} is not a GitHub deployment id", id.0),
            ));
        }
        let body = serde_json::to_value(update).map_err(|e| DeployError::InvalidConfig {
            field: "status".to_owned(),
            reason: e.to_string(),
        })?;
        let url = self.url(&["deployments", id.0.as_str(), "statuses"])?;
        let (status, reply) = self.post(OPERATION, url, &body).await?;
        if status != StatusCode::CREATED {
            return Err(malformed(OPERATION, status, "expected 201 Created"));
        }
        reply_id(OPERATION, status, &reply)?;
        Ok(())
    }
}

/// The typed error of a non-2xx GitHub reply.
///
/// GitHub's error body is `{"message": …, "documentation_url": …}`, plus `"errors": […]` on
/// 422 "Validation Failed". Rate limits (GitHub docs, "Rate limits for the REST API"): a 403
/// or 429 with `x-ratelimit-remaining: 0` (wait until `x-ratelimit-reset`, UTC epoch
/// seconds), with `retry-after` (wait that many seconds), or a secondary-rate-limit message
/// without either (wait at least one minute).
fn error_from_reply(
    operation: &str,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
    token: &SecretString,
) -> DeployError {
    let parsed: Option<serde_json::Map<String, Value>> = match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    };
    let text = |key: &str| {
        parsed
            .as_ref()
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let message = text("message")
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| {
            let excerpt: String = String::from_utf8_lossy(body)
                .trim()
                .chars()
                .take(BODY_EXCERPT_CHARS)
                .collect();
            if excerpt.is_empty() {
                StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("error")
                    .to_owned()
            } else {
                excerpt
            }
        });
    let message = parky_core::redact(&message, &[token]);
    let documentation_url = text("documentation_url");
    let errors: Vec<GitHubFieldError> = parsed
        .as_ref()
        .and_then(|m| m.get("errors"))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|item| match item {
                    Value::String(text) => GitHubFieldError {
                        message: Some(text.clone()),
                        ..GitHubFieldError::default()
                    },
                    other => serde_json::from_value(other.clone()).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();

    let pairs = headers
        .iter()
        .filter_map(|(name, value)| value.to_str().ok().map(|v| (name.as_str(), v)));
    // An unparsable rate-limit header is treated as absent.
    let limit = RateLimit::from_headers(pairs).unwrap_or_default();
    if matches!(status, 403 | 429) {
        let secondary = message.to_ascii_lowercase().contains("rate limit");
        if limit.retry_after.is_some() || limit.is_exhausted() || secondary {
            let retry_after = limit
                .wait(now)
                .or(secondary.then_some(SECONDARY_RATE_LIMIT_WAIT));
            return DeployError::GitHubRateLimited {
                operation: operation.to_owned(),
                status,
                message,
                documentation_url,
                retry_after,
            };
        }
    }
    let source = ApiError::status(SERVICE, status, message)
        .with_retry_after(limit.retry_after.map(|r| r.wait_from(now)))
        .redacted(&[token]);
    DeployError::GitHubApi {
        operation: operation.to_owned(),
        source: Box::new(source),
        documentation_url,
        errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_goes_into_payload() {
        let mut deployment = NewDeployment::new("main");
        let body = deployment_body("public", &deployment).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"ref": "main", "payload": {"service": "public"}})
        );
        deployment.payload = Some(serde_json::json!({"deploy": "migrate"}));
        let body = deployment_body("public", &deployment).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"ref": "main", "payload": {"deploy": "migrate", "service": "public"}})
        );
    }

    #[test]
    fn debug_hides_token() {
        let recorder = GitHubRecorder::new(
            "https://api.github.com",
            "octocat",
            "example",
            SecretString::from("ghp_secret_token_value"),
        )
        .unwrap();
        let debug = format!("{recorder:?}");
        assert!(!debug.contains("ghp_secret_token_value"));
        assert!(debug.contains("[REDACTED]"));
    }

    #[test]
    fn bad_config_names_the_field() {
        let err = GitHubRecorder::new("ftp://x", "o", "r", SecretString::from("t")).unwrap_err();
        assert!(matches!(err, DeployError::InvalidConfig { ref field, .. } if field == "base_url"));
        let err =
            GitHubRecorder::new("https://x", "o/x", "r", SecretString::from("t")).unwrap_err();
        assert!(matches!(err, DeployError::InvalidConfig { ref field, .. } if field == "owner"));
        let err = GitHubRecorder::new("https://x", "o", "r", SecretString::from(" ")).unwrap_err();
        assert!(matches!(err, DeployError::InvalidConfig { ref field, .. } if field == "token"));
    }
}
