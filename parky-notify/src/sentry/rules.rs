//! The rules file: YAML → [`SentryRulesConfig`] (serde, unknown fields refused) →
//! [`RuleSet`] (validated; every error names its field path, such as `rules[3].frequency`).
//!
//! See the [module docs](super) for the format.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::error::NotifyError;
use crate::severity::Severity;

/// The prefix that marks a Sentry rule as managed by Parky when the file does not set
/// `managed_prefix`.
pub const DEFAULT_MANAGED_PREFIX: &str = "[parky] ";

/// Longest rule name Sentry accepts (metric alert rules: "maximum length of 256 characters").
pub const MAX_RULE_NAME_LEN: usize = 256;

/// Valid `frequency` range of an issue alert rule, in minutes (Sentry: "5 to 43200").
pub const FREQUENCY_RANGE: std::ops::RangeInclusive<u32> = 5..=43_200;

/// Valid `timeWindow` values of a metric alert rule, in minutes.
pub const TIME_WINDOWS: [u32; 9] = [1, 5, 10, 15, 30, 60, 120, 240, 1440];

/// Valid `interval` values of the event-frequency issue conditions.
pub const CONDITION_INTERVALS: [&str; 7] = ["1m", "5m", "15m", "1h", "1d", "1w", "30d"];

/// Datasets a metric alert rule may query.
pub const DATASETS: [&str; 7] = [
    "events",
    "transactions",
    "metrics",
    "sessions",
    "generic_metrics",
    "generic-metrics",
    "events_analytics_platform",
];

const DISCORD_ACTION: &str = "sentry.integrations.discord.notify_action.DiscordNotifyServiceAction";
const PAGERDUTY_ACTION: &str =
    "sentry.integrations.pagerduty.notify_action.PagerDutyNotifyServiceAction";
const EMAIL_ACTION: &str = "sentry.mail.actions.NotifyEmailAction";

/// Which of Sentry's two alert rule families a rule belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// A project's issue alert rule (`/api/0/projects/{org}/{project}/rules/`).
    Issue,
    /// An organization's metric alert rule (`/api/0/organizations/{org}/alert-rules/`).
    Metric,
}

impl RuleKind {
    /// `"issue"` or `"metric"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Issue => "issue",
            RuleKind::Metric => "metric",
        }
    }
}

/// The rules file as written (see the [module docs](super) for the format).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentryRulesConfig {
    /// The Sentry organization slug (or id).
    pub organization: String,
    /// The name prefix that marks rules managed by Parky; default [`DEFAULT_MANAGED_PREFIX`].
    #[serde(default)]
    pub managed_prefix: Option<String>,
    /// Values used by every rule that does not set its own.
    #[serde(default)]
    pub defaults: RuleDefaultsConfig,
    /// Severity → the notification actions of every rule of that severity. Each action is
    /// a one-key mapping (`- discord: {…}`), not a YAML tag.
    #[serde(with = "serde_yaml_ng::with::singleton_map_recursive")]
    pub routing: BTreeMap<String, Vec<ActionConfig>>,
    /// The alert rules.
    pub rules: Vec<RuleConfig>,
}

/// The `defaults` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDefaultsConfig {
    /// The project slug of rules that do not name one.
    pub project: Option<String>,
    /// The environment of rules that do not name one (`"*"`: all environments).
    pub environment: Option<String>,
    /// The owner (`team:<id>` or `user:<id>`) of rules that do not name one.
    pub owner: Option<String>,
}

/// One notification action of a severity, as written under `routing`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ActionConfig {
    /// A message in a Discord channel through Sentry's Discord integration.
    Discord {
        /// The integration id of the Discord server in Sentry.
        server: u64,
        /// The Discord channel id (a snowflake, digits only).
        channel_id: String,
        /// Comma-separated tags to show in the message.
        #[serde(default)]
        tags: Option<String>,
    },
    /// A PagerDuty incident through Sentry's PagerDuty integration.
    Pagerduty {
        /// The integration id of the PagerDuty account in Sentry.
        account: u64,
        /// The PagerDuty service id in Sentry.
        service: u64,
        /// `critical`, `error`, `warning` or `info`; Sentry's default when absent.
        #[serde(default)]
        severity: Option<String>,
    },
    /// An email to a Sentry team or member.
    Email {
        /// Who receives it.
        target_type: EmailTarget,
        /// The Sentry team or user id.
        target_identifier: u64,
    },
}

/// The recipient kind of an [`ActionConfig::Email`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailTarget {
    /// A Sentry team.
    Team,
    /// A Sentry member (user).
    Member,
}

const PAGERDUTY_SEVERITIES: [&str; 4] = ["critical", "error", "warning", "info"];

impl ActionConfig {
    /// The action as an issue alert rule's `actions[]` entry.
    pub fn issue_action(&self) -> Value {
        match self {
            ActionConfig::Discord {
                server,
                channel_id,
                tags,
            } => {
                let mut action = json!({
                    "id": DISCORD_ACTION,
                    "server": server,
                    "channel_id": channel_id,
                });
                insert_opt(&mut action, "tags", tags.as_deref());
                action
            }
            ActionConfig::Pagerduty {
                account,
                service,
                severity,
            } => {
                let mut action = json!({
                    "id": PAGERDUTY_ACTION,
                    "account": account,
                    "service": service,
                });
                insert_opt(&mut action, "severity", severity.as_deref());
                action
            }
            ActionConfig::Email {
                target_type,
                target_identifier,
            } => json!({
                "id": EMAIL_ACTION,
                "targetType": match target_type {
                    EmailTarget::Team => "Team",
                    EmailTarget::Member => "Member",
                },
                "fallthroughType": "ActiveMembers",
                "targetIdentifier": target_identifier,
            }),
        }
    }

    /// The action as a metric alert rule trigger's `actions[]` entry.
    pub fn metric_action(&self) -> Value {
        match self {
            ActionConfig::Discord {
                server, channel_id, ..
            } => json!({
                "type": "discord",
                "targetType": "specific",
                "targetIdentifier": channel_id,
                "integrationId": server,
            }),
            ActionConfig::Pagerduty {
                account,
                service,
                severity,
            } => {
                let mut action = json!({
                    "type": "pagerduty",
                    "targetType": "specific",
                    "targetIdentifier": service,
                    "integrationId": account,
                });
                insert_opt(&mut action, "priority", severity.as_deref());
                action
            }
            ActionConfig::Email {
                target_type,
                target_identifier,
            } => json!({
                "type": "email",
                "targetType": match target_type {
                    EmailTarget::Team => "team",
                    EmailTarget::Member => "user",
                },
                "targetIdentifier": target_identifier.to_string(),
            }),
        }
    }

    fn validate(&self, path: &str) -> Result<(), NotifyError> {
        match self {
            ActionConfig::Discord {
                server, channel_id, ..
            } => {
                if *server == 0 {
                    return Err(invalid(format!("{path}.discord.server"), "must not be 0"));
                }
                if channel_id.is_empty() || !channel_id.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid(
                        format!("{path}.discord.channel_id"),
                        format!("{channel_id:?} is not a Discord channel id (digits only)"),
                    ));
                }
            }
            ActionConfig::Pagerduty {
                account,
                service,
                severity,
            } => {
                if *account == 0 {
                    return Err(invalid(
                        format!("{path}.pagerduty.account"),
                        "must not be 0",
                    ));
                }
                if *service == 0 {
                    return Err(invalid(
                        format!("{path}.pagerduty.service"),
                        "must not be 0",
                    ));
                }
                if let Some(severity) = severity {
                    if !PAGERDUTY_SEVERITIES.contains(&severity.as_str()) {
                        return Err(invalid(
                            format!("{path}.pagerduty.severity"),
                            format!(
                                "{severity:?} is not one of {}",
                                PAGERDUTY_SEVERITIES.join(", ")
                            ),
                        ));
                    }
                }
            }
            ActionConfig::Email {
                target_identifier, ..
            } => {
                if *target_identifier == 0 {
                    return Err(invalid(
                        format!("{path}.email.target_identifier"),
                        "must not be 0",
                    ));
                }
            }
        }
        Ok(())
    }
}

fn insert_opt(object: &mut Value, key: &str, value: Option<&str>) {
    if let (Some(value), Value::Object(map)) = (value, object) {
        map.insert(key.to_owned(), Value::String(value.to_owned()));
    }
}

/// One rule as written under `rules`. Which fields apply depends on `kind`; the others
/// must be absent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// The rule's name, without the managed prefix.
    pub name: String,
    /// `issue` or `metric`.
    pub kind: RuleKind,
    /// `P0`…`P3`: picks the actions from `routing`.
    pub severity: String,
    /// What the rule is for (kept in the file only; not sent to Sentry).
    #[serde(default)]
    pub description: Option<String>,
    /// The project slug; default `defaults.project`.
    #[serde(default)]
    pub project: Option<String>,
    /// The environment; default `defaults.environment`; `"*"` for all environments.
    #[serde(default)]
    pub environment: Option<String>,
    /// `team:<id>` or `user:<id>`; default `defaults.owner`.
    #[serde(default)]
    pub owner: Option<String>,
    /// Issue rules: `all` or `any` of the conditions (default `any`).
    #[serde(default)]
    pub action_match: Option<String>,
    /// Issue rules: `all`, `any` or `none` of the filters (default `all`).
    #[serde(default)]
    pub filter_match: Option<String>,
    /// Issue rules: minutes between two notifications for one issue (5–43200, default 30).
    #[serde(default)]
    pub frequency: Option<u32>,
    /// Issue rules: Sentry condition objects (`id` plus its parameters).
    #[serde(default)]
    pub conditions: Option<Vec<Value>>,
    /// Issue rules: Sentry filter objects (`id` plus its parameters).
    #[serde(default)]
    pub filters: Option<Vec<Value>>,
    /// Metric rules: `events`, `transactions`, `metrics`, `sessions`, `generic_metrics`, ….
    #[serde(default)]
    pub dataset: Option<String>,
    /// Metric rules: `0` (errors), `1` (transactions) or `2` (sessions/none).
    #[serde(default)]
    pub query_type: Option<u8>,
    /// Metric rules: event types (`error`, `default`, `transaction`).
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// Metric rules: the aggregate, e.g. `count()` or `p95(transaction.duration)`.
    #[serde(default)]
    pub aggregate: Option<String>,
    /// Metric rules: the event search query (default empty: no filter).
    #[serde(default)]
    pub query: Option<String>,
    /// Metric rules: minutes to aggregate over (1, 5, 10, 15, 30, 60, 120, 240, 1440).
    #[serde(default)]
    pub time_window: Option<u32>,
    /// Metric rules: `above` or `below`.
    #[serde(default)]
    pub threshold_type: Option<String>,
    /// Metric rules: the critical trigger's threshold.
    #[serde(default)]
    pub critical: Option<f64>,
    /// Metric rules: the optional warning trigger's threshold.
    #[serde(default)]
    pub warning: Option<f64>,
    /// Metric rules: the optional resolve threshold.
    #[serde(default)]
    pub resolve: Option<f64>,
}

/// A validated rules file: what Sentry should contain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleSet {
    /// The Sentry organization slug.
    pub organization: String,
    /// The name prefix of managed rules; every [`DesiredRule::name`] starts with it.
    pub managed_prefix: String,
    /// The rules, in file order.
    pub rules: Vec<DesiredRule>,
}

/// One rule as Sentry should have it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DesiredRule {
    /// The full Sentry name: managed prefix + the file's name.
    pub name: String,
    /// Issue or metric rule.
    pub kind: RuleKind,
    /// The handbook severity that chose the actions.
    pub severity: Severity,
    /// The project slug (issue rules live in it; metric rules filter on it).
    pub project: String,
    /// The JSON body of the create / update request, in Sentry's field names.
    pub body: Value,
}

impl RuleSet {
    /// Parse and validate a rules file.
    ///
    /// # Errors
    /// [`NotifyError::Yaml`] for text that is not YAML or does not fit the format (unknown
    /// field, wrong type); [`NotifyError::InvalidSentryRule`] naming the field for values
    /// that do not validate.
    pub fn from_yaml(text: &str) -> Result<Self, NotifyError> {
        let config: SentryRulesConfig = serde_yaml_ng::from_str(text)?;
        RuleSet::try_from(config)
    }

    /// The projects that have at least one issue rule, sorted.
    pub fn issue_projects(&self) -> BTreeSet<&str> {
        self.rules
            .iter()
            .filter(|r| r.kind == RuleKind::Issue)
            .map(|r| r.project.as_str())
            .collect()
    }
}

fn invalid(path: impl Into<String>, reason: impl Into<String>) -> NotifyError {
    NotifyError::InvalidSentryRule {
        path: path.into(),
        reason: reason.into(),
    }
}

fn check_slug(path: &str, value: &str) -> Result<(), NotifyError> {
    let ok = !value.is_empty()
        && value.len() <= 100
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            path,
            format!("{value:?} is not a Sentry slug (lowercase letters, digits, `-`, `_`)"),
        ))
    }
}

fn check_owner(path: &str, value: &str) -> Result<(), NotifyError> {
    let ok = value.split_once(':').is_some_and(|(kind, id)| {
        (kind == "team" || kind == "user")
            && !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_digit())
    });
    if ok {
        Ok(())
    } else {
        Err(invalid(
            path,
            format!("{value:?} is not an owner (`team:<id>` or `user:<id>`)"),
        ))
    }
}

fn check_sentry_objects(path: &str, objects: &[Value], prefix: &str) -> Result<(), NotifyError> {
    for (i, object) in objects.iter().enumerate() {
        let item = format!("{path}[{i}]");
        let Some(map) = object.as_object() else {
            return Err(invalid(item, "must be a mapping with an `id`"));
        };
        match map.get("id").and_then(Value::as_str) {
            Some(id) if id.starts_with(prefix) => {
                if id.starts_with("sentry.rules.conditions.event_frequency.") {
                    if let Some(interval) = map.get("interval") {
                        let interval = interval.as_str().unwrap_or_default();
                        let valid = CONDITION_INTERVALS.contains(&interval)
                            || (id.ends_with("EventFrequencyPercentCondition")
                                && ["5m", "10m", "30m", "1h"].contains(&interval));
                        if !valid {
                            return Err(invalid(
                                format!("{item}.interval"),
                                format!(
                                    "{interval:?} is not one of {}",
                                    CONDITION_INTERVALS.join(", ")
                                ),
                            ));
                        }
                    }
                }
            }
            Some(id) => {
                return Err(invalid(
                    format!("{item}.id"),
                    format!("{id:?} does not start with `{prefix}`"),
                ))
            }
            None => return Err(invalid(format!("{item}.id"), "missing (a string)")),
        }
    }
    Ok(())
}

/// Refuse a field that only the other kind of rule has.
fn refuse<T>(
    path: &str,
    field: &str,
    value: &Option<T>,
    kind: RuleKind,
) -> Result<(), NotifyError> {
    if value.is_some() {
        Err(invalid(
            format!("{path}.{field}"),
            format!("not a field of {} rules", kind.as_str()),
        ))
    } else {
        Ok(())
    }
}

fn finite(path: String, value: f64) -> Result<f64, NotifyError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(invalid(path, "must be a finite number"))
    }
}

impl TryFrom<SentryRulesConfig> for RuleSet {
    type Error = NotifyError;

    fn try_from(config: SentryRulesConfig) -> Result<Self, Self::Error> {
        check_slug("organization", &config.organization)?;
        let managed_prefix = config
            .managed_prefix
            .unwrap_or_else(|| DEFAULT_MANAGED_PREFIX.to_owned());
        if managed_prefix.trim().is_empty() {
            return Err(invalid(
                "managed_prefix",
                "must not be empty: it tells Parky's rules from the others",
            ));
        }
        let defaults = &config.defaults;
        if let Some(project) = &defaults.project {
            check_slug("defaults.project", project)?;
        }
        if let Some(owner) = &defaults.owner {
            check_owner("defaults.owner", owner)?;
        }

        let mut routing: BTreeMap<Severity, Vec<ActionConfig>> = BTreeMap::new();
        for (key, actions) in &config.routing {
            let path = format!("routing.{key}");
            let severity: Severity = key
                .parse()
                .map_err(|e: crate::severity::UnknownSeverity| invalid(&path, e.to_string()))?;
            if routing.contains_key(&severity) {
                return Err(invalid(path, format!("{severity} is routed twice")));
            }
            if actions.is_empty() {
                return Err(invalid(
                    path,
                    "needs at least one action (Sentry refuses a rule without actions)",
                ));
            }
            for (i, action) in actions.iter().enumerate() {
                action.validate(&format!("{path}[{i}]"))?;
            }
            routing.insert(severity, actions.clone());
        }

        let mut seen = BTreeSet::new();
        let mut rules = Vec::with_capacity(config.rules.len());
        for (i, rule) in config.rules.iter().enumerate() {
            let path = format!("rules[{i}]");
            let desired = validate_rule(&path, rule, defaults, &routing, &managed_prefix)?;
            let key = match desired.kind {
                RuleKind::Issue => (desired.kind, desired.project.clone(), desired.name.clone()),
                RuleKind::Metric => (desired.kind, String::new(), desired.name.clone()),
            };
            if !seen.insert(key) {
                return Err(invalid(
                    format!("{path}.name"),
                    format!(
                        "another {} rule is already named {:?}",
                        desired.kind.as_str(),
                        rule.name
                    ),
                ));
            }
            rules.push(desired);
        }
        Ok(RuleSet {
            organization: config.organization,
            managed_prefix,
            rules,
        })
    }
}

fn validate_rule(
    path: &str,
    rule: &RuleConfig,
    defaults: &RuleDefaultsConfig,
    routing: &BTreeMap<Severity, Vec<ActionConfig>>,
    prefix: &str,
) -> Result<DesiredRule, NotifyError> {
    let short = rule.name.trim();
    if short.is_empty() {
        return Err(invalid(format!("{path}.name"), "must not be empty"));
    }
    let name = format!("{prefix}{short}");
    if name.chars().count() > MAX_RULE_NAME_LEN {
        return Err(invalid(
            format!("{path}.name"),
            format!("with the prefix it is longer than {MAX_RULE_NAME_LEN} characters"),
        ));
    }
    let severity: Severity =
        rule.severity
            .parse()
            .map_err(|e: crate::severity::UnknownSeverity| {
                invalid(format!("{path}.severity"), e.to_string())
            })?;
    let Some(actions) = routing.get(&severity) else {
        return Err(invalid(
            format!("{path}.severity"),
            format!("{severity} has no actions under `routing`"),
        ));
    };
    let (project, project_path) = match (&rule.project, &defaults.project) {
        (Some(p), _) => (p.clone(), format!("{path}.project")),
        (None, Some(p)) => (p.clone(), "defaults.project".to_owned()),
        (None, None) => {
            return Err(invalid(
                format!("{path}.project"),
                "missing, and there is no defaults.project",
            ))
        }
    };
    check_slug(&project_path, &project)?;
    let environment = match rule.environment.as_ref().or(defaults.environment.as_ref()) {
        None => Value::Null,
        Some(env) if env == "*" => Value::Null,
        Some(env) if env.trim().is_empty() || env.contains('/') || env.len() > 64 => {
            return Err(invalid(
                format!("{path}.environment"),
                format!("{env:?} is not an environment name (or `*` for all)"),
            ))
        }
        Some(env) => Value::String(env.clone()),
    };
    let owner = match (&rule.owner, &defaults.owner) {
        (Some(o), _) => {
            check_owner(&format!("{path}.owner"), o)?;
            Value::String(o.clone())
        }
        (None, Some(o)) => Value::String(o.clone()),
        (None, None) => Value::Null,
    };

    let mut body = Map::new();
    body.insert("name".into(), Value::String(name.clone()));
    body.insert("environment".into(), environment);
    body.insert("owner".into(), owner);

    match rule.kind {
        RuleKind::Issue => {
            for (field, set) in [
                ("dataset", rule.dataset.is_some()),
                ("query_type", rule.query_type.is_some()),
                ("event_types", rule.event_types.is_some()),
                ("aggregate", rule.aggregate.is_some()),
                ("query", rule.query.is_some()),
                ("time_window", rule.time_window.is_some()),
                ("threshold_type", rule.threshold_type.is_some()),
                ("critical", rule.critical.is_some()),
                ("warning", rule.warning.is_some()),
                ("resolve", rule.resolve.is_some()),
            ] {
                refuse(path, field, &set.then_some(()), RuleKind::Issue)?;
            }
            let action_match = rule.action_match.as_deref().unwrap_or("any");
            if !["all", "any"].contains(&action_match) {
                return Err(invalid(
                    format!("{path}.action_match"),
                    format!("{action_match:?} is not `all` or `any`"),
                ));
            }
            let filter_match = rule.filter_match.as_deref().unwrap_or("all");
            if !["all", "any", "none"].contains(&filter_match) {
                return Err(invalid(
                    format!("{path}.filter_match"),
                    format!("{filter_match:?} is not `all`, `any` or `none`"),
                ));
            }
            let frequency = rule.frequency.unwrap_or(30);
            if !FREQUENCY_RANGE.contains(&frequency) {
                return Err(invalid(
                    format!("{path}.frequency"),
                    format!(
                        "{frequency} minutes is outside {}..={}",
                        FREQUENCY_RANGE.start(),
                        FREQUENCY_RANGE.end()
                    ),
                ));
            }
            let conditions = rule.conditions.clone().unwrap_or_default();
            if conditions.is_empty() {
                return Err(invalid(
                    format!("{path}.conditions"),
                    "needs at least one condition",
                ));
            }
            check_sentry_objects(
                &format!("{path}.conditions"),
                &conditions,
                "sentry.rules.conditions.",
            )?;
            let filters = rule.filters.clone().unwrap_or_default();
            check_sentry_objects(
                &format!("{path}.filters"),
                &filters,
                "sentry.rules.filters.",
            )?;
            body.insert("actionMatch".into(), json!(action_match));
            body.insert("filterMatch".into(), json!(filter_match));
            body.insert("frequency".into(), json!(frequency));
            body.insert("conditions".into(), Value::Array(conditions));
            body.insert("filters".into(), Value::Array(filters));
            body.insert(
                "actions".into(),
                Value::Array(actions.iter().map(ActionConfig::issue_action).collect()),
            );
        }
        RuleKind::Metric => {
            refuse(path, "action_match", &rule.action_match, RuleKind::Metric)?;
            refuse(path, "filter_match", &rule.filter_match, RuleKind::Metric)?;
            refuse(path, "frequency", &rule.frequency, RuleKind::Metric)?;
            refuse(path, "conditions", &rule.conditions, RuleKind::Metric)?;
            refuse(path, "filters", &rule.filters, RuleKind::Metric)?;
            let dataset = rule.dataset.as_deref().unwrap_or("events");
            if !DATASETS.contains(&dataset) {
                return Err(invalid(
                    format!("{path}.dataset"),
                    format!("{dataset:?} is not one of {}", DATASETS.join(", ")),
                ));
            }
            let aggregate = match rule.aggregate.as_deref().map(str::trim) {
                Some(a) if !a.is_empty() => a,
                _ => {
                    return Err(invalid(
                        format!("{path}.aggregate"),
                        "missing (e.g. `count()`)",
                    ))
                }
            };
            let Some(time_window) = rule.time_window else {
                return Err(invalid(format!("{path}.time_window"), "missing"));
            };
            if !TIME_WINDOWS.contains(&time_window) {
                return Err(invalid(
                    format!("{path}.time_window"),
                    format!(
                        "{time_window} is not one of {}",
                        TIME_WINDOWS.map(|w| w.to_string()).join(", ")
                    ),
                ));
            }
            let above = match rule.threshold_type.as_deref().unwrap_or("above") {
                "above" => true,
                "below" => false,
                other => {
                    return Err(invalid(
                        format!("{path}.threshold_type"),
                        format!("{other:?} is not `above` or `below`"),
                    ))
                }
            };
            let Some(critical) = rule.critical else {
                return Err(invalid(format!("{path}.critical"), "missing"));
            };
            let critical = finite(format!("{path}.critical"), critical)?;
            if let Some(warning) = rule.warning {
                let warning = finite(format!("{path}.warning"), warning)?;
                let ordered = if above {
                    warning < critical
                } else {
                    warning > critical
                };
                if !ordered {
                    return Err(invalid(
                        format!("{path}.warning"),
                        format!(
                            "must be {} the critical threshold {critical}",
                            if above { "below" } else { "above" }
                        ),
                    ));
                }
            }
            if let Some(query_type) = rule.query_type {
                if query_type > 2 {
                    return Err(invalid(
                        format!("{path}.query_type"),
                        format!("{query_type} is not 0, 1 or 2"),
                    ));
                }
            }
            if let Some(types) = &rule.event_types {
                for (j, t) in types.iter().enumerate() {
                    if !["error", "default", "transaction"].contains(&t.as_str()) {
                        return Err(invalid(
                            format!("{path}.event_types[{j}]"),
                            format!("{t:?} is not `error`, `default` or `transaction`"),
                        ));
                    }
                }
            }

            body.insert("projects".into(), json!([project]));
            body.insert("dataset".into(), json!(dataset));
            if let Some(query_type) = rule.query_type {
                body.insert("queryType".into(), json!(query_type));
            }
            if let Some(types) = &rule.event_types {
                body.insert("eventTypes".into(), json!(types));
            }
            body.insert("query".into(), json!(rule.query.as_deref().unwrap_or("")));
            body.insert("aggregate".into(), json!(aggregate));
            body.insert("timeWindow".into(), json!(time_window));
            body.insert("thresholdType".into(), json!(if above { 0 } else { 1 }));
            if let Some(resolve) = rule.resolve {
                let resolve = finite(format!("{path}.resolve"), resolve)?;
                body.insert("resolveThreshold".into(), json!(resolve));
            }
            let mut triggers = vec![json!({
                "label": "critical",
                "alertThreshold": critical,
                "actions": actions.iter().map(ActionConfig::metric_action).collect::<Vec<_>>(),
            })];
            if let Some(warning) = rule.warning {
                // The warning trigger is routed one severity lower (P3 stays P3), falling
                // back to the rule's own actions when that severity has no routing.
                let lower = Severity::ALL
                    .iter()
                    .copied()
                    .find(|s| *s > severity)
                    .unwrap_or(severity);
                let warning_actions = routing.get(&lower).unwrap_or(actions);
                triggers.push(json!({
                    "label": "warning",
                    "alertThreshold": warning,
                    "actions": warning_actions.iter().map(ActionConfig::metric_action).collect::<Vec<_>>(),
                }));
            }
            body.insert("triggers".into(), Value::Array(triggers));
        }
    }

    Ok(DesiredRule {
        name,
        kind: rule.kind,
        severity,
        project,
        body: Value::Object(body),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
organization: parky
defaults: {project: api, environment: production}
routing:
  P0:
    - discord: {server: 63408298, channel_id: "94732897", tags: "environment"}
    - pagerduty: {account: 92385907, service: 9823924, severity: critical}
  P1:
    - discord: {server: 63408298, channel_id: "94732898"}
  P3:
    - email: {target_type: team, target_identifier: 4367234414355}
rules:
  - name: New issue
    kind: issue
    severity: P3
    conditions:
      - id: sentry.rules.conditions.first_seen_event.FirstSeenEventCondition
  - name: Burn
    kind: metric
    severity: P0
    aggregate: count()
    time_window: 60
    critical: 100
    warning: 50
"#;

    #[test]
    fn builds_documented_bodies() {
        let set = RuleSet::from_yaml(MINIMAL).unwrap();
        assert_eq!(set.managed_prefix, "[parky] ");
        let issue = &set.rules[0];
        assert_eq!(issue.name, "[parky] New issue");
        // Shape from "Create an Issue Alert Rule for a Project" (docs.sentry.io).
        assert_eq!(
            issue.body,
            json!({
                "name": "[parky] New issue",
                "environment": "production",
                "owner": null,
                "actionMatch": "any",
                "filterMatch": "all",
                "frequency": 30,
                "conditions": [{"id": "sentry.rules.conditions.first_seen_event.FirstSeenEventCondition"}],
                "filters": [],
                "actions": [{
                    "id": "sentry.mail.actions.NotifyEmailAction",
                    "targetType": "Team",
                    "fallthroughType": "ActiveMembers",
                    "targetIdentifier": 4367234414355u64,
                }],
            })
        );
        let metric = &set.rules[1];
        // Shape from "Create a Metric Alert Rule for an Organization"; the warning trigger
        // of a P0 rule is routed as P1.
        assert_eq!(
            metric.body["triggers"],
            json!([
                {"label": "critical", "alertThreshold": 100.0, "actions": [
                    {"type": "discord", "targetType": "specific", "targetIdentifier": "94732897", "integrationId": 63408298},
                    {"type": "pagerduty", "targetType": "specific", "targetIdentifier": 9823924, "integrationId": 92385907, "priority": "critical"},
                ]},
                {"label": "warning", "alertThreshold": 50.0, "actions": [
                    {"type": "discord", "targetType": "specific", "targetIdentifier": "94732898", "integrationId": 63408298},
                ]},
            ])
        );
        assert_eq!(metric.body["projects"], json!(["api"]));
        assert_eq!(metric.body["thresholdType"], json!(0));
    }

    fn error_path(yaml: &str) -> String {
        match RuleSet::from_yaml(yaml) {
            Err(NotifyError::InvalidSentryRule { path, .. }) => path,
            other => panic!("expected InvalidSentryRule, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                "frequency: 30\n    conditions:",
                "frequency: 2\n    conditions:",
                "rules[0].frequency",
            ),
            ("severity: P3", "severity: P7", "rules[0].severity"),
            ("time_window: 60", "time_window: 7", "rules[1].time_window"),
            ("warning: 50", "warning: 150", "rules[1].warning"),
            (
                "channel_id: \"94732898\"",
                "channel_id: \"#general\"",
                "routing.P1[0].discord.channel_id",
            ),
            (
                "organization: parky",
                "organization: Parky Inc",
                "organization",
            ),
            (
                "first_seen_event.FirstSeenEventCondition",
                "event_frequency.EventFrequencyCondition\n        value: 5\n        interval: 2h",
                "rules[0].conditions[0].interval",
            ),
            (
                "aggregate: count()",
                "aggregate: count()\n    frequency: 5",
                "rules[1].frequency",
            ),
            (
                "severity: critical}",
                "severity: urgent}",
                "routing.P0[1].pagerduty.severity",
            ),
        ];
        let base = MINIMAL.replace(
            "    conditions:\n      - id: sentry.rules.conditions.first",
            "    frequency: 30\n    conditions:\n      - id: sentry.rules.conditions.first",
        );
        assert!(RuleSet::from_yaml(&base).is_ok());
        for (from, to, path) in cases {
            assert!(base.contains(from), "{from}");
            assert_eq!(error_path(&base.replacen(from, to, 1)), path, "{to}");
        }
    }

    #[test]
    fn unknown_fields_and_duplicates_are_refused() {
        let err =
            RuleSet::from_yaml(&MINIMAL.replace("kind: metric", "kind: metric\n    colour: red"))
                .unwrap_err();
        assert!(matches!(err, NotifyError::Yaml { .. }), "{err:?}");
        let dup = MINIMAL
            .replace("name: Burn", "name: New issue")
            .replace("kind: metric", "kind: issue");
        // Same name, same kind and project: refused (the metric fields trip first otherwise).
        let dup = dup.replace(
            "    aggregate: count()\n    time_window: 60\n    critical: 100\n    warning: 50\n",
            "    conditions:\n      - id: sentry.rules.conditions.regression_event.RegressionEventCondition\n",
        );
        assert_eq!(error_path(&dup), "rules[1].name");
    }

    #[test]
    fn garbage_never_panics() {
        for text in ["", "[]", "organization: 5", "::", "rules: {a: b}", "\u{0}"] {
            assert!(RuleSet::from_yaml(text).is_err());
        }
    }
}
