//! [`PipelineSnapshot`]: the pipeline's state as plain data, to survive a restart.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{DigestBucket, Group, Held, LogEntry, Pipeline, RateQueue, TimedAlert, Tracked};
use crate::error::NotifyError;
use crate::message::Message;
use crate::model::LabelSet;
use crate::policy::route::MatchedRoute;
use crate::severity::Severity;

/// The version of the snapshot format this build writes and reads.
pub const SNAPSHOT_VERSION: u32 = 1;

/// The pipeline's state as plain data, serialisable with serde.
///
/// It holds everything the pipeline has learnt from the alerts and ticks it was
/// given: the alerts, the aggregation groups and their timers, the notification log (dedup),
/// the sequence counters, and the messages on their way (held for quiet hours, collected for
/// a digest, waiting for a rate-limit token, or due but not yet taken). It holds no
/// configuration: the routing policy, the severity strategy, `resolve_timeout` and the
/// silences belong to the [`Pipeline`] the snapshot is restored into. It holds no secret
/// either (receivers appear by name only).
///
/// [`Pipeline::restore`] of a snapshot taken with [`Pipeline::snapshot`] gives a pipeline that
/// behaves exactly like the original from then on, under the same configuration: the same
/// `receive` and `tick` calls give the same messages (a test checks it at every step of a
/// scenario). Under a changed configuration:
///
/// - a group is kept (with its timers) when its route still exists at the same path and its
///   alerts still route there under the same group key; otherwise its alerts join the groups
///   of the new configuration as if received again at the snapshot's instant (as Alertmanager
///   rebuilds its groups on a reload and keeps its notification log);
/// - each alert's base severity is recomputed with the new strategy;
/// - notification-log entries of receivers the new policy does not define are dropped;
/// - messages already made (held, collected, queued) keep their receiver and schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSnapshot {
    version: u32,
    /// The last instant the pipeline processed.
    now: Option<DateTime<Utc>>,
    alerts: Vec<AlertState>,
    groups: Vec<GroupState>,
    log: Vec<LogState>,
    sequences: BTreeMap<String, u64>,
    order: u64,
    held: Vec<HeldState>,
    digests: Vec<DigestState>,
    queues: Vec<QueueState>,
    outgoing: Vec<Message>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertState {
    alert: TimedAlert,
    received_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupState {
    /// The route's path in the configuration (`route.routes[1]`).
    route: String,
    /// The route's receiver (informational; the route decides on restore).
    receiver: String,
    key: String,
    labels: LabelSet,
    alerts: Vec<AlertState>,
    next_flush: Option<DateTime<Utc>>,
    has_flushed: bool,
    seen: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogState {
    group_key: String,
    receiver: String,
    firing: Vec<LabelSet>,
    resolved: Vec<LabelSet>,
    at: DateTime<Utc>,
    severity: Severity,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeldState {
    release: DateTime<Utc>,
    order: u64,
    message: Message,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DigestState {
    severity: Severity,
    receiver: String,
    due: DateTime<Utc>,
    messages: Vec<Message>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueState {
    receiver: String,
    tat: Option<DateTime<Utc>>,
    messages: Vec<Message>,
}

impl PipelineSnapshot {
    /// The format version it was written with ([`SNAPSHOT_VERSION`] for this build's).
    #[must_use]
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The last instant the pipeline had processed when the snapshot was taken.
    #[must_use]
    pub fn taken_at(&self) -> Option<DateTime<Utc>> {
        self.now
    }

    /// How many alerts it tracks.
    #[must_use]
    pub fn alert_count(&self) -> usize {
        self.alerts.len()
    }

    /// How many aggregation groups it holds.
    #[must_use]
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// How many messages it holds that have not reached the outbox: held, collected for a
    /// digest, rate-limited, or due and not yet taken.
    #[must_use]
    pub fn pending_messages(&self) -> usize {
        self.held.len()
            + self.digests.iter().map(|d| d.messages.len()).sum::<usize>()
            + self.queues.iter().map(|q| q.messages.len()).sum::<usize>()
            + self.outgoing.len()
    }

    /// The receivers the state still owes something: those of the messages on their way,
    /// of the groups' routes, and of notification-log entries with firing alerts (they will
    /// hear about the resolution).
    #[must_use]
    pub fn receivers(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let messages = self
            .held
            .iter()
            .map(|h| &h.message)
            .chain(self.digests.iter().flat_map(|d| &d.messages))
            .chain(self.queues.iter().flat_map(|q| &q.messages))
            .chain(&self.outgoing);
        for m in messages {
            out.insert(m.receiver.clone());
        }
        for d in &self.digests {
            out.insert(d.receiver.clone());
        }
        for g in &self.groups {
            out.insert(g.receiver.clone());
        }
        for l in &self.log {
            if !l.firing.is_empty() {
                out.insert(l.receiver.clone());
            }
        }
        out
    }
}

fn alert_state(t: &Tracked) -> AlertState {
    AlertState {
        alert: t.alert.clone(),
        received_at: t.received_at,
    }
}

impl Pipeline {
    /// The pipeline's state as plain data (see [`PipelineSnapshot`]).
    #[must_use]
    pub fn snapshot(&self) -> PipelineSnapshot {
        PipelineSnapshot {
            version: SNAPSHOT_VERSION,
            now: self.now,
            alerts: self.store.values().map(alert_state).collect(),
            groups: self
                .groups
                .values()
                .map(|g| GroupState {
                    route: g.route.path.clone(),
                    receiver: g.route.receiver.clone(),
                    key: g.key.clone(),
                    labels: g.labels.clone(),
                    alerts: g.alerts.values().map(alert_state).collect(),
                    next_flush: g.next_flush,
                    has_flushed: g.has_flushed,
                    seen: g.seen,
                })
                .collect(),
            log: self
                .log
                .iter()
                .map(|((group_key, receiver), e)| LogState {
                    group_key: group_key.clone(),
                    receiver: receiver.clone(),
                    firing: e.firing.iter().cloned().collect(),
                    resolved: e.resolved.iter().cloned().collect(),
                    at: e.at,
                    severity: e.severity,
                })
                .collect(),
            sequences: self.sequences.clone(),
            order: self.order,
            held: self
                .held
                .iter()
                .map(|h| HeldState {
                    release: h.release,
                    order: h.order,
                    message: h.message.clone(),
                })
                .collect(),
            digests: self
                .digests
                .iter()
                .map(|((severity, receiver), b)| DigestState {
                    severity: *severity,
                    receiver: receiver.clone(),
                    due: b.due,
                    messages: b.messages.clone(),
                })
                .collect(),
            queues: self
                .queues
                .iter()
                .map(|(receiver, q)| QueueState {
                    receiver: receiver.clone(),
                    tat: q.tat,
                    messages: q.queue.iter().cloned().collect(),
                })
                .collect(),
            outgoing: self.outgoing.clone(),
        }
    }

    /// This pipeline (its policy, strategy, `resolve_timeout` and silences) with the state of
    /// `snapshot` in place of its own. See [`PipelineSnapshot`] for what happens when the
    /// configuration changed since the snapshot was taken.
    ///
    /// # Errors
    /// [`NotifyError::PipelineStateVersion`] if the snapshot was written in another format
    /// version.
    pub fn restore(mut self, snapshot: PipelineSnapshot) -> Result<Self, NotifyError> {
        if snapshot.version != SNAPSHOT_VERSION {
            return Err(NotifyError::PipelineStateVersion {
                found: snapshot.version,
                supported: SNAPSHOT_VERSION,
            });
        }
        let now = snapshot.now;
        let track = |s: AlertState, p: &Pipeline| Tracked {
            base: p.strategy.severity_of(&s.alert.labels),
            alert: s.alert,
            received_at: s.received_at,
        };
        self.now = now;
        self.store = BTreeMap::new();
        for a in snapshot.alerts {
            let t = track(a, &self);
            self.store.insert(t.alert.labels.clone(), t);
        }
        self.groups = BTreeMap::new();
        let mut orphans: BTreeMap<LabelSet, Tracked> = BTreeMap::new();
        for g in snapshot.groups {
            let alerts: BTreeMap<LabelSet, Tracked> = g
                .alerts
                .into_iter()
                .map(|a| {
                    let t = track(a, &self);
                    (t.alert.labels.clone(), t)
                })
                .collect();
            // The group's route, if every one of its alerts still routes there under the
            // same group key.
            let routes: Option<Vec<MatchedRoute>> = alerts
                .keys()
                .map(|labels| {
                    self.policy
                        .route(labels)
                        .into_iter()
                        .find(|r| r.path == g.route && r.group_key(labels) == g.key)
                })
                .collect();
            match routes.and_then(|routes| routes.into_iter().next()) {
                Some(route) => {
                    self.groups.insert(
                        (g.route, g.key.clone()),
                        Group {
                            route,
                            key: g.key,
                            labels: g.labels,
                            alerts,
                            next_flush: g.next_flush,
                            has_flushed: g.has_flushed,
                            seen: g.seen,
                        },
                    );
                }
                None => orphans.extend(alerts),
            }
        }
        self.log = snapshot
            .log
            .into_iter()
            .filter(|l| self.policy.receiver(&l.receiver).is_some())
            .map(|l| {
                (
                    (l.group_key, l.receiver),
                    LogEntry {
                        firing: l.firing.into_iter().collect(),
                        resolved: l.resolved.into_iter().collect(),
                        at: l.at,
                        severity: l.severity,
                    },
                )
            })
            .collect();
        self.sequences = snapshot.sequences;
        self.order = snapshot.order;
        self.held = snapshot
            .held
            .into_iter()
            .map(|h| Held {
                release: h.release,
                order: h.order,
                message: h.message,
            })
            .collect();
        self.digests = snapshot
            .digests
            .into_iter()
            .map(|d| {
                (
                    (d.severity, d.receiver),
                    DigestBucket {
                        due: d.due,
                        messages: d.messages,
                    },
                )
            })
            .collect();
        self.queues = snapshot
            .queues
            .into_iter()
            .map(|q| {
                (
                    q.receiver,
                    RateQueue {
                        tat: q.tat,
                        queue: q.messages.into_iter().collect(),
                    },
                )
            })
            .collect();
        self.outgoing = snapshot.outgoing;
        for tracked in orphans.into_values() {
            let at = now.unwrap_or(tracked.received_at);
            self.join_groups(&tracked, at, true);
        }
        self.revision = self.revision.wrapping_add(1);
        Ok(self)
    }
}
