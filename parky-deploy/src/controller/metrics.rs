//! Where a tick's judge gets its numbers: the [`CanaryMetrics`] trait and its embedded
//! default over the [`WorkersSimulator`].

use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;

use crate::error::DeployError;
use crate::model::TrafficSplit;
use crate::policy::judge::TrafficSample;
use crate::workers::WorkersSimulator;

/// What the canary and its baseline (the stable version) served over one window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowTraffic {
    /// The canary's requests, errors and p99 (zero requests when the split has no canary).
    pub canary: TrafficSample,
    /// The stable version's, over the same window.
    pub baseline: TrafficSample,
}

/// Reads the canary's and the baseline's traffic over a window, for the judge.
///
/// [`WorkersAnalytics`](super::WorkersAnalytics) (feature `http`) queries Cloudflare's
/// GraphQL Analytics per Worker version; [`SimulatedMetrics`] is the embedded default. Implementations do no retries or
/// sleeps: the controller treats an error as "no tick this time".
#[async_trait]
pub trait CanaryMetrics: Send + Sync {
    /// Traffic of `script` between `from` and `to`, split as `split` (the platform's split
    /// at the start of the tick).
    ///
    /// # Errors
    /// The source's own errors (HTTP, parse), as [`DeployError`]s.
    async fn window(
        &self,
        script: &str,
        split: &TrafficSplit,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<WindowTraffic, DeployError>;
}

/// [`CanaryMetrics`] over [`WorkersSimulator::simulate_window`]: every window sends the same
/// number of requests through the simulator's current split, with a seeded random source (so
/// a run is reproducible). The window's times are ignored.
#[derive(Debug)]
pub struct SimulatedMetrics {
    simulator: WorkersSimulator,
    requests_per_window: u64,
    rng: Mutex<Xoshiro256PlusPlus>,
}

impl SimulatedMetrics {
    /// Windows of `requests_per_window` requests on `simulator`, drawn from a generator
    /// seeded with `seed`.
    pub fn new(simulator: WorkersSimulator, requests_per_window: u64, seed: u64) -> Self {
        Self {
            simulator,
            requests_per_window,
            rng: Mutex::new(Xoshiro256PlusPlus::seed_from_u64(seed)),
        }
    }
}

#[async_trait]
impl CanaryMetrics for SimulatedMetrics {
    async fn window(
        &self,
        script: &str,
        _split: &TrafficSplit,
        _from: DateTime<Utc>,
        _to: DateTime<Utc>,
    ) -> Result<WindowTraffic, DeployError> {
        // A panic while drawing cannot leave the generator in a state that matters.
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        let window = self
            .simulator
            .simulate_window(script, self.requests_per_window, &mut *rng)?;
        Ok(WindowTraffic {
            canary: window.canary.map_or(
                TrafficSample {
                    requests: 0,
                    errors: 0,
                    p99_seconds: None,
                },
                |c| c.sample,
            ),
            baseline: window.stable.sample,
        })
    }
}
