//! Every setting attachd reads, once: its variable name, its default and what it means. The
//! defaults come from the named constants of the module that uses them (where each one's
//! reason is written); `attachd config --env-example` prints this table, `.env.example` is
//! that output, and the tests hold the README's tables to it.

use super::format_duration;
use std::sync::LazyLock;

/// The group a setting is listed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Area {
    Settings,
    Store,
    Queue,
    Worker,
    Cleanup,
    Guests,
    Video,
    Antivirus,
    Api,
    Logging,
    Commands,
}

impl Area {
    pub fn title(self) -> &'static str {
        match self {
            Area::Settings => "Where settings come from",
            Area::Store => "Database and object store",
            Area::Queue => "Queues (Redis, BullMQ)",
            Area::Worker => "attachd worker",
            Area::Cleanup => "Cleanup of orphaned uploads",
            Area::Guests => "Guests and their limits",
            Area::Video => "Video (ffmpeg in the jail)",
            Area::Antivirus => "Antivirus re-scan and verdict policy",
            Area::Api => "attachd serve (upload API and review page)",
            Area::Logging => "Logs",
            Area::Commands => "Local commands",
        }
    }
}

/// One setting.
#[derive(Debug, Clone)]
pub struct Var {
    /// The environment variable, and the key in a config file.
    pub name: &'static str,
    pub area: Area,
    /// `None`: unset unless given; [`Var::meaning`] says what unset does.
    pub default: Option<String>,
    pub meaning: &'static str,
    /// Printed redacted by `attachd config` (a URL's password).
    pub secret: bool,
    /// Earlier flag names, still accepted.
    pub aliases: &'static [&'static str],
    /// An empty value means the default (these have always read empty as unset); for the
    /// others an empty value is refused.
    pub empty_is_unset: bool,
}

impl Var {
    /// The flag: the name without `ATTACH_`, in lower case with dashes (`--orphan-max-age`).
    pub fn flag(&self) -> String {
        self.name
            .trim_start_matches("ATTACH_")
            .to_ascii_lowercase()
            .replace('_', "-")
    }
}

/// The config file's own variable: it can come only from the environment or `--config`.
pub const CONFIG_VAR: &str = "ATTACH_CONFIG";

/// Every setting, in the order `--env-example` prints them.
pub fn all() -> &'static [Var] {
    &VARS
}

/// The setting called `name`, if there is one.
pub fn find(name: &str) -> Option<&'static Var> {
    VARS.iter().find(|v| v.name == name)
}

fn var(
    name: &'static str,
    area: Area,
    default: impl Into<Option<String>>,
    meaning: &'static str,
) -> Var {
    Var {
        name,
        area,
        default: default.into(),
        meaning,
        secret: false,
        aliases: &[],
        empty_is_unset: false,
    }
}

fn n(value: impl ToString) -> Option<String> {
    Some(value.to_string())
}

fn d(value: std::time::Duration) -> Option<String> {
    Some(format_duration(value))
}

fn secret(v: Var) -> Var {
    Var { secret: true, ..v }
}

fn blank_is_default(v: Var) -> Var {
    Var {
        empty_is_unset: true,
        ..v
    }
}

fn alias(v: Var, aliases: &'static [&'static str]) -> Var {
    Var { aliases, ..v }
}

static VARS: LazyLock<Vec<Var>> = LazyLock::new(|| {
    use crate::{api, cleanup, config, metrics, queue, storage, video, vscan, worker};
    use Area::*;
    vec![
        var(CONFIG_VAR, Settings, None, "A file of NAME=value lines (this file's format) read under the environment and the flags. Unset: none. Environment or --config only"),
        // Store
        blank_is_default(var("ATTACH_DATA_DIR", Store, n(config::DEFAULT_DATA_DIR), "Data directory of the embedded default: the SQLite database (attachd.db) and the local objects (objects/)")),
        secret(var("ATTACH_DATABASE_URL", Store, None, "postgres://… in production, or sqlite://…. Unset: SQLite at <data dir>/attachd.db")),
        blank_is_default(var("ATTACH_STORAGE", Store, None, "Object store: local or s3. Unset: s3 if ATTACH_S3_BUCKET is set, else local (under the data directory)")),
        blank_is_default(var("ATTACH_S3_BUCKET", Store, None, "S3 bucket of the uploads; credentials come from the standard AWS chain")),
        blank_is_default(var("ATTACH_S3_REGION", Store, n(storage::DEFAULT_REGION), "S3 region")),
        secret(blank_is_default(var("ATTACH_S3_ENDPOINT", Store, None, "An S3-compatible server's URL. Unset: AWS"))),
        blank_is_default(var("ATTACH_S3_FORCE_PATH_STYLE", Store, None, "1 or 0: path-style bucket addressing. Unset: on with ATTACH_S3_ENDPOINT, off without")),
        // Queue
        var("ATTACH_QUEUE_ENABLED", Queue, n(1), "0: this deployment runs no queue; attachd worker refuses to start (exit 2) and attachd cleanup deletes stale uploads without reading the queues"),
        secret(var("ATTACH_REDIS_URL", Queue, n(queue::DEFAULT_REDIS_URL), "redis://[user:password@]host:port[/db], or rediss:// for TLS; several comma-separated: a Redis Cluster's seed nodes")),
        var("ATTACH_REDIS_CLUSTER", Queue, n(0), "1: ATTACH_REDIS_URL is a Redis Cluster (implied by several URLs); the queue prefix must then hold a hash tag, such as {attach}"),
        var("ATTACH_QUEUE_PREFIX", Queue, n(queue::DEFAULT_PREFIX), "Redis key prefix, shared with the Node API's queues (no :); on a Redis Cluster with a hash tag, such as {attach}"),
        alias(var("ATTACH_QUEUE_CONCURRENCY", Queue, n(worker::DEFAULT_CONCURRENCY), "Jobs processed at once per queue (the cleanup queue takes one at a time)"), &["concurrency"]),
        alias(var("ATTACH_QUEUE_LOCK_DURATION", Queue, d(worker::DEFAULT_LOCK_DURATION), "A job's lock lasts this long unless renewed (renewed every half of it while the job runs)"), &["lock-duration"]),
        alias(var("ATTACH_QUEUE_STALLED_INTERVAL", Queue, d(worker::DEFAULT_STALLED_INTERVAL), "How often this worker looks for jobs whose lock lapsed (their worker died)"), &["stalled-interval"]),
        alias(var("ATTACH_QUEUE_DEFAULT_ATTEMPTS", Queue, n(queue::DEFAULT_ATTEMPTS), "Attempts for jobs whose producer set none"), &["default-attempts"]),
        alias(var("ATTACH_QUEUE_DEFAULT_BACKOFF", Queue, n(queue::DEFAULT_BACKOFF), "Backoff for jobs whose producer set none: exponential:<duration> or fixed:<duration> (capped at 5m)"), &["default-backoff"]),
        // Worker
        var("ATTACH_CLEANUP_CRON", Worker, n(worker::DEFAULT_CLEANUP_SCHEDULE), "Cleanup schedule: a duration (15m) or a cron pattern (*/15 * * * *); off registers none"),
        var("ATTACH_SHUTDOWN_GRACE", Worker, d(worker::DEFAULT_SHUTDOWN_GRACE), "On SIGTERM or SIGINT, how long in-flight jobs may take to finish"),
        var("ATTACH_METRICS_ADDR", Worker, n(metrics::DEFAULT_METRICS_ADDR), "Where /metrics, /healthz and /readyz listen (port 0: any free port, printed at start)"),
        var("ATTACH_MAX_BYTES_IN_FLIGHT", Worker, n(worker::DEFAULT_MAX_BYTES_IN_FLIGHT), "Memory charged to the jobs running at once: each its declared upload twice, plus ATTACH_GUEST_MEMORY, plus (video on) the MP4 and poster buffers"),
        var("ATTACH_CLAIM_LEASE", Worker, None, "How long a job's claim on its upload row lasts unless renewed (renewed every third while the job runs). Unset: ATTACH_QUEUE_LOCK_DURATION, so that a job taken over from a dead worker finds the upload's claim lapsed too"),
        // Cleanup
        alias(var("ATTACH_ORPHAN_MAX_AGE", Cleanup, d(cleanup::DEFAULT_MAX_AGE), "Age after which an uploaded row is an orphan"), &["max-age"]),
        alias(var("ATTACH_UPLOAD_PREFIX", Cleanup, n(config::DEFAULT_UPLOAD_PREFIX), "Where uploads live in the store; the orphan sweep looks only under it"), &["sweep-prefix"]),
        // Guests
        var("ATTACH_GUEST_DIR", Guests, None, "Directory of the guest components and their manifests. Unset: guests/ beside the binary, else target/guests in a checkout"),
        var("ATTACH_GUEST_TRUSTED_KEYS", Guests, None, "Who may release guests: minisign public keys (RW… lines), or absolute paths of files of them (.pub), separated by commas; read again at every reload. Unset: no key, so guests load only with ATTACH_GUEST_ALLOW_UNSIGNED"),
        var("ATTACH_GUEST_ALLOW_UNSIGNED", Guests, n(0), "1: guests without a signature load (a signature present must still verify); for development only, warned and audited at start"),
        var("ATTACH_GUEST_WATCH_INTERVAL", Guests, d(worker::DEFAULT_GUEST_WATCH_INTERVAL), "How often attachd worker looks for a new guest release in ATTACH_GUEST_DIR (it also reloads on SIGHUP); 0: only on SIGHUP"),
        var("ATTACH_CACHE_DIR", Guests, None, "Directory of compiled guests; none: no cache. Unset: $XDG_CACHE_HOME/attachd or ~/.cache/attachd"),
        var("ATTACH_MAX_INPUT_BYTES", Guests, n(config::DEFAULT_MAX_INPUT_BYTES), "An image upload's size, checked before reading"),
        var("ATTACH_MAX_PIXELS", Guests, n(config::DEFAULT_MAX_PIXELS), "Width × height, checked on the probe's reading of the headers before any decode"),
        var("ATTACH_MAX_FRAMES", Guests, n(config::DEFAULT_MAX_FRAMES), "Frames of an animation"),
        var("ATTACH_MAX_FRAME_AREA", Guests, n(config::DEFAULT_MAX_TOTAL_FRAME_AREA), "The sum of all frames' areas"),
        var("ATTACH_MAX_OUTPUT_BYTES", Guests, n(config::DEFAULT_MAX_OUTPUT_BYTES), "All variants of one upload together"),
        var("ATTACH_GUEST_MEMORY", Guests, n(config::DEFAULT_GUEST_MEMORY_BYTES), "Linear memory per guest call, in bytes"),
        var("ATTACH_GUEST_STACK", Guests, n(config::DEFAULT_GUEST_STACK_BYTES), "Wasm stack per guest call, in bytes"),
        var("ATTACH_GUEST_TIMEOUT_MS", Guests, n(config::DEFAULT_GUEST_DEADLINE.as_millis()), "Wall-clock backstop per guest call, in milliseconds"),
        var("ATTACH_GUEST_FUEL_BASE", Guests, n(config::DEFAULT_FUEL_BASE), "Fuel every guest call gets before its input's allowance"),
        var("ATTACH_GUEST_FUEL_PER_BYTE", Guests, n(config::DEFAULT_FUEL_PER_BYTE), "Fuel per input byte, every guest call"),
        var("ATTACH_GUEST_FUEL_PER_PIXEL", Guests, n(config::DEFAULT_FUEL_PER_PIXEL), "Fuel per source pixel the thumbnail guest decodes"),
        var("ATTACH_GUEST_FUEL_PER_HEIF_PIXEL", Guests, n(config::DEFAULT_FUEL_PER_HEIF_PIXEL), "Fuel per source pixel the heif guest decodes (HEVC decodes every pixel)"),
        var("ATTACH_GUEST_FUEL_PER_OUTPUT_PIXEL", Guests, n(config::DEFAULT_FUEL_PER_OUTPUT_PIXEL), "Fuel per pixel of the variants the thumbnail guest writes"),
        var("ATTACH_GUEST_FUEL_MAX", Guests, n(config::DEFAULT_FUEL_MAX_PER_CALL), "The most fuel any one guest call gets"),
        // Video
        var("ATTACH_VIDEO", Video, n("on"), "off: video containers are unsupported-type"),
        var("ATTACH_FFMPEG", Video, n("ffmpeg"), "ffmpeg: a name looked up in PATH, or a path"),
        var("ATTACH_FFPROBE", Video, n("ffprobe"), "ffprobe: a name looked up in PATH, or a path"),
        var("ATTACH_VIDEO_SANDBOX", Video, n("strict"), "strict: refuse to run ffmpeg when a jail layer is missing here; best-effort: run without it and warn"),
        var("ATTACH_VIDEO_WORK_DIR", Video, None, "Where each job's private work directory is made (as root, reachable by nobody). Unset: the system temp dir"),
        var("ATTACH_VIDEO_MAX_INPUT_BYTES", Video, n(video::DEFAULT_MAX_INPUT_BYTES), "A video upload's size"),
        var("ATTACH_VIDEO_MAX_DURATION", Video, d(video::DEFAULT_MAX_DURATION), "Playing time; ffmpeg also stops reading there"),
        var("ATTACH_VIDEO_MAX_PIXELS", Video, n(video::DEFAULT_MAX_PIXELS), "Pixels per frame (width × height)"),
        var("ATTACH_VIDEO_MAX_FPS", Video, n(video::DEFAULT_MAX_FRAME_RATE), "Frame rate (the MP4 is capped at 60)"),
        var("ATTACH_VIDEO_MAX_OUTPUT_BYTES", Video, n(video::DEFAULT_MAX_OUTPUT_BYTES), "Any file ffmpeg writes"),
        var("ATTACH_VIDEO_BOX", Video, Some(format!("{}x{}", video::DEFAULT_MAX_LONG_EDGE, video::DEFAULT_MAX_SHORT_EDGE)), "The MP4's box, WxH: the long edge fits the larger number (never upscaled)"),
        var("ATTACH_VIDEO_BITRATE", Video, n(video::DEFAULT_VIDEO_KBPS), "H.264 bitrate cap, kbit/s"),
        var("ATTACH_VIDEO_AUDIO_BITRATE", Video, n(video::DEFAULT_AUDIO_KBPS), "AAC bitrate, kbit/s"),
        var("ATTACH_VIDEO_PRESET", Video, n(video::DEFAULT_PRESET), "x264 preset: ultrafast, superfast, veryfast, faster, fast, medium or slow"),
        var("ATTACH_VIDEO_CRF", Video, n(video::DEFAULT_CRF), "x264 quality, 0 to 51"),
        var("ATTACH_VIDEO_THREADS", Video, n(video::DEFAULT_THREADS), "ffmpeg's threads per job, 1 to 16"),
        var("ATTACH_VIDEO_PROBE_TIMEOUT", Video, d(video::DEFAULT_PROBE_TIMEOUT), "Deadline for ffprobe"),
        var("ATTACH_VIDEO_TIMEOUT", Video, d(video::DEFAULT_TRANSCODE_TIMEOUT), "Deadline for ffmpeg"),
        var("ATTACH_VIDEO_MEMORY", Video, n(video::DEFAULT_MEMORY_BYTES), "Address space of ffmpeg and ffprobe, in bytes"),
        // Antivirus
        blank_is_default(var("ATTACH_VSCAN_ENDPOINT", Antivirus, None, "clamd to re-scan every stored upload with: tcp://host:port or unix:///path. Unset: no antivirus re-check (warned at start)")),
        var("ATTACH_VSCAN_CONNECT_TIMEOUT", Antivirus, d(vscan::DEFAULT_CONNECT_TIMEOUT), "Bound on connecting to clamd"),
        var("ATTACH_VSCAN_TIMEOUT", Antivirus, d(vscan::DEFAULT_IO_TIMEOUT), "Bound on each write to clamd, each read of the upload, and the wait for the verdict"),
        var("ATTACH_VSCAN_MAX_STREAM", Antivirus, n(vscan::DEFAULT_MAX_STREAM), "clamd's StreamMaxLength in bytes: larger uploads get the ATTACH_VSCAN_OVERSIZE outcome"),
        var("ATTACH_VSCAN_OVERSIZE", Antivirus, n("fail"), "An upload larger than clamd accepts: fail (scan-too-large) or quarantine"),
        var("ATTACH_VSCAN_RETRY_ATTEMPTS", Antivirus, n(vscan::DEFAULT_RETRY_ATTEMPTS), "Scanner tries (the first included) before the upload fails with scanner-unavailable"),
        var("ATTACH_VSCAN_RETRY_BASE", Antivirus, d(vscan::DEFAULT_RETRY_BASE), "First wait between scanner tries; doubles each try"),
        var("ATTACH_VSCAN_RETRY_CAP", Antivirus, d(vscan::DEFAULT_RETRY_CAP), "Longest wait between scanner tries (below ATTACH_ORPHAN_MAX_AGE)"),
        var("ATTACH_VSCAN_FAIL_OPEN", Antivirus, n(0), "1: once the tries run out, publish unscanned (flagged suspicious); weakens security, warned and audited at start"),
        var("ATTACH_QUARANTINE_PREFIX", Antivirus, n(vscan::DEFAULT_QUARANTINE_PREFIX), "Where quarantined originals go, in the same store (outside ATTACH_UPLOAD_PREFIX and variants/)"),
        var("ATTACH_SCAN_SUSPICIOUS", Antivirus, n("publish"), "A suspicious scan verdict: publish, quarantine or fail (scan-suspicious)"),
        // API
        var("ATTACH_API_ADDR", Api, n(api::DEFAULT_ADDR), "Where attachd serve listens: the JSON API, the review page, local upload and download URLs, /healthz, /readyz and /metrics"),
        var("ATTACH_API_TOKENS_FILE", Api, None, "The API's bearer tokens: lines of NAME SCOPES sha256:HEX (attachd api-token prints them; scopes upload and review). Unset: attachd serve refuses to start, as it has no anonymous access"),
        var("ATTACH_API_PUBLIC_URL", Api, None, "The base URL clients reach attachd serve at, for the upload and download URLs of the local store. Unset: http://ATTACH_API_ADDR"),
        var("ATTACH_API_SIGNING_KEY_FILE", Api, None, "The key that signs local upload and download URLs and review sessions (32+ bytes; shared by every attachd serve behind one URL). Unset: <data dir>/api-signing.key, made at first start"),
        var("ATTACH_API_URL_TTL", Api, d(api::DEFAULT_URL_TTL), "How long an upload or download URL stays valid"),
        var("ATTACH_API_RATE", Api, n(api::DEFAULT_RATE), "Requests per second each token may make, on average"),
        var("ATTACH_API_BURST", Api, n(api::DEFAULT_BURST), "Requests a token may make at once above its rate"),
        var("ATTACH_API_REQUEST_TIMEOUT", Api, d(api::DEFAULT_REQUEST_TIMEOUT), "Longest a request may take, but an upload through a local upload URL"),
        var("ATTACH_API_UPLOAD_TIMEOUT", Api, d(api::DEFAULT_UPLOAD_TIMEOUT), "Longest an upload through a local upload URL may take"),
        // Logging
        blank_is_default(var("ATTACH_WORKER_LOG_LEVEL", Logging, n("warn"), "Log filter: error, warn, info, debug, or per module (attachd::worker=debug)")),
        blank_is_default(var("ATTACH_LOG_FORMAT", Logging, n("text"), "text, or json: one JSON object per log line on stderr")),
        blank_is_default(var("ATTACH_AUDIT_LOG", Logging, n("stderr"), "Where the JSON audit stream goes: stderr, or a file to append to")),
        // Commands
        alias(var("ATTACH_PROCESS_JOBS", Commands, None, "attachd process: files processed at once. Unset: the number of CPUs"), &["jobs"]),
    ]
});
