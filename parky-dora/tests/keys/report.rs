//! Reports: JSON shape and round trip, text, Markdown, Discord limits, the SVG chart.
//!
//! Set `PARKY_DORA_SAMPLE_DIR` to write the sample report in every format to that directory
//! (to look at the chart).

use std::num::NonZeroUsize;

use chrono::{DateTime, TimeDelta, Utc};
use parky_dora::model::{Change, DeliveryHistory, Deployment, DeploymentOutcome, Incident};
use parky_dora::policy::{parse_tz, Cluster, KeysPolicy, ReportYear, Window};
use parky_dora::report::{DoraReport, ReportOptions};
use serde_json::Value;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().expect("a valid RFC 3339 instant in the test")
}

fn tokyo(since: &str, weeks: i64) -> KeysPolicy {
    let since = t(since);
    KeysPolicy::new(
        Window::new(
            since,
            since + TimeDelta::weeks(weeks),
            parse_tz("Asia/Tokyo").expect("Asia/Tokyo"),
        )
        .expect("a window"),
    )
}

fn deployment(id: &str, at: DateTime<Utc>, outcome: DeploymentOutcome, commit: &str) -> Deployment {
    Deployment {
        id: id.to_owned(),
        service: "api".to_owned(),
        environment: "production".to_owned(),
        commit: commit.to_owned(),
        at,
        outcome,
        commits: vec![commit.to_owned()],
    }
}

fn change(commit: &str, at: DateTime<Utc>) -> Change {
    Change {
        commit: commit.to_owned(),
        authored_at: at,
        committed_at: at,
        pull_request: None,
        merged_at: None,
    }
}

/// The small history of the crate docs' example: week of 2024-06-03 in Tokyo.
/// d1 ships a (2 h), d2 fails with b, d3 ships b (6 h) and c (1 h): lead times 1, 2, 6 h
/// (median 2 h, p75 h = 1.5 → 4 h, p90 h = 1.8 → 5 h 12 m); CFR 1/3; recovery 2 h.
fn small() -> DeliveryHistory {
    DeliveryHistory {
        deployments: vec![
            deployment(
                "d1",
                t("2024-06-03T01:00:00Z"),
                DeploymentOutcome::Success,
                "a",
            ),
            deployment(
                "d2",
                t("2024-06-04T01:00:00Z"),
                DeploymentOutcome::Failure,
                "b",
            ),
            deployment(
                "d3",
                t("2024-06-04T03:00:00Z"),
                DeploymentOutcome::Success,
                "c",
            ),
        ],
        changes: vec![
            change("a", t("2024-06-02T23:00:00Z")),
            change("b", t("2024-06-03T21:00:00Z")),
            change("c", t("2024-06-04T02:00:00Z")),
        ],
        incidents: vec![Incident {
            id: "i1".to_owned(),
            opened_at: t("2024-06-05T00:00:00Z"),
            resolved_at: None,
            deployment: None,
        }],
    }
}

fn small_report() -> DoraReport {
    DoraReport::build(
        &small(),
        &tokyo("2024-06-02T15:00:00Z", 1),
        &ReportOptions::default(),
    )
    .expect("a valid history")
}

/// Twelve weeks with a pattern: more deploys as the weeks go, a failure every few weeks.
fn twelve_weeks() -> DeliveryHistory {
    let start = t("2024-04-01T00:00:00Z"); // Monday 09:00 JST
    let mut h = DeliveryHistory::default();
    let mut n = 0;
    for week in 0..12_i64 {
        let deploys = 1 + week / 2;
        for k in 0..deploys {
            let at = start + TimeDelta::weeks(week) + TimeDelta::hours(26 * k + 2);
            let id = format!("w{week}d{k}");
            let fails = (week + k) % 5 == 3;
            let outcome = if fails {
                DeploymentOutcome::Failure
            } else {
                DeploymentOutcome::Success
            };
            let mut commits = Vec::new();
            for c in 0..3 {
                let commit = format!("c{n}");
                n += 1;
                let lead = TimeDelta::hours(2 + (week * 7 + c * 5 + k * 3) % 40);
                h.changes.push(change(&commit, at - lead));
                commits.push(commit);
            }
            let mut d = deployment(&id, at, outcome, commits.last().map_or("", String::as_str));
            d.commits = commits;
            h.deployments.push(d);
            if week % 4 == 1 && k == 0 {
                h.incidents.push(Incident {
                    id: format!("inc{week}"),
                    opened_at: at + TimeDelta::minutes(30),
                    resolved_at: Some(at + TimeDelta::hours(3 + week)),
                    deployment: Some(id.clone()),
                });
            }
        }
    }
    h
}

#[test]
fn json_shape_and_round_trip() {
    let r = small_report();
    let json = r.to_json().expect("json");
    let v: Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(v["year"], 2024);
    assert_eq!(v["window"]["tz"], "Asia/Tokyo");
    assert_eq!(v["window"]["since"], "2024-06-02T15:00:00Z");
    assert_eq!(v["window"]["days"], 7.0);
    assert_eq!(v["environment"], "production");
    // 2 successes in 7 days: 2/7 a day → "between once per day and once per week": High.
    assert_eq!(v["deployment_frequency"]["successful"], 2);
    assert_eq!(v["deployment_frequency"]["per_week"], 2.0);
    assert_eq!(v["deployment_frequency"]["class"], "high");
    // Lead times 1 h, 2 h, 6 h: median 7,200 s; p75 4 h = 14,400 s; p90 5 h 12 m = 18,720 s.
    assert_eq!(v["lead_time"]["summary"]["count"], 3);
    assert_eq!(v["lead_time"]["summary"]["median"], 7_200.0);
    assert_eq!(v["lead_time"]["summary"]["p75"], 14_400.0);
    assert_eq!(v["lead_time"]["summary"]["p90"], 18_720.0);
    assert_eq!(v["lead_time"]["from"], "committed");
    assert_eq!(v["lead_time"]["class"], "elite");
    assert_eq!(v["change_failure_rate"]["failed"], 1);
    assert_eq!(v["change_failure_rate"]["completed"], 3);
    assert_eq!(v["change_failure_rate"]["incidents_without_deployment"], 1);
    assert_eq!(v["change_failure_rate"]["class"], "low");
    assert_eq!(v["recovery_time"]["summary"]["median"], 7_200.0);
    assert_eq!(v["recovery_time"]["class"], "high");
    assert_eq!(v["overall"], "low");
    assert_eq!(v["keys_classified"], 4);
    assert_eq!(v["trend"][0]["week"], "2024-06-03");
    assert_eq!(v["trend"][0]["lead_time_median"], 7_200.0);
    assert_eq!(
        v["notes"],
        serde_json::json!([
            "1 incident is linked to no deployment: not in the change failure rate."
        ])
    );
    let back: DoraReport = serde_json::from_str(&json).expect("reads back");
    assert_eq!(back, r);
}

#[test]
fn text_and_markdown() {
    let r = small_report();
    let text = r.to_text();
    assert!(text.starts_with("DORA four keys — production\n"), "{text}");
    assert!(text.contains("Window:   2024-06-03 00:00 to 2024-06-10 00:00 (Asia/Tokyo, 7 days)"));
    assert!(text.contains("Overall:  Low (the weakest of 4 classified keys)"));
    assert!(text.contains(
        "Lead time for changes  Elite   median 2h 0m, p75 4h 0m, p90 5h 12m (3 changes)"
    ));
    assert!(text.contains("Recovery time          High    median 2h 0m (1 recovered)"));
    assert!(
        text.contains("- 1 incident is linked to no deployment: not in the change failure rate.")
    );
    let md = r.to_markdown();
    assert!(
        md.contains("| Change failure rate | Low | 33.3% (1 of 3 deployments failed) |"),
        "{md}"
    );
    assert!(
        md.contains("| 2024-06-03 | 2 | 2 | 2h 0m | 33.3% (1/3) | 2h 0m |"),
        "{md}"
    );
}

#[test]
fn trend_keeps_the_last_weeks() {
    let policy = tokyo("2024-03-31T15:00:00Z", 12);
    let options = ReportOptions {
        trend_weeks: NonZeroUsize::new(4).expect("4 > 0"),
        year: ReportYear::Y2023,
        ..ReportOptions::default()
    };
    let r = DoraReport::build(&twelve_weeks(), &policy, &options).expect("valid");
    let weeks: Vec<String> = r.trend.iter().map(|w| w.week.to_string()).collect();
    // Twelve weeks from Monday 04-01: the last is 04-01 + 11 weeks = 06-17.
    assert_eq!(
        weeks,
        ["2024-05-27", "2024-06-03", "2024-06-10", "2024-06-17"]
    );
    assert_eq!(r.year, ReportYear::Y2023);
    assert!(r.source.contains("2023"));
}

#[test]
fn discord_payloads_respect_the_limits() {
    let mut r = small_report();
    let payloads = r.to_discord_payloads("dora");
    assert_eq!(payloads.len(), 1);
    let embed = &payloads[0].embeds[0];
    assert_eq!(
        embed.title.as_deref(),
        Some("DORA weekly: Low · DORA four keys · production")
    );
    let names: Vec<&str> = embed.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Deployment frequency — High",
            "Lead time for changes — Elite",
            "Change failure rate — Low",
            "Recovery time — High",
            "Notes"
        ]
    );
    let message = r.to_discord_message("dora");
    assert_eq!(message.severity, parky_notify::Severity::P3);
    assert!(message.mentions.is_empty());

    // A huge title and a year of weeks still fit every limit.
    r.title = "x".repeat(5_000);
    r.trend = std::iter::repeat_n(r.trend[0].clone(), 300).collect();
    for p in r.to_discord_payloads("dora") {
        assert!(p.embeds.len() <= 10);
        assert!(p.embed_chars() <= 6_000);
        for e in &p.embeds {
            assert!(e.title.as_deref().map_or(0, |t| t.chars().count()) <= 256);
            assert!(e.description.as_deref().map_or(0, |t| t.chars().count()) <= 4_096);
            assert!(e.fields.len() <= 25);
        }
    }
}

#[test]
fn svg_chart_has_four_labelled_panels() {
    let policy = tokyo("2024-03-31T15:00:00Z", 12);
    let r = DoraReport::build(&twelve_weeks(), &policy, &ReportOptions::default()).expect("valid");
    let svg = r.to_svg().expect("svg");
    assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
    for text in [
        "Deployment frequency · ",
        "Lead time for changes · ",
        "Change failure rate · ",
        "Recovery time · ",
        "successful deploys per week",
        "failed deployments (%)",
        "week starting (MM-DD)",
        "04-01",
        "06-17",
    ] {
        assert!(svg.contains(text), "missing {text}");
    }
    assert!(!svg.contains("NaN"));

    // An empty window still draws, with "no data" panels.
    let empty = DoraReport::build(
        &DeliveryHistory::default(),
        &tokyo("2024-06-02T15:00:00Z", 2),
        &ReportOptions::default(),
    )
    .expect("valid");
    assert_eq!(empty.overall, Cluster::Low);
    let svg = empty.to_svg().expect("svg");
    assert!(svg.contains("no data in these weeks"));
    assert!(!svg.contains("NaN"));

    // A single week draws too.
    let one = small_report().to_svg().expect("svg");
    assert!(one.contains("06-03") && !one.contains("NaN"));

    if let Some(dir) = std::env::var_os("PARKY_DORA_SAMPLE_DIR") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("sample dir");
        std::fs::write(dir.join("dora.svg"), r.to_svg().expect("svg")).expect("write");
        std::fs::write(dir.join("dora-empty.svg"), empty.to_svg().expect("svg")).expect("write");
        std::fs::write(dir.join("dora.txt"), r.to_text()).expect("write");
        std::fs::write(dir.join("dora.md"), r.to_markdown()).expect("write");
        std::fs::write(dir.join("dora.json"), r.to_json().expect("json")).expect("write");
        let payloads = serde_json::to_string_pretty(&r.to_discord_payloads("dora")).expect("json");
        std::fs::write(dir.join("dora-discord.json"), payloads).expect("write");
    }
}
