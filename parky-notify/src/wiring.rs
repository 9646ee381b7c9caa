//! Wiring: the [`Notifier`]s of the receivers of an Alertmanager-format configuration.
//!
//! [`NotifyPolicy`] keeps each receiver's `*_configs` blocks as opaque YAML; this module reads
//! them and builds one [`Notifier`] per receiver with [`notifiers_from_policy`]. The same
//! configuration file therefore describes routing *and* delivery, as in Alertmanager.
//!
//! # Integrations
//!
//! | block | Parky notifier | fields read | accepted and ignored |
//! |---|---|---|---|
//! | `discord_configs` | [`DiscordWebhook`] | `webhook_url` or `webhook_url_file`, `send_resolved` | `title`, `message`, `content`, `username`, `avatar_url` |
//! | `pagerduty_configs` | [`PagerDuty`] (Events API v2) | `routing_key` or `routing_key_file`, `url`, `send_resolved` | `client`, `client_url`, `description`, `details`, `images`, `links`, `source`, `severity`, `class`, `component`, `group` |
//! | `slack_configs` | [`SlackWebhook`] | `api_url` or `api_url_file`, `send_resolved` | `channel`, `username`, `color`, `title`, `title_link`, `pretext`, `text`, `fields`, `short_fields`, `footer`, `fallback`, `callback_id`, `icon_emoji`, `icon_url`, `image_url`, `thumb_url`, `link_names`, `mrkdwn_in`, `actions` |
//! | `webhook_configs` | [`JsonWebhook`] | `url` or `url_file`, `send_resolved` | `max_alerts` |
//! | `file_configs` (Parky extension) | [`FileNotifier`] | `path` (`-` for standard output), `send_resolved` | — |
//!
//! - Field names and the "exactly one of `x` / `x_file`" rule are Alertmanager 0.25's (the
//!   `*_file` variants of Discord and webhooks arrived in later releases; they are accepted
//!   here too). A `*_file` path is relative to `base_dir` (the configuration file's
//!   directory) unless absolute; its content is trimmed of surrounding whitespace, as
//!   Alertmanager does.
//! - "Accepted and ignored" fields are Alertmanager's templates and presentation options:
//!   Parky renders its own messages ([`crate::receiver`]), so a configuration written for
//!   Alertmanager loads unchanged. `send_resolved` is read by the [`crate::pipeline`], with
//!   Alertmanager's defaults; here it is only checked to be a boolean.
//! - Refused with an error naming the path: any other field (a typo such as
//!   `receivers[2].discord_configs[0].webhok_url`), `http_config` (proxies, TLS and
//!   authentication settings are not supported, and silently dropping them would send
//!   without them), PagerDuty's `service_key` / `service_key_file` (Events API v1), a
//!   missing or doubled URL / key, a URL that is not absolute `http(s)`, an unreadable
//!   secret file, and integration kinds Parky has no notifier for (`email_configs`,
//!   `opsgenie_configs`, …).
//! - `global` is not read (the policy ignores it): `slack_configs` need their own `api_url`
//!   and `pagerduty_configs` their own `url` if not the default.
//! - `file_configs` is Parky's own: Alertmanager and `amtool check-config` refuse it, so keep
//!   it out of files that Alertmanager itself loads.
//!
//! # Receivers with several integrations, or none
//!
//! A receiver with one integration gets that notifier, named after the receiver. A receiver
//! with several gets a [`FanOut`]: one [`Notifier`] (so one outbox entry per message) that
//! sends the message to every integration in configuration order and succeeds only if all of
//! them accepted it. Its integrations are named `<receiver>/<kind>[<index>]` (for example
//! `oncall/discord_configs[1]`), which is what their errors show. On a failure the outbox
//! retries the whole entry, but the fan-out remembers which integrations already accepted
//! that message (by `dedup_key` and `sequence`) and sends only to the others; that memory is
//! in-process, so after a restart a retry may repeat a message to an integration that had
//! it (the outbox is at-least-once anyway). A receiver without integrations is
//! Alertmanager's "blackhole": it gets a [`Blackhole`] that accepts and drops every message.
//!
//! # Secrets
//!
//! URLs become [`SecretUrl`]s and keys [`SecretString`]s as soon as they are read; no error of
//! this module contains a URL, a key or the content of a secret file.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use parky_core::{Clock, SecretString, SecretUrl, SystemClock};
use serde_yaml_ng::Value;

use crate::error::NotifyError;
use crate::message::Message;
use crate::outbox::ReceiverTarget;
use crate::policy::{NotifyPolicy, Receiver};
use crate::receiver::{
    Delivery, DiscordWebhook, FileNotifier, JsonWebhook, Notifier, PagerDuty, SlackWebhook,
};

/// The integration blocks [`notifiers_from_policy`] understands.
pub const SUPPORTED_INTEGRATIONS: [&str; 5] = [
    "discord_configs",
    "pagerduty_configs",
    "slack_configs",
    "webhook_configs",
    "file_configs",
];

/// How many messages a [`FanOut`] remembers partial deliveries of; older ones are forgotten
/// (a retry of a forgotten message goes to every integration again).
pub const FANOUT_MEMORY: usize = 10_000;

/// The notifiers of every receiver of `policy`, by receiver name, with the system clock.
/// See the [module docs](self) for the blocks read and the fields accepted.
///
/// # Errors
/// [`NotifyError::InvalidReceiverConfig`] naming the field
/// (`receivers[2].discord_configs[0].webhok_url`), or [`NotifyError::ReceiverSetup`] if an
/// HTTP client cannot be built.
pub fn notifiers_from_policy(
    policy: &NotifyPolicy,
    base_dir: &Path,
) -> Result<BTreeMap<String, Arc<dyn Notifier>>, NotifyError> {
    notifiers_from_policy_with_clock(policy, base_dir, Arc::new(SystemClock))
}

/// [`notifiers_from_policy`] with the clock the HTTP notifiers read (Discord's rate limiter,
/// HTTP-date `Retry-After`). Give it a clock that moves by itself: Discord's limiter waits
/// with tokio's real sleep.
///
/// # Errors
/// As [`notifiers_from_policy`].
pub fn notifiers_from_policy_with_clock(
    policy: &NotifyPolicy,
    base_dir: &Path,
    clock: Arc<dyn Clock>,
) -> Result<BTreeMap<String, Arc<dyn Notifier>>, NotifyError> {
    Ok(wire_receivers(policy, base_dir, clock)?.notifiers)
}

/// The notifiers of a configuration's receivers and the targets they deliver to, by
/// receiver name: what [`wire_receivers`] builds.
#[derive(Debug)]
pub struct WiredReceivers {
    /// The notifier of each receiver (as [`notifiers_from_policy`] builds them).
    pub notifiers: BTreeMap<String, Arc<dyn Notifier>>,
    /// What each receiver delivers to: every integration's kind and index with its URL,
    /// routing key (and endpoint) or file path, in configuration order; `blackhole` for a
    /// receiver without integrations. Secret; bind an outbox file with it
    /// ([`crate::outbox::SqliteOutbox::bind`]).
    pub targets: BTreeMap<String, ReceiverTarget>,
}

/// [`notifiers_from_policy_with_clock`], together with each receiver's [`ReceiverTarget`]
/// (each secret file is read once, for both).
///
/// # Errors
/// As [`notifiers_from_policy`].
pub fn wire_receivers(
    policy: &NotifyPolicy,
    base_dir: &Path,
    clock: Arc<dyn Clock>,
) -> Result<WiredReceivers, NotifyError> {
    let mut notifiers = BTreeMap::new();
    let mut targets = BTreeMap::new();
    for (index, receiver) in policy.receivers().iter().enumerate() {
        let specs = receiver_specs(receiver, index, base_dir)?;
        targets.insert(receiver.name.clone(), target_of(&specs));
        let notifier = receiver_notifier(&receiver.name, specs, &clock)?;
        notifiers.insert(receiver.name.clone(), notifier);
    }
    Ok(WiredReceivers { notifiers, targets })
}

fn receiver_specs(
    receiver: &Receiver,
    index: usize,
    base_dir: &Path,
) -> Result<Vec<(String, Spec)>, NotifyError> {
    let mut built: Vec<(String, Spec)> = Vec::new();
    for (kind, value) in &receiver.integrations {
        let path = format!("receivers[{index}].{kind}");
        if !SUPPORTED_INTEGRATIONS.contains(&kind.as_str()) {
            return Err(invalid(
                &path,
                format!(
                    "{kind} is not supported by Parky (supported: {})",
                    SUPPORTED_INTEGRATIONS.join(", ")
                ),
            ));
        }
        let entries = match value {
            Value::Null => continue,
            Value::Sequence(entries) => entries,
            _ => return Err(invalid(&path, "expected a list of integration configs")),
        };
        for (j, entry) in entries.iter().enumerate() {
            let entry_path = format!("{path}[{j}]");
            let spec = parse_entry(kind, entry, &entry_path, base_dir)?;
            built.push((format!("{kind}[{j}]"), spec));
        }
    }
    Ok(built)
}

/// The target of a receiver made of `specs`.
fn target_of(specs: &[(String, Spec)]) -> ReceiverTarget {
    if specs.is_empty() {
        return ReceiverTarget::from_parts(["blackhole"]);
    }
    let mut parts: Vec<String> = Vec::new();
    for (label, spec) in specs {
        parts.push(label.clone());
        match spec {
            Spec::Discord(url) | Spec::Slack(url) | Spec::Webhook(url) => {
                parts.push(url.expose_url().as_str().to_owned());
            }
            Spec::PagerDuty { key, url } => {
                parts.push(parky_core::ExposeSecret::expose_secret(key).to_owned());
                parts.push(
                    url.as_ref()
                        .map_or_else(String::new, |u| u.as_str().to_owned()),
                );
            }
            Spec::File(path) => parts.push(
                path.as_ref()
                    .map_or_else(|| "-".to_owned(), |p| p.display().to_string()),
            ),
        }
    }
    ReceiverTarget::from_parts(parts)
}

fn receiver_notifier(
    name: &str,
    mut built: Vec<(String, Spec)>,
    clock: &Arc<dyn Clock>,
) -> Result<Arc<dyn Notifier>, NotifyError> {
    if built.is_empty() {
        return Ok(Arc::new(Blackhole::new(name)));
    }
    if built.len() == 1 {
        let (_, spec) = built.remove(0);
        return spec.build(name, clock);
    }
    // Integrations in a stable order: the policy's map is sorted by kind, entries by index.
    let mut targets = Vec::with_capacity(built.len());
    for (label, spec) in built {
        targets.push(spec.build(&format!("{name}/{label}"), clock)?);
    }
    Ok(Arc::new(FanOut::new(name, targets)))
}

/// One integration entry, validated, secrets read.
enum Spec {
    Discord(SecretUrl),
    PagerDuty {
        key: SecretString,
        url: Option<url::Url>,
    },
    Slack(SecretUrl),
    Webhook(SecretUrl),
    File(Option<PathBuf>),
}

impl Spec {
    fn build(self, name: &str, clock: &Arc<dyn Clock>) -> Result<Arc<dyn Notifier>, NotifyError> {
        Ok(match self {
            Spec::Discord(url) => {
                Arc::new(DiscordWebhook::new(name, url)?.with_clock(Arc::clone(clock)))
            }
            Spec::PagerDuty { key, url } => {
                let pd = PagerDuty::new(name, key)?;
                Arc::new(match url {
                    Some(url) => pd.with_endpoint(url),
                    None => pd,
                })
            }
            Spec::Slack(url) => {
                Arc::new(SlackWebhook::new(name, url)?.with_clock(Arc::clone(clock)))
            }
            Spec::Webhook(url) => {
                Arc::new(JsonWebhook::new(name, url)?.with_clock(Arc::clone(clock)))
            }
            Spec::File(Some(path)) => Arc::new(FileNotifier::new(name, path)),
            Spec::File(None) => Arc::new(FileNotifier::stdout(name)),
        })
    }
}

const DISCORD_FIELDS: &[&str] = &["webhook_url", "webhook_url_file", "send_resolved"];
const DISCORD_IGNORED: &[&str] = &["title", "message", "content", "username", "avatar_url"];
const PAGERDUTY_FIELDS: &[&str] = &["routing_key", "routing_key_file", "url", "send_resolved"];
const PAGERDUTY_IGNORED: &[&str] = &[
    "client",
    "client_url",
    "description",
    "details",
    "images",
    "links",
    "source",
    "severity",
    "class",
    "component",
    "group",
];
const SLACK_FIELDS: &[&str] = &["api_url", "api_url_file", "send_resolved"];
const SLACK_IGNORED: &[&str] = &[
    "channel",
    "username",
    "color",
    "title",
    "title_link",
    "pretext",
    "text",
    "fields",
    "short_fields",
    "footer",
    "fallback",
    "callback_id",
    "icon_emoji",
    "icon_url",
    "image_url",
    "thumb_url",
    "link_names",
    "mrkdwn_in",
    "actions",
];
const WEBHOOK_FIELDS: &[&str] = &["url", "url_file", "send_resolved"];
const WEBHOOK_IGNORED: &[&str] = &["max_alerts"];
const FILE_FIELDS: &[&str] = &["path", "send_resolved"];

fn parse_entry(
    kind: &str,
    entry: &Value,
    path: &str,
    base_dir: &Path,
) -> Result<Spec, NotifyError> {
    let Value::Mapping(map) = entry else {
        return Err(invalid(path, "expected a mapping"));
    };
    let (fields, ignored): (&[&str], &[&str]) = match kind {
        "discord_configs" => (DISCORD_FIELDS, DISCORD_IGNORED),
        "pagerduty_configs" => (PAGERDUTY_FIELDS, PAGERDUTY_IGNORED),
        "slack_configs" => (SLACK_FIELDS, SLACK_IGNORED),
        "webhook_configs" => (WEBHOOK_FIELDS, WEBHOOK_IGNORED),
        _ => (FILE_FIELDS, &[]),
    };
    let mut entries: BTreeMap<String, &Value> = BTreeMap::new();
    for (key, value) in map {
        let Some(key) = key.as_str() else {
            return Err(invalid(path, "field names must be strings"));
        };
        let field_path = format!("{path}.{key}");
        if key == "http_config" {
            return Err(invalid(
                &field_path,
                "http_config is not supported by Parky's receivers",
            ));
        }
        if kind == "pagerduty_configs" && (key == "service_key" || key == "service_key_file") {
            return Err(invalid(
                &field_path,
                "service_key (PagerDuty Events API v1) is not supported; use routing_key",
            ));
        }
        if ignored.contains(&key) {
            continue;
        }
        if !fields.contains(&key) {
            return Err(invalid(
                &field_path,
                format!("unknown field (expected one of: {})", fields.join(", ")),
            ));
        }
        entries.insert(key.to_owned(), value);
    }
    if let Some(v) = entries.get("send_resolved") {
        if !matches!(v, Value::Bool(_)) {
            return Err(invalid(
                &format!("{path}.send_resolved"),
                "expected true or false",
            ));
        }
    }
    let ctx = EntryContext {
        path,
        entries: &entries,
        base_dir,
    };
    match kind {
        "discord_configs" => Ok(Spec::Discord(
            ctx.secret_url("webhook_url", "webhook_url_file")?,
        )),
        "slack_configs" => Ok(Spec::Slack(ctx.secret_url("api_url", "api_url_file")?)),
        "webhook_configs" => Ok(Spec::Webhook(ctx.secret_url("url", "url_file")?)),
        "pagerduty_configs" => {
            let key = ctx.secret("routing_key", "routing_key_file")?;
            let url = match ctx.string("url")? {
                None => None,
                Some(text) => {
                    let url = url::Url::parse(text.trim())
                        .ok()
                        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
                        .ok_or_else(|| {
                            invalid(&format!("{path}.url"), "not an absolute http(s) URL")
                        })?;
                    Some(url)
                }
            };
            Ok(Spec::PagerDuty { key, url })
        }
        _ => {
            let Some(file) = ctx.string("path")? else {
                return Err(invalid(path, "missing path"));
            };
            if file.trim().is_empty() {
                return Err(invalid(&format!("{path}.path"), "must not be empty"));
            }
            Ok(Spec::File(
                (file != "-").then(|| resolve(base_dir, Path::new(&file))),
            ))
        }
    }
}

struct EntryContext<'a> {
    path: &'a str,
    entries: &'a BTreeMap<String, &'a Value>,
    base_dir: &'a Path,
}

impl EntryContext<'_> {
    fn field_path(&self, field: &str) -> String {
        format!("{}.{field}", self.path)
    }

    fn string(&self, field: &str) -> Result<Option<String>, NotifyError> {
        match self.entries.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(&self.field_path(field), "expected a string")),
        }
    }

    /// The secret of `literal` or the trimmed content of the file named by `file`: exactly
    /// one of them must be set.
    fn secret(&self, literal: &str, file: &str) -> Result<SecretString, NotifyError> {
        let value = self.string(literal)?.filter(|s| !s.is_empty());
        let path = self.string(file)?.filter(|s| !s.is_empty());
        match (value, path) {
            (Some(_), Some(_)) => Err(invalid(
                self.path,
                format!("at most one of {literal} & {file} must be configured"),
            )),
            (None, None) => Err(invalid(
                self.path,
                format!("one of {literal} or {file} must be configured"),
            )),
            (Some(value), None) => Ok(SecretString::from(value.trim().to_owned())),
            (None, Some(file_name)) => {
                let full = resolve(self.base_dir, Path::new(&file_name));
                let content = std::fs::read_to_string(&full).map_err(|e| {
                    invalid(
                        &self.field_path(file),
                        format!("cannot read {}: {e}", full.display()),
                    )
                })?;
                let secret = SecretString::from(content.trim().to_owned());
                if parky_core::ExposeSecret::expose_secret(&secret).is_empty() {
                    return Err(invalid(
                        &self.field_path(file),
                        format!("{} is empty", full.display()),
                    ));
                }
                Ok(secret)
            }
        }
    }

    fn secret_url(&self, literal: &str, file: &str) -> Result<SecretUrl, NotifyError> {
        let from_file = self.string(file)?.is_some_and(|s| !s.is_empty());
        let secret = self.secret(literal, file)?;
        SecretUrl::from_secret(&secret).map_err(|e| {
            let (field, what) = if from_file {
                (file, "the file does not hold")
            } else {
                (literal, "not")
            };
            // `e` never contains the URL (see `SecretUrl::parse`).
            invalid(
                &self.field_path(field),
                format!("{what} an absolute http(s) URL: {e}"),
            )
        })
    }
}

fn resolve(base_dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    }
}

fn invalid(path: &str, reason: impl Into<String>) -> NotifyError {
    NotifyError::InvalidReceiverConfig {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// A receiver without integrations (Alertmanager's "blackhole" receiver): accepts every
/// message and drops it.
#[derive(Debug, Clone)]
pub struct Blackhole {
    name: String,
}

impl Blackhole {
    /// A blackhole for the receiver `name`.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }
}

#[async_trait]
impl Notifier for Blackhole {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, message: &Message) -> Result<Delivery, NotifyError> {
        tracing::debug!(receiver = %self.name, dedup_key = %message.dedup_key, "receiver has no integrations; message dropped");
        Ok(Delivery::Recorded { count: 0 })
    }
}

/// One receiver, several integrations: sends each message to all of them (see the
/// [module docs](self)).
#[derive(Debug)]
pub struct FanOut {
    name: String,
    targets: Vec<Arc<dyn Notifier>>,
    /// Per `(dedup_key, sequence)`, the indices of targets that accepted it, for messages
    /// some target has not accepted yet; oldest first for eviction.
    partial: Mutex<PartialDeliveries>,
}

#[derive(Debug, Default)]
struct PartialDeliveries {
    accepted: BTreeMap<(String, u64), BTreeSet<usize>>,
    order: VecDeque<(String, u64)>,
}

impl FanOut {
    /// A fan-out for the receiver `name` over `targets`, in order.
    #[must_use]
    pub fn new(name: impl Into<String>, targets: Vec<Arc<dyn Notifier>>) -> Self {
        Self {
            name: name.into(),
            targets,
            partial: Mutex::new(PartialDeliveries::default()),
        }
    }

    /// The integrations, in sending order.
    #[must_use]
    pub fn targets(&self) -> &[Arc<dyn Notifier>] {
        &self.targets
    }

    fn partial(&self) -> std::sync::MutexGuard<'_, PartialDeliveries> {
        // The map and queue are updated together inside one critical section without any
        // call that can panic half-way, so a poisoned lock still guards consistent data.
        self.partial.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Notifier for FanOut {
    fn name(&self) -> &str {
        &self.name
    }

    /// Sends to every integration that has not accepted this message yet. Succeeds when all
    /// have; otherwise returns the error of a failed integration, preferring a retryable
    /// one (with the longest `retry_after`) so that the outbox retries while any retry can
    /// help.
    async fn send(&self, message: &Message) -> Result<Delivery, NotifyError> {
        let key = (message.dedup_key.clone(), message.sequence);
        let done = self
            .partial()
            .accepted
            .get(&key)
            .cloned()
            .unwrap_or_default();
        let mut accepted = done.clone();
        let mut failures: Vec<NotifyError> = Vec::new();
        for (i, target) in self.targets.iter().enumerate() {
            if done.contains(&i) {
                continue;
            }
            match target.send(message).await {
                Ok(_) => {
                    accepted.insert(i);
                }
                Err(e) => {
                    tracing::warn!(receiver = %target.name(), error = %e, "integration failed");
                    failures.push(e);
                }
            }
        }
        let mut partial = self.partial();
        if failures.is_empty() {
            partial.accepted.remove(&key);
            partial.order.retain(|k| k != &key);
            return Ok(Delivery::Recorded {
                count: self.targets.len(),
            });
        }
        if partial.accepted.insert(key.clone(), accepted).is_none() {
            partial.order.push_back(key);
            while partial.order.len() > FANOUT_MEMORY {
                if let Some(old) = partial.order.pop_front() {
                    partial.accepted.remove(&old);
                }
            }
        }
        drop(partial);
        let retryable = failures
            .iter()
            .filter(|e| e.is_retryable())
            .max_by_key(|e| e.retry_after())
            .cloned();
        match retryable {
            Some(e) => Err(e),
            // `failures` is not empty here, so the fallback is never used.
            None => {
                Err(failures
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| NotifyError::ReceiverSetup {
                        receiver: self.name.clone(),
                        reason: "no integration".to_owned(),
                    }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receiver::MemoryNotifier;

    fn wire(yaml: &str, dir: &Path) -> Result<BTreeMap<String, Arc<dyn Notifier>>, NotifyError> {
        let policy = NotifyPolicy::from_yaml(yaml)?;
        notifiers_from_policy(&policy, dir)
    }

    fn err_path(yaml: &str) -> (String, String) {
        match wire(yaml, Path::new("/nonexistent")) {
            Err(NotifyError::InvalidReceiverConfig { path, reason }) => (path, reason),
            other => panic!("expected InvalidReceiverConfig, got {other:?}"),
        }
    }

    const HEAD: &str = "route: {receiver: a}\nreceivers:\n  - name: a\n";

    #[test]
    fn builds_every_kind_and_reads_secret_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("pd.key"),
            "  0123456789abcdef0123456789abcdef\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("slack.url"),
            "https://hooks.slack.com/services/T/B/X\n",
        )
        .unwrap();
        let yaml = r##"
route: {receiver: discord}
receivers:
  - name: discord
    discord_configs: [{webhook_url: "https://discord.com/api/webhooks/1/SECRETTOKEN", title: x}]
  - name: pager
    pagerduty_configs:
      - routing_key_file: pd.key
        url: https://events.eu.pagerduty.com/v2/enqueue
        send_resolved: true
  - name: slack
    slack_configs: [{api_url_file: slack.url, channel: "#ops"}]
  - name: hook
    webhook_configs: [{url: "http://127.0.0.1:9/hook", max_alerts: 0}]
  - name: file
    file_configs: [{path: out.jsonl}]
  - name: blackhole
  - name: both
    discord_configs: [{webhook_url: "https://discord.com/api/webhooks/2/T"}]
    file_configs: [{path: "-"}]
"##;
        let notifiers = wire(yaml, dir.path()).unwrap();
        let names: Vec<&str> = notifiers.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "blackhole",
                "both",
                "discord",
                "file",
                "hook",
                "pager",
                "slack"
            ]
        );
        let debug = format!("{notifiers:?}");
        assert!(debug.contains("DiscordWebhook"), "{debug}");
        assert!(debug.contains("PagerDuty"), "{debug}");
        assert!(debug.contains("SlackWebhook"), "{debug}");
        assert!(debug.contains("JsonWebhook"), "{debug}");
        assert!(debug.contains("FileNotifier"), "{debug}");
        assert!(debug.contains("Blackhole"), "{debug}");
        assert!(debug.contains("FanOut"), "{debug}");
        assert!(debug.contains("both/discord_configs[0]"), "{debug}");
        assert!(debug.contains("both/file_configs[0]"), "{debug}");
        // Secrets never show.
        assert!(!debug.contains("SECRETTOKEN"), "{debug}");
        assert!(!debug.contains("0123456789abcdef"), "{debug}");
        assert!(!debug.contains("/services/T/B/X"), "{debug}");
    }

    #[test]
    fn errors_name_the_field() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "    discord_configs: [{webhok_url: \"https://x.test/a\"}]\n",
                "receivers[0].discord_configs[0].webhok_url",
                "unknown field",
            ),
            (
                "    discord_configs: [{}]\n",
                "receivers[0].discord_configs[0]",
                "one of webhook_url or webhook_url_file must be configured",
            ),
            (
                "    webhook_configs: [{url: \"https://x.test/a\", url_file: f}]\n",
                "receivers[0].webhook_configs[0]",
                "at most one of url & url_file must be configured",
            ),
            (
                "    slack_configs: [{api_url: \"ftp://secret.test/SECRET\"}]\n",
                "receivers[0].slack_configs[0].api_url",
                "not an absolute http(s) URL",
            ),
            (
                "    pagerduty_configs: [{service_key: abc}]\n",
                "receivers[0].pagerduty_configs[0].service_key",
                "Events API v1",
            ),
            (
                "    pagerduty_configs: [{routing_key: k, url: nope}]\n",
                "receivers[0].pagerduty_configs[0].url",
                "not an absolute http(s) URL",
            ),
            (
                "    webhook_configs: [{url: \"https://x.test\", http_config: {}}]\n",
                "receivers[0].webhook_configs[0].http_config",
                "not supported",
            ),
            (
                "    email_configs: [{to: a@b.c}]\n",
                "receivers[0].email_configs",
                "not supported by Parky",
            ),
            (
                "    discord_configs: [{webhook_url_file: missing.url}]\n",
                "receivers[0].discord_configs[0].webhook_url_file",
                "cannot read /nonexistent/missing.url",
            ),
            (
                "    discord_configs: [{webhook_url: \"https://x.test/a\", send_resolved: yes-please}]\n",
                "receivers[0].discord_configs[0].send_resolved",
                "expected true or false",
            ),
            (
                "    file_configs: [{}]\n",
                "receivers[0].file_configs[0]",
                "missing path",
            ),
            (
                "    webhook_configs: {url: \"https://x.test\"}\n",
                "receivers[0].webhook_configs",
                "expected a list",
            ),
        ];
        for (block, path, reason) in cases {
            let (got_path, got_reason) = err_path(&format!("{HEAD}{block}"));
            assert_eq!(&got_path, path, "{block}");
            assert!(got_reason.contains(reason), "{block}: {got_reason}");
            assert!(!got_reason.contains("SECRET"), "{got_reason}");
        }
        // The index is the receiver's position in the file.
        let (path, _) = err_path(
            "route: {receiver: a}\nreceivers:\n  - name: a\n  - name: b\n  - name: c\n    discord_configs: [{webhok_url: x}]\n",
        );
        assert_eq!(path, "receivers[2].discord_configs[0].webhok_url");
    }

    #[derive(Debug)]
    struct Flaky {
        name: String,
        fail: std::sync::atomic::AtomicUsize,
        sent: Mutex<usize>,
    }

    #[async_trait]
    impl Notifier for Flaky {
        fn name(&self) -> &str {
            &self.name
        }
        async fn send(&self, _message: &Message) -> Result<Delivery, NotifyError> {
            use std::sync::atomic::Ordering;
            if self.fail.load(Ordering::SeqCst) > 0 {
                self.fail.fetch_sub(1, Ordering::SeqCst);
                return Err(NotifyError::ReceiverIo {
                    receiver: self.name.clone(),
                    path: "x".into(),
                    operation: "write",
                    message: "disk full".into(),
                });
            }
            *self.sent.lock().unwrap() += 1;
            Ok(Delivery::Recorded { count: 1 })
        }
    }

    #[tokio::test]
    async fn fan_out_retries_only_the_failed_integration() {
        let good = Arc::new(MemoryNotifier::new("r/a"));
        let flaky = Arc::new(Flaky {
            name: "r/b".into(),
            fail: std::sync::atomic::AtomicUsize::new(1),
            sent: Mutex::new(0),
        });
        let fan = FanOut::new("r", vec![good.clone(), flaky.clone()]);
        let message = crate::receiver::discord::tests::sample_message();
        let first = fan.send(&message).await;
        assert!(matches!(&first, Err(e) if e.is_retryable()), "{first:?}");
        assert_eq!(good.sent().len(), 1);
        assert_eq!(*flaky.sent.lock().unwrap(), 0);
        assert_eq!(
            fan.send(&message).await,
            Ok(Delivery::Recorded { count: 2 })
        );
        // The integration that had accepted it is not sent it again.
        assert_eq!(good.sent().len(), 1);
        assert_eq!(*flaky.sent.lock().unwrap(), 1);
        assert!(fan.partial().accepted.is_empty());
    }
}
