//! `parky notify …`: routing checks, the durable outbox, Sentry alert rules as code.

use std::io::Write;
use std::path::Path;

use parky_notify::outbox::{EntryId, Outbox, SqliteOutbox};
use parky_notify::sentry::{apply, plan_sync, ApplyOptions, RuleSet, SentryClient};
use parky_notify::{labels_from, NotifyPolicy};
use secrecy::SecretString;
use serde_json::json;

use crate::args::{OutboxListArgs, OutboxRetryArgs, Output, RouteArgs, SentrySyncArgs};
use crate::error::CliError;
use crate::render::{self, Table};

/// The environment variable holding the Sentry auth token.
pub(crate) const SENTRY_TOKEN_VAR: &str = "SENTRY_AUTH_TOKEN";

fn read_text(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|source| CliError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Loads a routing configuration; errors name the file.
pub(crate) fn load_policy(path: &Path) -> Result<NotifyPolicy, CliError> {
    NotifyPolicy::from_yaml(&read_text(path)?).map_err(|source| CliError::Config {
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

/// `parky notify route`: prints the receivers comma-separated, as amtool does.
pub(crate) fn route(args: &RouteArgs, out: &mut impl Write) -> Result<(), CliError> {
    let policy = load_policy(&args.config)?;
    let labels = labels_from(args.labels.iter().cloned());
    let routes = policy.route(&labels);
    let receivers: Vec<&str> = routes.iter().map(|r| r.receiver.as_str()).collect();
    writeln!(out, "{}", receivers.join(","))?;
    if args.verbose {
        let mut table = Table::new(&[
            "receiver",
            "route",
            "group key",
            "group_wait",
            "group_interval",
            "repeat_interval",
        ]);
        for r in &routes {
            table.row(vec![
                r.receiver.clone(),
                r.path.clone(),
                r.group_key(&labels),
                render::duration(r.timing.group_wait),
                render::duration(r.timing.group_interval),
                render::duration(r.timing.repeat_interval),
            ]);
        }
        out.write_all(table.text("").as_bytes())?;
    }
    Ok(())
}

fn open_outbox(path: &Path) -> Result<SqliteOutbox, CliError> {
    if !path.exists() {
        return Err(CliError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no outbox file here"),
        });
    }
    Ok(SqliteOutbox::open(path)?)
}

/// `parky notify outbox list`.
pub(crate) fn outbox_list(args: &OutboxListArgs, out: &mut impl Write) -> Result<(), CliError> {
    let outbox = open_outbox(&args.outbox)?;
    let pending = outbox.pending()?;
    let dead = outbox.dead_letters()?;
    match args.output {
        Output::Json => {
            let doc = json!({
                "pending": pending.iter().map(|p| json!({
                    "id": p.id.0,
                    "receiver": p.message.receiver,
                    "dedup_key": p.message.dedup_key,
                    "sequence": p.message.sequence,
                    "severity": p.message.severity,
                    "title": p.message.title,
                    "attempts": p.attempts,
                    "next_attempt_at": p.next_attempt_at,
                    "last_error": p.last_error,
                    "enqueued_at": p.enqueued_at,
                })).collect::<Vec<_>>(),
                "dead_letters": dead.iter().map(|d| json!({
                    "id": d.id.0,
                    "receiver": d.message.receiver,
                    "dedup_key": d.message.dedup_key,
                    "sequence": d.message.sequence,
                    "severity": d.message.severity,
                    "title": d.message.title,
                    "attempts": d.attempts,
                    "reason": d.reason,
                    "last_error": d.last_error,
                    "enqueued_at": d.enqueued_at,
                    "died_at": d.died_at,
                })).collect::<Vec<_>>(),
            });
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)?;
        }
        Output::Text | Output::Markdown => {
            let mut table = Table::new(&[
                "id", "state", "receiver", "severity", "attempts", "when", "title", "error",
            ]);
            for p in &pending {
                table.row(vec![
                    p.id.0.to_string(),
                    "pending".to_owned(),
                    p.message.receiver.clone(),
                    p.message.severity.to_string(),
                    p.attempts.to_string(),
                    render::time(p.next_attempt_at),
                    p.message.title.clone(),
                    p.last_error.clone().unwrap_or_default(),
                ]);
            }
            for d in &dead {
                table.row(vec![
                    d.id.0.to_string(),
                    "dead".to_owned(),
                    d.message.receiver.clone(),
                    d.message.severity.to_string(),
                    d.attempts.to_string(),
                    render::time(d.died_at),
                    d.message.title.clone(),
                    format!(
                        "{}{}",
                        d.reason,
                        d.last_error
                            .as_ref()
                            .map_or(String::new(), |e| format!(": {e}"))
                    ),
                ]);
            }
            let text = if args.output == Output::Markdown {
                table.markdown()
            } else {
                table.text("")
            };
            out.write_all(text.as_bytes())?;
            writeln!(
                out,
                "{} pending, {} dead letters ({})",
                pending.len(),
                dead.len(),
                args.outbox.display()
            )?;
        }
    }
    Ok(())
}

/// `parky notify outbox retry`.
pub(crate) fn outbox_retry(args: &OutboxRetryArgs, out: &mut impl Write) -> Result<(), CliError> {
    let outbox = open_outbox(&args.outbox)?;
    let now = chrono::Utc::now();
    if args.all {
        let n = outbox.requeue_all(now)?;
        writeln!(out, "re-queued {n} dead letters")?;
    } else if let Some(id) = args.id {
        outbox.requeue(EntryId(id), now)?;
        writeln!(out, "re-queued dead letter {id}")?;
    }
    Ok(())
}

/// `parky notify sentry-sync`.
pub(crate) fn sentry_sync(args: &SentrySyncArgs, out: &mut impl Write) -> Result<(), CliError> {
    let rules =
        RuleSet::from_yaml(&read_text(&args.rules)?).map_err(|source| CliError::Config {
            path: args.rules.clone(),
            source: Box::new(source),
        })?;
    let token = std::env::var(SENTRY_TOKEN_VAR);
    let token = token.ok().filter(|t| !t.is_empty()).ok_or(CliError::Flag {
        flag: SENTRY_TOKEN_VAR,
        reason: "set it to a Sentry auth token with alerts:read (and alerts:write to apply)"
            .to_owned(),
    })?;
    let client = SentryClient::new(&args.base_url, SecretString::from(token))?;
    let runtime = crate::runtime()?;
    let plan = runtime.block_on(plan_sync(&client, &rules))?;
    match args.output {
        Output::Json => {
            serde_json::to_writer_pretty(&mut *out, &plan)?;
            writeln!(out)?;
        }
        Output::Text | Output::Markdown => write!(out, "{plan}")?,
    }
    if args.dry_run || plan.is_in_sync() && !args.delete_extra {
        return Ok(());
    }
    let report = runtime.block_on(apply(
        &client,
        &plan,
        ApplyOptions {
            delete_extra: args.delete_extra,
        },
    ))?;
    writeln!(
        out,
        "applied: {} created, {} updated, {} deleted, {} untouched",
        report.created.len(),
        report.updated.len(),
        report.deleted.len(),
        report.untouched.len()
    )?;
    Ok(())
}
