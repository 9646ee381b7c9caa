//! Plain text and Markdown renderings of a [`DoraReport`].

use std::fmt::Write as _;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::DoraReport;
use crate::policy::classify::Cluster;
use crate::policy::stats::nanos_of;
use crate::policy::WeeklyKeys;

/// A duration for people, two units at most, rounded to the second: `35s`, `4m 10s`,
/// `5h 12m`, `3d 4h`.
#[must_use]
pub fn format_duration(d: TimeDelta) -> String {
    let nanos = nanos_of(d);
    let sign = if nanos < 0 { "-" } else { "" };
    let secs = (nanos.abs() + 500_000_000) / 1_000_000_000;
    let (days, hours, minutes, seconds) = (
        secs / 86_400,
        secs % 86_400 / 3_600,
        secs % 3_600 / 60,
        secs % 60,
    );
    if days > 0 {
        format!("{sign}{days}d {hours}h")
    } else if hours > 0 {
        format!("{sign}{hours}h {minutes}m")
    } else if minutes > 0 {
        format!("{sign}{minutes}m {seconds}s")
    } else {
        format!("{sign}{seconds}s")
    }
}

/// `12.5%`.
pub(super) fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

pub(super) fn class_label(class: Option<Cluster>) -> &'static str {
    class.map_or("n/a", Cluster::as_str)
}

/// One line per key: (name, figures, class).
pub(super) fn key_lines(r: &DoraReport) -> [(&'static str, String, &'static str); 4] {
    let df = &r.deployment_frequency.value;
    let frequency = format!(
        "{:.2} a day, {:.2} a week; {:.2} days with a deploy a week ({} successful)",
        df.per_day, df.per_week, df.deploy_days_per_week, df.successful
    );
    let lead = match &r.lead_time.value.summary {
        Some(s) => format!(
            "median {}, p75 {}, p90 {} ({} {})",
            format_duration(s.median),
            format_duration(s.p75),
            format_duration(s.p90),
            s.count,
            if s.count == 1 { "change" } else { "changes" }
        ),
        None => "no change shipped".to_owned(),
    };
    let cfr_v = &r.change_failure_rate.value;
    let cfr = match cfr_v.rate {
        Some(rate) => format!(
            "{} ({} of {} deployments failed)",
            percent(rate),
            cfr_v.failed,
            cfr_v.completed
        ),
        None => "no completed deployment".to_owned(),
    };
    let rt = &r.recovery_time.value;
    let recovery = match &rt.summary {
        Some(s) => format!(
            "median {} ({} recovered{})",
            format_duration(s.median),
            s.count,
            if rt.unrecovered > 0 {
                format!(", {} not yet", rt.unrecovered)
            } else {
                String::new()
            }
        ),
        None if rt.unrecovered > 0 => format!("{} failed, none recovered yet", rt.unrecovered),
        None => "no failed deployment".to_owned(),
    };
    [
        (
            "Deployment frequency",
            frequency,
            class_label(r.deployment_frequency.class),
        ),
        (
            "Lead time for changes",
            lead,
            class_label(r.lead_time.class),
        ),
        (
            "Change failure rate",
            cfr,
            class_label(r.change_failure_rate.class),
        ),
        (
            "Recovery time",
            recovery,
            class_label(r.recovery_time.class),
        ),
    ]
}

fn tz_of(r: &DoraReport) -> Option<Tz> {
    r.window.tz.parse::<Tz>().ok()
}

fn local(at: DateTime<Utc>, tz: Option<Tz>) -> String {
    match tz {
        Some(tz) => at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
        None => at.format("%Y-%m-%d %H:%M UTC").to_string(),
    }
}

/// "2024-06-03 00:00 to 2024-07-01 00:00 (Asia/Tokyo, 28 days)".
pub(super) fn window_line(r: &DoraReport) -> String {
    let tz = tz_of(r);
    format!(
        "{} to {} ({}, {} days)",
        local(r.window.since, tz),
        local(r.window.until, tz),
        r.window.tz,
        trim_number(r.window.days)
    )
}

/// A number without a useless fraction: `28`, `27.5`.
fn trim_number(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

pub(super) fn overall_line(r: &DoraReport) -> String {
    format!(
        "{} (the weakest of {} classified {})",
        r.overall,
        r.keys_classified,
        if r.keys_classified == 1 {
            "key"
        } else {
            "keys"
        }
    )
}

/// The cells of one trend row: week, deploys, deploy days, lead time, CFR, recovery.
pub(super) fn trend_cells(w: &WeeklyKeys) -> [String; 6] {
    let partial = if w.days < 7 {
        format!(" ({}d)", w.days)
    } else {
        String::new()
    };
    [
        format!("{}{partial}", w.week),
        w.deployments.to_string(),
        w.deploy_days.to_string(),
        w.lead_time_median
            .map_or_else(|| "-".to_owned(), format_duration),
        w.change_failure_rate.map_or_else(
            || "-".to_owned(),
            |rate| format!("{} ({}/{})", percent(rate), w.failed, w.completed),
        ),
        w.recovery_median
            .map_or_else(|| "-".to_owned(), format_duration),
    ]
}

/// "Last 4 weeks (weeks start Monday 00:00 Asia/Tokyo)", with the zone name `tz` as given
/// (escaped or not by the caller).
fn trend_heading(r: &DoraReport, tz: &str) -> String {
    let n = r.trend.len();
    let weeks = if n == 1 { "week" } else { "weeks" };
    format!("Last {n} {weeks} (weeks start Monday 00:00 {tz})")
}

pub(super) const TREND_HEADERS: [&str; 6] = [
    "week",
    "deploys",
    "deploy days",
    "lead time p50",
    "change failure rate",
    "recovery p50",
];

pub(super) fn render_text(r: &DoraReport) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = writeln!(out, "{} — {}", r.title, r.environment);
    let _ = writeln!(out, "Window:   {}", window_line(r));
    let _ = writeln!(out, "Clusters: {}", r.source);
    let _ = writeln!(out, "Overall:  {}", overall_line(r));
    let _ = writeln!(out);
    for (name, figures, class) in key_lines(r) {
        let _ = writeln!(out, "{name:<22} {class:<7} {figures}");
    }
    if !r.trend.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}:", trend_heading(r, &r.window.tz));
        let rows: Vec<[String; 6]> = r.trend.iter().map(trend_cells).collect();
        let mut widths = TREND_HEADERS.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: [&str; 6]| {
            let mut s = String::new();
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                if i == 0 {
                    let _ = write!(s, "{cell:<w$}");
                } else {
                    let _ = write!(s, "  {cell:>w$}");
                }
            }
            s
        };
        let _ = writeln!(out, "{}", line(TREND_HEADERS));
        for row in &rows {
            let _ = writeln!(out, "{}", line(row.each_ref().map(String::as_str)));
        }
    }
    let notes = &r.notes;
    if !notes.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Notes:");
        for n in notes {
            let _ = writeln!(out, "- {n}");
        }
    }
    out
}

/// Escape the characters that would break a Markdown table cell or start markup.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '|' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(super) fn render_markdown(r: &DoraReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## {} — {}", md(&r.title), md(&r.environment));
    let _ = writeln!(out);
    let _ = writeln!(out, "- Window: {}", md(&window_line(r)));
    let _ = writeln!(out, "- Clusters: {}", r.source);
    let _ = writeln!(out, "- **Overall: {}**", overall_line(r));
    let _ = writeln!(out);
    let _ = writeln!(out, "| Key | Class | Figures |");
    let _ = writeln!(out, "|---|---|---|");
    for (name, figures, class) in key_lines(r) {
        let _ = writeln!(out, "| {name} | {class} | {} |", md(&figures));
    }
    if !r.trend.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "### {}", trend_heading(r, &md(&r.window.tz)));
        let _ = writeln!(out);
        let _ = writeln!(out, "| {} |", TREND_HEADERS.join(" | "));
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        for w in &r.trend {
            let cells = trend_cells(w).map(|c| md(&c));
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
    }
    let notes = &r.notes;
    if !notes.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "### Notes");
        let _ = writeln!(out);
        for n in notes {
            let _ = writeln!(out, "- {}", md(n));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_for_people() {
        assert_eq!(format_duration(TimeDelta::seconds(35)), "35s");
        assert_eq!(format_duration(TimeDelta::seconds(250)), "4m 10s");
        assert_eq!(
            format_duration(TimeDelta::seconds(5 * 3600 + 12 * 60)),
            "5h 12m"
        );
        assert_eq!(
            format_duration(TimeDelta::seconds(3 * 86_400 + 4 * 3600)),
            "3d 4h"
        );
        assert_eq!(format_duration(TimeDelta::milliseconds(1_500)), "2s");
        assert_eq!(format_duration(TimeDelta::seconds(-90)), "-1m 30s");
    }

    #[test]
    fn markdown_escapes() {
        assert_eq!(md("a|b_c"), "a\\|b\\_c");
    }
}
