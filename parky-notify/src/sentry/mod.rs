//! Sentry alert rules as code: a YAML file of issue and metric alert rules, each routed by
//! severity, synced to Sentry idempotently (create missing, update changed, report extra).
//!
//! # Flow
//!
//! 1. [`RuleSet::from_yaml`]: YAML → [`SentryRulesConfig`] (serde, unknown fields refused)
//!    → [`RuleSet`] (validated; each error is a [`NotifyError::InvalidSentryRule`](crate::NotifyError::InvalidSentryRule) naming the
//!    field, such as `rules[3].frequency` or `routing.P0[1].pagerduty.service`). Every rule
//!    becomes the JSON body of Sentry's documented create / update request.
//! 2. [`plan_sync`] lists what Sentry holds through a [`SentryApi`] and calls the pure
//!    [`plan`]: a [`Plan`] of [`Change::Create`], [`Change::Update`] (with a field-level
//!    diff), [`Change::Unchanged`] and [`Change::Extra`]. `Display` is the dry-run text of
//!    `parky notify sentry-sync --dry-run`; `Serialize` gives JSON.
//! 3. [`apply`] carries the plan out. Applying, then planning again, gives only
//!    `Unchanged` (and the extras, which are never deleted unless
//!    [`ApplyOptions::delete_extra`] asks).
//!
//! [`SentryApi`] has two implementations: `SentryClient` (reqwest with rustls; needs the
//! `http` feature) and the embedded [`InMemorySentry`].
//!
//! # Which rules Parky manages
//!
//! A rule is managed by Parky when its name starts with the file's `managed_prefix`
//! (default `"[parky] "`): the file's `name: 5xx burst` is `[parky] 5xx burst` in Sentry.
//! Rules are matched by that full name (issue rules within their project, metric rules in
//! the organization). Rules without the prefix — made by hand in Sentry's UI — are never
//! compared, updated or reported. A managed rule that the file no longer has is an extra.
//! The prefix was chosen over `owner` because owners are teams that people also use for
//! their own rules, while a prefix is visible in every Sentry list and notification.
//!
//! # The rules file
//!
//! ```yaml
//! organization: parky            # Sentry organization slug
//! managed_prefix: "[parky] "     # optional; marks the rules Parky manages
//! defaults:                      # optional; used by rules that do not set their own
//!   project: api                 #   project slug
//!   environment: production      #   environment; "*" means all environments
//!   owner: "team:4509876"        #   team:<id> or user:<id>
//! routing:                       # severity -> actions; every used severity needs one
//!   P0:
//!     - discord: {server: 63408298, channel_id: "1112223334445556677", tags: "environment,release"}
//!     - pagerduty: {account: 92385907, service: 9823924, severity: critical}
//!   P2:
//!     - discord: {server: 63408298, channel_id: "1112223334445556699"}
//!   P3:
//!     - email: {target_type: team, target_identifier: 4509876}   # or member
//! rules:
//!   - name: 5xx burst            # Sentry name: managed_prefix + name
//!     kind: issue                # issue | metric
//!     severity: P0               # P0..P3: picks the actions from routing
//!     description: optional, for humans; not sent
//!     project: api               # optional (defaults.project); environment, owner likewise
//!     # issue rules:
//!     action_match: any          # all | any (default any)
//!     filter_match: all          # all | any | none (default all)
//!     frequency: 5               # minutes between notifications per issue, 5..=43200 (default 30)
//!     conditions:                # Sentry condition objects, passed through (at least one)
//!       - {id: sentry.rules.conditions.event_frequency.EventFrequencyCondition, value: 100, interval: 5m}
//!     filters:                   # Sentry filter objects, passed through (optional)
//!       - {id: sentry.rules.filters.tagged_event.TaggedEventFilter, key: http.status_code, match: sw, value: "5"}
//!   - name: Error budget fast burn
//!     kind: metric
//!     severity: P0
//!     # metric rules:
//!     dataset: events            # events | transactions | metrics | sessions | generic_metrics | …
//!     query_type: 0              # optional: 0 errors, 1 transactions, 2 none
//!     event_types: [error, default]  # optional
//!     aggregate: count()
//!     query: "http.status_code:>=500"   # optional, default "" (no filter)
//!     time_window: 5             # 1, 5, 10, 15, 30, 60, 120, 240 or 1440 minutes
//!     threshold_type: above      # above | below (default above)
//!     critical: 144              # the critical trigger's threshold (required)
//!     warning: 60                # optional warning trigger, routed one severity lower
//!     resolve: 30                # optional resolveThreshold
//! ```
//!
//! An action maps to Sentry like this (issue rule `actions[]` / metric trigger `actions[]`):
//!
//! | file | issue rule action | metric trigger action |
//! |---|---|---|
//! | `discord` | `sentry.integrations.discord.notify_action.DiscordNotifyServiceAction` with `server`, `channel_id`, `tags` | `type: discord`, `targetType: specific`, `targetIdentifier: <channel_id>`, `integrationId: <server>` |
//! | `pagerduty` | `sentry.integrations.pagerduty.notify_action.PagerDutyNotifyServiceAction` with `account`, `service`, `severity` | `type: pagerduty`, `targetType: specific`, `targetIdentifier: <service>`, `integrationId: <account>`, `priority: <severity>` |
//! | `email` | `sentry.mail.actions.NotifyEmailAction` with `targetType: Team/Member`, `targetIdentifier`, `fallthroughType: ActiveMembers` | `type: email`, `targetType: team/user`, `targetIdentifier` |
//!
//! A metric rule's critical trigger gets the actions of its severity; its warning trigger
//! those of the next lower severity (P0 → P1, …, P3 stays P3), or its own when that
//! severity has no routing.
//!
//! # Comparing with Sentry
//!
//! A rule is unchanged when every field of its request body matches Sentry's reply
//! ([`json_matches`]): keys Sentry adds (ids, `dateCreated`, `createdBy`, …) are ignored,
//! numbers compare numerically, and a number matches a string holding it (Sentry echoes
//! some parameters as strings). `environment` and `owner` are always sent (as `null` when
//! unset) so that removing them from the file is seen as a change.
//!
//! # Example
//!
//! ```
//! use parky_notify::sentry::{apply, plan_sync, ApplyOptions, InMemorySentry, RuleSet};
//!
//! # fn main() -> Result<(), parky_notify::NotifyError> {
//! let rules = RuleSet::from_yaml(
//!     r#"
//! organization: parky
//! defaults: {project: api, environment: production}
//! routing:
//!   P2: [{discord: {server: 63408298, channel_id: "1112223334445556699"}}]
//! rules:
//!   - name: Regression
//!     kind: issue
//!     severity: P2
//!     conditions:
//!       - id: sentry.rules.conditions.regression_event.RegressionEventCondition
//! "#,
//! )?;
//! let sentry = InMemorySentry::new();
//! # let runtime = tokio::runtime::Builder::new_current_thread().build().map_err(|e| {
//! #     parky_notify::NotifyError::InvalidSentryRule { path: "runtime".into(), reason: e.to_string() }
//! # })?;
//! # runtime.block_on(async {
//! let plan = plan_sync(&sentry, &rules).await?;
//! assert_eq!(plan.summary().create, 1);
//! assert!(plan.to_string().contains(r#"+ create issue rule "[parky] Regression" in api (P2)"#));
//!
//! apply(&sentry, &plan, ApplyOptions::default()).await?;
//! let again = plan_sync(&sentry, &rules).await?;
//! assert!(again.is_in_sync());
//! assert_eq!(again.summary().unchanged, 1);
//! # Ok::<(), parky_notify::NotifyError>(())
//! # })?;
//! # Ok(())
//! # }
//! ```
#![cfg(feature = "sentry")]

mod api;
#[cfg(feature = "http")]
mod http;
mod plan;
mod rules;

pub use api::{InMemorySentry, RecordedCall, RemoteRule, SentryApi};
#[cfg(feature = "http")]
pub use http::{error_from_reply, next_cursor, SentryClient, MAX_PAGES};
pub use plan::{
    apply, diff_fields, fetch_existing, json_matches, plan, plan_sync, ApplyOptions, ApplyReport,
    Change, ExistingRules, FieldChange, Plan, PlanStep, PlanSummary,
};
pub use rules::{
    ActionConfig, DesiredRule, EmailTarget, RuleConfig, RuleDefaultsConfig, RuleKind, RuleSet,
    SentryRulesConfig, CONDITION_INTERVALS, DATASETS, DEFAULT_MANAGED_PREFIX, FREQUENCY_RANGE,
    MAX_RULE_NAME_LEN, TIME_WINDOWS,
};
