//! Pure routing decisions: the validated policy and the pieces it is made of.
//!
//! [`NotifyPolicy`] is what an [`AlertmanagerConfig`] becomes once checked
//! (`NotifyPolicy::try_from(config)`): the routing tree, the receivers, the inhibit rules and
//! the named time intervals. An invalid configuration cannot become a policy, and the error
//! names the offending field.

pub mod inhibit;
pub mod matcher;
pub mod route;
pub mod strategy;
pub mod time_interval;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use serde_yaml_ng::Value;

use crate::config::{AlertmanagerConfig, InhibitRuleConfig, RouteConfig};
use crate::error::NotifyError;
use crate::model::{Alert, LabelSet};

use self::inhibit::InhibitRule;
use self::matcher::{parse_matchers, MatchType, Matcher, MatcherError, Matchers};
use self::route::{
    parse_prometheus_duration, GroupBy, LabelSlots, MatchedRoute, Route, RouteTiming,
};
use self::time_interval::TimeInterval;

/// A notification target. For now only its name matters to routing; the integration blocks
/// are kept as written for the delivery code.
#[derive(Debug, Clone, PartialEq)]
pub struct Receiver {
    /// The unique name routes refer to.
    pub name: String,
    /// The `*_configs` blocks as opaque YAML, by key.
    pub integrations: BTreeMap<String, Value>,
}

/// A validated Alertmanager configuration: everything needed to decide where an alert goes,
/// whether it is inhibited and whether its route is muted right now.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyPolicy {
    root: Route,
    receivers: Vec<Receiver>,
    inhibit_rules: Vec<InhibitRule>,
    time_intervals: BTreeMap<String, Vec<TimeInterval>>,
}

impl NotifyPolicy {
    /// Parses and validates the YAML text of an Alertmanager configuration.
    ///
    /// # Errors
    ///
    /// [`NotifyError::Yaml`] for text that does not fit the structure, any other variant for a
    /// configuration Alertmanager would refuse.
    pub fn from_yaml(text: &str) -> Result<Self, NotifyError> {
        NotifyPolicy::try_from(AlertmanagerConfig::from_yaml(text)?)
    }

    /// The routes the alert's labels match, in Alertmanager's order (depth-first, left to
    /// right). Never empty: an alert no child route takes goes to the root's receiver.
    pub fn route(&self, labels: &LabelSet) -> Vec<MatchedRoute> {
        let mut out = Vec::new();
        self.root
            .for_each_match(labels, |r| out.push(r.to_matched()));
        out
    }

    /// The receiver names the alert goes to, in order (what `amtool config routes test`
    /// prints, comma-separated). A receiver may appear more than once.
    pub fn receivers_for(&self, labels: &LabelSet) -> Vec<String> {
        let mut out = Vec::with_capacity(2);
        self.root
            .for_each_match(labels, |r| out.push(r.receiver().to_owned()));
        out
    }

    /// The root of the routing tree.
    pub fn root(&self) -> &Route {
        &self.root
    }

    /// The receivers, in configuration order.
    pub fn receivers(&self) -> &[Receiver] {
        &self.receivers
    }

    /// The receiver with this name.
    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }

    /// The inhibit rules, in configuration order.
    pub fn inhibit_rules(&self) -> &[InhibitRule] {
        &self.inhibit_rules
    }

    /// Whether an inhibit rule mutes the alert with labels `target` while `alerts` are known
    /// (only the firing ones can inhibit).
    pub fn is_inhibited(&self, target: &LabelSet, alerts: &[Alert]) -> bool {
        inhibit::is_inhibited(&self.inhibit_rules, target, alerts)
    }

    /// The periods of a named time interval (from `time_intervals` or `mute_time_intervals`).
    pub fn time_interval(&self, name: &str) -> Option<&[TimeInterval]> {
        self.time_intervals.get(name).map(Vec::as_slice)
    }

    /// Whether the named interval contains the instant; `false` for an unknown name.
    pub fn interval_contains(&self, name: &str, at: DateTime<Utc>) -> bool {
        self.time_interval(name)
            .is_some_and(|periods| time_interval::any_contains(periods, at))
    }

    /// Whether notifications of a matched route are held back at `at`: one of its
    /// `mute_time_intervals` contains the instant, or it has `active_time_intervals` and none
    /// contains it (Alertmanager's time-mute and time-active stages).
    pub fn is_muted(&self, route: &MatchedRoute, at: DateTime<Utc>) -> bool {
        let muted = route
            .mute_time_intervals
            .iter()
            .any(|n| self.interval_contains(n, at));
        let inactive = !route.active_time_intervals.is_empty()
            && !route
                .active_time_intervals
                .iter()
                .any(|n| self.interval_contains(n, at));
        muted || inactive
    }
}

impl TryFrom<AlertmanagerConfig> for NotifyPolicy {
    type Error = NotifyError;

    fn try_from(cfg: AlertmanagerConfig) -> Result<Self, Self::Error> {
        // Receivers: named, unique.
        let mut names = HashSet::new();
        let mut receivers = Vec::with_capacity(cfg.receivers.len());
        for (i, r) in cfg.receivers.into_iter().enumerate() {
            let path = format!("receivers[{i}].name");
            if r.name.is_empty() {
                return Err(NotifyError::MissingName {
                    path,
                    kind: "receiver",
                });
            }
            if !names.insert(r.name.clone()) {
                return Err(NotifyError::DuplicateReceiver { path, name: r.name });
            }
            receivers.push(Receiver {
                name: r.name,
                integrations: r.integrations,
            });
        }

        // The root route: a default receiver, nothing that could make it not match.
        let root_cfg = cfg.route.ok_or(NotifyError::NoRoute)?;
        check_root(&root_cfg)?;
        let root = build_route(
            &root_cfg,
            "route".to_owned(),
            None,
            &mut LabelSlots::default(),
        )?;
        check_receivers(&root_cfg, "route", &names)?;

        // Time intervals: the deprecated list first, as Alertmanager reads them.
        let mut time_intervals = BTreeMap::new();
        for (section, list) in [
            ("mute_time_intervals", &cfg.mute_time_intervals),
            ("time_intervals", &cfg.time_intervals),
        ] {
            for (i, ti) in list.iter().enumerate() {
                let path = format!("{section}[{i}]");
                if ti.name.is_empty() {
                    return Err(NotifyError::MissingName {
                        path: format!("{path}.name"),
                        kind: "time interval",
                    });
                }
                let periods = ti
                    .time_intervals
                    .iter()
                    .enumerate()
                    .map(|(j, spec)| {
                        TimeInterval::from_config(spec, &format!("{path}.time_intervals[{j}]"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if time_intervals.insert(ti.name.clone(), periods).is_some() {
                    return Err(NotifyError::DuplicateTimeInterval {
                        path: format!("{path}.name"),
                        name: ti.name.clone(),
                    });
                }
            }
        }
        check_time_intervals(&root_cfg, "route", &time_intervals)?;

        let inhibit_rules = cfg
            .inhibit_rules
            .iter()
            .enumerate()
            .map(|(i, r)| build_inhibit_rule(r, &format!("inhibit_rules[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;

        Ok(NotifyPolicy {
            root,
            receivers,
            inhibit_rules,
            time_intervals,
        })
    }
}

fn check_root(r: &RouteConfig) -> Result<(), NotifyError> {
    if r.receiver.as_deref().unwrap_or("").is_empty() {
        return Err(NotifyError::RootRouteWithoutReceiver {
            path: "route.receiver".to_owned(),
        });
    }
    for (field, present) in [
        ("match", !r.match_labels.is_empty()),
        ("match_re", !r.match_re.is_empty()),
        ("matchers", !r.matchers.is_empty()),
    ] {
        if present {
            return Err(NotifyError::RootRouteHasMatchers {
                path: format!("route.{field}"),
            });
        }
    }
    if !r.mute_time_intervals.is_empty() {
        return Err(NotifyError::RootRouteTimeIntervals {
            path: "route.mute_time_intervals".to_owned(),
            kind: "mute",
        });
    }
    if !r.active_time_intervals.is_empty() {
        return Err(NotifyError::RootRouteTimeIntervals {
            path: "route.active_time_intervals".to_owned(),
            kind: "active",
        });
    }
    if r.continue_matching {
        return Err(NotifyError::RootRouteContinue {
            path: "route.continue".to_owned(),
        });
    }
    Ok(())
}

/// Children first, as Alertmanager's `checkReceiver` reports.
fn check_receivers(
    r: &RouteConfig,
    path: &str,
    names: &HashSet<String>,
) -> Result<(), NotifyError> {
    for (i, child) in r.routes.iter().enumerate() {
        check_receivers(child, &format!("{path}.routes[{i}]"), names)?;
    }
    match r.receiver.as_deref() {
        Some(name) if !name.is_empty() && !names.contains(name) => {
            Err(NotifyError::UnknownReceiver {
                path: format!("{path}.receiver"),
                receiver: name.to_owned(),
            })
        }
        _ => Ok(()),
    }
}

/// Children first, active before mute, as Alertmanager's `checkTimeInterval` reports.
fn check_time_intervals(
    r: &RouteConfig,
    path: &str,
    known: &BTreeMap<String, Vec<TimeInterval>>,
) -> Result<(), NotifyError> {
    for (i, child) in r.routes.iter().enumerate() {
        check_time_intervals(child, &format!("{path}.routes[{i}]"), known)?;
    }
    for (field, list) in [
        ("active_time_intervals", &r.active_time_intervals),
        ("mute_time_intervals", &r.mute_time_intervals),
    ] {
        for (i, name) in list.iter().enumerate() {
            if !known.contains_key(name) {
                return Err(NotifyError::UnknownTimeInterval {
                    path: format!("{path}.{field}[{i}]"),
                    name: name.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Prometheus label names: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn label_name(name: &str, path: String) -> Result<(), NotifyError> {
    if is_valid_label_name(name) {
        Ok(())
    } else {
        Err(NotifyError::InvalidLabelName {
            path,
            name: name.to_owned(),
        })
    }
}

fn matcher_error(err: MatcherError, path: String, input: &str) -> NotifyError {
    match err {
        MatcherError::Syntax(reason) => NotifyError::InvalidMatcher {
            path,
            input: input.to_owned(),
            reason: reason
                .split(':')
                .next()
                .unwrap_or("bad matcher format")
                .to_owned(),
        },
        MatcherError::Regex(reason) => NotifyError::InvalidRegex {
            path,
            pattern: input.to_owned(),
            reason,
        },
    }
}

/// Builds the matchers of `match`, `match_re` and `matchers` (legacy ones first, then sorted,
/// as Alertmanager does).
fn build_matchers(
    path: &str,
    (eq_key, eq): (&str, &BTreeMap<String, String>),
    (re_key, re): (&str, &BTreeMap<String, String>),
    (list_key, list): (&str, &[String]),
) -> Result<Matchers, NotifyError> {
    let mut out = Vec::new();
    for (name, value) in eq {
        label_name(name, format!("{path}.{eq_key}.{name}"))?;
        let m = Matcher::new(MatchType::Equal, name.clone(), value.clone())
            .map_err(|e| matcher_error(e, format!("{path}.{eq_key}.{name}"), value))?;
        out.push(m);
    }
    for (name, value) in re {
        label_name(name, format!("{path}.{re_key}.{name}"))?;
        let m = Matcher::new(MatchType::Regex, name.clone(), value.clone())
            .map_err(|e| matcher_error(e, format!("{path}.{re_key}.{name}"), value))?;
        out.push(m);
    }
    for (i, text) in list.iter().enumerate() {
        let parsed = parse_matchers(text)
            .map_err(|e| matcher_error(e, format!("{path}.{list_key}[{i}]"), text))?;
        out.extend(parsed);
    }
    Ok(Matchers::new(out))
}

fn duration(
    value: Option<&String>,
    path: String,
    inherited: std::time::Duration,
    zero_allowed: bool,
) -> Result<std::time::Duration, NotifyError> {
    let Some(text) = value else {
        return Ok(inherited);
    };
    let d = parse_prometheus_duration(text).ok_or_else(|| NotifyError::InvalidDuration {
        path: path.clone(),
        value: text.clone(),
        reason: "not a valid duration string".to_owned(),
    })?;
    if d.is_zero() && !zero_allowed {
        let field = path.rsplit('.').next().unwrap_or("interval").to_owned();
        return Err(NotifyError::InvalidDuration {
            path,
            value: text.clone(),
            reason: format!("{field} cannot be zero"),
        });
    }
    Ok(d)
}

fn build_route(
    cfg: &RouteConfig,
    path: String,
    parent: Option<&Route>,
    slots: &mut LabelSlots,
) -> Result<Route, NotifyError> {
    let matchers = build_matchers(
        &path,
        ("match", &cfg.match_labels),
        ("match_re", &cfg.match_re),
        ("matchers", &cfg.matchers),
    )?;

    // group_by: `...` or label names, never both, no repeats.
    let mut group_all = false;
    let mut group_labels = BTreeSet::new();
    for (i, l) in cfg.group_by.iter().flatten().enumerate() {
        if l == "..." {
            group_all = true;
            continue;
        }
        if !is_valid_label_name(l) {
            return Err(NotifyError::InvalidGroupBy {
                path: format!("{path}.group_by[{i}]"),
                reason: format!("invalid label name {l:?} in group_by list"),
            });
        }
        if !group_labels.insert(l.clone()) {
            return Err(NotifyError::InvalidGroupBy {
                path: format!("{path}.group_by[{i}]"),
                reason: format!("duplicated label {l:?} in group_by"),
            });
        }
    }
    if group_all && !group_labels.is_empty() {
        return Err(NotifyError::InvalidGroupBy {
            path: format!("{path}.group_by"),
            reason: "cannot have wildcard group_by (`...`) and other labels at the same time"
                .to_owned(),
        });
    }
    let inherited_group_by =
        parent.map_or(GroupBy::Labels(BTreeSet::new()), |p| p.group_by.clone());
    let group_by = if !group_labels.is_empty() {
        GroupBy::Labels(group_labels)
    } else if group_all {
        GroupBy::All
    } else {
        inherited_group_by
    };

    let inherited = parent.map_or_else(RouteTiming::default, |p| p.timing);
    let timing = RouteTiming {
        group_wait: duration(
            cfg.group_wait.as_ref(),
            format!("{path}.group_wait"),
            inherited.group_wait,
            true,
        )?,
        group_interval: duration(
            cfg.group_interval.as_ref(),
            format!("{path}.group_interval"),
            inherited.group_interval,
            false,
        )?,
        repeat_interval: duration(
            cfg.repeat_interval.as_ref(),
            format!("{path}.repeat_interval"),
            inherited.repeat_interval,
            false,
        )?,
    };

    let receiver = match (cfg.receiver.as_deref(), parent) {
        (Some(r), _) if !r.is_empty() => r.to_owned(),
        (_, Some(p)) => p.receiver.clone(),
        // The root's receiver was checked by `check_root`.
        (_, None) => String::new(),
    };
    let key = match parent {
        Some(p) => format!("{}/{}", p.key, matchers),
        None => matchers.to_string(),
    };

    let checks = slots.checks(&matchers);
    let mut route = Route {
        path,
        key,
        matchers,
        checks,
        continue_matching: cfg.continue_matching,
        receiver,
        group_by,
        timing,
        mute_time_intervals: cfg.mute_time_intervals.clone(),
        active_time_intervals: cfg.active_time_intervals.clone(),
        routes: Vec::with_capacity(cfg.routes.len()),
    };
    let children = cfg
        .routes
        .iter()
        .enumerate()
        .map(|(i, child)| {
            build_route(
                child,
                format!("{}.routes[{i}]", route.path),
                Some(&route),
                slots,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    route.routes = children;
    Ok(route)
}

fn build_inhibit_rule(cfg: &InhibitRuleConfig, path: &str) -> Result<InhibitRule, NotifyError> {
    let source = build_matchers(
        path,
        ("source_match", &cfg.source_match),
        ("source_match_re", &cfg.source_match_re),
        ("source_matchers", &cfg.source_matchers),
    )?;
    let target = build_matchers(
        path,
        ("target_match", &cfg.target_match),
        ("target_match_re", &cfg.target_match_re),
        ("target_matchers", &cfg.target_matchers),
    )?;
    for (i, l) in cfg.equal.iter().enumerate() {
        if !is_valid_label_name(l) {
            return Err(NotifyError::InvalidLabelName {
                path: format!("{path}.equal[{i}]"),
                name: l.clone(),
            });
        }
    }
    let mut rule = InhibitRule::new(source, target, cfg.equal.clone());
    rule.name = cfg.name.clone();
    Ok(rule)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::labels_from;

    const TREE: &str = r#"
global:
  resolve_timeout: 5m
templates: ['/etc/alertmanager/*.tmpl']
route:
  receiver: default
  group_by: [alertname, cluster]
  group_wait: 45s
  routes:
    - match: {team: db}
      receiver: db
      group_interval: 10m
      routes:
        - matchers: ['severity="page"']
          receiver: db-pager
          repeat_interval: 1h
          continue: true
        - matchers: [severity=~"page|critical"]
          receiver: db-critical
          group_by: ['...']
        - matchers: [env!=prod]
          mute_time_intervals: [weekend]
    - match_re: {service: "api|web"}
      receiver: frontend
      continue: true
      group_by: [service]
      active_time_intervals: [office]
    - matchers: ['service=~"api.*"', 'env=prod']
      receiver: api-prod
receivers:
  - name: default
  - name: db
    webhook_configs: [{url: 'http://127.0.0.1:9/db'}]
  - name: db-pager
  - name: db-critical
  - name: frontend
  - name: api-prod
time_intervals:
  - name: office
    time_intervals:
      - weekdays: ['monday:friday']
        times: [{start_time: '09:00', end_time: '17:00'}]
mute_time_intervals:
  - name: weekend
    time_intervals:
      - weekdays: [saturday, sunday]
"#;

    fn policy() -> NotifyPolicy {
        NotifyPolicy::from_yaml(TREE).unwrap()
    }

    fn receivers(p: &NotifyPolicy, pairs: &[(&str, &str)]) -> Vec<String> {
        p.receivers_for(&labels_from(pairs.iter().copied()))
    }

    #[test]
    fn routing_hand_derived() {
        let p = policy();
        // Nothing matches a child: the root itself.
        assert_eq!(receivers(&p, &[("alertname", "X")]), ["default"]);
        // team=db, severity=page: db-pager matches and continues, db-critical matches and
        // stops (the env!=prod sibling is not tried). The db node is not itself a match
        // because a child matched. The db route does not continue: api routes are not tried.
        assert_eq!(
            receivers(
                &p,
                &[("team", "db"), ("severity", "page"), ("service", "api")]
            ),
            ["db-pager", "db-critical"]
        );
        // team=db, severity=critical, env=prod: only db-critical.
        assert_eq!(
            receivers(
                &p,
                &[("team", "db"), ("severity", "critical"), ("env", "prod")]
            ),
            ["db-critical"]
        );
        // team=db, no severity, env missing → "" != prod: the third child, inheriting `db`.
        assert_eq!(receivers(&p, &[("team", "db")]), ["db"]);
        // team=db, env=prod, severity=info: no child matches → the db node itself.
        assert_eq!(
            receivers(&p, &[("team", "db"), ("env", "prod"), ("severity", "info")]),
            ["db"]
        );
        // service=api env=prod: frontend (continue) then api-prod.
        assert_eq!(
            receivers(&p, &[("service", "api"), ("env", "prod")]),
            ["frontend", "api-prod"]
        );
        // service=api-gw: match_re is anchored, so frontend does not match; api.* does.
        assert_eq!(
            receivers(&p, &[("service", "api-gw"), ("env", "prod")]),
            ["api-prod"]
        );
        // service=web env=dev: frontend only; it continues, api-prod fails, so one route.
        assert_eq!(
            receivers(&p, &[("service", "web"), ("env", "dev")]),
            ["frontend"]
        );
    }

    #[test]
    fn inheritance_of_options() {
        let p = policy();
        let labels = labels_from([("team", "db"), ("severity", "page"), ("alertname", "A")]);
        let routes = p.route(&labels);
        assert_eq!(routes.len(), 2);
        let pager = &routes[0];
        assert_eq!(pager.path, "route.routes[0].routes[0]");
        assert_eq!(
            pager.timing,
            RouteTiming {
                group_wait: Duration::from_secs(45),        // from the root
                group_interval: Duration::from_secs(600),   // from route.routes[0]
                repeat_interval: Duration::from_secs(3600), // its own
            }
        );
        assert_eq!(
            pager.group_by,
            GroupBy::Labels(["alertname".to_owned(), "cluster".to_owned()].into())
        );
        assert_eq!(pager.route_key, r#"{}/{team="db"}/{severity="page"}"#);
        assert_eq!(
            pager.group_key(&labels),
            r#"{}/{team="db"}/{severity="page"}:{alertname="A"}"#
        );
        let critical = &routes[1];
        assert_eq!(critical.group_by, GroupBy::All);
        assert_eq!(
            critical.timing.repeat_interval,
            Duration::from_secs(4 * 3600)
        );
        // Time intervals are not inherited.
        let mutable = p.route(&labels_from([("team", "db")]));
        assert_eq!(mutable[0].mute_time_intervals, ["weekend"]);
        assert!(p.root().routes()[0].mute_time_intervals().is_empty());
        // Root defaults.
        let root = p.route(&labels_from([("x", "y")]));
        assert_eq!(root[0].timing.group_interval, Duration::from_secs(300));
        assert_eq!(root[0].route_key, "{}");
    }

    #[test]
    fn group_by_wildcard_is_inherited_and_replaced() {
        let p = NotifyPolicy::from_yaml(
            r#"
route:
  receiver: r
  group_by: ['...']
  routes:
    - matchers: [a=1]
      routes:
        - matchers: [b=1]
          group_by: [b]
        - matchers: [c=1]
          group_by: []
receivers: [{name: r}]
"#,
        )
        .unwrap();
        let r = p.route(&labels_from([("a", "1"), ("b", "1")]));
        assert_eq!(r[0].group_by, GroupBy::Labels(["b".to_owned()].into()));
        let r = p.route(&labels_from([("a", "1"), ("c", "1")]));
        assert_eq!(r[0].group_by, GroupBy::All, "an empty list inherits");
        let r = p.route(&labels_from([("a", "1")]));
        assert_eq!(r[0].group_by, GroupBy::All);
    }

    #[test]
    fn muting_by_time_intervals() {
        use chrono::TimeZone;
        let p = policy();
        let r = &p.route(&labels_from([("team", "db")]))[0];
        // 2024-06-01 is a Saturday.
        assert!(p.is_muted(r, Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).unwrap()));
        assert!(!p.is_muted(r, Utc.with_ymd_and_hms(2024, 6, 3, 12, 0, 0).unwrap()));
        let f = &p.route(&labels_from([("service", "web")]))[0];
        assert_eq!(f.receiver, "frontend");
        // Active only Monday–Friday 09:00–17:00 UTC: Monday 2024-06-03 10:00 active,
        // 18:00 and Saturday muted.
        assert!(!p.is_muted(f, Utc.with_ymd_and_hms(2024, 6, 3, 10, 0, 0).unwrap()));
        assert!(p.is_muted(f, Utc.with_ymd_and_hms(2024, 6, 3, 18, 0, 0).unwrap()));
        assert!(p.is_muted(f, Utc.with_ymd_and_hms(2024, 6, 1, 10, 0, 0).unwrap()));
    }

    #[test]
    fn receivers_keep_integrations() {
        let p = policy();
        let db = p.receiver("db").unwrap();
        assert!(db.integrations.contains_key("webhook_configs"));
        assert_eq!(p.receivers().len(), 6);
    }

    fn err(yaml: &str) -> NotifyError {
        NotifyPolicy::from_yaml(yaml).unwrap_err()
    }

    #[test]
    fn validation_errors_name_the_path() {
        let e = err("route:\n  receiver: a\n  routes:\n    - receiver: a\n    - receiver: a\n      routes:\n        - receiver: nope\nreceivers: [{name: a}]\n");
        assert_eq!(
            e,
            NotifyError::UnknownReceiver {
                path: "route.routes[1].routes[0].receiver".into(),
                receiver: "nope".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "route.routes[1].routes[0].receiver: undefined receiver \"nope\" used in route"
        );

        let cases: &[(&str, &str)] = &[
            ("route: {receiver: a}\nreceivers: []\n", "route.receiver"),
            ("route: {routes: []}\nreceivers: [{name: a}]\n", "route.receiver"),
            ("route: {receiver: a, matchers: [x=1]}\nreceivers: [{name: a}]\n", "route.matchers"),
            ("route: {receiver: a, match: {x: '1'}}\nreceivers: [{name: a}]\n", "route.match"),
            ("route: {receiver: a, continue: true}\nreceivers: [{name: a}]\n", "route.continue"),
            ("route: {receiver: a, mute_time_intervals: [t]}\nreceivers: [{name: a}]\ntime_intervals: [{name: t}]\n", "route.mute_time_intervals"),
            ("route: {receiver: a}\nreceivers: [{name: a}, {name: b}, {name: a}]\n", "receivers[2].name"),
            ("route: {receiver: a, routes: [{active_time_intervals: [t, u]}]}\nreceivers: [{name: a}]\ntime_intervals: [{name: t}]\n", "route.routes[0].active_time_intervals[1]"),
            ("route: {receiver: a}\nreceivers: [{name: a}]\ntime_intervals: [{name: t}]\nmute_time_intervals: [{name: t}]\n", "time_intervals[0].name"),
            ("route: {receiver: a, routes: [{matchers: ['x=~\"(\"']}]}\nreceivers: [{name: a}]\n", "route.routes[0].matchers[0]"),
            ("route: {receiver: a, routes: [{matchers: ['x=\"1']}]}\nreceivers: [{name: a}]\n", "route.routes[0].matchers[0]"),
            ("route: {receiver: a, routes: [{match_re: {x: '['}}]}\nreceivers: [{name: a}]\n", "route.routes[0].match_re.x"),
            ("route: {receiver: a, routes: [{match: {'1x': y}}]}\nreceivers: [{name: a}]\n", "route.routes[0].match.1x"),
            ("route: {receiver: a, routes: [{group_interval: 0s}]}\nreceivers: [{name: a}]\n", "route.routes[0].group_interval"),
            ("route: {receiver: a, routes: [{repeat_interval: 1.5h}]}\nreceivers: [{name: a}]\n", "route.routes[0].repeat_interval"),
            ("route: {receiver: a, group_by: ['...', b]}\nreceivers: [{name: a}]\n", "route.group_by"),
            ("route: {receiver: a, group_by: [b, b]}\nreceivers: [{name: a}]\n", "route.group_by[1]"),
            ("route: {receiver: a}\nreceivers: [{name: a}]\ninhibit_rules: [{equal: [ok, 'not-ok']}]\n", "inhibit_rules[0].equal[1]"),
            ("route: {receiver: a}\nreceivers: [{name: a}]\ninhibit_rules: [{source_matchers: ['a=~\"(\"']}]\n", "inhibit_rules[0].source_matchers[0]"),
            ("route: {receiver: a}\nreceivers: [{name: a}]\ntime_intervals: [{name: t, time_intervals: [{days_of_month: ['0']}]}]\n", "time_intervals[0].time_intervals[0].days_of_month[0]"),
        ];
        for (yaml, path) in cases {
            let e = err(yaml);
            assert_eq!(e.path(), Some(*path), "{yaml}\n→ {e}");
        }
        assert_eq!(err("receivers: [{name: a}]\n"), NotifyError::NoRoute);
        assert_eq!(err(""), NotifyError::NoRoute);
    }

    #[test]
    fn shape_errors_are_yaml_errors() {
        for yaml in [
            "route: {receiver: a, recevier: b}\nreceivers: [{name: a}]\n",
            "route: {receiver: a}\nreceivers: [{webhook_configs: []}]\n",
            "route: {receiver: a}\nreceivers: [{name: a, url: x}]\n",
            "route: {receiver: a}\nreceivers: [{name: a}]\nsilences: []\n",
            "route: [1, 2]\n",
            "route: {receiver: a\n",
        ] {
            assert!(matches!(err(yaml), NotifyError::Yaml { .. }), "{yaml}");
        }
        let e = err("route:\n  receiver: a\n  bogus: 1\nreceivers: [{name: a}]\n");
        match e {
            NotifyError::Yaml { line, message, .. } => {
                assert_eq!(line, Some(3));
                assert!(message.contains("bogus"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lenient_scalars_and_nulls_like_go() {
        let p = NotifyPolicy::from_yaml(
            "route:\n  receiver: a\n  routes:\n    - match: {code: 500}\n      receiver: b\n      routes:\nreceivers: [{name: a}, {name: b}]\ninhibit_rules:\n",
        )
        .unwrap();
        assert_eq!(p.receivers_for(&labels_from([("code", "500")])), ["b"]);
    }

    #[test]
    fn legacy_and_new_inhibit_matchers() {
        let p = NotifyPolicy::from_yaml(
            r#"
route: {receiver: a}
receivers: [{name: a}]
inhibit_rules:
  - source_match: {severity: critical}
    target_match_re: {severity: "warn.*"}
    equal: [cluster]
  - name: node-down
    source_matchers: [alertname=NodeDown]
    target_matchers: ['alertname!=NodeDown']
    equal: [instance]
"#,
        )
        .unwrap();
        let crit = Alert::firing([("severity", "critical"), ("cluster", "c")]);
        assert!(p.is_inhibited(
            &labels_from([("severity", "warning"), ("cluster", "c")]),
            std::slice::from_ref(&crit)
        ));
        assert!(!p.is_inhibited(
            &labels_from([("severity", "info"), ("cluster", "c")]),
            std::slice::from_ref(&crit)
        ));
        let down = Alert::firing([("alertname", "NodeDown"), ("instance", "n1")]);
        assert!(p.is_inhibited(
            &labels_from([("alertname", "DiskFull"), ("instance", "n1")]),
            std::slice::from_ref(&down)
        ));
        assert!(!p.is_inhibited(&down.labels, std::slice::from_ref(&down)));
        assert_eq!(p.inhibit_rules()[1].name(), Some("node-down"));
    }

    #[test]
    fn perl_digit_class_is_ascii_as_amtool_says() {
        // Checked by hand with amtool 0.25 on this config: `a=١٢` (Arabic-Indic digits)
        // routes to `d`, `a=12` to `digits`.
        let p = NotifyPolicy::from_yaml(
            "route:\n  receiver: d\n  routes:\n    - matchers: ['a=~\"\\\\d+\"']\n      receiver: digits\nreceivers: [{name: d}, {name: digits}]\n",
        )
        .unwrap();
        assert_eq!(p.receivers_for(&labels_from([("a", "١٢")])), ["d"]);
        assert_eq!(p.receivers_for(&labels_from([("a", "12")])), ["digits"]);
    }

    /// The routing walk as written before label slots and check ordering, as the reference:
    /// every node's matchers evaluated in their sorted order with `Matchers::matches`.
    fn plain_walk<'a>(r: &'a Route, labels: &LabelSet, out: &mut Vec<&'a Route>) -> bool {
        if !r.matchers().matches(labels) {
            return false;
        }
        let before = out.len();
        for child in r.routes() {
            if plain_walk(child, labels, out) && !child.continue_matching() {
                break;
            }
        }
        if out.len() == before {
            out.push(r);
        }
        true
    }

    #[test]
    fn many_label_names_and_labels_route_as_the_plain_walk() {
        // 40 label names (more than the lookup remembers) and alerts with up to 12 labels
        // (more than `label_value` scans).
        let mut yaml = String::from("route:\n  receiver: r\n  routes:\n");
        for i in 0..40 {
            yaml += &format!(
                "    - matchers: ['l{i}=~\"x|y\"', 'l{}!=\"z\"', 'l{}=\"x\"']\n      continue: {}\n",
                (i + 1) % 40,
                (i + 7) % 40,
                i % 2 == 0
            );
        }
        yaml += "receivers: [{name: r}]\n";
        let p = NotifyPolicy::from_yaml(&yaml).unwrap();
        for n in [0usize, 3, 8, 9, 12] {
            for start in [0usize, 5, 33] {
                let labels = labels_from((0..n).map(|k| {
                    let i = (start + k * 7) % 40;
                    (format!("l{i}"), if k % 3 == 2 { "y" } else { "x" })
                }));
                let fast: Vec<&str> = p.root().matches(&labels).iter().map(|r| r.path()).collect();
                let mut plain = Vec::new();
                plain_walk(p.root(), &labels, &mut plain);
                let plain: Vec<&str> = plain.iter().map(|r| r.path()).collect();
                assert_eq!(fast, plain, "{labels:?}");
            }
        }
        assert_eq!(p, NotifyPolicy::from_yaml(&yaml).unwrap());
    }

    mod props {
        use super::*;
        use crate::config::{ReceiverConfig, RouteConfig};
        use proptest::prelude::*;

        const LABELS: [&str; 3] = ["team", "sev", "env"];
        const VALUES: [&str; 3] = ["a", "b", "c"];

        fn matcher_text() -> impl Strategy<Value = String> {
            (0..LABELS.len(), 0..4usize, 0..VALUES.len()).prop_map(|(l, op, v)| {
                let op = ["=", "!=", "=~", "!~"][op];
                let value = if op.ends_with('~') {
                    format!("{}|{}", VALUES[v], VALUES[(v + 1) % VALUES.len()])
                } else {
                    VALUES[v].to_owned()
                };
                format!("{}{}\"{}\"", LABELS[l], op, value)
            })
        }

        fn route_tree(depth: u32) -> BoxedStrategy<RouteConfig> {
            let leaf = (
                proptest::collection::vec(matcher_text(), 0..3),
                any::<bool>(),
                proptest::option::of(0..3usize),
            )
                .prop_map(|(matchers, cont, recv)| RouteConfig {
                    matchers,
                    continue_matching: cont,
                    receiver: recv.map(|i| format!("r{i}")),
                    ..Default::default()
                });
            if depth == 0 {
                return leaf.boxed();
            }
            (leaf, proptest::collection::vec(route_tree(depth - 1), 0..3))
                .prop_map(|(mut node, children)| {
                    node.routes = children;
                    node
                })
                .boxed()
        }

        fn config() -> impl Strategy<Value = AlertmanagerConfig> {
            proptest::collection::vec(route_tree(2), 0..4).prop_map(|routes| AlertmanagerConfig {
                route: Some(RouteConfig {
                    receiver: Some("root".into()),
                    routes,
                    ..Default::default()
                }),
                receivers: ["root", "r0", "r1", "r2"]
                    .iter()
                    .map(|n| ReceiverConfig {
                        name: (*n).to_owned(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
        }

        fn label_set() -> impl Strategy<Value = LabelSet> {
            proptest::collection::btree_map(
                prop::sample::select(LABELS.to_vec()).prop_map(str::to_owned),
                prop::sample::select(VALUES.to_vec()).prop_map(str::to_owned),
                0..4,
            )
        }

        proptest! {
            #[test]
            fn routing_agrees_with_the_plain_walk(cfg in config(), labels in label_set()) {
                let p = NotifyPolicy::try_from(cfg).unwrap();
                let fast: Vec<&str> = p.root().matches(&labels).iter().map(|r| r.path()).collect();
                let mut plain = Vec::new();
                super::plain_walk(p.root(), &labels, &mut plain);
                let plain: Vec<&str> = plain.iter().map(|r| r.path()).collect();
                prop_assert_eq!(fast, plain);
            }

            #[test]
            fn routing_survives_a_config_round_trip(cfg in config(), labels in label_set()) {
                let direct = NotifyPolicy::try_from(cfg.clone()).unwrap();
                let yaml = cfg.to_yaml().unwrap();
                let reparsed_cfg = AlertmanagerConfig::from_yaml(&yaml).unwrap();
                prop_assert_eq!(&reparsed_cfg, &cfg);
                let reparsed = NotifyPolicy::from_yaml(&yaml).unwrap();
                prop_assert_eq!(direct.route(&labels), reparsed.route(&labels));
            }

            #[test]
            fn routing_is_deterministic_and_never_empty(cfg in config(), labels in label_set()) {
                let p = NotifyPolicy::try_from(cfg).unwrap();
                let first = p.route(&labels);
                prop_assert!(!first.is_empty());
                prop_assert_eq!(&first, &p.route(&labels));
                // Every matched route is one whose own matchers and ancestors' matchers hold.
                for m in &first {
                    prop_assert!(["root", "r0", "r1", "r2"].contains(&m.receiver.as_str()));
                }
            }

            #[test]
            fn parser_never_panics_on_arbitrary_yaml(s in "\\PC{0,200}") {
                let _ = NotifyPolicy::from_yaml(&s);
            }
        }
    }
}
