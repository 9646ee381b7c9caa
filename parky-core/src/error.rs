//! The crate's single error type, [`CoreError`].

use std::time::Duration;

use crate::http::ApiError;
use crate::policy::Retryable;

/// Every error `parky-core` returns.
///
/// Variants carry the context needed to act on them (the offending field, header
/// name or value). No variant ever carries a secret: [`CoreError::InvalidSecretUrl`]
/// deliberately holds only the *kind* of problem, never the URL that was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A backoff was configured with a base delay larger than its cap.
    #[error("invalid backoff: base delay {base:?} is larger than the cap {cap:?}")]
    BackoffBaseAboveCap {
        /// The configured base delay.
        base: Duration,
        /// The configured cap.
        cap: Duration,
    },

    /// A retry policy field has a value that cannot work.
    #[error("invalid retry policy: `{field}` {reason}")]
    InvalidRetryPolicy {
        /// The name of the offending field.
        field: &'static str,
        /// Why the value is rejected.
        reason: &'static str,
    },

    /// A `Retry-After` header value is neither delta-seconds nor an HTTP-date
    /// (RFC 9110 §10.2.3).
    #[error("invalid Retry-After value {value:?}: expected delta-seconds or an HTTP-date")]
    InvalidRetryAfter {
        /// The value as received (Retry-After values are not secret).
        value: String,
    },

    /// A fractional number of seconds (e.g. Discord's JSON `retry_after`) is
    /// negative, not finite, or too large for a [`Duration`].
    #[error("invalid fractional seconds {value}: expected a finite, non-negative number")]
    InvalidFractionalSeconds {
        /// The rejected number.
        value: f64,
    },

    /// A rate-limit header has a value that does not parse.
    #[error("invalid value {value:?} for rate-limit header `{name}`")]
    InvalidRateLimitHeader {
        /// The header name, lower-case.
        name: &'static str,
        /// The value as received (rate-limit values are not secret).
        value: String,
    },

    /// A secret URL could not be parsed or is not usable as a webhook URL.
    ///
    /// The URL itself is never included: it carries a token.
    #[error("invalid secret URL: {reason}")]
    InvalidSecretUrl {
        /// What is wrong with the URL, without the URL.
        reason: SecretUrlError,
    },

    /// An HTTP API answered with an error, or could not be reached.
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// Why a [`crate::SecretUrl`] was rejected. Never contains any part of the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretUrlError {
    /// The `url` crate could not parse the text. Its error messages describe the
    /// problem ("relative URL without a base", "invalid port number") and do not
    /// echo the input.
    #[error("{0}")]
    Parse(#[from] url::ParseError),
    /// The scheme is neither `https` nor `http`.
    #[error("the scheme must be https or http")]
    UnsupportedScheme,
    /// The URL has no host.
    #[error("the URL has no host")]
    MissingHost,
}

impl CoreError {
    /// Whether retrying the failed operation can help.
    ///
    /// Only [`CoreError::Api`] can be retryable (see [`ApiError::is_retryable`]);
    /// configuration and parse errors never are.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api(api) => api.is_retryable(),
            _ => false,
        }
    }
}

impl Retryable for CoreError {
    fn is_retryable(&self) -> bool {
        CoreError::is_retryable(self)
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api(api) => api.retry_after(),
            _ => None,
        }
    }
}
