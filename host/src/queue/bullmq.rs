//! [`QueueBackend`] on Redis through `bullmq-official` (BullMQ's own Rust port, lib `bullmq`).
//! The crate runs the protocol: the same Lua scripts as npm `bullmq` 6.7.0 for fetching,
//! locking and lock renewal, stalled-job recovery, completing, failing, retrying with the
//! producer's backoff, and job schedulers. This module only adapts it to attachd's narrow
//! trait, and wraps the few places where the crate lacks what attachd needs:
//!
//! - **Permanent failures.** Returned to the crate as `Error::Unrecoverable("<code>: <message>")`,
//!   its `UnrecoverableError`: the job goes to `failed` at once, whatever attempts remain,
//!   with that `failedReason`, as Node's worker does.
//! - **Defaults for jobs that set no attempts.** The crate (like Node) retries only what the
//!   producer asked for, and reads `attempts` before the processor runs, so a worker-side
//!   default cannot be handed to it. For such jobs this adapter schedules the retry itself with
//!   the crate's `Job::move_to_delayed` and returns `Error::Delayed` (the crate's documented
//!   way to say "already moved"). That call does not count an attempt, so the default policy
//!   counts `attemptsStarted` (which every start increments) instead: Node sees
//!   `attemptsMade` 0 while such a job is retried and 1 when it finally fails.
//! - **`failedReason` during retries.** Node 6.7 writes the reason of each failed attempt
//!   before retrying; the crate passes no fields to its retry scripts, so a job waiting for
//!   its next attempt would show no reason. The adapter writes it (`HSET failedReason`) while
//!   it still holds the job's lock.
//! - **Events.** The crate queues every worker event on an unbounded channel that grows
//!   forever unless read: the adapter drains it, forwarding Redis errors.
//! - **Stalled jobs.** The crate's stalled check moves stalled jobs back to wait correctly,
//!   but misreads the script's reply (it expects a nested array), so its `Stalled` event never
//!   fires. The adapter recognises a taken-over job when it starts instead: started more often
//!   than its failed attempts explain, with no failure recorded in between
//!   ([`restarted_after_stall`]).
//! - **Idempotent schedule.** `upsert_job_scheduler` rewrites the scheduler each time; the
//!   adapter reads it first and writes only when it is absent or different.
//!
//! Left as the crate does it: `backoff.jitter` (npm 6.x) is ignored, the crate computes the
//! plain fixed/exponential delay; stack traces are not stored.

use super::{
    Backoff, Consumer, ConsumerSettings, Depth, Enqueue, EnqueueOptions, EventSink, Failure, Job,
    Outcome, PendingUploads, Processor, QueueBackend, QueueError, QueueEvent, QueueName,
    RedisTarget, RetryPolicy, Schedule, ScheduleChange, MAX_DEFAULT_BACKOFF, PENDING_SCAN_PAGE,
};
use crate::error::Class;
use ::bullmq::job_scheduler::RepeatOptions;
use ::bullmq::options::RedisConnectionOptions;
use ::bullmq::redis_connection::RedisConnection;
use ::bullmq::types::{BackoffStrategy, RemoveOnFinish};
use ::bullmq::worker::{CancellationToken as BullToken, Worker, WorkerEvent};
use ::bullmq::{Error as BullError, JobOptions, Queue, QueueOptions, WorkerOptions};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::task::JoinHandle;

/// How long an idle consumer blocks on Redis waiting for a job before looking again. It also
/// bounds how long closing an idle consumer takes (the crate waits for that call to return),
/// so it is kept short; an idle worker costs Redis one cheap call per queue per period.
pub const DRAIN_DELAY: Duration = Duration::from_secs(2);
/// Pause after the crate fails to fetch a job (Redis down) before it tries again. The crate's
/// (and Node's) 15 s leaves a recovered Redis unused for too long; the connection reconnects
/// on its own backoff meanwhile.
pub const FETCH_RETRY_DELAY: Duration = Duration::from_secs(2);
/// How often the crate's event channel is emptied: bounds its size to a second of events
/// and delays Redis error reports (for the breaker) by at most as much.
pub const EVENT_DRAIN_PERIOD: Duration = Duration::from_secs(1);
/// Finished cleanup jobs kept in Redis per state: a day of 15-minute runs, enough for a
/// dashboard to show the recent runs without the list growing forever.
pub const KEEP_FINISHED_CLEANUP_JOBS: usize = 100;

/// BullMQ on one Redis, every queue under one key prefix.
pub struct BullBackend {
    connection: RedisConnectionOptions,
    prefix: String,
    queues: BTreeMap<QueueName, Arc<Queue>>,
}

fn map_err(e: BullError) -> QueueError {
    match e {
        BullError::Redis(e) => QueueError::Unavailable(e.to_string()),
        BullError::ConnectionClosed => QueueError::Unavailable("connection closed".into()),
        BullError::InvalidConfig(m) => QueueError::Config(m),
        other => QueueError::Protocol(other.to_string()),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(millis)
        .unwrap_or(0)
}

fn job_options(opts: &EnqueueOptions) -> JobOptions {
    let mut o = JobOptions::new();
    o.attempts = opts.attempts;
    o.backoff = opts.backoff.map(|b| match b {
        Backoff::Fixed(d) => BackoffStrategy::Fixed(millis(d)),
        Backoff::Exponential { base } => BackoffStrategy::Exponential(millis(base)),
    });
    o.delay = opts.delay.map(millis);
    o.job_id = opts.job_id.clone();
    o
}

/// Asks Redis for a PING on a connection of its own, opened and closed here: the shared
/// connection reconnects on its own backoff and, while Redis is away, reports only a timeout,
/// where a fresh connection reports the real cause (refused, unknown host, wrong password).
/// On a cluster the PING goes to every primary. Bounded by `timeout` for connecting and
/// again for the answer.
pub async fn ping(target: &RedisTarget, timeout: Duration) -> Result<(), QueueError> {
    let unavailable = |e: redis::RedisError| QueueError::Unavailable(e.to_string());
    let config = |e: redis::RedisError| QueueError::Config(e.to_string());
    let ping = redis::cmd("PING");
    match target {
        RedisTarget::Server(url) => {
            let client = redis::Client::open(url.as_str()).map_err(config)?;
            let options = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout));
            let mut conn = client
                .get_multiplexed_async_connection_with_config(&options)
                .await
                .map_err(unavailable)?;
            ping.query_async::<()>(&mut conn).await.map_err(unavailable)
        }
        RedisTarget::Cluster(nodes) => {
            let client = redis::cluster::ClusterClientBuilder::new(nodes.clone())
                .connection_timeout(timeout)
                .response_timeout(timeout)
                .build()
                .map_err(config)?;
            let mut conn = client.get_async_connection().await.map_err(unavailable)?;
            ping.query_async::<()>(&mut conn).await.map_err(unavailable)
        }
    }
}

impl BullBackend {
    /// Connects to Redis (`redis://` or `rediss://`, or a cluster's seed nodes) and opens the
    /// three queues under `prefix`, which on a cluster must hold a hash tag
    /// ([`super::has_hash_tag`]).
    pub async fn connect(target: &RedisTarget, prefix: &str) -> Result<BullBackend, QueueError> {
        let connection = match target {
            RedisTarget::Server(url) => RedisConnectionOptions::new().url(url),
            RedisTarget::Cluster(nodes) => {
                if !super::has_hash_tag(prefix) {
                    return Err(QueueError::Config(format!(
                        "on a Redis Cluster the queue prefix must hold a hash tag, such as \
                         {{{prefix}}}, so that each queue's keys share one slot"
                    )));
                }
                RedisConnectionOptions::new().cluster_nodes(nodes.clone())
            }
        };
        let shared = RedisConnection::new_managed_only(&connection)
            .await
            .map_err(map_err)?;
        let mut queues = BTreeMap::new();
        for q in QueueName::ALL {
            let opts = QueueOptions::new()
                .connection(connection.clone())
                .prefix(prefix);
            let queue = Queue::with_connection(q.as_str(), shared.clone(), opts)
                .await
                .map_err(map_err)?;
            queues.insert(q, Arc::new(queue));
        }
        Ok(BullBackend {
            connection,
            prefix: prefix.to_string(),
            queues,
        })
    }

    fn queue(&self, q: QueueName) -> &Arc<Queue> {
        // Every QueueName is opened in `connect`.
        &self.queues[&q]
    }
}

#[async_trait::async_trait]
impl Enqueue for BullBackend {
    async fn enqueue(
        &self,
        queue: QueueName,
        data: serde_json::Value,
        opts: &EnqueueOptions,
    ) -> Result<String, QueueError> {
        let job = self
            .queue(queue)
            .add(queue.job_name(), data)
            .options(job_options(opts))
            .await
            .map_err(map_err)?;
        Ok(job.id().to_string())
    }
}

#[async_trait::async_trait]
impl QueueBackend for BullBackend {
    async fn consumer(
        &self,
        queue: QueueName,
        settings: ConsumerSettings,
        processor: Arc<dyn Processor>,
        events: EventSink,
    ) -> Result<Box<dyn Consumer>, QueueError> {
        let ctx = Arc::new(JobContext {
            queue,
            processor,
            events: events.clone(),
            default_retry: settings.default_retry,
            handle: self.queue(queue).clone(),
        });
        let run = move |job: ::bullmq::Job, _token: BullToken| {
            let ctx = ctx.clone();
            async move { ctx.run(job).await }
        };
        let opts = WorkerOptions::new()
            .connection(self.connection.clone())
            .prefix(self.prefix.clone())
            // Shown by Node dashboards as the job's `processedBy`.
            .name(format!("attachd-{}", std::process::id()))
            .concurrency(settings.concurrency.max(1))
            .lock_duration(settings.lock_duration)
            .stalled_interval(settings.stalled_interval)
            .drain_delay(DRAIN_DELAY)
            .run_retry_delay(FETCH_RETRY_DELAY)
            .manual_start();
        let worker = Arc::new(
            Worker::with_options(queue.as_str(), run, opts)
                .await
                .map_err(map_err)?,
        );
        let drain = tokio::spawn(forward_events(worker.clone(), queue, events));
        Ok(Box::new(BullConsumer {
            queue,
            worker,
            drain: std::sync::Mutex::new(Some(drain)),
        }))
    }

    async fn ensure_schedule(
        &self,
        queue: QueueName,
        id: &str,
        schedule: &Schedule,
        data: serde_json::Value,
        job: &EnqueueOptions,
    ) -> Result<ScheduleChange, QueueError> {
        let q = self.queue(queue);
        let (pattern, every) = match schedule {
            Schedule::Every(d) => (None, Some(millis(*d))),
            Schedule::Cron(p) => {
                ::bullmq::job_scheduler::next_cron_millis(p, now_millis(), None, None)
                    .map_err(|e| QueueError::Config(format!("cron pattern {p:?}: {e}")))?;
                (Some(p.clone()), None)
            }
        };
        // N workers start with the same schedule: only the first to arrive writes. Writing
        // again would reschedule the pending run each time a worker restarts.
        if let Some(existing) = q.get_job_scheduler(id).await.map_err(map_err)? {
            if existing.pattern == pattern
                && existing.every == every
                && existing.name == queue.job_name()
            {
                return Ok(ScheduleChange::Unchanged);
            }
        }
        let repeat = RepeatOptions {
            pattern,
            every,
            ..Default::default()
        };
        let mut opts = job_options(job);
        let keep = Some(RemoveOnFinish::Count(KEEP_FINISHED_CLEANUP_JOBS));
        (opts.remove_on_complete, opts.remove_on_fail) = (keep.clone(), keep);
        match q
            .upsert_job_scheduler(id, repeat, Some(queue.job_name()), Some(data), Some(opts))
            .await
        {
            Ok(_) => Ok(ScheduleChange::Registered),
            // Another worker registered the same slot between our read and our write.
            Err(BullError::Script { code, .. })
                if code == ::bullmq::error::error_code::SCHEDULER_JOB_ID_COLLISION
                    || code == ::bullmq::error::error_code::SCHEDULER_JOB_SLOTS_BUSY =>
            {
                Ok(ScheduleChange::Unchanged)
            }
            Err(e) => Err(map_err(e)),
        }
    }

    async fn depth(&self, queue: QueueName) -> Result<Depth, QueueError> {
        let c = self.queue(queue).get_job_counts().await.map_err(map_err)?;
        Ok(Depth {
            waiting: c.waiting + c.paused + c.prioritized,
            active: c.active,
            delayed: c.delayed,
        })
    }

    async fn pending_uploads(
        &self,
        queues: &[QueueName],
        limit: usize,
    ) -> Result<PendingUploads, QueueError> {
        let mut found = PendingUploads {
            complete: true,
            ..Default::default()
        };
        for &queue in queues {
            let q = self.queue(queue);
            let keys = q.keys();
            let mut ids = std::collections::HashSet::new();
            // Each list is read with one command (atomic), in the order jobs move through
            // them, so a job moving on during the scan lands in a list not read yet. `active`
            // comes first as well, for the one move backwards (a stalled or retried job goes
            // back to `wait` or `delayed`), and `paused` again after `wait`, for a pause or
            // resume (which swap the two lists) in between.
            let lists = [
                (keys.active(), false),
                (keys.waiting_children(), true),
                (keys.delayed(), true),
                (keys.prioritized(), true),
                (keys.paused(), false),
                (keys.wait(), false),
                (keys.paused(), false),
                (keys.active(), false),
            ];
            for (key, sorted_set) in lists {
                let room = limit.saturating_sub(found.jobs);
                // One more than there is room for tells a full list from one that fits.
                let stop = i64::try_from(room).unwrap_or(i64::MAX);
                let mut cmd = redis::cmd(if sorted_set { "ZRANGE" } else { "LRANGE" });
                cmd.arg(&key).arg(0).arg(stop);
                let mut page: Vec<String> = q.connection().cmd(&mut cmd).await.map_err(map_err)?;
                if page.len() > room {
                    page.truncate(room);
                    found.complete = false;
                }
                found.jobs += page.len();
                ids.extend(page);
                if !found.complete {
                    break;
                }
            }
            let ids: Vec<String> = ids.into_iter().collect();
            for chunk in ids.chunks(PENDING_SCAN_PAGE) {
                let mut pipe = redis::pipe();
                for id in chunk {
                    pipe.cmd("HGET").arg(keys.job_key(id)).arg("data");
                }
                // A job finished and removed meanwhile has no hash: nil.
                let data: Vec<Option<String>> =
                    q.connection().pipe(&pipe).await.map_err(map_err)?;
                for d in data.into_iter().flatten() {
                    let key = serde_json::from_str::<serde_json::Value>(&d)
                        .ok()
                        .and_then(|v| v.get("fileKey")?.as_str().map(str::to_string));
                    if let Some(key) = key {
                        found.file_keys.insert(key);
                    }
                }
            }
            if !found.complete {
                break;
            }
        }
        Ok(found)
    }

    async fn ping(&self) -> Result<(), QueueError> {
        self.queue(QueueName::Process)
            .connection()
            .ping()
            .await
            .map_err(map_err)
    }
}

/// Empties the crate's worker event channel for as long as the worker lives (see the module
/// docs), forwarding Redis errors. It reads in batches every [`EVENT_DRAIN_PERIOD`] rather
/// than waking for each of the several events every job produces.
async fn forward_events(worker: Arc<Worker>, queue: QueueName, events: EventSink) {
    let mut tick = tokio::time::interval(EVENT_DRAIN_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // A zero timeout polls once: takes what is queued, never waits.
        while let Ok(Some(event)) = tokio::time::timeout(Duration::ZERO, worker.next_event()).await
        {
            // `Stalled` is never sent by bullmq-official 1.4.4 (see the module docs): take-overs
            // are counted at job start instead. The other events are per job and not needed.
            if let WorkerEvent::Error(message) = event {
                events(QueueEvent::BackendError { queue, message });
            }
        }
    }
}

struct BullConsumer {
    queue: QueueName,
    worker: Arc<Worker>,
    drain: std::sync::Mutex<Option<JoinHandle<()>>>,
}

#[async_trait::async_trait]
impl Consumer for BullConsumer {
    fn queue(&self) -> QueueName {
        self.queue
    }

    async fn start(&self) -> Result<(), QueueError> {
        self.worker.run().await.map_err(map_err)
    }

    fn pause(&self) {
        self.worker.pause();
    }

    fn resume(&self) {
        self.worker.resume();
    }

    async fn close(&self, grace: Duration) -> usize {
        if let Err(e) = self.worker.close(millis(grace)).await {
            tracing::warn!(queue = %self.queue, error = %e, "closing the consumer failed");
        }
        let cut_off = self.worker.active_count().await;
        if let Some(drain) = self.drain.lock().ok().and_then(|mut d| d.take()) {
            drain.abort();
        }
        cut_off
    }
}

/// What the processor closure handed to the crate carries.
struct JobContext {
    queue: QueueName,
    processor: Arc<dyn Processor>,
    events: EventSink,
    default_retry: RetryPolicy,
    handle: Arc<Queue>,
}

impl JobContext {
    async fn run(&self, job: ::bullmq::Job) -> Result<serde_json::Value, BullError> {
        let started = Instant::now();
        if restarted_after_stall(&job) {
            (self.events)(QueueEvent::Stalled {
                queue: self.queue,
                job_id: job.id().to_string(),
            });
        }
        let view = Job {
            id: job.id().to_string(),
            queue: self.queue,
            name: job.name().to_string(),
            data: job.data().clone(),
            attempts_made: job.attempts_made(),
            attempts_started: job.attempts_started(),
        };
        let (outcome, result) = match self.processor.process(view).await {
            Ok(value) => (Outcome::Completed, Ok(value)),
            Err(f) if f.class == Class::Permanent => (
                Outcome::Failed {
                    code: f.code,
                    exhausted: false,
                },
                Err(BullError::Unrecoverable(f.reason())),
            ),
            Err(f) => self.retryable(&job, f).await,
        };
        (self.events)(QueueEvent::Finished {
            queue: self.queue,
            job_id: job.id().to_string(),
            outcome,
            duration: started.elapsed(),
        });
        result
    }

    /// A retryable failure: the producer's attempts and backoff when it set them (the crate
    /// applies them), else attachd's default policy (applied here, see the module docs).
    async fn retryable(
        &self,
        job: &::bullmq::Job,
        f: Failure,
    ) -> (Outcome, Result<serde_json::Value, BullError>) {
        let reason = f.reason();
        let exhausted = Outcome::Failed {
            code: f.code,
            exhausted: true,
        };
        if let Some(max) = job.opts().attempts.filter(|&a| a > 0) {
            if job.attempts_made() + 1 >= max {
                return (exhausted, Err(BullError::ProcessingError(reason)));
            }
            self.record_reason(job, &reason).await;
            let delay = producer_delay(job.opts().backoff.as_ref(), job.attempts_made() + 1);
            return (
                Outcome::Retried {
                    code: f.code,
                    delay,
                },
                Err(BullError::ProcessingError(reason)),
            );
        }
        let tried = job.attempts_started().max(1);
        if tried >= self.default_retry.attempts {
            return (exhausted, Err(BullError::ProcessingError(reason)));
        }
        let delay = self.default_retry.backoff.delay(tried, MAX_DEFAULT_BACKOFF);
        self.record_reason(job, &reason).await;
        match job.move_to_delayed(now_millis() + millis(delay)).await {
            Ok(()) => (
                Outcome::Retried {
                    code: f.code,
                    delay,
                },
                Err(BullError::Delayed),
            ),
            Err(e) => {
                // The lock is gone (another worker recovered the job) or Redis is: the crate's
                // own failure path reports and handles it.
                tracing::warn!(job_id = %job.id(), error = %e, "could not schedule the default retry");
                (exhausted, Err(BullError::ProcessingError(reason)))
            }
        }
    }

    async fn record_reason(&self, job: &::bullmq::Job, reason: &str) {
        let key = self.handle.keys().job_key(job.id());
        let mut cmd = redis::cmd("HSET");
        cmd.arg(key).arg("failedReason").arg(reason);
        if let Err(e) = self.handle.connection().cmd::<i64>(&mut cmd).await {
            tracing::debug!(job_id = %job.id(), error = %e, "could not record the failed reason");
        }
    }
}

/// Whether this start of `job` takes over a run that stalled (its worker died or froze).
/// Every start adds one to `attemptsStarted`; every failure the queue recorded adds one to
/// `attemptsMade` (producer attempts) or leaves a `failedReason` (attachd's default retries,
/// which do not count attempts). A start that neither explains was a stalled run's restart.
fn restarted_after_stall(job: &::bullmq::Job) -> bool {
    let restarts = job
        .attempts_started()
        .saturating_sub(job.attempts_made() + 1);
    if job.opts().attempts.is_some_and(|a| a > 0) {
        restarts > 0
    } else {
        restarts > 0 && job.failed_reason().is_empty()
    }
}

/// The delay the crate will apply after attempt `attempt` (1-based) failed, for the metrics and
/// logs only; BullMQ itself computes the real one the same way.
fn producer_delay(backoff: Option<&BackoffStrategy>, attempt: u32) -> Duration {
    match backoff {
        Some(BackoffStrategy::Fixed(ms)) => Duration::from_millis(*ms),
        Some(BackoffStrategy::Exponential(ms)) => Backoff::Exponential {
            base: Duration::from_millis(*ms),
        }
        .delay(attempt, Duration::MAX),
        Some(BackoffStrategy::Custom(_)) | None => Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producer_delay_follows_bullmq_formulas() {
        let exp = BackoffStrategy::Exponential(500);
        let got: Vec<u128> = (1..=3)
            .map(|a| producer_delay(Some(&exp), a).as_millis())
            .collect();
        assert_eq!(got, [500, 1000, 2000]);
        assert_eq!(
            producer_delay(Some(&BackoffStrategy::Fixed(700)), 5),
            Duration::from_millis(700)
        );
        assert_eq!(producer_delay(None, 2), Duration::ZERO);
    }

    #[test]
    fn enqueue_options_map_to_bullmq_job_options() {
        let o = job_options(&EnqueueOptions {
            attempts: Some(4),
            backoff: Some(Backoff::Fixed(Duration::from_secs(1))),
            delay: Some(Duration::from_millis(250)),
            job_id: None,
        });
        assert_eq!(o.attempts, Some(4));
        assert!(matches!(o.backoff, Some(BackoffStrategy::Fixed(1000))));
        assert_eq!(o.delay, Some(250));
    }
}
