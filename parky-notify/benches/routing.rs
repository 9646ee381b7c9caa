//! Routing decisions per second through a 100-route tree with regex matchers.
//!
//! The tree: a root with 10 team routes (`team="teamN"`), each with 9 service routes
//! (`service=~"svcN-[a-z]+"`, half of them with `severity=~"critical|page"` as well, some with
//! `continue: true`), i.e. 1 + 10 + 90 = 101 routes. Label sets are drawn with a fixed seed so
//! that every route is reached, and a tenth match nothing below the root.
//!
//! `cargo bench -p parky-notify --bench routing`

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{criterion_main, Criterion, Throughput};
use parky_notify::{labels_from, LabelSet, NotifyPolicy};

const TEAMS: usize = 10;
const SERVICES: usize = 9;

fn config() -> String {
    let mut yaml =
        String::from("route:\n  receiver: default\n  group_by: [alertname]\n  routes:\n");
    let mut receivers = String::from("receivers:\n  - name: default\n");
    for t in 0..TEAMS {
        let _ = write!(
            yaml,
            "    - matchers: ['team=\"team{t}\"']\n      receiver: team{t}\n      routes:\n"
        );
        let _ = writeln!(receivers, "  - name: team{t}");
        for s in 0..SERVICES {
            let severity = if s % 2 == 0 {
                ", 'severity=~\"critical|page\"'"
            } else {
                ""
            };
            let cont = if s % 3 == 0 {
                "\n          continue: true"
            } else {
                ""
            };
            let _ = write!(
                yaml,
                "        - matchers: ['service=~\"svc{s}-[a-z]+\"'{severity}]\n          receiver: team{t}-svc{s}{cont}\n"
            );
            let _ = writeln!(receivers, "  - name: team{t}-svc{s}");
        }
    }
    yaml + &receivers
}

/// SplitMix64: a fixed, documented sequence, so every run routes the same label sets.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn label_sets(n: usize) -> Vec<LabelSet> {
    let mut state = 7;
    let severities = ["critical", "page", "warning", "info"];
    let suffixes = ["api", "db", "web", "queue", "Cache"];
    (0..n)
        .map(|_| {
            let team = splitmix(&mut state) % (TEAMS as u64 + 1); // TEAMS = no team route
            let service = splitmix(&mut state) % SERVICES as u64;
            let severity = severities[(splitmix(&mut state) % 4) as usize];
            let suffix = suffixes[(splitmix(&mut state) % 5) as usize];
            labels_from([
                ("alertname", "HighErrorRate".to_owned()),
                ("team", format!("team{team}")),
                ("service", format!("svc{service}-{suffix}")),
                ("severity", severity.to_owned()),
                (
                    "instance",
                    format!("10.0.0.{}:9100", splitmix(&mut state) % 256),
                ),
            ])
        })
        .collect()
}

fn routing(c: &mut Criterion) {
    // The config is generated above and valid by construction; a failure here is a bug in the
    // benchmark, so stopping with the error is right.
    let policy = NotifyPolicy::from_yaml(&config()).expect("generated config is valid");
    let mut routes = 0;
    policy.root().walk(&mut |_| routes += 1);
    assert_eq!(routes, 1 + TEAMS + TEAMS * SERVICES);
    let sets = label_sets(4_096);
    let mut group = c.benchmark_group("routing");
    group.throughput(Throughput::Elements(sets.len() as u64));
    group.bench_function("route_101_routes_regex", |b| {
        b.iter(|| {
            let mut matched = 0usize;
            for labels in &sets {
                matched += policy.root().matches(black_box(labels)).len();
            }
            black_box(matched)
        })
    });
    group.bench_function("receivers_for_101_routes_regex", |b| {
        b.iter(|| {
            let mut matched = 0usize;
            for labels in &sets {
                matched += policy.receivers_for(black_box(labels)).len();
            }
            black_box(matched)
        })
    });
    // The allocation-free visitor behind both calls above.
    group.bench_function("for_each_match_101_routes_regex", |b| {
        b.iter(|| {
            let mut matched = 0usize;
            for labels in &sets {
                policy
                    .root()
                    .for_each_match(black_box(labels), |_| matched += 1);
            }
            black_box(matched)
        })
    });
    group.finish();
}

// `criterion_group!` generates an undocumented `pub fn benches`.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::routing);
}
criterion_main!(group::benches);
