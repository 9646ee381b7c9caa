//! Stage 2 of the demo: the SLO alerts of stage 1 go through parky-notify's Alertmanager-style
//! routing and the P0–P3 severity strategy, into the durable outbox, and out to file receivers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parky_core::{Backoff, Jitter, ManualClock, RetryPolicy};
use parky_notify::outbox::{deliver_due, DeliveryPolicy, MemoryOutbox, Outbox};
use parky_notify::pipeline::{Pipeline, TimedAlert};
use parky_notify::policy::strategy::SeverityStrategy;
use parky_notify::receiver::{FileNotifier, Notifier};
use parky_notify::{MessageStatus, NotifyPolicy, Severity};
use parky_slo::evaluator::{AlertPhase, AlertTransition};
use parky_slo::objective::duration_label;
use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;
use serde::Serialize;

use crate::error::CliError;

/// The routing tree, in Alertmanager's format (`parky notify route --config` reads it): pages
/// go to the on-call, everything else to the team channel.
pub(crate) const ROUTING: &str = r#"
route:
  receiver: team
  group_by: [alertname, slo]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - matchers: ['severity="page"']
      receiver: oncall
receivers:
  - name: oncall
  - name: team
"#;

/// The handbook's severity strategy: P0 pages the on-call with `@here`; P2 waits for Tokyo
/// working hours; P3 goes into a morning digest.
pub(crate) const STRATEGY: &str = r#"
severity_label: severity
default_severity: P2
severities:
  P0: {mentions: ["@here"], repeat_interval: 1h}
  P1: {receivers: [oncall], escalate_after: 30m, escalate_to: P0}
  P2:
    repeat_interval: 24h
    quiet_hours:
      timezone: Asia/Tokyo
      working_hours: [{weekdays: ["monday:friday"], start: "09:00", end: "18:00"}]
  P3: {digest: {timezone: Asia/Tokyo, at: "09:30"}}
receivers:
  oncall: {send_resolved: true}
  team: {send_resolved: true}
"#;

/// One notification as the demo reports it.
#[derive(Debug, Serialize)]
pub(crate) struct Sent {
    /// When the pipeline released it (after group wait, quiet hours, …).
    pub(crate) at: DateTime<Utc>,
    /// The receiver.
    pub(crate) receiver: String,
    /// Its severity.
    pub(crate) severity: Severity,
    /// Firing or resolved.
    pub(crate) status: MessageStatus,
    /// Its title.
    pub(crate) title: String,
    /// Mentions, e.g. `@here`.
    pub(crate) mentions: Vec<String>,
}

/// What stage 2 did.
#[derive(Debug, Serialize)]
pub(crate) struct NotifyStage {
    /// Every message, in the order it was released.
    pub(crate) sent: Vec<Sent>,
    /// The JSON-lines file the file receivers wrote.
    pub(crate) file: PathBuf,
    /// Messages the outbox delivered.
    pub(crate) delivered: usize,
    /// Messages left in the outbox (should be 0).
    pub(crate) pending: usize,
}

fn alert_labels(t: &AlertTransition) -> [(&'static str, String); 4] {
    [
        ("alertname", "ErrorBudgetBurn".to_owned()),
        ("slo", "web-availability".to_owned()),
        ("severity", t.severity.to_string()),
        (
            "window",
            format!(
                "{}/{}",
                duration_label(t.long_window),
                duration_label(t.short_window)
            ),
        ),
    ]
}

fn time(ms: i64) -> DateTime<Utc> {
    // The timeline's instants are the demo's fixed 2026 dates, well inside chrono's range.
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Routes `timeline` and delivers it to file receivers writing `dir/notifications.jsonl`;
/// `until` is the end of the simulation.
pub(crate) fn notify_stage(
    timeline: &[AlertTransition],
    until: DateTime<Utc>,
    dir: &Path,
) -> Result<NotifyStage, CliError> {
    let policy = NotifyPolicy::from_yaml(ROUTING)?;
    let strategy = SeverityStrategy::from_yaml(STRATEGY)?;
    // The SLO evaluator says explicitly when an alert resolves, so alerts do not time out.
    let mut pipeline =
        Pipeline::new(policy, strategy)?.with_resolve_timeout(Duration::from_secs(90 * 86_400));

    let mut sent = Vec::new();
    let mut messages = Vec::new();
    let mut release = |pipeline: &mut Pipeline, now: DateTime<Utc>| {
        while let Some(next) = pipeline.next_wakeup().filter(|next| *next <= now) {
            for m in pipeline.tick(next) {
                sent.push(Sent {
                    at: next,
                    receiver: m.receiver.clone(),
                    severity: m.severity,
                    status: m.status,
                    title: m.title.clone(),
                    mentions: m.mentions.clone(),
                });
                messages.push(m);
            }
        }
    };
    let mut fired_at = BTreeMap::new();
    for t in timeline {
        let at = time(t.at_ms);
        release(&mut pipeline, at);
        let labels = alert_labels(t);
        let alert = match t.state {
            AlertPhase::Firing => {
                fired_at.insert(t.severity, at);
                TimedAlert::new(labels, at)
            }
            AlertPhase::Resolved => {
                let start = fired_at.get(&t.severity).copied().unwrap_or(at);
                TimedAlert::new(labels, start).ending_at(at)
            }
        };
        let alert = alert
            .with_annotation(
                "summary",
                format!(
                    "burn rate {:.2} over {} and {:.2} over {} (factor {})",
                    t.long_burn_rate.value(),
                    duration_label(t.long_window),
                    t.short_burn_rate.value(),
                    duration_label(t.short_window),
                    t.burn_factor
                ),
            )
            .with_source("parky-slo");
        pipeline.receive(alert, at);
    }
    // Let holds (quiet hours) and group timers run out after the simulation too.
    release(&mut pipeline, until + chrono::Duration::days(4));

    std::fs::create_dir_all(dir).map_err(|source| CliError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let file = dir.join("notifications.jsonl");
    // Start from a new, empty file so that each run shows its own messages. Remove what is
    // there and create the file exclusively: a symlink planted at this path in a shared
    // temporary directory is removed, never followed.
    match std::fs::remove_file(&file) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(CliError::Io {
                path: file.clone(),
                source,
            })
        }
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&file)
        .map_err(|source| CliError::Io {
            path: file.clone(),
            source,
        })?;
    let receivers: BTreeMap<String, Arc<dyn Notifier>> = ["oncall", "team"]
        .into_iter()
        .map(|name| {
            let notifier: Arc<dyn Notifier> = Arc::new(FileNotifier::new(name, &file));
            (name.to_owned(), notifier)
        })
        .collect();

    // Every message is written to the outbox before delivery, as in `parky notify serve`.
    let outbox = MemoryOutbox::new();
    let clock = ManualClock::new(until + chrono::Duration::days(4));
    outbox.enqueue_batch(&messages, parky_core::Clock::now(&clock))?;
    let backoff = Backoff::new(
        Duration::from_secs(1),
        Duration::from_secs(60),
        Jitter::Full,
    )?;
    let policy = DeliveryPolicy::new(RetryPolicy::new(5, backoff, Duration::from_secs(300))?);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
    let runtime = crate::runtime()?;
    let mut delivered = 0;
    loop {
        let report =
            runtime.block_on(deliver_due(&outbox, &clock, &receivers, &policy, &mut rng))?;
        if report.claimed == 0 {
            break;
        }
        delivered += report.delivered;
    }
    let pending = outbox.pending()?.len();
    Ok(NotifyStage {
        sent,
        file,
        delivered,
        pending,
    })
}
