//! `Retry-After` (RFC 9110 §10.2.3) and the fractional-seconds variant some JSON
//! APIs send.

use std::str::FromStr;
use std::time::{Duration, UNIX_EPOCH};

use chrono::{DateTime, Utc};

use crate::CoreError;

/// A server's request to wait before retrying.
///
/// RFC 9110 §10.2.3: `Retry-After = HTTP-date / delay-seconds`, where
/// `delay-seconds = 1*DIGIT`. [`RetryAfter::parse`] accepts exactly that grammar
/// (plus surrounding whitespace); garbage is a [`CoreError::InvalidRetryAfter`],
/// never silently "no wait". HTTP-dates are parsed by the `httpdate` crate, which
/// reads all three formats the RFC requires recipients to accept (IMF-fixdate,
/// RFC 850 and asctime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryAfter {
    /// `Retry-After: 120`: wait this long from when the response was received.
    Delay(Duration),
    /// `Retry-After: Fri, 31 Dec 1999 23:59:59 GMT`: wait until this instant.
    Date(DateTime<Utc>),
}

impl RetryAfter {
    /// Parse a `Retry-After` header value.
    ///
    /// Delta-seconds too large for a `u64` saturate at `u64::MAX` seconds (RFC 9111
    /// §1.2.2 asks recipients to treat overflowing delta-seconds as a very large
    /// value rather than as an error).
    ///
    /// # Errors
    /// [`CoreError::InvalidRetryAfter`] if the value is neither delta-seconds nor an
    /// HTTP-date (negative or fractional numbers included: use
    /// [`RetryAfter::from_secs_f64`] for APIs that send those in JSON).
    pub fn parse(value: &str) -> Result<Self, CoreError> {
        let trimmed = value.trim_matches(|c| c == ' ' || c == '\t');
        let invalid = || CoreError::InvalidRetryAfter {
            value: value.to_owned(),
        };
        if trimmed.is_empty() {
            return Err(invalid());
        }
        if trimmed.bytes().all(|b| b.is_ascii_digit()) {
            let secs = trimmed.parse::<u64>().unwrap_or(u64::MAX);
            return Ok(Self::Delay(Duration::from_secs(secs)));
        }
        let system_time = httpdate::parse_http_date(trimmed).map_err(|_| invalid())?;
        let since_epoch = system_time
            .duration_since(UNIX_EPOCH)
            .map_err(|_| invalid())?;
        let secs = i64::try_from(since_epoch.as_secs()).map_err(|_| invalid())?;
        let date =
            DateTime::from_timestamp(secs, since_epoch.subsec_nanos()).ok_or_else(invalid)?;
        Ok(Self::Date(date))
    }

    /// A delay given as fractional seconds, e.g. Discord's JSON body
    /// `{"retry_after": 64.57}`.
    ///
    /// # Errors
    /// [`CoreError::InvalidFractionalSeconds`] if `secs` is negative, NaN, infinite
    /// or too large for a [`Duration`].
    pub fn from_secs_f64(secs: f64) -> Result<Self, CoreError> {
        Duration::try_from_secs_f64(secs)
            .map(Self::Delay)
            .map_err(|_| CoreError::InvalidFractionalSeconds { value: secs })
    }

    /// How long to wait, counted from `now` (the time the response was received).
    ///
    /// A date at or before `now` means no wait ([`Duration::ZERO`]).
    #[must_use]
    pub fn wait_from(&self, now: DateTime<Utc>) -> Duration {
        match self {
            Self::Delay(delay) => *delay,
            Self::Date(date) => (*date - now).to_std().unwrap_or(Duration::ZERO),
        }
    }
}

impl FromStr for RetryAfter {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Parse a `Retry-After` header value and resolve it against `now`.
///
/// Shorthand for `RetryAfter::parse(value)?.wait_from(now)`.
///
/// # Errors
/// [`CoreError::InvalidRetryAfter`] on garbage; see [`RetryAfter::parse`].
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Result<Duration, CoreError> {
    Ok(RetryAfter::parse(value)?.wait_from(now))
}

/// Parse non-negative decimal seconds such as `"64"`, `"64.57"` or `"0.001"`
/// exactly (no floating point). Digits beyond nanoseconds are truncated.
pub(crate) fn parse_decimal_seconds(value: &str) -> Option<Duration> {
    let (whole, fraction) = match value.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (value, ""),
    };
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs = if whole.is_empty() {
        0
    } else {
        whole.parse::<u64>().ok()?
    };
    let mut nanos: u32 = 0;
    for (i, digit) in fraction.bytes().take(9).enumerate() {
        let place = 10u32.pow(8 - i as u32);
        nanos += u32::from(digit - b'0') * place;
    }
    Some(Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).single().unwrap()
    }

    #[test]
    fn rfc_9110_delay_example() {
        // RFC 9110 §10.2.3: "Retry-After: 120" -> two minutes.
        assert_eq!(
            RetryAfter::parse("120").unwrap(),
            RetryAfter::Delay(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after(" 120 ", utc(2024, 1, 1, 0, 0, 0)).unwrap(),
            Duration::from_secs(120)
        );
    }

    #[test]
    fn rfc_9110_date_example() {
        // RFC 9110 §10.2.3: "Retry-After: Fri, 31 Dec 1999 23:59:59 GMT".
        let parsed = RetryAfter::parse("Fri, 31 Dec 1999 23:59:59 GMT").unwrap();
        assert_eq!(parsed, RetryAfter::Date(utc(1999, 12, 31, 23, 59, 59)));
        // Received at 23:57:59 -> 2 minutes; 1999-12-31T22:59:59 -> 3600s.
        assert_eq!(
            parsed.wait_from(utc(1999, 12, 31, 23, 57, 59)),
            Duration::from_secs(120)
        );
        assert_eq!(
            parsed.wait_from(utc(1999, 12, 31, 22, 59, 59)),
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn date_in_the_past_means_no_wait() {
        let parsed = RetryAfter::parse("Fri, 31 Dec 1999 23:59:59 GMT").unwrap();
        assert_eq!(parsed.wait_from(utc(2024, 1, 1, 0, 0, 0)), Duration::ZERO);
        assert_eq!(
            parsed.wait_from(utc(1999, 12, 31, 23, 59, 59)),
            Duration::ZERO
        );
    }

    #[test]
    fn obsolete_date_formats_are_accepted() {
        // RFC 9110 §5.6.7: recipients accept RFC 850 and asctime dates too.
        let expected = RetryAfter::Date(utc(1994, 11, 6, 8, 49, 37));
        assert_eq!(
            RetryAfter::parse("Sunday, 06-Nov-94 08:49:37 GMT").unwrap(),
            expected
        );
        assert_eq!(
            RetryAfter::parse("Sun Nov  6 08:49:37 1994").unwrap(),
            expected
        );
    }

    #[test]
    fn garbage_is_a_typed_error() {
        for value in [
            "",
            "  ",
            "soon",
            "-5",
            "+5",
            "1.5",
            "1e3",
            "12 s",
            "Fri, 32 Dec 1999 23:59:59 GMT",
        ] {
            let err = RetryAfter::parse(value).unwrap_err();
            assert!(
                matches!(&err, CoreError::InvalidRetryAfter { value: v } if v == value),
                "{value:?} gave {err:?}"
            );
        }
    }

    #[test]
    fn overflowing_delay_saturates() {
        assert_eq!(
            RetryAfter::parse("99999999999999999999999").unwrap(),
            RetryAfter::Delay(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn fractional_seconds() {
        // Discord: {"retry_after": 64.57} -> 64s 570ms (within f64 rounding, so
        // compare at millisecond precision).
        let RetryAfter::Delay(delay) = RetryAfter::from_secs_f64(64.57).unwrap() else {
            panic!("expected a delay");
        };
        assert_eq!(delay.as_millis(), 64_570);
        assert_eq!(
            RetryAfter::from_secs_f64(0.5).unwrap(),
            RetryAfter::Delay(Duration::from_millis(500))
        );
        for bad in [-1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e30] {
            assert!(matches!(
                RetryAfter::from_secs_f64(bad),
                Err(CoreError::InvalidFractionalSeconds { .. })
            ));
        }
    }

    #[test]
    fn decimal_seconds_are_exact() {
        assert_eq!(
            parse_decimal_seconds("64.57"),
            Some(Duration::new(64, 570_000_000))
        );
        assert_eq!(parse_decimal_seconds("1"), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_decimal_seconds(".5"),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_decimal_seconds("2."), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_decimal_seconds("0.1234567899"),
            Some(Duration::from_nanos(123_456_789))
        );
        for bad in ["", ".", "-1", "1.2.3", "a", "1e3", "99999999999999999999"] {
            assert_eq!(parse_decimal_seconds(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(value in ".*") {
            let _ = RetryAfter::parse(&value);
            let _ = parse_decimal_seconds(&value);
        }

        #[test]
        fn delta_seconds_round_trip(secs in any::<u64>()) {
            prop_assert_eq!(
                RetryAfter::parse(&secs.to_string()).unwrap(),
                RetryAfter::Delay(Duration::from_secs(secs))
            );
        }

        #[test]
        fn http_dates_round_trip(secs in 0u64..253_402_300_799) {
            // httpdate's own formatter produces IMF-fixdate; years 1970..=9999.
            let time = UNIX_EPOCH + Duration::from_secs(secs);
            let header = httpdate::fmt_http_date(time);
            let parsed = RetryAfter::parse(&header).unwrap();
            let epoch = DateTime::<Utc>::UNIX_EPOCH;
            prop_assert_eq!(parsed.wait_from(epoch), Duration::from_secs(secs));
        }
    }
}
