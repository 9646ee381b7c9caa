//! Time intervals as in Alertmanager's `timeinterval` package.
//!
//! A [`TimeInterval`] is one entry of a named interval's `time_intervals` list. It contains an
//! instant when every field that is present matches; a field matches when any of its ranges
//! does; an absent field matches everything. A field given as an empty list matches nothing
//! (Go keeps a non-nil empty slice). The fields, read in the interval's `location` (UTC when
//! absent):
//!
//! - `times`: `start_time`–`end_time` in `HH:MM`, start inclusive, end exclusive, `24:00` allowed
//!   as an end; ranges do not wrap past midnight.
//! - `weekdays`: `sunday`…`saturday` or ranges like `monday:friday` (no wrap-around).
//! - `days_of_month`: `1`…`31` or `-31`…`-1`, where `-1` is the month's last day; ranges like
//!   `1:5` or `-3:-1`. A range is clamped to the month (`1:31` is the whole of February); a
//!   range whose start is past the month's end matches nothing that month.
//! - `months`: `january`…`december` or `1`…`12`, ranges like `may:august`.
//! - `years`: ranges like `2024:2026`.
//!
//! Names are case-insensitive. `location` is an IANA name from the tz database bundled with
//! `chrono-tz` (`Asia/Tokyo`, `Europe/Berlin`, `UTC`); Go's special name `Local` is refused
//! because this crate has no notion of the host's zone.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;

use crate::config::TimeIntervalSpecConfig;
use crate::error::NotifyError;

/// A range of minutes of the day: `start` inclusive, `end` exclusive, both in `0..=1440`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// First minute of the day in the range (`09:00` is 540).
    pub start_minute: u32,
    /// First minute of the day after the range (`17:00` is 1020, `24:00` is 1440).
    pub end_minute: u32,
}

/// An inclusive range of integers (weekday with Sunday = 0, day of month, month with
/// January = 1, year).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InclusiveRange {
    /// First value in the range.
    pub begin: i64,
    /// Last value in the range.
    pub end: i64,
}

/// One period of a named time interval, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeInterval {
    times: Option<Vec<TimeRange>>,
    weekdays: Option<Vec<InclusiveRange>>,
    days_of_month: Option<Vec<InclusiveRange>>,
    months: Option<Vec<InclusiveRange>>,
    years: Option<Vec<InclusiveRange>>,
    location: Option<Tz>,
}

impl TimeInterval {
    /// Validates one period of the configuration. `path` names it in errors, e.g.
    /// `time_intervals[0].time_intervals[1]`.
    ///
    /// # Errors
    ///
    /// [`NotifyError::InvalidTimeInterval`] naming the field, with Alertmanager's wording.
    pub fn from_config(cfg: &TimeIntervalSpecConfig, path: &str) -> Result<Self, NotifyError> {
        let times = cfg
            .times
            .as_ref()
            .map(|ts| {
                ts.iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let p = format!("{path}.times[{i}]");
                        if t.start_time.is_empty() || t.end_time.is_empty() {
                            return Err(invalid(&p, "both start and end times must be provided"));
                        }
                        let start = parse_clock(&t.start_time, &p)?;
                        let end = parse_clock(&t.end_time, &p)?;
                        if start >= end {
                            return Err(invalid(
                                &p,
                                "start time cannot be equal or greater than end time",
                            ));
                        }
                        Ok(TimeRange {
                            start_minute: start,
                            end_minute: end,
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let weekdays = ranges(
            cfg.weekdays.as_deref(),
            &format!("{path}.weekdays"),
            weekday(),
        )?;
        let days_of_month = ranges(
            cfg.days_of_month.as_deref(),
            &format!("{path}.days_of_month"),
            day_of_month(),
        )?;
        let months = ranges(cfg.months.as_deref(), &format!("{path}.months"), month())?;
        let years = ranges(cfg.years.as_deref(), &format!("{path}.years"), year())?;
        let location = match cfg.location.as_deref() {
            None => None,
            // Go's time.LoadLocation("") is UTC.
            Some("") | Some("UTC") => Some(Tz::UTC),
            Some(name) => Some(name.parse::<Tz>().map_err(|_| {
                invalid(
                    &format!("{path}.location"),
                    &format!("unknown time zone {name}"),
                )
            })?),
        };
        Ok(TimeInterval {
            times,
            weekdays,
            days_of_month,
            months,
            years,
            location,
        })
    }

    /// Whether the period contains the instant (read in the period's location).
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.location.unwrap_or(Tz::UTC));
        let naive = local.naive_local();
        let minute = naive.hour() * 60 + naive.minute();
        if let Some(times) = &self.times {
            if !times
                .iter()
                .any(|t| minute >= t.start_minute && minute < t.end_minute)
            {
                return false;
            }
        }
        if let Some(doms) = &self.days_of_month {
            let days = i64::from(days_in_month(naive.year(), naive.month()));
            let day = i64::from(naive.day());
            let hit = doms.iter().any(|r| {
                let begin = if r.begin < 0 {
                    days + r.begin + 1
                } else {
                    r.begin
                };
                let end = if r.end < 0 { days + r.end + 1 } else { r.end };
                if begin > days {
                    return false;
                }
                let begin = begin.clamp(-days, days);
                let end = end.clamp(-days, days);
                day >= begin && day <= end
            });
            if !hit {
                return false;
            }
        }
        let in_any = |rs: &Option<Vec<InclusiveRange>>, v: i64| match rs {
            None => true,
            Some(rs) => rs.iter().any(|r| v >= r.begin && v <= r.end),
        };
        in_any(&self.months, i64::from(naive.month()))
            && in_any(
                &self.weekdays,
                i64::from(naive.weekday().num_days_from_sunday()),
            )
            && in_any(&self.years, i64::from(naive.year()))
    }
}

/// Whether any of the periods contains the instant (a named interval's rule).
pub fn any_contains(intervals: &[TimeInterval], at: DateTime<Utc>) -> bool {
    intervals.iter().any(|ti| ti.contains(at))
}

fn invalid(path: &str, reason: &str) -> NotifyError {
    NotifyError::InvalidTimeInterval {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let first = NaiveDate::from_ymd_opt(year, month, 1);
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year.saturating_add(1), 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    match (first, next) {
        (Some(a), Some(b)) => u32::try_from((b - a).num_days()).unwrap_or(31),
        // Only at the edge of chrono's calendar (year ±262143): every month but February
        // is long enough for the callers' purposes.
        _ => 31,
    }
}

/// `HH:MM` as Alertmanager's `validTime` pattern accepts it: `00:00`–`23:59` or `24:00`.
fn parse_clock(s: &str, path: &str) -> Result<u32, NotifyError> {
    let bad = || {
        invalid(
            path,
            &format!("couldn't parse timestamp {s}, invalid format"),
        )
    };
    if s == "24:00" {
        return Ok(1440);
    }
    let b = s.as_bytes();
    if b.len() != 5 || b[2] != b':' {
        return Err(bad());
    }
    let digit = |i: usize| -> Result<u32, NotifyError> {
        match b[i] {
            c @ b'0'..=b'9' => Ok(u32::from(c - b'0')),
            _ => Err(bad()),
        }
    };
    let (h, m) = (digit(0)? * 10 + digit(1)?, digit(3)? * 10 + digit(4)?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

type Member = fn(&str) -> Option<i64>;
type Check = fn(InclusiveRange, &str) -> Result<(), String>;

fn ranges(
    items: Option<&[String]>,
    path: &str,
    (member, check): (Member, Check),
) -> Result<Option<Vec<InclusiveRange>>, NotifyError> {
    let Some(items) = items else {
        return Ok(None);
    };
    items
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let p = format!("{path}[{i}]");
            let lower = raw.to_lowercase();
            let parse =
                |x: &str| member(x).ok_or_else(|| invalid(&p, &format!("{x} is not valid")));
            let range = if lower.contains(':') {
                let parts: Vec<&str> = lower.split(':').collect();
                if parts.len() != 2 {
                    return Err(invalid(
                        &p,
                        &format!("couldn't parse range {lower}, invalid format"),
                    ));
                }
                InclusiveRange {
                    begin: parse(parts[0])?,
                    end: parse(parts[1])?,
                }
            } else {
                let v = parse(&lower)?;
                InclusiveRange { begin: v, end: v }
            };
            check(range, raw).map_err(|reason| invalid(&p, &reason))?;
            Ok(range)
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Go's `strconv.Atoi`: optional sign, then ASCII digits.
fn atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn index_of(names: &[&str], s: &str, offset: i64) -> Option<i64> {
    names
        .iter()
        .position(|n| *n == s)
        .and_then(|i| i64::try_from(i).ok())
        .map(|i| i + offset)
}

fn weekday() -> (Member, Check) {
    (
        |s| index_of(&WEEKDAYS, s, 0),
        |r, raw| {
            if r.begin > r.end {
                return Err("start day cannot be before end day".to_owned());
            }
            if !(0..=6).contains(&r.begin) || !(0..=6).contains(&r.end) {
                return Err(format!(
                    "{raw} is not a valid day of the week: out of range"
                ));
            }
            Ok(())
        },
    )
}

fn day_of_month() -> (Member, Check) {
    (atoi, |r, _| {
        for v in [r.begin, r.end] {
            if v == 0 || !(-31..=31).contains(&v) {
                return Err(format!("{v} is not a valid day of the month: out of range"));
            }
        }
        if r.begin < 0 && r.end > 0 {
            return Err("end day must be negative if start day is negative".to_owned());
        }
        let norm = |v: i64| if v < 0 { 28 + v } else { v };
        if norm(r.begin) > norm(r.end) {
            return Err(format!(
                "end day {} is always before start day {}",
                r.end, r.begin
            ));
        }
        Ok(())
    })
}

fn month() -> (Member, Check) {
    (
        |s| index_of(&MONTHS, s, 1).or_else(|| atoi(s)),
        |r, _| {
            if r.begin > r.end {
                return Err(format!(
                    "end month {} is before start month {}",
                    r.end, r.begin
                ));
            }
            Ok(())
        },
    )
}

fn year() -> (Member, Check) {
    (atoi, |r, _| {
        if r.begin > r.end {
            return Err(format!(
                "end year {} is before start year {}",
                r.end, r.begin
            ));
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TimeRangeConfig;
    use chrono::TimeZone;

    fn strs(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| (*s).to_owned()).collect())
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn build(cfg: TimeIntervalSpecConfig) -> TimeInterval {
        TimeInterval::from_config(&cfg, "t").unwrap()
    }

    #[test]
    fn business_hours_in_tokyo() {
        // Weekdays 09:00–17:00 in Asia/Tokyo (UTC+9, no DST).
        let ti = build(TimeIntervalSpecConfig {
            times: Some(vec![TimeRangeConfig {
                start_time: "09:00".into(),
                end_time: "17:00".into(),
            }]),
            weekdays: strs(&["monday:friday"]),
            location: Some("Asia/Tokyo".into()),
            ..Default::default()
        });
        // 2024-06-03 is a Monday. 00:00 UTC = 09:00 JST: inside (start inclusive).
        assert!(ti.contains(utc(2024, 6, 3, 0, 0)));
        // 07:59 UTC = 16:59 JST: inside; 08:00 UTC = 17:00 JST: outside (end exclusive).
        assert!(ti.contains(utc(2024, 6, 3, 7, 59)));
        assert!(!ti.contains(utc(2024, 6, 3, 8, 0)));
        // Sunday 2024-06-02 23:30 UTC = Monday 08:30 JST: Monday, but before 09:00.
        assert!(!ti.contains(utc(2024, 6, 2, 23, 30)));
        // Sunday 2024-06-02 15:00 UTC is Monday 00:00 JST … not in times. Friday
        // 2024-06-07 23:00 UTC = Saturday 08:00 JST: weekend.
        assert!(!ti.contains(utc(2024, 6, 7, 23, 0)));
        // Friday 2024-06-07 05:00 UTC = Friday 14:00 JST: inside.
        assert!(ti.contains(utc(2024, 6, 7, 5, 0)));
        // Saturday 2024-06-08 01:00 UTC = Saturday 10:00 JST: weekend.
        assert!(!ti.contains(utc(2024, 6, 8, 1, 0)));
    }

    #[test]
    fn last_day_of_month() {
        let ti = build(TimeIntervalSpecConfig {
            days_of_month: strs(&["-1"]),
            ..Default::default()
        });
        // February 2024 has 29 days (leap year), February 2023 has 28.
        assert!(ti.contains(utc(2024, 2, 29, 12, 0)));
        assert!(!ti.contains(utc(2024, 2, 28, 12, 0)));
        assert!(ti.contains(utc(2023, 2, 28, 0, 0)));
        assert!(ti.contains(utc(2024, 4, 30, 23, 59)));
        assert!(!ti.contains(utc(2024, 5, 30, 23, 59)));
        assert!(ti.contains(utc(2024, 12, 31, 0, 0)));
    }

    #[test]
    fn last_day_of_month_in_a_location() {
        // -1 in Asia/Tokyo: 2024-01-31 15:00 UTC is 2024-02-01 00:00 JST, no longer the last
        // day; 2024-01-31 14:59 UTC is 23:59 JST on the 31st.
        let ti = build(TimeIntervalSpecConfig {
            days_of_month: strs(&["-1"]),
            location: Some("Asia/Tokyo".into()),
            ..Default::default()
        });
        assert!(ti.contains(utc(2024, 1, 31, 14, 59)));
        assert!(!ti.contains(utc(2024, 1, 31, 15, 0)));
        // 2024-02-29 15:00 UTC = 2024-03-01 JST: not the last day; 2024-02-28 15:00 UTC =
        // 2024-02-29 00:00 JST: last day of February.
        assert!(!ti.contains(utc(2024, 2, 29, 15, 0)));
        assert!(ti.contains(utc(2024, 2, 28, 15, 0)));
    }

    #[test]
    fn day_ranges_clamp_and_skip() {
        // 1:31 covers all of February (clamped to 29 in 2024).
        let all = build(TimeIntervalSpecConfig {
            days_of_month: strs(&["1:31"]),
            ..Default::default()
        });
        assert!(all.contains(utc(2024, 2, 29, 0, 0)));
        // 30:31 starts after February's end: no February day matches.
        let late = build(TimeIntervalSpecConfig {
            days_of_month: strs(&["30:31"]),
            ..Default::default()
        });
        assert!(!late.contains(utc(2024, 2, 29, 0, 0)));
        assert!(late.contains(utc(2024, 3, 30, 0, 0)));
        // -3:-1 is the last three days: 29, 30, 31 of March.
        let last3 = build(TimeIntervalSpecConfig {
            days_of_month: strs(&["-3:-1"]),
            ..Default::default()
        });
        assert!(!last3.contains(utc(2024, 3, 28, 0, 0)));
        assert!(last3.contains(utc(2024, 3, 29, 0, 0)));
        assert!(last3.contains(utc(2024, 3, 31, 0, 0)));
        // 7:-1: from the 7th to the end.
        let from7 = build(TimeIntervalSpecConfig {
            days_of_month: strs(&["7:-1"]),
            ..Default::default()
        });
        assert!(!from7.contains(utc(2024, 3, 6, 0, 0)));
        assert!(from7.contains(utc(2024, 3, 7, 0, 0)));
        assert!(from7.contains(utc(2024, 3, 31, 0, 0)));
    }

    #[test]
    fn months_years_and_names() {
        let ti = build(TimeIntervalSpecConfig {
            months: strs(&["December", "1:2"]),
            years: strs(&["2024:2025"]),
            weekdays: strs(&["Saturday", "sunday"]),
            ..Default::default()
        });
        // 2024-12-07 is a Saturday.
        assert!(ti.contains(utc(2024, 12, 7, 10, 0)));
        // 2024-12-09 is a Monday.
        assert!(!ti.contains(utc(2024, 12, 9, 10, 0)));
        // 2026-01-03 is a Saturday but 2026 is outside the years.
        assert!(!ti.contains(utc(2026, 1, 3, 10, 0)));
        // 2025-02-01 is a Saturday in February 2025.
        assert!(ti.contains(utc(2025, 2, 1, 10, 0)));
        // 2025-03-01 is a Saturday in March.
        assert!(!ti.contains(utc(2025, 3, 1, 10, 0)));
    }

    #[test]
    fn end_of_day_and_empty_lists() {
        let ti = build(TimeIntervalSpecConfig {
            times: Some(vec![TimeRangeConfig {
                start_time: "22:00".into(),
                end_time: "24:00".into(),
            }]),
            ..Default::default()
        });
        assert!(ti.contains(utc(2024, 1, 1, 23, 59)));
        assert!(!ti.contains(utc(2024, 1, 2, 0, 0)));
        let nothing = build(TimeIntervalSpecConfig {
            weekdays: Some(vec![]),
            ..Default::default()
        });
        assert!(!nothing.contains(utc(2024, 1, 1, 0, 0)));
        let everything = build(TimeIntervalSpecConfig::default());
        assert!(everything.contains(utc(2024, 1, 1, 0, 0)));
    }

    #[test]
    fn invalid_fields_name_their_path() {
        let cases: Vec<(TimeIntervalSpecConfig, &str)> = vec![
            (
                TimeIntervalSpecConfig {
                    weekdays: strs(&["friday:monday"]),
                    ..Default::default()
                },
                "t.weekdays[0]",
            ),
            (
                TimeIntervalSpecConfig {
                    weekdays: strs(&["funday"]),
                    ..Default::default()
                },
                "t.weekdays[0]",
            ),
            (
                TimeIntervalSpecConfig {
                    days_of_month: strs(&["1", "0"]),
                    ..Default::default()
                },
                "t.days_of_month[1]",
            ),
            (
                TimeIntervalSpecConfig {
                    days_of_month: strs(&["-1:5"]),
                    ..Default::default()
                },
                "t.days_of_month[0]",
            ),
            (
                TimeIntervalSpecConfig {
                    days_of_month: strs(&["-1:-3"]),
                    ..Default::default()
                },
                "t.days_of_month[0]",
            ),
            (
                TimeIntervalSpecConfig {
                    months: strs(&["june:may"]),
                    ..Default::default()
                },
                "t.months[0]",
            ),
            (
                TimeIntervalSpecConfig {
                    years: strs(&["2025:2024"]),
                    ..Default::default()
                },
                "t.years[0]",
            ),
            (
                TimeIntervalSpecConfig {
                    years: strs(&["1:2:3"]),
                    ..Default::default()
                },
                "t.years[0]",
            ),
            (
                TimeIntervalSpecConfig {
                    location: Some("Mars/Olympus_Mons".into()),
                    ..Default::default()
                },
                "t.location",
            ),
            (
                TimeIntervalSpecConfig {
                    times: Some(vec![TimeRangeConfig {
                        start_time: "10:00".into(),
                        end_time: "09:00".into(),
                    }]),
                    ..Default::default()
                },
                "t.times[0]",
            ),
            (
                TimeIntervalSpecConfig {
                    times: Some(vec![TimeRangeConfig {
                        start_time: "9:00".into(),
                        end_time: "10:00".into(),
                    }]),
                    ..Default::default()
                },
                "t.times[0]",
            ),
            (
                TimeIntervalSpecConfig {
                    times: Some(vec![TimeRangeConfig {
                        start_time: "24:01".into(),
                        end_time: "24:00".into(),
                    }]),
                    ..Default::default()
                },
                "t.times[0]",
            ),
        ];
        for (cfg, path) in cases {
            let err = TimeInterval::from_config(&cfg, "t").unwrap_err();
            assert_eq!(err.path(), Some(path), "{err}");
        }
    }
}
