//! Parky's routing against the real thing: `amtool config routes test` from Alertmanager.
//!
//! Run with `cargo test -p parky-notify -- --include-ignored`; it needs `amtool` on `PATH`
//! (Debian package `prometheus-alertmanager`, which `.ci/run` installs). Each of several
//! configurations gets a few hundred label sets drawn from a fixed seed, from vocabularies
//! chosen so that every leaf route, the root fallback and `continue` are all exercised; the
//! receiver lists printed by amtool (comma-separated, in routing order) must equal Parky's.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use parky_notify::{LabelSet, NotifyPolicy};

/// Label sets per configuration.
const SETS_PER_CONFIG: usize = 300;
/// Parallel amtool processes.
const WORKERS: usize = 4;

const CONFIGS: &[(&str, &str)] = &[
    (
        "nested-continue-regex",
        r#"
route:
  receiver: default
  group_by: [alertname, cluster]
  routes:
    - matchers: ['team="db"']
      receiver: db
      group_by: ['...']
      routes:
        - matchers: ['severity=~"page|critical"']
          receiver: db-pager
          continue: true
        - matchers: ['env!="prod"']
          receiver: db-nonprod
        - matchers: ['severity="page"']
          receiver: db-page-late
    - matchers: ['service=~"api.*"']
      receiver: api
      continue: true
      routes:
        - matchers: ['env=~"prod|prod-eu"', 'severity!~"info|warning"']
          receiver: api-prod-urgent
    - matchers: ['team!~"db|web"', 'severity="critical"']
      receiver: not-db-web-critical
      continue: true
    - matchers: ['team="web"']
      receiver: web
    - matchers: ['severity="warning"']
      receiver: warnings
receivers:
  - name: default
  - name: db
  - name: db-pager
  - name: db-nonprod
  - name: db-page-late
  - name: api
  - name: api-prod-urgent
  - name: not-db-web-critical
  - name: web
  - name: warnings
"#,
    ),
    (
        "legacy-match-and-lists",
        r#"
route:
  receiver: fallback
  routes:
    - match:
        team: infra
      match_re:
        service: 'db\d+|web\d'
      receiver: infra-numbered
    - match_re:
        env: 'prod.*'
      receiver: prod-any
      continue: true
    - matchers: ['{team="api", severity=~"page|critical",}']
      receiver: api-urgent
    - matchers: ['team=web, env!=prod', 'severity!=info']
      receiver: web-nonprod
    - match:
        severity: info
      receiver: info
      continue: true
    - matchers: [code=~"5.."]
      receiver: server-errors
receivers:
  - name: fallback
  - name: infra-numbered
  - name: prod-any
  - name: api-urgent
  - name: web-nonprod
  - name: info
  - name: server-errors
"#,
    ),
    (
        "deep-inherit-and-empty-values",
        r#"
route:
  receiver: root
  routes:
    - matchers: ['env=~"prod|staging"']
      continue: true
      routes:
        - matchers: ['team="db"']
          receiver: db-live
          routes:
            - matchers: ['severity="page"']
              continue: true
            - matchers: ['severity=~"page|critical"']
              receiver: db-live-urgent
        - matchers: ['team=""']
          receiver: unowned-live
    - matchers: ['service!~".+"']
      receiver: no-service
      continue: true
    - matchers: ['env=""', 'team=~"(?i)DB|WEB"']
      receiver: envless-db-web
    - matchers: ['alertname="B"']
      receiver: b-alerts
      routes:
        - matchers: ['team!=""']
          receiver: b-owned
          continue: true
        - matchers: ['code!~"4\\d\\d"']
          receiver: b-not-4xx
receivers:
  - name: root
  - name: db-live
  - name: db-live-urgent
  - name: unowned-live
  - name: no-service
  - name: envless-db-web
  - name: b-alerts
  - name: b-owned
  - name: b-not-4xx
"#,
    ),
    (
        "continue-everywhere",
        r#"
route:
  receiver: r0
  routes:
    - matchers: ['severity=~"critical|page"']
      receiver: r1
      continue: true
      routes:
        - matchers: ['team="db"']
          receiver: r2
          continue: true
        - matchers: ['team=~"db|api"']
          receiver: r3
          continue: true
        - matchers: ['env="prod"']
          receiver: r4
    - matchers: ['team=~"d.*"']
      receiver: r5
      continue: true
    - matchers: ['service=~"web[0-9]?"']
      receiver: r6
      continue: true
    - matchers: ['env!="dev"', 'env!="staging"']
      receiver: r7
receivers:
  - name: r0
  - name: r1
  - name: r2
  - name: r3
  - name: r4
  - name: r5
  - name: r6
  - name: r7
"#,
    ),
];

/// Label vocabularies; `None` leaves the label out, `Some("")` passes an empty value.
const VOCAB: &[(&str, &[Option<&str>])] = &[
    (
        "team",
        &[
            Some("db"),
            Some("web"),
            Some("api"),
            Some("infra"),
            Some("dbx"),
            Some("DB"),
            Some(""),
            None,
            None,
        ],
    ),
    (
        "severity",
        &[
            Some("page"),
            Some("critical"),
            Some("warning"),
            Some("info"),
            None,
        ],
    ),
    (
        "env",
        &[
            Some("prod"),
            Some("prod-eu"),
            Some("staging"),
            Some("dev"),
            None,
        ],
    ),
    (
        "service",
        &[
            Some("api"),
            Some("api-gw"),
            Some("web"),
            Some("web1"),
            Some("db7"),
            Some("db"),
            None,
            None,
        ],
    ),
    ("alertname", &[Some("A"), Some("B"), None]),
    (
        "code",
        &[Some("500"), Some("503"), Some("404"), Some("5xx"), None],
    ),
];

/// SplitMix64: a fixed, dependency-free generator, so the drawn sets never change.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        // n is tiny; the modulo bias is irrelevant for test data.
        (self.next() % n as u64) as usize
    }
}

fn draw_label_sets(seed: u64, n: usize) -> Vec<LabelSet> {
    let mut rng = SplitMix64(seed);
    (0..n)
        .map(|_| {
            VOCAB
                .iter()
                .filter_map(|(name, values)| {
                    values[rng.below(values.len())].map(|v| ((*name).to_owned(), v.to_owned()))
                })
                .collect()
        })
        .collect()
}

fn find_amtool() -> PathBuf {
    if let Some(p) = std::env::var_os("PARKY_AMTOOL") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("amtool"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "amtool not found on PATH (nor PARKY_AMTOOL set). This differential test needs \
                 Alertmanager's amtool: on Debian run `apt-get install -y prometheus-alertmanager` \
                 (with a policy-rc.d that exits 101 so the daemon is not started), as .ci/run does."
            )
        })
}

fn amtool_receivers(amtool: &Path, config: &Path, labels: &LabelSet) -> Vec<String> {
    let out = Command::new(amtool)
        .arg("config")
        .arg("routes")
        .arg("test")
        .arg(format!("--config.file={}", config.display()))
        .args(labels.iter().map(|(k, v)| format!("{k}={v}")))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", amtool.display()));
    assert!(
        out.status.success(),
        "amtool failed ({}) for {labels:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.trim();
    if line.is_empty() {
        Vec::new()
    } else {
        line.split(',').map(str::to_owned).collect()
    }
}

#[test]
#[ignore = "needs amtool"]
fn routing_matches_amtool() {
    let amtool = find_amtool();
    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();

    // (config index, label set) jobs, with Parky's answer computed up front.
    let mut jobs = Vec::new();
    let mut config_paths = Vec::new();
    for (ci, (name, yaml)) in CONFIGS.iter().enumerate() {
        let policy = NotifyPolicy::from_yaml(yaml)
            .unwrap_or_else(|e| panic!("config {name} does not load in Parky: {e}"));
        let path = dir.path().join(format!("{name}.yml"));
        std::fs::write(&path, yaml).expect("write config");
        let check = Command::new(&amtool)
            .arg("check-config")
            .arg(&path)
            .output()
            .expect("run amtool check-config");
        assert!(
            check.status.success(),
            "amtool refuses config {name}: {}",
            String::from_utf8_lossy(&check.stdout)
        );
        config_paths.push(path);

        let sets = draw_label_sets(0x5EED_0000 + ci as u64, SETS_PER_CONFIG);
        // Every leaf route must be reached, plus the root fallback and a multi-receiver
        // result (continue), or the comparison proves less than it claims.
        let mut leaves = BTreeSet::new();
        policy.root().walk(&mut |r| {
            if r.routes().is_empty() {
                leaves.insert(r.path().to_owned());
            }
        });
        let mut reached = BTreeSet::new();
        let mut saw_root = false;
        let mut saw_multi = false;
        for labels in sets {
            let routes = policy.route(&labels);
            saw_root |= routes.len() == 1 && routes[0].path == "route";
            saw_multi |= routes.len() > 1;
            reached.extend(routes.iter().map(|r| r.path.clone()));
            let expected: Vec<String> = routes.into_iter().map(|r| r.receiver).collect();
            jobs.push((ci, labels, expected));
        }
        let missed: Vec<_> = leaves.difference(&reached).collect();
        assert!(
            missed.is_empty(),
            "config {name}: leaf routes never reached: {missed:?}"
        );
        assert!(
            saw_root,
            "config {name}: no label set fell back to the root"
        );
        assert!(
            saw_multi,
            "config {name}: no label set reached several routes"
        );
    }

    let total = jobs.len();
    assert!(total >= 1000, "only {total} label sets");
    let queue = Mutex::new(jobs.into_iter().enumerate());
    let mismatches = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| loop {
                let job = queue.lock().expect("queue lock").next();
                let Some((_, (ci, labels, expected))) = job else {
                    break;
                };
                let got = amtool_receivers(&amtool, &config_paths[ci], &labels);
                if got != expected {
                    mismatches.lock().expect("mismatch lock").push(format!(
                        "config {}: labels {labels:?}: amtool {got:?}, parky {expected:?}",
                        CONFIGS[ci].0
                    ));
                }
            });
        }
    });
    let mismatches = mismatches.into_inner().expect("mismatch lock");
    eprintln!(
        "amtool differential: {total} label sets over {} configs in {:.1?}, {} mismatches",
        CONFIGS.len(),
        started.elapsed(),
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {total} label sets route differently:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The drawn label sets are fixed by the seed (the differential result is reproducible).
#[test]
fn label_sets_are_reproducible() {
    assert_eq!(draw_label_sets(7, 50), draw_label_sets(7, 50));
    assert_ne!(draw_label_sets(7, 50), draw_label_sets(8, 50));
}
