//! One typed [`Settings`], from four layers, each over the one before: the defaults
//! ([`vars`], from the named constants), an optional config file (`ATTACH_CONFIG` or
//! `--config`, `NAME=value` lines), the environment, and the command-line flags. Every
//! setting has one name (`ATTACH_…`) in all four; `attachd config` prints where each value
//! came from, and `attachd config --env-example` prints the whole table.
//!
//! Every command loads all of it, so a malformed value anywhere is refused at start, not at
//! the first job that needs it.

mod layers;
mod vars;

pub use layers::{Flags, Layers, Source};
pub use vars::{Area, Var, CONFIG_VAR};

/// Every setting, in the order `attachd config --env-example` prints them.
pub fn all() -> &'static [Var] {
    vars::all()
}

pub use crate::config::{format_duration, parse_duration};
use crate::config::{FuelBudget, GuestPaths, InputLimits, SandboxLimits};
use crate::queue::{Backoff, RedisTarget, RetryPolicy, Schedule};
use crate::release::Trust;
use crate::storage::StorageConfig;
use crate::video::VideoConfig;
use crate::vscan;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// A setting that could not be read: which one, and why.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{var}={value:?}: {message}")]
    Invalid {
        var: &'static str,
        value: String,
        message: String,
    },
    #[error("{0}")]
    Rule(String),
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
}

/// Everything attachd can be told, typed, by area.
#[derive(Debug, Clone)]
pub struct Settings {
    pub store: StoreSettings,
    pub queue: QueueSettings,
    pub worker: WorkerSettings,
    pub cleanup: CleanupSettings,
    pub guests: GuestSettings,
    /// `None`: `ATTACH_VIDEO=off`.
    pub video: Option<VideoConfig>,
    pub vscan: vscan::Policy,
    pub log: LogSettings,
    pub api: crate::api::ApiSettings,
    /// `attachd process`: files at once; `None`: one per CPU.
    pub process_jobs: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub data_dir: PathBuf,
    /// `None`: the embedded SQLite file in the data directory.
    pub database_url: Option<String>,
    pub storage: StorageConfig,
}

#[derive(Debug, Clone)]
pub struct QueueSettings {
    pub enabled: bool,
    pub redis: RedisTarget,
    pub prefix: String,
    pub concurrency: usize,
    pub lock_duration: Duration,
    pub stalled_interval: Duration,
    pub default_retry: RetryPolicy,
}

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// `None`: `off`, no cleanup schedule registered.
    pub cleanup_schedule: Option<Schedule>,
    pub shutdown_grace: Duration,
    pub metrics_addr: String,
    pub max_bytes_in_flight: u64,
    pub claim_lease: Duration,
}

#[derive(Debug, Clone)]
pub struct CleanupSettings {
    pub orphan_max_age: Duration,
    pub upload_prefix: String,
}

#[derive(Debug, Clone)]
pub struct GuestSettings {
    pub paths: GuestPaths,
    /// How often the worker looks for a new release; `None`: only on SIGHUP.
    pub watch_interval: Option<Duration>,
    pub limits: SandboxLimits,
    pub input: InputLimits,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub level: String,
    pub json: bool,
    /// `None`: stderr.
    pub audit_file: Option<PathBuf>,
}

impl Settings {
    /// The settings of this process: defaults, `ATTACH_CONFIG`'s file, the environment, and
    /// `flags` (setting name → value, as the command line gave them).
    pub fn load(
        config_file: Option<PathBuf>,
        flags: Flags,
    ) -> Result<(Settings, Layers), SettingsError> {
        // A value that is not UTF-8 is refused, not read as unset.
        for var in vars::all() {
            if let Err(std::env::VarError::NotUnicode(_)) = std::env::var(var.name) {
                return Err(SettingsError::Invalid {
                    var: var.name,
                    value: String::new(),
                    message: "not valid UTF-8".into(),
                });
            }
        }
        let layers = Layers::resolve(|name| std::env::var(name).ok(), config_file, flags)?;
        let settings = Settings::from_layers(&layers)?;
        Ok((settings, layers))
    }

    /// Reads every setting out of `layers`.
    pub fn from_layers(l: &Layers) -> Result<Settings, SettingsError> {
        let data_dir: PathBuf = l.parse("ATTACH_DATA_DIR")?;
        let storage = StorageConfig::from_lookup(|name| l.get(name).map(str::to_owned))
            .map_err(|e| SettingsError::Rule(e.to_string()))?;
        let store = StoreSettings {
            data_dir,
            database_url: match l.get("ATTACH_DATABASE_URL") {
                // Parsed now: a malformed URL is a settings error, not a database outage.
                Some(_) => Some(l.with("ATTACH_DATABASE_URL", |url| {
                    crate::db::Db::check_url(url)
                        .map(|()| url.to_owned())
                        .map_err(|e| e.to_string())
                })?),
                None => None,
            },
            storage,
        };
        let queue = QueueSettings {
            enabled: l.flag("ATTACH_QUEUE_ENABLED")?,
            redis: {
                let cluster = l.flag("ATTACH_REDIS_CLUSTER")?;
                l.with("ATTACH_REDIS_URL", |url| RedisTarget::parse(url, cluster))?
            },
            prefix: l.parse("ATTACH_QUEUE_PREFIX")?,
            concurrency: l.parse::<usize>("ATTACH_QUEUE_CONCURRENCY")?.max(1),
            lock_duration: l.duration("ATTACH_QUEUE_LOCK_DURATION")?,
            stalled_interval: l.duration("ATTACH_QUEUE_STALLED_INTERVAL")?,
            default_retry: RetryPolicy {
                attempts: l.parse::<u32>("ATTACH_QUEUE_DEFAULT_ATTEMPTS")?.max(1),
                backoff: l.with("ATTACH_QUEUE_DEFAULT_BACKOFF", Backoff::parse)?,
            },
        };
        if matches!(queue.redis, RedisTarget::Cluster(_))
            && !crate::queue::has_hash_tag(&queue.prefix)
        {
            return Err(SettingsError::Rule(format!(
                "ATTACH_QUEUE_PREFIX={:?} on a Redis Cluster: the prefix must hold a hash tag, \
                 such as {{attach}}, so that each queue's keys share one slot (BullMQ's scripts \
                 touch several keys of a queue at once); the Node producers use the same prefix",
                queue.prefix
            )));
        }
        let worker = WorkerSettings {
            cleanup_schedule: l.with("ATTACH_CLEANUP_CRON", |s| match s.trim() {
                "off" => Ok(None),
                s => s.parse::<Schedule>().map(Some),
            })?,
            shutdown_grace: l.duration("ATTACH_SHUTDOWN_GRACE")?,
            metrics_addr: l.parse("ATTACH_METRICS_ADDR")?,
            max_bytes_in_flight: l.parse("ATTACH_MAX_BYTES_IN_FLIGHT")?,
            // The queue's lock by default: a job is taken over from a dead worker once its lock
            // lapses, and a longer claim would make that job find the upload still held by
            // the dead worker (`attachment-busy`, spending its attempts until the claim ends).
            claim_lease: match l.get("ATTACH_CLAIM_LEASE") {
                Some(_) => l.duration("ATTACH_CLAIM_LEASE")?,
                None => queue.lock_duration,
            },
        };
        let cleanup = CleanupSettings {
            orphan_max_age: l.duration("ATTACH_ORPHAN_MAX_AGE")?,
            upload_prefix: l.parse("ATTACH_UPLOAD_PREFIX")?,
        };
        let guests = GuestSettings {
            paths: GuestPaths {
                dir: l
                    .get("ATTACH_GUEST_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(GuestPaths::default_dir),
                cache_dir: match l.get("ATTACH_CACHE_DIR") {
                    Some("none") => None,
                    Some(p) => Some(PathBuf::from(p)),
                    None => GuestPaths::default_cache_dir(),
                },
                trust: {
                    let allow_unsigned = l.flag("ATTACH_GUEST_ALLOW_UNSIGNED")?;
                    match l.get("ATTACH_GUEST_TRUSTED_KEYS") {
                        None => Trust::none(allow_unsigned),
                        Some(_) => l.with("ATTACH_GUEST_TRUSTED_KEYS", |keys| {
                            Trust::parse(keys, allow_unsigned).map_err(|e| e.to_string())
                        })?,
                    }
                },
            },
            watch_interval: Some(l.duration("ATTACH_GUEST_WATCH_INTERVAL")?)
                .filter(|d| !d.is_zero()),
            limits: SandboxLimits {
                memory_bytes: l.parse("ATTACH_GUEST_MEMORY")?,
                deadline: Duration::from_millis(l.parse("ATTACH_GUEST_TIMEOUT_MS")?),
                stack_bytes: l.parse("ATTACH_GUEST_STACK")?,
                fuel: FuelBudget {
                    base: l.parse("ATTACH_GUEST_FUEL_BASE")?,
                    per_byte: l.parse("ATTACH_GUEST_FUEL_PER_BYTE")?,
                    per_pixel: l.parse("ATTACH_GUEST_FUEL_PER_PIXEL")?,
                    heif_per_pixel: l.parse("ATTACH_GUEST_FUEL_PER_HEIF_PIXEL")?,
                    per_output_pixel: l.parse("ATTACH_GUEST_FUEL_PER_OUTPUT_PIXEL")?,
                    max_per_call: l.parse("ATTACH_GUEST_FUEL_MAX")?,
                },
                ..SandboxLimits::default()
            },
            input: InputLimits {
                max_input_bytes: l.parse("ATTACH_MAX_INPUT_BYTES")?,
                max_pixels: l.parse("ATTACH_MAX_PIXELS")?,
                max_frames: l.parse("ATTACH_MAX_FRAMES")?,
                max_total_frame_area: l.parse("ATTACH_MAX_FRAME_AREA")?,
                max_output_bytes: l.parse("ATTACH_MAX_OUTPUT_BYTES")?,
            },
        };
        let video = video(l)?;
        // Checked against the cleanup settings by the commands that run jobs
        // ([`Settings::job_policy`]).
        let vscan = antivirus(l)?;
        let log = LogSettings {
            level: l.parse("ATTACH_WORKER_LOG_LEVEL")?,
            json: l.with("ATTACH_LOG_FORMAT", |s| match s {
                "text" => Ok(false),
                "json" => Ok(true),
                _ => Err("expected text or json".to_owned()),
            })?,
            audit_file: l
                .get("ATTACH_AUDIT_LOG")
                .filter(|p| *p != "stderr")
                .map(PathBuf::from),
        };
        let api = crate::api::ApiSettings {
            addr: l.parse("ATTACH_API_ADDR")?,
            tokens_file: l.get("ATTACH_API_TOKENS_FILE").map(PathBuf::from),
            public_url: match l.get("ATTACH_API_PUBLIC_URL") {
                Some(_) => Some(l.with("ATTACH_API_PUBLIC_URL", crate::api::parse_public_url)?),
                None => None,
            },
            signing_key_file: l
                .get("ATTACH_API_SIGNING_KEY_FILE")
                .map(PathBuf::from)
                .unwrap_or_else(|| store.data_dir.join(crate::api::SIGNING_KEY_FILE_NAME)),
            url_ttl: l.with("ATTACH_API_URL_TTL", |s| {
                let ttl = parse_duration(s)?;
                (Duration::from_secs(1)..=crate::api::MAX_URL_TTL)
                    .contains(&ttl)
                    .then_some(ttl)
                    .ok_or_else(|| "must be 1s to 7d (S3's longest presigned URL)".to_owned())
            })?,
            rate: l.with("ATTACH_API_RATE", |s| {
                let v: f64 = s.parse().map_err(|_| "not a number".to_owned())?;
                (v >= crate::api::MIN_RATE && v.is_finite())
                    .then_some(v)
                    .ok_or_else(|| format!("must be {} or more", crate::api::MIN_RATE))
            })?,
            burst: l.parse::<u32>("ATTACH_API_BURST")?.max(1),
            request_timeout: l.duration("ATTACH_API_REQUEST_TIMEOUT")?,
            upload_timeout: l.duration("ATTACH_API_UPLOAD_TIMEOUT")?,
        };
        let process_jobs = match l.get("ATTACH_PROCESS_JOBS") {
            None => None,
            Some(_) => Some(l.parse::<usize>("ATTACH_PROCESS_JOBS")?.max(1)),
        };
        Ok(Settings {
            store,
            queue,
            worker,
            cleanup,
            guests,
            video,
            vscan,
            log,
            api,
            process_jobs,
        })
    }
}

impl Settings {
    /// The antivirus policy, refused if it collides with the cleanup settings (a quarantine
    /// inside the swept prefix, a scanner wait longer than the orphan age): what the commands
    /// that run jobs (`worker`, `process --store`) check before their first job.
    pub fn job_policy(&self) -> Result<vscan::Policy, SettingsError> {
        self.vscan
            .check(&self.cleanup.upload_prefix, self.cleanup.orphan_max_age)
            .map_err(SettingsError::Rule)?;
        Ok(self.vscan.clone())
    }
}

fn video(l: &Layers) -> Result<Option<VideoConfig>, SettingsError> {
    let on = l.with("ATTACH_VIDEO", |s| match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err("expected on or off".to_owned()),
    })?;
    let (max_long_edge, max_short_edge) = l.with("ATTACH_VIDEO_BOX", crate::video::parse_box)?;
    let cfg = VideoConfig {
        ffmpeg: l.parse("ATTACH_FFMPEG")?,
        ffprobe: l.parse("ATTACH_FFPROBE")?,
        mode: l.parse("ATTACH_VIDEO_SANDBOX")?,
        work_dir: l
            .get("ATTACH_VIDEO_WORK_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir),
        max_input_bytes: l.parse("ATTACH_VIDEO_MAX_INPUT_BYTES")?,
        max_duration: l.duration("ATTACH_VIDEO_MAX_DURATION")?,
        max_pixels: l.parse("ATTACH_VIDEO_MAX_PIXELS")?,
        max_frame_rate: l.parse("ATTACH_VIDEO_MAX_FPS")?,
        max_output_bytes: l.parse("ATTACH_VIDEO_MAX_OUTPUT_BYTES")?,
        max_long_edge,
        max_short_edge,
        video_kbps: l.parse("ATTACH_VIDEO_BITRATE")?,
        audio_kbps: l.parse("ATTACH_VIDEO_AUDIO_BITRATE")?,
        crf: l.with("ATTACH_VIDEO_CRF", |s| in_range(s, 0..=51))?,
        preset: l.with("ATTACH_VIDEO_PRESET", |s| {
            const PRESETS: [&str; 7] = [
                "ultrafast",
                "superfast",
                "veryfast",
                "faster",
                "fast",
                "medium",
                "slow",
            ];
            PRESETS
                .contains(&s)
                .then(|| s.to_owned())
                .ok_or_else(|| format!("expected one of {}", PRESETS.join(", ")))
        })?,
        threads: l.with("ATTACH_VIDEO_THREADS", |s| in_range(s, 1..=16))?,
        probe_timeout: l.duration("ATTACH_VIDEO_PROBE_TIMEOUT")?,
        transcode_timeout: l.duration("ATTACH_VIDEO_TIMEOUT")?,
        memory_bytes: l.parse("ATTACH_VIDEO_MEMORY")?,
    };
    Ok(on.then_some(cfg))
}

fn antivirus(l: &Layers) -> Result<vscan::Policy, SettingsError> {
    // Every value is read whether or not a scanner is set, so a typo is refused either way.
    let connect_timeout = l.duration("ATTACH_VSCAN_CONNECT_TIMEOUT")?;
    let io_timeout = l.duration("ATTACH_VSCAN_TIMEOUT")?;
    let max_stream = l.parse("ATTACH_VSCAN_MAX_STREAM")?;
    let scanner = match l.get("ATTACH_VSCAN_ENDPOINT").map(str::trim) {
        None | Some("") => None,
        Some(_) => Some(vscan::Clamd {
            endpoint: l.parse("ATTACH_VSCAN_ENDPOINT")?,
            connect_timeout,
            io_timeout,
            max_stream,
        }),
    };
    Ok(vscan::Policy {
        scanner,
        retry: vscan::RetryPolicy {
            attempts: l.parse("ATTACH_VSCAN_RETRY_ATTEMPTS")?,
            base: l.duration("ATTACH_VSCAN_RETRY_BASE")?,
            cap: l.duration("ATTACH_VSCAN_RETRY_CAP")?,
        },
        fail_open: l.flag("ATTACH_VSCAN_FAIL_OPEN")?,
        oversize: l.with("ATTACH_VSCAN_OVERSIZE", value_enum)?,
        suspicious: l.with("ATTACH_SCAN_SUSPICIOUS", value_enum)?,
        quarantine_prefix: l.parse("ATTACH_QUARANTINE_PREFIX")?,
    })
}

/// One of a clap value enum's names (`fail`, `quarantine`, …).
fn value_enum<T: clap::ValueEnum>(s: &str) -> Result<T, String> {
    T::from_str(s, false).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_owned()))
            .collect();
        format!("expected one of {}", names.join(", "))
    })
}

fn in_range<T: FromStr + PartialOrd + std::fmt::Display>(
    s: &str,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, String> {
    let v: T = s.parse().map_err(|_| "not a number".to_owned())?;
    if range.contains(&v) {
        Ok(v)
    } else {
        Err(format!("must be {} to {}", range.start(), range.end()))
    }
}

/// `attachd config --env-example`, and the text of `.env.example`: every setting with its
/// meaning and default, commented out, grouped by area.
pub fn env_example() -> String {
    let mut out = String::from(
        "# attachd: every setting, with its meaning and its default. Printed by\n\
         # `attachd config --env-example`; a test holds this file to the code.\n\
         # Set a value in the environment, in a config file of these lines (ATTACH_CONFIG or\n\
         # --config), or as a flag: the name without ATTACH_, lower case, dashes for\n\
         # underscores (ATTACH_ORPHAN_MAX_AGE is --orphan-max-age). A flag wins over the\n\
         # environment, the environment over the file, the file over the default.\n",
    );
    let mut area = None;
    for var in vars::all() {
        if area != Some(var.area) {
            area = Some(var.area);
            out.push_str(&format!("\n# ## {}\n", var.area.title()));
        }
        for line in wrap(var.meaning, COMMENT_WIDTH) {
            out.push_str(&format!("# {line}\n"));
        }
        out.push_str(&format!(
            "#{}={}\n",
            var.name,
            var.default.as_deref().unwrap_or("")
        ));
    }
    out
}

/// `attachd config`: every setting's effective value (secrets redacted) and its source, as
/// `NAME=value` lines a config file could hold.
pub fn effective(layers: &Layers) -> String {
    let mut out = String::new();
    for (var, value, source) in layers.effective() {
        let source = source.map_or("unset".to_owned(), Source::to_string);
        out.push_str(&format!(
            "{}={}  # {source}\n",
            var.name,
            value.unwrap_or_default()
        ));
    }
    out
}

/// Comment lines of `.env.example` stay under 100 columns with their `# `.
const COMMENT_WIDTH: usize = 96;

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("one line at least");
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(word.to_owned());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

#[cfg(test)]
mod tests;
