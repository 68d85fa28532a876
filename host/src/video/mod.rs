//! Video uploads: ffprobe and ffmpeg in a locked-down subprocess. This module owns the native
//! path of the pipeline: reading the container ([`ffprobe`]), the limits checked before any
//! transcode, and the transcode itself ([`transcode`]) into an MP4 and a poster frame. Both
//! programs run in the [`crate::jail`], which this module configures per run ([`Spec`]): the
//! files each may touch, its limits, what to keep of its output. The poster frame then goes to the
//! thumbnail guest like any image, and the MP4 to the probe and scan guests: everything
//! ffmpeg writes is untrusted too (see `pipeline.rs`).
//!
//! | knob | default | env |
//! |---|---|---|
//! | on/off | on | `ATTACH_VIDEO` |
//! | ffmpeg, ffprobe | from `PATH` | `ATTACH_FFMPEG`, `ATTACH_FFPROBE` |
//! | missing jail layer | refuse | `ATTACH_VIDEO_SANDBOX` (`strict`, `best-effort`) |
//! | input bytes | 256 MiB | `ATTACH_VIDEO_MAX_INPUT_BYTES` |
//! | duration | 5 min | `ATTACH_VIDEO_MAX_DURATION` |
//! | pixels per frame | 4096×2160 | `ATTACH_VIDEO_MAX_PIXELS` |
//! | frame rate | 240 fps | `ATTACH_VIDEO_MAX_FPS` |
//! | output box | 1280×720 | `ATTACH_VIDEO_BOX` |
//! | video / audio bitrate cap | 2500 / 128 kbit/s | `ATTACH_VIDEO_BITRATE`, `ATTACH_VIDEO_AUDIO_BITRATE` |
//! | x264 preset, CRF | veryfast, 23 | `ATTACH_VIDEO_PRESET`, `ATTACH_VIDEO_CRF` |
//! | threads | 2 | `ATTACH_VIDEO_THREADS` |
//! | deadlines | ffprobe 10 s, ffmpeg 3 min | `ATTACH_VIDEO_PROBE_TIMEOUT`, `ATTACH_VIDEO_TIMEOUT` |
//! | address space | 2 GiB | `ATTACH_VIDEO_MEMORY` |
//! | output bytes | 256 MiB | `ATTACH_VIDEO_MAX_OUTPUT_BYTES` |
//! | work files | the system temp dir | `ATTACH_VIDEO_WORK_DIR` |
//!
//! Why a subprocess and not a wasm guest: ffmpeg's decoders are native C with hand-written
//! assembly; a wasm build runs several times slower and drops most codecs. Why not
//! `bwrap`/`nsjail`: one more binary to install and trust, and the host could not prepare
//! the rulesets itself or test each layer; the layers here are a few hundred lines over
//! `landlock`, `seccompiler` and `rustix`.

mod error;
mod ffprobe;
pub mod transcode;

/// What a missing jail layer means, as [`VideoConfig::mode`] sets it.
pub use crate::jail::Mode;
pub use error::{VideoError, VideoLimit};
pub use ffprobe::{parse as parse_ffprobe, VideoInfo};

use crate::jail::{Captured, Finished, Jail, Keep, Layers, Rlimits, Spec, Support};
use crate::sandbox::Kind;
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// 256 MiB: a minute of 4K phone video or several minutes of 1080p. Larger uploads are
/// refused before a byte reaches ffmpeg. The job holds the upload in memory once (bounded,
/// like every upload, by the worker's `ATTACH_MAX_BYTES_IN_FLIGHT`) and writes it to a
/// private work file.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 256 * 1024 * 1024;
/// 5 minutes: clips, not films. It also keeps the worst transcode inside the job's 5-minute
/// claim lease at the default preset.
pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(5 * 60);
/// 4096×2160 (DCI 4K), the largest frame phones record. An 8K frame costs four times the
/// decode for a 1280×720 output.
pub const DEFAULT_MAX_PIXELS: u64 = 4096 * 2160;
/// 240 fps: phones' slow-motion modes. Beyond that no camera records, and the frame count,
/// not the picture, is what a hostile file inflates.
pub const DEFAULT_MAX_FRAME_RATE: u32 = 240;
/// 256 MiB for the MP4 (and each other file ffmpeg writes): five minutes at the bitrate caps
/// is about 100 MB, so this is slack, not a target. Enforced by `RLIMIT_FSIZE` and `-fs`.
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 256 * 1024 * 1024;
/// 1280×720: a web preview; the original stays in storage for anything bigger.
pub const DEFAULT_MAX_LONG_EDGE: u32 = 1280;
pub const DEFAULT_MAX_SHORT_EDGE: u32 = 720;
/// 2.5 Mbit/s caps 720p H.264 at the quality streaming services use for it.
pub const DEFAULT_VIDEO_KBPS: u32 = 2_500;
/// 128 kbit/s stereo AAC: transparent enough for phone audio.
pub const DEFAULT_AUDIO_KBPS: u32 = 128;
/// CRF 23 is x264's default quality; `-maxrate` caps it on busy scenes.
pub const DEFAULT_CRF: u8 = 23;
/// `veryfast` costs about a quarter of `medium`'s CPU for a few percent more bytes.
pub const DEFAULT_PRESET: &str = "veryfast";
/// Two threads per transcode: with the worker's default of three jobs at once, a busy
/// worker uses about six cores and a single job still finishes twice as fast.
pub const DEFAULT_THREADS: u32 = 2;
/// 10 s for ffprobe: it reads headers and a few packets; real files take milliseconds.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// 3 minutes for the transcode: a 5-minute 1080p clip takes about a minute on one modern
/// core at `veryfast`, and the job's claim lease is 5 minutes.
pub const DEFAULT_TRANSCODE_TIMEOUT: Duration = Duration::from_secs(3 * 60);
/// 2 GiB of address space: x264 at 720p with two threads and its lookahead uses a few hundred
/// MB, but glibc reserves 64 MB of address space per thread arena and every shared library
/// maps its own; 2 GiB leaves that room and still stops a decoder asked for a giant buffer.
pub const DEFAULT_MEMORY_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Open files: stdio, the input, two outputs, the libraries while they load. 64 is ample.
pub const OPEN_FILES: u64 = 64;
/// Tasks (`RLIMIT_NPROC`) in one jail's user namespace, the watcher, the program and its
/// threads, are [`TASKS_BASE`] plus [`TASKS_PER_THREAD`] per `-threads` ([`max_tasks`]).
/// Measured on ffmpeg 5.1 transcoding 1080p H.264 + AAC and 720p VP9 + Opus (and 4K AVI
/// with 6-channel 96 kHz PCM) to a 720p MP4 and a poster: at most 8 threads with `-threads 2`
/// (attachd's default), 41 with `-threads 16` (`ATTACH_VIDEO_THREADS`' maximum), about 2.4
/// per thread over a base of 3; ffprobe uses fewer. The cap is 40 at the default and 96 at
/// the maximum: 2 to 5 times what was measured, room for libgomp's pool (one thread per
/// core, if a filter ever starts it), and still a sliver of the host's pids (`pid_max` is
/// 32768 by default) per jail for the whole deadline, whatever the program does. Per jail,
/// not per uid: see the jail's `confine`.
pub const TASKS_BASE: u64 = 32;
pub const TASKS_PER_THREAD: u64 = 4;
/// Bytes a PNG of up to `pixels` RGB pixels can take beyond its raw pixels: one filter byte
/// per row (rows ≤ pixels), deflate's worst case (stored blocks: 5 bytes per 64 KiB) and
/// ffmpeg's 4 KiB IDAT chunks (12 bytes each) are each well under 1/64 of the raw size, and
/// the signature, header and end chunks fit in the constant.
const PNG_OVERHEAD_DIVISOR: u64 = 64;
const PNG_FIXED_OVERHEAD: u64 = 64 * 1024;
/// ffprobe's JSON report (`-show_format -show_streams`), its stdout, is held in memory up to
/// this; a longer one is `output-too-large`. Measured with ffprobe 5.1: 4.2 KB for a 1080p
/// H.264 + AAC MP4, 4.9 KB for a VP9 + two Opus tracks MKV, about 1.5 KB per stream plus the
/// format's tags. 256 KiB is some 50 times a real report (a phone's clip with its metadata
/// tracks included) and still a small, fixed amount per job for a file crafted to inflate it.
pub const MAX_PROBE_REPORT_BYTES: u64 = 256 * 1024;
/// What the host keeps of ffprobe's and ffmpeg's stderr: the last 4 KiB, for the error
/// message (at `-loglevel error` the error is the last few lines, and libavutil's pixel
/// refusal, which [`pixel_refusal`] reads, is one). The rest is read and discarded.
pub const STDERR_KEPT_BYTES: usize = 4 * 1024;
/// A work directory shared with the sandboxed programs' group: the worker reads and
/// writes it, the group may only traverse it to reach the input and `out/`.
const SHARED_DIR_MODE: u32 = 0o710;
/// The input shared with that group: readable, never writable, by the sandboxed programs.
const SHARED_INPUT_MODE: u32 = 0o640;
/// The output files the host creates for ffmpeg, the only files it may write.
const OUTPUT_MODE: u32 = 0o600;

/// Demuxers ffmpeg may open at all, nested ones included (ffmpeg copies the allow-list into
/// every format it opens inside another: this is what stops an AVI's GAB2 subtitle stream
/// from being opened as an HLS playlist).
pub const FORMAT_WHITELIST: &str = "mov,matroska,avi";

/// The containers attachd transcodes, each pinned to its one demuxer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Mov,
    Matroska,
    Avi,
}

impl Container {
    /// The demuxer for a real type the probe guest sniffed from the magic bytes; `None` for
    /// everything else (HLS included: a playlist is never handed to ffmpeg).
    pub fn for_kind(kind: Kind) -> Option<Container> {
        match kind {
            Kind::Mp4 | Kind::Quicktime => Some(Container::Mov),
            Kind::Webm | Kind::Matroska => Some(Container::Matroska),
            Kind::Avi => Some(Container::Avi),
            _ => None,
        }
    }

    pub fn demuxer(self) -> &'static str {
        match self {
            Container::Mov => "mov",
            Container::Matroska => "matroska",
            Container::Avi => "avi",
        }
    }
}

/// The input options every ffprobe and ffmpeg run gets, before `-i`.
///
/// `-f` pins the demuxer the host chose from the magic bytes, so ffmpeg never probes the
/// content itself (measured on ffmpeg 5.1: a five-line HLS playlist named `upload.mp4` makes
/// a bare `ffmpeg -i upload.mp4 out.mp4` copy another local video, and
/// `-protocol_whitelist file` alone does not stop it; pinning the demuxer does).
fn input_guards(container: Container) -> Vec<OsString> {
    let mut a: Vec<OsString> = [
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        FORMAT_WHITELIST,
        "-f",
        container.demuxer(),
    ]
    .iter()
    .map(OsString::from)
    .collect();
    if container == Container::Mov {
        // MOV data references can name other files; off by default since ffmpeg 3.x, and
        // stated here so a build with another default cannot turn them on.
        a.extend(["-enable_drefs", "0"].iter().map(OsString::from));
    }
    a
}

/// `file:` + an absolute path: the protocol is explicit, so no part of the name is read as
/// another protocol's URL.
fn file_url(path: &Path) -> OsString {
    let mut s = OsString::from("file:");
    s.push(path.as_os_str());
    s
}

/// Everything the video path is configured with.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoConfig {
    /// Program names are looked up in `PATH`; paths are used as given.
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
    pub mode: Mode,
    /// Parent of the per-job work directories.
    pub work_dir: PathBuf,
    pub max_input_bytes: u64,
    pub max_duration: Duration,
    pub max_pixels: u64,
    pub max_frame_rate: u32,
    pub max_output_bytes: u64,
    pub max_long_edge: u32,
    pub max_short_edge: u32,
    pub video_kbps: u32,
    pub audio_kbps: u32,
    pub crf: u8,
    pub preset: String,
    pub threads: u32,
    pub probe_timeout: Duration,
    pub transcode_timeout: Duration,
    pub memory_bytes: u64,
}

impl Default for VideoConfig {
    fn default() -> Self {
        VideoConfig {
            ffmpeg: PathBuf::from("ffmpeg"),
            ffprobe: PathBuf::from("ffprobe"),
            mode: Mode::Strict,
            work_dir: std::env::temp_dir(),
            max_input_bytes: DEFAULT_MAX_INPUT_BYTES,
            max_duration: DEFAULT_MAX_DURATION,
            max_pixels: DEFAULT_MAX_PIXELS,
            max_frame_rate: DEFAULT_MAX_FRAME_RATE,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            max_long_edge: DEFAULT_MAX_LONG_EDGE,
            max_short_edge: DEFAULT_MAX_SHORT_EDGE,
            video_kbps: DEFAULT_VIDEO_KBPS,
            audio_kbps: DEFAULT_AUDIO_KBPS,
            crf: DEFAULT_CRF,
            preset: DEFAULT_PRESET.to_string(),
            threads: DEFAULT_THREADS,
            probe_timeout: DEFAULT_PROBE_TIMEOUT,
            transcode_timeout: DEFAULT_TRANSCODE_TIMEOUT,
            memory_bytes: DEFAULT_MEMORY_BYTES,
        }
    }
}

/// Parses a `WxH` box (`1280x720`); the larger number is the long edge.
pub fn parse_box(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{s:?}: expected WxH, e.g. 1280x720"))?;
    let edge = |v: &str| {
        v.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (16..=8192).contains(n))
            .ok_or_else(|| format!("{s:?}: edges must be 16..=8192"))
    };
    let (w, h) = (edge(w)?, edge(h)?);
    Ok((w.max(h), w.min(h)))
}

/// What one video upload produced.
#[derive(Debug)]
pub struct Transcoded {
    pub mp4: Vec<u8>,
    /// The poster frame, PNG, at the MP4's size.
    pub poster: Vec<u8>,
    /// The MP4's frame size.
    pub width: u32,
    pub height: u32,
    pub source: VideoInfo,
}

/// The ffmpeg path, ready or not. Built once at start-up; `process` is safe to call from many
/// threads at once (each call has its own work directory and processes).
pub struct Video {
    cfg: VideoConfig,
    support: Support,
    warnings: Vec<String>,
    ready: Result<Ready, VideoError>,
}

struct Ready {
    ffmpeg: PathBuf,
    ffprobe: PathBuf,
    jail: Jail,
}

impl Video {
    /// Finds the tools, detects the machine's jail support and applies the configured
    /// [`Mode`]. Never fails: a video path that cannot run keeps its reason and returns it
    /// (retryable) to every video job, and says so loudly in the log now.
    pub fn new(cfg: VideoConfig) -> Video {
        let support = Support::detect();
        let chosen = Layers::choose(&support, cfg.mode);
        let (layers, warnings) = match chosen {
            Ok((layers, warnings)) => (Ok(layers), warnings),
            Err(e) => (Err(e), vec![]),
        };
        let video = Video::build(cfg, support, layers, warnings);
        video.log_state();
        video
    }

    /// A video path with exactly `layers` (tests use it to prove one layer alone).
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn with_layers(cfg: VideoConfig, layers: Layers) -> Video {
        Video::build(cfg, Support::detect(), Ok(layers), vec![])
    }

    fn build(
        cfg: VideoConfig,
        support: Support,
        layers: Result<Layers, crate::jail::JailError>,
        warnings: Vec<String>,
    ) -> Video {
        let ready = (|| -> Result<Ready, VideoError> {
            let ffmpeg = find_tool(&cfg.ffmpeg, "ATTACH_FFMPEG")?;
            let ffprobe = find_tool(&cfg.ffprobe, "ATTACH_FFPROBE")?;
            let jail = Jail::new(layers?)?;
            Ok(Ready {
                ffmpeg,
                ffprobe,
                jail,
            })
        })();
        Video {
            cfg,
            support,
            warnings,
            ready,
        }
    }

    fn log_state(&self) {
        match &self.ready {
            Ok(r) => {
                for w in &self.warnings {
                    tracing::warn!(
                        "VIDEO SANDBOX DEGRADED (ATTACH_VIDEO_SANDBOX=best-effort): running ffmpeg without {w}"
                    );
                }
                tracing::info!(layers = ?r.jail.layers(), support = ?self.support, "video: ffmpeg sandbox ready");
            }
            Err(e) => tracing::error!(error = %e, "video uploads will fail until this is fixed"),
        }
    }

    pub fn config(&self) -> &VideoConfig {
        &self.cfg
    }

    pub fn support(&self) -> &Support {
        &self.support
    }

    /// One line per layer the configured mode let go of.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// `Ok` when video jobs can run; else the error each of them gets.
    pub fn ready(&self) -> Result<(), VideoError> {
        self.ready.as_ref().map(|_| ()).map_err(Clone::clone)
    }

    fn tools(&self) -> Result<&Ready, VideoError> {
        self.ready.as_ref().map_err(Clone::clone)
    }

    /// The jail every ffprobe and ffmpeg run uses.
    pub fn jail(&self) -> Result<&Jail, VideoError> {
        self.tools().map(|r| &r.jail)
    }

    /// The ffmpeg the jail runs (the benchmark runs the same binary bare, to compare).
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn ffmpeg(&self) -> Result<&Path, VideoError> {
        self.tools().map(|r| r.ffmpeg.as_path())
    }

    /// Reads the container with ffprobe, checks the limits, transcodes. `container` is the
    /// demuxer the caller chose from the sniffed kind ([`Container::for_kind`]). Blocking:
    /// call it from a blocking thread.
    pub fn process(&self, data: &[u8], container: Container) -> Result<Transcoded, VideoError> {
        let cfg = &self.cfg;
        if data.len() as u64 > cfg.max_input_bytes {
            return Err(VideoError::Limit {
                limit: VideoLimit::InputBytes,
                actual: data.len() as u64,
                max: cfg.max_input_bytes,
            });
        }
        let jail = self.jail()?;
        let work = WorkDir::create(&cfg.work_dir, jail.run_as())?;
        work.write_input(data)?;
        let info = self.ffprobe(&work, container)?;
        check_limits(&info, cfg)?;
        let plan = transcode::plan(&info, cfg);
        let args = transcode::args(cfg, container, work.input(), work.out(), &plan);
        self.run_ffmpeg(&work, &args)?;
        let mp4 = work.read_output(transcode::MP4_NAME, cfg.max_output_bytes)?;
        let poster = work.read_output(transcode::POSTER_NAME, max_poster_bytes(cfg))?;
        // ffmpeg's outputs are untrusted: check they are at least what was asked for. The
        // pipeline then has the guests probe and scan the MP4 and decode the poster.
        if mp4.get(4..8) != Some(b"ftyp") {
            return Err(VideoError::BadOutput(
                "the MP4 does not start with ftyp".into(),
            ));
        }
        if !poster.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Err(VideoError::BadOutput(
                "no poster frame (the clip may have no decodable picture)".into(),
            ));
        }
        Ok(Transcoded {
            mp4,
            poster,
            width: plan.width,
            height: plan.height,
            source: info,
        })
        // `work` is dropped here and on every early return: the directory goes with it.
    }

    /// ffprobe on the work directory's input, in the jail.
    pub fn ffprobe(&self, work: &WorkDir, container: Container) -> Result<VideoInfo, VideoError> {
        let tools = self.tools()?;
        let cfg = &self.cfg;
        let args = ffprobe::args(container, work.input(), cfg.max_pixels, cfg.threads);
        let finished = tools.jail.run(Spec {
            step: "ffprobe",
            program: &tools.ffprobe,
            args: &args,
            read_files: &[work.input()],
            write_files: &[],
            cwd: work.root(),
            timeout: cfg.probe_timeout,
            rlimits: self.rlimits(cfg.probe_timeout, MAX_PROBE_REPORT_BYTES),
            stdout: Keep::Head(MAX_PROBE_REPORT_BYTES as usize),
            stderr: Keep::Tail(STDERR_KEPT_BYTES),
        })?;
        signal_error(&finished, "ffprobe", MAX_PROBE_REPORT_BYTES)?;
        if finished.stdout.total > MAX_PROBE_REPORT_BYTES {
            return Err(VideoError::Limit {
                limit: VideoLimit::OutputBytes,
                actual: finished.stdout.total,
                max: MAX_PROBE_REPORT_BYTES,
            });
        }
        if !finished.status.success() {
            let tail = stderr_tail(&finished.stderr);
            // ffprobe opens a decoder to complete the stream parameters, and `-max_pixels`
            // refuses the frame there: that is the pixel limit, not a broken file.
            if let Some(actual) = pixel_refusal(&tail) {
                return Err(VideoError::Limit {
                    limit: VideoLimit::Pixels,
                    actual,
                    max: cfg.max_pixels,
                });
            }
            return Err(VideoError::Unreadable(tail));
        }
        ffprobe::parse(&finished.stdout.bytes)
    }

    /// Runs ffmpeg with `args` in the jail: it may read the work directory's input and
    /// write its output directory.
    pub fn run_ffmpeg(&self, work: &WorkDir, args: &[OsString]) -> Result<Finished, VideoError> {
        let tools = self.tools()?;
        let cfg = &self.cfg;
        let outputs = work.create_outputs(transcode::OUTPUT_NAMES)?;
        let outputs: Vec<&Path> = outputs.iter().map(PathBuf::as_path).collect();
        let finished = tools.jail.run(Spec {
            step: "ffmpeg",
            program: &tools.ffmpeg,
            args,
            read_files: &[work.input()],
            write_files: &outputs,
            cwd: work.root(),
            timeout: cfg.transcode_timeout,
            rlimits: self.rlimits(cfg.transcode_timeout, cfg.max_output_bytes),
            // attachd reads nothing ffmpeg prints on stdout (its outputs are files).
            stdout: Keep::Nothing,
            stderr: Keep::Tail(STDERR_KEPT_BYTES),
        })?;
        signal_error(&finished, "ffmpeg", cfg.max_output_bytes)?;
        if work.output_at_cap(cfg.max_output_bytes) {
            return Err(output_over(cfg.max_output_bytes));
        }
        match finished.status.code() {
            Some(0) => Ok(finished),
            code => Err(VideoError::TranscodeFailed {
                code: code.unwrap_or(-1),
                stderr: stderr_tail(&finished.stderr),
            }),
        }
    }

    /// The rlimits for a run with `timeout`. CPU time is a backstop for the wall-clock
    /// deadline, so it is what every core could burn in that time (plus a second): it can
    /// only trip if the parent's timer did not.
    pub fn rlimits(&self, timeout: Duration, max_file: u64) -> Rlimits {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        Rlimits {
            cpu_seconds: timeout.as_secs().saturating_add(1).saturating_mul(cores),
            address_space_bytes: self.cfg.memory_bytes,
            file_size_bytes: max_file,
            open_files: OPEN_FILES,
            tasks: max_tasks(self.cfg.threads),
        }
    }
}

/// The error a run that a signal ended means (see [`VideoError::killed`]); `Ok` for a normal
/// exit, whatever its code. `max_output` names the file-size cap of the run.
fn signal_error(
    finished: &Finished,
    step: &'static str,
    max_output: u64,
) -> Result<(), VideoError> {
    match finished.killed() {
        Some(killed) => Err(VideoError::killed(step, killed, max_output)),
        None => Ok(()),
    }
}

/// The `RLIMIT_NPROC` of a jail whose program runs with `-threads threads` (see
/// [`TASKS_BASE`]).
pub fn max_tasks(threads: u32) -> u64 {
    TASKS_BASE.saturating_add(TASKS_PER_THREAD.saturating_mul(u64::from(threads)))
}

/// The largest poster the worker reads: a PNG of the output box in RGB (the poster is scaled
/// into it), with [`PNG_OVERHEAD_DIVISOR`]'s slack. A few MiB for the default box, far below
/// the MP4's cap, which it would otherwise share.
pub fn max_poster_bytes(cfg: &VideoConfig) -> u64 {
    let raw = u64::from(cfg.max_long_edge) * u64::from(cfg.max_short_edge) * 3;
    raw.saturating_add(raw / PNG_OVERHEAD_DIVISOR)
        .saturating_add(PNG_FIXED_OVERHEAD)
}

/// What one video job may hold of ffmpeg's output at once: the MP4 and the poster, each up
/// to the cap it is read with. The worker charges it to the bytes-in-flight cap.
pub fn max_held_output_bytes(cfg: &VideoConfig) -> u64 {
    cfg.max_output_bytes.saturating_add(max_poster_bytes(cfg))
}

/// Refuses what the container claims beyond the limits, before ffmpeg decodes anything.
pub fn check_limits(info: &VideoInfo, cfg: &VideoConfig) -> Result<(), VideoError> {
    let over = |limit, actual: u64, max: u64| {
        if actual > max {
            Err(VideoError::Limit { limit, actual, max })
        } else {
            Ok(())
        }
    };
    over(
        VideoLimit::Pixels,
        u64::from(info.width) * u64::from(info.height),
        cfg.max_pixels,
    )?;
    if let Some(d) = info.duration {
        over(
            VideoLimit::Duration,
            d.ceil() as u64,
            cfg.max_duration.as_secs(),
        )?;
    }
    if let Some(fps) = info.frame_rate {
        // A rate a hair over (29.97 reported as 30.0001) is the same rate.
        over(
            VideoLimit::FrameRate,
            (fps - 0.01).ceil().max(0.0) as u64,
            u64::from(cfg.max_frame_rate),
        )?;
    }
    Ok(())
}

/// The frame size in libavutil's refusal, `Picture size WxH exceeds specified max pixel
/// count N` (the wording has been stable since ffmpeg 3.0; another wording leaves the upload
/// `malformed-input`, refused all the same).
fn pixel_refusal(stderr: &str) -> Option<u64> {
    let rest = &stderr[stderr.find("Picture size ")? + "Picture size ".len()..];
    let size = rest.split_whitespace().next()?;
    if !rest.contains("exceeds specified max pixel count") {
        return None;
    }
    let (w, h) = size.split_once('x')?;
    Some(w.parse::<u64>().ok()? * h.parse::<u64>().ok()?)
}

/// Resolves a program name through `PATH` (a path is checked as is), canonically: Landlock
/// rules and the exec both name the real file.
fn find_tool(name: &Path, env: &str) -> Result<PathBuf, VideoError> {
    let missing = || {
        VideoError::ToolMissing(format!(
            "{} was not found (install Debian's ffmpeg package, or set {env})",
            name.display()
        ))
    };
    let candidates: Vec<PathBuf> = if name.components().count() > 1 {
        vec![name.to_path_buf()]
    } else {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect())
            .unwrap_or_default()
    };
    use std::os::unix::fs::PermissionsExt;
    candidates
        .into_iter()
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .and_then(|p| p.canonicalize().ok())
        .ok_or_else(missing)
}

/// A private directory for one job: the input under a fixed name and an output directory
/// holding the files the sandboxed program may write ([`WorkDir::create_outputs`]); its
/// stdout and stderr are never files here (see [`Keep`]). Removed when dropped, so
/// every path out of a job (errors and panics included) removes it.
///
/// When the sandboxed programs run as another uid (a root worker's `nobody`), only `out/` is
/// theirs. The directory and the input stay the worker's, shared with their group (`nobody`'s
/// gid) read-only: traverse the directory, read the input. So they cannot rewrite the input
/// between ffprobe's reading and ffmpeg's, nor plant anything in the directory, whatever
/// layer is missing.
pub struct WorkDir {
    root: PathBuf,
    input: PathBuf,
    out: PathBuf,
    owner: Option<u32>,
}

impl WorkDir {
    /// Creates `<parent>/attachd-video-<random>` (mode 0700, so other local users see
    /// nothing; a fresh random name, so nothing planted in a shared temp dir is reused). When
    /// the sandboxed programs run as another uid (`owner`), its `out/` is theirs and the
    /// directory is shared with their group to traverse only (0710).
    pub fn create(parent: &Path, owner: Option<u32>) -> Result<WorkDir, VideoError> {
        let io = |what: &str, e: std::io::Error| VideoError::Io(format!("{what}: {e}"));
        std::fs::create_dir_all(parent).map_err(|e| io(&parent.display().to_string(), e))?;
        let root = parent.join(format!("attachd-video-{}", uuid::Uuid::new_v4().simple()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&root)
            .map_err(|e| io(&root.display().to_string(), e))?;
        let work = WorkDir {
            input: root.join("input"),
            out: root.join("out"),
            root,
            owner,
        };
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&work.out)
            .map_err(|e| io("out dir", e))?;
        work.share_with_group(&work.root, SHARED_DIR_MODE)?;
        if let Some(id) = owner {
            let (uid, gid) = (
                rustix::process::Uid::from_raw_unchecked(id),
                rustix::process::Gid::from_raw_unchecked(id),
            );
            rustix::fs::chown(&work.out, Some(uid), Some(gid))
                .map_err(|e| VideoError::Io(format!("chown {}: {e}", work.out.display())))?;
        }
        Ok(work)
    }

    /// Gives `path` to the sandboxed programs' group with `mode` (the owner stays the
    /// worker), when they run as another uid.
    fn share_with_group(&self, path: &Path, mode: u32) -> Result<(), VideoError> {
        use std::os::unix::fs::PermissionsExt;
        if let Some(id) = self.owner {
            let gid = rustix::process::Gid::from_raw_unchecked(id);
            let err = |e: &dyn std::fmt::Display| {
                VideoError::Io(format!("sharing {}: {e}", path.display()))
            };
            rustix::fs::chown(path, None, Some(gid)).map_err(|e| err(&e))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                .map_err(|e| err(&e))?;
        }
        Ok(())
    }

    /// Creates the files named `names` in `out/`, empty, for a sandboxed program to write:
    /// the only files it may write (it may create none itself, see `Spec::write_files`).
    /// Owned by the sandboxed uid, when that is another, so it may open them for writing.
    pub fn create_outputs(&self, names: &[&str]) -> Result<Vec<PathBuf>, VideoError> {
        names
            .iter()
            .map(|name| {
                let path = self.out.join(name);
                let err = |e: &dyn std::fmt::Display| {
                    VideoError::Io(format!("creating {}: {e}", path.display()))
                };
                let f = File::options()
                    .write(true)
                    .create_new(true)
                    .mode(OUTPUT_MODE)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path)
                    .map_err(|e| err(&e))?;
                if let Some(id) = self.owner {
                    let (uid, gid) = (
                        rustix::process::Uid::from_raw_unchecked(id),
                        rustix::process::Gid::from_raw_unchecked(id),
                    );
                    rustix::fs::fchown(&f, Some(uid), Some(gid)).map_err(|e| err(&e))?;
                }
                Ok(path)
            })
            .collect()
    }

    /// Writes the upload as `input`.
    pub fn write_input(&self, data: &[u8]) -> Result<(), VideoError> {
        let io = |e: std::io::Error| VideoError::Io(format!("writing the input: {e}"));
        let mut f = File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&self.input)
            .map_err(io)?;
        f.write_all(data).map_err(io)?;
        drop(f);
        self.share_with_group(&self.input, SHARED_INPUT_MODE)
    }

    /// Whether a regular file in `out/` has reached `max`, its `RLIMIT_FSIZE`: then the
    /// kernel refused a write past it. Without the PID namespace that write also killed the
    /// program with SIGXFSZ; as pid 1 of its namespace the program ignores SIGXFSZ (the
    /// kernel drops default-action signals to a namespace's init unless they are forced) and
    /// gets EFBIG instead, so the size is what tells. Links are not followed: a link is not
    /// ffmpeg's output.
    fn output_at_cap(&self, max: u64) -> bool {
        std::fs::read_dir(&self.out).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                e.metadata() // `DirEntry::metadata` does not follow a link
                    .is_ok_and(|m| m.is_file() && m.len() >= max)
            })
        })
    }

    /// Reads the file `name` a sandboxed program wrote in `out/`, up to `max` bytes. Refuses
    /// (`sandbox-violation`) anything but a regular file with one link: the name is opened
    /// with `O_NOFOLLOW` (a symbolic link is never followed, so a link planted at the name
    /// cannot make the host read another file) and `O_NONBLOCK` (a fifo cannot hang it), in
    /// `out/` opened the same way, and checked on the open file.
    pub fn read_output(&self, name: &str, max: u64) -> Result<Vec<u8>, VideoError> {
        use rustix::fs::{fstat, open, openat, FileType, Mode, OFlags};
        use rustix::io::Errno;
        let refuse = |found: &'static str| VideoError::UnsafeOutput {
            name: name.to_string(),
            found,
        };
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let dir =
            open(&self.out, flags | OFlags::DIRECTORY, Mode::empty()).map_err(|e| match e {
                Errno::LOOP | Errno::NOTDIR => refuse("a link in place of its output directory"),
                e => VideoError::Io(format!("opening {}: {e}", self.out.display())),
            })?;
        let fd = openat(
            &dir,
            name,
            flags | OFlags::NONBLOCK | OFlags::NOCTTY,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::LOOP => refuse("a symbolic link"),
            e => VideoError::BadOutput(format!("{name}: {}", std::io::Error::from(e))),
        })?;
        let stat = fstat(&fd).map_err(|e| VideoError::Io(format!("{name}: {e}")))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(refuse("something other than a regular file"));
        }
        if stat.st_nlink != 1 {
            return Err(refuse("a hard link"));
        }
        read_capture(File::from(fd), name, max)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn input(&self) -> &Path {
        &self.input
    }
    pub fn out(&self) -> &Path {
        &self.out
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.root) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(dir = %self.root.display(), error = %e, "could not remove a video work directory");
            }
        }
    }
}

/// The file-size limit, hit: at least one byte over (how much the kernel refused is unknown).
fn output_over(max: u64) -> VideoError {
    VideoError::Limit {
        limit: VideoLimit::OutputBytes,
        actual: max.saturating_add(1),
        max,
    }
}

/// Reads `f` (named `what` in errors) from its start, up to `max` bytes.
fn read_capture(mut f: File, what: &str, max: u64) -> Result<Vec<u8>, VideoError> {
    let mut data = Vec::new();
    f.seek(SeekFrom::Start(0))
        .and_then(|_| f.take(max.saturating_add(1)).read_to_end(&mut data))
        .map_err(|e| VideoError::Io(format!("reading {what}: {e}")))?;
    if data.len() as u64 > max {
        return Err(VideoError::Limit {
            limit: VideoLimit::OutputBytes,
            actual: data.len() as u64,
            max,
        });
    }
    Ok(data)
}

/// The last lines of a process's stderr (what the host kept of it), for the error message.
fn stderr_tail(stderr: &Captured) -> String {
    let tail = String::from_utf8_lossy(&stderr.bytes);
    let tail = tail.trim();
    if tail.is_empty() {
        "no error output".to_string()
    } else {
        tail.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(w: u32, h: u32, duration: Option<f64>, fps: Option<f64>) -> VideoInfo {
        VideoInfo {
            format_name: "mov".into(),
            video_codec: "h264".into(),
            width: w,
            height: h,
            rotation: 0,
            duration,
            frame_rate: fps,
            audio: None,
        }
    }

    #[test]
    fn limits_refuse_each_claim_over_its_maximum() {
        let cfg = VideoConfig::default();
        assert!(check_limits(&info(1920, 1080, Some(60.0), Some(29.97)), &cfg).is_ok());
        let code = |i: VideoInfo| check_limits(&i, &cfg).unwrap_err().to_string();
        assert!(code(info(8192, 8192, Some(1.0), None)).starts_with("too-many-pixels"));
        assert!(code(info(640, 360, Some(301.0), None)).starts_with("video-too-long"));
        assert!(code(info(640, 360, None, Some(1000.0))).starts_with("frame-rate-too-high"));
        // Unknown claims are not refused here: `-t` and the deadline bound them.
        assert!(check_limits(&info(640, 360, None, None), &cfg).is_ok());
    }

    #[test]
    fn ffprobes_pixel_refusal_is_read_as_the_pixel_limit() {
        let line = "[ffv1 @ 0x5] [IMGUTILS @ 0x7] Picture size 8192x8192 exceeds specified \
                    max pixel count 8847360, see the documentation if you wish to increase it";
        assert_eq!(pixel_refusal(line), Some(8192 * 8192));
        assert_eq!(pixel_refusal("moov atom not found"), None);
        assert_eq!(
            pixel_refusal("Picture size 1x exceeds specified max pixel count"),
            None
        );
    }

    #[test]
    fn only_sniffed_video_containers_get_a_demuxer() {
        assert_eq!(Container::for_kind(Kind::Mp4), Some(Container::Mov));
        assert_eq!(Container::for_kind(Kind::Quicktime), Some(Container::Mov));
        assert_eq!(Container::for_kind(Kind::Webm), Some(Container::Matroska));
        assert_eq!(Container::for_kind(Kind::Avi), Some(Container::Avi));
        for k in [Kind::Hls, Kind::Gif, Kind::Unknown, Kind::Html] {
            assert_eq!(Container::for_kind(k), None);
        }
    }

    #[test]
    fn boxes_parse_with_the_long_edge_first() {
        assert_eq!(parse_box("1280x720"), Ok((1280, 720)));
        assert_eq!(parse_box("720x1280"), Ok((1280, 720)));
        assert!(parse_box("0x10").is_err() && parse_box("big").is_err());
    }

    #[test]
    fn a_work_dir_is_private_and_gone_after_drop() {
        use std::os::unix::fs::PermissionsExt;
        let parent = std::env::temp_dir();
        let work = WorkDir::create(&parent, None).unwrap();
        work.write_input(b"data").unwrap();
        let root = work.root().to_path_buf();
        let mode = root.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert_eq!(std::fs::read(work.input()).unwrap(), b"data");
        drop(work);
        assert!(!root.exists());
    }

    #[test]
    fn the_poster_cap_holds_any_png_of_the_box_and_is_far_below_the_mp4s() {
        let cfg = VideoConfig::default();
        let cap = max_poster_bytes(&cfg);
        // An uncompressible 1280×720 RGB frame: every pixel byte plus PNG's framing.
        assert!(cap > 1280 * 720 * 3 + 720, "{cap}");
        assert!(
            cap < 4 * 1024 * 1024 && cap < cfg.max_output_bytes / 64,
            "{cap}"
        );
        assert_eq!(max_held_output_bytes(&cfg), cfg.max_output_bytes + cap);
        // The poster is read with that cap: one byte more is output-too-large.
        let work = WorkDir::create(&std::env::temp_dir(), None).unwrap();
        work.create_outputs(&[transcode::POSTER_NAME]).unwrap();
        let poster = work.out().join(transcode::POSTER_NAME);
        std::fs::write(&poster, vec![0u8; cap as usize + 1]).unwrap();
        let err = work.read_output(transcode::POSTER_NAME, cap).unwrap_err();
        assert_eq!(crate::error::ErrorCode::code(&err), "output-too-large");
    }

    #[test]
    fn a_missing_tool_is_a_retryable_unavailability() {
        let err = find_tool(Path::new("attachd-no-such-ffmpeg"), "ATTACH_FFMPEG").unwrap_err();
        assert_eq!(crate::error::ErrorCode::code(&err), "video-unavailable");
    }
}
