//! One upload through the sandboxed steps: probe → scan → thumbnail. The pipeline owns the
//! order of the steps and every decision between them (limits checked on the probe's reading
//! of the headers before anything is decoded; a `reject` verdict stops the upload before a
//! decoder sees it); the guests own the parsing. It knows nothing of where the bytes came from
//! or where the variants go: the CLI and the job handler do that.
//!
//! Video containers (sniffed, like everything, from the magic bytes) leave the guests after
//! the scan for ffprobe and ffmpeg in the native sandbox ([`crate::video`]); what ffmpeg writes
//! comes back through the guests: the poster frame to the thumbnail guest like any image, the
//! MP4 to the probe and scan guests, which must find an MP4 with no `reject` finding.

use crate::config::InputLimits;
use crate::error::{Class, Code, ErrorCode};
use crate::sandbox::{
    GuestRef, Kind, Limit, Limits, MediaError, ProbeInfo, Report, Sandbox, SandboxError, Session,
    Thumbnails, VariantSpec, Verdict,
};
use crate::video::{Container, Video, VideoError};
use std::sync::Arc;

/// How an upload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Variants rendered.
    Ready,
    /// Refused by policy: over a limit, an unsupported type, or a `reject` scan verdict.
    Rejected,
    /// Processing failed: malformed input, a guest stopped by the sandbox, an environment fault.
    Failed,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("input is {actual} bytes, more than the {max} allowed")]
    InputTooLarge { actual: u64, max: u64 },
    #[error("{step}: {}", describe_media(.error))]
    Media {
        step: &'static str,
        error: MediaError,
    },
    #[error("{} ({actual} > {max})", limit_code(*.limit))]
    Limit { limit: Limit, actual: u64, max: u64 },
    #[error("{kind} files are not processed here")]
    UnsupportedType { kind: &'static str },
    #[error("scan rejected the upload: {rules}")]
    ScanRejected { rules: String },
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("video: {0}")]
    Video(#[from] VideoError),
}

impl ErrorCode for PipelineError {
    fn error_code(&self) -> Code {
        match self {
            PipelineError::InputTooLarge { .. } => Code::InputTooLarge,
            PipelineError::Media { error, .. } => media_code(error),
            PipelineError::Limit { limit, .. } => limit_code(*limit),
            PipelineError::UnsupportedType { .. } => Code::UnsupportedType,
            PipelineError::ScanRejected { .. } => Code::ScanRejected,
            PipelineError::Sandbox(e) => e.error_code(),
            PipelineError::Video(e) => e.error_code(),
        }
    }

    fn class(&self) -> Class {
        match self {
            PipelineError::Sandbox(e) => e.class(),
            PipelineError::Video(e) => e.class(),
            _ => Class::Permanent,
        }
    }
}

impl PipelineError {
    /// `rejected` for policy refusals, `failed` for everything else.
    pub fn status(&self) -> Status {
        match self {
            PipelineError::InputTooLarge { .. }
            | PipelineError::Limit { .. }
            | PipelineError::UnsupportedType { .. }
            | PipelineError::ScanRejected { .. }
            | PipelineError::Media {
                error: MediaError::LimitExceeded(_) | MediaError::Unsupported(_),
                ..
            } => Status::Rejected,
            PipelineError::Video(e) if e.is_rejection() => Status::Rejected,
            _ => Status::Failed,
        }
    }
}

/// The code of a guest's typed error.
pub fn media_code(e: &MediaError) -> Code {
    match e {
        MediaError::Malformed(_) => Code::MalformedInput,
        MediaError::Unsupported(_) => Code::UnsupportedInput,
        MediaError::LimitExceeded(hit) => limit_code(hit.limit),
        MediaError::EncodeFailed(_) => Code::EncodeFailed,
    }
}

fn describe_media(e: &MediaError) -> String {
    match e {
        MediaError::Malformed(m) => format!("malformed input: {m}"),
        MediaError::Unsupported(m) => format!("unsupported input: {m}"),
        MediaError::LimitExceeded(hit) => {
            format!("{} ({} > {})", limit_code(hit.limit), hit.actual, hit.max)
        }
        MediaError::EncodeFailed(m) => format!("encode failed: {m}"),
    }
}

/// The code of a limit the guests report (the WIT binding's `limit`).
pub fn limit_code(limit: Limit) -> Code {
    match limit {
        Limit::InputBytes => Code::InputTooLarge,
        Limit::Pixels => Code::TooManyPixels,
        Limit::Frames => Code::TooManyFrames,
        Limit::FrameArea => Code::FrameAreaTooLarge,
        Limit::OutputBytes => Code::OutputTooLarge,
        Limit::Structure => Code::StructureTooComplex,
    }
}

/// Everything learned about one upload, whatever the ending.
#[derive(Debug)]
pub struct Outcome {
    pub probe: Option<ProbeInfo>,
    pub scan: Option<Report>,
    pub result: Result<Thumbnails, PipelineError>,
    /// For a video upload that succeeded: the MP4 (`result` holds the poster's thumbnails).
    pub video: Option<VideoVariant>,
    /// The guest releases that ran this upload's steps.
    pub guests: Vec<GuestRef>,
}

/// The MP4 a video upload produced.
#[derive(Debug)]
pub struct VideoVariant {
    pub data: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// The name of the MP4 variant, beside the poster's thumbnails.
pub const VIDEO_VARIANT: &str = "video";

impl Outcome {
    pub fn status(&self) -> Status {
        match &self.result {
            Ok(_) => Status::Ready,
            Err(e) => e.status(),
        }
    }
}

/// The sandboxed steps with the limits they run under. Cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    sandbox: Arc<Sandbox>,
    limits: InputLimits,
    /// `None`: video is off, and video containers are `unsupported-type`.
    video: Option<Arc<Video>>,
}

impl Pipeline {
    pub fn new(sandbox: Arc<Sandbox>, limits: InputLimits) -> Self {
        Pipeline {
            sandbox,
            limits,
            video: None,
        }
    }

    /// Sends video containers to `video` (ffmpeg in the native sandbox).
    pub fn with_video(mut self, video: Arc<Video>) -> Self {
        self.video = Some(video);
        self
    }

    /// The sandbox, for the worker's hot swap of guest releases.
    pub fn sandbox(&self) -> &Arc<Sandbox> {
        &self.sandbox
    }

    pub fn limits(&self) -> &InputLimits {
        &self.limits
    }

    pub fn video(&self) -> Option<&Arc<Video>> {
        self.video.as_ref()
    }

    /// The most bytes an upload of any accepted kind may have: what a caller reads before
    /// it knows the kind. The pipeline applies each kind's own limit once the probe names it.
    pub fn max_read_bytes(&self) -> u64 {
        let video = self
            .video
            .as_ref()
            .map_or(0, |v| v.config().max_input_bytes);
        self.limits.max_input_bytes.max(video)
    }

    /// Runs probe → scan → thumbnail on `data`. Blocking (each step runs a guest on this
    /// thread): call it from `spawn_blocking` in async code.
    ///
    /// Every step runs on the guest set that was current when the run began, even if a new
    /// release is swapped in meanwhile, and the outcome records that set.
    pub fn run(&self, data: &[u8], declared_mime: &str, specs: &[VariantSpec]) -> Outcome {
        let (mut probe, mut scan, mut video) = (None, None, None);
        let session = self.sandbox.session();
        let result = self.steps(
            &session,
            data,
            declared_mime,
            specs,
            &mut probe,
            &mut scan,
            &mut video,
        );
        Outcome {
            probe,
            scan,
            result,
            video,
            guests: session.guests().refs(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn steps(
        &self,
        guests: &Session<'_>,
        data: &[u8],
        declared_mime: &str,
        specs: &[VariantSpec],
        probe_out: &mut Option<ProbeInfo>,
        scan_out: &mut Option<Report>,
        video_out: &mut Option<VideoVariant>,
    ) -> Result<Thumbnails, PipelineError> {
        let l = &self.limits;
        let too_large = |max: u64| {
            if data.len() as u64 > max {
                return Err(PipelineError::InputTooLarge {
                    actual: data.len() as u64,
                    max,
                });
            }
            Ok(())
        };
        // The largest limit of any kind now; the kind's own once the probe has named it.
        too_large(self.max_read_bytes())?;
        let limits = Limits {
            max_pixels: l.max_pixels,
            max_frames: l.max_frames,
            max_total_frame_area: l.max_total_frame_area,
            max_output_bytes: l.max_output_bytes,
        };

        let (probe, _) = guests.probe(data, limits)?;
        let probe = probe.map_err(|error| PipelineError::Media {
            step: "probe",
            error,
        })?;
        // The probe guest enforces these too; the host checks again because a limit it
        // only asked a guest to enforce is not a limit the host enforces.
        check(
            Limit::Pixels,
            u64::from(probe.width) * u64::from(probe.height),
            l.max_pixels,
        )?;
        check(
            Limit::Frames,
            u64::from(probe.frames),
            u64::from(l.max_frames),
        )?;
        check(
            Limit::FrameArea,
            probe.total_frame_area,
            l.max_total_frame_area,
        )?;
        let kind = probe.kind;
        // What the thumbnail guest's fuel budget is sized by: every pixel it may decode.
        let pixels = source_pixels(&probe);
        // A video container goes to ffmpeg with the demuxer its sniffed kind names.
        let video = self.video.as_deref().zip(Container::for_kind(kind));
        if video.is_none() {
            too_large(l.max_input_bytes)?;
        }
        *probe_out = Some(probe);

        let (report, _) = guests.scan(data, declared_mime, limits)?;
        let report = report.map_err(|error| PipelineError::Media {
            step: "scan",
            error,
        })?;
        let verdict = report.verdict;
        let rules = report
            .findings
            .iter()
            .filter(|f| f.verdict == Verdict::Reject)
            .map(|f| f.rule.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        *scan_out = Some(report);
        if verdict == Verdict::Reject {
            return Err(PipelineError::ScanRejected { rules });
        }

        if let Some((video, container)) = video {
            return self.video_steps(
                guests, video, container, data, specs, limits, probe_out, video_out,
            );
        }
        let ((thumbs, _), step) = match kind {
            Kind::Jpeg | Kind::Png | Kind::Gif | Kind::Webp => {
                (guests.thumbnail(data, specs, limits, pixels)?, "thumbnail")
            }
            Kind::Heic | Kind::Avif => (guests.heif(data, specs, limits, pixels)?, "heif"),
            _ => return Err(PipelineError::UnsupportedType { kind: kind.name() }),
        };
        thumbs.map_err(|error| PipelineError::Media { step, error })
    }
}

impl Pipeline {
    /// A video container after a clean-enough scan: ffprobe and ffmpeg in the native
    /// sandbox, then ffmpeg's outputs back through the guests.
    #[allow(clippy::too_many_arguments)]
    fn video_steps(
        &self,
        guests: &Session<'_>,
        video: &Video,
        container: Container,
        data: &[u8],
        specs: &[VariantSpec],
        limits: Limits,
        probe_out: &mut Option<ProbeInfo>,
        video_out: &mut Option<VideoVariant>,
    ) -> Result<Thumbnails, PipelineError> {
        let t = video.process(data, container)?;
        if let Some(p) = probe_out.as_mut() {
            // The probe guest reads no video headers; ffprobe's reading, turned as a player
            // shows it, is the upload's size.
            let (w, h) = t.source.display_size();
            (p.width, p.height, p.orientation) = (w, h, 1);
            let frames = match (t.source.duration, t.source.frame_rate) {
                (Some(d), Some(fps)) => (d * fps).round().min(f64::from(u32::MAX)) as u32,
                _ => 0,
            };
            p.frames = frames;
            p.total_frame_area = u64::from(w) * u64::from(h) * u64::from(frames.max(1));
        }
        let bad = |why: String| PipelineError::Video(VideoError::BadOutput(why));
        let (mp4_probe, _) = guests.probe(&t.mp4, limits)?;
        match mp4_probe {
            Ok(p) if p.kind == Kind::Mp4 => {}
            Ok(p) => return Err(bad(format!("the MP4 sniffs as {}", p.kind.name()))),
            Err(e) => return Err(bad(format!("the MP4: {}", describe_media(&e)))),
        }
        let (report, _) = guests.scan(&t.mp4, "video/mp4", limits)?;
        let report =
            report.map_err(|e| bad(format!("scanning the MP4: {}", describe_media(&e))))?;
        if report.verdict == Verdict::Reject {
            let rules: Vec<&str> = report.findings.iter().map(|f| f.rule.as_str()).collect();
            return Err(bad(format!(
                "the scan rejects the MP4: {}",
                rules.join(", ")
            )));
        }
        let (w, h) = t.source.display_size();
        let poster_pixels = u64::from(w) * u64::from(h);
        let (thumbs, _) = self
            .sandbox
            .thumbnail(&t.poster, specs, limits, poster_pixels)?;
        let thumbs = thumbs.map_err(|error| PipelineError::Media {
            step: "poster thumbnail",
            error,
        })?;
        *video_out = Some(VideoVariant {
            data: t.mp4,
            width: t.width,
            height: t.height,
        });
        Ok(thumbs)
    }
}

/// The pixels the thumbnail guest decodes, which size its fuel: the canvas it composes and
/// resizes, and the first frame it decodes into it (an animation's first frame is its
/// thumbnail; the later frames are walked, which the per-byte allowance pays for, not
/// decoded). A GIF frame may be far larger than the canvas and sit anywhere, even wholly off
/// it (the overhang is clipped after decoding): a 179-byte GIF with an 8×8 canvas and a
/// 20013×1363 first frame ran out of a canvas-sized budget (found by the sandbox fuzz target).
/// The probe does not report the first frame's own size, so the frames' total area, which
/// the frame-area limit bounds, stands in for it; for a still image it is the canvas.
pub fn source_pixels(probe: &ProbeInfo) -> u64 {
    (u64::from(probe.width) * u64::from(probe.height)).max(probe.total_frame_area)
}

fn check(limit: Limit, actual: u64, max: u64) -> Result<(), PipelineError> {
    if actual > max {
        return Err(PipelineError::Limit { limit, actual, max });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use media_probe::Limit as L;

    /// The guests' library names its codes itself (it cannot import the host's registry):
    /// the codes the host records for the same failures must be those very strings.
    #[test]
    fn the_media_librarys_codes_are_the_registrys() {
        let limits = [
            (L::InputBytes, Limit::InputBytes),
            (L::Pixels, Limit::Pixels),
            (L::Frames, Limit::Frames),
            (L::FrameArea, Limit::FrameArea),
            (L::OutputBytes, Limit::OutputBytes),
            (L::Structure, Limit::Structure),
        ];
        for (library, wit) in limits {
            assert_eq!(library.code(), limit_code(wit).as_str(), "{library:?}");
        }
        let errors = [
            (
                media_probe::MediaError::malformed("x"),
                MediaError::Malformed("x".into()),
            ),
            (
                media_probe::MediaError::unsupported("x"),
                MediaError::Unsupported("x".into()),
            ),
            (
                media_probe::MediaError::EncodeFailed("x".into()),
                MediaError::EncodeFailed("x".into()),
            ),
        ];
        for (library, wit) in errors {
            assert_eq!(library.code(), media_code(&wit).as_str(), "{library:?}");
        }
    }
}
