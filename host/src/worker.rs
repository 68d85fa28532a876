//! `attachd worker`: the queue loop. It consumes the three queues ([`QueueName`]) through the
//! narrow [`QueueBackend`] trait, registers the cleanup schedule, and owns what sits between a
//! job and its handler: back-pressure, the circuit breaker, metrics and graceful shutdown.
//!
//! | Knob (env)                       | Default          | What it bounds                          |
//! |----------------------------------|------------------|-----------------------------------------|
//! | `ATTACH_QUEUE_CONCURRENCY`       | 3                | jobs at once per queue (cleanup: 1)     |
//! | `ATTACH_MAX_BYTES_IN_FLIGHT`     | 4 GiB            | memory charged to running jobs ([`job_charge`]) |
//! | `ATTACH_SHUTDOWN_GRACE`          | 30s              | wait for in-flight jobs on SIGTERM      |
//! | `ATTACH_QUEUE_LOCK_DURATION`     | 30s              | how soon a dead worker's job is retaken |
//! | `ATTACH_QUEUE_STALLED_INTERVAL`  | 30s              | how often stalled jobs are looked for   |
//! | `ATTACH_CLEANUP_CRON`            | 15m              | cleanup schedule (duration or cron)     |
//!
//! **Circuit breaker.** When [`BREAKER_THRESHOLD`] jobs in a row fail because storage or the
//! database is unavailable, or the queue backend reports as many Redis errors in a row, the
//! worker stops taking jobs (in-flight ones finish), logs one error line naming the
//! dependency and sets `attachments_circuit_open{dependency}`. Every
//! [`BREAKER_RECHECK_INTERVAL`] it asks that dependency directly; once it answers, intake
//! resumes. Jobs wait in Redis meanwhile instead of each burning an attempt.
//!
//! **Shutdown** follows mini-redis: a [`CancellationToken`] is the signal, a [`TaskTracker`]
//! holds the side tasks. On cancel, every consumer stops taking jobs and waits up to the grace
//! for its jobs; a job still running then is cut off, its lock lapses, and another worker's
//! stalled check takes it over.

use crate::cleanup::{self, CleanupOptions, QueueCheck};
use crate::db::Db;
use crate::error::{Class, Code, ErrorCode};
use crate::job::{Handler, JobError, JobMeta, ProcessPayload, ScanRetryPayload};
use crate::metrics::{Metrics, Readiness};
use crate::queue::{
    ConsumerSettings, EnqueueOptions, EventSink, Failure, Job, Outcome, Processor, QueueBackend,
    QueueError, QueueEvent, QueueName, RetryPolicy, Schedule, ScheduleChange,
};
use crate::storage::Storage;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The seed's default: three uploads at once keeps a 2-core worker busy (the sandbox is CPU
/// bound) without queueing work on the cores.
pub const DEFAULT_CONCURRENCY: usize = 3;
/// One cleanup at a time per worker: runs are scheduled once per period across all workers,
/// and a second concurrent run on one worker would only contend for the same rows.
pub const CLEANUP_CONCURRENCY: usize = 1;
/// Time given to in-flight jobs on SIGTERM: a photo takes about a second and the slowest
/// legitimate job well under 30 s, and 30 s is also the common orchestrator stop timeout.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// BullMQ's default lock: renewed every 15 s while the job runs, so only a dead or frozen
/// worker loses it, and its job is retaken within about a minute.
pub const DEFAULT_LOCK_DURATION: Duration = Duration::from_secs(30);
/// BullMQ's default stalled-check period, matched to the lock duration.
pub const DEFAULT_STALLED_INTERVAL: Duration = Duration::from_secs(30);
/// 4 GiB of job memory in flight, each job charged by [`job_charge`]: the default concurrency
/// (3) of photo jobs at the default limits (1 GiB of guest memory and a 256 MiB MP4 buffer
/// each, plus uploads up to 32 MiB) fits; larger uploads run fewer at a time, and a worker
/// whose concurrency was raised for small files cannot take on more jobs than its memory
/// holds. A job charged more than the cap still runs, alone. Size it to the memory the
/// container gives the worker, minus its baseline.
pub const DEFAULT_MAX_BYTES_IN_FLIGHT: u64 = 4 * 1024 * 1024 * 1024;
/// A job's declared upload bytes are charged twice: the job holds the upload in memory once,
/// and the variants it renders from it (bounded by `ATTACH_MAX_OUTPUT_BYTES`) may be as large
/// again. Charging the output cap in full instead would make every thumbnail job cost 32 MiB.
pub const UPLOAD_CHARGE_FACTOR: u64 = 2;
/// How often the worker looks at the guest directory for a new release: a few `stat` calls,
/// so cheap enough to do often; 2 s makes a new release serve within seconds of its install.
pub const DEFAULT_GUEST_WATCH_INTERVAL: Duration = Duration::from_secs(2);
/// The seed's cleanup period.
pub const DEFAULT_CLEANUP_SCHEDULE: &str = "15m";
/// The job scheduler's id: one per Redis prefix, whatever the number of workers.
pub const CLEANUP_SCHEDULER_ID: &str = "attachments.cleanup.orphan";
/// A failed cleanup run is not retried: the next scheduled run does the same work.
pub const CLEANUP_ATTEMPTS: u32 = 1;
/// Consecutive dependency failures that open the breaker: one or two can be a blip or one bad
/// object; five in a row across jobs is an outage.
pub const BREAKER_THRESHOLD: u32 = 5;
/// How often an open breaker asks the failing dependency whether it is back.
pub const BREAKER_RECHECK_INTERVAL: Duration = Duration::from_secs(5);
/// A health check slower than this counts as a failure.
pub const RECHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// What each of `/readyz`'s two checks (Redis, the database) may take: under the listener's
/// bound on the whole answer ([`crate::metrics::READY_CHECK_TIMEOUT`], 2 s), so that a slow
/// service is named in the answer instead of it saying only that the checks timed out.
pub const READY_PART_TIMEOUT: Duration = Duration::from_millis(1500);
/// Queue depth is re-read after job events, at most this often: at thousands of jobs a
/// second, reading it after each one would double the load on Redis.
pub const DEPTH_REFRESH_MIN_INTERVAL: Duration = Duration::from_millis(250);
/// ... and at least this often, so the gauges move while this worker is idle or paused.
pub const DEPTH_REFRESH_IDLE: Duration = Duration::from_secs(15);
/// Upload bytes are counted in KiB permits (the semaphore counts in `u32`).
const BYTES_PER_PERMIT: u64 = 1024;

/// Where the breaker's dependencies are named: next to the codes that blame them
/// ([`Code::dependency`]).
pub use crate::error::Dependency;

/// Asks a dependency directly whether it works.
#[async_trait::async_trait]
pub trait Health: Send + Sync {
    async fn check(&self, dependency: Dependency) -> Result<(), String>;
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub concurrency: usize,
    pub lock_duration: Duration,
    pub stalled_interval: Duration,
    pub default_retry: RetryPolicy,
    pub shutdown_grace: Duration,
    /// `None`: this worker registers no cleanup schedule (it still runs cleanup jobs).
    pub cleanup_schedule: Option<Schedule>,
    pub max_bytes_in_flight: u64,
    /// What each job is charged besides its upload.
    pub job_memory: JobMemory,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: DEFAULT_CONCURRENCY,
            lock_duration: DEFAULT_LOCK_DURATION,
            stalled_interval: DEFAULT_STALLED_INTERVAL,
            default_retry: RetryPolicy::default(),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            cleanup_schedule: Some(Schedule::Every(Duration::from_secs(15 * 60))),
            max_bytes_in_flight: DEFAULT_MAX_BYTES_IN_FLIGHT,
            job_memory: JobMemory::default(),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunReport {
    /// Jobs still running when the grace ran out (taken over later by another worker).
    pub cut_off: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("queue: {0}")]
    Queue(#[from] QueueError),
}

impl ErrorCode for WorkerError {
    fn error_code(&self) -> Code {
        match self {
            WorkerError::Queue(e) => e.error_code(),
        }
    }
    fn class(&self) -> Class {
        match self {
            WorkerError::Queue(e) => e.class(),
        }
    }
}

/// Runs the worker until `shutdown` fires: registers the cleanup schedule, starts one consumer
/// per `(queue, processor)`, calls `ready` once they take jobs, then drains on shutdown.
pub async fn run(
    backend: Arc<dyn QueueBackend>,
    processors: Vec<(QueueName, Arc<dyn Processor>)>,
    health: Arc<dyn Health>,
    metrics: Arc<Metrics>,
    cfg: WorkerConfig,
    ready: impl FnOnce(),
    shutdown: CancellationToken,
) -> Result<RunReport, WorkerError> {
    if let Some(schedule) = &cfg.cleanup_schedule {
        let job = EnqueueOptions {
            attempts: Some(CLEANUP_ATTEMPTS),
            ..Default::default()
        };
        let change = backend
            .ensure_schedule(
                QueueName::Cleanup,
                CLEANUP_SCHEDULER_ID,
                schedule,
                serde_json::json!({}),
                &job,
            )
            .await?;
        if change == ScheduleChange::Registered {
            tracing::info!(?schedule, "registered the cleanup job scheduler");
        }
    }

    let (trips_tx, mut trips) = mpsc::unbounded_channel();
    let breaker = Arc::new(Breaker::new(BREAKER_THRESHOLD));
    let depth_dirty = Arc::new(Notify::new());
    let sink: EventSink = {
        let (metrics, breaker, trips, dirty) = (
            metrics.clone(),
            breaker.clone(),
            trips_tx.clone(),
            depth_dirty.clone(),
        );
        Arc::new(move |event| {
            record(&metrics, &breaker, &trips, &event);
            dirty.notify_one();
        })
    };
    let bytes = Arc::new(Semaphore::new(
        permits_for(cfg.max_bytes_in_flight).max(1) as usize
    ));
    // Filled once the consumers exist: a tripping job pauses intake itself, before it returns,
    // so no further job starts in the moment the trip takes to reach the loop below.
    let intake: Arc<std::sync::OnceLock<Vec<Arc<dyn crate::queue::Consumer>>>> = Arc::default();
    let mut consumers = Vec::new();
    for (queue, inner) in processors {
        let concurrency = if queue == QueueName::Cleanup {
            CLEANUP_CONCURRENCY
        } else {
            cfg.concurrency
        };
        let guarded = Arc::new(Guarded {
            inner,
            bytes: bytes.clone(),
            total_bytes: cfg.max_bytes_in_flight,
            job_memory: cfg.job_memory,
            metrics: metrics.clone(),
            breaker: breaker.clone(),
            trips: trips_tx.clone(),
            intake: intake.clone(),
        });
        let settings = ConsumerSettings {
            concurrency,
            lock_duration: cfg.lock_duration,
            stalled_interval: cfg.stalled_interval,
            default_retry: cfg.default_retry,
        };
        let consumer: Arc<dyn crate::queue::Consumer> = backend
            .consumer(queue, settings, guarded, sink.clone())
            .await?
            .into();
        consumers.push(consumer);
    }
    let _ = intake.set(consumers.clone());

    let tasks = TaskTracker::new();
    let stop_side_tasks = shutdown.child_token();
    tasks.spawn(refresh_depth(
        backend.clone(),
        metrics.clone(),
        depth_dirty.clone(),
        stop_side_tasks.clone(),
    ));
    for c in &consumers {
        c.start().await?;
    }
    ready();

    let mut open = BTreeSet::new();
    let mut recheck = tokio::time::interval(BREAKER_RECHECK_INTERVAL);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(dependency) = trips.recv() => {
                if open.insert(dependency) {
                    metrics.circuit_trips.with_label_values(&[dependency.as_str()]).inc();
                    metrics.circuit_open.with_label_values(&[dependency.as_str()]).set(1);
                    tracing::error!(%dependency, threshold = BREAKER_THRESHOLD,
                        "circuit breaker open: {dependency} keeps failing; job intake paused until it answers");
                    if open.len() == 1 {
                        consumers.iter().for_each(|c| c.pause());
                    }
                    recheck.reset();
                }
            }
            _ = recheck.tick(), if !open.is_empty() => {
                for dependency in open.clone() {
                    let answer = tokio::time::timeout(RECHECK_TIMEOUT, health.check(dependency)).await;
                    match answer {
                        Ok(Ok(())) => {
                            open.remove(&dependency);
                            breaker.reset(dependency);
                            metrics.circuit_open.with_label_values(&[dependency.as_str()]).set(0);
                            tracing::warn!(%dependency, "circuit breaker closed: {dependency} answers again");
                        }
                        Ok(Err(why)) => tracing::debug!(%dependency, %why, "still failing"),
                        Err(_) => tracing::debug!(%dependency, "health check timed out"),
                    }
                }
                if open.is_empty() {
                    consumers.iter().for_each(|c| c.resume());
                }
            }
        }
    }

    tracing::info!(grace = ?cfg.shutdown_grace, "shutting down: taking no new jobs, waiting for those in flight");
    let mut closing = tokio::task::JoinSet::new();
    for c in consumers {
        let grace = cfg.shutdown_grace;
        closing.spawn(async move { c.close(grace).await });
    }
    let mut cut_off = 0;
    while let Some(n) = closing.join_next().await {
        cut_off += n.unwrap_or(0);
    }
    if cut_off > 0 {
        tracing::warn!(
            cut_off,
            "grace ran out: jobs cut off; another worker recovers them once their locks lapse"
        );
    }
    stop_side_tasks.cancel();
    tasks.close();
    tasks.wait().await;
    Ok(RunReport { cut_off })
}

/// Counts one event in the metrics and the breaker.
fn record(
    metrics: &Metrics,
    breaker: &Breaker,
    trips: &mpsc::UnboundedSender<Dependency>,
    event: &QueueEvent,
) {
    match event {
        QueueEvent::Finished {
            queue,
            outcome,
            duration,
            ..
        } => {
            // The job reached Redis and back: Redis works.
            breaker.reset(Dependency::Redis);
            let series = metrics.queue(queue.as_str());
            let secs = duration.as_secs_f64();
            match outcome {
                Outcome::Completed => {
                    series.processed.inc();
                    series.completed_duration.observe(secs);
                }
                Outcome::Retried { code, .. } => {
                    let labels = [queue.as_str(), code.as_str()];
                    metrics.jobs_retried.with_label_values(&labels).inc();
                    series.retried_duration.observe(secs);
                }
                Outcome::Failed { code, .. } => {
                    let labels = [queue.as_str(), code.as_str()];
                    metrics.jobs_failed.with_label_values(&labels).inc();
                    series.failed_duration.observe(secs);
                }
            }
            if *queue == QueueName::Cleanup {
                let run = if *outcome == Outcome::Completed {
                    "ok"
                } else {
                    "error"
                };
                metrics.cleanup_runs.with_label_values(&[run]).inc();
            }
        }
        QueueEvent::Stalled { queue, job_id } => {
            tracing::warn!(%queue, %job_id, "took over a stalled job (its worker stopped renewing the lock)");
            metrics
                .jobs_stalled
                .with_label_values(&[queue.as_str()])
                .inc();
        }
        QueueEvent::BackendError { queue, message } => {
            tracing::warn!(%queue, %message, "queue backend error");
            metrics
                .queue_errors
                .with_label_values(&[queue.as_str()])
                .inc();
            if breaker.failure(Dependency::Redis) {
                let _ = trips.send(Dependency::Redis);
            }
        }
    }
}

/// Re-reads every queue's depth after job events (at most every
/// [`DEPTH_REFRESH_MIN_INTERVAL`]) and when idle (every [`DEPTH_REFRESH_IDLE`]).
async fn refresh_depth(
    backend: Arc<dyn QueueBackend>,
    metrics: Arc<Metrics>,
    dirty: Arc<Notify>,
    stop: CancellationToken,
) {
    loop {
        for q in QueueName::ALL {
            match backend.depth(q).await {
                Ok(d) => metrics.set_depth(q.as_str(), d.waiting, d.active, d.delayed),
                Err(e) => tracing::debug!(queue = %q, error = %e, "could not read queue depth"),
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(DEPTH_REFRESH_IDLE) => {}
            _ = dirty.notified() => {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(DEPTH_REFRESH_MIN_INTERVAL) => {}
                }
            }
        }
    }
}

/// Counts consecutive dependency failures; trips once per run of failures. Atomics: every
/// job touches it.
struct Breaker {
    threshold: u32,
    consecutive: [AtomicU32; 3],
}

impl Breaker {
    fn new(threshold: u32) -> Self {
        Breaker {
            threshold: threshold.max(1),
            consecutive: Default::default(),
        }
    }

    fn slot(&self, d: Dependency) -> &AtomicU32 {
        &self.consecutive[d as usize]
    }

    /// Counts a failure; `true` exactly when this one reaches the threshold.
    fn failure(&self, d: Dependency) -> bool {
        self.slot(d).fetch_add(1, Ordering::Relaxed) + 1 == self.threshold
    }

    /// A job got through storage and the database.
    fn success(&self) {
        self.reset(Dependency::Storage);
        self.reset(Dependency::Database);
    }

    fn reset(&self, d: Dependency) {
        // Skips the write (and the cache line bounce between cores) when already zero.
        if self.slot(d).load(Ordering::Relaxed) != 0 {
            self.slot(d).store(0, Ordering::Relaxed);
        }
    }
}

/// Memory a job may hold besides its upload, whatever the upload turns out to be (the pipeline
/// picks image or video by the bytes, not by the declared type, so every job is charged both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobMemory {
    /// `ATTACH_GUEST_MEMORY`: a job runs one guest call at a time, whose linear memory may
    /// grow to this.
    pub guest: u64,
    /// When video is on, else 0: the MP4 (up to `ATTACH_VIDEO_MAX_OUTPUT_BYTES`) and the
    /// poster (up to its own cap, from `ATTACH_VIDEO_BOX`) that ffmpeg wrote are both read
    /// into memory to be stored ([`crate::video::max_held_output_bytes`]). (ffmpeg itself is
    /// another process, bounded by `ATTACH_VIDEO_MEMORY`, and not charged here.)
    pub video_output: u64,
}

impl Default for JobMemory {
    fn default() -> Self {
        JobMemory {
            guest: crate::config::DEFAULT_GUEST_MEMORY_BYTES,
            video_output: crate::video::max_held_output_bytes(&crate::video::VideoConfig::default()),
        }
    }
}

/// What one job is charged against the bytes-in-flight cap `total`: its declared upload
/// ([`UPLOAD_CHARGE_FACTOR`] times) plus the memory any job may hold ([`JobMemory`]), at most
/// `total`, so that a job larger than the cap still runs, alone.
pub fn job_charge(declared: u64, memory: JobMemory, total: u64) -> u64 {
    declared
        .saturating_mul(UPLOAD_CHARGE_FACTOR)
        .saturating_add(memory.guest)
        .saturating_add(memory.video_output)
        .min(total)
}

fn permits_for(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(BYTES_PER_PERMIT)).unwrap_or(u32::MAX)
}

/// Wraps a queue's processor with the bytes-in-flight cap and the breaker's accounting.
struct Guarded {
    inner: Arc<dyn Processor>,
    bytes: Arc<Semaphore>,
    total_bytes: u64,
    job_memory: JobMemory,
    metrics: Arc<Metrics>,
    breaker: Arc<Breaker>,
    trips: mpsc::UnboundedSender<Dependency>,
    intake: Arc<std::sync::OnceLock<Vec<Arc<dyn crate::queue::Consumer>>>>,
}

#[async_trait::async_trait]
impl Processor for Guarded {
    async fn process(&self, job: Job) -> Result<serde_json::Value, Failure> {
        // The payload's declared size: the handler refuses an object whose real size differs,
        // reading at most one byte more than declared.
        let declared = job.data.get("size").and_then(|s| s.as_u64()).unwrap_or(0);
        let charge = job_charge(declared, self.job_memory, self.total_bytes);
        let permits = permits_for(charge).max(1);
        // The semaphore is never closed, so acquiring only waits.
        let _held = self.bytes.acquire_many(permits).await.ok();
        // The gauge shows declared upload bytes (what dashboards compare with upload sizes).
        let counted = i64::try_from(declared).unwrap_or(i64::MAX);
        self.metrics.bytes_in_flight.add(counted);
        let result = self.inner.process(job).await;
        self.metrics.bytes_in_flight.sub(counted);
        match &result {
            Ok(_) => self.breaker.success(),
            Err(f) => {
                if let Some(d) = f.code.dependency() {
                    if self.breaker.failure(d) {
                        self.intake
                            .get()
                            .into_iter()
                            .flatten()
                            .for_each(|c| c.pause());
                        let _ = self.trips.send(d);
                    }
                }
            }
        }
        result
    }
}

/// `attachments.process`: the payload through [`Handler::process_job`]; the return value is
/// its summary.
pub struct ProcessJobs {
    pub handler: Handler,
}

#[async_trait::async_trait]
impl Processor for ProcessJobs {
    async fn process(&self, job: Job) -> Result<serde_json::Value, Failure> {
        let payload: ProcessPayload = serde_json::from_value(job.data)
            .map_err(|e| Failure::from_error(&JobError::InvalidPayload(e.to_string())))?;
        let meta = JobMeta {
            job_id: Some(job.id),
            scan_tries: 0,
        };
        let summary = self
            .handler
            .process_job(&payload, &meta)
            .await
            .map_err(|e| Failure::from_error(&e))?;
        serde_json::to_value(summary)
            .map_err(|e| Failure::from_error(&JobError::Task(e.to_string())))
    }
}

/// `attachments.vscan.retry`: the same handler, told how many scanner tries came before, so a
/// scanner still down schedules the next retry (or, tries used up, fails the upload closed).
pub struct VscanRetryJobs {
    pub handler: Handler,
}

#[async_trait::async_trait]
impl Processor for VscanRetryJobs {
    async fn process(&self, job: Job) -> Result<serde_json::Value, Failure> {
        let payload: ScanRetryPayload = serde_json::from_value(job.data)
            .map_err(|e| Failure::from_error(&JobError::InvalidPayload(e.to_string())))?;
        let meta = JobMeta {
            job_id: Some(job.id),
            scan_tries: payload.scan_tries,
        };
        let summary = self
            .handler
            .process_job(&payload.upload, &meta)
            .await
            .map_err(|e| Failure::from_error(&e))?;
        serde_json::to_value(summary)
            .map_err(|e| Failure::from_error(&JobError::Task(e.to_string())))
    }
}

/// `attachments.cleanup.orphan`: one [`cleanup::run`]; the return value is its report.
pub struct CleanupJobs {
    pub db: Db,
    pub storage: Arc<dyn Storage>,
    /// The queues whose waiting jobs keep their uploads from being taken as orphans.
    pub queue: QueueCheck,
    pub options: CleanupOptions,
    pub metrics: Arc<Metrics>,
}

#[async_trait::async_trait]
impl Processor for CleanupJobs {
    async fn process(&self, _job: Job) -> Result<serde_json::Value, Failure> {
        let report = cleanup::run(&self.db, &self.storage, &self.queue, &self.options)
            .await
            .map_err(|e| Failure::from_error(&e))?;
        self.metrics.uploads_abandoned.inc_by(report.abandoned);
        serde_json::to_value(report)
            .map_err(|e| Failure::from_error(&JobError::Task(e.to_string())))
    }
}

/// The real dependencies, asked directly: whether a tripped breaker may close, and `/readyz`.
pub struct HealthChecks {
    pub db: Db,
    /// Where the database is, for `/readyz` (no password).
    pub database_address: String,
    pub storage: Arc<dyn Storage>,
    /// Asked for a PING on a connection of its own ([`crate::queue::ping`]), which reports
    /// why Redis does not answer where the shared connection reports a timeout.
    pub redis: crate::queue::RedisTarget,
    /// Listed (one key) to prove the store answers.
    pub storage_prefix: String,
}

#[async_trait::async_trait]
impl Health for HealthChecks {
    async fn check(&self, dependency: Dependency) -> Result<(), String> {
        match dependency {
            Dependency::Storage => self
                .storage
                .list(&self.storage_prefix, None, 1)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            // A new connection first: while the server is away it fails at once with the
            // cause, where the schema check through the pool would wait for its timeout.
            Dependency::Database => {
                self.db.ping().await.map_err(|e| e.to_string())?;
                self.db.check_schema().await.map_err(|e| e.to_string())
            }
            // The cause alone: the answer already names Redis.
            Dependency::Redis => crate::queue::ping(&self.redis, RECHECK_TIMEOUT)
                .await
                .map_err(|e| match e {
                    QueueError::Unavailable(cause) => cause,
                    other => other.to_string(),
                }),
        }
    }
}

#[async_trait::async_trait]
impl Readiness for HealthChecks {
    /// Ready when Redis and the database answer (storage is checked per job: an S3 outage
    /// should pause intake through the breaker, not take the worker out of its pool).
    async fn ready(&self) -> Result<(), String> {
        let bounded = |dependency| async move {
            tokio::time::timeout(READY_PART_TIMEOUT, self.check(dependency))
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "no answer within {} ms",
                        READY_PART_TIMEOUT.as_millis()
                    ))
                })
        };
        let (redis, db) = tokio::join!(bounded(Dependency::Redis), bounded(Dependency::Database));
        redis.map_err(|e| format!("redis at {}: {e}", self.redis.address()))?;
        db.map_err(|e| format!("database at {}: {e}", self.database_address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_trips_once_at_the_threshold_and_a_success_rearms_it() {
        let b = Breaker::new(3);
        assert!(!b.failure(Dependency::Storage));
        assert!(!b.failure(Dependency::Storage));
        assert!(b.failure(Dependency::Storage));
        assert!(!b.failure(Dependency::Storage), "trips once per run");
        b.success();
        assert!(!b.failure(Dependency::Storage));
        assert!(!b.failure(Dependency::Database));
    }

    #[test]
    fn bytes_are_counted_in_whole_kib_permits() {
        assert_eq!(permits_for(0), 0);
        assert_eq!(permits_for(1), 1);
        assert_eq!(permits_for(256 * 1024 * 1024), 262_144);
        assert_eq!(permits_for(DEFAULT_MAX_BYTES_IN_FLIGHT), 4_194_304);
    }

    #[test]
    fn a_job_is_charged_its_upload_twice_plus_guest_and_video_memory_at_most_the_cap() {
        const MIB: u64 = 1024 * 1024;
        let memory = JobMemory {
            guest: 1024 * MIB,
            video_output: 256 * MIB,
        };
        let total = DEFAULT_MAX_BYTES_IN_FLIGHT;
        // A tiny upload still costs the memory its guest calls and an MP4 may take.
        assert_eq!(job_charge(0, memory, total), 1280 * MIB);
        assert_eq!(job_charge(10 * MIB, memory, total), 1300 * MIB);
        // The default concurrency of photo jobs fits the default cap; of the largest image
        // uploads (64 MiB), the third waits.
        assert!(3 * job_charge(32 * MIB, memory, total) <= total);
        assert!(3 * job_charge(64 * MIB, memory, total) > total);
        // Video off: no MP4 buffer.
        let images = JobMemory {
            video_output: 0,
            ..memory
        };
        assert_eq!(job_charge(10 * MIB, images, total), 1044 * MIB);
        // Never more than the cap: a job larger than it runs alone rather than never.
        assert_eq!(job_charge(u64::MAX, memory, total), total);
        assert_eq!(job_charge(0, memory, 512 * MIB), 512 * MIB);
        assert_eq!(JobMemory::default().guest, memory.guest);
    }

    #[test]
    fn the_video_charge_covers_both_outputs_the_worker_reads_into_memory() {
        use crate::video::{max_poster_bytes, VideoConfig, DEFAULT_MAX_OUTPUT_BYTES};
        let cfg = VideoConfig::default();
        // The MP4 at its cap and the poster at its own.
        assert_eq!(
            JobMemory::default().video_output,
            DEFAULT_MAX_OUTPUT_BYTES + max_poster_bytes(&cfg)
        );
        // A larger box makes a larger poster, and the charge follows it.
        let big = VideoConfig {
            max_long_edge: 3840,
            max_short_edge: 2160,
            ..VideoConfig::default()
        };
        assert!(crate::video::max_held_output_bytes(&big) > JobMemory::default().video_output);
    }
}
