//! `parky notify …`: routing checks, the durable outbox, Sentry alert rules as code.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parky_core::{Backoff, Clock, Jitter, RetryPolicy, SystemClock};
use parky_notify::outbox::{
    deliver_due, DeliveryPolicy, EntryId, EntryState, IdempotencyKey, Outbox, SqliteOutbox,
};
use parky_notify::pipeline::Pipeline;
use parky_notify::policy::strategy::SeverityStrategy;
use parky_notify::receiver::Notifier;
use parky_notify::sentry::{apply, plan_sync, ApplyOptions, RuleSet, SentryClient};
use parky_notify::server::{serve as serve_http, Service};
use parky_notify::wiring::wire_receivers;
use parky_notify::{labels_from, Field, Message, MessageStatus, NotifyPolicy};
use parky_slo::objective::duration_label;
use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;
use secrecy::SecretString;
use serde_json::json;

use crate::args::{
    NotifyConfigArgs, OutboxListArgs, OutboxRetryArgs, Output, RouteArgs, SendArgs, SentrySyncArgs,
    ServeArgs,
};
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
                duration_label(r.timing.group_wait),
                duration_label(r.timing.group_interval),
                duration_label(r.timing.repeat_interval),
            ]);
        }
        out.write_all(table.text("").as_bytes())?;
    }
    Ok(())
}

/// The routing policy, strategy and notifiers of `notify send` / `notify serve`.
struct NotifySetup {
    policy: NotifyPolicy,
    strategy: SeverityStrategy,
    notifiers: BTreeMap<String, Arc<dyn Notifier>>,
    outbox: SqliteOutbox,
}

fn setup(files: &NotifyConfigArgs) -> Result<NotifySetup, CliError> {
    let policy = load_policy(&files.config)?;
    let strategy = match &files.strategy {
        Some(path) => {
            SeverityStrategy::from_yaml(&read_text(path)?).map_err(|source| CliError::Config {
                path: path.clone(),
                source: Box::new(source),
            })?
        }
        None => SeverityStrategy::default(),
    };
    let base_dir = files
        .config
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let wired = wire_receivers(&policy, &base_dir, Arc::new(SystemClock)).map_err(|source| {
        CliError::Config {
            path: files.config.clone(),
            source: Box::new(source),
        }
    })?;
    let outbox = SqliteOutbox::open(&files.outbox)?;
    // The outbox delivers only to the targets of the configuration that wrote its entries.
    outbox.bind(&wired.targets, SystemClock.now())?;
    Ok(NotifySetup {
        policy,
        strategy,
        notifiers: wired.notifiers,
        outbox,
    })
}

/// Retries: 8 attempts, full jitter from 1 s to 5 min, never waiting more than an hour for a
/// receiver's Retry-After.
fn delivery_policy() -> Result<DeliveryPolicy, CliError> {
    let backoff = Backoff::new(
        Duration::from_secs(1),
        Duration::from_secs(300),
        Jitter::Full,
    )?;
    Ok(DeliveryPolicy::new(RetryPolicy::new(
        8,
        backoff,
        Duration::from_secs(3_600),
    )?))
}

/// `parky notify send`.
pub(crate) fn send(args: &SendArgs, out: &mut impl Write) -> Result<(), CliError> {
    let setup = setup(&args.files)?;
    let now = SystemClock.now();
    let mut labels = labels_from(args.fields.iter().cloned());
    labels.insert("alertname".to_owned(), args.title.clone());
    labels.insert("severity".to_owned(), args.severity.to_string());
    let mut receivers = args.receivers.clone();
    if receivers.is_empty() {
        receivers = setup
            .policy
            .receivers_for(&labels)
            .into_iter()
            .chain(setup.strategy.rule(args.severity).receivers.iter().cloned())
            .collect();
    }
    let mut seen = std::collections::BTreeSet::new();
    receivers.retain(|r| seen.insert(r.clone()));
    for receiver in &receivers {
        if !setup.notifiers.contains_key(receiver) {
            return Err(CliError::Flag {
                flag: "--receiver",
                reason: format!(
                    "`{receiver}` is not a receiver of {}",
                    args.files.config.display()
                ),
            });
        }
    }
    // One message per receiver; the sequence (the send time in µs) tells sends apart.
    let sequence = u64::try_from(now.timestamp_micros()).unwrap_or(0);
    let messages: Vec<Message> = receivers
        .iter()
        .map(|receiver| Message {
            receiver: receiver.clone(),
            dedup_key: format!("send|{}|{receiver}", args.title),
            sequence,
            severity: args.severity,
            status: MessageStatus::Firing,
            title: format!("[{}] {}", args.severity, args.title),
            summary: args.summary.clone(),
            fields: args
                .fields
                .iter()
                .map(|(name, value)| Field {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            mentions: setup.strategy.rule(args.severity).mentions.clone(),
            url: args.url.clone(),
            source: "parky notify send".to_owned(),
            timestamp: now,
        })
        .collect();
    setup.outbox.enqueue_batch(&messages, now)?;
    let policy = delivery_policy()?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(sequence);
    let report = crate::runtime()?.block_on(deliver_due(
        &setup.outbox,
        &SystemClock,
        &setup.notifiers,
        &policy,
        &mut rng,
    ))?;
    // Count this command's own messages by their state (another process may have delivered
    // one, and the outbox may have held older entries that this run delivered too).
    let later = SystemClock.now();
    let mut counts = [0usize; 3]; // delivered, to retry, dead
    for m in &messages {
        match setup.outbox.state(&IdempotencyKey::of(m), later)? {
            Some(EntryState::Delivered) => counts[0] += 1,
            Some(EntryState::Dead) => counts[2] += 1,
            _ => counts[1] += 1,
        }
    }
    writeln!(
        out,
        "{} to {}: {} delivered, {} to retry, {} dead letters (outbox {})",
        args.severity,
        receivers.join(", "),
        counts[0],
        counts[1],
        counts[2],
        args.files.outbox.display()
    )?;
    if report.delivered > counts[0] {
        writeln!(
            out,
            "also delivered {} earlier notifications that were due in the outbox",
            report.delivered - counts[0]
        )?;
    }
    if counts[0] < messages.len() {
        return Err(CliError::NotDelivered {
            undelivered: messages.len() - counts[0],
            outbox: args.files.outbox.clone(),
        });
    }
    Ok(())
}

/// `parky notify serve`: runs until Ctrl-C (or SIGTERM).
pub(crate) fn serve(args: &ServeArgs) -> Result<(), CliError> {
    let setup = setup(&args.files)?;
    let pipeline =
        Pipeline::new(setup.policy, setup.strategy).map_err(|source| CliError::Config {
            path: args.files.strategy.clone().unwrap_or_default(),
            source: Box::new(source),
        })?;
    // Continue from the pipeline state stored in the outbox file (alerts waiting for
    // group_wait, held messages, digests), if any.
    let service = Arc::new(Service::resume(
        pipeline,
        Arc::new(setup.outbox),
        setup.notifiers,
        Arc::new(SystemClock),
        delivery_policy()?,
    )?);
    let runtime = crate::runtime()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|source| CliError::Flag {
                flag: "--listen",
                reason: format!("cannot listen on {}: {source}", args.listen),
            })?;
        eprintln!(
            "parky: receiving alerts on http://{} (POST /api/v1/alertmanager, /api/v1/alerts); Ctrl-C stops",
            listener.local_addr().unwrap_or(args.listen)
        );
        serve_http(listener, service, shutdown_signal()).await?;
        Ok(())
    })
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        // Without a signal handler we can only run until killed.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
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
    let token = token
        .ok()
        .filter(|t| !t.is_empty())
        .ok_or(CliError::MissingEnv {
            var: SENTRY_TOKEN_VAR,
            hint: "export a Sentry auth token with alerts:read (and alerts:write to apply)",
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
