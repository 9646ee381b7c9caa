//! The notification pipeline end to end, driven by a `ManualClock`; no test sleeps. Every
//! expected instant is computed by hand in the comment next to it.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use parky_core::{Clock, ManualClock};
use parky_notify::pipeline::{format_labels, Pipeline, PipelineSnapshot, Silence, TimedAlert};
use parky_notify::policy::strategy::SeverityStrategy;
use parky_notify::{Message, MessageStatus, NotifyError, NotifyPolicy, Severity};

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    // A valid UTC date and time is never ambiguous.
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).single().unwrap()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn pipeline(routing: &str, strategy: &str) -> Pipeline {
    let policy = NotifyPolicy::from_yaml(routing).unwrap();
    let strategy = SeverityStrategy::from_yaml(strategy).unwrap();
    Pipeline::new(policy, strategy).unwrap()
}

/// One receiver `team`, grouped by alertname, 30s / 5m / 4h.
const SIMPLE: &str = r#"
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers: [{name: team}, {name: pager}]
"#;

/// Monday 2024-06-03 10:00:00 UTC.
fn t0() -> DateTime<Utc> {
    utc(2024, 6, 3, 10, 0, 0)
}

fn far() -> DateTime<Utc> {
    utc(2030, 1, 1, 0, 0, 0)
}

fn alert(name: &str, instance: &str, severity: &str, starts: DateTime<Utc>) -> TimedAlert {
    TimedAlert::new(
        [
            ("alertname", name),
            ("instance", instance),
            ("severity", severity),
        ],
        starts,
    )
    .ending_at(far())
}

fn line(a: &TimedAlert) -> String {
    format!("- [firing] {}", format_labels(&a.labels))
}

#[test]
fn group_wait_then_group_interval_batching() {
    let clock = ManualClock::new(t0());
    let mut p = pipeline(SIMPLE, "");
    let a = alert("HighLatency", "a", "warning", t0());
    p.receive(a.clone(), clock.now());
    // B arrives 10 s later, within group_wait: same message.
    clock.advance(secs(10));
    let b = alert("HighLatency", "b", "warning", clock.now());
    p.receive(b.clone(), clock.now());
    // The group was created at t0: first flush at t0 + 30 s = 10:00:30.
    clock.set(utc(2024, 6, 3, 10, 0, 29));
    assert!(p.tick_clock(&clock).is_empty());
    assert_eq!(p.next_wakeup(), Some(utc(2024, 6, 3, 10, 0, 30)));
    clock.set(utc(2024, 6, 3, 10, 0, 30));
    let out = p.tick_clock(&clock);
    assert_eq!(out.len(), 1);
    let m = &out[0];
    assert_eq!(m.receiver, "team");
    assert_eq!(m.sequence, 1);
    assert_eq!(m.severity, Severity::P2);
    assert_eq!(m.status, MessageStatus::Firing);
    assert_eq!(m.title, "[P2] [FIRING:2] HighLatency");
    assert_eq!(m.dedup_key, r#"{}:{alertname="HighLatency"}|team"#);
    assert_eq!(m.summary, format!("{}\n{}", line(&a), line(&b)));
    assert_eq!(m.timestamp, t0());

    // C at 10:01:00 joins the flushed group: it waits for the next group_interval tick,
    // 10:00:30 + 5 m = 10:05:30.
    clock.set(utc(2024, 6, 3, 10, 1, 0));
    let c = alert("HighLatency", "c", "warning", clock.now());
    p.receive(c.clone(), clock.now());
    clock.set(utc(2024, 6, 3, 10, 5, 29));
    assert!(p.tick_clock(&clock).is_empty());
    clock.set(utc(2024, 6, 3, 10, 5, 30));
    let out = p.tick_clock(&clock);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].sequence, 2);
    assert_eq!(out[0].dedup_key, m.dedup_key);
    assert_eq!(out[0].title, "[P2] [FIRING:3] HighLatency");
    assert!(out[0].summary.contains(&line(&c)));
    // Nothing new at 10:10:30.
    clock.set(utc(2024, 6, 3, 10, 10, 30));
    assert!(p.tick_clock(&clock).is_empty());
}

#[test]
fn alerts_received_at_one_instant_go_out_together() {
    // One Alertmanager webhook payload carries two alerts of a new group that started long
    // before (so the group flushes at once, without group_wait). Both are received at
    // 10:00:00; the flush due at 10:00:00 waits for the tick, so one message holds both.
    let mut p = pipeline(SIMPLE, "");
    let started = utc(2024, 6, 3, 9, 0, 0);
    let a = alert("HighLatency", "a", "warning", started);
    let b = alert("HighLatency", "b", "warning", started);
    p.receive(a.clone(), t0());
    p.receive(b.clone(), t0());
    assert_eq!(p.next_wakeup(), Some(t0()));
    let out = p.tick(t0());
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].title, "[P2] [FIRING:2] HighLatency");
    assert_eq!(out[0].summary, format!("{}\n{}", line(&a), line(&b)));
}

#[test]
fn repeat_interval_is_strict_and_counted_in_group_intervals() {
    let routing = SIMPLE.replace("repeat_interval: 4h", "repeat_interval: 1h");
    let clock = ManualClock::new(t0());
    let mut p = pipeline(&routing, "");
    p.receive(alert("DiskFull", "a", "warning", t0()), clock.now());
    clock.set(utc(2024, 6, 3, 10, 0, 30));
    assert_eq!(p.tick_clock(&clock).len(), 1);
    // Flushes at 10:00:30 + k·5 m. Repeat needs strictly more than 1 h since 10:00:30:
    // 11:00:30 (k = 12) is exactly 1 h → no; 11:05:30 (k = 13) → yes.
    clock.set(utc(2024, 6, 3, 11, 5, 29));
    assert!(p.tick_clock(&clock).is_empty());
    clock.set(utc(2024, 6, 3, 11, 5, 30));
    let out = p.tick_clock(&clock);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].sequence, 2);
    // And the next one after 12:05:30, at 12:10:30.
    clock.set(utc(2024, 6, 3, 12, 10, 29));
    assert!(p.tick_clock(&clock).is_empty());
    clock.set(utc(2024, 6, 3, 12, 10, 30));
    assert_eq!(p.tick_clock(&clock)[0].sequence, 3);
}

fn resolve_scenario(strategy: &str) -> Vec<(DateTime<Utc>, Message)> {
    let clock = ManualClock::new(t0());
    let mut p = pipeline(SIMPLE, strategy);
    // Fires at 10:00, ends at 10:02.
    let a = TimedAlert::new([("alertname", "Flappy")], t0()).ending_at(utc(2024, 6, 3, 10, 2, 0));
    p.receive(a, clock.now());
    let mut out = Vec::new();
    // Tick every 10 s for an hour.
    for _ in 0..360 {
        clock.advance(secs(10));
        out.extend(p.tick_clock(&clock).into_iter().map(|m| (clock.now(), m)));
    }
    assert_eq!(
        p.group_count(),
        0,
        "the group is gone once its resolution is handled"
    );
    out
}

#[test]
fn resolved_is_sent_once_with_send_resolved() {
    let out = resolve_scenario("receivers: {team: {send_resolved: true}}\n");
    // 10:00:30 firing; 10:05:30 every alert resolved (10:02) → one resolved message; the
    // group then empties and nothing more comes.
    assert_eq!(out.len(), 2, "{out:#?}");
    assert_eq!(out[0].0, utc(2024, 6, 3, 10, 0, 30));
    assert_eq!(out[1].0, utc(2024, 6, 3, 10, 5, 30));
    let r = &out[1].1;
    assert_eq!(r.status, MessageStatus::Resolved);
    assert_eq!(r.sequence, 2);
    assert_eq!(r.title, "[P2] [RESOLVED:1] Flappy");
    assert_eq!(r.timestamp, utc(2024, 6, 3, 10, 2, 0));
    assert!(r.mentions.is_empty());
}

#[test]
fn resolved_is_not_sent_without_send_resolved() {
    // A receiver without integrations and no strategy setting does not send resolved.
    let out = resolve_scenario("");
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0].1.status, MessageStatus::Firing);
}

#[test]
fn send_resolved_defaults_from_integrations() {
    let p = pipeline(
        "route: {receiver: hook}\nreceivers:\n  - name: hook\n    webhook_configs: [{url: 'http://x'}]\n  - name: chat\n    slack_configs: [{channel: '#x'}]\n",
        "",
    );
    assert!(p.sends_resolved("hook"));
    assert!(!p.sends_resolved("chat"));
}

#[test]
fn a_firing_critical_inhibits_warnings_with_equal_labels() {
    let routing = r#"
route:
  receiver: team
  group_by: [alertname, cluster]
receivers: [{name: team}]
inhibit_rules:
  - source_matchers: [severity=critical]
    target_matchers: [severity=warning]
    equal: [cluster]
"#;
    let clock = ManualClock::new(t0());
    let mut p = pipeline(routing, "");
    // The critical alert ends at 10:03.
    let crit = TimedAlert::new(
        [
            ("alertname", "NodeDown"),
            ("severity", "critical"),
            ("cluster", "eu1"),
        ],
        t0(),
    )
    .ending_at(utc(2024, 6, 3, 10, 3, 0));
    let warn_eu = TimedAlert::new(
        [
            ("alertname", "HighLatency"),
            ("severity", "warning"),
            ("cluster", "eu1"),
        ],
        t0(),
    )
    .ending_at(far());
    let warn_us = TimedAlert::new(
        [
            ("alertname", "HighLatency"),
            ("severity", "warning"),
            ("cluster", "us1"),
        ],
        t0(),
    )
    .ending_at(far());
    for a in [&crit, &warn_eu, &warn_us] {
        p.receive(a.clone(), clock.now());
    }
    // 10:00:30: NodeDown (P0) and the us1 warning; the eu1 warning is inhibited.
    clock.set(utc(2024, 6, 3, 10, 0, 30));
    let out = p.tick_clock(&clock);
    assert_eq!(out.len(), 2, "{out:#?}");
    assert!(out.iter().all(|m| !m.summary.contains(&line(&warn_eu))));
    assert!(out
        .iter()
        .any(|m| m.summary.contains(&line(&crit)) && m.severity == Severity::P0));
    assert!(out.iter().any(|m| m.summary.contains(&line(&warn_us))));
    // NodeDown resolves at 10:03; at the 10:05:30 flush the eu1 warning is no longer
    // inhibited and is notified for the first time.
    clock.set(utc(2024, 6, 3, 10, 5, 30));
    let out = p.tick_clock(&clock);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert!(out[0].summary.contains(&line(&warn_eu)));
    assert_eq!(out[0].sequence, 1);
}

#[test]
fn a_silence_mutes_until_it_ends() {
    let clock = ManualClock::new(t0());
    let mut p = pipeline(SIMPLE, "");
    // Silenced from 09:00 to 10:10.
    p.add_silence(
        Silence::parse(
            r#"alertname="Noisy""#,
            utc(2024, 6, 3, 9, 0, 0),
            utc(2024, 6, 3, 10, 10, 0),
        )
        .unwrap(),
    );
    p.receive(alert("Noisy", "a", "warning", t0()), clock.now());
    p.receive(alert("Other", "a", "warning", t0()), clock.now());
    // 10:00:30: only Other.
    clock.set(utc(2024, 6, 3, 10, 0, 30));
    let out = p.tick_clock(&clock);
    assert_eq!(out.len(), 1);
    assert!(out[0].title.contains("Other"));
    // Flushes at 10:05:30 (silenced) and 10:10:30 (silence over at 10:10 → sent).
    clock.set(utc(2024, 6, 3, 10, 10, 29));
    assert!(p.tick_clock(&clock).is_empty());
    clock.set(utc(2024, 6, 3, 10, 10, 30));
    let out = p.tick_clock(&clock);
    assert_eq!(out.len(), 1);
    assert!(out[0].title.contains("Noisy"));
}

#[test]
fn a_mute_time_interval_defers_to_the_first_flush_after_it() {
    let routing = r#"
route:
  receiver: team
  group_by: [alertname]
  routes:
    - matchers: [team=db]
      receiver: team
      mute_time_intervals: [nights]
receivers: [{name: team}]
time_intervals:
  - name: nights
    time_intervals: [{times: [{start_time: "00:00", end_time: "06:00"}]}]
"#;
    let start = utc(2024, 6, 3, 5, 50, 0);
    let clock = ManualClock::new(start);
    let mut p = pipeline(routing, "");
    p.receive(
        TimedAlert::new([("alertname", "Slow"), ("team", "db")], start).ending_at(far()),
        clock.now(),
    );
    // Flushes at 05:50:30 and 05:55:30 are muted (before 06:00 UTC); 06:00:30 sends.
    clock.set(utc(2024, 6, 3, 6, 0, 29));
    assert!(p.tick_clock(&clock).is_empty());
    clock.set(utc(2024, 6, 3, 6, 0, 30));
    let out = p.tick_clock(&clock);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].sequence, 1);
}

const ESCALATION: &str = r#"
severities:
  P0:
    receivers: [pager]
    mentions: ["@here"]
  P1:
    escalate_after: 30m
    escalate_to: P0
"#;

#[test]
fn a_p1_still_firing_after_30_minutes_is_rerouted_as_p0() {
    let clock = ManualClock::new(t0());
    let mut p = pipeline(SIMPLE, ESCALATION);
    // `error` → P1.
    p.receive(alert("ErrorRate", "a", "error", t0()), clock.now());
    clock.set(utc(2024, 6, 3, 10, 0, 30));
    let out = p.tick_clock(&clock);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].receiver.as_str(), out[0].severity),
        ("team", Severity::P1)
    );
    assert!(out[0].mentions.is_empty());
    // Started 10:00, so it is P0 at 10:30:00 exactly: the team hears of the escalation and
    // the pager is notified for the first time, both with @here.
    clock.set(utc(2024, 6, 3, 10, 29, 59));
    assert!(p.tick_clock(&clock).is_empty());
    assert_eq!(p.next_wakeup(), Some(utc(2024, 6, 3, 10, 30, 0)));
    clock.set(utc(2024, 6, 3, 10, 30, 0));
    let out = p.tick_clock(&clock);
    let summary: Vec<(&str, Severity, u64, &[String])> = out
        .iter()
        .map(|m| {
            (
                m.receiver.as_str(),
                m.severity,
                m.sequence,
                m.mentions.as_slice(),
            )
        })
        .collect();
    let here = ["@here".to_owned()];
    assert_eq!(
        summary,
        [
            ("team", Severity::P0, 2, &here[..]),
            ("pager", Severity::P0, 1, &here[..])
        ]
    );
    assert_eq!(out[1].dedup_key, r#"{}:{alertname="ErrorRate"}|pager"#);
    // The next regular flush (10:30:30) has nothing new.
    clock.set(utc(2024, 6, 3, 10, 30, 30));
    assert!(p.tick_clock(&clock).is_empty());
}

const TOKYO: &str = r#"
severities:
  P2:
    quiet_hours:
      timezone: Asia/Tokyo
      working_hours:
        - weekdays: ["monday:friday"]
          start: "09:00"
          end: "18:00"
  P3:
    digest: {timezone: Asia/Tokyo, at: "09:30"}
"#;

#[test]
fn a_p2_at_23_jst_on_friday_is_held_until_monday_09_jst() {
    // Friday 2024-06-07 13:59:30 UTC; the group flushes 30 s later at 14:00:00 UTC =
    // 23:00 JST (UTC+9, no DST).
    let clock = ManualClock::new(utc(2024, 6, 7, 13, 59, 30));
    let mut p = pipeline(SIMPLE, TOKYO);
    let a = alert("QueueBacklog", "a", "warning", clock.now());
    p.receive(a.clone(), clock.now());
    clock.set(utc(2024, 6, 7, 14, 0, 0));
    assert!(p.tick_clock(&clock).is_empty());
    assert_eq!(p.pending_messages(), 1);
    // Held through the weekend: Monday 2024-06-10 09:00 JST = 2024-06-10 00:00 UTC.
    // The 4 h repeats in between are not created while the first message is held.
    clock.set(utc(2024, 6, 9, 23, 59, 59));
    assert!(p.tick_clock(&clock).is_empty());
    assert_eq!(p.pending_messages(), 1);
    clock.set(utc(2024, 6, 10, 0, 0, 0));
    let out = p.tick_clock(&clock);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].sequence, 1);
    assert!(out[0].summary.contains(&line(&a)));
    assert_eq!(p.pending_messages(), 0);
    // The repeat interval counts from the release: the first flush strictly after
    // 04:00 UTC (flushes are at 14:00 UTC + k·5 m, so on the hour) is 04:05 UTC =
    // 13:05 JST, inside working hours.
    clock.set(utc(2024, 6, 10, 4, 4, 59));
    assert!(p.tick_clock(&clock).is_empty());
    clock.set(utc(2024, 6, 10, 4, 5, 0));
    let out = p.tick_clock(&clock);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].sequence, 2);
}

#[test]
fn p3_messages_go_out_in_a_daily_digest_at_the_local_time() {
    // Tuesday 2024-06-04 12:00 UTC = 21:00 JST and 13:00 UTC = 22:00 JST: two P3 groups.
    let clock = ManualClock::new(utc(2024, 6, 4, 12, 0, 0));
    let mut p = pipeline(SIMPLE, TOKYO);
    let a = alert("CertExpiresSoon", "a", "info", clock.now());
    p.receive(a.clone(), clock.now());
    clock.set(utc(2024, 6, 4, 13, 0, 0));
    let b = alert("DeployFinished", "b", "info", clock.now());
    p.receive(b.clone(), clock.now());
    // Flushed at 12:00:30 and 13:00:30 UTC into the digest due at the next 09:30 JST:
    // Wednesday 2024-06-05 09:30 JST = 00:30 UTC.
    clock.set(utc(2024, 6, 5, 0, 29, 59));
    assert!(p.tick_clock(&clock).is_empty());
    assert_eq!(p.pending_messages(), 2);
    clock.set(utc(2024, 6, 5, 0, 30, 0));
    let out = p.tick_clock(&clock);
    assert_eq!(out.len(), 1, "{out:#?}");
    let d = &out[0];
    assert_eq!(d.receiver, "team");
    assert_eq!(d.dedup_key, "digest|P3|team");
    assert_eq!(d.sequence, 1);
    assert_eq!(d.severity, Severity::P3);
    assert_eq!(d.title, "[P3] Digest: 2 notifications");
    assert_eq!(d.fields.len(), 2);
    assert!(d.summary.contains(&line(&a)) && d.summary.contains(&line(&b)));
    assert_eq!(d.timestamp, utc(2024, 6, 5, 0, 30, 0));
    // Still firing: the repeats (4 h after the digest, 04:30 UTC) go into Thursday's digest
    // at 2024-06-06 00:30 UTC, not before.
    clock.set(utc(2024, 6, 6, 0, 29, 59));
    assert!(p.tick_clock(&clock).is_empty());
    clock.set(utc(2024, 6, 6, 0, 30, 0));
    let out = p.tick_clock(&clock);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].sequence, 2);
}

#[test]
fn a_rate_limit_delays_and_never_drops() {
    // One message a minute, bursts of two: interval T = 60 s, tolerance τ = 60 s.
    let clock = ManualClock::new(t0());
    let mut p = pipeline(
        SIMPLE,
        "receivers: {team: {rate_limit: {messages: 1, per: 1m, burst: 2}}}\n",
    );
    for name in ["A", "B", "C", "D"] {
        p.receive(alert(name, "x", "warning", t0()), clock.now());
    }
    // All four groups flush at 10:00:30. A and B use the burst (TAT becomes 10:01:30 then
    // 10:02:30); C may go at TAT − τ = 10:01:30, D at 10:02:30.
    clock.set(utc(2024, 6, 3, 10, 0, 30));
    let titles = |ms: Vec<Message>| ms.into_iter().map(|m| m.title).collect::<Vec<_>>();
    assert_eq!(
        titles(p.tick_clock(&clock)),
        ["[P2] [FIRING:1] A", "[P2] [FIRING:1] B"]
    );
    assert_eq!(p.pending_messages(), 2);
    clock.set(utc(2024, 6, 3, 10, 1, 29));
    assert!(p.tick_clock(&clock).is_empty());
    clock.set(utc(2024, 6, 3, 10, 1, 30));
    assert_eq!(titles(p.tick_clock(&clock)), ["[P2] [FIRING:1] C"]);
    clock.set(utc(2024, 6, 3, 10, 2, 30));
    assert_eq!(titles(p.tick_clock(&clock)), ["[P2] [FIRING:1] D"]);
    assert_eq!(p.pending_messages(), 0);
}

#[test]
fn a_strategy_naming_an_unknown_receiver_is_refused() {
    let policy = NotifyPolicy::from_yaml(SIMPLE).unwrap();
    let strategy = SeverityStrategy::from_yaml("severities: {P0: {receivers: [pagr]}}").unwrap();
    let err = Pipeline::new(policy, strategy).unwrap_err();
    assert_eq!(
        err,
        NotifyError::InvalidStrategy {
            path: "severities.P0.receivers[0]".into(),
            reason: "undefined receiver \"pagr\"".into()
        }
    );
}

#[test]
fn alerts_without_end_resolve_after_the_resolve_timeout() {
    let clock = ManualClock::new(t0());
    let mut p = pipeline(SIMPLE, "receivers: {team: {send_resolved: true}}\n")
        .with_resolve_timeout(secs(120));
    // No ends_at: it ends at 10:02, reported resolved at the 10:05:30 flush.
    p.receive(TimedAlert::new([("alertname", "Once")], t0()), clock.now());
    clock.set(utc(2024, 6, 3, 10, 5, 30));
    let out = p.tick_clock(&clock);
    let statuses: Vec<_> = out.iter().map(|m| m.status).collect();
    assert_eq!(statuses, [MessageStatus::Firing, MessageStatus::Resolved]);
}

#[test]
fn a_restore_keeps_the_group_timers_or_regroups_under_a_changed_route() {
    let mut p = pipeline(SIMPLE, "");
    p.receive(alert("HighLatency", "a", "warning", t0()), t0());
    // Stopped at 10:00:10, before the group_wait (30 s) of the group made at 10:00:00.
    assert!(p.tick(t0() + TimeDelta::seconds(10)).is_empty());
    let snapshot = p.snapshot();
    assert_eq!((snapshot.group_count(), snapshot.alert_count()), (1, 1));

    // Same configuration: the group keeps its flush at 10:00:30.
    let mut same = pipeline(SIMPLE, "").restore(snapshot.clone()).unwrap();
    assert!(same.tick(t0() + TimeDelta::seconds(29)).is_empty());
    let out = same.tick(t0() + TimeDelta::seconds(30));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dedup_key, r#"{}:{alertname="HighLatency"}|team"#);

    // Grouped by instance now: no route has the old group key, so the alert joins the new
    // group as if received at the snapshot's instant 10:00:10; that group's group_wait ends
    // at 10:00:40 (the alert started 10 s before, less than group_wait ago).
    let regrouped = SIMPLE.replace("group_by: [alertname]", "group_by: [instance]");
    let mut other = pipeline(&regrouped, "").restore(snapshot).unwrap();
    assert!(other.tick(t0() + TimeDelta::seconds(39)).is_empty());
    let out = other.tick(t0() + TimeDelta::seconds(40));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].dedup_key, r#"{}:{instance="a"}|team"#);
    assert_eq!(out[0].sequence, 1);
}

mod props {
    use super::*;
    use parky_notify::policy::strategy::Delivery;
    use proptest::prelude::*;

    const ROUTING: &str = r#"
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
receivers: [{name: team}, {name: pager}]
inhibit_rules:
  - source_matchers: [alertname=Root]
    target_matchers: ['alertname!=Root']
    equal: [instance]
"#;

    const FULL: &str = r#"
severities:
  P0: {receivers: [pager], mentions: ["@here"]}
  P1: {escalate_after: 20m, escalate_to: P0}
  P2:
    quiet_hours:
      timezone: Asia/Tokyo
      working_hours: [{weekdays: ["monday:friday"], start: "09:00", end: "18:00"}]
  P3:
    digest: {timezone: Asia/Tokyo, at: "09:30"}
receivers:
  team: {send_resolved: true, rate_limit: {messages: 60, per: 1m, burst: 10}}
"#;

    const SEVERITIES: [&str; 7] = ["P0", "P1", "P2", "P3", "critical", "warning", "info"];

    #[derive(Debug, Clone)]
    struct Event {
        offset: u32,
        name: usize,
        instance: usize,
        severity: usize,
        lasts: Option<u32>,
    }

    fn events() -> impl Strategy<Value = Vec<Event>> {
        proptest::collection::vec(
            (
                0u32..6 * 3600,
                0usize..3,
                0usize..4,
                0usize..7,
                proptest::option::of(60u32..7200),
            )
                .prop_map(|(offset, name, instance, severity, lasts)| Event {
                    offset,
                    name,
                    instance,
                    severity,
                    lasts,
                }),
            1..12,
        )
        .prop_map(|mut v| {
            v.sort_by_key(|e| e.offset);
            v
        })
    }

    /// Friday 2024-06-07 08:00 UTC = 17:00 JST: the events cross quiet hours and a weekend.
    fn start() -> DateTime<Utc> {
        utc(2024, 6, 7, 8, 0, 0)
    }

    fn to_alert(e: &Event) -> (DateTime<Utc>, TimedAlert) {
        let at = start() + chrono::TimeDelta::seconds(i64::from(e.offset));
        let mut a = TimedAlert::new(
            [
                ("alertname", ["A", "B", "C"][e.name]),
                ("instance", ["i0", "i1", "i2", "i3"][e.instance]),
                ("severity", SEVERITIES[e.severity]),
            ],
            at,
        );
        if let Some(l) = e.lasts {
            a = a.ending_at(at + chrono::TimeDelta::seconds(i64::from(l)));
        }
        (at, a)
    }

    /// The configuration of [`build`], without any state.
    fn configured(strategy: &str) -> Pipeline {
        let mut p =
            pipeline(ROUTING, strategy).with_resolve_timeout(Duration::from_secs(30 * 86_400));
        // i0 is silenced for the whole run.
        p.add_silence(Silence::parse(r#"instance="i0""#, utc(2024, 6, 1, 0, 0, 0), far()).unwrap());
        p
    }

    fn build(strategy: &str) -> Pipeline {
        let mut p = configured(strategy);
        // i1 is inhibited by an ever-firing Root alert.
        p.receive(
            TimedAlert::new(
                [
                    ("alertname", "Root"),
                    ("instance", "i1"),
                    ("severity", "critical"),
                ],
                utc(2024, 6, 7, 7, 0, 0),
            )
            .ending_at(far()),
            utc(2024, 6, 7, 7, 0, 0),
        );
        p
    }

    /// Runs the events, ticking at every wakeup (or every `step` when given) up to three days
    /// after the start; returns each message with the tick that produced it.
    fn run(strategy: &str, evs: &[Event], step: Option<u64>) -> Vec<(DateTime<Utc>, Message)> {
        run_restarting(strategy, evs, step, false)
    }

    /// [`run`]; with `restart`, the pipeline is replaced before every tick by a fresh one
    /// restored from a JSON copy of its snapshot, as `parky notify serve` does on a restart.
    fn run_restarting(
        strategy: &str,
        evs: &[Event],
        step: Option<u64>,
        restart: bool,
    ) -> Vec<(DateTime<Utc>, Message)> {
        let mut p = build(strategy);
        let clock = ManualClock::new(utc(2024, 6, 7, 7, 0, 0));
        let end = start() + chrono::TimeDelta::days(3);
        let mut out = Vec::new();
        let mut pending: std::collections::VecDeque<(DateTime<Utc>, TimedAlert)> =
            evs.iter().map(to_alert).collect();
        loop {
            let next_event = pending.front().map(|(t, _)| *t);
            let next_tick = match step {
                Some(s) => Some(clock.now() + chrono::TimeDelta::seconds(s as i64)),
                None => p.next_wakeup(),
            };
            let next = match (next_event, next_tick) {
                (Some(e), Some(t)) => e.min(t),
                (e, t) => match e.or(t) {
                    Some(x) => x,
                    None => break,
                },
            };
            if next > end {
                break;
            }
            clock.set(next.max(clock.now()));
            if restart {
                let json = serde_json::to_string(&p.snapshot()).unwrap();
                let snapshot: PipelineSnapshot = serde_json::from_str(&json).unwrap();
                p = configured(strategy).restore(snapshot).unwrap();
            }
            out.extend(p.tick_clock(&clock).into_iter().map(|m| (clock.now(), m)));
            while pending.front().is_some_and(|(t, _)| *t <= clock.now()) {
                if let Some((_, a)) = pending.pop_front() {
                    p.receive(a, clock.now());
                }
            }
        }
        clock.set(end.max(clock.now()));
        out.extend(p.tick_clock(&clock).into_iter().map(|m| (clock.now(), m)));
        out
    }

    fn bound(strategy: &SeverityStrategy, ready: DateTime<Utc>) -> DateTime<Utc> {
        let mut b = ready;
        for s in Severity::ALL {
            match &strategy.rule(s).delivery {
                Delivery::QuietHours(q) => b = b.max(q.release_at(ready)),
                Delivery::Digest(d) => b = b.max(d.next_at_or_after(ready)),
                _ => {}
            }
        }
        b
    }

    proptest! {
        // A JSON round trip before every tick is slow in a debug build: fewer cases.
        #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

        #[test]
        fn a_restart_from_a_snapshot_changes_nothing(evs in events()) {
            // Restarting before every tick (and so between every receive) gives the same
            // messages at the same instants as never stopping.
            for strategy in ["", FULL] {
                prop_assert_eq!(
                    run(strategy, &evs, None),
                    run_restarting(strategy, &evs, None, true)
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn the_pipeline_is_deterministic(evs in events()) {
            for strategy in ["", FULL] {
                let a = run(strategy, &evs, None);
                prop_assert_eq!(&a, &run(strategy, &evs, None));
                // Ticking every 7 minutes instead of at every wakeup only changes when the
                // messages are collected, not which they are or their order.
                let coarse: Vec<Message> = run(strategy, &evs, Some(420)).into_iter().map(|(_, m)| m).collect();
                let fine: Vec<Message> = a.into_iter().map(|(_, m)| m).collect();
                prop_assert_eq!(fine, coarse);
            }
        }

        #[test]
        fn silenced_and_inhibited_alerts_never_appear(evs in events()) {
            for strategy in ["", FULL] {
                for (_, m) in run(strategy, &evs, None) {
                    for l in m.summary.lines() {
                        prop_assert!(!l.contains(r#"instance="i0""#), "silenced: {}", l);
                        if l.contains(r#"instance="i1""#) {
                            prop_assert!(l.contains(r#"alertname="Root""#), "inhibited: {}", l);
                        }
                    }
                }
            }
        }

        #[test]
        fn no_firing_alert_is_lost(evs in events()) {
            for strategy_text in ["", FULL] {
                let strategy = SeverityStrategy::from_yaml(strategy_text).unwrap();
                let out = run(strategy_text, &evs, None);
                // The last report of each label set decides whether it still fires.
                let mut last = std::collections::BTreeMap::new();
                for e in &evs {
                    let (at, a) = to_alert(e);
                    last.insert(a.labels.clone(), (at, a));
                }
                for (at, a) in last.values() {
                    let inst = a.labels["instance"].as_str();
                    if a.ends_at.is_some() || inst == "i0" || inst == "i1" {
                        continue;
                    }
                    // In a message by group_wait (new group) or group_interval (existing
                    // group), plus the hold of quiet hours or a digest, plus one hour of
                    // slack for the rate limit (60/min; far fewer messages here).
                    let ready = *at + chrono::TimeDelta::minutes(5);
                    let by = bound(&strategy, ready) + chrono::TimeDelta::hours(1);
                    let text = line(a);
                    prop_assert!(
                        out.iter().any(|(t, m)| *t <= by && m.summary.contains(&text)),
                        "{} received at {} not notified by {}", text, at, by
                    );
                }
            }
        }
    }
}
