//! `parky dora report`: the four DORA keys of a window from a git history, GitHub or a history
//! file, classified and rendered as text, JSON, Markdown, Discord webhook bodies or an SVG chart.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use clap::{Args, Subcommand, ValueEnum};
use parky_dora::model::DeliveryHistory;
use parky_dora::policy::{parse_tz, KeysPolicy, LeadTimeStart, ReportYear, Window};
use parky_dora::report::{DoraReport, ReportOptions};
use parky_dora::source::git::{GitHistory, GitOptions, TagPattern};
use parky_dora::source::github::{GitHubSource, Progress, ProgressFn};
use parky_dora::source::memory::select;
use parky_dora::source::{DeliverySource, Query};
use parky_dora::DoraError;
use secrecy::SecretString;

use crate::error::CliError;

/// The environment variable that holds the GitHub token.
pub(crate) const GITHUB_TOKEN_ENV: &str = "GITHUB_TOKEN";

#[derive(Debug, Subcommand)]
pub(crate) enum DoraCommand {
    /// The four keys of a window (default: the last 12 whole weeks, Monday 00:00 in `--tz`),
    /// each classified against a State of DevOps report's clusters, with the weekly trend.
    Report(DoraReportArgs),
}

/// Where the delivery history comes from: exactly one of the three.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct SourceArgs {
    /// A local git repository: release tags are the deployments, commits the changes,
    /// reverts and quick patch releases the failures.
    #[arg(long, value_name = "PATH")]
    pub(crate) git: Option<PathBuf>,
    /// A GitHub repository `owner/repo`: deployments (or releases), pull requests and
    /// issues labelled `incident`. The token is read from GITHUB_TOKEN.
    #[arg(long, value_name = "OWNER/REPO")]
    pub(crate) github: Option<String>,
    /// A delivery history as JSON (`parky_dora::model::DeliveryHistory`: deployments,
    /// changes, incidents), e.g. exported from another system.
    #[arg(long, value_name = "FILE")]
    pub(crate) history: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DoraOutput {
    /// A short table for a terminal.
    Text,
    /// The report as JSON (documented in docs/dora.md).
    Json,
    /// Markdown, for a pull request or a wiki page.
    Markdown,
    /// The Discord "Execute Webhook" bodies (JSON, one per line), within Discord's limits.
    Discord,
    /// An SVG chart of the weekly trend of each key.
    Svg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LeadTimeFrom {
    /// The committer date.
    Committed,
    /// The author date.
    Authored,
    /// The pull request's merge time.
    Merged,
}

#[derive(Debug, Args)]
pub(crate) struct DoraReportArgs {
    #[command(flatten)]
    pub(crate) source: SourceArgs,
    /// First day (YYYY-MM-DD, 00:00 in --tz) or instant (RFC 3339) of the window. Default:
    /// 12 weeks before --until.
    #[arg(long)]
    pub(crate) since: Option<String>,
    /// End of the window, exclusive (YYYY-MM-DD, 00:00 in --tz, or RFC 3339). Default: the
    /// last Monday 00:00 in --tz (the week that just ended is the last one reported).
    #[arg(long)]
    pub(crate) until: Option<String>,
    /// Time zone of days and weeks (weeks start Monday 00:00).
    #[arg(long, default_value = "Asia/Tokyo")]
    pub(crate) tz: String,
    /// The State of DevOps report whose clusters classify the keys: 2024, 2023 or 2021.
    #[arg(long, default_value = "2024")]
    pub(crate) year: String,
    /// The production environment's name.
    #[arg(long, default_value = "production")]
    pub(crate) environment: String,
    /// Which timestamp of a change starts its lead time.
    #[arg(long, value_enum, default_value_t = LeadTimeFrom::Committed)]
    pub(crate) lead_time_from: LeadTimeFrom,
    /// How many of the window's last weeks the trend shows.
    #[arg(long, default_value_t = 12)]
    pub(crate) weeks: usize,
    /// The report's heading (default: the repository's name).
    #[arg(long)]
    pub(crate) title: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DoraOutput::Text)]
    pub(crate) output: DoraOutput,
    /// The Discord receiver's name in `--output discord` (shown in the outbox and logs).
    #[arg(long, default_value = "dora")]
    pub(crate) receiver: String,
    /// Git: which tags are releases, a regular expression (default: `v1.2.3` or `1.2.3`,
    /// with pre-releases such as `1.2.3-rc.1`).
    #[arg(long)]
    pub(crate) tag_pattern: Option<String>,
    /// Git and GitHub releases: count pre-release tags as deployments too.
    #[arg(long)]
    pub(crate) include_prereleases: bool,
    /// Git: a release X.Y.Z followed by X.Y.(Z+1) within this many days failed.
    #[arg(long, default_value_t = 2)]
    pub(crate) patch_window_days: u32,
    /// GitHub: the API's base URL (GitHub Enterprise: https://HOST/api/v3).
    #[arg(long, default_value = "https://api.github.com")]
    pub(crate) api_url: String,
    /// GitHub: a directory for the ETag cache (a 304 reply costs no rate-limit quota).
    #[arg(long)]
    pub(crate) cache_dir: Option<PathBuf>,
    /// GitHub: the label of incident issues.
    #[arg(long, default_value = "incident")]
    pub(crate) incident_label: String,
    /// The current time (RFC 3339), for the default window; default: the system clock.
    #[arg(long)]
    pub(crate) now: Option<DateTime<Utc>>,
}

fn flag(flag: &'static str, reason: impl Into<String>) -> CliError {
    CliError::Flag {
        flag,
        reason: reason.into(),
    }
}

fn dora(e: DoraError) -> CliError {
    CliError::Dora(Box::new(e))
}

/// The first instant of the local `date` in `tz`: midnight, or, on a day whose midnight a
/// clock change skips (e.g. Asia/Tehran before 2023), the first minute that exists.
fn local_midnight(date: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
    (0..=24 * 60).find_map(|minute| {
        let local = date.and_time(NaiveTime::MIN) + Duration::minutes(minute);
        tz.from_local_datetime(&local)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// A `--since`/`--until` value: a date (midnight in `tz`) or an RFC 3339 instant.
fn parse_instant(name: &'static str, value: &str, tz: Tz) -> Result<DateTime<Utc>, CliError> {
    if let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return local_midnight(date, tz)
            .ok_or_else(|| flag(name, format!("{value}: no midnight on that day in {tz}")));
    }
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            flag(
                name,
                format!("{value:?}: expected YYYY-MM-DD or an RFC 3339 time ({e})"),
            )
        })
}

/// The Monday 00:00 in `tz` at or before `now`.
fn last_monday(now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    let local = now.with_timezone(&tz).date_naive();
    let monday = local - Duration::days(i64::from(local.weekday().num_days_from_monday()));
    local_midnight(monday, tz)
}

/// The window and the validated policy of `args`.
fn policy(args: &DoraReportArgs) -> Result<KeysPolicy, CliError> {
    let tz = parse_tz(&args.tz).map_err(|e| flag("--tz", e.to_string()))?;
    let now = args.now.unwrap_or_else(Utc::now);
    let until = match &args.until {
        Some(v) => parse_instant("--until", v, tz)?,
        None => last_monday(now, tz).ok_or_else(|| flag("--now", "out of range"))?,
    };
    let since = match &args.since {
        Some(v) => parse_instant("--since", v, tz)?,
        // Twelve weeks earlier on the local calendar (not 12 × 168 hours, which a DST change
        // would shift off Monday 00:00).
        None => {
            let local = until.with_timezone(&tz).date_naive() - Duration::weeks(12);
            local_midnight(local, tz).ok_or_else(|| flag("--since", "out of range"))?
        }
    };
    if since >= until {
        return Err(flag(
            "--since",
            format!("{since} is not before --until {until}"),
        ));
    }
    let window = Window::new(since, until, tz).map_err(dora)?;
    let mut policy = KeysPolicy::new(window);
    if args.environment.trim().is_empty() {
        return Err(flag("--environment", "must not be empty"));
    }
    policy.environment.clone_from(&args.environment);
    policy.lead_time_from = match args.lead_time_from {
        LeadTimeFrom::Committed => LeadTimeStart::Committed,
        LeadTimeFrom::Authored => LeadTimeStart::Authored,
        LeadTimeFrom::Merged => LeadTimeStart::Merged,
    };
    Ok(policy)
}

/// Draws GitHub's collection progress on standard error when it is a terminal.
fn progress_bar() -> Option<ProgressFn> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    Some(Arc::new(move |p: &Progress| {
        let of = p.total.map_or_else(String::new, |t| format!(" of {t}"));
        bar.set_message(format!(
            "GitHub {:?}: {}{of} ({} requests, {} from cache)",
            p.stage, p.done, p.requests, p.not_modified
        ));
        bar.tick();
    }))
}

/// Collect the history the flags name, for `query`.
fn collect(args: &DoraReportArgs, query: &Query) -> Result<(DeliveryHistory, String), CliError> {
    let source = &args.source;
    if let Some(path) = &source.history {
        let text = std::fs::read_to_string(path).map_err(|e| CliError::Io {
            path: path.clone(),
            source: e,
        })?;
        let history: DeliveryHistory = serde_json::from_str(&text).map_err(|e| {
            flag(
                "--history",
                format!(
                    "{}: line {}, column {}: {e}",
                    path.display(),
                    e.line(),
                    e.column()
                ),
            )
        })?;
        // The same selection as every source applies (no async runtime needed for a file).
        let selected = select(&history, query).map_err(dora)?;
        let name = path.file_stem().map_or_else(
            || "history".to_owned(),
            |s| s.to_string_lossy().into_owned(),
        );
        return Ok((selected, name));
    }
    if let Some(path) = &source.git {
        let mut options = GitOptions {
            include_prereleases: args.include_prereleases,
            environment: args.environment.clone(),
            patch_window: Duration::days(i64::from(args.patch_window_days)),
            ..GitOptions::default()
        };
        if let Some(pattern) = &args.tag_pattern {
            options.tag_pattern =
                TagPattern::regex(pattern).map_err(|e| flag("--tag-pattern", e.to_string()))?;
        }
        let git = GitHistory::new(path)
            .map_err(|e| flag("--git", e.to_string()))?
            .with_options(options)
            .map_err(dora)?;
        let name = git.service();
        let history = git.collect_blocking(query).map_err(dora)?;
        return Ok((history, name));
    }
    let Some(repo) = &source.github else {
        return Err(flag(
            "--git",
            "one of --git, --github or --history is required",
        ));
    };
    let (owner, name) = repo
        .split_once('/')
        .filter(|(o, n)| {
            // GitHub's owner and repository names: letters, digits, `-`, `_`, `.`; never `.`
            // or `..` (which would change the API path the token is sent to).
            let valid = |s: &str| {
                !s.is_empty()
                    && s != "."
                    && s != ".."
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            };
            valid(o) && valid(n)
        })
        .ok_or_else(|| flag("--github", format!("{repo:?} is not OWNER/REPO")))?;
    let token = std::env::var(GITHUB_TOKEN_ENV).map_err(|_| {
        flag(
            "--github",
            format!("set {GITHUB_TOKEN_ENV} to a token that can read the repository"),
        )
    })?;
    let mut github = GitHubSource::new(owner, name, SecretString::from(token))
        .map_err(|e| flag("--github", e.to_string()))?
        .with_base_url(&args.api_url)
        .map_err(|e| flag("--api-url", e.to_string()))?;
    let options = parky_dora::source::github::GitHubOptions {
        incident_label: args.incident_label.clone(),
        include_prereleases: args.include_prereleases,
        ..Default::default()
    };
    github = github.with_options(options).map_err(dora)?;
    if let Some(dir) = &args.cache_dir {
        github = github.with_cache_dir(dir).map_err(dora)?;
    }
    if let Some(progress) = progress_bar() {
        github = github.with_progress(progress);
    }
    let runtime = crate::runtime()?;
    let history = runtime.block_on(github.collect(query)).map_err(dora)?;
    Ok((history, repo.clone()))
}

/// `parky dora report`.
pub(crate) fn report(args: &DoraReportArgs, out: &mut impl Write) -> Result<(), CliError> {
    let year: ReportYear = args
        .year
        .parse()
        .map_err(|e: DoraError| flag("--year", e.to_string()))?;
    let trend_weeks = std::num::NonZeroUsize::new(args.weeks)
        .ok_or_else(|| flag("--weeks", "must be at least 1"))?;
    let policy = policy(args)?;
    let query = Query {
        since: policy.window.since(),
        until: policy.window.until(),
        environment: policy.environment.clone(),
    };
    let (history, name) = collect(args, &query)?;
    let options = ReportOptions {
        title: args
            .title
            .clone()
            .unwrap_or_else(|| format!("DORA four keys: {name}")),
        year,
        trend_weeks,
    };
    let report = DoraReport::build(&history, &policy, &options).map_err(|e| match e {
        // An inconsistent history comes from the file or repository the user named.
        DoraError::InvalidHistory { reason } => {
            let source = if args.source.history.is_some() {
                "--history"
            } else if args.source.git.is_some() {
                "--git"
            } else {
                "--github"
            };
            flag(source, format!("{name}: {reason}"))
        }
        other => dora(other),
    })?;
    write_report(&report, args.output, &args.receiver, out)
}

/// Render `report` as `output`.
pub(crate) fn write_report(
    report: &DoraReport,
    output: DoraOutput,
    receiver: &str,
    out: &mut impl Write,
) -> Result<(), CliError> {
    match output {
        DoraOutput::Text => out.write_all(report.to_text().as_bytes())?,
        DoraOutput::Markdown => out.write_all(report.to_markdown().as_bytes())?,
        DoraOutput::Json => {
            out.write_all(report.to_json().map_err(dora)?.as_bytes())?;
            writeln!(out)?;
        }
        DoraOutput::Svg => out.write_all(report.to_svg().map_err(dora)?.as_bytes())?,
        DoraOutput::Discord => {
            for payload in report.to_discord_payloads(receiver) {
                serde_json::to_writer(&mut *out, &payload).map_err(CliError::Json)?;
                writeln!(out)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_monday_is_midnight_in_tokyo() {
        let tz: Tz = "Asia/Tokyo".parse().unwrap();
        // Sunday 2026-11-29 14:59:59 UTC is Sunday 23:59:59 JST: the week began Monday
        // 2026-11-23 00:00 JST = Sunday 2026-11-22 15:00 UTC.
        let now = Utc.with_ymd_and_hms(2026, 11, 29, 14, 59, 59).unwrap();
        assert_eq!(
            last_monday(now, tz),
            Some(Utc.with_ymd_and_hms(2026, 11, 22, 15, 0, 0).unwrap())
        );
        // One second later it is Monday 2026-11-30 00:00 JST itself.
        let now = Utc.with_ymd_and_hms(2026, 11, 29, 15, 0, 0).unwrap();
        assert_eq!(last_monday(now, tz), Some(now));
    }

    #[test]
    fn dates_are_local_midnights_and_bad_values_name_the_flag() {
        let tz: Tz = "Asia/Tokyo".parse().unwrap();
        assert_eq!(
            parse_instant("--since", "2026-01-05", tz).unwrap(),
            Utc.with_ymd_and_hms(2026, 1, 4, 15, 0, 0).unwrap()
        );
        assert_eq!(
            parse_instant("--since", "2026-01-05T12:00:00+09:00", tz).unwrap(),
            Utc.with_ymd_and_hms(2026, 1, 5, 3, 0, 0).unwrap()
        );
        let e = parse_instant("--until", "last tuesday", tz).unwrap_err();
        assert!(
            e.to_string().starts_with("invalid value for --until"),
            "{e}"
        );
    }
}
