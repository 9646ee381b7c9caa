//! The routing tree, as Alertmanager's `dispatch/route.go` walks it.
//!
//! Every [`Route`] node has matchers, a receiver and grouping options. An alert enters at the
//! root (which matches everything) and [`Route::matches`] walks the tree depth-first, left to
//! right:
//!
//! 1. A node whose matchers do not all match the alert is skipped with its subtree.
//! 2. Its children are tried in order; the matches of each matching child are collected. A
//!    matching child without `continue: true` stops the search among its later siblings.
//! 3. If no child matched, the node itself is the match.
//!
//! So one alert can reach several receivers (through `continue`), and always reaches at least
//! the root's.
//!
//! Inheritance (child ← parent): `receiver`, `group_by`, `group_wait`, `group_interval` and
//! `repeat_interval` are inherited when absent (root defaults: `30s`, `5m`, `4h`, no grouping
//! labels). `group_by: ['...']` groups by all labels and is inherited the same way; a child
//! listing labels replaces it; an empty `group_by: []` inherits. `mute_time_intervals` and
//! `active_time_intervals` are **not** inherited: each node has exactly the ones it lists.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use crate::model::{label_value, LabelSet};
use crate::policy::matcher::Matchers;

/// The default `group_wait` of the root route.
pub const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(30);
/// The default `group_interval` of the root route.
pub const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// The default `repeat_interval` of the root route.
pub const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 60 * 60);

/// Which labels form an alert's group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// These label names (sorted, unique); labels an alert lacks are left out of its group.
    Labels(BTreeSet<String>),
    /// `group_by: ['...']`: every label of the alert.
    All,
}

impl GroupBy {
    /// The labels of `alert` that form its group under this rule.
    pub fn group_labels(&self, alert: &LabelSet) -> LabelSet {
        match self {
            GroupBy::All => alert.clone(),
            GroupBy::Labels(names) => alert
                .iter()
                .filter(|(k, _)| names.contains(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

/// The notification timers of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteTiming {
    /// How long to wait before the first notification of a new group.
    pub group_wait: Duration,
    /// How long to wait before notifying about alerts added to a group already notified.
    pub group_interval: Duration,
    /// How long to wait before repeating a notification that has not changed.
    pub repeat_interval: Duration,
}

impl Default for RouteTiming {
    fn default() -> Self {
        RouteTiming {
            group_wait: DEFAULT_GROUP_WAIT,
            group_interval: DEFAULT_GROUP_INTERVAL,
            repeat_interval: DEFAULT_REPEAT_INTERVAL,
        }
    }
}

/// One validated node of the routing tree, with its inherited options resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub(crate) path: String,
    pub(crate) key: String,
    pub(crate) matchers: Matchers,
    pub(crate) continue_matching: bool,
    pub(crate) receiver: String,
    pub(crate) group_by: GroupBy,
    pub(crate) timing: RouteTiming,
    pub(crate) mute_time_intervals: Vec<String>,
    pub(crate) active_time_intervals: Vec<String>,
    pub(crate) routes: Vec<Route>,
    /// The order in which [`Route::matches`] evaluates the node's matchers, cheapest first,
    /// each with its label's slot in the per-decision lookup table (see [`LabelSlots`]).
    pub(crate) checks: Checks,
}

/// The matchers of a route in evaluation order (see [`LabelSlots::checks`]). Derived from the
/// matchers and the tree, so it takes no part in comparing routes: two routes are equal when
/// their configuration is, whatever slots their trees gave their labels.
#[derive(Debug, Clone, Default)]
pub(crate) struct Checks(Vec<Check>);

impl PartialEq for Checks {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// One matcher of a route as routing evaluates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Check {
    /// The index into the route's (sorted) matchers.
    matcher: usize,
    /// The label's slot in [`LabelLookup`]; `>= LOOKUP_SLOTS` means "look it up each time".
    slot: usize,
}

/// How many distinct label names of a tree have their value remembered during one routing
/// decision. Names beyond these are looked up in the label set each time they are needed.
const LOOKUP_SLOTS: usize = 32;

/// Numbers the label names a routing tree's matchers use, so that one routing decision looks
/// each of them up in the alert's labels at most once (a tree names a few labels, such as
/// `team` or `severity`, in many routes).
#[derive(Debug, Default)]
pub(crate) struct LabelSlots(std::collections::BTreeMap<String, usize>);

impl LabelSlots {
    /// The checks of a route with these matchers: cheapest first, each with its label's slot.
    pub(crate) fn checks(&mut self, matchers: &Matchers) -> Checks {
        let mut checks: Vec<(u8, Check)> = matchers
            .as_slice()
            .iter()
            .enumerate()
            .map(|(matcher, m)| {
                let next = self.0.len();
                let slot = *self.0.entry(m.name().to_owned()).or_insert(next);
                (m.cost(), Check { matcher, slot })
            })
            .collect();
        // Stable: equal costs keep Alertmanager's order.
        checks.sort_by_key(|&(cost, _)| cost);
        Checks(checks.into_iter().map(|(_, c)| c).collect())
    }
}

/// The label values of one alert, each looked up at most once per routing decision.
struct LabelLookup<'l> {
    labels: &'l LabelSet,
    values: [Option<&'l str>; LOOKUP_SLOTS],
}

impl<'l> LabelLookup<'l> {
    fn new(labels: &'l LabelSet) -> Self {
        LabelLookup {
            labels,
            values: [None; LOOKUP_SLOTS],
        }
    }

    /// The value of label `name` (slot `slot`), `""` if missing.
    fn value(&mut self, slot: usize, name: &str) -> &'l str {
        match self.values.get_mut(slot) {
            Some(Some(v)) => v,
            Some(cell) => cell.insert(label_value(self.labels, name)),
            None => label_value(self.labels, name),
        }
    }
}

/// A route an alert matched: where it goes and how it is grouped and timed.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchedRoute {
    /// The receiver's name.
    pub receiver: String,
    /// Where the route is in the configuration, e.g. `route.routes[1].routes[0]`.
    pub path: String,
    /// Alertmanager's route key: the matchers of the route and its ancestors, e.g.
    /// `{}/{team="db"}/{severity="page"}`. Not unique in general (two siblings may have the
    /// same matchers); [`path`](Self::path) is.
    pub route_key: String,
    /// Which labels form the alert's group.
    pub group_by: GroupBy,
    /// The route's timers.
    pub timing: RouteTiming,
    /// Names of the intervals in which this route sends nothing.
    pub mute_time_intervals: Vec<String>,
    /// Names of the only intervals in which this route sends (empty: always).
    pub active_time_intervals: Vec<String>,
}

impl MatchedRoute {
    /// The labels of `alert` that form its group on this route.
    pub fn group_labels(&self, alert: &LabelSet) -> LabelSet {
        self.group_by.group_labels(alert)
    }

    /// The group key of `alert` on this route, as Alertmanager builds it:
    /// `route_key:{label="value", …}` with the group labels sorted by name and the values
    /// quoted like Go's `%q`.
    pub fn group_key(&self, alert: &LabelSet) -> String {
        let mut key = format!("{}:{{", self.route_key);
        for (i, (k, v)) in self.group_labels(alert).iter().enumerate() {
            if i > 0 {
                key.push_str(", ");
            }
            key.push_str(k);
            key.push('=');
            go_quote_into(&mut key, v);
        }
        key.push('}');
        key
    }
}

impl Route {
    /// Where the node is in the configuration (`route`, `route.routes[2]`, …).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Alertmanager's route key of the node (see [`MatchedRoute::route_key`]).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The node's own matchers (sorted).
    pub fn matchers(&self) -> &Matchers {
        &self.matchers
    }

    /// Whether later siblings are tried after this node matched.
    pub fn continue_matching(&self) -> bool {
        self.continue_matching
    }

    /// The receiver, inherited if the node names none.
    pub fn receiver(&self) -> &str {
        &self.receiver
    }

    /// The grouping rule, inherited if the node has none.
    pub fn group_by(&self) -> &GroupBy {
        &self.group_by
    }

    /// The timers, each inherited if the node does not set it.
    pub fn timing(&self) -> RouteTiming {
        self.timing
    }

    /// The node's own `mute_time_intervals` (never inherited).
    pub fn mute_time_intervals(&self) -> &[String] {
        &self.mute_time_intervals
    }

    /// The node's own `active_time_intervals` (never inherited).
    pub fn active_time_intervals(&self) -> &[String] {
        &self.active_time_intervals
    }

    /// The child routes, in order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The nodes the alert's labels match, in Alertmanager's depth-first order; empty only if
    /// this node's own matchers fail (never for a root).
    pub fn matches(&self, labels: &LabelSet) -> Vec<&Route> {
        // Most alerts match one or two routes: one allocation, no regrowth.
        let mut out = Vec::with_capacity(4);
        self.for_each_match(labels, |r| out.push(r));
        out
    }

    /// Calls `visit` with each node the alert's labels match, in the order
    /// [`matches`](Self::matches) returns them, without collecting them.
    pub fn for_each_match<'a, F: FnMut(&'a Route)>(&'a self, labels: &LabelSet, mut visit: F) {
        self.visit_matches(&mut LabelLookup::new(labels), &mut visit);
    }

    /// Whether this node's matchers hold; if so, its matches (at least one: the node itself
    /// when no child matches) have been visited.
    fn visit_matches<'a, F: FnMut(&'a Route)>(
        &'a self,
        lookup: &mut LabelLookup<'_>,
        visit: &mut F,
    ) -> bool {
        if !self.own_matchers_hold(lookup) {
            return false;
        }
        let mut child_matched = false;
        for child in &self.routes {
            if child.visit_matches(lookup, visit) {
                child_matched = true;
                if !child.continue_matching {
                    break;
                }
            }
        }
        if !child_matched {
            visit(self);
        }
        true
    }

    fn own_matchers_hold(&self, lookup: &mut LabelLookup<'_>) -> bool {
        let matchers = self.matchers.as_slice();
        let checks = &self.checks.0;
        if checks.len() != matchers.len() {
            // Not built by `LabelSlots::checks`: evaluate the matchers as they are.
            return self.matchers.matches(lookup.labels);
        }
        checks.iter().all(|c| {
            matchers
                .get(c.matcher)
                .is_some_and(|m| m.matches_value(lookup.value(c.slot, m.name())))
        })
    }

    /// This node as a [`MatchedRoute`].
    pub fn to_matched(&self) -> MatchedRoute {
        MatchedRoute {
            receiver: self.receiver.clone(),
            path: self.path.clone(),
            route_key: self.key.clone(),
            group_by: self.group_by.clone(),
            timing: self.timing,
            mute_time_intervals: self.mute_time_intervals.clone(),
            active_time_intervals: self.active_time_intervals.clone(),
        }
    }

    /// Visits the node and its descendants depth-first, parents before children.
    pub fn walk<'a>(&'a self, visit: &mut dyn FnMut(&'a Route)) {
        visit(self);
        for child in &self.routes {
            child.walk(visit);
        }
    }
}

/// Go's `strconv.Quote` for the characters label values hold in practice: `\`, `"` and
/// control characters are escaped, everything printable is kept.
fn go_quote_into(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0C' => out.push_str("\\f"),
            '\x0B' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Parses a Prometheus duration (`1y2w3d4h5m6s7ms`, units in that order, each at most once;
/// `0` alone is zero). A year is 365 days, a week 7 days.
pub(crate) fn parse_prometheus_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    if s.is_empty() {
        return None;
    }
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3600 * 1000),
        ("w", 7 * 24 * 3600 * 1000),
        ("d", 24 * 3600 * 1000),
        ("h", 3600 * 1000),
        ("m", 60 * 1000),
        ("s", 1000),
        ("ms", 1),
    ];
    let mut rest = s;
    let mut next_unit = 0usize;
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        // "ms" must be tried before "m".
        let unit_len = if rest.starts_with("ms") { 2 } else { 1 };
        let unit = rest.get(..unit_len)?;
        let idx = UNITS.iter().position(|(u, _)| *u == unit)?;
        if idx < next_unit {
            return None;
        }
        next_unit = idx + 1;
        total_ms = total_ms.checked_add(n.checked_mul(UNITS[idx].1)?)?;
        rest = &rest[unit_len..];
    }
    // Go's time.Duration is int64 nanoseconds.
    if total_ms > (i64::MAX as u64) / 1_000_000 {
        return None;
    }
    Some(Duration::from_millis(total_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::labels_from;

    #[test]
    fn prometheus_durations() {
        assert_eq!(
            parse_prometheus_duration("30s"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_prometheus_duration("1h30m"),
            Some(Duration::from_secs(5400))
        );
        assert_eq!(
            parse_prometheus_duration("1d"),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(
            parse_prometheus_duration("1w"),
            Some(Duration::from_secs(7 * 86_400))
        );
        assert_eq!(
            parse_prometheus_duration("1y"),
            Some(Duration::from_secs(365 * 86_400))
        );
        assert_eq!(
            parse_prometheus_duration("1m500ms"),
            Some(Duration::from_millis(60_500))
        );
        assert_eq!(parse_prometheus_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_prometheus_duration("0s"), Some(Duration::ZERO));
        for bad in [
            "", "1", "1.5h", "30m1h", "1h1h", "-1s", "1 h", "h", "1x", "1s1m",
        ] {
            assert_eq!(parse_prometheus_duration(bad), None, "{bad}");
        }
        assert_eq!(parse_prometheus_duration("99999999999999999999y"), None);
    }

    #[test]
    fn group_key_quotes_like_go() {
        let m = MatchedRoute {
            receiver: "r".into(),
            path: "route".into(),
            route_key: "{}".into(),
            group_by: GroupBy::Labels(["a".to_owned(), "c".to_owned()].into()),
            timing: RouteTiming::default(),
            mute_time_intervals: vec![],
            active_time_intervals: vec![],
        };
        let l = labels_from([("a", "x\"y"), ("b", "ignored"), ("c", "tab\there")]);
        assert_eq!(m.group_key(&l), r#"{}:{a="x\"y", c="tab\there"}"#);
        assert_eq!(GroupBy::All.group_labels(&l), l, "'...' keeps every label");
    }
}
