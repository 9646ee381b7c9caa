//! The HTTP plumbing the receivers share: one reqwest client (rustls), a per-request
//! timeout, and failures turned into secret-free [`ApiError`]s.

use std::time::Duration;

use parky_core::{ApiError, ExposeSecret, SecretString, SecretUrl};
use serde::Serialize;
use url::Url;

use crate::error::NotifyError;

/// The per-request deadline unless a receiver is told otherwise.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Sent as `User-Agent` on every request.
pub(crate) const USER_AGENT: &str = concat!("parky-notify/", env!("CARGO_PKG_VERSION"));

/// How much of an unexpected response body is kept in an error message.
const BODY_EXCERPT_CHARS: usize = 200;

/// A response, read whole.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Reply {
    /// The first header called `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The `Retry-After` header resolved against `now`, if present and valid.
    pub(crate) fn retry_after(&self, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
        self.header("retry-after")
            .and_then(|v| parky_core::RetryAfter::parse(v).ok())
            .map(|r| r.wait_from(now))
    }
}

/// The client, shared by every request of one receiver.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    client: reqwest::Client,
    timeout: Duration,
}

impl Transport {
    pub(crate) fn new(receiver: &str) -> Result<Self, NotifyError> {
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .build()
            .map_err(|err| NotifyError::ReceiverSetup {
                receiver: receiver.to_owned(),
                reason: describe(&err.without_url()),
            })?;
        Ok(Self {
            client,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    pub(crate) fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// POST `body` as JSON to `url`, with an optional bearer token, and read the reply.
    /// `redact` removes the secrets of the URL from any error text.
    pub(crate) async fn post_json<T: Serialize + ?Sized>(
        &self,
        service: &'static str,
        url: Url,
        body: &T,
        bearer: Option<&SecretString>,
        redact: &(dyn Fn(&str) -> String + Sync),
    ) -> Result<Reply, ApiError> {
        let mut request = self.client.post(url).timeout(self.timeout).json(body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token.expose_secret());
        }
        let response = request
            .send()
            .await
            .map_err(|err| transport_error(service, err, redact))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                value
                    .to_str()
                    .ok()
                    .map(|v| (name.as_str().to_owned(), v.to_owned()))
            })
            .collect();
        let body = response
            .text()
            .await
            .map_err(|err| transport_error(service, err, redact))?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}

/// A reqwest failure as an [`ApiError`], without the URL and with secrets removed.
fn transport_error(
    service: &'static str,
    err: reqwest::Error,
    redact: &(dyn Fn(&str) -> String + Sync),
) -> ApiError {
    if err.is_timeout() {
        return ApiError::timeout(service);
    }
    ApiError::network(service, redact(&describe(&err.without_url())))
}

/// An error and its sources, joined with `: `.
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A short, redacted excerpt of a body for an error message.
pub(crate) fn excerpt(body: &str, redact: &(dyn Fn(&str) -> String + Sync)) -> String {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return "(empty body)".to_owned();
    }
    super::truncate_chars(&redact(trimmed), BODY_EXCERPT_CHARS)
}

/// The shortest path segment or query value treated as a credential on its own.
const MIN_SECRET_PART: usize = 8;

/// Remove a webhook URL from `text`: the URL and its path (see [`SecretUrl::redact`]), and
/// also every path segment and query value of at least 8 characters on its own, since a
/// service may echo the token without the rest of the path.
pub(crate) fn redact_url(url: &SecretUrl, text: &str) -> String {
    let text = url.redact(text);
    let exposed = url.expose_url();
    let mut parts: Vec<SecretString> = exposed
        .path_segments()
        .into_iter()
        .flatten()
        .filter(|segment| segment.len() >= MIN_SECRET_PART)
        .map(SecretString::from)
        .collect();
    parts.extend(
        exposed
            .query_pairs()
            .filter(|(_, value)| value.len() >= MIN_SECRET_PART)
            .map(|(_, value)| SecretString::from(value.into_owned())),
    );
    let refs: Vec<&SecretString> = parts.iter().collect();
    parky_core::redact(&text, &refs)
}
