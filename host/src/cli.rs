//! The command line: `attachd process` runs the sandboxed pipeline on local files and prints
//! one JSON line per file. Every limit has a flag and an environment variable.

use crate::cleanup::{self, CleanupOptions};
use crate::config::{self, GuestPaths, InputLimits, SandboxLimits};
use crate::db::{Db, NewAttachment};
use crate::error::ErrorCode;
use crate::job::{Handler, HandlerDeps, ProcessPayload};
use crate::pipeline::{self, Outcome, Pipeline, Status};
use crate::sandbox::{Sandbox, VariantSpec};
use crate::storage::{self, Storage, StorageConfig};
use crate::variant;
use crate::worker;
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "attachd",
    version,
    about = "Processes untrusted uploads inside WebAssembly sandboxes"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run probe → scan → thumbnail on local files (or, with --store, on uploads in the
    /// configured storage and database); print one JSON line per file.
    Process(Box<ProcessArgs>),
    /// Apply the database migrations.
    Migrate(StoreArgs),
    /// Put a local file into storage and create its `uploaded` row, as the API would.
    Ingest(IngestArgs),
    /// Remove stale `uploaded` rows with their objects, then objects no row owns.
    Cleanup(CleanupArgs),
    /// Take BullMQ jobs from Redis (as the Node worker would) until SIGTERM or SIGINT.
    Worker(Box<WorkerArgs>),
    /// Add an `attachments.process` job, as the Node API does; prints its id.
    Enqueue(EnqueueArgs),
    /// Send `failed` (or `uploaded`) uploads back to the process queue, e.g. those cleanup
    /// marked `processing-abandoned`; one JSON line per upload.
    Requeue(RequeueArgs),
}

/// Where the database and the objects are.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Data directory of the embedded default: the SQLite database and the local objects.
    #[arg(long, env = "ATTACH_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// `postgres://…` in production; default: SQLite at <data dir>/attachd.db.
    #[arg(long, env = "ATTACH_DATABASE_URL")]
    pub database_url: Option<String>,
}

impl StoreArgs {
    /// `ATTACH_DATABASE_URL`, or the embedded SQLite file in the data directory (created
    /// here, because SQLite creates the file but not its folder).
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            std::fs::create_dir_all(&self.data_dir).ok();
            Db::default_url(&self.data_dir)
        })
    }

    /// Connects to the database and checks its schema. The embedded SQLite default migrates
    /// itself (one process owns that file); PostgreSQL is migrated with `attachd migrate`,
    /// and a schema this binary does not know is refused.
    pub async fn db(&self) -> anyhow::Result<Db> {
        let db = Db::connect(&self.database_url())
            .await
            .context("connecting to the database")?;
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

    pub async fn storage(&self) -> anyhow::Result<Arc<dyn Storage>> {
        let data_dir = self.data_dir.to_string_lossy().into_owned();
        let cfg = StorageConfig::from_lookup(|name| {
            if name == "ATTACH_DATA_DIR" {
                Some(data_dir.clone())
            } else {
                std::env::var(name).ok()
            }
        })?;
        storage::connect(&cfg)
            .await
            .context("opening the object store")
    }
}

#[derive(Args, Debug)]
pub struct IngestArgs {
    /// The local file to upload.
    pub file: PathBuf,
    /// Object key (default: uploads/<uuid>/<file name>).
    #[arg(long)]
    pub key: Option<String>,
    /// Declared MIME type (default: from the file's extension).
    #[arg(long)]
    pub mime: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct CleanupArgs {
    /// Age after which an `uploaded` row is an orphan (e.g. 2h, 30m).
    #[arg(long, env = "ATTACH_ORPHAN_MAX_AGE", default_value = "2h", value_parser = config::parse_duration)]
    pub max_age: Duration,
    /// Prefix swept for objects that no row owns.
    #[arg(long, env = "ATTACH_UPLOAD_PREFIX", default_value = config::DEFAULT_UPLOAD_PREFIX)]
    pub sweep_prefix: String,
    /// Report what would be removed without removing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// 1 (default): read the queues first and keep every upload a waiting, delayed or active
    /// job will still process; Redis unreachable means exit 1 with nothing deleted. 0: this
    /// deployment runs no queue, so stale uploads go without asking Redis.
    #[arg(long, env = "ATTACH_QUEUE_ENABLED", default_value = "1", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub queue_enabled: bool,
    #[command(flatten)]
    pub queue: QueueArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct ProcessArgs {
    /// Files to process (with --store: file keys of uploads in the store).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Directory the variants are written to, one sub-directory per file.
    #[arg(long, required_unless_present = "store")]
    pub out: Option<PathBuf>,
    /// Process uploads from the configured storage and database, as the worker does.
    #[arg(long)]
    pub store: bool,
    #[command(flatten)]
    pub store_args: StoreArgs,
    /// Variant to render, `name:WxH[:webp|jpeg|png|auto[:quality[:contain|cover]]]`;
    /// repeatable. Default: thumb:256x256:webp:80 and preview:1280x1280:jpeg:85.
    #[arg(long = "variant", value_name = "SPEC")]
    pub variants: Vec<String>,
    /// Declared MIME type for every file (default: guessed from each file's extension, as a
    /// browser would declare it). The scan compares it with the real type.
    #[arg(long)]
    pub mime: Option<String>,
    /// Files processed at once (default: the number of CPUs).
    #[arg(long, env = "ATTACH_PROCESS_JOBS")]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    #[command(flatten)]
    pub security: SecurityArgs,
}

/// The antivirus re-check and the verdict policy of stored uploads (see `vscan`).
#[derive(Args, Debug, Clone)]
pub struct SecurityArgs {
    /// clamd to re-scan every stored upload with: `tcp://host:port` or `unix:///path`.
    /// Unset: no antivirus re-check.
    #[arg(long, env = "ATTACH_VSCAN_ENDPOINT")]
    pub vscan_endpoint: Option<String>,
    /// Bound on connecting to clamd.
    #[arg(long, env = "ATTACH_VSCAN_CONNECT_TIMEOUT", default_value = "3s", value_parser = config::parse_duration)]
    pub vscan_connect_timeout: Duration,
    /// Bound on each write to clamd, each read of the upload, and the wait for the verdict.
    #[arg(long, env = "ATTACH_VSCAN_TIMEOUT", default_value = "60s", value_parser = config::parse_duration)]
    pub vscan_timeout: Duration,
    /// clamd's StreamMaxLength, in bytes: larger uploads get the ATTACH_VSCAN_OVERSIZE outcome.
    #[arg(long, env = "ATTACH_VSCAN_MAX_STREAM", default_value_t = crate::vscan::DEFAULT_MAX_STREAM)]
    pub vscan_max_stream: u64,
    /// An upload larger than clamd accepts: `fail` (row failed, scan-too-large) or `quarantine`.
    #[arg(
        long,
        env = "ATTACH_VSCAN_OVERSIZE",
        value_enum,
        default_value = "fail"
    )]
    pub vscan_oversize: crate::vscan::OversizePolicy,
    /// Scanner tries (the first included) before the upload fails with scanner-unavailable.
    #[arg(long, env = "ATTACH_VSCAN_RETRY_ATTEMPTS", default_value_t = crate::vscan::DEFAULT_RETRY_ATTEMPTS)]
    pub vscan_retry_attempts: u32,
    /// First wait between scanner tries; doubles each try.
    #[arg(long, env = "ATTACH_VSCAN_RETRY_BASE", default_value = "2s", value_parser = config::parse_duration)]
    pub vscan_retry_base: Duration,
    /// Longest wait between scanner tries.
    #[arg(long, env = "ATTACH_VSCAN_RETRY_CAP", default_value = "5m", value_parser = config::parse_duration)]
    pub vscan_retry_cap: Duration,
    /// 1: once the tries run out, publish the upload without the antivirus scan (weakens
    /// security; warned at start). Default 0: fail closed.
    #[arg(long, env = "ATTACH_VSCAN_FAIL_OPEN", default_value = "0", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub vscan_fail_open: bool,
    /// Where quarantined originals are moved (a folder in the same store).
    #[arg(long, env = "ATTACH_QUARANTINE_PREFIX", default_value = crate::vscan::DEFAULT_QUARANTINE_PREFIX)]
    pub quarantine_prefix: String,
    /// A `suspicious` scan verdict: `publish`, `quarantine` or `fail`.
    #[arg(
        long,
        env = "ATTACH_SCAN_SUSPICIOUS",
        value_enum,
        default_value = "publish"
    )]
    pub scan_suspicious: crate::vscan::SuspiciousPolicy,
}

impl SecurityArgs {
    /// The policy, checked against the cleanup settings it must not collide with.
    pub fn policy(
        &self,
        upload_prefix: &str,
        orphan_max_age: Duration,
    ) -> anyhow::Result<crate::vscan::Policy> {
        let scanner = match &self.vscan_endpoint {
            None => None,
            Some(e) if e.trim().is_empty() => None,
            Some(e) => Some(crate::vscan::Clamd {
                endpoint: e
                    .parse()
                    .map_err(|why| anyhow::anyhow!("ATTACH_VSCAN_ENDPOINT: {why}"))?,
                connect_timeout: self.vscan_connect_timeout,
                io_timeout: self.vscan_timeout,
                max_stream: self.vscan_max_stream,
            }),
        };
        let policy = crate::vscan::Policy {
            scanner,
            retry: crate::vscan::RetryPolicy {
                attempts: self.vscan_retry_attempts,
                base: self.vscan_retry_base,
                cap: self.vscan_retry_cap,
            },
            fail_open: self.vscan_fail_open,
            oversize: self.vscan_oversize,
            suspicious: self.scan_suspicious,
            quarantine_prefix: self.quarantine_prefix.clone(),
        };
        policy
            .check(upload_prefix, orphan_max_age)
            .map_err(anyhow::Error::msg)?;
        Ok(policy)
    }
}

/// Logs (and audits) every setting that weakens security, and asks clamd whether it is up,
/// so an operator sees both at start rather than at the first upload.
async fn announce_security(
    policy: &crate::vscan::Policy,
    audit: &crate::audit::Audit,
    metrics: &crate::metrics::Metrics,
    max_upload: u64,
) {
    if let Some(gap) = policy.size_gap(max_upload) {
        tracing::warn!("virus scanner limit: {gap}");
    }
    for weakening in policy.weakenings() {
        tracing::warn!("security setting: {weakening}");
        audit
            .record_best_effort(crate::audit::Event::new(
                crate::audit::Decision::ConfigWeakened,
                weakening,
            ))
            .await;
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

/// Where the guests are and the limits they run under.
#[derive(Args, Debug, Clone)]
pub struct SandboxArgs {
    /// Directory holding the guest components and their manifests.
    #[arg(long, env = "ATTACH_GUEST_DIR")]
    pub guest_dir: Option<PathBuf>,
    /// Directory for compiled guests ("none" disables the cache).
    #[arg(long, env = "ATTACH_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    #[arg(long, env = "ATTACH_MAX_INPUT_BYTES", default_value_t = config::DEFAULT_MAX_INPUT_BYTES)]
    pub max_input_bytes: u64,
    #[arg(long, env = "ATTACH_MAX_PIXELS", default_value_t = config::DEFAULT_MAX_PIXELS)]
    pub max_pixels: u64,
    #[arg(long, env = "ATTACH_MAX_FRAMES", default_value_t = config::DEFAULT_MAX_FRAMES)]
    pub max_frames: u32,
    #[arg(long, env = "ATTACH_MAX_FRAME_AREA", default_value_t = config::DEFAULT_MAX_TOTAL_FRAME_AREA)]
    pub max_frame_area: u64,
    #[arg(long, env = "ATTACH_MAX_OUTPUT_BYTES", default_value_t = config::DEFAULT_MAX_OUTPUT_BYTES)]
    pub max_output_bytes: u64,
    /// Linear memory per guest call, in bytes.
    #[arg(long, env = "ATTACH_GUEST_MEMORY", default_value_t = config::DEFAULT_GUEST_MEMORY_BYTES)]
    pub guest_memory: u64,
    /// Fuel every guest call gets before its input's allowance (see `config::FuelBudget`).
    #[arg(long, env = "ATTACH_GUEST_FUEL_BASE", default_value_t = config::DEFAULT_FUEL_BASE)]
    pub guest_fuel_base: u64,
    /// Fuel per input byte for every guest call.
    #[arg(long, env = "ATTACH_GUEST_FUEL_PER_BYTE", default_value_t = config::DEFAULT_FUEL_PER_BYTE)]
    pub guest_fuel_per_byte: u64,
    /// Fuel per source pixel the thumbnail guest decodes.
    #[arg(long, env = "ATTACH_GUEST_FUEL_PER_PIXEL", default_value_t = config::DEFAULT_FUEL_PER_PIXEL)]
    pub guest_fuel_per_pixel: u64,
    /// Fuel per pixel of the variants the thumbnail guest writes.
    #[arg(long, env = "ATTACH_GUEST_FUEL_PER_OUTPUT_PIXEL", default_value_t = config::DEFAULT_FUEL_PER_OUTPUT_PIXEL)]
    pub guest_fuel_per_output_pixel: u64,
    /// The most fuel any one guest call gets.
    #[arg(long, env = "ATTACH_GUEST_FUEL_MAX", default_value_t = config::DEFAULT_FUEL_MAX_PER_CALL)]
    pub guest_fuel_max: u64,
    /// Wall-clock backstop per guest call, in milliseconds (a hit is retryable).
    #[arg(long, env = "ATTACH_GUEST_TIMEOUT_MS", default_value_t = config::DEFAULT_GUEST_DEADLINE.as_millis() as u64)]
    pub guest_timeout_ms: u64,
    /// Wasm stack per guest call, in bytes.
    #[arg(long, env = "ATTACH_GUEST_STACK", default_value_t = config::DEFAULT_GUEST_STACK_BYTES)]
    pub guest_stack: usize,
    #[command(flatten)]
    pub video: VideoArgs,
}

/// Video: ffprobe and ffmpeg in the native sandbox (see `video/mod.rs` for each default's
/// reason).
#[derive(Args, Debug, Clone)]
pub struct VideoArgs {
    /// `off` leaves video containers `unsupported-type`.
    #[arg(long = "video", env = "ATTACH_VIDEO", default_value = "on", value_parser = ["on", "off"])]
    pub video: String,
    /// ffmpeg: a name looked up in PATH, or a path.
    #[arg(long, env = "ATTACH_FFMPEG", default_value = "ffmpeg")]
    pub ffmpeg: PathBuf,
    #[arg(long, env = "ATTACH_FFPROBE", default_value = "ffprobe")]
    pub ffprobe: PathBuf,
    /// `strict` refuses to run ffmpeg when a sandbox layer is missing here; `best-effort`
    /// runs without it and warns.
    #[arg(long, env = "ATTACH_VIDEO_SANDBOX", default_value = "strict")]
    pub video_sandbox: crate::video::Mode,
    /// Where per-job work directories go (default: the system temp dir).
    #[arg(long, env = "ATTACH_VIDEO_WORK_DIR")]
    pub video_work_dir: Option<PathBuf>,
    #[arg(long, env = "ATTACH_VIDEO_MAX_INPUT_BYTES", default_value_t = crate::video::DEFAULT_MAX_INPUT_BYTES)]
    pub video_max_input_bytes: u64,
    #[arg(long, env = "ATTACH_VIDEO_MAX_DURATION", default_value = "5m", value_parser = config::parse_duration)]
    pub video_max_duration: Duration,
    /// Pixels per frame (width × height).
    #[arg(long, env = "ATTACH_VIDEO_MAX_PIXELS", default_value_t = crate::video::DEFAULT_MAX_PIXELS)]
    pub video_max_pixels: u64,
    #[arg(long, env = "ATTACH_VIDEO_MAX_FPS", default_value_t = crate::video::DEFAULT_MAX_FRAME_RATE)]
    pub video_max_fps: u32,
    #[arg(long, env = "ATTACH_VIDEO_MAX_OUTPUT_BYTES", default_value_t = crate::video::DEFAULT_MAX_OUTPUT_BYTES)]
    pub video_max_output_bytes: u64,
    /// The MP4's box, `WxH`: the long edge fits the larger number, the short edge the smaller.
    #[arg(long, env = "ATTACH_VIDEO_BOX", default_value = "1280x720", value_parser = crate::video::parse_box)]
    pub video_box: (u32, u32),
    /// H.264 bitrate cap, kbit/s.
    #[arg(long, env = "ATTACH_VIDEO_BITRATE", default_value_t = crate::video::DEFAULT_VIDEO_KBPS)]
    pub video_bitrate: u32,
    /// AAC bitrate, kbit/s.
    #[arg(long, env = "ATTACH_VIDEO_AUDIO_BITRATE", default_value_t = crate::video::DEFAULT_AUDIO_KBPS)]
    pub video_audio_bitrate: u32,
    #[arg(long, env = "ATTACH_VIDEO_PRESET", default_value = crate::video::DEFAULT_PRESET,
          value_parser = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"])]
    pub video_preset: String,
    #[arg(long, env = "ATTACH_VIDEO_CRF", default_value_t = crate::video::DEFAULT_CRF,
          value_parser = clap::value_parser!(u8).range(0..=51))]
    pub video_crf: u8,
    #[arg(long, env = "ATTACH_VIDEO_THREADS", default_value_t = crate::video::DEFAULT_THREADS,
          value_parser = clap::value_parser!(u32).range(1..=16))]
    pub video_threads: u32,
    #[arg(long, env = "ATTACH_VIDEO_PROBE_TIMEOUT", default_value = "10s", value_parser = config::parse_duration)]
    pub video_probe_timeout: Duration,
    #[arg(long, env = "ATTACH_VIDEO_TIMEOUT", default_value = "3m", value_parser = config::parse_duration)]
    pub video_timeout: Duration,
    /// Address space of ffmpeg and ffprobe, in bytes.
    #[arg(long, env = "ATTACH_VIDEO_MEMORY", default_value_t = crate::video::DEFAULT_MEMORY_BYTES)]
    pub video_memory: u64,
}

impl VideoArgs {
    pub fn config(&self) -> crate::video::VideoConfig {
        crate::video::VideoConfig {
            ffmpeg: self.ffmpeg.clone(),
            ffprobe: self.ffprobe.clone(),
            mode: self.video_sandbox,
            work_dir: self
                .video_work_dir
                .clone()
                .unwrap_or_else(std::env::temp_dir),
            max_input_bytes: self.video_max_input_bytes,
            max_duration: self.video_max_duration,
            max_pixels: self.video_max_pixels,
            max_frame_rate: self.video_max_fps,
            max_output_bytes: self.video_max_output_bytes,
            max_long_edge: self.video_box.0,
            max_short_edge: self.video_box.1,
            video_kbps: self.video_bitrate,
            audio_kbps: self.video_audio_bitrate,
            crf: self.video_crf,
            preset: self.video_preset.clone(),
            threads: self.video_threads,
            probe_timeout: self.video_probe_timeout,
            transcode_timeout: self.video_timeout,
            memory_bytes: self.video_memory,
        }
    }
}

impl SandboxArgs {
    pub fn input_limits(&self) -> InputLimits {
        InputLimits {
            max_input_bytes: self.max_input_bytes,
            max_pixels: self.max_pixels,
            max_frames: self.max_frames,
            max_total_frame_area: self.max_frame_area,
            max_output_bytes: self.max_output_bytes,
        }
    }

    pub fn sandbox_limits(&self) -> SandboxLimits {
        SandboxLimits {
            memory_bytes: self.guest_memory,
            deadline: Duration::from_millis(self.guest_timeout_ms),
            stack_bytes: self.guest_stack,
            fuel: config::FuelBudget {
                base: self.guest_fuel_base,
                per_byte: self.guest_fuel_per_byte,
                per_pixel: self.guest_fuel_per_pixel,
                per_output_pixel: self.guest_fuel_per_output_pixel,
                max_per_call: self.guest_fuel_max,
            },
            ..SandboxLimits::default()
        }
    }

    pub fn guest_paths(&self) -> GuestPaths {
        GuestPaths {
            dir: self
                .guest_dir
                .clone()
                .unwrap_or_else(GuestPaths::default_dir),
            cache_dir: match &self.cache_dir {
                Some(p) if p.as_os_str() == "none" => None,
                Some(p) => Some(p.clone()),
                None => GuestPaths::default_cache_dir(),
            },
        }
    }

    /// Loads the guests and builds the pipeline.
    pub fn pipeline(&self) -> anyhow::Result<Pipeline> {
        let paths = self.guest_paths();
        let sandbox = Sandbox::load(&paths, self.sandbox_limits()).with_context(|| {
            format!(
                "loading guests from {} (build them with `make guests`, or set ATTACH_GUEST_DIR)",
                paths.dir.display()
            )
        })?;
        let pipeline = Pipeline::new(Arc::new(sandbox), self.input_limits());
        Ok(match self.video.video.as_str() {
            "off" => pipeline,
            _ => pipeline.with_video(Arc::new(crate::video::Video::new(self.video.config()))),
        })
    }
}

/// Runs the CLI; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Process(args) if args.store => process_store(*args).await,
        Command::Process(args) => process(*args).await,
        Command::Migrate(args) => {
            let db = Db::connect(&args.database_url()).await?;
            db.migrate().await?;
            db.check_schema().await?;
            eprintln!("database schema is up to date");
            Ok(0)
        }
        Command::Ingest(args) => ingest(args).await,
        Command::Cleanup(args) => {
            let (db, storage) = (args.store.db().await?, args.store.storage().await?);
            let opts = CleanupOptions {
                max_age: args.max_age,
                sweep_prefix: Some(args.sweep_prefix),
                dry_run: args.dry_run,
            };
            // Without the queue, cleanup cannot tell a queued upload from an orphan: it
            // refuses to run rather than guess (see `cleanup` module docs).
            let queue = if args.queue_enabled {
                cleanup::QueueCheck::Queue(Arc::new(args.queue.connect().await?))
            } else {
                cleanup::QueueCheck::NoQueue
            };
            let report = cleanup::run(&db, &storage, &queue, &opts).await?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(0)
        }
        Command::Worker(args) => worker(*args).await,
        Command::Enqueue(args) => enqueue(args).await,
        Command::Requeue(args) => requeue(args).await,
    }
}

/// Where the queues are.
#[derive(Args, Debug, Clone)]
pub struct QueueArgs {
    /// `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS.
    #[arg(long, env = "ATTACH_REDIS_URL", default_value = crate::queue::DEFAULT_REDIS_URL)]
    pub redis_url: String,
    /// Redis key prefix, shared with the Node API's queues (no `:`).
    #[arg(long, env = "ATTACH_QUEUE_PREFIX", default_value = crate::queue::DEFAULT_PREFIX)]
    pub queue_prefix: String,
}

impl QueueArgs {
    pub async fn connect(&self) -> anyhow::Result<crate::queue::bullmq::BullBackend> {
        // Not echoing the URL: it may carry a password.
        crate::queue::bullmq::BullBackend::connect(&self.redis_url, &self.queue_prefix)
            .await
            .context("connecting to Redis (ATTACH_REDIS_URL)")
    }
}

#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// 0 makes `attachd worker` refuse to start (exit 2): the queue is off for this deployment.
    #[arg(long, env = "ATTACH_QUEUE_ENABLED", default_value = "1", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub queue_enabled: bool,
    /// Jobs processed at once per queue (the cleanup queue always takes one at a time).
    #[arg(long, env = "ATTACH_QUEUE_CONCURRENCY", default_value_t = worker::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    #[command(flatten)]
    pub queue: QueueArgs,
    /// Cleanup schedule: a duration (`15m`) or a cron pattern (`*/15 * * * *`). `off` registers
    /// none (cleanup jobs already scheduled still run).
    #[arg(long, env = "ATTACH_CLEANUP_CRON", default_value = worker::DEFAULT_CLEANUP_SCHEDULE)]
    pub cleanup_cron: String,
    /// On SIGTERM/SIGINT, how long in-flight jobs may take to finish.
    #[arg(long, env = "ATTACH_SHUTDOWN_GRACE", default_value = "30s", value_parser = config::parse_duration)]
    pub shutdown_grace: Duration,
    /// `/metrics`, `/healthz`, `/readyz` listen here (port 0: any free port, printed at start).
    #[arg(long, env = "ATTACH_METRICS_ADDR", default_value = crate::metrics::DEFAULT_METRICS_ADDR)]
    pub metrics_addr: String,
    /// Memory charged to the jobs running at once, across queues: each job its declared
    /// upload twice plus ATTACH_GUEST_MEMORY plus (video on) ATTACH_VIDEO_MAX_OUTPUT_BYTES.
    #[arg(long, env = "ATTACH_MAX_BYTES_IN_FLIGHT", default_value_t = worker::DEFAULT_MAX_BYTES_IN_FLIGHT)]
    pub max_bytes_in_flight: u64,
    /// A job's lock lasts this long unless renewed (renewed every half of it while it runs).
    #[arg(long, env = "ATTACH_QUEUE_LOCK_DURATION", default_value = "30s", value_parser = config::parse_duration)]
    pub lock_duration: Duration,
    /// How often this worker looks for jobs whose lock lapsed (their worker died).
    #[arg(long, env = "ATTACH_QUEUE_STALLED_INTERVAL", default_value = "30s", value_parser = config::parse_duration)]
    pub stalled_interval: Duration,
    /// Attempts for jobs whose producer set none.
    #[arg(long, env = "ATTACH_QUEUE_DEFAULT_ATTEMPTS", default_value_t = crate::queue::DEFAULT_ATTEMPTS)]
    pub default_attempts: u32,
    /// Backoff for jobs whose producer set none: `exponential:2s` or `fixed:5s`.
    #[arg(long, env = "ATTACH_QUEUE_DEFAULT_BACKOFF", default_value = "exponential:2s", value_parser = crate::queue::Backoff::parse)]
    pub default_backoff: crate::queue::Backoff,
    /// How long a job's claim on its upload row lasts before another worker may take the
    /// upload over (a worker killed mid-job holds it until then).
    #[arg(long, env = "ATTACH_CLAIM_LEASE", default_value = "5m", value_parser = config::parse_duration)]
    pub claim_lease: Duration,
    /// Cleanup: age after which an `uploaded` row is an orphan.
    #[arg(long, env = "ATTACH_ORPHAN_MAX_AGE", default_value = "2h", value_parser = config::parse_duration)]
    pub orphan_max_age: Duration,
    /// Cleanup: prefix swept for objects that no row owns.
    #[arg(long, env = "ATTACH_UPLOAD_PREFIX", default_value = config::DEFAULT_UPLOAD_PREFIX)]
    pub upload_prefix: String,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    #[command(flatten)]
    pub security: SecurityArgs,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum EnqueueQueue {
    Process,
    VscanRetry,
}

#[derive(Args, Debug)]
pub struct EnqueueArgs {
    /// The upload's object key.
    pub file_key: String,
    /// Declared MIME type.
    #[arg(long)]
    pub mime: String,
    /// Declared size in bytes.
    #[arg(long)]
    pub size: u64,
    /// Variant specs or names of configured variants (comma-separated or repeated).
    #[arg(long = "variants", alias = "variant", value_delimiter = ',')]
    pub variants: Vec<String>,
    /// sha256 (hex) of the upload, if known.
    #[arg(long)]
    pub checksum: Option<String>,
    #[arg(long, value_enum, default_value = "process")]
    pub queue: EnqueueQueue,
    #[arg(long, default_value_t = crate::queue::DEFAULT_ATTEMPTS)]
    pub attempts: u32,
    /// `exponential:2s` or `fixed:5s`.
    #[arg(long, default_value = "exponential:2s", value_parser = crate::queue::Backoff::parse)]
    pub backoff: crate::queue::Backoff,
    /// Run no earlier than this from now.
    #[arg(long, value_parser = config::parse_duration)]
    pub delay: Option<Duration>,
    /// Custom job id (BullMQ refuses a second job with the same id while the first exists).
    #[arg(long)]
    pub job_id: Option<String>,
    #[command(flatten)]
    pub queue_args: QueueArgs,
}

async fn enqueue(args: EnqueueArgs) -> anyhow::Result<i32> {
    use crate::queue::{Enqueue, EnqueueOptions, QueueName};
    let payload = ProcessPayload {
        file_key: args.file_key,
        mime_type: args.mime,
        size: args.size,
        variants: args.variants,
        checksum: args.checksum,
    };
    storage::validate_key(&payload.file_key)?;
    let queue = match args.queue {
        EnqueueQueue::Process => QueueName::Process,
        EnqueueQueue::VscanRetry => QueueName::VscanRetry,
    };
    let backend = args.queue_args.connect().await?;
    // The producer states attempts and backoff on the job, as the Node API does, so every
    // worker (Node or attachd) retries it the same way.
    let opts = EnqueueOptions {
        attempts: Some(args.attempts),
        backoff: Some(args.backoff),
        delay: args.delay,
        job_id: args.job_id,
    };
    let id = backend
        .enqueue(queue, serde_json::to_value(&payload)?, &opts)
        .await?;
    println!(
        "{}",
        serde_json::json!({ "jobId": id, "queue": queue.as_str(), "name": queue.job_name() })
    );
    Ok(0)
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum RequeueStatus {
    Failed,
    /// Never processed: the API's job for them was lost.
    Uploaded,
}

/// Uploads sent back per run of `attachd requeue`: a batch a person can read the output of;
/// run it again for more.
pub const DEFAULT_REQUEUE_LIMIT: i64 = 1000;

#[derive(Args, Debug)]
pub struct RequeueArgs {
    /// Which rows to send back.
    #[arg(long, value_enum, default_value = "failed")]
    pub status: RequeueStatus,
    /// Only rows whose error code is this (`processing-abandoned`, `scanner-unavailable`, ...).
    #[arg(long)]
    pub code: Option<String>,
    /// At most this many uploads per run, least recently changed first.
    #[arg(long, default_value_t = DEFAULT_REQUEUE_LIMIT)]
    pub limit: i64,
    /// List the uploads; enqueue nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long, default_value_t = crate::queue::DEFAULT_ATTEMPTS)]
    pub attempts: u32,
    /// `exponential:2s` or `fixed:5s`.
    #[arg(long, default_value = "exponential:2s", value_parser = crate::queue::Backoff::parse)]
    pub backoff: crate::queue::Backoff,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub queue_args: QueueArgs,
}

/// `attachd requeue`: one process job per selected row. The job id is derived from the key
/// and the row's claim count, so running the command again before the job has run adds
/// nothing (BullMQ keeps one job per id), while a row that failed again is sent once more.
async fn requeue(args: RequeueArgs) -> anyhow::Result<i32> {
    use crate::queue::{Enqueue, EnqueueOptions, QueueName};
    let status = match args.status {
        RequeueStatus::Failed => crate::db::Status::Failed,
        RequeueStatus::Uploaded => crate::db::Status::Uploaded,
    };
    let db = args.store.db().await?;
    let rows = db
        .rows_with_status(status, args.code.as_deref(), args.limit)
        .await?;
    let backend = if args.dry_run {
        None
    } else {
        Some(args.queue_args.connect().await?)
    };
    let mut sent = 0u64;
    for row in &rows {
        let payload = ProcessPayload {
            file_key: row.file_key.clone(),
            mime_type: row.mime_type.clone(),
            size: u64::try_from(row.size).unwrap_or(0),
            variants: vec![],
            checksum: row.checksum.clone(),
        };
        let digest = crate::sandbox::hex(&<sha2::Sha256 as sha2::Digest>::digest(
            row.file_key.as_bytes(),
        ));
        let opts = EnqueueOptions {
            attempts: Some(args.attempts),
            backoff: Some(args.backoff),
            delay: None,
            job_id: Some(format!("requeue-{}-{}", &digest[..32], row.attempts)),
        };
        let job_id = match &backend {
            Some(b) => {
                let id = b
                    .enqueue(QueueName::Process, serde_json::to_value(&payload)?, &opts)
                    .await?;
                sent += 1;
                Some(id)
            }
            None => None,
        };
        println!(
            "{}",
            serde_json::json!({
                "fileKey": row.file_key,
                "status": row.status.as_str(),
                "errorCode": row.error_code,
                "jobId": job_id,
            })
        );
    }
    println!(
        "{}",
        serde_json::json!({ "event": "requeued", "found": rows.len(), "enqueued": sent, "dryRun": args.dry_run })
    );
    Ok(0)
}

/// `attachd worker`: serves `/metrics`, takes jobs until SIGTERM/SIGINT, then drains.
async fn worker(args: WorkerArgs) -> anyhow::Result<i32> {
    use crate::queue::{Processor, QueueBackend, QueueName, RetryPolicy, Schedule};
    use tokio_util::sync::CancellationToken;
    use tokio_util::task::TaskTracker;

    if !args.queue_enabled {
        eprintln!("attachd worker: the queue is disabled (ATTACH_QUEUE_ENABLED=0); not starting");
        return Ok(2);
    }
    let cleanup_schedule = match args.cleanup_cron.trim() {
        "off" => None,
        s => Some(
            s.parse::<Schedule>()
                .map_err(|e| anyhow::anyhow!("ATTACH_CLEANUP_CRON: {e}"))?,
        ),
    };
    let policy = Arc::new(
        args.security
            .policy(&args.upload_prefix, args.orphan_max_age)?,
    );
    let metrics = crate::metrics::Metrics::new(&QueueName::labels());
    let listener = tokio::net::TcpListener::bind(&args.metrics_addr)
        .await
        .with_context(|| format!("binding ATTACH_METRICS_ADDR {}", args.metrics_addr))?;
    let metrics_addr = listener.local_addr()?;
    let (db, storage) = (args.store.db().await?, args.store.storage().await?);
    let sandbox = args.sandbox.clone();
    // Loading compiles the guests on first start: keep it off the async threads.
    let pipeline = tokio::task::spawn_blocking(move || sandbox.pipeline()).await??;
    let backend: Arc<dyn QueueBackend> = Arc::new(args.queue.connect().await?);
    let probes = Arc::new(worker::Probes {
        db: db.clone(),
        storage: storage.clone(),
        backend: backend.clone(),
        storage_prefix: args.upload_prefix.clone(),
    });

    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    tasks.spawn(crate::metrics::serve(
        listener,
        metrics.clone(),
        probes.clone(),
        shutdown.clone(),
    ));
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let on_signal = shutdown.clone();
    tasks.spawn(async move {
        tokio::select! {
            _ = sigterm.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
            _ = on_signal.cancelled() => return,
        }
        on_signal.cancel();
    });

    let audit = crate::audit::Audit::new(Some(db.clone()));
    let max_upload = pipeline.max_read_bytes();
    let handler = Handler::new(HandlerDeps {
        pipeline,
        storage: storage.clone(),
        db: db.clone(),
        default_variants: variant::defaults(),
        lease: args.claim_lease,
        policy: policy.clone(),
        queue: Some(backend.clone()),
        metrics: metrics.clone(),
        audit: audit.clone(),
    });
    announce_security(&policy, &audit, &metrics, max_upload).await;
    if let Some(warning) = missing_scanner_warning(&policy) {
        tracing::warn!("security setting: {warning}");
        audit
            .record_best_effort(crate::audit::Event::new(
                crate::audit::Decision::ConfigWeakened,
                warning,
            ))
            .await;
    }
    let vscan_retry: Arc<dyn Processor> = Arc::new(worker::VscanRetryJobs {
        handler: handler.clone(),
    });
    let process: Arc<dyn Processor> = Arc::new(worker::ProcessJobs { handler });
    let cleanup: Arc<dyn Processor> = Arc::new(worker::CleanupJobs {
        db,
        storage,
        queue: cleanup::QueueCheck::Queue(backend.clone()),
        options: CleanupOptions {
            max_age: args.orphan_max_age,
            sweep_prefix: Some(args.upload_prefix.clone()),
            dry_run: false,
        },
        metrics: metrics.clone(),
    });
    let processors = vec![
        (QueueName::Process, process),
        (QueueName::VscanRetry, vscan_retry),
        (QueueName::Cleanup, cleanup),
    ];
    let cfg = worker::WorkerConfig {
        concurrency: args.concurrency.max(1),
        lock_duration: args.lock_duration,
        stalled_interval: args.stalled_interval,
        default_retry: RetryPolicy {
            attempts: args.default_attempts.max(1),
            backoff: args.default_backoff,
        },
        shutdown_grace: args.shutdown_grace,
        cleanup_schedule,
        max_bytes_in_flight: args.max_bytes_in_flight,
        job_memory: worker::JobMemory {
            guest: args.sandbox.guest_memory,
            video_output: match args.sandbox.video.video.as_str() {
                "off" => 0,
                _ => crate::video::max_held_output_bytes(&args.sandbox.video.config()),
            },
        },
    };
    let prefix = args.queue.queue_prefix.clone();
    let ready = move || {
        // One line on stdout when jobs are being taken: scripts and tests wait for it.
        let queues: Vec<&str> = QueueName::ALL.iter().map(|q| q.as_str()).collect();
        println!(
            "{}",
            serde_json::json!({ "event": "ready", "pid": std::process::id(), "metricsAddr": metrics_addr.to_string(), "prefix": prefix, "queues": queues })
        );
    };
    let result = worker::run(
        backend,
        processors,
        probes,
        metrics,
        cfg,
        ready,
        shutdown.clone(),
    )
    .await;
    shutdown.cancel();
    tasks.close();
    tasks.wait().await;
    let report = result?;
    println!(
        "{}",
        serde_json::json!({ "event": "stopped", "cutOff": report.cut_off })
    );
    Ok(0)
}

async fn ingest(args: IngestArgs) -> anyhow::Result<i32> {
    let data =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let key = match args.key {
        Some(k) => k,
        None => {
            let name: String = args
                .file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let name = name.trim_start_matches('.');
            let name = if name.is_empty() { "upload" } else { name };
            format!(
                "{}{}/{name}",
                config::DEFAULT_UPLOAD_PREFIX,
                uuid::Uuid::new_v4()
            )
        }
    };
    storage::validate_key(&key)?;
    let mime = args
        .mime
        .unwrap_or_else(|| mime_from_extension(&args.file).to_string());
    let checksum = crate::sandbox::hex(&<sha2::Sha256 as sha2::Digest>::digest(&data));
    let (db, storage) = (args.store.db().await?, args.store.storage().await?);
    let size = data.len();
    storage.put(&key, data.into(), &mime).await?;
    db.upsert_uploaded(&NewAttachment {
        file_key: key.clone(),
        mime_type: mime.clone(),
        size: size as i64,
        checksum: Some(checksum.clone()),
    })
    .await?;
    println!(
        "{}",
        serde_json::json!({ "fileKey": key, "mimeType": mime, "size": size, "checksum": checksum })
    );
    Ok(0)
}

/// `process --store`: each argument is a file key; runs the same handler as the worker's
/// `attachments.process` job and prints its summary (or its error) as one JSON line.
async fn process_store(args: ProcessArgs) -> anyhow::Result<i32> {
    let pipeline = args.sandbox.pipeline()?;
    let (db, storage) = (
        args.store_args.db().await?,
        args.store_args.storage().await?,
    );
    let upload_prefix = std::env::var("ATTACH_UPLOAD_PREFIX")
        .unwrap_or_else(|_| config::DEFAULT_UPLOAD_PREFIX.to_string());
    // The cleanup's default orphan age: `process --store` does not run cleanup itself.
    let policy = Arc::new(
        args.security
            .policy(&upload_prefix, Duration::from_secs(2 * 60 * 60))?,
    );
    let (audit, metrics) = (
        crate::audit::Audit::new(Some(db.clone())),
        crate::metrics::Metrics::new(&crate::queue::QueueName::labels()),
    );
    let max_upload = pipeline.max_read_bytes();
    let handler = Handler::new(HandlerDeps {
        pipeline,
        storage,
        db: db.clone(),
        default_variants: variant::defaults(),
        lease: crate::job::DEFAULT_CLAIM_LEASE,
        policy: policy.clone(),
        queue: None,
        metrics: metrics.clone(),
        audit: audit.clone(),
    });
    announce_security(&policy, &audit, &metrics, max_upload).await;
    let mut code = 0;
    for key in &args.files {
        let key = key.to_string_lossy().into_owned();
        let Some(row) = db.get(&key).await? else {
            println!(
                "{}",
                serde_json::json!({ "fileKey": key, "status": "failed", "errorCode": "attachment-missing", "error": "no attachments row: ingest it first" })
            );
            code = 1;
            continue;
        };
        let payload = ProcessPayload {
            file_key: key.clone(),
            mime_type: args.mime.clone().unwrap_or(row.mime_type.clone()),
            size: u64::try_from(row.size).unwrap_or(0),
            variants: args.variants.clone(),
            checksum: None,
        };
        match handler.process(&payload).await {
            Ok(summary) => println!("{}", serde_json::to_string(&summary)?),
            Err(e) => {
                if e.class() == crate::error::Class::Retryable {
                    code = 1;
                }
                println!(
                    "{}",
                    serde_json::json!({ "fileKey": key, "status": "failed", "errorCode": e.code(), "error": e.to_string(), "retryable": e.class() == crate::error::Class::Retryable })
                );
            }
        }
    }
    Ok(code)
}

/// One file's JSON line.
#[derive(Debug, Serialize)]
pub struct FileReport {
    pub file: String,
    pub status: Status,
    pub error_code: Option<&'static str>,
    pub error: Option<String>,
    pub kind: Option<&'static str>,
    pub mime: Option<String>,
    /// Displayed size: after EXIF orientation.
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub frames: Option<u32>,
    pub orientation: Option<u8>,
    pub verdict: Option<&'static str>,
    pub findings: Vec<FindingReport>,
    pub placeholder: Option<String>,
    pub variants: Vec<VariantReport>,
}

#[derive(Debug, Serialize)]
pub struct FindingReport {
    pub rule: String,
    pub verdict: &'static str,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct VariantReport {
    pub name: String,
    pub path: String,
    pub format: &'static str,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
}

impl FileReport {
    fn failed(file: &Path, code: &'static str, error: String, status: Status) -> Self {
        FileReport {
            file: file.display().to_string(),
            status,
            error_code: Some(code),
            error: Some(error),
            kind: None,
            mime: None,
            width: None,
            height: None,
            frames: None,
            orientation: None,
            verdict: None,
            findings: vec![],
            placeholder: None,
            variants: vec![],
        }
    }
}

async fn process(args: ProcessArgs) -> anyhow::Result<i32> {
    let specs = if args.variants.is_empty() {
        variant::defaults()
    } else {
        variant::parse_all(&args.variants)?
    };
    let pipeline = args.sandbox.pipeline()?;
    let out = args
        .out
        .clone()
        .context("--out is required without --store")?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let gate = Arc::new(tokio::sync::Semaphore::new(jobs));
    let specs = Arc::new(specs);
    let dirs = output_dirs(&out, &args.files);

    let mut tasks = Vec::with_capacity(args.files.len());
    for (file, dir) in args.files.iter().cloned().zip(dirs) {
        let (pipeline, specs, gate) = (pipeline.clone(), specs.clone(), gate.clone());
        let mime = args
            .mime
            .clone()
            .unwrap_or_else(|| mime_from_extension(&file).to_string());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            tokio::task::spawn_blocking(move || process_file(&pipeline, &file, &mime, &specs, &dir))
                .await
        }));
    }
    // Lines come out in the order the files were given, each as soon as it is done.
    let mut environment_failure = false;
    for task in tasks {
        let report = task
            .await
            .context("process task")?
            .context("process task")?;
        environment_failure |= report.error_code == Some("read-failed");
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(if environment_failure { 1 } else { 0 })
}

/// Processes one local file and publishes its variants under `dir`.
pub fn process_file(
    pipeline: &Pipeline,
    file: &Path,
    declared_mime: &str,
    specs: &[VariantSpec],
    dir: &Path,
) -> FileReport {
    let data = match read_bounded(file, pipeline.max_read_bytes()) {
        Ok(Ok(data)) => data,
        Ok(Err(size)) => {
            let e = pipeline::PipelineError::InputTooLarge {
                actual: size,
                max: pipeline.max_read_bytes(),
            };
            return FileReport::failed(file, e.code(), e.to_string(), e.status());
        }
        Err(e) => return FileReport::failed(file, "read-failed", format!("{e:#}"), Status::Failed),
    };
    let outcome = pipeline.run(&data, declared_mime, specs);
    let published = match &outcome.result {
        Ok(thumbs) => publish(dir, thumbs, outcome.video.as_ref()),
        Err(_) => remove_stale(dir).map(|()| vec![]),
    };
    match published {
        Ok(variants) => report(file, &outcome, variants),
        Err(e) => FileReport::failed(file, "publish-failed", format!("{e:#}"), Status::Failed),
    }
}

/// Reads at most `max` bytes: `Ok(Err(size))` when the file is larger, so an upload that
/// grows while being read cannot get past the limit either.
fn read_bounded(file: &Path, max: u64) -> anyhow::Result<Result<Vec<u8>, u64>> {
    let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let size = f.metadata()?.len();
    if size > max {
        return Ok(Err(size));
    }
    let mut data = Vec::with_capacity(size as usize);
    f.take(max + 1).read_to_end(&mut data)?;
    if data.len() as u64 > max {
        return Ok(Err(data.len() as u64));
    }
    Ok(Ok(data))
}

/// Writes every variant into a staging directory, then renames it into place: a reader sees
/// all of a file's variants or none, never a partial set.
fn publish(
    dir: &Path,
    thumbs: &crate::sandbox::Thumbnails,
    video: Option<&pipeline::VideoVariant>,
) -> anyhow::Result<Vec<VariantReport>> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = parent.join(format!(".{name}.staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    let mut out = Vec::with_capacity(thumbs.variants.len());
    for v in &thumbs.variants {
        let file_name = format!("{}.{}", v.name, variant::extension(v.format));
        std::fs::write(staging.join(&file_name), &v.data)
            .with_context(|| format!("writing {}", staging.join(&file_name).display()))?;
        out.push(VariantReport {
            name: v.name.clone(),
            path: dir.join(&file_name).display().to_string(),
            format: variant::format_name(v.format),
            width: v.width,
            height: v.height,
            bytes: v.data.len() as u64,
        });
    }
    if let Some(v) = video {
        let file_name = format!("{}.mp4", pipeline::VIDEO_VARIANT);
        std::fs::write(staging.join(&file_name), &v.data)
            .with_context(|| format!("writing {}", staging.join(&file_name).display()))?;
        out.push(VariantReport {
            name: pipeline::VIDEO_VARIANT.to_string(),
            path: dir.join(&file_name).display().to_string(),
            format: "mp4",
            width: v.width,
            height: v.height,
            bytes: v.data.len() as u64,
        });
    }
    remove_stale(dir)?;
    std::fs::rename(&staging, dir).with_context(|| format!("publishing {}", dir.display()))?;
    Ok(out)
}

fn remove_stale(dir: &Path) -> anyhow::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing stale {}", dir.display()))
        }
        _ => Ok(()),
    }
}

fn report(file: &Path, outcome: &Outcome, variants: Vec<VariantReport>) -> FileReport {
    let (error_code, error) = match &outcome.result {
        Ok(_) => (None, None),
        Err(e) => (Some(e.code()), Some(e.to_string())),
    };
    let probe = outcome.probe.as_ref();
    // Orientations 5..=8 swap the axes of the displayed image.
    let swapped = probe.is_some_and(|p| (5..=8).contains(&p.orientation));
    FileReport {
        file: file.display().to_string(),
        status: outcome.status(),
        error_code,
        error,
        kind: probe.map(|p| pipeline::kind_name(p.kind)),
        mime: probe.map(|p| p.mime.clone()),
        width: probe.map(|p| if swapped { p.height } else { p.width }),
        height: probe.map(|p| if swapped { p.width } else { p.height }),
        frames: probe.map(|p| p.frames),
        orientation: probe.map(|p| p.orientation),
        verdict: outcome
            .scan
            .as_ref()
            .map(|s| pipeline::verdict_name(s.verdict)),
        findings: outcome
            .scan
            .iter()
            .flat_map(|s| &s.findings)
            .map(|f| FindingReport {
                rule: f.rule.clone(),
                verdict: pipeline::verdict_name(f.verdict),
                detail: f.detail.clone(),
            })
            .collect(),
        placeholder: outcome.result.as_ref().ok().map(|t| t.placeholder.clone()),
        variants,
    }
}

/// One output directory per input, named after the file's stem; a repeated stem gets a
/// numeric suffix so two inputs never share a directory.
fn output_dirs(out: &Path, files: &[PathBuf]) -> Vec<PathBuf> {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    files
        .iter()
        .map(|f| {
            let stem: String = f
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let stem = if stem.is_empty() {
                "upload".to_string()
            } else {
                stem
            };
            let n = seen.entry(stem.clone()).or_insert(0);
            *n += 1;
            if *n == 1 {
                out.join(stem)
            } else {
                out.join(format!("{stem}-{n}"))
            }
        })
        .collect()
}

/// The MIME type a browser would declare for this file name. Only the declaration the scan
/// checks against: the real type always comes from the bytes.
pub fn mime_from_extension(file: &Path) -> &'static str {
    let ext = file
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" | "jfif" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "tif" | "tiff" => "image/tiff",
        "bmp" => "image/bmp",
        "avif" => "image/avif",
        "heic" => "image/heic",
        "pdf" => "application/pdf",
        "html" | "htm" => "text/html",
        "zip" => "application/zip",
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "mkv" => "video/x-matroska",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn output_dirs_never_collide() {
        let files = [
            PathBuf::from("a/x.jpg"),
            PathBuf::from("b/x.png"),
            PathBuf::from("y.gif"),
        ];
        let dirs = output_dirs(Path::new("out"), &files);
        assert_eq!(
            dirs,
            [
                PathBuf::from("out/x"),
                PathBuf::from("out/x-2"),
                PathBuf::from("out/y")
            ]
        );
    }

    #[test]
    fn declared_mime_follows_the_extension_only() {
        assert_eq!(mime_from_extension(Path::new("p.JPG")), "image/jpeg");
        assert_eq!(
            mime_from_extension(Path::new("noext")),
            "application/octet-stream"
        );
    }
}
