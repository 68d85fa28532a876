//! The composition root: the one place that turns [`Settings`] into the running parts (the
//! database, the object store, the sandboxed pipeline, the queue, the job handler, the
//! worker's processors) and wires them together. Commands ask it for what they need.

use crate::audit::{self, Audit};
use crate::cleanup::{self, CleanupOptions};
use crate::db::Db;
use crate::job::{Handler, HandlerDeps};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::queue::BullBackend;
use crate::queue::{Enqueue, Processor, QueueBackend, QueueName};
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
    let db = connect_database(store).await?;
    if db.backend() == crate::db::Backend::Sqlite {
        db.migrate()
            .await
            .context("migrating the SQLite database")?;
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
    BullBackend::connect(&queue.redis_url, &queue.prefix)
        .await
        .context("connecting to Redis (ATTACH_REDIS_URL)")
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

/// `attachd worker`, built: every part wired, the metrics port bound.
pub struct Worker {
    backend: Arc<dyn QueueBackend>,
    processors: Vec<(QueueName, Arc<dyn Processor>)>,
    health: Arc<worker::HealthChecks>,
    metrics: Arc<Metrics>,
    config: worker::WorkerConfig,
    listener: tokio::net::TcpListener,
    swapper: Swapper,
    hangup: tokio::signal::unix::Signal,
    guest_watch: Option<std::time::Duration>,
    pub metrics_addr: std::net::SocketAddr,
}

impl Worker {
    pub async fn build(settings: &Settings) -> anyhow::Result<Worker> {
        // Taken first: from here on a SIGHUP (`systemctl reload`) asks for a guest reload, even
        // while the guests are still compiling, instead of ending the process.
        let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("listening for SIGHUP")?;
        let metrics = Metrics::new(&QueueName::labels());
        let addr = &settings.worker.metrics_addr;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding ATTACH_METRICS_ADDR {addr}"))?;
        let metrics_addr = listener.local_addr()?;
        let (db, storage) = (
            database(&settings.store).await?,
            object_store(&settings.store).await?,
        );
        let for_pipeline = settings.clone();
        let pipeline = match tokio::task::spawn_blocking(move || pipeline(&for_pipeline)).await? {
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
        let backend: Arc<dyn QueueBackend> = Arc::new(queue(&settings.queue).await?);
        let upload_prefix = settings.cleanup.upload_prefix.clone();
        let health = Arc::new(worker::HealthChecks {
            db: db.clone(),
            storage: storage.clone(),
            backend: backend.clone(),
            storage_prefix: upload_prefix.clone(),
        });
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
        Ok(Worker {
            backend,
            processors,
            health,
            metrics,
            config,
            listener,
            swapper,
            hangup,
            guest_watch: settings.guests.watch_interval,
            metrics_addr,
        })
    }

    /// Serves `/metrics`, `/healthz` and `/readyz`, takes jobs until SIGTERM or SIGINT, then
    /// drains. Meanwhile it swaps in new guest releases (on SIGHUP, or when the guest
    /// directory changes). `ready` runs once jobs are being taken.
    pub async fn run(self, ready: impl FnOnce()) -> anyhow::Result<worker::RunReport> {
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        tasks.spawn(crate::metrics::serve(
            self.listener,
            self.metrics.clone(),
            self.health.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(
            self.swapper
                .watch(self.hangup, self.guest_watch, shutdown.clone()),
        );
        let mut sigterm =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let on_signal = shutdown.clone();
        tasks.spawn(async move {
            tokio::select! {
                _ = sigterm.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
                _ = on_signal.cancelled() => return,
            }
            on_signal.cancel();
        });
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
