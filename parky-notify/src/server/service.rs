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
use crate::policy::strategy::add;
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
/// - [`Service::ingest`] feeds alerts to the pipeline, stores the pipeline's new state in the
///   outbox (see below) and wakes the [`Service::run`] loop;
/// - [`Service::run_once`] ticks the pipeline, writes the messages it produced to the outbox
///   together with the pipeline's new state, then delivers what is due with
///   [`deliver_due`];
/// - [`Service::run`] repeats `run_once` at [`Pipeline::next_wakeup`], at most every poll
///   interval apart, and as soon as alerts arrive, until its shutdown future resolves.
///
/// # Nothing is lost on a restart
///
/// Every change of the pipeline's state is written with [`Outbox::enqueue_with_state`]: the
/// messages the pipeline released and the [`PipelineSnapshot`](crate::pipeline::PipelineSnapshot)
/// that follows them, in one transaction. [`Service::resume`] starts from the state stored
/// last. So whatever instant the process stops at, the file holds a state and an outbox that
/// match: alerts waiting for `group_wait` or `group_interval`, messages held for quiet
/// hours, digests being collected and rate-limited messages come back, and every message
/// the restored pipeline releases again is one the outbox does not have yet. (Should a
/// message be released twice anyway, the outbox keeps one entry per receiver, `dedup_key`
/// and `sequence`.) An alert is acknowledged to its sender (HTTP 200) only after the state
/// holding it was committed.
///
/// State is written only when it changed ([`Pipeline::revision`]), so an idle service does
/// not write. If the outbox refuses a write, the messages are kept in memory and written by
/// the next successful write, ahead of newer ones, with the state of then. The pipeline
/// lock is never held across an `await`.
pub struct Service {
    pipeline: Mutex<Pipeline>,
    /// Serialises writes to the outbox; holds what the last writes could not store.
    writer: Mutex<Writer>,
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

/// What [`Service`] has not written yet.
#[derive(Debug, Default)]
struct Writer {
    /// Messages taken from the pipeline that the outbox has not stored yet.
    unwritten: Vec<Message>,
    /// The pipeline revision of the state stored last, if any.
    saved: Option<u64>,
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
    ///
    /// The service starts from `pipeline` as it is: its first write replaces any pipeline
    /// state stored in the outbox. To continue from the stored state, use
    /// [`Service::resume`].
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
            writer: Mutex::new(Writer::default()),
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

    /// A service that continues from the pipeline state stored in `outbox`: `pipeline`
    /// (its routing policy, strategy, `resolve_timeout` and silences) restored with
    /// [`Pipeline::restore`], or as it is when the outbox holds no state. Nothing is sent
    /// before the first [`Service::run_once`], which ticks the restored pipeline to the
    /// clock's time. Otherwise as [`Service::new`].
    ///
    /// # Errors
    /// The outbox's error reading the state (naming the file), or
    /// [`NotifyError::PipelineStateVersion`].
    pub fn resume(
        pipeline: Pipeline,
        outbox: Arc<dyn Outbox>,
        notifiers: BTreeMap<String, Arc<dyn Notifier>>,
        clock: Arc<dyn Clock>,
        delivery: DeliveryPolicy,
    ) -> Result<Self, NotifyError> {
        let Some(state) = outbox.load_state()? else {
            return Ok(Self::new(pipeline, outbox, notifiers, clock, delivery));
        };
        tracing::info!(
            alerts = state.alert_count(),
            groups = state.group_count(),
            pending_messages = state.pending_messages(),
            "pipeline state restored"
        );
        let pipeline = pipeline.restore(state)?;
        let saved = pipeline.revision();
        let service = Self::new(pipeline, outbox, notifiers, clock, delivery);
        service.writer().saved = Some(saved);
        Ok(service)
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

    fn writer(&self) -> MutexGuard<'_, Writer> {
        // A poisoned lock still holds a valid Vec and revision.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the unwritten messages and the pipeline's state (taken under `pipeline`, which
    /// is released before the write) in one transaction, unless nothing changed since the
    /// last write. Returns (new entries, duplicates).
    fn persist(
        &self,
        writer: &mut Writer,
        pipeline: MutexGuard<'_, Pipeline>,
        now: DateTime<Utc>,
    ) -> Result<(usize, usize), NotifyError> {
        let revision = pipeline.revision();
        if writer.unwritten.is_empty() && writer.saved == Some(revision) {
            return Ok((0, 0));
        }
        let state = pipeline.snapshot();
        drop(pipeline);
        let answers = self
            .outbox
            .enqueue_with_state(&writer.unwritten, &state, now)?;
        writer.unwritten.clear();
        writer.saved = Some(revision);
        let enqueued = answers
            .iter()
            .filter(|a| matches!(a, Enqueued::New(_)))
            .count();
        Ok((enqueued, answers.len() - enqueued))
    }

    /// Feeds `alerts` received at `now` to the pipeline, stores the pipeline's state in the
    /// outbox, and wakes the [`Service::run`] loop. Returns how many alerts were taken.
    ///
    /// # Errors
    /// The outbox's storage error: the alerts are in the pipeline, but not stored yet (the
    /// next successful write stores them); tell the sender to send them again.
    pub fn ingest<I>(&self, alerts: I, now: DateTime<Utc>) -> Result<usize, NotifyError>
    where
        I: IntoIterator<Item = TimedAlert>,
    {
        // Lock order: the writer, then the pipeline (as in `flush`).
        let mut writer = self.writer();
        let mut pipeline = self.pipeline();
        let mut count = 0;
        for alert in alerts {
            pipeline.receive(alert, now);
            count += 1;
        }
        if count == 0 {
            return Ok(0);
        }
        let stored = self.persist(&mut writer, pipeline, now);
        drop(writer);
        self.wake.notify_one();
        stored.map(|_| count)
    }

    /// What the pipeline holds: aggregation groups alive, and messages not yet due (held for
    /// quiet hours, collected for a digest, rate-limited).
    #[must_use]
    pub fn pipeline_counts(&self) -> (usize, usize) {
        let pipeline = self.pipeline();
        (pipeline.group_count(), pipeline.pending_messages())
    }

    /// When the pipeline next has something due (see [`Pipeline::next_wakeup`]).
    #[must_use]
    pub fn next_wakeup(&self) -> Option<DateTime<Utc>> {
        self.pipeline().next_wakeup()
    }

    /// Ticks the pipeline at `now` and writes every message due to the outbox, with the
    /// pipeline's new state in the same transaction; no delivery. Messages the outbox
    /// refuses are kept for the next call. Returns (new entries, duplicates).
    ///
    /// # Errors
    /// The outbox's storage error.
    pub fn flush(&self, now: DateTime<Utc>) -> Result<(usize, usize), NotifyError> {
        // Lock order: the writer, then the pipeline; holding the first across the tick and
        // the write keeps concurrent writes in the order their states were taken.
        let mut writer = self.writer();
        let mut pipeline = self.pipeline();
        let fresh = pipeline.tick(now);
        writer.unwritten.extend(fresh);
        self.persist(&mut writer, pipeline, now)
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
            let deadline = add(now, self.poll_interval);
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
