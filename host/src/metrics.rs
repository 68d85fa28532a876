//! Prometheus metrics and the worker's HTTP endpoints: `/metrics` (text exposition),
//! `/healthz` (the process is up), `/readyz` (Redis and the database answer) and `/guests`
//! (the guest releases serving now, as JSON).
//!
//! The counters are the seed's (`attachmentsJobsCompleted`, `…Failed`, `…Retried`,
//! `attachmentsCleanupRuns`) in Prometheus form, labelled by queue and, for failures, by the
//! stable error code. One private registry, so nothing else in the process can add to it.
//!
//! Labels come in as plain strings (queue names, error codes): this module knows the metric
//! families, not the queues or jobs that feed them.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Where `/metrics` listens when `ATTACH_METRICS_ADDR` is unset: the conventional port range
/// of Prometheus exporters, on loopback so nothing is exposed by default.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9464";
/// A `/readyz` check that takes longer than this reports not ready: a probe must answer
/// faster than the orchestrator's own probe timeout (commonly 1 to 5 s).
pub const READY_CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// A client must send its whole request head within this: a probe or a scraper sends it in
/// one packet, milliseconds after connecting; 5 s is generous for a slow network and bounds
/// how long a slowloris client (one header byte now and then) holds a connection.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// No connection lives longer than this, whatever it does: the header read, a readiness check
/// (at most [`READY_CHECK_TIMEOUT`]) and writing a response of a few kilobytes fit with room
/// to spare. Also covers a client that connects and never sends a byte. Each connection
/// serves one request (no keep-alive), so this is a per-request bound too.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(15);
/// Connections served at once. Prometheus and the orchestrator's probes use a handful; 64
/// leaves room for several of each while bounding the tasks and file descriptors a flood can
/// take. At the cap a new connection takes the place of the oldest one that has not sent a
/// whole request head yet (a probe sends its head milliseconds after connecting, an idle or
/// slowloris client never does), so idle connections cannot keep a probe waiting; only when
/// every connection is busy serving a request does the listener wait for one to end.
pub const MAX_CONNECTIONS: usize = 64;
/// A `/readyz` answer is reused for this long: probes every few seconds still see a change
/// within a second, while a flood of probes costs Redis and the database one check per second
/// (concurrent probes also wait for the one check in flight rather than each starting one).
pub const READY_CACHE_TTL: Duration = Duration::from_secs(1);

/// Job duration buckets, in seconds: no-op and cached jobs take milliseconds, a photo about a
/// second, the slowest legitimate image job (its guest calls within their fuel, a few seconds
/// even for the largest accepted image) under a minute.
pub const DURATION_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0,
];

/// Everything the worker reports.
pub struct Metrics {
    registry: Registry,
    /// Every family registered, in registration order (see [`Metrics::family_names`]).
    family_names: Vec<String>,
    /// `attachments_jobs_processed_total{queue}`: jobs completed.
    pub jobs_processed: IntCounterVec,
    /// `attachments_jobs_failed_total{queue,code}`: jobs failed for good.
    pub jobs_failed: IntCounterVec,
    /// `attachments_jobs_retried_total{queue,code}`: failed attempts that will be retried.
    pub jobs_retried: IntCounterVec,
    /// `attachments_jobs_stalled_total{queue}`: jobs this worker took over from a dead one.
    pub jobs_stalled: IntCounterVec,
    /// `attachments_cleanup_runs_total{outcome}`: cleanup job runs (`ok`, `error`).
    pub cleanup_runs: IntCounterVec,
    /// `attachments_job_duration_seconds{queue,outcome}`.
    pub job_duration: HistogramVec,
    /// `attachments_queue_depth{queue,state}` with state `waiting`, `active`, `delayed`.
    pub queue_depth: IntGaugeVec,
    /// `attachments_queue_depth_updated_timestamp_seconds`: when the depth was last read.
    pub queue_depth_updated: Gauge,
    /// `attachments_circuit_open{dependency}`: 1 while intake is paused for that dependency.
    pub circuit_open: IntGaugeVec,
    /// `attachments_circuit_trips_total{dependency}`.
    pub circuit_trips: IntCounterVec,
    /// `attachments_dependency_up{dependency}` (`redis`, `database`, `storage`, `clamd`): 1
    /// when the service answered the worker's last check ([`crate::deps::watch`]), 0 when it
    /// did not.
    pub dependency_up: IntGaugeVec,
    /// `attachments_bytes_in_flight`: declared upload bytes of the jobs running now.
    pub bytes_in_flight: IntGauge,
    /// `attachments_queue_errors_total{queue}`: Redis errors the queue backend reported.
    pub queue_errors: IntCounterVec,
    /// `attachments_vscan_scans_total{outcome}`: antivirus scans by outcome (`clean`,
    /// `infected`, `too-large`, `unavailable`, `error`).
    pub vscan_scans: IntCounterVec,
    /// `attachments_vscan_duration_seconds`: time to stream an upload to clamd and get its
    /// verdict (scans that got one).
    pub vscan_duration: prometheus::Histogram,
    /// `attachments_quarantined_total{source}`: uploads quarantined (`clamd`, `scan-guest`,
    /// `suspicious`, `oversize`).
    pub quarantined: IntCounterVec,
    /// `attachments_vscan_up`: 1 when the last contact with clamd got an answer, 0 when it
    /// did not (a scan or the start-up PING).
    pub vscan_up: IntGauge,
    /// `attachments_vscan_retries_scheduled_total`: `attachments.vscan.retry` jobs scheduled
    /// because the scanner was unavailable.
    pub vscan_retries: prometheus::IntCounter,
    /// `attachments_uploads_abandoned_total`: `processing` rows cleanup marked failed because
    /// their worker died and no job took them over.
    pub uploads_abandoned: prometheus::IntCounter,
    /// `attachments_guest_info{name,world,version,sha256}`: 1 for each guest release serving
    /// now (the series of a swapped-out release is removed).
    pub guest_info: IntGaugeVec,
    /// `attachments_guest_swaps_total`: times the worker switched to a new guest set.
    pub guest_swaps: prometheus::IntCounter,
    /// `attachments_guest_refusals_total{reason}`: guest releases refused (the error code:
    /// `guest-signature-invalid`, `guest-key-untrusted`, …); the running set kept serving.
    pub guest_refusals: IntCounterVec,
    /// What `/guests` answers: the guest releases serving now, as JSON (set by the worker at
    /// start and after every swap).
    loaded_guests: std::sync::Mutex<String>,
    /// Each queue's per-job series, resolved once: looking labels up on every job costs a hash
    /// and a lock per series, which shows at thousands of jobs a second.
    per_queue: Vec<(String, QueueSeries)>,
}

/// One queue's per-job series (see [`Metrics::queue`]).
#[derive(Clone)]
pub struct QueueSeries {
    pub processed: prometheus::IntCounter,
    pub completed_duration: prometheus::Histogram,
    pub retried_duration: prometheus::Histogram,
    pub failed_duration: prometheus::Histogram,
}

impl QueueSeries {
    fn resolve(processed: &IntCounterVec, duration: &HistogramVec, queue: &str) -> Self {
        let d = |o: &str| duration.with_label_values(&[queue, o]);
        QueueSeries {
            processed: processed.with_label_values(&[queue]),
            completed_duration: d("completed"),
            retried_duration: d("retried"),
            failed_duration: d("failed"),
        }
    }
}

impl Metrics {
    /// A registry with every family, and every series of `queues` (the `queue` label values)
    /// created at zero.
    pub fn new(queues: &[&str]) -> Arc<Metrics> {
        /// The registry, and the name of every family registered in it (a family with no
        /// series yet is missing from what the registry gathers).
        struct Registering {
            registry: Registry,
            names: std::cell::RefCell<Vec<String>>,
        }
        let registry = Registering {
            registry: Registry::new(),
            names: Default::default(),
        };
        fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registering, c: T) -> T {
            r.names
                .borrow_mut()
                .extend(c.desc().iter().map(|d| d.fq_name.clone()));
            // Names are fixed at compile time and unique: registration cannot fail.
            r.registry
                .register(Box::new(c.clone()))
                .expect("metric names are unique");
            c
        }
        let counter = |name: &str, help: &str, labels: &[&str]| {
            reg(
                &registry,
                IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"),
            )
        };
        let jobs_processed = counter(
            "attachments_jobs_processed_total",
            "Jobs completed.",
            &["queue"],
        );
        let jobs_failed = counter(
            "attachments_jobs_failed_total",
            "Jobs failed for good (permanent error or attempts exhausted).",
            &["queue", "code"],
        );
        let jobs_retried = counter(
            "attachments_jobs_retried_total",
            "Failed attempts that will be retried.",
            &["queue", "code"],
        );
        let jobs_stalled = counter(
            "attachments_jobs_stalled_total",
            "Jobs this worker took over after their previous run stalled (worker died or froze).",
            &["queue"],
        );
        let cleanup_runs = counter(
            "attachments_cleanup_runs_total",
            "Orphan cleanup runs.",
            &["outcome"],
        );
        let circuit_trips = counter(
            "attachments_circuit_trips_total",
            "Times job intake was paused because a dependency kept failing.",
            &["dependency"],
        );
        let queue_errors = counter(
            "attachments_queue_errors_total",
            "Errors the queue backend reported talking to Redis.",
            &["queue"],
        );
        let job_duration = reg(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "attachments_job_duration_seconds",
                    "Time from a job's start on this worker to its result.",
                )
                .buckets(DURATION_BUCKETS.to_vec()),
                &["queue", "outcome"],
            )
            .expect("valid metric"),
        );
        let queue_depth = reg(
            &registry,
            IntGaugeVec::new(
                Opts::new("attachments_queue_depth", "Jobs per queue and state."),
                &["queue", "state"],
            )
            .expect("valid metric"),
        );
        let queue_depth_updated = reg(
            &registry,
            Gauge::new(
                "attachments_queue_depth_updated_timestamp_seconds",
                "Unix time of the last queue depth reading.",
            )
            .expect("valid metric"),
        );
        let circuit_open = reg(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "attachments_circuit_open",
                    "1 while job intake is paused because this dependency is failing.",
                ),
                &["dependency"],
            )
            .expect("valid metric"),
        );
        let dependency_up = reg(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "attachments_dependency_up",
                    "1 when this service answered the worker's last check, 0 when it did not.",
                ),
                &["dependency"],
            )
            .expect("valid metric"),
        );
        let bytes_in_flight = reg(
            &registry,
            IntGauge::new(
                "attachments_bytes_in_flight",
                "Declared upload bytes of the jobs running now.",
            )
            .expect("valid metric"),
        );
        let vscan_scans = counter(
            "attachments_vscan_scans_total",
            "Antivirus (clamd) scans by outcome.",
            &["outcome"],
        );
        let quarantined = counter(
            "attachments_quarantined_total",
            "Uploads moved to quarantine, by what decided it.",
            &["source"],
        );
        let vscan_duration = reg(
            &registry,
            prometheus::Histogram::with_opts(
                HistogramOpts::new(
                    "attachments_vscan_duration_seconds",
                    "Time to stream an upload to clamd and read its verdict.",
                )
                .buckets(DURATION_BUCKETS.to_vec()),
            )
            .expect("valid metric"),
        );
        let vscan_up = reg(
            &registry,
            IntGauge::new(
                "attachments_vscan_up",
                "1 when the last contact with clamd got an answer, 0 when it did not.",
            )
            .expect("valid metric"),
        );
        let vscan_retries = reg(
            &registry,
            prometheus::IntCounter::new(
                "attachments_vscan_retries_scheduled_total",
                "attachments.vscan.retry jobs scheduled because the scanner was unavailable.",
            )
            .expect("valid metric"),
        );
        let uploads_abandoned = reg(
            &registry,
            prometheus::IntCounter::new(
                "attachments_uploads_abandoned_total",
                "Uploads left processing by a worker that died, marked failed by cleanup.",
            )
            .expect("valid metric"),
        );
        let guest_info = reg(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "attachments_guest_info",
                    "1 for each guest release serving now: its name, world, version and sha256.",
                ),
                &["name", "world", "version", "sha256"],
            )
            .expect("valid metric"),
        );
        let guest_swaps = reg(
            &registry,
            prometheus::IntCounter::new(
                "attachments_guest_swaps_total",
                "Times the worker switched to a new set of guest releases without a restart.",
            )
            .expect("valid metric"),
        );
        let guest_refusals = reg(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "attachments_guest_refusals_total",
                    "Guest releases refused at load or reload, by reason; the running guests kept serving.",
                ),
                &["reason"],
            )
            .expect("valid metric"),
        );
        for outcome in ["clean", "infected", "too-large", "unavailable", "error"] {
            vscan_scans.with_label_values(&[outcome]);
        }
        for source in ["clamd", "scan-guest", "suspicious", "oversize"] {
            quarantined.with_label_values(&[source]);
        }
        // Every series exists from the start, so dashboards and alerts see zeros rather than
        // gaps before the first job.
        for &q in queues {
            jobs_processed.with_label_values(&[q]);
            jobs_stalled.with_label_values(&[q]);
            queue_errors.with_label_values(&[q]);
            for state in ["waiting", "active", "delayed"] {
                queue_depth.with_label_values(&[q, state]);
            }
            // Failures too, for every code: `increase()` cannot count a series' first sample,
            // so a code's first failure after a restart would go unseen by the failed-jobs
            // alert if its series only appeared then. A few hundred zero series are cheap.
            for code in crate::error::Code::ALL {
                jobs_failed.with_label_values(&[q, code.as_str()]);
            }
            for outcome in ["completed", "retried", "failed"] {
                job_duration.with_label_values(&[q, outcome]);
            }
        }
        for outcome in ["ok", "error"] {
            cleanup_runs.with_label_values(&[outcome]);
        }
        for dep in ["storage", "database", "redis"] {
            circuit_open.with_label_values(&[dep]);
            circuit_trips.with_label_values(&[dep]);
        }
        let per_queue = queues
            .iter()
            .map(|&q| {
                let series = QueueSeries::resolve(&jobs_processed, &job_duration, q);
                (q.to_string(), series)
            })
            .collect();
        Arc::new(Metrics {
            per_queue,
            registry: registry.registry,
            family_names: registry.names.into_inner(),
            jobs_processed,
            jobs_failed,
            jobs_retried,
            jobs_stalled,
            cleanup_runs,
            job_duration,
            queue_depth,
            queue_depth_updated,
            circuit_open,
            circuit_trips,
            dependency_up,
            bytes_in_flight,
            queue_errors,
            vscan_scans,
            vscan_duration,
            quarantined,
            vscan_up,
            vscan_retries,
            uploads_abandoned,
            guest_info,
            guest_swaps,
            guest_refusals,
            loaded_guests: std::sync::Mutex::new("[]".into()),
        })
    }

    /// Every metric family this worker exports, those without series yet included: the ops
    /// pack's alerts and dashboard must name only these (`host/tests/ops.rs`).
    pub fn family_names(&self) -> &[String] {
        &self.family_names
    }

    /// The per-job series of `queue`: those resolved at start for a queue named to
    /// [`Metrics::new`], else resolved now (slower, never wrong).
    pub fn queue(&self, queue: &str) -> std::borrow::Cow<'_, QueueSeries> {
        match self.per_queue.iter().find(|(name, _)| name == queue) {
            Some((_, series)) => std::borrow::Cow::Borrowed(series),
            None => std::borrow::Cow::Owned(QueueSeries::resolve(
                &self.jobs_processed,
                &self.job_duration,
                queue,
            )),
        }
    }

    /// The jobs of `queue` per state, read just now.
    pub fn set_depth(&self, queue: &str, waiting: u64, active: u64, delayed: u64) {
        let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        for (state, n) in [
            ("waiting", waiting),
            ("active", active),
            ("delayed", delayed),
        ] {
            self.queue_depth
                .with_label_values(&[queue, state])
                .set(clamp(n));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        self.queue_depth_updated.set(now);
    }

    /// Sets what `/guests` answers: a JSON document of the guest releases serving now.
    pub fn set_loaded_guests(&self, json: String) {
        *lock(&self.loaded_guests) = json;
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Writing to a Vec cannot fail, and the registry holds only valid metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// What `/readyz` asks: whether the worker can do its work right now.
#[async_trait::async_trait]
pub trait Readiness: Send + Sync {
    /// `Err` names what is not ready.
    async fn ready(&self) -> Result<(), String>;
}

/// The metrics server's limits (each default's reason is at its constant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    pub header_read_timeout: Duration,
    pub connection_deadline: Duration,
    pub max_connections: usize,
    pub ready_cache_ttl: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            header_read_timeout: HEADER_READ_TIMEOUT,
            connection_deadline: CONNECTION_DEADLINE,
            max_connections: MAX_CONNECTIONS,
            ready_cache_ttl: READY_CACHE_TTL,
        }
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until `shutdown` fires, with the
/// default [`ServeLimits`].
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    readiness: Arc<dyn Readiness>,
    shutdown: CancellationToken,
) {
    serve_with(
        listener,
        metrics,
        readiness,
        shutdown,
        ServeLimits::default(),
    )
    .await
}

/// [`serve`] with explicit limits.
pub async fn serve_with(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    readiness: Arc<dyn Readiness>,
    shutdown: CancellationToken,
    limits: ServeLimits,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let ready = Arc::new(ReadyCache::new(readiness, limits.ready_cache_ttl));
    let live: Arc<std::sync::Mutex<Vec<Live>>> = Arc::default();
    let mut next_id = 0u64;
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors or similar: pause instead of spinning.
                    tracing::warn!(error = %e, "metrics listener accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // A slot, or one made by evicting the oldest connection still without a request head
        // (see MAX_CONNECTIONS); if every connection is serving, wait for one to end.
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if let Some(idle) = lock(&live)
                    .iter()
                    .find(|c| !c.requested.load(Ordering::Relaxed))
                {
                    idle.evict.cancel();
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        // Never closed.
                        Err(_) => return,
                    },
                }
            }
        };
        next_id += 1;
        let me = Live {
            id: next_id,
            requested: Arc::new(AtomicBool::new(false)),
            evict: CancellationToken::new(),
        };
        let (requested, evict, id) = (me.requested.clone(), me.evict.clone(), me.id);
        lock(&live).push(me);
        let (metrics, ready, live) = (metrics.clone(), ready.clone(), live.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |req| {
                // A whole request head arrived: this connection is no longer idle.
                requested.store(true, Ordering::Relaxed);
                let (metrics, ready) = (metrics.clone(), ready.clone());
                async move { Ok::<_, std::convert::Infallible>(route(req, &metrics, &ready).await) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .keep_alive(false)
                .serve_connection(io, service);
            tokio::select! {
                () = evict.cancelled() => {
                    tracing::debug!("idle metrics connection closed to make room for a new one");
                }
                r = tokio::time::timeout(limits.connection_deadline, conn) => match r {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::debug!(error = %e, "metrics connection ended with an error"),
                    Err(_) => tracing::debug!("metrics connection closed at its deadline"),
                },
            }
            lock(&live).retain(|c| c.id != id);
        });
    }
}

/// A connection being served, oldest first in the server's list.
struct Live {
    id: u64,
    /// Set once the connection has sent a whole request head.
    requested: Arc<AtomicBool>,
    /// Closes the connection to make room for a new one.
    evict: CancellationToken,
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Neither the connection list nor the guests' document holds an invariant a panicking
    // holder could break: keep using it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `/readyz` answers, reused for a short while (see [`READY_CACHE_TTL`]); `attachd serve`'s
/// `/readyz` uses it too.
pub struct ReadyCache {
    readiness: Arc<dyn Readiness>,
    ttl: Duration,
    /// Held across a check, so concurrent probes wait for it instead of starting their own.
    last: tokio::sync::Mutex<Option<(tokio::time::Instant, Result<(), String>)>>,
}

impl ReadyCache {
    pub fn new(readiness: Arc<dyn Readiness>, ttl: Duration) -> Self {
        ReadyCache {
            readiness,
            ttl,
            last: tokio::sync::Mutex::new(None),
        }
    }

    pub async fn check(&self) -> Result<(), String> {
        let mut last = self.last.lock().await;
        if let Some((at, answer)) = last.as_ref() {
            if at.elapsed() < self.ttl {
                return answer.clone();
            }
        }
        let answer = match tokio::time::timeout(READY_CHECK_TIMEOUT, self.readiness.ready()).await {
            Ok(answer) => answer,
            Err(_) => Err("checks timed out".to_string()),
        };
        *last = Some((tokio::time::Instant::now(), answer.clone()));
        answer
    }
}

async fn route<B>(req: Request<B>, metrics: &Metrics, ready: &ReadyCache) -> Response<Full<Bytes>> {
    let text = |status: StatusCode, content_type: &'static str, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .expect("static response parts are valid")
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
    }
    match req.uri().path() {
        "/metrics" => text(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            metrics.render(),
        ),
        "/healthz" => text(StatusCode::OK, "text/plain", "ok\n".into()),
        "/guests" => text(
            StatusCode::OK,
            "application/json",
            lock(&metrics.loaded_guests).clone(),
        ),
        "/readyz" => match ready.check().await {
            Ok(()) => text(StatusCode::OK, "text/plain", "ready\n".into()),
            Err(why) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!("not ready: {why}\n"),
            ),
        },
        _ => text(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Always ready; counts how often it was asked.
    struct CountingReadiness(AtomicUsize);

    #[async_trait::async_trait]
    impl Readiness for CountingReadiness {
        async fn ready(&self) -> Result<(), String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    /// A server on a free loopback port; stops when the returned token is cancelled.
    async fn server(
        limits: ServeLimits,
    ) -> (
        std::net::SocketAddr,
        Arc<CountingReadiness>,
        CancellationToken,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let readiness = Arc::new(CountingReadiness(AtomicUsize::new(0)));
        let stop = CancellationToken::new();
        tokio::spawn(serve_with(
            listener,
            Metrics::new(&[]),
            readiness.clone(),
            stop.clone(),
            limits,
        ));
        (addr, readiness, stop)
    }

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).await.unwrap();
        text
    }

    /// Sends half a request head, then nothing more.
    async fn slowloris(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        s
    }

    fn quick(header_read_timeout: Duration, max_connections: usize) -> ServeLimits {
        ServeLimits {
            header_read_timeout,
            max_connections,
            ..ServeLimits::default()
        }
    }

    #[tokio::test]
    async fn a_client_sending_a_partial_header_is_disconnected_after_the_header_timeout() {
        let (addr, _, stop) = server(quick(Duration::from_millis(500), 8)).await;
        let mut s = slowloris(addr).await;
        let started = std::time::Instant::now();
        let mut buf = Vec::new();
        // The server closes the connection (possibly with a 408 first): the read ends.
        let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "still connected after 5 s");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(400),
            "closed after {waited:?}"
        );
        stop.cancel();
    }

    #[tokio::test]
    async fn idle_connections_beyond_the_cap_are_closed_and_never_delay_a_probe() {
        // A header timeout far longer than the probe may wait: only evicting idle
        // connections can get the probe served in time.
        let (addr, _, stop) = server(quick(Duration::from_secs(60), 4)).await;
        let mut idle = Vec::new();
        for _ in 0..12 {
            idle.push(slowloris(addr).await);
        }
        let started = std::time::Instant::now();
        let answer = tokio::time::timeout(Duration::from_secs(2), get(addr, "/healthz"))
            .await
            .expect("a probe is served at once, however many idle connections there are");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("ok\n"), "{answer}");
        assert!(started.elapsed() < Duration::from_secs(2));
        // The cap held: of the 12 idle clients, at most 4 connections were ever open at once,
        // so the server closed at least 8 of them (a read sees the end of the stream).
        let mut closed = 0;
        for mut s in idle {
            let mut buf = [0u8; 64];
            if let Ok(Ok(0)) =
                tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await
            {
                closed += 1;
            }
        }
        assert!(closed >= 8, "only {closed} idle connections were closed");
        stop.cancel();
    }

    #[tokio::test]
    async fn rapid_readyz_probes_cause_one_readiness_check_per_interval() {
        let ttl = Duration::from_millis(700);
        let (addr, readiness, stop) = server(ServeLimits {
            ready_cache_ttl: ttl,
            ..ServeLimits::default()
        })
        .await;
        let answers = futures_join_all((0..20).map(|_| get(addr, "/readyz"))).await;
        for a in &answers {
            assert!(
                a.starts_with("HTTP/1.1 200") && a.ends_with("ready\n"),
                "{a}"
            );
        }
        assert_eq!(readiness.0.load(Ordering::SeqCst), 1);
        tokio::time::sleep(ttl + Duration::from_millis(100)).await;
        assert!(get(addr, "/readyz").await.ends_with("ready\n"));
        assert_eq!(
            readiness.0.load(Ordering::SeqCst),
            2,
            "checked again once stale"
        );
        stop.cancel();
    }

    /// Runs the futures concurrently and collects their outputs in order.
    async fn futures_join_all<F>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handles: Vec<_> = futs.map(tokio::spawn).collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    }

    #[test]
    fn every_failure_code_has_a_zero_series_before_its_first_failure() {
        // Else the failed-jobs alert's increase() misses each code's first failure.
        let m = Metrics::new(&["attachments.process"]);
        let text = m.render();
        for code in crate::error::Code::ALL {
            let series = format!(
                "attachments_jobs_failed_total{{code=\"{}\",queue=\"attachments.process\"}} 0",
                code.as_str()
            );
            assert!(text.contains(&series), "{series}");
        }
    }

    #[test]
    fn exposition_has_the_seed_counters_from_the_start() {
        let m = Metrics::new(&["attachments.process", "attachments.cleanup.orphan"]);
        m.jobs_failed
            .with_label_values(&["attachments.process", "object-not-found"])
            .inc();
        m.set_depth("attachments.cleanup.orphan", 0, 1, 1);
        let text = m.render();
        for line in [
            "attachments_jobs_processed_total{queue=\"attachments.process\"} 0",
            "attachments_jobs_failed_total{code=\"object-not-found\",queue=\"attachments.process\"} 1",
            "attachments_cleanup_runs_total{outcome=\"ok\"} 0",
            "attachments_queue_depth{queue=\"attachments.cleanup.orphan\",state=\"delayed\"} 1",
            "attachments_circuit_open{dependency=\"redis\"} 0",
        ] {
            assert!(text.contains(line), "missing {line}\n{text}");
        }
        assert!(text.contains("# TYPE attachments_job_duration_seconds histogram"));
    }
}
