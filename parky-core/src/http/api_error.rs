//! Typed errors from HTTP APIs (Cloudflare, Discord, GitHub, Slack, …).

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;

use crate::policy::Retryable;
use crate::secret::redact;

/// The service's own error code, next to the HTTP status.
///
/// Cloudflare (`"errors": [{"code": 10000, …}]`) and Discord (`{"code": 50035, …}`)
/// use numbers; Slack (`{"ok": false, "error": "channel_not_found"}`) uses strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServiceErrorCode {
    /// A numeric code.
    Numeric(i64),
    /// A textual code.
    Text(String),
}

impl fmt::Display for ServiceErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Numeric(code) => write!(f, "{code}"),
            Self::Text(code) => f.write_str(code),
        }
    }
}

impl From<i64> for ServiceErrorCode {
    fn from(code: i64) -> Self {
        Self::Numeric(code)
    }
}

impl From<&str> for ServiceErrorCode {
    fn from(code: &str) -> Self {
        Self::Text(code.to_owned())
    }
}

impl From<String> for ServiceErrorCode {
    fn from(code: String) -> Self {
        Self::Text(code)
    }
}

/// What went wrong talking to an HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiErrorKind {
    /// The service answered with an error status.
    Status {
        /// The HTTP status code.
        status: u16,
        /// The service's own error code, if its body carried one.
        code: Option<ServiceErrorCode>,
        /// The service's error message (or a short description of the body).
        message: String,
    },
    /// No complete response within the deadline.
    Timeout,
    /// The request never got an HTTP response (DNS, connect, TLS, reset).
    Network {
        /// A description of the failure; pass it through [`ApiError::redacted`] or
        /// [`crate::redact`] first if it may contain a secret URL.
        message: String,
    },
}

/// An error from an HTTP API, with the context needed to act on it.
///
/// # Retryability
/// [`ApiError::is_retryable`] is `true` for timeouts, network failures and the
/// statuses where the same request can succeed later:
/// 408 Request Timeout, 425 Too Early, 429 Too Many Requests, 500 Internal Server
/// Error, 502 Bad Gateway, 503 Service Unavailable and 504 Gateway Timeout.
/// Every other status is permanent: other 4xx mean the request itself is wrong
/// (auth, validation, not found) and repeating it cannot help; other 5xx (501 Not
/// Implemented, 505 HTTP Version Not Supported, …) describe a lasting server
/// property. 1xx–3xx statuses are not errors callers should retry either.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ApiError {
    service: String,
    kind: ApiErrorKind,
    retry_after: Option<Duration>,
}

impl ApiError {
    /// `service` answered with HTTP `status` and `message`.
    #[must_use]
    pub fn status(service: impl Into<String>, status: u16, message: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            kind: ApiErrorKind::Status {
                status,
                code: None,
                message: message.into(),
            },
            retry_after: None,
        }
    }

    /// A request to `service` timed out.
    #[must_use]
    pub fn timeout(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            kind: ApiErrorKind::Timeout,
            retry_after: None,
        }
    }

    /// A request to `service` failed before any HTTP response arrived.
    #[must_use]
    pub fn network(service: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            kind: ApiErrorKind::Network {
                message: message.into(),
            },
            retry_after: None,
        }
    }

    /// Attach the service's own error code (ignored for timeouts and network
    /// failures, which have none).
    #[must_use]
    pub fn with_code(mut self, code: impl Into<ServiceErrorCode>) -> Self {
        if let ApiErrorKind::Status { code: slot, .. } = &mut self.kind {
            *slot = Some(code.into());
        }
        self
    }

    /// Attach the server's requested wait (already resolved against "now").
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// Remove every value of `secrets` from the message (see [`crate::redact`]).
    #[must_use]
    pub fn redacted(mut self, secrets: &[&SecretString]) -> Self {
        match &mut self.kind {
            ApiErrorKind::Status { message, .. } | ApiErrorKind::Network { message } => {
                *message = redact(message, secrets);
            }
            ApiErrorKind::Timeout => {}
        }
        self
    }

    /// The service's name, e.g. `"discord"`.
    #[must_use]
    pub fn service(&self) -> &str {
        &self.service
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> &ApiErrorKind {
        &self.kind
    }

    /// The HTTP status, if a response arrived.
    #[must_use]
    pub fn http_status(&self) -> Option<u16> {
        match &self.kind {
            ApiErrorKind::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The service's own error code, if any.
    #[must_use]
    pub fn code(&self) -> Option<&ServiceErrorCode> {
        match &self.kind {
            ApiErrorKind::Status { code, .. } => code.as_ref(),
            _ => None,
        }
    }

    /// The message (empty for timeouts).
    #[must_use]
    pub fn message(&self) -> &str {
        match &self.kind {
            ApiErrorKind::Status { message, .. } | ApiErrorKind::Network { message } => message,
            ApiErrorKind::Timeout => "",
        }
    }

    /// The server's requested wait, if any.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Whether the same request can succeed later; see the type's docs for the rule.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match &self.kind {
            ApiErrorKind::Status { status, .. } => is_retryable_status(*status),
            ApiErrorKind::Timeout | ApiErrorKind::Network { .. } => true,
        }
    }
}

/// Whether an HTTP status is worth retrying: 408, 425, 429, 500, 502, 503, 504.
#[must_use]
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 425 | 429 | 500 | 502 | 503 | 504)
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ApiErrorKind::Status {
                status,
                code,
                message,
            } => {
                write!(f, "{} API error: HTTP {status}", self.service)?;
                if let Some(code) = code {
                    write!(f, " (code {code})")?;
                }
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
            }
            ApiErrorKind::Timeout => write!(f, "{} API request timed out", self.service)?,
            ApiErrorKind::Network { message } => {
                write!(f, "{} API request failed: {message}", self.service)?;
            }
        }
        if let Some(retry_after) = self.retry_after {
            write!(f, " (retry after {}s)", retry_after.as_secs_f64())?;
        }
        Ok(())
    }
}

impl Retryable for ApiError {
    fn is_retryable(&self) -> bool {
        ApiError::is_retryable(self)
    }

    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn retryable_statuses() {
        for status in [408, 425, 429, 500, 502, 503, 504] {
            assert!(
                ApiError::status("svc", status, "").is_retryable(),
                "{status}"
            );
        }
        for status in [200, 301, 400, 401, 403, 404, 409, 422, 501, 505, 0, 999] {
            assert!(
                !ApiError::status("svc", status, "").is_retryable(),
                "{status}"
            );
        }
        assert!(ApiError::timeout("svc").is_retryable());
        assert!(ApiError::network("svc", "connection reset").is_retryable());
    }

    #[test]
    fn cloudflare_style_error_display() {
        // Cloudflare: {"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}
        let err = ApiError::status("cloudflare", 403, "Authentication error").with_code(10000);
        assert_eq!(
            err.to_string(),
            "cloudflare API error: HTTP 403 (code 10000): Authentication error"
        );
        assert_eq!(err.http_status(), Some(403));
        assert_eq!(err.code(), Some(&ServiceErrorCode::Numeric(10000)));
        assert!(!err.is_retryable());
    }

    #[test]
    fn discord_rate_limit_display() {
        // Discord 429: {"message": "You are being rate limited.", "retry_after": 64.57, "global": false}
        let err = ApiError::status("discord", 429, "You are being rate limited.")
            .with_retry_after(Some(Duration::from_millis(64_570)));
        assert_eq!(
            err.to_string(),
            "discord API error: HTTP 429: You are being rate limited. (retry after 64.57s)"
        );
        assert!(Retryable::is_retryable(&err));
        assert_eq!(
            Retryable::retry_after(&err),
            Some(Duration::from_millis(64_570))
        );
    }

    #[test]
    fn slack_text_code_and_timeouts() {
        let err = ApiError::status("slack", 404, "").with_code("channel_not_found");
        assert_eq!(
            err.to_string(),
            "slack API error: HTTP 404 (code channel_not_found)"
        );
        let timeout = ApiError::timeout("github").with_code(5);
        assert_eq!(timeout.code(), None);
        assert_eq!(timeout.to_string(), "github API request timed out");
        assert_eq!(timeout.message(), "");
    }

    #[test]
    fn redacted_network_message_hides_the_token() {
        let token = SecretString::from("s3cr3t-T0KEN");
        let err = ApiError::network(
            "discord",
            format!(
                "error sending request for url (https://discord.com/api/webhooks/1/{})",
                token.expose_secret()
            ),
        )
        .redacted(&[&token]);
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("s3cr3t-T0KEN"), "{shown}");
        assert!(shown.contains("[REDACTED]"));
    }
}
