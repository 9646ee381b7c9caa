//! Inhibit rules, as Alertmanager's `inhibit` package applies them.
//!
//! A rule mutes a *target* alert while some *source* alert fires such that:
//!
//! - the source alert is firing (resolved alerts never inhibit) and matches the source
//!   matchers,
//! - the target alert matches the target matchers,
//! - every label listed in `equal` has the same value on both (a missing label is `""`, so two
//!   alerts both lacking it are equal),
//! - and, when the target alert also matches the source matchers, the source alert does not
//!   also match the target matchers. This keeps an alert that satisfies both sides from
//!   inhibiting itself, and two such alerts from inhibiting each other.

use crate::model::{label_value, Alert, LabelSet};
use crate::policy::matcher::Matchers;

/// One validated inhibit rule.
#[derive(Debug, Clone, PartialEq)]
pub struct InhibitRule {
    pub(crate) name: Option<String>,
    pub(crate) source: Matchers,
    pub(crate) target: Matchers,
    pub(crate) equal: Vec<String>,
}

impl InhibitRule {
    /// A rule from its parts (`equal` is de-duplicated and sorted).
    pub fn new(source: Matchers, target: Matchers, mut equal: Vec<String>) -> Self {
        equal.sort();
        equal.dedup();
        InhibitRule {
            name: None,
            source,
            target,
            equal,
        }
    }

    /// The optional `name` of the rule.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Matchers a source alert must satisfy.
    pub fn source_matchers(&self) -> &Matchers {
        &self.source
    }

    /// Matchers a muted (target) alert must satisfy.
    pub fn target_matchers(&self) -> &Matchers {
        &self.target
    }

    /// Labels that must be equal on source and target.
    pub fn equal(&self) -> &[String] {
        &self.equal
    }

    /// Whether this rule mutes `target` given the current `alerts` (firing and resolved; only
    /// firing ones count).
    pub fn inhibits(&self, target: &LabelSet, alerts: &[Alert]) -> bool {
        if !self.target.matches(target) {
            return false;
        }
        let exclude_two_sided = self.source.matches(target);
        alerts.iter().any(|source| {
            source.is_firing()
                && self.source.matches(&source.labels)
                && self
                    .equal
                    .iter()
                    .all(|n| label_value(&source.labels, n) == label_value(target, n))
                && !(exclude_two_sided && self.target.matches(&source.labels))
        })
    }
}

/// Whether any of the rules mutes the alert with labels `target`, given the current `alerts`.
pub fn is_inhibited(rules: &[InhibitRule], target: &LabelSet, alerts: &[Alert]) -> bool {
    rules.iter().any(|r| r.inhibits(target, alerts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::labels_from;
    use crate::policy::matcher::parse_matchers;

    fn rule(source: &str, target: &str, equal: &[&str]) -> InhibitRule {
        InhibitRule::new(
            Matchers::new(parse_matchers(source).unwrap()),
            Matchers::new(parse_matchers(target).unwrap()),
            equal.iter().map(|s| (*s).to_owned()).collect(),
        )
    }

    #[test]
    fn critical_inhibits_warning_of_same_cluster() {
        // The example from Alertmanager's documentation.
        let r = rule(
            "severity=critical",
            "severity=warning",
            &["alertname", "cluster"],
        );
        let crit = Alert::firing([
            ("alertname", "Down"),
            ("cluster", "a"),
            ("severity", "critical"),
        ]);
        let warn = labels_from([
            ("alertname", "Down"),
            ("cluster", "a"),
            ("severity", "warning"),
        ]);
        let warn_b = labels_from([
            ("alertname", "Down"),
            ("cluster", "b"),
            ("severity", "warning"),
        ]);
        assert!(r.inhibits(&warn, std::slice::from_ref(&crit)));
        assert!(
            !r.inhibits(&warn_b, std::slice::from_ref(&crit)),
            "cluster differs"
        );
        assert!(
            !r.inhibits(&crit.labels, std::slice::from_ref(&crit)),
            "not a target"
        );
        assert!(!r.inhibits(&warn, &[]), "no source");
    }

    #[test]
    fn only_firing_sources_inhibit() {
        let r = rule("severity=critical", "severity=warning", &[]);
        let resolved = Alert::resolved([("severity", "critical")]);
        let warn = labels_from([("severity", "warning")]);
        assert!(!r.inhibits(&warn, std::slice::from_ref(&resolved)));
        let firing = Alert::firing([("severity", "critical")]);
        assert!(r.inhibits(&warn, &[resolved, firing]));
    }

    #[test]
    fn missing_equal_labels_are_equal() {
        let r = rule("severity=critical", "severity=warning", &["cluster"]);
        let crit = Alert::firing([("severity", "critical")]);
        assert!(r.inhibits(
            &labels_from([("severity", "warning")]),
            std::slice::from_ref(&crit)
        ));
        assert!(r.inhibits(
            &labels_from([("severity", "warning"), ("cluster", "")]),
            std::slice::from_ref(&crit)
        ));
        assert!(!r.inhibits(
            &labels_from([("severity", "warning"), ("cluster", "x")]),
            &[crit]
        ));
    }

    #[test]
    fn an_alert_matching_both_sides_does_not_inhibit_itself() {
        // Source and target both `team=db`: every db alert is both.
        let r = rule("team=db", "team=db", &["team"]);
        let a = Alert::firing([("team", "db"), ("alertname", "A")]);
        let b = Alert::firing([("team", "db"), ("alertname", "B")]);
        assert!(!r.inhibits(&a.labels, std::slice::from_ref(&a)));
        // Nor each other: B matches both sides too, so it is excluded as a source for A.
        assert!(!r.inhibits(&a.labels, &[a.clone(), b]));
        // A source that matches only the source side still inhibits a two-sided target.
        let r = rule("team=~\"db|infra\"", "team=db", &[]);
        let infra = Alert::firing([("team", "infra")]);
        assert!(r.inhibits(&a.labels, &[a.clone(), infra]));
    }

    #[test]
    fn any_rule_is_enough() {
        let rules = [
            rule("alertname=NodeDown", "severity=info", &[]),
            rule("severity=critical", "severity=warning", &[]),
        ];
        let crit = Alert::firing([("severity", "critical")]);
        assert!(is_inhibited(
            &rules,
            &labels_from([("severity", "warning")]),
            std::slice::from_ref(&crit)
        ));
        assert!(!is_inhibited(
            &rules,
            &labels_from([("severity", "info")]),
            &[crit]
        ));
    }
}
