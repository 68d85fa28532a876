//! How a jailed run can fail before the program's own ending is known, each with a stable code
//! and a class. The codes and messages are those the video path has always reported (the jail
//! runs only ffprobe and ffmpeg): [`crate::video::VideoError`] passes these through unchanged.

use crate::error::{Class, Code, ErrorCode};

/// A jail that cannot be built or a run that did not end on its own. `Clone` so a start-up
/// failure (a required layer missing) can be kept and returned to every job.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JailError {
    /// A layer the configured mode requires is missing on this machine, or its filter could
    /// not be compiled.
    #[error("the ffmpeg sandbox is unavailable: {0}")]
    Unavailable(String),
    /// The jailed process could not be started (a confinement step failed in the child).
    #[error("{step}: could not start the sandboxed process: {reason}")]
    Spawn { step: &'static str, reason: String },
    /// The wall-clock deadline passed; the process group was killed.
    #[error("{step} ran past its {limit_ms} ms deadline; its process group was killed")]
    Timeout { step: &'static str, limit_ms: u128 },
    /// The host's side of a run failed: a stdio pipe could not be made, or the wait failed.
    #[error("video work files: {0}")]
    Io(String),
}

impl ErrorCode for JailError {
    fn error_code(&self) -> Code {
        match self {
            JailError::Unavailable(_) | JailError::Spawn { .. } => Code::VideoSandboxUnavailable,
            JailError::Timeout { .. } => Code::SandboxTimeout,
            JailError::Io(_) => Code::VideoIoFailed,
        }
    }

    fn class(&self) -> Class {
        match self {
            // This worker's environment: another worker (or this one once the kernel allows
            // the layers) can succeed with the same bytes.
            JailError::Unavailable(_) | JailError::Spawn { .. } | JailError::Io(_) => {
                Class::Retryable
            }
            // The input drove the program there: the same bytes do it again.
            JailError::Timeout { .. } => Class::Permanent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unusable_jail_retries_and_a_deadline_does_not() {
        let retry = [
            JailError::Unavailable("landlock".into()),
            JailError::Spawn {
                step: "ffmpeg",
                reason: "setsid failed".into(),
            },
            JailError::Io("stdout pipe: EMFILE".into()),
        ];
        for e in retry {
            assert_eq!(e.class(), Class::Retryable, "{e}");
        }
        let timeout = JailError::Timeout {
            step: "ffmpeg",
            limit_ms: 1,
        };
        assert_eq!(timeout.class(), Class::Permanent);
        assert_eq!(timeout.code(), "sandbox-timeout");
    }
}
