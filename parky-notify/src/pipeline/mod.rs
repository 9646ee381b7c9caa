//! The notification pipeline: a pure, clock-driven state machine from alerts to [`Message`]s.
//!
//! Feed it alerts with [`Pipeline::receive`] and advance it with [`Pipeline::tick`]; each tick
//! returns the messages due by then, ready for the outbox. It does no I/O and reads no clock:
//! every instant is an argument ([`Pipeline::tick_clock`] reads a [`Clock`] for you), so the
//! same alerts and ticks always give the same messages. [`Pipeline::next_wakeup`] tells when
//! something is due next.
//!
//! Internally, every scheduled event (a group's flush, an escalation, the end of a hold, a
//! digest, a rate-limit token) is processed *at its own instant*, in time order, even if the
//! tick comes later; so the result does not depend on how often you tick, only on the instants
//! of `receive` calls. Messages keep their order per `dedup_key`.
//!
//! [`Pipeline::snapshot`] gives the whole state as plain serde data ([`PipelineSnapshot`]),
//! and [`Pipeline::restore`] puts it back into a pipeline of the same (or a changed)
//! configuration; the restored pipeline behaves exactly as the original would have. The
//! [`Service`](crate::server::Service) of `parky notify serve` stores it in the outbox file
//! with every change, so a restart loses nothing.
//!
//! # Stages
//!
//! 1. **Alerts** ([`TimedAlert`]): an alert is resolved from `ends_at` on; one without
//!    `ends_at` ends `resolve_timeout` (default 5 minutes, like Alertmanager) after it was
//!    received. The same labels received again update the alert (the earliest `starts_at` is
//!    kept while the reports overlap; the latest report decides the end).
//! 2. **Routing and grouping**: each alert joins one aggregation group per matched route
//!    ([`NotifyPolicy::route`]), keyed by the route and its `group_by` labels
//!    ([`MatchedRoute::group_key`]). A new group is flushed `group_wait` after it was created
//!    (at once if the alert started more than `group_wait` ago and the group has not flushed
//!    yet), then every `group_interval`.
//! 3. At each flush, as Alertmanager's notify pipeline:
//!    - **inhibition**: alerts muted by an inhibit rule of the policy, with the currently
//!      firing alerts as sources, are left out;
//!    - **silences**: alerts matched by an active [`Silence`] are left out;
//!    - **time intervals**: if the route is muted now ([`NotifyPolicy::is_muted`]) nothing is
//!      sent and nothing is recorded, so the next flush after the interval sends. (Unlike
//!      Alertmanager, resolved alerts are kept through a muted flush, so their resolution is
//!      still reported afterwards.) Resolved alerts leave the group after any other flush.
//! 4. **Receivers**: the route's receiver, then the receivers of the group's severity in the
//!    [`SeverityStrategy`], then any receiver already notified of firing alerts of this group
//!    (so it also hears about their resolution after a severity change).
//! 5. **Dedup**, per group and receiver, with Alertmanager's rules over the last notification
//!    (its firing and resolved alert sets). Send when:
//!    - nothing was notified before and some alert fires;
//!    - some firing alert was not in the last notification;
//!    - no alert fires any more and the last notification had firing alerts (resolved once;
//!      recorded even when the receiver does not `send_resolved`, but then not sent);
//!    - the group's severity is more urgent than at the last notification (escalation);
//!    - the receiver has `send_resolved` and some resolved alert was not in the last
//!      notification;
//!    - otherwise, only when strictly more than the `repeat_interval` (the severity's, else
//!      the route's) has passed since the last notification, and no earlier message of the
//!      same `dedup_key` is still held, collected or queued. The interval counts from when
//!      the last message actually went out (released from a hold or a rate limit, or
//!      released in a digest), not from when it was created.
//!
//!    A receiver without `send_resolved` gets only the firing alerts. `send_resolved` comes
//!    from the strategy's `receivers` section, else from the receiver's Alertmanager
//!    integrations (`send_resolved` of any `*_configs` entry, with Alertmanager's defaults:
//!    `false` for `email_configs`, `slack_configs` and `wechat_configs`, `true` for the
//!    others), else `false`.
//! 6. **Severity strategy**: the group's severity is the most urgent effective severity of
//!    its firing alerts (of its resolved ones when none fires), after escalation
//!    ([`SeverityStrategy::effective_severity`]); an escalation instant of a firing alert of a
//!    group that has flushed triggers an extra flush right then. Firing messages get the
//!    severity's mentions. Quiet hours hold a message until [`QuietHours::release_at`];
//!    a digest collects the messages per receiver and releases one digest message
//!    (`dedup_key` `digest|P3|<receiver>`) at [`Digest::next_at_or_after`] the first one.
//!    When a message of a `dedup_key` goes out, older held messages of the same key go
//!    first, so a key's messages always leave in creation order.
//! 7. **Rate limit** per receiver ([`RateLimit`]): a message without a token waits (in
//!    order) until one is available; nothing is dropped.
//!
//! Messages: `dedup_key` is `<group key>|<receiver>`; `sequence` starts at 1 and increases
//! with every message of the same key. The summary lists each alert as
//! `- [firing] {labels}` or `- [resolved] {labels}` ([`format_labels`]), followed by its
//! `summary` annotation when it has one.
//!
//! [`QuietHours::release_at`]: crate::policy::strategy::QuietHours::release_at
//! [`Digest::next_at_or_after`]: crate::policy::strategy::Digest::next_at_or_after
//! [`RateLimit`]: crate::policy::strategy::RateLimit

mod alert;
mod silence;
mod snapshot;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use parky_core::Clock;
use serde_yaml_ng::Value;

pub use self::alert::{format_labels, TimedAlert};
pub use self::silence::Silence;
pub use self::snapshot::{PipelineSnapshot, SNAPSHOT_VERSION};

use crate::error::NotifyError;
use crate::message::{Field, Message, MessageStatus};
use crate::model::{label_value, Alert, LabelSet};
use crate::policy::route::MatchedRoute;
use crate::policy::strategy::{add, Delivery, SeverityStrategy};
use crate::policy::NotifyPolicy;
use crate::severity::Severity;

/// Alertmanager's default `resolve_timeout`.
pub const DEFAULT_RESOLVE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The source of messages the pipeline makes itself (digests) or of alerts without one.
pub const PIPELINE_SOURCE: &str = "parky-notify";

/// The pipeline's state: alerts, groups, the notification log and the messages on their way.
/// See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Pipeline {
    policy: NotifyPolicy,
    strategy: SeverityStrategy,
    resolve_timeout: Duration,
    silences: Vec<Silence>,
    now: Option<DateTime<Utc>>,
    store: BTreeMap<LabelSet, Tracked>,
    groups: BTreeMap<(String, String), Group>,
    /// The notification log, by group key and receiver.
    log: BTreeMap<(String, String), LogEntry>,
    sequences: BTreeMap<String, u64>,
    order: u64,
    held: Vec<Held>,
    digests: BTreeMap<(Severity, String), DigestBucket>,
    queues: BTreeMap<String, RateQueue>,
    outgoing: Vec<Message>,
    /// Counts the changes of state (see [`Pipeline::revision`]).
    revision: u64,
}

#[derive(Debug, Clone)]
struct Tracked {
    /// `ends_at` is always set.
    alert: TimedAlert,
    received_at: DateTime<Utc>,
    base: Severity,
}

#[derive(Debug, Clone)]
struct Group {
    route: MatchedRoute,
    key: String,
    labels: LabelSet,
    alerts: BTreeMap<LabelSet, Tracked>,
    next_flush: Option<DateTime<Utc>>,
    has_flushed: bool,
    /// Escalations at or before this instant have been handled.
    seen: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct LogEntry {
    firing: BTreeSet<LabelSet>,
    resolved: BTreeSet<LabelSet>,
    at: DateTime<Utc>,
    severity: Severity,
}

#[derive(Debug, Clone)]
struct Held {
    release: DateTime<Utc>,
    order: u64,
    message: Message,
}

#[derive(Debug, Clone)]
struct DigestBucket {
    due: DateTime<Utc>,
    messages: Vec<Message>,
}

#[derive(Debug, Clone, Default)]
struct RateQueue {
    /// GCRA's theoretical arrival time of the next message.
    tat: Option<DateTime<Utc>>,
    queue: VecDeque<Message>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    First,
    NewFiring,
    AllResolved,
    Escalated,
    NewResolved,
    Repeat,
}

impl Pipeline {
    /// A pipeline over a routing policy and a severity strategy.
    ///
    /// # Errors
    ///
    /// [`NotifyError::InvalidStrategy`] when the strategy names a receiver the policy does not
    /// define.
    pub fn new(policy: NotifyPolicy, strategy: SeverityStrategy) -> Result<Self, NotifyError> {
        strategy.check_receivers(&policy)?;
        Ok(Pipeline {
            policy,
            strategy,
            resolve_timeout: DEFAULT_RESOLVE_TIMEOUT,
            silences: Vec::new(),
            now: None,
            store: BTreeMap::new(),
            groups: BTreeMap::new(),
            log: BTreeMap::new(),
            sequences: BTreeMap::new(),
            order: 0,
            held: Vec::new(),
            digests: BTreeMap::new(),
            queues: BTreeMap::new(),
            outgoing: Vec::new(),
            revision: 0,
        })
    }

    /// The same pipeline with another `resolve_timeout` for alerts received without
    /// `ends_at`.
    #[must_use]
    pub fn with_resolve_timeout(mut self, timeout: Duration) -> Self {
        self.resolve_timeout = timeout;
        self
    }

    /// The routing policy.
    pub fn policy(&self) -> &NotifyPolicy {
        &self.policy
    }

    /// The severity strategy.
    pub fn strategy(&self) -> &SeverityStrategy {
        &self.strategy
    }

    /// Adds a silence; it applies from the next flush on.
    pub fn add_silence(&mut self, silence: Silence) {
        self.silences.push(silence);
    }

    /// The silences, in the order they were added.
    pub fn silences(&self) -> &[Silence] {
        &self.silences
    }

    /// Whether an active silence mutes these labels at `at`.
    pub fn is_silenced(&self, labels: &LabelSet, at: DateTime<Utc>) -> bool {
        self.silences.iter().any(|s| s.mutes(labels, at))
    }

    /// Whether `receiver` is sent resolved notifications (see the module docs).
    pub fn sends_resolved(&self, receiver: &str) -> bool {
        if let Some(v) = self
            .strategy
            .receiver_settings(receiver)
            .and_then(|s| s.send_resolved)
        {
            return v;
        }
        self.policy.receiver(receiver).is_some_and(|r| {
            r.integrations
                .iter()
                .any(|(kind, v)| integration_sends_resolved(kind, v))
        })
    }

    /// Takes in an alert received at `now` (first processing everything due before `now`).
    /// A `now` earlier than an instant already processed counts as that instant.
    pub fn receive(&mut self, alert: TimedAlert, now: DateTime<Utc>) {
        // Only what is due strictly before `now`: a flush due at `now` waits for the next
        // tick, so that several alerts received at the same instant (one webhook payload)
        // go out together.
        let now = self.advance(now, false);
        let mut alert = alert;
        alert.ends_at = Some(
            alert
                .ends_at
                .unwrap_or_else(|| add(now, self.resolve_timeout)),
        );
        let base = self.strategy.severity_of(&alert.labels);
        let tracked = match self.store.get(&alert.labels) {
            Some(old) if overlaps(&old.alert, &alert) => {
                alert.starts_at = alert.starts_at.min(old.alert.starts_at);
                Tracked {
                    alert,
                    received_at: old.received_at,
                    base,
                }
            }
            _ => Tracked {
                alert,
                received_at: now,
                base,
            },
        };
        self.join_groups(&tracked, now, false);
        self.store.insert(tracked.alert.labels.clone(), tracked);
        self.revision = self.revision.wrapping_add(1);
    }

    /// Puts `tracked` into its aggregation group on every route it matches (creating the
    /// groups it starts). With `rejoin`, groups that already hold the alert are left as
    /// they are.
    fn join_groups(&mut self, tracked: &Tracked, now: DateTime<Utc>, rejoin: bool) {
        let labels = &tracked.alert.labels;
        for route in self.policy.route(labels) {
            let key = route.group_key(labels);
            if rejoin
                && self
                    .groups
                    .get(&(route.path.clone(), key.clone()))
                    .is_some_and(|g| g.alerts.contains_key(labels))
            {
                continue;
            }
            let group_wait = route.timing.group_wait;
            let group = self
                .groups
                .entry((route.path.clone(), key.clone()))
                .or_insert_with(|| Group {
                    labels: route.group_labels(labels),
                    key,
                    next_flush: Some(add(now, group_wait)),
                    has_flushed: false,
                    seen: now,
                    alerts: BTreeMap::new(),
                    route,
                });
            if !group.has_flushed && add(tracked.alert.starts_at, group_wait) < now {
                group.next_flush = Some(now);
            }
            group.alerts.insert(labels.clone(), tracked.clone());
        }
    }

    /// Processes everything due by `now` and returns the messages that became due, in order.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<Message> {
        self.advance_to(now);
        if !self.outgoing.is_empty() {
            self.revision = self.revision.wrapping_add(1);
        }
        std::mem::take(&mut self.outgoing)
    }

    /// A counter that changes whenever the state changes (an alert received, an event
    /// processed, messages taken by [`tick`](Self::tick)), and only then: a pipeline whose
    /// revision did not change since its last [`snapshot`](Self::snapshot) would give an
    /// equal snapshot, apart from the instant it was taken. Wraps around; compare for
    /// equality only.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// [`tick`](Self::tick) at the clock's current time.
    pub fn tick_clock(&mut self, clock: &dyn Clock) -> Vec<Message> {
        self.tick(clock.now())
    }

    /// The next instant something is due (a flush, an escalation, a release, a digest or a
    /// rate-limited message), or `None` when nothing is scheduled.
    pub fn next_wakeup(&self) -> Option<DateTime<Utc>> {
        if !self.outgoing.is_empty() {
            return self.now;
        }
        self.next_event()
    }

    /// Messages created but not yet due: held for quiet hours, collected for a digest, or
    /// waiting for a rate-limit token.
    pub fn pending_messages(&self) -> usize {
        self.held.len()
            + self
                .digests
                .values()
                .map(|b| b.messages.len())
                .sum::<usize>()
            + self.queues.values().map(|q| q.queue.len()).sum::<usize>()
    }

    /// The number of aggregation groups alive.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    // -----------------------------------------------------------------------------------
    // The event loop
    // -----------------------------------------------------------------------------------

    fn advance_to(&mut self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.advance(now, true)
    }

    /// Processes the events due before `now` (and at `now` when `inclusive`), in time order.
    fn advance(&mut self, now: DateTime<Utc>, inclusive: bool) -> DateTime<Utc> {
        let now = self.now.map_or(now, |n| n.max(now));
        let mut last: Option<DateTime<Utc>> = None;
        while let Some(t) = self.next_event() {
            if t > now || (!inclusive && t == now) {
                break;
            }
            let t = self.now.map_or(t, |n| n.max(t));
            if last.is_some_and(|l| t <= l) {
                // Every event at or before `l` was handled in `process(l)`; a repeat would
                // mean no progress, so stop rather than spin.
                break;
            }
            self.process(t);
            last = Some(t);
        }
        self.now = Some(now);
        now
    }

    fn next_event(&self) -> Option<DateTime<Utc>> {
        let mut best: Option<DateTime<Utc>> = None;
        let mut consider = |t: Option<DateTime<Utc>>| {
            if let Some(t) = t {
                if best.is_none_or(|b| t < b) {
                    best = Some(t);
                }
            }
        };
        for g in self.groups.values() {
            consider(g.next_flush);
            if g.has_flushed {
                consider(self.next_escalation(g));
            }
        }
        for h in &self.held {
            consider(Some(h.release));
        }
        for b in self.digests.values() {
            consider(Some(b.due));
        }
        for (receiver, q) in &self.queues {
            if !q.queue.is_empty() {
                consider(Some(
                    self.conform_time(receiver, q)
                        .unwrap_or(DateTime::<Utc>::MIN_UTC),
                ));
            }
        }
        best
    }

    /// The first escalation after `seen` (and after its reception) of a firing alert.
    fn next_escalation(&self, g: &Group) -> Option<DateTime<Utc>> {
        g.alerts
            .values()
            .filter_map(|t| {
                let after = g.seen.max(t.received_at);
                self.strategy
                    .escalations(t.base, t.alert.starts_at)
                    .into_iter()
                    .map(|(when, _)| when)
                    .find(|when| *when > after && !t.alert.is_resolved_at(*when))
            })
            .min()
    }

    fn process(&mut self, t: DateTime<Utc>) {
        self.now = Some(t);
        self.revision = self.revision.wrapping_add(1);
        let ids: Vec<(String, String)> = self.groups.keys().cloned().collect();
        for id in ids {
            let Some(g) = self.groups.get(&id) else {
                continue;
            };
            let flush_due = g.next_flush.is_some_and(|f| f <= t);
            let escalation_due = g.has_flushed && self.next_escalation(g).is_some_and(|e| e <= t);
            if flush_due {
                self.flush(&id, t);
                if let Some(g) = self.groups.get_mut(&id) {
                    g.has_flushed = true;
                    let next = add(t, g.route.timing.group_interval);
                    g.next_flush = (next > t).then_some(next);
                }
            } else if escalation_due {
                self.flush(&id, t);
            }
        }
        for g in self.groups.values_mut() {
            g.seen = g.seen.max(t);
        }
        self.groups.retain(|_, g| !g.alerts.is_empty());

        // Quiet hours over.
        let (mut due, rest): (Vec<Held>, Vec<Held>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| h.release <= t);
        self.held = rest;
        due.sort_by_key(|h| (h.release, h.order));
        for h in due {
            self.enqueue(h.order, h.message, t);
        }

        // Digests.
        let keys: Vec<(Severity, String)> = self
            .digests
            .iter()
            .filter(|(_, b)| b.due <= t)
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            if let Some(bucket) = self.digests.remove(&key) {
                for m in &bucket.messages {
                    self.delivered(m, t);
                }
                let message = self.digest_message(key.0, &key.1, &bucket.messages, t);
                let order = self.next_order();
                self.enqueue(order, message, t);
            }
        }

        // Rate limits.
        let receivers: Vec<String> = self.queues.keys().cloned().collect();
        for r in receivers {
            self.drain_queue(&r, t);
        }

        self.store.retain(|_, a| !a.alert.is_resolved_at(t));
    }

    // -----------------------------------------------------------------------------------
    // Flush: inhibition, silences, time intervals, receivers, dedup
    // -----------------------------------------------------------------------------------

    fn flush(&mut self, id: &(String, String), at: DateTime<Utc>) {
        let Some(group) = self.groups.get(id) else {
            return;
        };
        if self.policy.is_muted(&group.route, at) {
            return;
        }
        let sources: Vec<Alert> = self
            .store
            .values()
            .filter(|t| !t.alert.is_resolved_at(at))
            .map(|t| t.alert.to_alert(at))
            .collect();
        let visible: Vec<Tracked> = group
            .alerts
            .values()
            .filter(|t| {
                !self.is_silenced(&t.alert.labels, at)
                    && !self.policy.is_inhibited(&t.alert.labels, &sources)
            })
            .cloned()
            .collect();
        let (firing, resolved): (Vec<Tracked>, Vec<Tracked>) = visible
            .into_iter()
            .partition(|t| !t.alert.is_resolved_at(at));
        let group_key = group.key.clone();
        let group_labels = group.labels.clone();
        let route_receiver = group.route.receiver.clone();
        let route_repeat = group.route.timing.repeat_interval;

        if !firing.is_empty() || !resolved.is_empty() {
            let severity = if firing.is_empty() {
                resolved
                    .iter()
                    .map(|t| self.effective(t, t.alert.ends_at.unwrap_or(at)))
                    .min()
            } else {
                firing.iter().map(|t| self.effective(t, at)).min()
            }
            .unwrap_or(self.strategy.default_severity());
            let repeat = self
                .strategy
                .rule(severity)
                .repeat_interval
                .unwrap_or(route_repeat);
            for receiver in self.targets(&group_key, &route_receiver, severity) {
                self.notify(
                    &group_key,
                    &group_labels,
                    &receiver,
                    (&firing, &resolved),
                    severity,
                    repeat,
                    at,
                );
            }
        }
        if let Some(g) = self.groups.get_mut(id) {
            g.alerts.retain(|_, t| !t.alert.is_resolved_at(at));
        }
    }

    fn effective(&self, t: &Tracked, at: DateTime<Utc>) -> Severity {
        self.strategy
            .effective_severity(t.base, t.alert.starts_at, at)
    }

    fn targets(&self, group_key: &str, route_receiver: &str, severity: Severity) -> Vec<String> {
        let mut out = vec![route_receiver.to_owned()];
        for r in &self.strategy.rule(severity).receivers {
            if !out.contains(r) {
                out.push(r.clone());
            }
        }
        for ((k, r), e) in self.log.range((group_key.to_owned(), String::new())..) {
            if k != group_key {
                break;
            }
            if !e.firing.is_empty() && !out.contains(r) {
                out.push(r.clone());
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn notify(
        &mut self,
        group_key: &str,
        group_labels: &LabelSet,
        receiver: &str,
        (firing, resolved): (&[Tracked], &[Tracked]),
        severity: Severity,
        repeat: Duration,
        at: DateTime<Utc>,
    ) {
        let send_resolved = self.sends_resolved(receiver);
        let dedup_key = dedup_key(group_key, receiver);
        let firing_set: BTreeSet<LabelSet> =
            firing.iter().map(|t| t.alert.labels.clone()).collect();
        let resolved_set: BTreeSet<LabelSet> =
            resolved.iter().map(|t| t.alert.labels.clone()).collect();
        let log_key = (group_key.to_owned(), receiver.to_owned());
        let reason = needs_update(
            self.log.get(&log_key),
            &firing_set,
            &resolved_set,
            send_resolved,
            severity,
            repeat,
            at,
        );
        let Some(reason) = reason else {
            return;
        };
        if reason == Reason::Repeat && self.is_pending(&dedup_key) {
            return;
        }
        self.log.insert(
            log_key,
            LogEntry {
                firing: firing_set,
                resolved: resolved_set,
                at,
                severity,
            },
        );
        let shown_resolved: &[Tracked] = if send_resolved { resolved } else { &[] };
        if firing.is_empty() && shown_resolved.is_empty() {
            return;
        }
        let sequence = self.next_sequence(&dedup_key);
        let message = self.render(
            receiver,
            dedup_key,
            sequence,
            severity,
            group_labels,
            firing,
            shown_resolved,
        );
        self.deliver(message, at);
    }

    fn is_pending(&self, dedup_key: &str) -> bool {
        self.held.iter().any(|h| h.message.dedup_key == dedup_key)
            || self
                .digests
                .values()
                .any(|b| b.messages.iter().any(|m| m.dedup_key == dedup_key))
            || self
                .queues
                .values()
                .any(|q| q.queue.iter().any(|m| m.dedup_key == dedup_key))
    }

    /// `message` went out (or into a digest) at `at`: the repeat interval of its
    /// notification-log entry counts from then, not from when the message was created.
    /// (Digest messages have no entry.)
    fn delivered(&mut self, message: &Message, at: DateTime<Utc>) {
        let Some(group_key) = message
            .dedup_key
            .strip_suffix(message.receiver.as_str())
            .and_then(|k| k.strip_suffix('|'))
        else {
            return;
        };
        let log_key = (group_key.to_owned(), message.receiver.clone());
        if let Some(entry) = self.log.get_mut(&log_key) {
            entry.at = entry.at.max(at);
        }
    }

    fn next_sequence(&mut self, dedup_key: &str) -> u64 {
        let seq = self.sequences.entry(dedup_key.to_owned()).or_insert(0);
        *seq = seq.saturating_add(1);
        *seq
    }

    fn next_order(&mut self) -> u64 {
        self.order = self.order.saturating_add(1);
        self.order
    }

    // -----------------------------------------------------------------------------------
    // Strategy: holds and digests; rate limits
    // -----------------------------------------------------------------------------------

    fn deliver(&mut self, message: Message, at: DateTime<Utc>) {
        let order = self.next_order();
        match &self.strategy.rule(message.severity).delivery {
            Delivery::Immediate => self.enqueue(order, message, at),
            Delivery::QuietHours(q) => {
                let release = q.release_at(at);
                if release <= at {
                    self.enqueue(order, message, at);
                } else {
                    self.held.push(Held {
                        release,
                        order,
                        message,
                    });
                }
            }
            Delivery::Digest(d) => {
                let due = d.next_at_or_after(at);
                self.digests
                    .entry((message.severity, message.receiver.clone()))
                    .or_insert_with(|| DigestBucket {
                        due,
                        messages: Vec::new(),
                    })
                    .messages
                    .push(message);
            }
        }
    }

    /// Queues a message for its receiver; older held messages of the same key go first.
    fn enqueue(&mut self, order: u64, message: Message, at: DateTime<Utc>) {
        let (mut older, rest): (Vec<Held>, Vec<Held>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| h.message.dedup_key == message.dedup_key && h.order < order);
        self.held = rest;
        older.sort_by_key(|h| h.order);
        let receiver = message.receiver.clone();
        let queue = self.queues.entry(receiver.clone()).or_default();
        queue.queue.extend(older.into_iter().map(|h| h.message));
        queue.queue.push_back(message);
        self.drain_queue(&receiver, at);
    }

    /// The GCRA: with interval `T` and tolerance `τ = T·(burst−1)`, the head may go at
    /// `tat − τ`; sending moves `tat` to `max(tat, now) + T`.
    fn conform_time(&self, receiver: &str, q: &RateQueue) -> Option<DateTime<Utc>> {
        let limit = self
            .strategy
            .receiver_settings(receiver)
            .and_then(|s| s.rate_limit)?;
        let tat = q.tat?;
        let tau = limit
            .interval()
            .checked_mul(limit.burst.saturating_sub(1))
            .unwrap_or(Duration::MAX);
        Some(
            TimeDelta::from_std(tau)
                .ok()
                .and_then(|d| tat.checked_sub_signed(d))
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        )
    }

    fn drain_queue(&mut self, receiver: &str, at: DateTime<Utc>) {
        let limit = self
            .strategy
            .receiver_settings(receiver)
            .and_then(|s| s.rate_limit);
        loop {
            let Some(q) = self.queues.get(receiver) else {
                return;
            };
            if q.queue.is_empty() {
                return;
            }
            if let Some(limit) = limit {
                if self.conform_time(receiver, q).is_some_and(|c| c > at) {
                    return;
                }
                let next_tat = add(q.tat.map_or(at, |tat| tat.max(at)), limit.interval());
                if let Some(q) = self.queues.get_mut(receiver) {
                    q.tat = Some(next_tat);
                }
            }
            if let Some(message) = self
                .queues
                .get_mut(receiver)
                .and_then(|q| q.queue.pop_front())
            {
                self.delivered(&message, at);
                self.outgoing.push(message);
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Rendering
    // -----------------------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    fn render(
        &self,
        receiver: &str,
        dedup_key: String,
        sequence: u64,
        severity: Severity,
        group_labels: &LabelSet,
        firing: &[Tracked],
        resolved: &[Tracked],
    ) -> Message {
        let status = if firing.is_empty() {
            MessageStatus::Resolved
        } else {
            MessageStatus::Firing
        };
        let all: Vec<&TimedAlert> = firing.iter().chain(resolved).map(|t| &t.alert).collect();
        let names: BTreeSet<&str> = all
            .iter()
            .map(|a| label_value(&a.labels, "alertname"))
            .collect();
        let subject = match names.iter().next() {
            Some(name) if names.len() == 1 && !name.is_empty() => (*name).to_owned(),
            _ => "alerts".to_owned(),
        };
        let extra: Vec<String> = group_labels
            .iter()
            .filter(|(k, _)| k.as_str() != "alertname")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let (word, count) = match status {
            MessageStatus::Firing => ("FIRING", firing.len()),
            MessageStatus::Resolved => ("RESOLVED", resolved.len()),
        };
        let mut title = format!("[{severity}] [{word}:{count}] {subject}");
        if !extra.is_empty() {
            title.push_str(&format!(" ({})", extra.join(" ")));
        }
        let line = |state: &str, a: &TimedAlert| {
            let mut l = format!("- [{state}] {}", format_labels(&a.labels));
            if let Some(s) = a.annotations.get("summary") {
                l.push_str(": ");
                l.push_str(s);
            }
            l
        };
        let summary = firing
            .iter()
            .map(|t| line("firing", &t.alert))
            .chain(resolved.iter().map(|t| line("resolved", &t.alert)))
            .collect::<Vec<_>>()
            .join("\n");
        let timestamp = match status {
            MessageStatus::Firing => firing.iter().map(|t| t.alert.starts_at).min(),
            MessageStatus::Resolved => resolved.iter().filter_map(|t| t.alert.ends_at).max(),
        }
        .or(self.now)
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        Message {
            receiver: receiver.to_owned(),
            dedup_key,
            sequence,
            severity,
            status,
            title,
            summary,
            fields: group_labels
                .iter()
                .map(|(k, v)| Field {
                    name: k.clone(),
                    value: v.clone(),
                })
                .collect(),
            mentions: match status {
                MessageStatus::Firing => self.strategy.rule(severity).mentions.clone(),
                MessageStatus::Resolved => Vec::new(),
            },
            url: all.iter().find_map(|a| {
                a.annotations
                    .get("runbook_url")
                    .cloned()
                    .or_else(|| a.generator_url.clone())
            }),
            source: all
                .iter()
                .find_map(|a| a.source.clone())
                .unwrap_or_else(|| PIPELINE_SOURCE.to_owned()),
            timestamp,
        }
    }

    fn digest_message(
        &mut self,
        severity: Severity,
        receiver: &str,
        messages: &[Message],
        at: DateTime<Utc>,
    ) -> Message {
        let dedup_key = format!("digest|{severity}|{receiver}");
        let sequence = self.next_sequence(&dedup_key);
        let firing = messages.iter().any(|m| m.status == MessageStatus::Firing);
        let status = if firing {
            MessageStatus::Firing
        } else {
            MessageStatus::Resolved
        };
        Message {
            receiver: receiver.to_owned(),
            dedup_key,
            sequence,
            severity,
            status,
            title: format!("[{severity}] Digest: {} notifications", messages.len()),
            summary: messages
                .iter()
                .map(|m| format!("{}\n{}", m.title, m.summary))
                .collect::<Vec<_>>()
                .join("\n\n"),
            fields: messages
                .iter()
                .map(|m| Field {
                    name: m.title.clone(),
                    value: match m.status {
                        MessageStatus::Firing => "firing".to_owned(),
                        MessageStatus::Resolved => "resolved".to_owned(),
                    },
                })
                .collect(),
            mentions: if firing {
                self.strategy.rule(severity).mentions.clone()
            } else {
                Vec::new()
            },
            url: None,
            source: PIPELINE_SOURCE.to_owned(),
            timestamp: at,
        }
    }
}

/// The `dedup_key` of the messages of a group to a receiver; `Pipeline::delivered` reads the
/// group key back from it.
fn dedup_key(group_key: &str, receiver: &str) -> String {
    format!("{group_key}|{receiver}")
}

/// Whether two reports of the same labels describe one episode (their activity overlaps).
fn overlaps(old: &TimedAlert, new: &TimedAlert) -> bool {
    let old_end = old.ends_at.unwrap_or(DateTime::<Utc>::MAX_UTC);
    let new_end = new.ends_at.unwrap_or(DateTime::<Utc>::MAX_UTC);
    new.starts_at <= old_end && old.starts_at <= new_end
}

/// Alertmanager's `DedupStage.needsUpdate`, plus the escalation rule.
fn needs_update(
    entry: Option<&LogEntry>,
    firing: &BTreeSet<LabelSet>,
    resolved: &BTreeSet<LabelSet>,
    send_resolved: bool,
    severity: Severity,
    repeat: Duration,
    at: DateTime<Utc>,
) -> Option<Reason> {
    let Some(e) = entry else {
        return (!firing.is_empty()).then_some(Reason::First);
    };
    if !firing.is_subset(&e.firing) {
        return Some(Reason::NewFiring);
    }
    if firing.is_empty() {
        return (!e.firing.is_empty()).then_some(Reason::AllResolved);
    }
    if severity < e.severity {
        return Some(Reason::Escalated);
    }
    if send_resolved && !resolved.is_subset(&e.resolved) {
        return Some(Reason::NewResolved);
    }
    // Alertmanager: `entry.Timestamp.Before(now - repeat)`, strictly.
    (add(e.at, repeat) < at).then_some(Reason::Repeat)
}

/// Whether an Alertmanager integration block (`webhook_configs: [...]`) sends resolved
/// notifications, with Alertmanager's per-integration defaults.
fn integration_sends_resolved(kind: &str, value: &Value) -> bool {
    let default = !matches!(kind, "email_configs" | "slack_configs" | "wechat_configs");
    match value {
        Value::Sequence(configs) => configs.iter().any(|c| {
            c.get("send_resolved")
                .and_then(Value::as_bool)
                .unwrap_or(default)
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<LabelSet> {
        items
            .iter()
            .map(|n| crate::model::labels_from([("alertname", *n)]))
            .collect()
    }

    #[test]
    fn dedup_rules_follow_alertmanager() {
        use chrono::TimeZone;
        let t0 = Utc.with_ymd_and_hms(2024, 6, 3, 0, 0, 0).single().unwrap();
        let hour = Duration::from_secs(3600);
        let entry = LogEntry {
            firing: set(&["a", "b"]),
            resolved: set(&[]),
            at: t0,
            severity: Severity::P2,
        };
        let at = t0 + TimeDelta::minutes(5);
        let check = |e: Option<&LogEntry>, f: &[&str], r: &[&str], sr: bool, sev, at| {
            needs_update(e, &set(f), &set(r), sr, sev, hour, at)
        };
        assert_eq!(
            check(None, &["a"], &[], false, Severity::P2, at),
            Some(Reason::First)
        );
        assert_eq!(check(None, &[], &["a"], true, Severity::P2, at), None);
        assert_eq!(
            check(Some(&entry), &["a", "c"], &[], false, Severity::P2, at),
            Some(Reason::NewFiring)
        );
        assert_eq!(
            check(Some(&entry), &["a"], &["b"], false, Severity::P2, at),
            None
        );
        assert_eq!(
            check(Some(&entry), &["a"], &["b"], true, Severity::P2, at),
            Some(Reason::NewResolved)
        );
        assert_eq!(
            check(Some(&entry), &[], &["a", "b"], false, Severity::P2, at),
            Some(Reason::AllResolved)
        );
        assert_eq!(
            check(Some(&entry), &["a"], &[], false, Severity::P1, at),
            Some(Reason::Escalated)
        );
        // Repeat: strictly after t0 + 1h.
        let exactly = t0 + TimeDelta::hours(1);
        assert_eq!(
            check(Some(&entry), &["a", "b"], &[], false, Severity::P2, exactly),
            None
        );
        assert_eq!(
            check(
                Some(&entry),
                &["a", "b"],
                &[],
                false,
                Severity::P2,
                exactly + TimeDelta::seconds(1)
            ),
            Some(Reason::Repeat)
        );
        let empty = LogEntry {
            firing: set(&[]),
            ..entry
        };
        assert_eq!(
            check(Some(&empty), &[], &["a"], true, Severity::P2, at),
            None
        );
    }

    #[test]
    fn integration_defaults() {
        let v: Value = serde_yaml_ng::from_str("[{url: x}]").unwrap();
        assert!(integration_sends_resolved("webhook_configs", &v));
        assert!(!integration_sends_resolved("slack_configs", &v));
        let v: Value = serde_yaml_ng::from_str("[{send_resolved: true}]").unwrap();
        assert!(integration_sends_resolved("email_configs", &v));
    }
}
