//! A seeded, simulated service: steady traffic with a daily rhythm, a baseline error ratio, and
//! scripted incidents. The same seed always produces the same requests.

use parky_slo::model::SliEvent;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

const MINUTE_MS: i64 = 60_000;

/// A span of simulated time with its own error ratio.
#[derive(Debug, Clone)]
pub(crate) struct Incident {
    /// Short description shown in the demo.
    pub(crate) name: &'static str,
    /// Start, in minutes from the start of the simulation.
    pub(crate) start_minute: i64,
    /// Length in minutes.
    pub(crate) minutes: i64,
    /// Share of requests that fail while it lasts.
    pub(crate) error_ratio: f64,
}

/// The script of the simulated service.
#[derive(Debug, Clone)]
pub(crate) struct Scenario {
    /// Start of the simulation, milliseconds since the Unix epoch (a minute boundary).
    pub(crate) start_ms: i64,
    /// Length of the simulation in minutes.
    pub(crate) minutes: i64,
    /// Mean requests per minute; the real rate swings ±50 % over the day.
    pub(crate) mean_requests_per_minute: f64,
    /// Error ratio outside incidents.
    pub(crate) baseline_error_ratio: f64,
    /// Scripted incidents (they may not overlap; the first one that covers a minute wins).
    pub(crate) incidents: Vec<Incident>,
}

impl Scenario {
    /// Error ratio in force during `minute` (minutes from the start).
    fn error_ratio_at(&self, minute: i64) -> f64 {
        self.incidents
            .iter()
            .find(|i| minute >= i.start_minute && minute < i.start_minute + i.minutes)
            .map_or(self.baseline_error_ratio, |i| i.error_ratio)
    }

    /// Requests in `minute`: a daily sine rhythm (peak at 15:00 UTC) around the mean.
    fn requests_at(&self, minute: i64) -> u32 {
        let minute_of_day = ((self.start_ms / MINUTE_MS + minute) % 1_440) as f64;
        let phase = (minute_of_day - 900.0) / 1_440.0 * std::f64::consts::TAU;
        let rate = self.mean_requests_per_minute * (1.0 + 0.5 * phase.cos());
        // Rates are small positive numbers here (at most 1.5 × the mean), so the cast is exact
        // enough and cannot overflow.
        rate.round().max(0.0) as u32
    }

    /// Every request of the simulation, in time order, drawn with `seed`.
    pub(crate) fn requests(&self, seed: u64) -> impl Iterator<Item = SliEvent> + '_ {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        (0..self.minutes).flat_map(move |minute| {
            let n = self.requests_at(minute);
            let ratio = self.error_ratio_at(minute);
            let minute_start = self.start_ms + minute * MINUTE_MS;
            let draws: Vec<SliEvent> = (0..n)
                .map(|i| {
                    let good = rng.random::<f64>() >= ratio;
                    SliEvent {
                        // Spread evenly over the minute, in order.
                        timestamp_ms: minute_start + i64::from(i) * MINUTE_MS / i64::from(n),
                        good,
                        status: Some(if good { 200 } else { 503 }),
                        latency_seconds: None,
                    }
                })
                .collect();
            draws
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario() -> Scenario {
        Scenario {
            start_ms: 1_700_000_040_000 - 1_700_000_040_000 % MINUTE_MS,
            minutes: 120,
            mean_requests_per_minute: 100.0,
            baseline_error_ratio: 0.0,
            incidents: vec![Incident {
                name: "all errors",
                start_minute: 60,
                minutes: 10,
                error_ratio: 1.0,
            }],
        }
    }

    #[test]
    fn same_seed_same_requests_and_incidents_are_honoured() {
        let s = scenario();
        let a: Vec<_> = s.requests(7).collect();
        let b: Vec<_> = s.requests(7).collect();
        assert_eq!(a, b);
        // Ratio 0 outside the incident and 1 inside it leave no room for chance.
        for e in &a {
            let minute = (e.timestamp_ms - s.start_ms) / MINUTE_MS;
            assert_eq!(e.good, !(60..70).contains(&minute), "minute {minute}");
        }
        assert!(a.windows(2).all(|w| w[0].timestamp_ms <= w[1].timestamp_ms));
    }

    #[test]
    fn daily_rhythm_swings_half_the_mean() {
        let s = Scenario {
            start_ms: 0,
            ..scenario()
        };
        // 15:00 UTC is the peak (cos 0 = 1), 03:00 the trough (cos π = −1).
        assert_eq!(s.requests_at(900), 150);
        assert_eq!(s.requests_at(180), 50);
    }
}
