//! Differential test: `parky_slo::latency::Histogram::quantile` against the real PromQL
//! `histogram_quantile`, evaluated by `promtool test rules`.
//!
//! Random histograms (fixed seed) over several bucket layouts — the Prometheus client default,
//! Parky's web layout, layouts whose first bound is negative or exactly 0, a single finite
//! bucket, and random bounds — are written as `x_bucket{le="…",h="<n>"}` input series of one
//! promtool unit-test file. Every quantile Parky computes becomes an `exp_samples` value, and
//! promtool must agree on all of them. Values are written with Rust's shortest round-trip
//! formatting, which Go parses back to the same `f64`; promtool 2.42 compares exactly (newer
//! versions use a small epsilon), so agreement here is bit-for-bit. A NaN cannot be written as
//! an expected value that compares equal, so NaN cases assert `q != bool q` (1 only for NaN).
//!
//! Run with: `cargo test -p parky-slo --test latency_promtool -- --ignored`
//! (needs `promtool` on `PATH`, or its path in `PROMTOOL`; Debian: `apt-get install prometheus`).

use std::fmt::Write as _;
use std::process::Command;

use parky_slo::latency::{Histogram, PROMETHEUS_DEFAULT_BUCKETS, WEB_LATENCY_BUCKETS};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// Number of random histograms (the brief asks for at least 200).
const HISTOGRAMS: usize = 240;

/// The promtool binary: `$PROMTOOL` or `promtool` from `PATH`.
fn promtool() -> String {
    std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".to_owned())
}

/// A float as promtool's YAML (go-yaml) and PromQL parse it back to the same `f64`.
fn yaml_float(v: f64) -> String {
    if v == f64::INFINITY {
        "+.inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-.inf".to_owned()
    } else {
        // Shortest representation that round-trips; never uses an exponent.
        format!("{v}")
    }
}

/// One bucket layout for the next histogram.
fn layout(rng: &mut Xoshiro256PlusPlus, n: usize) -> Vec<f64> {
    match n % 6 {
        0 => PROMETHEUS_DEFAULT_BUCKETS.to_vec(),
        1 => WEB_LATENCY_BUCKETS.to_vec(),
        // First bound below 0: the "first bucket <= 0" rule.
        2 => vec![-0.5, 0.0, 0.001, 0.3, 1.0],
        // First bound exactly 0.
        3 => vec![0.0, 0.1, 0.2, 0.3, 0.7],
        // A single finite bucket (2 buckets in all, the minimum with quantiles).
        4 => vec![0.25],
        // Random strictly increasing bounds, sometimes starting below 0.
        _ => {
            let len = rng.random_range(1..12_usize);
            let mut bound: f64 = rng.random_range(-0.2..0.05);
            let mut bounds = Vec::with_capacity(len);
            for _ in 0..len {
                bounds.push(bound);
                bound += rng.random_range(0.0001..1.5);
            }
            bounds
        }
    }
}

/// Per-bucket counts: a mix of empty histograms, sparse ones, large counts, and everything in
/// the `+Inf` bucket.
fn counts(rng: &mut Xoshiro256PlusPlus, buckets: usize) -> Vec<u64> {
    match rng.random_range(0..10_u32) {
        0 => vec![0; buckets],
        1 => {
            let mut counts = vec![0; buckets];
            if let Some(last) = counts.last_mut() {
                *last = rng.random_range(1..100);
            }
            counts
        }
        2 => (0..buckets)
            .map(|_| rng.random_range(0..1_000_000))
            .collect(),
        _ => (0..buckets)
            .map(|_| {
                if rng.random_bool(0.4) {
                    0
                } else {
                    rng.random_range(1..50)
                }
            })
            .collect(),
    }
}

/// Quantiles to ask for: the fixed ones, two random ones, and sometimes out-of-range ones.
fn quantiles(rng: &mut Xoshiro256PlusPlus) -> Vec<f64> {
    let mut qs = vec![0.0, 0.5, 0.9, 0.99, 1.0];
    qs.push(rng.random_range(0.0..1.0));
    qs.push(rng.random_range(0.0..1.0));
    if rng.random_bool(0.1) {
        qs.push(-0.25);
        qs.push(1.5);
    }
    qs
}

#[derive(Debug, Default)]
struct Coverage {
    expectations: usize,
    nan: usize,
    inf_bucket_rule: usize,
    first_bucket_at_or_below_zero_rule: usize,
    interpolated: usize,
}

#[test]
#[ignore = "needs promtool"]
fn histogram_quantile_matches_promtool() {
    let promtool = promtool();
    match Command::new(&promtool).arg("--version").output() {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!(
            "`{promtool} --version` failed ({}); this test needs a working promtool \
             (Debian: `apt-get install -y prometheus`, or set PROMTOOL)",
            output.status
        ),
        Err(error) => panic!(
            "promtool not found (`{promtool}`: {error}); this test needs it on PATH \
             (Debian: `apt-get install -y prometheus`) or its path in PROMTOOL"
        ),
    }

    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0x5EED_1A7E_4C1E);
    let mut series = String::new();
    let mut tests = String::new();
    let mut coverage = Coverage::default();

    for h in 0..HISTOGRAMS {
        let bounds = layout(&mut rng, h);
        let per_bucket = counts(&mut rng, bounds.len() + 1);
        let histogram = Histogram::from_counts(&bounds, &per_bucket)
            .unwrap_or_else(|e| panic!("generated an invalid histogram {bounds:?}: {e}"));
        let cumulative = histogram.cumulative_counts();
        let les = bounds.iter().copied().chain([f64::INFINITY]);
        for (le, count) in les.zip(&cumulative) {
            let le = if le == f64::INFINITY {
                "+Inf".to_owned()
            } else {
                yaml_float(le)
            };
            writeln!(
                series,
                "      - series: 'x_bucket{{le=\"{le}\",h=\"{h}\"}}'\n        values: '{count}'"
            )
            .expect("writing to a String cannot fail");
        }

        let total = histogram.count() as f64;
        let last_finite = cumulative
            .len()
            .checked_sub(2)
            .and_then(|i| cumulative.get(i));
        for q in quantiles(&mut rng) {
            let expected = histogram.quantile(q);
            let query = format!(
                "histogram_quantile({}, x_bucket{{h=\"{h}\"}})",
                yaml_float(q)
            );
            coverage.expectations += 1;
            if expected.is_nan() {
                coverage.nan += 1;
                // Only NaN is unequal to itself; `!= bool` yields 1 for it and 0 otherwise.
                write!(
                    tests,
                    "      - expr: '{query} != bool {query}'\n        eval_time: 0m\n        \
                     exp_samples:\n          - labels: '{{h=\"{h}\"}}'\n            value: 1\n"
                )
                .expect("writing to a String cannot fail");
                continue;
            }
            // Independent classification of which branch of bucketQuantile applies.
            if (0.0..=1.0).contains(&q) {
                let rank = q * total;
                if last_finite.is_some_and(|&c| (c as f64) < rank) {
                    coverage.inf_bucket_rule += 1;
                } else if bounds.first().is_some_and(|&b| b <= 0.0)
                    && cumulative.first().is_some_and(|&c| (c as f64) >= rank)
                {
                    coverage.first_bucket_at_or_below_zero_rule += 1;
                } else {
                    coverage.interpolated += 1;
                }
            }
            write!(
                tests,
                "      - expr: '{query}'\n        eval_time: 0m\n        exp_samples:\n          \
                 - labels: '{{h=\"{h}\"}}'\n            value: {}\n",
                yaml_float(expected)
            )
            .expect("writing to a String cannot fail");
        }
    }

    // Make sure the random cases exercise every branch, so agreement means something.
    assert!(coverage.expectations >= 1000, "{coverage:?}");
    assert!(coverage.nan >= 10, "{coverage:?}");
    assert!(coverage.inf_bucket_rule >= 20, "{coverage:?}");
    assert!(
        coverage.first_bucket_at_or_below_zero_rule >= 20,
        "{coverage:?}"
    );
    assert!(coverage.interpolated >= 200, "{coverage:?}");

    let file = format!(
        "rule_files: []\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n\
         {series}    promql_expr_test:\n{tests}"
    );
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let path = dir.path().join("histogram_quantile_test.yml");
    std::fs::write(&path, &file).expect("write the promtool test file");

    let output = Command::new(&promtool)
        .arg("test")
        .arg("rules")
        .arg(&path)
        .output()
        .expect("run promtool");
    if !output.status.success() {
        let kept = dir.keep();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let excerpt = |s: &str| s.chars().take(8_000).collect::<String>();
        panic!(
            "promtool disagrees with parky ({coverage:?}); test file kept in {}\n\
             --- stdout ---\n{}\n--- stderr ---\n{}",
            kept.display(),
            excerpt(&stdout),
            excerpt(&stderr)
        );
    }
    eprintln!(
        "promtool agreed on {} quantiles of {HISTOGRAMS} histograms: {coverage:?}",
        coverage.expectations
    );
}
