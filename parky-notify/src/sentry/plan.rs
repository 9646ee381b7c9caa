//! The pure planner ([`plan`]), the sync entry points ([`plan_sync`], [`apply`]) and the
//! dry-run rendering of a [`Plan`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use super::api::{RemoteRule, SentryApi};
use super::rules::{RuleKind, RuleSet};
use crate::error::NotifyError;
use crate::severity::Severity;

/// What Sentry holds now, as listed through a [`SentryApi`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExistingRules {
    /// Issue rules by project slug.
    pub issue: BTreeMap<String, Vec<RemoteRule>>,
    /// The organization's metric rules.
    pub metric: Vec<RemoteRule>,
}

/// One field whose value in Sentry differs from the rules file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// Sentry's field name, e.g. `frequency` or `triggers`.
    pub field: String,
    /// Sentry's current value, reduced to the keys the file sets (`null` when absent).
    pub before: Value,
    /// The value from the rules file.
    pub after: Value,
}

/// What the sync does with one rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// The rule is missing in Sentry: create it with `body`.
    Create {
        /// The create request's body.
        body: Value,
    },
    /// The rule exists but differs: overwrite it with `body`.
    Update {
        /// Sentry's id of the rule.
        id: String,
        /// The fields that differ.
        diff: Vec<FieldChange>,
        /// The update request's body (a full overwrite).
        body: Value,
    },
    /// The rule exists and matches the file.
    Unchanged {
        /// Sentry's id of the rule.
        id: String,
    },
    /// A managed rule (its name has the prefix) that the file no longer has. Reported; only
    /// deleted when [`ApplyOptions::delete_extra`] is set.
    Extra {
        /// Sentry's id of the rule.
        id: String,
    },
}

/// One line of a [`Plan`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanStep {
    /// Issue or metric rule.
    pub kind: RuleKind,
    /// The rule's full Sentry name.
    pub name: String,
    /// The project (issue rules live in it; metric rules filter on it; `None` for an extra
    /// metric rule).
    pub project: Option<String>,
    /// The severity from the rules file (`None` for extras).
    pub severity: Option<Severity>,
    /// What to do.
    #[serde(flatten)]
    pub change: Change,
}

/// The difference between a rules file and Sentry: what a sync would do.
///
/// `Display` renders the dry-run text of `parky notify sentry-sync --dry-run`; `Serialize`
/// gives the same as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The Sentry organization.
    pub organization: String,
    /// The name prefix of managed rules.
    pub managed_prefix: String,
    /// Desired rules in file order, then extras.
    pub steps: Vec<PlanStep>,
}

/// How many steps of each kind a plan has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PlanSummary {
    /// Rules to create.
    pub create: usize,
    /// Rules to update.
    pub update: usize,
    /// Rules already in sync.
    pub unchanged: usize,
    /// Managed rules not in the file.
    pub extra: usize,
}

impl Plan {
    /// Counts per change.
    pub fn summary(&self) -> PlanSummary {
        let mut summary = PlanSummary::default();
        for step in &self.steps {
            match step.change {
                Change::Create { .. } => summary.create += 1,
                Change::Update { .. } => summary.update += 1,
                Change::Unchanged { .. } => summary.unchanged += 1,
                Change::Extra { .. } => summary.extra += 1,
            }
        }
        summary
    }

    /// Whether applying the plan would write nothing (no create, no update; extras are not
    /// counted, since they are only deleted on request).
    pub fn is_in_sync(&self) -> bool {
        let summary = self.summary();
        summary.create == 0 && summary.update == 0
    }
}

/// Whether `desired` (from the file) matches `actual` (from Sentry).
///
/// Objects: every key of `desired` must match in `actual` (Sentry adds keys of its own, such
/// as ids and `dateCreated`); a `null` matches an absent key. Arrays: same length, matching
/// element-wise. Numbers match numerically, and a number matches a string holding the same
/// number (Sentry stores some parameters as strings: the documented list reply shows
/// `"value": "1"`).
pub fn json_matches(desired: &Value, actual: &Value) -> bool {
    match (desired, actual) {
        (Value::Object(d), Value::Object(a)) => d.iter().all(|(k, dv)| match a.get(k) {
            Some(av) => json_matches(dv, av),
            None => dv.is_null(),
        }),
        (Value::Array(d), Value::Array(a)) => {
            d.len() == a.len() && d.iter().zip(a).all(|(dv, av)| json_matches(dv, av))
        }
        (Value::Number(d), Value::Number(a)) => match (d.as_f64(), a.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => d == a,
        },
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            match (s.trim().parse::<f64>(), n.as_f64()) {
                (Ok(x), Some(y)) => x == y,
                _ => false,
            }
        }
        _ => desired == actual,
    }
}

/// `actual` reduced to the shape of `desired`: only the keys `desired` has, recursively, so a
/// diff shows what the file talks about and not Sentry's own fields.
fn project_onto(desired: &Value, actual: &Value) -> Value {
    match (desired, actual) {
        (Value::Object(d), Value::Object(a)) => Value::Object(
            d.iter()
                .filter_map(|(k, dv)| a.get(k).map(|av| (k.clone(), project_onto(dv, av))))
                .collect::<Map<_, _>>(),
        ),
        (Value::Array(d), Value::Array(a)) if d.len() == a.len() => Value::Array(
            d.iter()
                .zip(a)
                .map(|(dv, av)| project_onto(dv, av))
                .collect(),
        ),
        _ => actual.clone(),
    }
}

/// The fields of `desired` (except `name`) that `actual` does not match.
pub fn diff_fields(desired: &Value, actual: &Value) -> Vec<FieldChange> {
    let (Some(d), a) = (desired.as_object(), actual.as_object()) else {
        return Vec::new();
    };
    d.iter()
        .filter(|(k, _)| k.as_str() != "name")
        .filter_map(|(k, dv)| {
            let av = a.and_then(|a| a.get(k)).unwrap_or(&Value::Null);
            (!json_matches(dv, av)).then(|| FieldChange {
                field: k.clone(),
                before: project_onto(dv, av),
                after: dv.clone(),
            })
        })
        .collect()
}

/// Compare the rules file with what Sentry holds. Pure: no I/O.
///
/// Rules are matched by full name (issue rules within their project). Only rules whose name
/// starts with the managed prefix are considered; the others belong to people and are left
/// out of the plan. A managed rule in Sentry that matches no rule of the file is an
/// [`Change::Extra`]; when two Sentry rules share a name, the first is matched and the other
/// is an extra.
pub fn plan(rules: &RuleSet, existing: &ExistingRules) -> Plan {
    let managed = |r: &&RemoteRule| r.name.starts_with(&rules.managed_prefix);
    let mut claimed: BTreeSet<(RuleKind, String)> = BTreeSet::new();
    let mut steps = Vec::with_capacity(rules.rules.len());

    for rule in &rules.rules {
        let candidates: &[RemoteRule] = match rule.kind {
            RuleKind::Issue => existing
                .issue
                .get(&rule.project)
                .map(Vec::as_slice)
                .unwrap_or_default(),
            RuleKind::Metric => &existing.metric,
        };
        let found = candidates
            .iter()
            .filter(managed)
            .find(|r| r.name == rule.name && !claimed.contains(&(rule.kind, r.id.clone())));
        let change = match found {
            None => Change::Create {
                body: rule.body.clone(),
            },
            Some(remote) => {
                claimed.insert((rule.kind, remote.id.clone()));
                let diff = diff_fields(&rule.body, &remote.body);
                if diff.is_empty() {
                    Change::Unchanged {
                        id: remote.id.clone(),
                    }
                } else {
                    Change::Update {
                        id: remote.id.clone(),
                        diff,
                        body: rule.body.clone(),
                    }
                }
            }
        };
        steps.push(PlanStep {
            kind: rule.kind,
            name: rule.name.clone(),
            project: Some(rule.project.clone()),
            severity: Some(rule.severity),
            change,
        });
    }

    for (project, remote_rules) in &existing.issue {
        for remote in remote_rules.iter().filter(managed) {
            if !claimed.contains(&(RuleKind::Issue, remote.id.clone())) {
                steps.push(PlanStep {
                    kind: RuleKind::Issue,
                    name: remote.name.clone(),
                    project: Some(project.clone()),
                    severity: None,
                    change: Change::Extra {
                        id: remote.id.clone(),
                    },
                });
            }
        }
    }
    for remote in existing.metric.iter().filter(managed) {
        if !claimed.contains(&(RuleKind::Metric, remote.id.clone())) {
            let project = remote
                .body
                .get("projects")
                .and_then(Value::as_array)
                .and_then(|p| p.first())
                .and_then(Value::as_str)
                .map(str::to_owned);
            steps.push(PlanStep {
                kind: RuleKind::Metric,
                name: remote.name.clone(),
                project,
                severity: None,
                change: Change::Extra {
                    id: remote.id.clone(),
                },
            });
        }
    }

    Plan {
        organization: rules.organization.clone(),
        managed_prefix: rules.managed_prefix.clone(),
        steps,
    }
}

/// List what Sentry holds (the issue rules of every project the file names, and the
/// organization's metric rules) and [`plan`] against it. Read-only: this is the dry run.
///
/// # Errors
/// The first [`NotifyError::SentryApi`] or [`NotifyError::SentryMalformedResponse`] of a
/// listing.
pub async fn plan_sync<A: SentryApi + ?Sized>(
    api: &A,
    rules: &RuleSet,
) -> Result<Plan, NotifyError> {
    let existing = fetch_existing(api, rules).await?;
    Ok(plan(rules, &existing))
}

/// Read the current rules from Sentry for the projects and organization of `rules`.
///
/// # Errors
/// As [`plan_sync`].
pub async fn fetch_existing<A: SentryApi + ?Sized>(
    api: &A,
    rules: &RuleSet,
) -> Result<ExistingRules, NotifyError> {
    let mut existing = ExistingRules::default();
    for project in rules.issue_projects() {
        let listed = api.list_issue_rules(&rules.organization, project).await?;
        existing.issue.insert(project.to_owned(), listed);
    }
    existing.metric = api.list_metric_rules(&rules.organization).await?;
    Ok(existing)
}

/// Options of [`apply`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Delete [`Change::Extra`] rules. Off by default: extras are only reported.
    pub delete_extra: bool,
}

/// What [`apply`] did, by full rule name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// Rules created.
    pub created: Vec<String>,
    /// Rules overwritten.
    pub updated: Vec<String>,
    /// Extra rules deleted (only with [`ApplyOptions::delete_extra`]).
    pub deleted: Vec<String>,
    /// Rules left as they were (unchanged, and extras not deleted).
    pub untouched: Vec<String>,
}

/// Carry out a plan through the API, step by step, in plan order.
///
/// Stops at the first error; since planning is idempotent, running [`plan_sync`] and
/// `apply` again picks up where it stopped.
///
/// # Errors
/// The first API error, its `operation` naming the rule.
pub async fn apply<A: SentryApi + ?Sized>(
    api: &A,
    plan: &Plan,
    options: ApplyOptions,
) -> Result<ApplyReport, NotifyError> {
    let org = plan.organization.as_str();
    let mut report = ApplyReport::default();
    for step in &plan.steps {
        let project = step.project.as_deref().unwrap_or_default();
        let name = &step.name;
        let context = |e: NotifyError, verb: &str| match e {
            NotifyError::SentryApi { source, .. } => NotifyError::SentryApi {
                operation: format!("{verb} {} rule {name:?}", step.kind.as_str()),
                source,
            },
            NotifyError::SentryMalformedResponse { status, reason, .. } => {
                NotifyError::SentryMalformedResponse {
                    operation: format!("{verb} {} rule {name:?}", step.kind.as_str()),
                    status,
                    reason,
                }
            }
            other => other,
        };
        match (&step.change, step.kind) {
            (Change::Create { body }, RuleKind::Issue) => {
                api.create_issue_rule(org, project, body)
                    .await
                    .map_err(|e| context(e, "create"))?;
                report.created.push(name.clone());
            }
            (Change::Create { body }, RuleKind::Metric) => {
                api.create_metric_rule(org, body)
                    .await
                    .map_err(|e| context(e, "create"))?;
                report.created.push(name.clone());
            }
            (Change::Update { id, body, .. }, RuleKind::Issue) => {
                api.update_issue_rule(org, project, id, body)
                    .await
                    .map_err(|e| context(e, "update"))?;
                report.updated.push(name.clone());
            }
            (Change::Update { id, body, .. }, RuleKind::Metric) => {
                api.update_metric_rule(org, id, body)
                    .await
                    .map_err(|e| context(e, "update"))?;
                report.updated.push(name.clone());
            }
            (Change::Extra { id }, RuleKind::Issue) if options.delete_extra => {
                api.delete_issue_rule(org, project, id)
                    .await
                    .map_err(|e| context(e, "delete"))?;
                report.deleted.push(name.clone());
            }
            (Change::Extra { id }, RuleKind::Metric) if options.delete_extra => {
                api.delete_metric_rule(org, id)
                    .await
                    .map_err(|e| context(e, "delete"))?;
                report.deleted.push(name.clone());
            }
            (Change::Unchanged { .. } | Change::Extra { .. }, _) => {
                report.untouched.push(name.clone());
            }
        }
    }
    Ok(report)
}

impl fmt::Display for Plan {
    /// The dry-run text, e.g.:
    ///
    /// ```text
    /// Sentry alert rules of organization "parky" (managed prefix "[parky] "): 1 to create, 1 to update, 1 unchanged, 1 extra
    ///   + create issue rule "[parky] 5xx burst" in api (P0)
    ///   ~ update metric rule "[parky] p95 latency high" (id 7, P1)
    ///       timeWindow: 60 -> 15
    ///   = unchanged issue rule "[parky] Regression" in api (id 3, P2)
    ///   ! extra metric rule "[parky] Old" (id 9): not in the rules file, left in place
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.summary();
        writeln!(
            f,
            "Sentry alert rules of organization {:?} (managed prefix {:?}): {} to create, {} to update, {} unchanged, {} extra",
            self.organization, self.managed_prefix, s.create, s.update, s.unchanged, s.extra
        )?;
        for step in &self.steps {
            let kind = step.kind.as_str();
            let place = match (step.kind, &step.project) {
                (RuleKind::Issue, Some(project)) => format!(" in {project}"),
                _ => String::new(),
            };
            let severity = step
                .severity
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".to_owned());
            match &step.change {
                Change::Create { .. } => writeln!(
                    f,
                    "  + create {kind} rule {:?}{place} ({severity})",
                    step.name
                )?,
                Change::Update { id, diff, .. } => {
                    writeln!(
                        f,
                        "  ~ update {kind} rule {:?}{place} (id {id}, {severity})",
                        step.name
                    )?;
                    for change in diff {
                        writeln!(f, "      {}: {} -> {}", change.field, change.before, change.after)?;
                    }
                }
                Change::Unchanged { id } => writeln!(
                    f,
                    "  = unchanged {kind} rule {:?}{place} (id {id}, {severity})",
                    step.name
                )?,
                Change::Extra { id } => writeln!(
                    f,
                    "  ! extra {kind} rule {:?}{place} (id {id}): not in the rules file, left in place",
                    step.name
                )?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matching_ignores_server_fields_and_string_numbers() {
        let desired = json!({"value": 1, "id": "x", "interval": "1h", "env": null});
        // From the documented list reply: `"value": "1"` and extra keys.
        let actual = json!({"value": "1", "id": "x", "interval": "1h", "name": "…"});
        assert!(json_matches(&desired, &actual));
        assert!(!json_matches(&json!({"value": 2}), &actual));
        assert!(json_matches(&json!([1.0, "a"]), &json!([1, "a"])));
        assert!(!json_matches(&json!([1]), &json!([1, 2])));
        assert!(!json_matches(&json!("abc"), &json!(5)));
    }

    #[test]
    fn diff_projects_sentry_values_onto_the_file() {
        let desired = json!({"name": "n", "timeWindow": 15, "triggers": [{"label": "critical", "alertThreshold": 2.0}]});
        let actual = json!({"name": "n", "timeWindow": 60, "dateCreated": "x",
            "triggers": [{"id": "9", "label": "critical", "alertThreshold": 2, "actions": []}]});
        let diff = diff_fields(&desired, &actual);
        assert_eq!(
            diff,
            vec![FieldChange {
                field: "timeWindow".into(),
                before: json!(60),
                after: json!(15)
            }]
        );
    }
}
