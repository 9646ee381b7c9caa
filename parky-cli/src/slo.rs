//! `parky slo report` and `parky slo windows`.

use std::io::Write;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parky_slo::evaluator::{AlertPhase, AlertTransition, SloEvaluator, SloStatus};
use parky_slo::objective::{duration_label, Objective};
use parky_slo::policy::alert::AlertPolicy;
use parky_slo::source::{self, BadRequestRule, LogFormat, ReadOptions, ReadReport};
use serde::Serialize;

use crate::args::{LogFormatArg, ObjectiveArgs, Output, ReportArgs, WindowsArgs};
use crate::error::CliError;
use crate::render::{self, Table};

/// The JSON document printed by `parky slo report --output json` (see docs/slo-report.md).
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    /// What was read.
    pub(crate) input: InputSummary,
    /// The SLO at the end of the data or at `--at`.
    pub(crate) status: SloStatus,
    /// Every time a severity started or stopped firing, oldest first.
    pub(crate) timeline: Vec<AlertTransition>,
    /// Things the reader should know: alert windows left out, `--at` rounded, requests that
    /// came out of time order, requests dropped.
    pub(crate) notes: Vec<String>,
}

/// The input part of a [`Report`].
#[derive(Debug, Serialize)]
pub(crate) struct InputSummary {
    /// The file as given on the command line.
    pub(crate) path: String,
    /// `combined` or `workers-jsonl`.
    pub(crate) format: LogFormat,
    /// Requests after `--at` that were left out of the report.
    pub(crate) after_at: u64,
    /// What the reader found: lines, events, malformed lines with their numbers.
    #[serde(flatten)]
    pub(crate) read: ReadReport,
}

/// Builds the workbook alert policy for `--objective` and `--period`, keeping the window pairs
/// that can work for them; the others are returned as notes (e.g. a 1d window in a 12h
/// period).
pub(crate) fn policy(args: &ObjectiveArgs) -> Result<(AlertPolicy, Vec<String>), CliError> {
    let objective = Objective::new(args.objective, args.period)?;
    let (policy, skipped) = AlertPolicy::workbook_fitting(objective)?;
    let notes = skipped
        .iter()
        .map(|s| format!("alert window left out: {s}"))
        .collect();
    Ok((policy, notes))
}

fn read_options(args: &ReportArgs) -> Result<ReadOptions, CliError> {
    if !(100..=999).contains(&args.bad_status_from) {
        return Err(CliError::Flag {
            flag: "--bad-status-from",
            reason: format!(
                "{} is not an HTTP status (100 to 999)",
                args.bad_status_from
            ),
        });
    }
    let mut rule = BadRequestRule::from_status(args.bad_status_from);
    if args.count_429_as_bad {
        rule = rule.also_bad_status(429);
    }
    let mut options = ReadOptions::default()
        .with_bad_request_rule(rule)
        .with_max_malformed_share(args.max_malformed)?;
    if let Some(script) = &args.script {
        if args.log_format != LogFormatArg::WorkersJsonl {
            return Err(CliError::Flag {
                flag: "--script",
                reason: "only applies to --log-format workers-jsonl".to_owned(),
            });
        }
        options = options.with_script_name(script.clone());
    }
    Ok(options)
}

/// Reads the log, evaluates the SLO, and returns the report.
pub(crate) fn build_report(args: &ReportArgs) -> Result<Report, CliError> {
    let (policy, mut notes) = policy(&args.objective)?;
    let mut evaluator = SloEvaluator::new(policy, args.resolution)?;
    // Reports are taken at bucket boundaries: `--at` inside a bucket is rounded down to its
    // start, and requests from that boundary on count as after `--at`, so every request is
    // counted on exactly one side.
    // `SloEvaluator::new` above accepted the resolution: a whole, non-zero number of ms.
    let resolution_ms = i64::try_from(args.resolution.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    let at_ms = args.at.map(|t| {
        let ms = t.timestamp_millis();
        let aligned = ms - ms.rem_euclid(resolution_ms);
        if aligned != ms {
            notes.push(format!(
                "--at {} rounded down to the {} bucket boundary {}",
                t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                duration_label(args.resolution),
                time_ms(Some(aligned))
            ));
        }
        aligned
    });
    let format = match args.log_format {
        LogFormatArg::Combined => LogFormat::Combined,
        LogFormatArg::WorkersJsonl => LogFormat::WorkersJsonl,
    };
    let options = read_options(args)?;
    let mut after_at = 0u64;
    let mut on_event = |event: parky_slo::model::SliEvent| match at_ms {
        Some(at) if event.timestamp_ms >= at => after_at += 1,
        _ => evaluator.record_event(&event),
    };
    let path = args.log.display().to_string();
    let input_name = if path == "-" {
        "standard input".to_owned()
    } else {
        path.clone()
    };
    let read = if path == "-" {
        let stdin = std::io::stdin().lock();
        source::SliReader::new(stdin, format, options)
            .with_input_name("standard input")
            .for_each_event(&mut on_event)?
    } else {
        source::read_log_file(&args.log, format, options, &mut on_event)?
    };
    if read.events == 0 {
        let mut detail = format!("{} lines read", read.lines);
        if read.filtered > 0 {
            detail.push_str(&format!(", {} events of other scripts", read.filtered));
        }
        return Err(CliError::NoRequests {
            input: input_name,
            detail,
        });
    }
    let status = match at_ms {
        Some(at) => evaluator.status(at),
        None => evaluator.finish(),
    };
    if status.requests == 0 {
        notes.push("no requests in the SLO period before --at".to_owned());
    }
    if status.late > 0 {
        notes.push(format!(
            "{} requests came after their minute had been evaluated (the input is not in time \
             order): they count in the totals and burn rates, not in the alert timeline; \
             sort the input or pass rotated files oldest first",
            render::count(status.late)
        ));
    }
    if status.dropped > 0 {
        notes.push(format!(
            "{} requests dropped: older than the {} period before a later request, or outside \
             the years 0000-9999",
            render::count(status.dropped),
            duration_label(status.objective.period())
        ));
    }
    Ok(Report {
        input: InputSummary {
            path,
            format,
            after_at,
            read,
        },
        status,
        timeline: evaluator.take_timeline(),
        notes,
    })
}

/// `parky slo report`.
pub(crate) fn report(args: &ReportArgs, out: &mut impl Write) -> Result<(), CliError> {
    let report = build_report(args)?;
    match args.output {
        Output::Json => {
            // Text and Markdown carry the notes; JSON readers also get them on stderr.
            for note in &report.notes {
                tracing::warn!("{note}");
            }
            serde_json::to_writer_pretty(&mut *out, &report)?;
            writeln!(out)?;
        }
        Output::Text => out.write_all(report_text(&report).as_bytes())?,
        Output::Markdown => out.write_all(report_markdown(&report).as_bytes())?,
    }
    Ok(())
}

fn time_ms(ms: Option<i64>) -> String {
    ms.and_then(DateTime::<Utc>::from_timestamp_millis)
        .map_or_else(|| "-".to_owned(), render::time)
}

fn sli_text(status: &SloStatus) -> String {
    status
        .sli
        .map_or_else(|| "no traffic".to_owned(), |sli| render::percent(sli, 3))
}

fn budget_text(status: &SloStatus) -> String {
    let mut text = format!(
        "{} consumed, {} remaining",
        render::percent(status.budget_consumed, 1),
        render::percent(status.budget_remaining, 1)
    );
    match status.time_to_exhaustion {
        Some(d) if d.is_zero() => text.push_str("; exhausted"),
        Some(d) => text.push_str(&format!(
            "; gone in {} at the {} pace",
            duration_label(Duration::from_secs(d.as_secs())),
            duration_label(status.exhaustion_window)
        )),
        None => text.push_str(&format!(
            "; not being spent over the last {}",
            duration_label(status.exhaustion_window)
        )),
    }
    text
}

fn burn_table(status: &SloStatus) -> Table {
    let mut table = Table::new(&["window", "requests", "bad", "burn rate"]);
    for w in &status.burn_rates {
        table.row(vec![
            duration_label(w.window),
            render::count(w.requests),
            render::count(w.bad),
            format!("{:.2}", w.burn_rate.value()),
        ]);
    }
    table
}

fn alerts_text(status: &SloStatus) -> String {
    status
        .alerts
        .iter()
        .map(|a| {
            let state = match (a.firing, a.since_ms) {
                (true, since) => format!("FIRING since {}", time_ms(since)),
                (false, Some(since)) => format!("ok (resolved {})", time_ms(Some(since))),
                (false, None) => "ok".to_owned(),
            };
            format!("{}: {state}", a.severity)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The alert timeline as a table (shared with the demo).
pub(crate) fn timeline_table(timeline: &[AlertTransition]) -> Table {
    let mut table = Table::new(&[
        "at",
        "severity",
        "state",
        "windows",
        "burn rates (long / short)",
    ]);
    for t in timeline {
        table.row(vec![
            time_ms(Some(t.at_ms)),
            t.severity.to_string(),
            match t.state {
                AlertPhase::Firing => "firing".to_owned(),
                AlertPhase::Resolved => "resolved".to_owned(),
            },
            format!(
                "{}/{} > {}",
                duration_label(t.long_window),
                duration_label(t.short_window),
                trim_float(t.burn_factor)
            ),
            format!(
                "{:.3} / {:.3}",
                t.long_burn_rate.value(),
                t.short_burn_rate.value()
            ),
        ]);
    }
    table
}

/// `14.4` stays `14.4`, `0.9333333` becomes `0.93`, `6.0` becomes `6`.
fn trim_float(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn input_lines(input: &InputSummary) -> String {
    let read = &input.read;
    let mut text = format!(
        "{} read: {} events, {} malformed, {} blank",
        render::count(read.lines),
        render::count(read.events),
        render::count(read.malformed),
        render::count(read.blank)
    );
    if read.filtered > 0 {
        text.push_str(&format!(", {} other scripts", render::count(read.filtered)));
    }
    if input.after_at > 0 {
        text.push_str(&format!(", {} after --at", render::count(input.after_at)));
    }
    text
}

fn report_text(report: &Report) -> String {
    let s = &report.status;
    let objective = s.objective;
    let mut out = format!(
        "SLO report: {} ({})\n",
        report.input.path, report.input.format
    );
    let rows = [
        (
            "objective",
            format!(
                "{} good over {}, as of {}",
                render::percent(objective.target(), 3),
                duration_label(objective.period()),
                time_ms(s.as_of_ms)
            ),
        ),
        ("lines", input_lines(&report.input)),
        (
            "requests",
            format!(
                "{}: {} good, {} bad",
                render::count(s.requests),
                render::count(s.good),
                render::count(s.bad)
            ),
        ),
        ("SLI", sli_text(s)),
        ("error budget", budget_text(s)),
        ("alerts", alerts_text(s)),
    ];
    for (name, value) in rows {
        out.push_str(&format!("  {name:<13}{value}\n"));
    }
    for m in &report.input.read.first_malformed {
        out.push_str(&format!(
            "  {:<13}line {}: {}: {}\n",
            "malformed", m.line, m.reason, m.excerpt
        ));
    }
    for note in &report.notes {
        out.push_str(&format!("  {:<13}{note}\n", "note"));
    }
    out.push_str("\n  burn rates\n");
    out.push_str(&burn_table(s).text("    "));
    out.push_str("\n  alert timeline\n");
    if report.timeline.is_empty() {
        out.push_str("    no alert fired\n");
    } else {
        out.push_str(&timeline_table(&report.timeline).text("    "));
    }
    out
}

fn report_markdown(report: &Report) -> String {
    let s = &report.status;
    let mut out = format!(
        "# SLO report: `{}`\n\n| | |\n|---|---|\n",
        report.input.path.replace('`', "'")
    );
    let rows = [
        (
            "objective",
            format!(
                "{} over {}",
                render::percent(s.objective.target(), 3),
                duration_label(s.objective.period())
            ),
        ),
        ("as of", time_ms(s.as_of_ms)),
        (
            "input",
            format!("{} ({})", input_lines(&report.input), report.input.format),
        ),
        ("requests", render::count(s.requests)),
        ("good", render::count(s.good)),
        ("bad", render::count(s.bad)),
        ("SLI", sli_text(s)),
        ("error budget", budget_text(s)),
        ("alerts", alerts_text(s)),
    ];
    for (name, value) in rows {
        out.push_str(&format!("| {name} | {} |\n", value.replace('|', "\\|")));
    }
    if !report.notes.is_empty() {
        out.push_str("\n## Notes\n\n");
        for note in &report.notes {
            out.push_str(&format!("- {note}\n"));
        }
    }
    if !report.input.read.first_malformed.is_empty() {
        out.push_str("\n## Malformed lines\n\n");
        for m in &report.input.read.first_malformed {
            out.push_str(&format!(
                "- line {}: {}: `{}`\n",
                m.line,
                m.reason,
                m.excerpt.replace('`', "'")
            ));
        }
    }
    out.push_str("\n## Burn rates\n\n");
    out.push_str(&burn_table(s).markdown());
    out.push_str("\n## Alert timeline\n\n");
    if report.timeline.is_empty() {
        out.push_str("No alert fired.\n");
    } else {
        out.push_str(&timeline_table(&report.timeline).markdown());
    }
    out
}

/// `parky slo windows`.
pub(crate) fn windows(args: &WindowsArgs, out: &mut impl Write) -> Result<(), CliError> {
    let (policy, notes) = policy(&args.objective)?;
    let rows = policy.window_table(1.0);
    match args.output {
        Output::Json => {
            #[derive(Serialize)]
            struct Windows<'a> {
                objective: &'a Objective,
                windows: &'a [parky_slo::policy::alert::WindowSummary],
                notes: &'a [String],
            }
            serde_json::to_writer_pretty(
                &mut *out,
                &Windows {
                    objective: policy.objective(),
                    windows: &rows,
                    notes: &notes,
                },
            )?;
            writeln!(out)?;
        }
        Output::Text | Output::Markdown => {
            let objective = policy.objective();
            let mut table = Table::new(&[
                "severity",
                "long window",
                "short window",
                "budget share",
                "burn factor",
                "error ratio",
                "detection at 100 % errors",
            ]);
            for row in &rows {
                table.row(vec![
                    row.severity.to_string(),
                    duration_label(row.long_window),
                    duration_label(row.short_window),
                    render::percent(row.budget_share, 0),
                    trim_float(row.burn_factor),
                    render::percent(row.threshold_error_ratio, 3),
                    row.detection_time
                        .map_or_else(|| "never".to_owned(), render::seconds),
                ]);
            }
            if args.output == Output::Text {
                writeln!(
                    out,
                    "Alert windows for {} over {} (SRE workbook, multi-window multi-burn-rate)\n",
                    render::percent(objective.target(), 3),
                    duration_label(objective.period())
                )?;
                out.write_all(table.text("  ").as_bytes())?;
                for note in &notes {
                    writeln!(out, "  note: {note}")?;
                }
            } else {
                writeln!(
                    out,
                    "# Alert windows for {} over {}\n",
                    render::percent(objective.target(), 3),
                    duration_label(objective.period())
                )?;
                out.write_all(table.markdown().as_bytes())?;
                for note in &notes {
                    writeln!(out, "\n- note: {note}")?;
                }
            }
        }
    }
    Ok(())
}
