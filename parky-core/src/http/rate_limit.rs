//! Rate-limit awareness from the common response headers.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::retry_after::{parse_decimal_seconds, RetryAfter};
use crate::CoreError;

/// What a response's rate-limit headers say.
///
/// Read by [`RateLimit::from_headers`] from:
///
/// | header | meaning | sent by |
/// |---|---|---|
/// | `x-ratelimit-limit` | requests allowed per window | GitHub, Discord |
/// | `x-ratelimit-remaining` | requests left in the window | GitHub, Discord |
/// | `x-ratelimit-reset` | when the window resets, Unix seconds (integer, or fractional for Discord) | GitHub, Discord |
/// | `x-ratelimit-reset-after` | seconds until the window resets, fractional | Discord |
/// | `retry-after` | RFC 9110 §10.2.3 | everyone on 429 / 503 |
///
/// Header names match case-insensitively; other headers are ignored; when a header
/// repeats, the last value wins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// `x-ratelimit-limit`.
    pub limit: Option<u64>,
    /// `x-ratelimit-remaining`.
    pub remaining: Option<u64>,
    /// `x-ratelimit-reset`, as an instant.
    pub reset_at: Option<DateTime<Utc>>,
    /// `x-ratelimit-reset-after`.
    pub reset_after: Option<Duration>,
    /// `retry-after`.
    pub retry_after: Option<RetryAfter>,
}

impl RateLimit {
    /// Parse the rate-limit headers out of `(name, value)` pairs.
    ///
    /// # Errors
    /// [`CoreError::InvalidRateLimitHeader`] naming the header when a recognised
    /// header's value does not parse (a Retry-After value that does not parse is
    /// reported the same way, under the name `retry-after`).
    pub fn from_headers<I, N, V>(headers: I) -> Result<Self, CoreError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let mut parsed = Self::default();
        for (name, value) in headers {
            let name = name.as_ref().trim();
            let value = value.as_ref().trim();
            let invalid = |name: &'static str| CoreError::InvalidRateLimitHeader {
                name,
                value: value.to_owned(),
            };
            if name.eq_ignore_ascii_case(LIMIT) {
                parsed.limit = Some(value.parse().map_err(|_| invalid(LIMIT))?);
            } else if name.eq_ignore_ascii_case(REMAINING) {
                parsed.remaining = Some(value.parse().map_err(|_| invalid(REMAINING))?);
            } else if name.eq_ignore_ascii_case(RESET) {
                parsed.reset_at = Some(parse_unix_seconds(value).ok_or_else(|| invalid(RESET))?);
            } else if name.eq_ignore_ascii_case(RESET_AFTER) {
                parsed.reset_after =
                    Some(parse_decimal_seconds(value).ok_or_else(|| invalid(RESET_AFTER))?);
            } else if name.eq_ignore_ascii_case(RETRY_AFTER) {
                parsed.retry_after =
                    Some(RetryAfter::parse(value).map_err(|_| invalid(RETRY_AFTER))?);
            }
        }
        Ok(parsed)
    }

    /// Whether the window has no requests left (`x-ratelimit-remaining: 0`).
    #[must_use]
    pub fn is_exhausted(&self) -> bool {
        self.remaining == Some(0)
    }

    /// How long to wait before the next request, counted from `now`, or `None` if
    /// the headers do not call for waiting.
    ///
    /// `retry-after` wins when present. Otherwise, only when the window is
    /// exhausted: `x-ratelimit-reset-after` if present (it does not depend on clock
    /// skew), else the time until `x-ratelimit-reset` (zero if it has passed).
    #[must_use]
    pub fn wait(&self, now: DateTime<Utc>) -> Option<Duration> {
        if let Some(retry_after) = self.retry_after {
            return Some(retry_after.wait_from(now));
        }
        if !self.is_exhausted() {
            return None;
        }
        if let Some(reset_after) = self.reset_after {
            return Some(reset_after);
        }
        self.reset_at
            .map(|reset_at| (reset_at - now).to_std().unwrap_or(Duration::ZERO))
    }
}

const LIMIT: &str = "x-ratelimit-limit";
const REMAINING: &str = "x-ratelimit-remaining";
const RESET: &str = "x-ratelimit-reset";
const RESET_AFTER: &str = "x-ratelimit-reset-after";
const RETRY_AFTER: &str = "retry-after";

fn parse_unix_seconds(value: &str) -> Option<DateTime<Utc>> {
    let since_epoch = parse_decimal_seconds(value)?;
    let secs = i64::try_from(since_epoch.as_secs()).ok()?;
    DateTime::from_timestamp(secs, since_epoch.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    #[test]
    fn github_headers() {
        // GitHub REST docs example: x-ratelimit-limit 5000, remaining 4999,
        // reset 1372700873 (= 2013-07-01T17:47:53Z).
        let headers = [
            ("X-RateLimit-Limit", "5000"),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Used", "5000"),
            ("X-RateLimit-Reset", "1372700873"),
            ("Content-Type", "application/json"),
        ];
        let limit = RateLimit::from_headers(headers).unwrap();
        let reset = Utc
            .with_ymd_and_hms(2013, 7, 1, 17, 47, 53)
            .single()
            .unwrap();
        assert_eq!(
            limit,
            RateLimit {
                limit: Some(5000),
                remaining: Some(0),
                reset_at: Some(reset),
                reset_after: None,
                retry_after: None,
            }
        );
        assert!(limit.is_exhausted());
        // 17:47:53 - 17:46:23 = 90s.
        let now = Utc
            .with_ymd_and_hms(2013, 7, 1, 17, 46, 23)
            .single()
            .unwrap();
        assert_eq!(limit.wait(now), Some(Duration::from_secs(90)));
        // After the reset: no wait.
        let later = Utc.with_ymd_and_hms(2013, 7, 1, 18, 0, 0).single().unwrap();
        assert_eq!(limit.wait(later), Some(Duration::ZERO));
    }

    #[test]
    fn discord_headers() {
        // Discord docs example: limit 5, remaining 0, reset 1470173023.123,
        // reset-after 64.57.
        let headers = [
            ("x-ratelimit-limit".to_owned(), "5".to_owned()),
            ("x-ratelimit-remaining".to_owned(), "0".to_owned()),
            ("x-ratelimit-reset".to_owned(), "1470173023.123".to_owned()),
            ("x-ratelimit-reset-after".to_owned(), "64.57".to_owned()),
            ("x-ratelimit-bucket".to_owned(), "abcd1234".to_owned()),
        ];
        let limit = RateLimit::from_headers(headers.iter().map(|(n, v)| (n, v))).unwrap();
        assert_eq!(
            limit.reset_at,
            DateTime::from_timestamp(1_470_173_023, 123_000_000)
        );
        assert_eq!(limit.reset_after, Some(Duration::new(64, 570_000_000)));
        // reset-after wins over reset when both are present.
        assert_eq!(
            limit.wait(DateTime::<Utc>::UNIX_EPOCH),
            Some(Duration::new(64, 570_000_000))
        );
    }

    #[test]
    fn retry_after_wins_and_remaining_requests_mean_no_wait() {
        let limit = RateLimit::from_headers([
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset-after", "10"),
            ("Retry-After", "120"),
        ])
        .unwrap();
        assert_eq!(
            limit.wait(DateTime::<Utc>::UNIX_EPOCH),
            Some(Duration::from_secs(120))
        );

        let limit = RateLimit::from_headers([
            ("x-ratelimit-remaining", "12"),
            ("x-ratelimit-reset-after", "10"),
        ])
        .unwrap();
        assert!(!limit.is_exhausted());
        assert_eq!(limit.wait(DateTime::<Utc>::UNIX_EPOCH), None);
        assert_eq!(
            RateLimit::from_headers(Vec::<(&str, &str)>::new()).unwrap(),
            RateLimit::default()
        );
    }

    #[test]
    fn bad_values_name_the_header() {
        let cases = [
            ("x-ratelimit-remaining", "-1", "x-ratelimit-remaining"),
            ("X-RATELIMIT-LIMIT", "lots", "x-ratelimit-limit"),
            ("x-ratelimit-reset", "tomorrow", "x-ratelimit-reset"),
            ("x-ratelimit-reset-after", "1,5", "x-ratelimit-reset-after"),
            ("retry-after", "later", "retry-after"),
        ];
        for (header, value, expected) in cases {
            let err = RateLimit::from_headers([(header, value)]).unwrap_err();
            assert!(
                matches!(&err, CoreError::InvalidRateLimitHeader { name, value: v } if *name == expected && v == value),
                "{err:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn never_panics(name in "(?i)(x-ratelimit-(limit|remaining|reset|reset-after)|retry-after|other)", value in ".*") {
            if let Ok(limit) = RateLimit::from_headers([(name, value)]) {
                let _ = limit.wait(DateTime::<Utc>::UNIX_EPOCH);
                let _ = limit.wait(DateTime::<Utc>::MAX_UTC);
                let _ = limit.wait(DateTime::<Utc>::MIN_UTC);
            }
        }
    }
}
