//! A hand-written byte parser for Apache/Nginx *combined* access log lines.
//!
//! The format is Apache's `LogFormat "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\""`
//! (the same as Nginx's predefined `combined`), optionally followed by Nginx's
//! `$request_time` (seconds with millisecond precision, e.g. `0.123`):
//!
//! ```text
//! 198.18.0.2 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 203023 "-" "Mozilla/5.0" 0.123
//! ```
//!
//! # Why not a regular expression
//!
//! Throughput. An SLO report over a month of logs reads gigabytes; a regex with capture groups
//! walks every byte through an automaton and materialises eight captures per line, of which
//! we need three. This parser jumps between delimiters with `memchr` (SIMD), never looks at
//! the bytes of the request, referer or user agent except to find the closing quote, never
//! allocates, and works on raw bytes, so non-UTF-8 bytes anywhere in a line cost nothing and
//! cannot panic. The calendar math for the timestamp is done once per distinct date (see
//! [`CombinedParser`]), not once per line.
//!
//! # What is accepted
//!
//! - The *common* log format (the line ends after `%b`) is accepted as a subset; the referer
//!   and user agent, when present, must both be there.
//! - Quoted fields may contain `\"` and `\\` escapes (as Apache writes them); the request may
//!   be `"-"`.
//! - After the user agent, more quoted fields are skipped (Nginx's sample `main` format adds
//!   `"$http_x_forwarded_for"`), and one last unquoted field, when present, must be the
//!   request time in seconds (`0.123`) or `-`.
//! - A user agent (or later quoted field) missing its closing quote at the end of the line is
//!   accepted: it is not used, and the timestamp and status before it are intact.
//! - The status must be three ASCII digits; the size `-` or digits.
//! - Trailing whitespace (including the `\r` of CRLF files) is the caller's business: pass
//!   the line without its terminator; [`CombinedParser::parse_line`] trims trailing ASCII
//!   whitespace itself as well.

use memchr::{memchr, memchr2};

/// What the SLI sources need from one combined log line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CombinedLine {
    /// The request time (`%t`), in milliseconds since the Unix epoch, UTC.
    pub timestamp_ms: i64,
    /// The final status (`%>s`).
    pub status: u16,
    /// The response size in bytes (`%b`); `None` for `-`.
    pub bytes: Option<u64>,
    /// Nginx's `$request_time` in seconds, when the line ends with it.
    pub latency_seconds: Option<f64>,
}

/// Parses combined log lines, caching the calendar math of the last date seen.
///
/// Consecutive lines of an access log almost always share the date part of their timestamp
/// (`17/May/2015`), so the parser remembers those 11 bytes and the day number they map to;
/// a line on the same date costs a 11-byte comparison instead of a calendar computation.
/// Keep one parser per input and feed it the lines in order.
#[derive(Debug, Clone, Default)]
pub struct CombinedParser {
    cached_date: [u8; 11],
    cached_days: Option<i64>,
}

impl CombinedParser {
    /// A parser with an empty date cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses one line (without its line terminator).
    ///
    /// # Errors
    ///
    /// A short, static reason when the line is not a combined (or common) log line.
    pub fn parse_line(&mut self, line: &[u8]) -> Result<CombinedLine, &'static str> {
        let line = trim_end(line);
        let open = memchr(b'[', line).ok_or("no `[` before the timestamp")?;
        if open == 0 || line[open - 1] != b' ' {
            return Err("no host, identity and user before the timestamp");
        }
        let rest = &line[open + 1..];
        let close = memchr(b']', rest).ok_or("no `]` after the timestamp")?;
        let timestamp_ms = self.parse_timestamp(&rest[..close])?;

        let rest = rest[close + 1..]
            .strip_prefix(b" \"")
            .ok_or("no quoted request after the timestamp")?;
        let end = closing_quote(rest).ok_or("the request has no closing quote")?;
        let rest = rest[end + 1..]
            .strip_prefix(b" ")
            .ok_or("no status after the request")?;

        let status = match rest.get(..3) {
            Some(&[a, b, c]) if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
                u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
            }
            _ => return Err("the status is not three digits"),
        };
        let rest = rest[3..]
            .strip_prefix(b" ")
            .ok_or("no size after the status")?;

        let size_end = memchr(b' ', rest).unwrap_or(rest.len());
        let bytes = match &rest[..size_end] {
            b"-" => None,
            digits => Some(parse_u64(digits).ok_or("the size is neither `-` nor a number")?),
        };
        let mut rest = &rest[size_end..];

        // Common log format ends here.
        if rest.is_empty() {
            return Ok(CombinedLine {
                timestamp_ms,
                status,
                bytes,
                latency_seconds: None,
            });
        }

        let mut quoted = 0_usize;
        while let Some(field) = rest.strip_prefix(b" \"") {
            match closing_quote(field) {
                Some(end) => rest = &field[end + 1..],
                // A user agent cut short at the end of the line (one line of the real 2015
                // sample ends `"Mozilla/5.0 (compatible; Googlebot/2.1; +http://…bot.html`):
                // the fields an SLI needs are intact, so the rest of the line is the field.
                None if quoted >= 1 => rest = b"",
                None => return Err("the referer has no closing quote"),
            }
            quoted += 1;
        }
        if quoted < 2 {
            return Err("no quoted referer and user agent after the size");
        }

        let latency_seconds = if rest.is_empty() {
            None
        } else {
            let token = rest
                .strip_prefix(b" ")
                .ok_or("no space after the user agent")?;
            match token {
                b"-" => None,
                number => Some(
                    parse_seconds(number)
                        .ok_or("the field after the user agent is not a request time in seconds")?,
                ),
            }
        };

        Ok(CombinedLine {
            timestamp_ms,
            status,
            bytes,
            latency_seconds,
        })
    }

    /// Parses the inside of `[17/May/2015:10:05:03 +0000]` to milliseconds since the epoch,
    /// honouring the offset (`+0200` means the local time is two hours ahead of UTC).
    ///
    /// # Errors
    ///
    /// A short reason when the bytes are not `dd/Mon/yyyy:HH:MM:SS ±hhmm` or name an
    /// impossible date or time.
    pub fn parse_timestamp(&mut self, ts: &[u8]) -> Result<i64, &'static str> {
        const SHAPE: &str = "the timestamp is not `dd/Mon/yyyy:HH:MM:SS +hhmm`";
        let [d1, d2, b'/', m1, m2, m3, b'/', y1, y2, y3, y4, b':', h1, h2, b':', n1, n2, b':', s1, s2, b' ', sign, oh1, oh2, om1, om2] =
            *ts
        else {
            return Err(SHAPE);
        };
        let date = [d1, d2, b'/', m1, m2, m3, b'/', y1, y2, y3, y4];
        let days = match self.cached_days {
            Some(days) if self.cached_date == date => days,
            _ => {
                let day = two_digits(d1, d2).ok_or(SHAPE)?;
                let month = month_number([m1, m2, m3]).ok_or("unknown month name")?;
                let year = i64::from(two_digits(y1, y2).ok_or(SHAPE)?) * 100
                    + i64::from(two_digits(y3, y4).ok_or(SHAPE)?);
                if day == 0 || day > days_in_month(year, month) {
                    return Err("no such day in that month");
                }
                let days = days_from_civil(year, month, day);
                self.cached_date = date;
                self.cached_days = Some(days);
                days
            }
        };
        let hour = two_digits(h1, h2).ok_or(SHAPE)?;
        let minute = two_digits(n1, n2).ok_or(SHAPE)?;
        let second = two_digits(s1, s2).ok_or(SHAPE)?;
        let offset_hours = two_digits(oh1, oh2).ok_or(SHAPE)?;
        let offset_minutes = two_digits(om1, om2).ok_or(SHAPE)?;
        if hour > 23 || minute > 59 || second > 59 || offset_hours > 23 || offset_minutes > 59 {
            return Err("the time or offset is out of range");
        }
        let offset = i64::from(offset_hours * 3600 + offset_minutes * 60);
        let offset = match sign {
            b'+' => offset,
            b'-' => -offset,
            _ => return Err(SHAPE),
        };
        let local_seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
        // Local time = UTC + offset, so UTC = local time - offset. The year has 4 digits, so
        // the values stay far from i64's limits.
        Ok((local_seconds - offset) * 1000)
    }
}

/// Removes trailing ASCII whitespace (spaces, tabs, `\r`, `\n`).
pub(crate) fn trim_end(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && line[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    &line[..end]
}

/// The index of the closing `"` of a quoted field whose opening quote was already consumed,
/// skipping backslash escapes (`\"`, `\\`).
fn closing_quote(field: &[u8]) -> Option<usize> {
    let mut from = 0;
    loop {
        let at = from + memchr2(b'"', b'\\', field.get(from..)?)?;
        if field[at] == b'"' {
            return Some(at);
        }
        // A backslash: the next byte is escaped, whatever it is.
        from = at + 2;
    }
}

fn two_digits(a: u8, b: u8) -> Option<u32> {
    if a.is_ascii_digit() && b.is_ascii_digit() {
        Some(u32::from(a - b'0') * 10 + u32::from(b - b'0'))
    } else {
        None
    }
}

fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0_u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Parses `0.123`-style seconds: digits with at most one dot, at least one digit.
fn parse_seconds(token: &[u8]) -> Option<f64> {
    let mut dots = 0;
    let mut digits = 0;
    for &b in token {
        match b {
            b'0'..=b'9' => digits += 1,
            b'.' => dots += 1,
            _ => return None,
        }
    }
    if digits == 0 || dots > 1 {
        return None;
    }
    // Only ASCII digits and a dot: valid UTF-8 and a valid float literal.
    std::str::from_utf8(token).ok()?.parse().ok()
}

fn month_number(name: [u8; 3]) -> Option<u32> {
    Some(match &name {
        b"Jan" => 1,
        b"Feb" => 2,
        b"Mar" => 3,
        b"Apr" => 4,
        b"May" => 5,
        b"Jun" => 6,
        b"Jul" => 7,
        b"Aug" => 8,
        b"Sep" => 9,
        b"Oct" => 10,
        b"Nov" => 11,
        b"Dec" => 12,
        _ => return None,
    })
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap_year(year) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
/// `month` is 1..=12 and `day` 1..=31 (checked by the caller).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, NaiveDate};
    use proptest::prelude::*;

    #[test]
    fn parses_an_apache_line() {
        let line = br#"198.18.0.2 - - [17/May/2015:10:05:03 +0000] "GET /a.png HTTP/1.1" 200 203023 "http://x/" "Mozilla/5.0""#;
        let parsed = CombinedParser::new().parse_line(line).unwrap();
        // `date -u -d '2015-05-17 10:05:03' +%s` = 1431857103
        assert_eq!(parsed.timestamp_ms, 1_431_857_103_000);
        assert_eq!(parsed.status, 200);
        assert_eq!(parsed.bytes, Some(203_023));
        assert_eq!(parsed.latency_seconds, None);
    }

    #[test]
    fn escaped_backslash_before_the_closing_quote() {
        // The request ends with an escaped backslash: `\\` then the real closing quote.
        let line = br#"h - - [01/Jan/2020:00:00:00 +0000] "GET /a\\" 404 - "-" "ua""#;
        let parsed = CombinedParser::new().parse_line(line).unwrap();
        assert_eq!(parsed.status, 404);
        assert_eq!(parsed.bytes, None);
    }

    #[test]
    fn date_cache_is_refreshed_when_the_date_changes() {
        let mut parser = CombinedParser::new();
        let a = parser
            .parse_timestamp(b"31/Dec/2019:23:59:59 +0000")
            .unwrap();
        let b = parser
            .parse_timestamp(b"01/Jan/2020:00:00:00 +0000")
            .unwrap();
        let c = parser
            .parse_timestamp(b"31/Dec/2019:23:59:59 +0000")
            .unwrap();
        assert_eq!(b - a, 1000);
        assert_eq!(a, c);
    }

    #[test]
    fn impossible_dates_are_refused() {
        let mut parser = CombinedParser::new();
        assert!(parser
            .parse_timestamp(b"29/Feb/2019:00:00:00 +0000")
            .is_err());
        assert!(parser
            .parse_timestamp(b"29/Feb/2020:00:00:00 +0000")
            .is_ok());
        assert!(parser
            .parse_timestamp(b"00/Jan/2020:00:00:00 +0000")
            .is_err());
        assert!(parser
            .parse_timestamp(b"10/Foo/2020:00:00:00 +0000")
            .is_err());
        assert!(parser
            .parse_timestamp(b"10/Jan/2020:24:00:00 +0000")
            .is_err());
        assert!(parser
            .parse_timestamp(b"10/Jan/2020:00:00:00 *0000")
            .is_err());
        assert!(parser
            .parse_timestamp(b"10/Jan/2020:00:00:00 +000")
            .is_err());
    }

    proptest! {
        /// The hand-written calendar math agrees with chrono on every representable date.
        #[test]
        fn days_from_civil_matches_chrono(days in -719_162_i64..2_932_896) {
            let date = NaiveDate::from_num_days_from_ce_opt(i32::try_from(days + 719_163).unwrap()).unwrap();
            let ours = days_from_civil(i64::from(date.year()), date.month(), date.day());
            prop_assert_eq!(ours, days);
        }

        /// No input makes the parser panic.
        #[test]
        fn never_panics(line in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = CombinedParser::new().parse_line(&line);
        }

        /// Structured noise around the delimiters does not make it panic either.
        #[test]
        fn never_panics_on_near_misses(line in r#"[a-z ]{0,3}\[[0-9A-Za-z/: +-]{0,30}\]? ?"[a-z\\" ]{0,8}"? ?[0-9-]{0,4} ?[0-9-]{0,3}( "[a-z\\"]{0,3}"?){0,3} ?[0-9.-]{0,4}"#) {
            let _ = CombinedParser::new().parse_line(line.as_bytes());
        }
    }
}
