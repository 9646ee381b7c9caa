//! HTTP plumbing without an HTTP client: typed API errors, `Retry-After`, rate-limit
//! and `Link` headers. Everything here is pure, so any client (reqwest, a
//! Cloudflare Worker's `fetch`, a test double) can feed it.

mod api_error;
mod link;
mod rate_limit;
mod retry_after;

pub use api_error::{is_retryable_status, ApiError, ApiErrorKind, ServiceErrorCode};
pub use link::{link_values, next_link, LinkValue};
pub use rate_limit::RateLimit;
pub use retry_after::{parse_retry_after, RetryAfter};
