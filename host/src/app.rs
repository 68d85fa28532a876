//! The composition root: the one place that turns [`Settings`] into the running parts (the
//! database, the object store, the sandboxed pipeline, the queue, the job handler, the
//! worker's processors) and wires them together. Commands ask it for what they need.

use crate::audit::{self, Audit};
use crate::cleanup::{self, CleanupOptions};
use crate::db::Db;
use crate::deps::{self, Check};
use crate::job::{Handler, HandlerDeps};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::queue::BullBackend;
use crate::queue::{Enqueue, Processor, QueueBackend, QueueName, RedisTarget};
use crate::sandbox::Sandbox;
use crate::settings::{QueueSettings, Settings, StoreSettings};
use crate::storage::{self, Storage};
use crate::swap::Swapper;
use crate::{variant, worker};
use anyhow::Context;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The database: `ATTACH_DATABASE_URL`, or the embedded SQLite file in the data directory
/// (created here, because SQLite creates the file but not its folder). The embedded default
/// migrates itself (one process owns that file); PostgreSQL is migrated with
/// `attachd migrate`, and a schema this binary does not know is refused.
pub async fn database(store: &StoreSettings) -> anyhow::Result<Db> {
    let mut tries = 1;
    let db = loop {
        match connect_database(store).await {
            Err(_) if store.database_url.is_none() && tries < SQLITE_OPEN_TRIES => {
                tries += 1;
                tokio::time::sleep(SQLITE_OPEN_RETRY).await;
            }
            connected => break connected?,
        }
    };
    prepare_database(db).await
}

/// Tries at opening the embedded SQLite file: `attachd serve` and `attachd worker` started
/// together on a new data directory create, switch to WAL and migrate the file at once, and the
/// one that loses a step fails it (the database is locked; a table already exists, its
/// migration rolled back) while the other finishes; the next try finds the file ready.
const SQLITE_OPEN_TRIES: usize = 5;
/// The wait between those tries: the winner's steps take milliseconds.
const SQLITE_OPEN_RETRY: std::time::Duration = std::time::Duration::from_millis(200);

/// Migrates the embedded SQLite file and checks the schema (see [`database`]).
async fn prepare_database(db: Db) -> anyhow::Result<Db> {
    if db.backend() == crate::db::Backend::Sqlite {
        let mut tries = 1;
        while let Err(e) = db.migrate().await {
            if tries == SQLITE_OPEN_TRIES {
                return Err(e).context("migrating the SQLite database");
            }
            tries += 1;
            tokio::time::sleep(SQLITE_OPEN_RETRY).await;
        }
    }
    db.check_schema()
        .await
        .context("checking the database schema (run `attachd migrate`?)")?;
    Ok(db)
}

/// The database, unchecked: for `attachd migrate`, which brings the schema up to date.
pub async fn connect_database(store: &StoreSettings) -> anyhow::Result<Db> {
    let url = match &store.database_url {
        Some(url) => url.clone(),
        None => {
            std::fs::create_dir_all(&store.data_dir).ok();
            Db::default_url(&store.data_dir)
        }
    };
    Db::connect(&url)
        .await
        .context("connecting to the database (ATTACH_DATABASE_URL)")
}

pub async fn object_store(store: &StoreSettings) -> anyhow::Result<Arc<dyn Storage>> {
    storage::connect(&store.storage)
        .await
        .context("opening the object store")
}

/// Redis, for the queues. The URL is not echoed: it may carry a password.
pub async fn queue(queue: &QueueSettings) -> anyhow::Result<BullBackend> {
    BullBackend::connect(&queue.redis, &queue.prefix)
        .await
        .context("connecting to Redis (ATTACH_REDIS_URL)")
}

/// Where the database is, for the log: the URL without its password.
pub fn database_address(store: &StoreSettings) -> String {
    match &store.database_url {
        Some(url) => crate::redact::redact(url),
        None => Db::default_url(&store.data_dir),
    }
}

/// Where the object store is, for the log (an endpoint URL without any password).
pub fn storage_address(store: &StoreSettings) -> String {
    match &store.storage.backend {
        storage::Backend::Local { root } => format!("local directory {}", root.display()),
        storage::Backend::S3 {
            bucket, endpoint, ..
        } => match endpoint {
            Some(endpoint) => format!("s3://{bucket} at {}", crate::redact::redact(endpoint)),
            None => format!("s3://{bucket}"),
        },
    }
}

/// `attachd serve`'s state, from the settings: the tokens file (required), the signing key
/// (made if absent), the database, the object store and Redis.
pub async fn api_server(settings: &Settings) -> anyhow::Result<crate::api::Api> {
    use crate::api::{Api, RateLimiter, SigningKey, TokenSet};
    let api = &settings.api;
    let tokens_file = api.tokens_file.as_ref().context(
        "ATTACH_API_TOKENS_FILE is unset, and attachd serve has no anonymous access: make a \
         token with `attachd api-token NAME --scopes upload` and put the line it prints in \
         that file",
    )?;
    let tokens = TokenSet::load(tokens_file).map_err(anyhow::Error::msg)?;
    if !settings.queue.enabled {
        anyhow::bail!(
            "ATTACH_QUEUE_ENABLED=0: attachd serve queues every completed upload, so it needs \
             the queue"
        );
    }
    let key = SigningKey::load_or_create(&api.signing_key_file).map_err(anyhow::Error::msg)?;
    let store = &settings.store;
    let db = database(store).await?;
    // The local store's URLs are served by attachd itself, which needs the store as such.
    let (storage, local): (Arc<dyn Storage>, _) = match &store.storage.backend {
        storage::Backend::Local { root } => {
            let local = Arc::new(storage::LocalStorage::open(root).await?);
            (local.clone(), Some(local))
        }
        storage::Backend::S3 { .. } => (object_store(store).await?, None),
    };
    let queue = Arc::new(self::queue(&settings.queue).await?);
    let health = Arc::new(worker::HealthChecks {
        db: db.clone(),
        database_address: database_address(store),
        storage: storage.clone(),
        redis: settings.queue.redis.clone(),
        storage_prefix: settings.cleanup.upload_prefix.clone(),
    });
    Ok(Api {
        audit: Audit::new(Some(db.clone())),
        db,
        storage,
        local,
        uploading: Default::default(),
        queue,
        tokens,
        limiter: RateLimiter::new(api.rate, api.burst),
        key,
        public_url: api
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", api.addr)),
        url_ttl: api.url_ttl,
        request_timeout: api.request_timeout,
        upload_timeout: api.upload_timeout,
        upload_prefix: settings.cleanup.upload_prefix.clone(),
        quarantine_prefix: settings.vscan.quarantine_prefix.clone(),
        max_image_bytes: settings.guests.input.max_input_bytes,
        max_video_bytes: settings.video.as_ref().map(|v| v.max_input_bytes),
        retry: settings.queue.default_retry,
        ready: crate::metrics::ReadyCache::new(health, crate::metrics::READY_CACHE_TTL),
        metrics: Default::default(),
    })
}

/// A Redis check: a PING on a connection of its own (see [`crate::queue::ping`]).
fn redis_check(target: &RedisTarget) -> Check {
    let target = target.clone();
    Check::new("redis", target.address(), move || {
        let target = target.clone();
        async move {
            crate::queue::ping(&target, deps::CHECK_TIMEOUT)
                .await
                .map_err(redis_cause)
        }
    })
}

/// Why Redis did not answer, without the "redis unavailable" the log line already says.
fn redis_cause(e: crate::queue::QueueError) -> String {
    match e {
        crate::queue::QueueError::Unavailable(cause) => cause,
        other => other.to_string(),
    }
}

/// An object store check: one key listed under `prefix`.
fn storage_check(address: String, storage: Arc<dyn Storage>, prefix: String) -> Check {
    Check::new("storage", address, move || {
        let (storage, prefix) = (storage.clone(), prefix.clone());
        async move {
            storage
                .list(&prefix, None, 1)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
}

/// A clamd check: its VERSION command, when a scanner is configured.
fn clamd_check(policy: &crate::vscan::Policy) -> Option<Check> {
    let clamd = policy.scanner.clone()?;
    Some(Check::new("clamd", clamd.endpoint.to_string(), move || {
        let clamd = clamd.clone();
        async move { clamd.version().await.map(|_| ()).map_err(|e| e.to_string()) }
    }))
}

/// What a running worker watches ([`deps::watch`]): the services it is connected to.
fn running_checks(settings: &Settings, db: &Db, storage: &Arc<dyn Storage>) -> Vec<Check> {
    let db = db.clone();
    let mut checks = vec![
        redis_check(&settings.queue.redis),
        Check::new("database", database_address(&settings.store), move || {
            let db = db.clone();
            async move { db.ping().await.map_err(|e| e.to_string()) }
        }),
        storage_check(
            storage_address(&settings.store),
            storage.clone(),
            settings.cleanup.upload_prefix.clone(),
        ),
    ];
    checks.extend(clamd_check(&settings.vscan));
    checks
}

/// `attachd worker --check`: every configured service asked once, from scratch (connecting
/// as the worker would at start: the embedded SQLite file is created and migrated, a
/// PostgreSQL schema is checked); one line each, in order.
pub async fn check_dependencies(settings: &Settings) -> Vec<deps::Verdict> {
    let store = settings.store.clone();
    let mut checks = vec![
        redis_check(&settings.queue.redis),
        Check::new("database", database_address(&store), {
            let store = store.clone();
            move || {
                let store = store.clone();
                async move {
                    let db = database(&store).await.map_err(|e| format!("{e:#}"))?;
                    db.close().await;
                    Ok(())
                }
            }
        }),
    ];
    match object_store(&store).await {
        Ok(storage) => checks.push(storage_check(
            storage_address(&store),
            storage,
            settings.cleanup.upload_prefix.clone(),
        )),
        Err(e) => {
            let why = format!("{e:#}");
            checks.push(Check::new("storage", storage_address(&store), move || {
                let why = why.clone();
                async move { Err(why) }
            }));
        }
    }
    checks.extend(clamd_check(&settings.vscan));
    deps::check_all(&checks).await
}

/// Loads the guests (compiling them on a first start: call it off the async threads) and
/// builds the pipeline, with video when it is on.
pub fn pipeline(settings: &Settings) -> anyhow::Result<Pipeline> {
    let guests = &settings.guests;
    if !guests.paths.trust.can_load_anything() {
        anyhow::bail!(
            "no guest release key is trusted: set ATTACH_GUEST_TRUSTED_KEYS to the release \
             public key (`make guests` writes a development key to target/guest-keys/dev.pub), \
             or ATTACH_GUEST_ALLOW_UNSIGNED=1 for development"
        );
    }
    let sandbox = Sandbox::load(&guests.paths, guests.limits).with_context(|| {
        format!(
            "loading guests from {} (build them with `make guests`, or set ATTACH_GUEST_DIR)",
            guests.paths.dir.display()
        )
    })?;
    let pipeline = Pipeline::new(Arc::new(sandbox), guests.input);
    Ok(match &settings.video {
        None => pipeline,
        Some(cfg) => pipeline.with_video(Arc::new(crate::video::Video::new(cfg.clone()))),
    })
}

/// The process job's handler with every part it uses. Refuses an antivirus policy that
/// collides with the cleanup settings, and says at start what weakens security (see
/// [`announce_security`]).
pub async fn handler(
    settings: &Settings,
    pipeline: Pipeline,
    storage: Arc<dyn Storage>,
    db: Db,
    queue: Option<Arc<dyn Enqueue>>,
    metrics: Arc<Metrics>,
) -> anyhow::Result<(Handler, Audit)> {
    let policy = Arc::new(settings.job_policy()?);
    let audit = Audit::new(Some(db.clone()));
    announce_security(&policy, &audit, &metrics, pipeline.max_read_bytes()).await;
    if settings.guests.paths.trust.allow_unsigned {
        warn_weakened(&audit, UNSIGNED_GUESTS_WARNING).await;
    }
    let handler = Handler::new(HandlerDeps {
        pipeline,
        storage,
        db,
        default_variants: variant::defaults(),
        lease: settings.worker.claim_lease,
        policy,
        queue,
        metrics,
        audit: audit.clone(),
    });
    Ok((handler, audit))
}

/// Logs (and audits) every setting that weakens security, and asks clamd whether it is up,
/// so an operator sees both at start rather than at the first upload.
async fn announce_security(
    policy: &crate::vscan::Policy,
    audit: &Audit,
    metrics: &Metrics,
    max_upload: u64,
) {
    if let Some(gap) = policy.size_gap(max_upload) {
        tracing::warn!("virus scanner limit: {gap}");
    }
    for weakening in policy.weakenings() {
        warn_weakened(audit, &weakening).await;
    }
    if let Some(clamd) = &policy.scanner {
        match clamd.version().await {
            Ok(version) => {
                metrics.vscan_up.set(1);
                tracing::info!(endpoint = %clamd.endpoint, %version, "virus scanner answers");
            }
            Err(e) => {
                metrics.vscan_up.set(0);
                tracing::warn!(endpoint = %clamd.endpoint, error = %e,
                    "virus scanner unavailable at start; uploads wait for it (attachments.vscan.retry)");
            }
        }
    }
}

async fn warn_weakened(audit: &Audit, weakening: &str) {
    tracing::warn!("security setting: {weakening}");
    audit
        .record_best_effort(audit::Event::new(
            audit::Decision::ConfigWeakened,
            weakening,
        ))
        .await;
}

/// What every command that runs jobs says at start under `ATTACH_GUEST_ALLOW_UNSIGNED`.
pub const UNSIGNED_GUESTS_WARNING: &str = "ATTACH_GUEST_ALLOW_UNSIGNED=1: guests without a \
     signature load, so whoever can write the guest directory chooses the code that parses \
     uploads; for development only";

/// What the worker says at start when no antivirus endpoint is set: every upload is then
/// published on the scan guest's verdict alone. Not a refusal (a scanner is optional, as in
/// the seed), but an operator must see it at start, and the audit log must hold it, the same
/// way as the settings [`crate::vscan::Policy::weakenings`] lists.
pub fn missing_scanner_warning(policy: &crate::vscan::Policy) -> Option<&'static str> {
    policy.scanner.is_none().then_some(
        "ATTACH_VSCAN_ENDPOINT is unset: uploads are published without an antivirus (clamd) \
         scan, on the scan guest's verdict alone",
    )
}

/// `attachd worker`, built: every part wired, `/metrics`, `/healthz` and `/readyz` served
/// since the start of [`Worker::build`], SIGTERM and SIGINT heard.
pub struct Worker {
    backend: Arc<dyn QueueBackend>,
    processors: Vec<(QueueName, Arc<dyn Processor>)>,
    health: Arc<worker::HealthChecks>,
    metrics: Arc<Metrics>,
    config: worker::WorkerConfig,
    swapper: Swapper,
    hangup: tokio::signal::unix::Signal,
    guest_watch: Option<std::time::Duration>,
    /// The services [`deps::watch`] asks while the worker runs.
    checks: Vec<Check>,
    /// Fired by SIGTERM or SIGINT; ends the metrics server and the side tasks too.
    shutdown: CancellationToken,
    tasks: TaskTracker,
    pub metrics_addr: std::net::SocketAddr,
}

/// Cancels `shutdown` on SIGTERM or SIGINT (or returns when something else cancelled it).
/// The handlers are installed when this is called, not when the task first runs, so a signal
/// that comes at once is not the default action (an exit without the stopped line).
pub(crate) fn on_stop_signal(
    shutdown: CancellationToken,
) -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigterm = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut sigint = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = sigterm.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = sigint.recv() => tracing::info!("SIGINT: shutting down"),
            _ = shutdown.cancelled() => return,
        }
        shutdown.cancel();
    })
}

impl Worker {
    /// Wires the worker. It serves `/readyz` (503, saying what it waits for) and hears SIGTERM
    /// from the start, and waits for the database and Redis as long as it takes, saying so
    /// (see [`deps::wait_for`]). `None`: SIGTERM or SIGINT came before it was ready.
    pub async fn build(settings: &Settings) -> anyhow::Result<Option<Worker>> {
        // Taken first: from here on a SIGHUP (`systemctl reload`) asks for a guest reload, even
        // while the guests are still compiling, instead of ending the process.
        let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("listening for SIGHUP")?;
        let shutdown = CancellationToken::new();
        let stop_signal = on_stop_signal(shutdown.clone())?;
        let metrics = Metrics::new(&QueueName::labels());
        let addr = &settings.worker.metrics_addr;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding ATTACH_METRICS_ADDR {addr}"))?;
        let metrics_addr = listener.local_addr()?;
        tracing::info!(%metrics_addr, "serving /metrics, /healthz and /readyz");
        let tasks = TaskTracker::new();
        let starting = Arc::new(deps::Starting::default());
        tasks.spawn(crate::metrics::serve(
            listener,
            metrics.clone(),
            starting.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(stop_signal);
        let stopped = || async {
            shutdown.cancel();
            tasks.close();
            tasks.wait().await;
            Ok(None)
        };

        let store = &settings.store;
        let connected = deps::wait_for(
            "database",
            &database_address(store),
            &starting,
            &shutdown,
            || connect_database(store),
        )
        .await;
        let Some(db) = connected else {
            return stopped().await;
        };
        let db = prepare_database(db).await?;
        let storage = object_store(store).await?;
        let for_pipeline = settings.clone();
        let loading = tokio::task::spawn_blocking(move || pipeline(&for_pipeline));
        let loaded = tokio::select! {
            loaded = loading => loaded?,
            _ = shutdown.cancelled() => return stopped().await,
        };
        let pipeline = match loaded {
            Ok(p) => p,
            Err(e) => {
                // Refused at start: nothing serves, and the audit log says why.
                Audit::new(Some(db.clone()))
                    .record_best_effort(audit::Event::new(
                        audit::Decision::GuestRefused,
                        format!("{e:#}"),
                    ))
                    .await;
                return Err(e);
            }
        };
        let sandbox = pipeline.sandbox().clone();
        let redis = &settings.queue.redis;
        let answered = deps::wait_for("redis", &redis.address(), &starting, &shutdown, || async {
            crate::queue::ping(redis, deps::CHECK_TIMEOUT)
                .await
                .map_err(redis_cause)
        })
        .await;
        if answered.is_none() {
            return stopped().await;
        }
        let backend: Arc<dyn QueueBackend> = Arc::new(queue(&settings.queue).await?);
        let upload_prefix = settings.cleanup.upload_prefix.clone();
        let checks = running_checks(settings, &db, &storage);
        let health = Arc::new(worker::HealthChecks {
            db: db.clone(),
            database_address: database_address(store),
            storage: storage.clone(),
            redis: redis.clone(),
            storage_prefix: upload_prefix.clone(),
        });
        starting.running(health.clone());
        let (handler, audit) = handler(
            settings,
            pipeline,
            storage.clone(),
            db.clone(),
            Some(backend.clone()),
            metrics.clone(),
        )
        .await?;
        if let Some(warning) = missing_scanner_warning(&settings.vscan) {
            warn_weakened(&audit, warning).await;
        }
        let swapper = Swapper::new(sandbox, metrics.clone(), audit.clone());
        swapper.announce();
        let cleanup: Arc<dyn Processor> = Arc::new(worker::CleanupJobs {
            db,
            storage,
            queue: cleanup::QueueCheck::Queue(backend.clone()),
            options: CleanupOptions {
                max_age: settings.cleanup.orphan_max_age,
                sweep_prefix: Some(upload_prefix),
                dry_run: false,
            },
            metrics: metrics.clone(),
        });
        let processors: Vec<(QueueName, Arc<dyn Processor>)> = vec![
            (
                QueueName::Process,
                Arc::new(worker::ProcessJobs {
                    handler: handler.clone(),
                }),
            ),
            (
                QueueName::VscanRetry,
                Arc::new(worker::VscanRetryJobs { handler }),
            ),
            (QueueName::Cleanup, cleanup),
        ];
        let q = &settings.queue;
        let config = worker::WorkerConfig {
            concurrency: q.concurrency,
            lock_duration: q.lock_duration,
            stalled_interval: q.stalled_interval,
            default_retry: q.default_retry,
            shutdown_grace: settings.worker.shutdown_grace,
            cleanup_schedule: settings.worker.cleanup_schedule.clone(),
            max_bytes_in_flight: settings.worker.max_bytes_in_flight,
            job_memory: worker::JobMemory {
                guest: settings.guests.limits.memory_bytes,
                video_output: settings
                    .video
                    .as_ref()
                    .map_or(0, crate::video::max_held_output_bytes),
            },
        };
        Ok(Some(Worker {
            backend,
            processors,
            health,
            metrics,
            config,
            swapper,
            hangup,
            guest_watch: settings.guests.watch_interval,
            checks,
            shutdown,
            tasks,
            metrics_addr,
        }))
    }

    /// Takes jobs until SIGTERM or SIGINT, then drains. Meanwhile it swaps in new guest
    /// releases (on SIGHUP, or when the guest directory changes) and watches its services
    /// ([`deps::watch`]). `ready` runs once jobs are being taken.
    pub async fn run(self, ready: impl FnOnce()) -> anyhow::Result<worker::RunReport> {
        let (shutdown, tasks) = (self.shutdown, self.tasks);
        tasks.spawn(
            self.swapper
                .watch(self.hangup, self.guest_watch, shutdown.clone()),
        );
        tasks.spawn(deps::watch(
            self.checks,
            deps::WATCH_INTERVAL,
            self.metrics.clone(),
            shutdown.clone(),
        ));
        let result = worker::run(
            self.backend,
            self.processors,
            self.health,
            self.metrics,
            self.config,
            ready,
            shutdown.clone(),
        )
        .await;
        shutdown.cancel();
        tasks.close();
        tasks.wait().await;
        Ok(result?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_processes_opening_a_new_sqlite_file_at_once_both_get_a_migrated_database() {
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let store = StoreSettings {
                data_dir: dir.path().to_owned(),
                database_url: None,
                storage: storage::StorageConfig {
                    backend: storage::Backend::Local {
                        root: dir.path().join("objects"),
                    },
                },
            };
            let (a, b) = tokio::join!(database(&store), database(&store));
            a.unwrap();
            b.unwrap();
        }
    }
    use std::time::Duration;

    #[test]
    fn a_worker_without_an_antivirus_endpoint_is_warned_about() {
        let mut policy = crate::vscan::Policy::default();
        assert!(policy.scanner.is_none(), "no scanner is the default");
        let warning = missing_scanner_warning(&policy).expect("warned");
        assert!(warning.contains("ATTACH_VSCAN_ENDPOINT"), "{warning}");
        policy.scanner = Some(crate::vscan::Clamd {
            endpoint: "tcp://127.0.0.1:3310".parse().unwrap(),
            connect_timeout: Duration::from_secs(1),
            io_timeout: Duration::from_secs(1),
            max_stream: crate::vscan::DEFAULT_MAX_STREAM,
        });
        assert_eq!(missing_scanner_warning(&policy), None);
    }
}
