//! Every way a video upload can fail on the ffmpeg path, each with a stable code and a class.

use crate::error::{Class, Code, ErrorCode};
use crate::jail::{JailError, Killed};

/// Which video limit an upload went over. Checked on ffprobe's reading of the container,
/// before the transcode starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoLimit {
    InputBytes,
    /// Pixels in one frame (width × height).
    Pixels,
    /// Whole seconds of playing time.
    Duration,
    /// Frames per second (rounded up).
    FrameRate,
    /// Bytes of output (the MP4, the poster frame, ffprobe's report).
    OutputBytes,
}

impl VideoLimit {
    pub const fn error_code(self) -> Code {
        match self {
            VideoLimit::InputBytes => Code::InputTooLarge,
            VideoLimit::Pixels => Code::TooManyPixels,
            VideoLimit::Duration => Code::VideoTooLong,
            VideoLimit::FrameRate => Code::FrameRateTooHigh,
            VideoLimit::OutputBytes => Code::OutputTooLarge,
        }
    }

    pub const fn code(self) -> &'static str {
        self.error_code().as_str()
    }
}

/// A failure on the video path. `Clone` so a start-up failure (no ffmpeg, a required jail
/// layer missing) can be kept and returned to every video job.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VideoError {
    /// ffmpeg or ffprobe is not installed where the configuration says.
    #[error("{0}")]
    ToolMissing(String),
    /// The jail could not be built, or a run in it did not end on its own (its deadline).
    #[error(transparent)]
    Jail(#[from] JailError),
    /// The seccomp filter killed the process: it made a system call outside the allow-list.
    #[error("{step} made a forbidden system call and was killed by the sandbox")]
    Violation { step: &'static str },
    /// The kernel stopped the process at an rlimit (CPU time) or killed it (out of memory).
    #[error("{step} was killed by signal {signal} (a CPU or memory limit)")]
    ResourceLimit { step: &'static str, signal: i32 },
    /// The process died of a signal attachd did not send and no limit explains.
    #[error("{step} crashed (signal {signal})")]
    Crashed { step: &'static str, signal: i32 },
    /// ffprobe could not read the container.
    #[error("ffprobe could not read the video: {0}")]
    Unreadable(String),
    /// ffmpeg exited with an error.
    #[error("ffmpeg failed (exit {code}): {stderr}")]
    TranscodeFailed { code: i32, stderr: String },
    /// The container holds no video stream (audio only, or nothing ffmpeg can decode).
    #[error("the container has no video stream")]
    NoVideoStream,
    #[error("{} ({actual} > {max})", .limit.code())]
    Limit {
        limit: VideoLimit,
        actual: u64,
        max: u64,
    },
    /// ffmpeg exited 0 but an output is missing or is not what was asked for.
    #[error("ffmpeg's output is unusable: {0}")]
    BadOutput(String),
    /// Something other than a regular file of ffmpeg's own is at an output name (a symbolic
    /// or hard link, a fifo, a directory): a sandboxed program planting a link for the host to
    /// follow. Refused without opening what it points to.
    #[error("ffmpeg left {found} at its output {name}; attachd refuses to follow or read it")]
    UnsafeOutput { name: String, found: &'static str },
    /// The private work directory could not be created, written or read (disk full, …).
    #[error("video work files: {0}")]
    Io(String),
}

impl ErrorCode for VideoError {
    fn error_code(&self) -> Code {
        match self {
            VideoError::ToolMissing(_) => Code::VideoUnavailable,
            VideoError::Jail(e) => e.error_code(),
            // Both are a sandboxed program doing what the sandbox forbids.
            VideoError::Violation { .. } | VideoError::UnsafeOutput { .. } => {
                Code::SandboxViolation
            }
            VideoError::ResourceLimit { .. } => Code::SandboxResourceLimit,
            VideoError::Crashed { .. } => Code::TranscoderCrashed,
            VideoError::Unreadable(_) => Code::MalformedInput,
            VideoError::TranscodeFailed { .. } => Code::TranscodeFailed,
            VideoError::NoVideoStream => Code::NoVideoStream,
            VideoError::Limit { limit, .. } => limit.error_code(),
            VideoError::BadOutput(_) => Code::TranscodeFailed,
            VideoError::Io(_) => Code::VideoIoFailed,
        }
    }

    fn class(&self) -> Class {
        match self {
            VideoError::Jail(e) => e.class(),
            // This worker's environment: another worker (or this one once ffmpeg is
            // installed) can succeed with the same bytes.
            VideoError::ToolMissing(_) | VideoError::Io(_) => Class::Retryable,
            // The input drove ffmpeg there: the same bytes do it again.
            _ => Class::Permanent,
        }
    }
}

impl VideoError {
    /// Refused by policy (a limit, nothing to transcode) rather than failed.
    pub fn is_rejection(&self) -> bool {
        matches!(self, VideoError::Limit { .. } | VideoError::NoVideoStream)
    }

    /// What a signal that killed `step` means for the video path. `max_output` names the
    /// file-size cap for a [`Killed::FileSize`].
    pub fn killed(step: &'static str, killed: Killed, max_output: u64) -> VideoError {
        match killed {
            Killed::Forbidden => VideoError::Violation { step },
            Killed::FileSize => VideoError::Limit {
                limit: VideoLimit::OutputBytes,
                actual: max_output.saturating_add(1),
                max: max_output,
            },
            Killed::ResourceLimit(signal) => VideoError::ResourceLimit { step, signal },
            Killed::Crashed(signal) => VideoError::Crashed { step, signal },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_faults_retry_and_input_faults_do_not() {
        let retry = [
            VideoError::ToolMissing("ffmpeg".into()),
            VideoError::Jail(JailError::Unavailable("landlock".into())),
            VideoError::Io("disk full".into()),
        ];
        for e in retry {
            assert_eq!(e.class(), Class::Retryable, "{e}");
        }
        let permanent = [
            VideoError::Jail(JailError::Timeout {
                step: "ffmpeg",
                limit_ms: 1,
            }),
            VideoError::Violation { step: "ffmpeg" },
            VideoError::Limit {
                limit: VideoLimit::Pixels,
                actual: 2,
                max: 1,
            },
        ];
        for e in permanent {
            assert_eq!(e.class(), Class::Permanent, "{e}");
        }
    }

    #[test]
    fn codes_are_kebab_case() {
        let timeout = VideoError::Jail(JailError::Timeout {
            step: "x",
            limit_ms: 1,
        });
        let all = [
            timeout.code(),
            VideoLimit::Duration.code(),
            VideoLimit::FrameRate.code(),
            VideoError::NoVideoStream.code(),
        ];
        for c in all {
            assert!(
                c.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{c}"
            );
        }
        assert_eq!(timeout.code(), "sandbox-timeout");
    }

    #[test]
    fn each_killing_signal_keeps_its_code() {
        let code = |k| VideoError::killed("ffmpeg", k, 10).code();
        assert_eq!(code(Killed::Forbidden), "sandbox-violation");
        assert_eq!(code(Killed::FileSize), "output-too-large");
        assert_eq!(code(Killed::ResourceLimit(9)), "sandbox-resource-limit");
        assert_eq!(code(Killed::Crashed(11)), "transcoder-crashed");
    }
}
