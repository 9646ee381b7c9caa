//! [`SentryClient`]: the [`SentryApi`] over Sentry's REST API with reqwest (rustls).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parky_core::{parse_retry_after, ApiError, Clock, ExposeSecret, SecretString, SystemClock};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, LINK, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use super::api::{RemoteRule, SentryApi};
use crate::error::NotifyError;

const SERVICE: &str = "sentry";
/// Sentry's rate-limit reset header: UTC epoch seconds when the window resets.
const RATE_LIMIT_RESET: &str = "x-sentry-rate-limit-reset";
/// How many pages a listing follows before it gives up (100 rules a page at most on Sentry).
pub const MAX_PAGES: usize = 1000;

/// A [`SentryApi`] over HTTP.
///
/// - Base URL injectable (`https://sentry.io`, a self-hosted Sentry, a test server); paths
///   are `/api/0/...` under it.
/// - `Authorization: Bearer <token>`; the token is a [`SecretString`], never in `Debug`, in
///   errors or in logs.
/// - Listings follow `Link: <…>; rel="next"; results="true"; cursor="…"` by sending the
///   cursor as `?cursor=` to the configured base URL; the link's own URL is never
///   followed, so the token cannot leak to another host.
/// - Errors are [`NotifyError::SentryApi`] wrapping an [`ApiError`] with Sentry's `detail`
///   message; 429 carries the wait from `Retry-After`, else from
///   `X-Sentry-Rate-Limit-Reset`. The client never retries or sleeps itself: use
///   [`NotifyError::is_retryable`] with a `parky_core::RetryPolicy`.
pub struct SentryClient {
    base: Url,
    token: SecretString,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for SentryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentryClient")
            .field("base", &self.base.as_str())
            .field("token", &parky_core::REDACTED)
            .finish_non_exhaustive()
    }
}

fn config_error(path: &str, reason: impl Into<String>) -> NotifyError {
    NotifyError::InvalidSentryRule {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

impl SentryClient {
    /// A client for the Sentry at `base_url` (e.g. `https://sentry.io`), with a 30 s
    /// timeout per request.
    ///
    /// # Errors
    /// [`NotifyError::InvalidSentryRule`] with path `base_url` or `token` when the URL is not
    /// an absolute http(s) URL or the token cannot be sent in a header (empty, control
    /// characters); [`NotifyError::SentryApi`] when the TLS client cannot be built.
    pub fn new(base_url: &str, token: SecretString) -> Result<Self, NotifyError> {
        let base = Url::parse(base_url)
            .map_err(|e| config_error("base_url", format!("{base_url:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(config_error(
                "base_url",
                format!("{base_url:?} is not an http(s) URL"),
            ));
        }
        let exposed = token.expose_secret();
        if exposed.trim().is_empty() || HeaderValue::from_str(&format!("Bearer {exposed}")).is_err()
        {
            return Err(config_error("token", "empty, or not a valid header value"));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| NotifyError::SentryApi {
                operation: "build HTTP client".to_owned(),
                source: ApiError::network(SERVICE, e.to_string()),
            })?;
        Ok(Self {
            base,
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

    /// Resolve `Retry-After` dates and `X-Sentry-Rate-Limit-Reset` against this clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn url(&self, segments: &[&str]) -> Result<Url, NotifyError> {
        let mut url = self.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| config_error("base_url", "cannot be a base URL"))?;
            path.pop_if_empty();
            path.extend(["api", "0"]);
            path.extend(segments);
            // Sentry's paths end with a slash.
            path.push("");
        }
        Ok(url)
    }

    fn api_error(&self, operation: &str, error: ApiError) -> NotifyError {
        NotifyError::SentryApi {
            operation: operation.to_owned(),
            source: error.redacted(&[&self.token]),
        }
    }

    /// Send one request; a 2xx reply gives its status, headers and body.
    async fn send(
        &self,
        operation: &str,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>), NotifyError> {
        tracing::debug!(%method, path = url.path(), "sentry request");
        // Checked in `new`: the token makes a valid header value.
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", self.token.expose_secret()))
            .map_err(|_| config_error("token", "not a valid header value"))?;
        auth.set_sensitive(true);
        let mut request = self.http.request(method, url).header(AUTHORIZATION, auth);
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.map_err(|e| {
            let error = if e.is_timeout() {
                ApiError::timeout(SERVICE)
            } else {
                ApiError::network(SERVICE, e.without_url().to_string())
            };
            self.api_error(operation, error)
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(|e| {
            let error = if e.is_timeout() {
                ApiError::timeout(SERVICE)
            } else {
                ApiError::network(SERVICE, e.without_url().to_string())
            };
            self.api_error(operation, error)
        })?;
        if status.is_success() {
            Ok((status, headers, bytes.to_vec()))
        } else {
            tracing::debug!(status = status.as_u16(), "sentry error reply");
            let error = error_from_reply(status.as_u16(), &headers, &bytes, self.clock.now());
            Err(self.api_error(operation, error))
        }
    }

    async fn list(
        &self,
        operation: &str,
        segments: &[&str],
    ) -> Result<Vec<RemoteRule>, NotifyError> {
        let mut rules = Vec::new();
        let mut cursor: Option<String> = None;
        let mut seen_cursors = std::collections::BTreeSet::new();
        for _ in 0..MAX_PAGES {
            let mut url = self.url(segments)?;
            if let Some(cursor) = &cursor {
                url.query_pairs_mut().append_pair("cursor", cursor);
            }
            let (status, headers, body) = self.send(operation, Method::GET, url, None).await?;
            let page: Value = parse_json(operation, status, &body)?;
            let Value::Array(items) = page else {
                return Err(malformed(
                    operation,
                    status,
                    "expected a JSON array of rules",
                ));
            };
            for item in items {
                rules.push(
                    RemoteRule::from_json(item).map_err(|r| malformed(operation, status, r))?,
                );
            }
            let next = headers
                .get_all(LINK)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(next_cursor);
            match next {
                None => return Ok(rules),
                Some(next) => {
                    if !seen_cursors.insert(next.clone()) {
                        return Err(malformed(
                            operation,
                            status,
                            format!("the Link header repeats cursor {next:?}"),
                        ));
                    }
                    cursor = Some(next);
                }
            }
        }
        Err(malformed(
            operation,
            StatusCode::OK,
            format!("more than {MAX_PAGES} pages"),
        ))
    }

    async fn write(
        &self,
        operation: &str,
        method: Method,
        segments: &[&str],
        body: &Value,
    ) -> Result<RemoteRule, NotifyError> {
        let url = self.url(segments)?;
        let (status, _, reply) = self.send(operation, method, url, Some(body)).await?;
        if status == StatusCode::ACCEPTED {
            // Sentry answers 202 {"uuid": …} when it looks a Slack channel up in the
            // background; the rule is created later.
            return Err(malformed(
                operation,
                status,
                "accepted for background processing (202); plan again later",
            ));
        }
        let value = parse_json(operation, status, &reply)?;
        RemoteRule::from_json(value).map_err(|r| malformed(operation, status, r))
    }

    async fn delete(&self, operation: &str, segments: &[&str]) -> Result<(), NotifyError> {
        let url = self.url(segments)?;
        self.send(operation, Method::DELETE, url, None).await?;
        Ok(())
    }
}

fn malformed(operation: &str, status: StatusCode, reason: impl Into<String>) -> NotifyError {
    NotifyError::SentryMalformedResponse {
        operation: operation.to_owned(),
        status: status.as_u16(),
        reason: reason.into(),
    }
}

fn parse_json(operation: &str, status: StatusCode, body: &[u8]) -> Result<Value, NotifyError> {
    serde_json::from_slice(body).map_err(|e| malformed(operation, status, format!("not JSON: {e}")))
}

/// The cursor of the `rel="next"` link when it has `results="true"`.
///
/// Sentry's `Link` header: `<url>; rel="previous"; results="false"; cursor="0:0:1",
/// <url>; rel="next"; results="true"; cursor="0:100:0"`.
pub fn next_cursor(link: &str) -> Option<String> {
    parky_core::link_values(link).find_map(|link| {
        (link.param("rel") == Some("next") && link.param("results") == Some("true"))
            .then(|| link.param("cursor"))
            .flatten()
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
    })
}

/// An [`ApiError`] from an error reply: Sentry's message and code, and the wait it asks
/// for.
///
/// The message is, in order: `detail` when it is a string (`{"detail": "Invalid token"}`);
/// `detail.message` with `detail.code` as the service code; a bare JSON string; the field
/// errors of a validation reply (`{"actions": ["You must add an action for this alert to
/// fire."]}` → `actions: You must add an action for this alert to fire.`); else the start of
/// the body as text.
pub fn error_from_reply(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> ApiError {
    let (message, code) = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => match map.get("detail") {
            Some(Value::String(detail)) => (detail.clone(), None),
            Some(Value::Object(detail)) => (
                detail
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                detail
                    .get("code")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            ),
            _ => (field_errors(&map), None),
        },
        Ok(Value::String(text)) => (text, None),
        Ok(Value::Array(items)) => (flatten_messages(&items), None),
        _ => (
            String::from_utf8_lossy(body)
                .chars()
                .take(300)
                .collect::<String>(),
            None,
        ),
    };
    let message = if message.trim().is_empty() {
        StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("error")
            .to_owned()
    } else {
        message
    };
    let mut error = ApiError::status(SERVICE, status, message);
    if let Some(code) = code {
        error = error.with_code(code);
    }
    error.with_retry_after(requested_wait(status, headers, now))
}

fn field_errors(map: &serde_json::Map<String, Value>) -> String {
    map.iter()
        .map(|(field, value)| match value {
            Value::Array(items) => format!("{field}: {}", flatten_messages(items)),
            Value::String(text) => format!("{field}: {text}"),
            other => format!("{field}: {other}"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn flatten_messages(items: &[Value]) -> String {
    items
        .iter()
        .map(|item| match item {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `Retry-After` (RFC 9110), else — on 429 — Sentry's `X-Sentry-Rate-Limit-Reset`.
fn requested_wait(status: u16, headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    if let Some(wait) = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now).ok())
    {
        return Some(wait);
    }
    if status != 429 {
        return None;
    }
    let reset = headers
        .get(RATE_LIMIT_RESET)?
        .to_str()
        .ok()?
        .trim()
        .parse::<i64>()
        .ok()?;
    let reset = DateTime::from_timestamp(reset, 0)?;
    Some((reset - now).to_std().unwrap_or(Duration::ZERO))
}

#[async_trait]
impl SentryApi for SentryClient {
    async fn list_issue_rules(
        &self,
        organization: &str,
        project: &str,
    ) -> Result<Vec<RemoteRule>, NotifyError> {
        let operation = format!("list issue rules of {organization}/{project}");
        self.list(&operation, &["projects", organization, project, "rules"])
            .await
    }

    async fn create_issue_rule(
        &self,
        organization: &str,
        project: &str,
        body: &Value,
    ) -> Result<RemoteRule, NotifyError> {
        let operation = format!("create issue rule in {organization}/{project}");
        self.write(
            &operation,
            Method::POST,
            &["projects", organization, project, "rules"],
            body,
        )
        .await
    }

    async fn update_issue_rule(
        &self,
        organization: &str,
        project: &str,
        rule_id: &str,
        body: &Value,
    ) -> Result<RemoteRule, NotifyError> {
        let operation = format!("update issue rule {rule_id} in {organization}/{project}");
        self.write(
            &operation,
            Method::PUT,
            &["projects", organization, project, "rules", rule_id],
            body,
        )
        .await
    }

    async fn delete_issue_rule(
        &self,
        organization: &str,
        project: &str,
        rule_id: &str,
    ) -> Result<(), NotifyError> {
        let operation = format!("delete issue rule {rule_id} in {organization}/{project}");
        self.delete(
            &operation,
            &["projects", organization, project, "rules", rule_id],
        )
        .await
    }

    async fn list_metric_rules(&self, organization: &str) -> Result<Vec<RemoteRule>, NotifyError> {
        let operation = format!("list metric rules of {organization}");
        self.list(&operation, &["organizations", organization, "alert-rules"])
            .await
    }

    async fn create_metric_rule(
        &self,
        organization: &str,
        body: &Value,
    ) -> Result<RemoteRule, NotifyError> {
        let operation = format!("create metric rule in {organization}");
        self.write(
            &operation,
            Method::POST,
            &["organizations", organization, "alert-rules"],
            body,
        )
        .await
    }

    async fn update_metric_rule(
        &self,
        organization: &str,
        rule_id: &str,
        body: &Value,
    ) -> Result<RemoteRule, NotifyError> {
        let operation = format!("update metric rule {rule_id} in {organization}");
        self.write(
            &operation,
            Method::PUT,
            &["organizations", organization, "alert-rules", rule_id],
            body,
        )
        .await
    }

    async fn delete_metric_rule(
        &self,
        organization: &str,
        rule_id: &str,
    ) -> Result<(), NotifyError> {
        let operation = format!("delete metric rule {rule_id} in {organization}");
        self.delete(
            &operation,
            &["organizations", organization, "alert-rules", rule_id],
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_cursor_follows_the_documented_link_header() {
        // From docs.sentry.io "Paginating Results".
        let link = r#"<https://sentry.io/api/0/organizations/acme/issues/123456/events/?&cursor=0:0:1>; rel="previous"; results="false"; cursor="0:0:1", <https://sentry.io/api/0/organizations/acme/issues/123456/events/?&cursor=0:100:0>; rel="next"; results="true"; cursor="0:100:0""#;
        assert_eq!(next_cursor(link).as_deref(), Some("0:100:0"));
        let last = link.replace(
            r#"rel="next"; results="true""#,
            r#"rel="next"; results="false""#,
        );
        assert_eq!(next_cursor(&last), None);
        // A comma inside the URL does not split a link.
        let comma = r#"<https://x/?q=a,b&cursor=1>; rel="next"; results="true"; cursor="1:1:0""#;
        assert_eq!(next_cursor(comma).as_deref(), Some("1:1:0"));
        for junk in [
            "",
            ",,,",
            "<",
            "\"",
            "rel=next",
            "<a>; rel=\"next\"; results=\"true\"",
        ] {
            assert_eq!(next_cursor(junk), None, "{junk}");
        }
    }

    #[test]
    fn error_messages_from_documented_bodies() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let headers = HeaderMap::new();
        let e = error_from_reply(401, &headers, br#"{"detail": "Invalid token"}"#, now);
        assert_eq!(e.message(), "Invalid token");
        let e = error_from_reply(
            400,
            &headers,
            br#"{"actions": ["You must add an action for this alert to fire."]}"#,
            now,
        );
        assert_eq!(
            e.message(),
            "actions: You must add an action for this alert to fire."
        );
        let e = error_from_reply(502, &headers, b"<html>Bad Gateway</html>", now);
        assert_eq!(e.message(), "<html>Bad Gateway</html>");
        let e = error_from_reply(503, &headers, b"", now);
        assert_eq!(e.message(), "Service Unavailable");
        let mut headers = HeaderMap::new();
        headers.insert(RATE_LIMIT_RESET, HeaderValue::from_static("42"));
        let e = error_from_reply(429, &headers, b"{}", now);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(42)));
    }
}
