//! [`Service`]: the pipeline, the outbox and the notifiers put together, driven by a clock.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use parky_core::Clock;
use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;

use crate::error::NotifyError;
use crate::message::Message;
use crate::outbox::{deliver_due, DeliveryPolicy, DeliveryReport, Enqueued, Outbox};
use crate::pipeline::{Pipeline, TimedAlert};
use crate::receiver::Notifier;
use crate::server::payload::DEFAULT_ALERTMANAGER_TTL;

/// How often the [`Service::run`] loop looks at the outbox when the pipeline has nothing
/// scheduled sooner (retries of failed deliveries become due on their own schedule).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);

const MIN_WAIT: Duration = Duration::from_millis(5);

/// What one [`Service::run_once`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunReport {
    /// Messages the pipeline produced and the outbox stored as new entries.
    pub enqueued: usize,
    /// Messages the outbox already had (same receiver, `dedup_key` and `sequence`).
    pub duplicates: usize,
    /// What the delivery step did.
    pub delivery: DeliveryReport,
}

/// Alerts in, notifications out: a [`Pipeline`], an [`Outbox`], the [`Notifier`]s by receiver
/// name and a [`Clock`].
///
/// - [`Service::ingest`] feeds alerts to the pipeline (and wakes the [`Service::run`] loop);
/// - [`Service::run_once`] ticks the pipeline, writes the messages it produced to the outbox
///   (before any delivery: a crash after the tick loses at most the in-memory pipeline
///   state, never a message already written), then delivers what is due with
///   [`deliver_due`];
/// - [`Service::run`] repeats `run_once` at [`Pipeline::next_wakeup`], at most every poll
///   interval apart, and as soon as alerts arrive, until its shutdown future resolves.
///
/// If the outbox refuses a write, the messages are kept in memory and written by the next
/// `run_once`, ahead of newer ones. The pipeline lock is never held across an `await`.
pub struct Service {
    pipeline: Mutex<Pipeline>,
    /// Messages taken from the pipeline that the outbox has not stored yet.
    unwritten: Mutex<Vec<Message>>,
    outbox: Arc<dyn Outbox>,
    notifiers: BTreeMap<String, Arc<dyn Notifier>>,
    clock: Arc<dyn Clock>,
    delivery: DeliveryPolicy,
    /// The jitter source of the retry backoff; also serialises delivery runs.
    rng: tokio::sync::Mutex<Xoshiro256PlusPlus>,
    wake: tokio::sync::Notify,
    poll_interval: Duration,
    alertmanager_ttl: Duration,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("notifiers", &self.notifiers)
            .field("delivery", &self.delivery)
            .field("poll_interval", &self.poll_interval)
            .field("alertmanager_ttl", &self.alertmanager_ttl)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// A service over `pipeline`, storing messages in `outbox` and delivering them through
    /// `notifiers` (by receiver name, e.g. from [`crate::wiring::notifiers_from_policy`])
    /// with `delivery`'s retry policy; times are read from `clock`. Poll interval
    /// [`DEFAULT_POLL_INTERVAL`], Alertmanager TTL [`DEFAULT_ALERTMANAGER_TTL`], backoff
    /// jitter seeded from the clock (see [`Service::with_rng_seed`]).
    #[must_use]
    pub fn new(
        pipeline: Pipeline,
        outbox: Arc<dyn Outbox>,
        notifiers: BTreeMap<String, Arc<dyn Notifier>>,
        clock: Arc<dyn Clock>,
        delivery: DeliveryPolicy,
    ) -> Self {
        let seed = u64::from_ne_bytes(clock.now().timestamp_micros().to_ne_bytes());
        Self {
            pipeline: Mutex::new(pipeline),
            unwritten: Mutex::new(Vec::new()),
            outbox,
            notifiers,
            clock,
            delivery,
            rng: tokio::sync::Mutex::new(Xoshiro256PlusPlus::seed_from_u64(seed)),
            wake: tokio::sync::Notify::new(),
            poll_interval: DEFAULT_POLL_INTERVAL,
            alertmanager_ttl: DEFAULT_ALERTMANAGER_TTL,
        }
    }

    /// The longest the [`Service::run`] loop sleeps between two runs (at least 1 ms).
    #[must_use]
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Seeds the backoff jitter (for reproducible retry times).
    #[must_use]
    pub fn with_rng_seed(mut self, seed: u64) -> Self {
        self.rng = tokio::sync::Mutex::new(Xoshiro256PlusPlus::seed_from_u64(seed));
        self
    }

    /// How long a firing alert received from Alertmanager is kept without news (see
    /// [`crate::server::payload::parse_alertmanager_webhook`]).
    #[must_use]
    pub fn with_alertmanager_ttl(mut self, ttl: Duration) -> Self {
        self.alertmanager_ttl = ttl;
        self
    }

    /// The TTL of firing alerts from Alertmanager.
    #[must_use]
    pub fn alertmanager_ttl(&self) -> Duration {
        self.alertmanager_ttl
    }

    /// The clock the service reads.
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The outbox (to list pending entries and dead letters).
    #[must_use]
    pub fn outbox(&self) -> &Arc<dyn Outbox> {
        &self.outbox
    }

    /// The notifiers by receiver name.
    #[must_use]
    pub fn notifiers(&self) -> &BTreeMap<String, Arc<dyn Notifier>> {
        &self.notifiers
    }

    fn pipeline(&self) -> MutexGuard<'_, Pipeline> {
        // Pipeline calls are pure and never panic by design; should one do so anyway, its
        // state is still a valid pipeline (at worst a partly processed event), and dropping
        // the service would lose more than continuing does.
        self.pipeline.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn unwritten(&self) -> MutexGuard<'_, Vec<Message>> {
        // A poisoned lock still holds a valid Vec.
        self.unwritten
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Feeds `alerts` received at `now` to the pipeline and wakes the [`Service::run`] loop.
    /// Returns how many alerts were taken.
    pub fn ingest<I>(&self, alerts: I, now: DateTime<Utc>) -> usize
    where
        I: IntoIterator<Item = TimedAlert>,
    {
        let mut count = 0;
        {
            let mut pipeline = self.pipeline();
            for alert in alerts {
                pipeline.receive(alert, now);
                count += 1;
            }
        }
        if count > 0 {
            self.wake.notify_one();
        }
        count
    }

    /// When the pipeline next has something due (see [`Pipeline::next_wakeup`]).
    #[must_use]
    pub fn next_wakeup(&self) -> Option<DateTime<Utc>> {
        self.pipeline().next_wakeup()
    }

    /// Ticks the pipeline at `now` and writes every message due to the outbox; no delivery.
    /// Messages the outbox refuses are kept for the next call.
    ///
    /// # Errors
    /// The outbox's storage error.
    pub fn flush(&self, now: DateTime<Utc>) -> Result<(usize, usize), NotifyError> {
        // Lock order: `unwritten`, then the pipeline; holding the first across the tick keeps
        // concurrent flushes from writing messages out of their creation order.
        let mut unwritten = self.unwritten();
        let fresh = self.pipeline().tick(now);
        unwritten.extend(fresh);
        if unwritten.is_empty() {
            return Ok((0, 0));
        }
        let answers = self.outbox.enqueue_batch(&unwritten, now)?;
        unwritten.clear();
        let enqueued = answers
            .iter()
            .filter(|a| matches!(a, Enqueued::New(_)))
            .count();
        Ok((enqueued, answers.len() - enqueued))
    }

    /// One round: [`Service::flush`] at `now`, then [`deliver_due`] (which reads the
    /// service's clock). Concurrent calls take turns.
    ///
    /// # Errors
    /// The outbox's storage error; messages not yet written stay queued in memory.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<RunReport, NotifyError> {
        let mut rng = self.rng.lock().await;
        let (enqueued, duplicates) = self.flush(now)?;
        let delivery = deliver_due(
            &*self.outbox,
            &*self.clock,
            &self.notifiers,
            &self.delivery,
            &mut *rng,
        )
        .await?;
        Ok(RunReport {
            enqueued,
            duplicates,
            delivery,
        })
    }

    /// The delivery loop: [`Service::run_once`] now, then again when the pipeline next has
    /// something due, when alerts are ingested, or after the poll interval, whichever comes
    /// first. Errors are logged and the loop goes on. When `shutdown` resolves, the loop
    /// writes what the pipeline has due to the outbox (without delivering it) and returns.
    pub async fn run<F>(&self, shutdown: F)
    where
        F: Future<Output = ()> + Send,
    {
        tokio::pin!(shutdown);
        loop {
            match self.run_once(self.clock.now()).await {
                Ok(report) if report.delivery.claimed > 0 || report.enqueued > 0 => {
                    tracing::debug!(?report, "notification round");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "notification round failed"),
            }
            let now = self.clock.now();
            let poll =
                chrono::TimeDelta::from_std(self.poll_interval).unwrap_or(chrono::TimeDelta::MAX);
            let deadline = now
                .checked_add_signed(poll)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            let deadline = self.next_wakeup().map_or(deadline, |w| w.min(deadline));
            // At least a few milliseconds, so that an event the pipeline could not process
            // (see `Pipeline::tick`) cannot make the loop spin.
            let wait = (deadline - now)
                .to_std()
                .unwrap_or(Duration::ZERO)
                .max(MIN_WAIT);
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(wait) => {}
                () = self.wake.notified() => {}
            }
        }
        if let Err(e) = self.flush(self.clock.now()) {
            tracing::warn!(error = %e, "could not write the last messages to the outbox");
        }
    }
}
