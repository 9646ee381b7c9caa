//! The [`SentryApi`] trait and its embedded in-memory implementation, [`InMemorySentry`].

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use parky_core::ApiError;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::NotifyError;

/// An alert rule as Sentry returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RemoteRule {
    /// Sentry's id of the rule (a string of digits).
    pub id: String,
    /// The rule's name.
    pub name: String,
    /// The whole JSON object Sentry returned (server fields such as `dateCreated` included).
    pub body: Value,
}

impl RemoteRule {
    /// Read a rule out of a JSON object with a string (or numeric) `id` and a string `name`.
    ///
    /// # Errors
    /// The reason, when the value is not such an object.
    pub fn from_json(body: Value) -> Result<Self, String> {
        let Some(map) = body.as_object() else {
            return Err("a rule is not a JSON object".to_owned());
        };
        let id = match map.get("id") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            Some(Value::Number(id)) => id.to_string(),
            _ => return Err("a rule has no `id`".to_owned()),
        };
        let Some(name) = map.get("name").and_then(Value::as_str) else {
            return Err(format!("rule {id} has no `name`"));
        };
        let name = name.to_owned();
        Ok(RemoteRule { id, name, body })
    }
}

/// The part of Sentry's API that alert rule sync uses.
///
/// Listing returns every page (implementations follow Sentry's `Link` cursors). Bodies are
/// the JSON objects of Sentry's documented create / update requests; the returned
/// [`RemoteRule`]s are Sentry's replies.
#[async_trait]
pub trait SentryApi: Send + Sync {
    /// `GET /api/0/projects/{org}/{project}/rules/`, all pages.
    async fn list_issue_rules(
        &self,
        organization: &str,
        project: &str,
    ) -> Result<Vec<RemoteRule>, NotifyError>;

    /// `POST /api/0/projects/{org}/{project}/rules/`.
    async fn create_issue_rule(
        &self,
        organization: &str,
        project: &str,
        body: &Value,
    ) -> Result<RemoteRule, NotifyError>;

    /// `PUT /api/0/projects/{org}/{project}/rules/{rule_id}/` (a full overwrite).
    async fn update_issue_rule(
        &self,
        organization: &str,
        project: &str,
        rule_id: &str,
        body: &Value,
    ) -> Result<RemoteRule, NotifyError>;

    /// `DELETE /api/0/projects/{org}/{project}/rules/{rule_id}/`.
    async fn delete_issue_rule(
        &self,
        organization: &str,
        project: &str,
        rule_id: &str,
    ) -> Result<(), NotifyError>;

    /// `GET /api/0/organizations/{org}/alert-rules/`, all pages.
    async fn list_metric_rules(&self, organization: &str) -> Result<Vec<RemoteRule>, NotifyError>;

    /// `POST /api/0/organizations/{org}/alert-rules/`.
    async fn create_metric_rule(
        &self,
        organization: &str,
        body: &Value,
    ) -> Result<RemoteRule, NotifyError>;

    /// `PUT /api/0/organizations/{org}/alert-rules/{rule_id}/` (a full overwrite).
    async fn update_metric_rule(
        &self,
        organization: &str,
        rule_id: &str,
        body: &Value,
    ) -> Result<RemoteRule, NotifyError>;

    /// `DELETE /api/0/organizations/{org}/alert-rules/{rule_id}/`.
    async fn delete_metric_rule(
        &self,
        organization: &str,
        rule_id: &str,
    ) -> Result<(), NotifyError>;
}

/// One call recorded by [`InMemorySentry`], e.g. `POST issue api "[parky] 5xx burst"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedCall {
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub method: &'static str,
    /// The request path, as the HTTP client would send it.
    pub path: String,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    issue: BTreeMap<(String, String), Vec<RemoteRule>>,
    metric: BTreeMap<String, Vec<RemoteRule>>,
    calls: Vec<RecordedCall>,
}

/// An in-memory Sentry: keeps rules per organization and project, assigns ids, echoes
/// bodies back with server fields added (`id`, `dateCreated`, trigger and action ids), and
/// records every call. Updating or deleting an unknown id answers 404 with Sentry's
/// `{"detail": "The requested resource does not exist"}`.
#[derive(Debug, Default)]
pub struct InMemorySentry {
    state: Mutex<State>,
}

const NOT_FOUND: &str = "The requested resource does not exist";
const CREATED_AT: &str = "2024-01-01T00:00:00.000000Z";

impl InMemorySentry {
    /// An empty Sentry.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave `State` half-written (every change is one
        // assignment or push), so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.lock().calls.clone()
    }

    /// Forget the recorded calls (the rules stay).
    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// The issue rules of a project, in creation order.
    pub fn issue_rules(&self, organization: &str, project: &str) -> Vec<RemoteRule> {
        self.lock()
            .issue
            .get(&(organization.to_owned(), project.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    /// The metric rules of an organization, in creation order.
    pub fn metric_rules(&self, organization: &str) -> Vec<RemoteRule> {
        self.lock()
            .metric
            .get(organization)
            .cloned()
            .unwrap_or_default()
    }

    /// Seed an issue rule (e.g. one created by hand in Sentry's UI); returns its id.
    pub fn insert_issue_rule(&self, organization: &str, project: &str, body: Value) -> String {
        let mut state = self.lock();
        let rule = stored(&mut state, body, false);
        let id = rule.id.clone();
        state
            .issue
            .entry((organization.to_owned(), project.to_owned()))
            .or_default()
            .push(rule);
        id
    }

    /// Seed a metric rule; returns its id.
    pub fn insert_metric_rule(&self, organization: &str, body: Value) -> String {
        let mut state = self.lock();
        let rule = stored(&mut state, body, true);
        let id = rule.id.clone();
        state
            .metric
            .entry(organization.to_owned())
            .or_default()
            .push(rule);
        id
    }

    fn record(state: &mut State, method: &'static str, path: String) {
        state.calls.push(RecordedCall { method, path });
    }
}

/// Give a request body an id and the server fields Sentry adds.
fn stored(state: &mut State, body: Value, metric: bool) -> RemoteRule {
    state.next_id += 1;
    let id = state.next_id.to_string();
    let mut map = match body {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    map.insert("id".into(), Value::String(id.clone()));
    map.insert("dateCreated".into(), Value::String(CREATED_AT.into()));
    if metric {
        if let Some(Value::Array(triggers)) = map.get_mut("triggers") {
            for trigger in triggers.iter_mut() {
                state.next_id += 1;
                let trigger_id = state.next_id.to_string();
                if let Value::Object(t) = trigger {
                    t.insert("id".into(), Value::String(trigger_id.clone()));
                    t.insert("alertRuleId".into(), Value::String(id.clone()));
                    if let Some(Value::Array(actions)) = t.get_mut("actions") {
                        for action in actions.iter_mut() {
                            state.next_id += 1;
                            if let Value::Object(a) = action {
                                a.insert("id".into(), Value::String(state.next_id.to_string()));
                                a.insert(
                                    "alertRuleTriggerId".into(),
                                    Value::String(trigger_id.clone()),
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    let name = map
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    RemoteRule {
        id,
        name,
        body: Value::Object(map),
    }
}

fn not_found(operation: String) -> NotifyError {
    NotifyError::SentryApi {
        operation,
        source: ApiError::status("sentry", 404, NOT_FOUND),
    }
}

fn replace(rules: &mut [RemoteRule], id: &str, mut new: RemoteRule) -> Option<RemoteRule> {
    let slot = rules.iter_mut().find(|r| r.id == id)?;
    // Keep the id the rule already had.
    new.id = id.to_owned();
    if let Value::Object(map) = &mut new.body {
        map.insert("id".into(), Value::String(id.to_owned()));
    }
    *slot = new.clone();
    Some(new)
}

#[async_trait]
impl SentryApi for InMemorySentry {
    async fn list_issue_rules(
        &self,
        organization: &str,
        project: &str,
    ) -> Result<Vec<RemoteRule>, NotifyError> {
        let mut state = self.lock();
        Self::record(
            &mut state,
            "GET",
            format!("/api/0/projects/{organization}/{project}/rules/"),
        );
        Ok(state
            .issue
            .get(&(organization.to_owned(), project.to_owned()))
            .cloned()
            .unwrap_or_default())
    }

    async fn create_issue_rule(
        &self,
        organization: &str,
        project: &str,
        body: &Value,
    ) -> Result<RemoteRule, NotifyError> {
        let mut state = self.lock();
        Self::record(
            &mut state,
            "POST",
            format!("/api/0/projects/{organization}/{project}/rules/"),
        );
        let rule = stored(&mut state, body.clone(), false);
        state
            .issue
            .entry((organization.to_owned(), project.to_owned()))
            .or_default()
            .push(rule.clone());
        Ok(rule)
    }

    async fn update_issue_rule(
        &self,
        organization: &str,
        project: &str,
        rule_id: &str,
        body: &Value,
    ) -> Result<RemoteRule, NotifyError> {
        let mut state = self.lock();
        let path = format!("/api/0/projects/{organization}/{project}/rules/{rule_id}/");
        Self::record(&mut state, "PUT", path.clone());
        let new = stored(&mut state, body.clone(), false);
        state
            .issue
            .get_mut(&(organization.to_owned(), project.to_owned()))
            .and_then(|rules| replace(rules, rule_id, new))
            .ok_or_else(|| not_found(format!("PUT {path}")))
    }

    async fn delete_issue_rule(
        &self,
        organization: &str,
        project: &str,
        rule_id: &str,
    ) -> Result<(), NotifyError> {
        let mut state = self.lock();
        let path = format!("/api/0/projects/{organization}/{project}/rules/{rule_id}/");
        Self::record(&mut state, "DELETE", path.clone());
        let rules = state
            .issue
            .get_mut(&(organization.to_owned(), project.to_owned()));
        match rules.and_then(|r| r.iter().position(|x| x.id == rule_id).map(|i| (r, i))) {
            Some((rules, i)) => {
                rules.remove(i);
                Ok(())
            }
            None => Err(not_found(format!("DELETE {path}"))),
        }
    }

    async fn list_metric_rules(&self, organization: &str) -> Result<Vec<RemoteRule>, NotifyError> {
        let mut state = self.lock();
        Self::record(
            &mut state,
            "GET",
            format!("/api/0/organizations/{organization}/alert-rules/"),
        );
        Ok(state.metric.get(organization).cloned().unwrap_or_default())
    }

    async fn create_metric_rule(
        &self,
        organization: &str,
        body: &Value,
    ) -> Result<RemoteRule, NotifyError> {
        let mut state = self.lock();
        Self::record(
            &mut state,
            "POST",
            format!("/api/0/organizations/{organization}/alert-rules/"),
        );
        let rule = stored(&mut state, body.clone(), true);
        state
            .metric
            .entry(organization.to_owned())
            .or_default()
            .push(rule.clone());
        Ok(rule)
    }

    async fn update_metric_rule(
        &self,
        organization: &str,
        rule_id: &str,
        body: &Value,
    ) -> Result<RemoteRule, NotifyError> {
        let mut state = self.lock();
        let path = format!("/api/0/organizations/{organization}/alert-rules/{rule_id}/");
        Self::record(&mut state, "PUT", path.clone());
        let new = stored(&mut state, body.clone(), true);
        state
            .metric
            .get_mut(organization)
            .and_then(|rules| replace(rules, rule_id, new))
            .ok_or_else(|| not_found(format!("PUT {path}")))
    }

    async fn delete_metric_rule(
        &self,
        organization: &str,
        rule_id: &str,
    ) -> Result<(), NotifyError> {
        let mut state = self.lock();
        let path = format!("/api/0/organizations/{organization}/alert-rules/{rule_id}/");
        Self::record(&mut state, "DELETE", path.clone());
        let rules = state.metric.get_mut(organization);
        match rules.and_then(|r| r.iter().position(|x| x.id == rule_id).map(|i| (r, i))) {
            Some((rules, i)) => {
                rules.remove(i);
                Ok(())
            }
            None => Err(not_found(format!("DELETE {path}"))),
        }
    }
}
