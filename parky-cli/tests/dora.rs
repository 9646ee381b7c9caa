//! `parky dora report` and the demo's DORA stage, end to end through the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::{DateTime, Utc};
use serde_json::Value;

fn parky(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_parky"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("GITHUB_TOKEN")
        .output()
        .expect("the parky binary built by cargo runs")
}

fn json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "parky failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("parky prints one JSON document")
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .expect("an RFC 3339 string")
        .parse()
        .expect("an RFC 3339 time")
}

/// Type 7 quantile (the R / NumPy default) of a sorted sample of whole seconds at
/// `num / den`, by hand, in exact milliseconds (`den` divides 1000).
fn type7_ms(sorted: &[i64], num: usize, den: usize) -> i64 {
    let h = (sorted.len() - 1) * num;
    let (lo, frac) = (h / den, (h % den) as i64);
    let hi = if frac == 0 { lo } else { lo + 1 };
    sorted[lo] * 1000 + frac * (sorted[hi] - sorted[lo]) * (1000 / den as i64)
}

fn ms(v: &Value) -> i64 {
    (v.as_f64().expect("seconds") * 1000.0).round() as i64
}

#[test]
fn the_demo_counts_the_rolled_back_canary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let demo = json(&parky(&["demo", "--output", "json", "--out-dir", out]));
    let report = &demo["dora"]["report"];
    let history = &demo["dora"]["history"];

    // Six releases (v36..v41) succeeded in the five weeks from Monday 2026-10-05 00:00 JST,
    // and the canary v42 failed: 6 / 35 days, 6 × 7 / 35 = 1.2 a week.
    let f = &report["deployment_frequency"];
    assert_eq!(f["successful"], 6);
    assert_eq!(f["days"], 35.0);
    assert_eq!(f["per_week"], 1.2);
    // Each release on its own day: 6 days / 5 weeks.
    assert_eq!(f["deploy_days_per_week"], 1.2);
    // 1 failed of 7 completed; the page of stage 1 is linked to no deployment.
    let cfr = &report["change_failure_rate"];
    assert_eq!(cfr["failed"], 1);
    assert_eq!(cfr["completed"], 7);
    assert_eq!(cfr["rate"], 1.0 / 7.0);
    assert_eq!(cfr["incidents_without_deployment"], 1);
    // Recovered when the rollback put v41 back at 100 %: the canary started at its first
    // tick (09:00 UTC) and the rollback call was made at the 09:15 tick: 900 s.
    let ticks = demo["canary"]["ticks"].as_array().unwrap();
    let start = time(&ticks[0]["at"]);
    let rollback = ticks
        .iter()
        .find(|t| t["phase"] == "rolling_back")
        .map(|t| time(&t["at"]))
        .unwrap();
    assert_eq!((rollback - start).num_seconds(), 900);
    assert_eq!(report["recovery_time"]["summary"]["median"], 900.0);

    // Lead time by a second method: every change of a successful release, from its commit
    // to that release (no carrying is involved: the only failure has no later success).
    let deployments = history["deployments"].as_array().unwrap();
    let changes = history["changes"].as_array().unwrap();
    let mut leads: Vec<i64> = Vec::new();
    for d in deployments.iter().filter(|d| d["outcome"] == "success") {
        for commit in d["commits"].as_array().unwrap() {
            let change = changes.iter().find(|c| &c["commit"] == commit).unwrap();
            leads.push((time(&d["at"]) - time(&change["committed_at"])).num_seconds());
        }
    }
    leads.sort_unstable();
    let summary = &report["lead_time"]["summary"];
    assert_eq!(summary["count"], leads.len());
    assert_eq!(ms(&summary["median"]), type7_ms(&leads, 1, 2));
    assert_eq!(ms(&summary["p75"]), type7_ms(&leads, 3, 4));
    assert_eq!(ms(&summary["p90"]), type7_ms(&leads, 9, 10));

    // The history the demo wrote gives the same report through `parky dora report`.
    let file = Path::new(out).join("delivery-history.json");
    let again = json(&parky(&[
        "dora",
        "report",
        "--history",
        file.to_str().unwrap(),
        "--since",
        "2026-10-05",
        "--until",
        "2026-11-09",
        "--weeks",
        "5",
        "--output",
        "json",
    ]));
    for key in [
        "deployment_frequency",
        "lead_time",
        "change_failure_rate",
        "recovery_time",
        "overall",
        "trend",
    ] {
        assert_eq!(again[key], report[key], "{key}");
    }
}

#[test]
fn every_output_format_renders() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    json(&parky(&["demo", "--output", "json", "--out-dir", out]));
    let file = Path::new(out).join("delivery-history.json");
    let file = file.to_str().unwrap();
    let run = |format: &str| {
        let o = parky(&[
            "dora",
            "report",
            "--history",
            file,
            "--since",
            "2026-10-05",
            "--until",
            "2026-11-09",
            "--output",
            format,
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let text = run("text");
    assert!(
        text.contains("Change failure rate    High    14.3% (1 of 7 deployments failed)"),
        "{text}"
    );
    let markdown = run("markdown");
    assert!(markdown.contains("| Change failure rate |"), "{markdown}");
    let svg = run("svg");
    assert!(
        svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
        "{svg}"
    );
    let discord = run("discord");
    for line in discord.lines() {
        let body: Value = serde_json::from_str(line).unwrap();
        let embeds = body["embeds"].as_array().unwrap();
        assert!(!embeds.is_empty() && embeds.len() <= 10);
        assert!(embeds[0]["title"].as_str().unwrap().contains("DORA"));
    }
}

#[test]
fn the_default_window_is_twelve_local_weeks_across_a_dst_change() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    json(&parky(&["demo", "--output", "json", "--out-dir", out]));
    let file = Path::new(out).join("delivery-history.json");
    // Tuesday 2026-11-10 in Berlin: the last Monday 00:00 is 2026-11-09 00:00 CET
    // (2026-11-08 23:00 UTC); twelve weeks earlier is Monday 2026-08-17 00:00 CEST
    // (2026-08-16 22:00 UTC), summer time: 84 local days, one hour longer in UTC.
    let report = json(&parky(&[
        "dora",
        "report",
        "--history",
        file.to_str().unwrap(),
        "--tz",
        "Europe/Berlin",
        "--now",
        "2026-11-10T12:00:00Z",
        "--output",
        "json",
    ]));
    assert_eq!(report["window"]["since"], "2026-08-16T22:00:00Z");
    assert_eq!(report["window"]["until"], "2026-11-08T23:00:00Z");
    assert_eq!(report["window"]["days"], 84.0);
}

#[test]
fn bad_flags_and_inputs_name_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("history.json");
    std::fs::write(&bad, "{\"deployments\": [\n  {\"id\": 1}\n]}").unwrap();
    let typo = dir.path().join("typo.json");
    std::fs::write(
        &typo,
        r#"{"deployments": [], "changes": [], "incidents": [
  {"id": "i1", "opened_at": "2026-01-02T00:00:00Z", "resolvd_at": "2026-01-02T01:00:00Z"}]}"#,
    )
    .unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--history".into(), typo.display().to_string()],
            "unknown field `resolvd_at`",
        ),
        (
            vec!["--history".into(), bad.display().to_string()],
            "line 2",
        ),
        (
            vec!["--history".into(), "/nonexistent/h.json".into()],
            "/nonexistent/h.json",
        ),
        (vec!["--github".into(), "no-slash".into()], "--github"),
        (vec!["--github".into(), "owner/..".into()], "--github"),
        (vec!["--github".into(), "../x".into()], "--github"),
        (
            vec![
                "--history".into(),
                bad.display().to_string(),
                "--since".into(),
                "2026-01-01T00:00:00Z".into(),
                "--until".into(),
                "2026-01-01T06:00:00Z".into(),
            ],
            "at least one day",
        ),
        (vec!["--github".into(), "owner/repo".into()], "GITHUB_TOKEN"),
        (
            vec![
                "--history".into(),
                bad.display().to_string(),
                "--tz".into(),
                "Mars/Olympus".into(),
            ],
            "--tz",
        ),
        (
            vec![
                "--history".into(),
                bad.display().to_string(),
                "--year".into(),
                "2019".into(),
            ],
            "--year",
        ),
        (
            vec![
                "--history".into(),
                bad.display().to_string(),
                "--since".into(),
                "2026-02-01".into(),
                "--until".into(),
                "2026-01-01".into(),
            ],
            "--since",
        ),
        (
            vec![
                "--git".into(),
                dir.path().join("missing").display().to_string(),
            ],
            "missing",
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["dora", "report"];
        all.extend(args.iter().map(String::as_str));
        let o = parky(&all);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

fn git(dir: &Path, args: &[&str], date: &str) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .env("GIT_AUTHOR_NAME", "dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.invalid")
        .env("GIT_COMMITTER_NAME", "dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.invalid")
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

#[test]
fn a_git_history_with_a_patch_release() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git(repo, &["init", "-q", "-b", "main"], "2026-01-05T00:00:00Z");
    // Commits and lightweight tags (dated by their commits), in UTC:
    //   a Mon 01-05 01:00, b Tue 01-06 01:00 -> 1.0.0 at b
    //   c Wed 01-07 01:00                     -> 1.0.1 at c (a patch within 2 days: 1.0.0 failed)
    //   d Mon 01-12 01:00                     -> 1.1.0 at d
    let commits = [
        ("a", "2026-01-05T01:00:00Z", None),
        ("b", "2026-01-06T01:00:00Z", Some("1.0.0")),
        ("c", "2026-01-07T01:00:00Z", Some("1.0.1")),
        ("d", "2026-01-12T01:00:00Z", Some("1.1.0")),
    ];
    for (name, date, tag) in commits {
        git(repo, &["commit", "-q", "--allow-empty", "-m", name], date);
        if let Some(tag) = tag {
            git(repo, &["tag", tag], date);
        }
    }
    // A shallow clone would give wrong lead times: refused.
    let shallow = dir.path().join("shallow");
    let status = Command::new("git")
        .args(["clone", "-q", "--depth", "1"])
        .arg(format!("file://{}", repo.display()))
        .arg(&shallow)
        .status()
        .unwrap();
    assert!(status.success());
    let o = parky(&["dora", "report", "--git", shallow.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("shallow clone"));

    let report = json(&parky(&[
        "dora",
        "report",
        "--git",
        repo.to_str().unwrap(),
        "--since",
        "2026-01-05",
        "--until",
        "2026-01-19",
        "--tz",
        "UTC",
        "--output",
        "json",
    ]));
    // 3 releases, 1.0.0 failed (patched by 1.0.1 a day later): 2 successful, CFR 1/3.
    assert_eq!(report["deployment_frequency"]["successful"], 2);
    assert_eq!(report["change_failure_rate"]["failed"], 1);
    assert_eq!(report["change_failure_rate"]["completed"], 3);
    // Recovery 1.0.0 -> 1.0.1: 24 h.
    assert_eq!(report["recovery_time"]["summary"]["median"], 86_400.0);
    // Lead times: a and b ride the failed 1.0.0 and ship with 1.0.1 (c's time): 48 h and
    // 24 h; c: 0 h; d: 0 h. Sorted 0, 0, 24, 48 h: median (0 + 24) / 2 = 12 h.
    assert_eq!(report["lead_time"]["summary"]["count"], 4);
    assert_eq!(report["lead_time"]["summary"]["median"], 43_200.0);

    // A tag pattern that matches nothing gives no deployment, and the report says so.
    let none = json(&parky(&[
        "dora",
        "report",
        "--git",
        repo.to_str().unwrap(),
        "--tag-pattern",
        "^release-",
        "--since",
        "2026-01-05",
        "--until",
        "2026-01-19",
        "--output",
        "json",
    ]));
    assert_eq!(none["change_failure_rate"]["completed"], 0);
    assert!(none["notes"][0]
        .as_str()
        .unwrap()
        .starts_with("No completed deployment to the environment in the window"));
}

fn shared_data() -> PathBuf {
    PathBuf::from(std::env::var_os("PARKY_SHARED_DATA").expect(
        "PARKY_SHARED_DATA is not set: point it at ../shared/data (bash .ci/run does) to run this test",
    ))
}

fn git_out(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "git {args:?}");
    String::from_utf8(o.stdout).unwrap()
}

#[test]
#[ignore = "needs PARKY_SHARED_DATA"]
fn the_flagger_history_by_git_and_by_parky() {
    let bundle = shared_data().join("git/flagger-history.bundle");
    let dir = tempfile::tempdir().unwrap();
    let clone = dir.path().join("flagger");
    let status = Command::new("git")
        .args(["clone", "-q"])
        .arg(&bundle)
        .arg(&clone)
        .status()
        .unwrap();
    assert!(status.success());
    let report = json(&parky(&[
        "dora",
        "report",
        "--git",
        clone.to_str().unwrap(),
        "--since",
        "2018-01-01",
        "--until",
        "2026-08-03",
        "--output",
        "json",
    ]));

    // Releases by git: tags X.Y.Z or vX.Y.Z without a pre-release suffix, with their dates.
    let refs = git_out(
        &clone,
        &[
            "for-each-ref",
            "refs/tags",
            "--format=%(refname:short) %(creatordate:unix)",
        ],
    );
    let re = regex_lite_release;
    let mut releases: Vec<((u64, u64, u64), i64)> = refs
        .lines()
        .filter_map(|l| {
            let (tag, when) = l.split_once(' ')?;
            Some((re(tag)?, when.parse().ok()?))
        })
        .collect();
    releases.sort();
    // Patch rule by hand: X.Y.Z is followed by X.Y.(Z+1) within 2 days (172,800 s).
    let failed = releases
        .iter()
        .filter(|((x, y, z), at)| {
            releases.iter().any(|((a, b, c), t)| {
                a == x && b == y && *c == z + 1 && t - at <= 172_800 && t >= at
            })
        })
        .count();
    let cfr = &report["change_failure_rate"];
    assert_eq!(cfr["completed"], releases.len());
    assert_eq!(cfr["failed"], failed);
    assert_eq!(
        report["deployment_frequency"]["successful"],
        releases.len() - failed
    );
    // Every commit reachable from the newest release ships inside the window.
    let newest = git_out(&clone, &["tag", "--sort=-creatordate"]);
    let newest = newest.lines().find(|t| re(t).is_some()).unwrap();
    let commits: usize = git_out(&clone, &["rev-list", "--count", newest])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(report["lead_time"]["summary"]["count"], commits);
}

/// `X.Y.Z` or `vX.Y.Z` (no pre-release suffix) as numbers.
fn regex_lite_release(tag: &str) -> Option<(u64, u64, u64)> {
    let v = tag.strip_prefix('v').unwrap_or(tag);
    let mut parts = v.split('.');
    let x = parts.next()?.parse().ok()?;
    let y = parts.next()?.parse().ok()?;
    let z = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((x, y, z))
}
