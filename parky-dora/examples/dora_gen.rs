//! Writes a synthetic delivery history as three CSV files, for the side-by-side benchmark
//! with DuckDB (`scripts/bench-dora.sh`).
//!
//! ```text
//! cargo run --release -p parky-dora --example dora_gen -- OUT_DIR [DEPLOYMENTS] [CHANGES] [SEED]
//! ```
//!
//! Defaults: 1,000,000 deployments, 10,000,000 changes, seed 42. The same arguments always
//! write the same bytes. Times are Unix seconds (UTC).
//!
//! - `deployments.csv`: `id,service,environment,commit,at,outcome`; 50 services over four
//!   years from Monday 2022-01-03 00:00 UTC; 90 % to `production`, 10 % to `staging`;
//!   outcomes 91 % `success`, 8 % `failure`, 1 % `pending`.
//! - `changes.csv`: `commit,authored_at,committed_at,deployment`: each change belongs to the
//!   deployment that first shipped it (uniformly chosen); its lead time is log-uniform between
//!   one minute and 30 days; 0.05 % are dated up to an hour *after* their deployment (clock
//!   skew, to exercise that rule).
//! - `incidents.csv`: `id,opened_at,resolved_at,deployment`: one per 20 deployments; 85 %
//!   linked to a uniformly chosen deployment (so some deployments get two), 3 % unresolved
//!   (empty `resolved_at`), time to resolve log-uniform between one minute and seven days.

use std::error::Error;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

const SERVICES: u64 = 50;
/// Monday 2022-01-03 00:00:00 UTC.
const START: i64 = 1_641_168_000;
const SPAN: i64 = 4 * 365 * 86_400;

fn log_uniform(rng: &mut Xoshiro256PlusPlus, low: f64, high: f64) -> i64 {
    let x: f64 = rng.random_range(low.ln()..high.ln());
    x.exp() as i64
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(
        args.next()
            .ok_or("usage: dora_gen OUT_DIR [DEPLOYMENTS] [CHANGES] [SEED]")?,
    );
    let deployments: usize = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let changes: usize = args.next().map_or(Ok(10_000_000), |a| a.parse())?;
    let seed: u64 = args.next().map_or(Ok(42), |a| a.parse())?;
    if deployments == 0 {
        return Err("DEPLOYMENTS must be at least 1".into());
    }
    std::fs::create_dir_all(&out)?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);

    // Deployment times, sorted so that ids follow time.
    let mut times: Vec<i64> = (0..deployments)
        .map(|_| START + rng.random_range(0..SPAN))
        .collect();
    times.sort_unstable();
    // Make times strictly increasing, so that "the next deployment" never depends on how
    // equal times are ordered.
    for i in 1..times.len() {
        if times[i] <= times[i - 1] {
            times[i] = times[i - 1] + 1;
        }
    }
    let mut w = BufWriter::new(File::create(out.join("deployments.csv"))?);
    writeln!(w, "id,service,environment,commit,at,outcome")?;
    for (i, at) in times.iter().enumerate() {
        let service = rng.random_range(0..SERVICES);
        let environment = if rng.random_range(0..10) == 0 {
            "staging"
        } else {
            "production"
        };
        let roll = rng.random_range(0..100);
        let outcome = match roll {
            0..=7 => "failure",
            8 => "pending",
            _ => "success",
        };
        writeln!(w, "d{i},svc{service},{environment},r{i},{at},{outcome}")?;
    }
    w.flush()?;

    let mut w = BufWriter::new(File::create(out.join("changes.csv"))?);
    writeln!(w, "commit,authored_at,committed_at,deployment")?;
    for c in 0..changes {
        let d = rng.random_range(0..deployments);
        let at = times[d];
        let committed = if rng.random_range(0..2000) == 0 {
            at + rng.random_range(1..=3600)
        } else {
            at - log_uniform(&mut rng, 60.0, 30.0 * 86_400.0)
        };
        let authored = committed - rng.random_range(0..2 * 86_400);
        writeln!(w, "c{c},{authored},{committed},d{d}")?;
    }
    w.flush()?;

    let mut w = BufWriter::new(File::create(out.join("incidents.csv"))?);
    writeln!(w, "id,opened_at,resolved_at,deployment")?;
    for n in 0..deployments / 20 {
        let linked = rng.random_range(0..100) < 85;
        let d = rng.random_range(0..deployments);
        let opened = if linked {
            times[d] + rng.random_range(0..7200)
        } else {
            START + rng.random_range(0..SPAN)
        };
        let resolved = if rng.random_range(0..100) < 3 {
            String::new()
        } else {
            (opened + log_uniform(&mut rng, 60.0, 7.0 * 86_400.0)).to_string()
        };
        let deployment = if linked {
            format!("d{d}")
        } else {
            String::new()
        };
        writeln!(w, "i{n},{opened},{resolved},{deployment}")?;
    }
    w.flush()?;
    Ok(())
}
