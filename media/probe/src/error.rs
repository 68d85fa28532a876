use core::fmt;

/// Which limit an input went over. Each has a stable kebab-case code that ends up in the
/// `error_code` column and in metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    InputBytes,
    Pixels,
    Frames,
    FrameArea,
    OutputBytes,
    /// Structural limits of a container: JPEG scans, EXIF entries, PNG chunks, ZIP entries.
    Structure,
}

impl Limit {
    pub const fn code(self) -> &'static str {
        match self {
            Limit::InputBytes => "input-too-large",
            Limit::Pixels => "too-many-pixels",
            Limit::Frames => "too-many-frames",
            Limit::FrameArea => "frame-area-too-large",
            Limit::OutputBytes => "output-too-large",
            Limit::Structure => "structure-too-complex",
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A typed failure of a media library: the input's fault, never a bug or a trap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The bytes do not follow their format (truncated, inconsistent, looping structures).
    #[error("malformed input: {0}")]
    Malformed(String),
    /// A well-formed input of a type or feature this library does not handle.
    #[error("unsupported input: {0}")]
    Unsupported(String),
    /// The input claims more than a limit allows.
    #[error("{limit} ({actual} > {max})")]
    LimitExceeded { limit: Limit, actual: u64, max: u64 },
    /// Encoding an output failed.
    #[error("encode failed: {0}")]
    EncodeFailed(String),
}

impl MediaError {
    pub fn malformed(msg: impl Into<String>) -> Self {
        MediaError::Malformed(msg.into())
    }
    pub fn unsupported(msg: impl Into<String>) -> Self {
        MediaError::Unsupported(msg.into())
    }
    pub fn limit(limit: Limit, actual: u64, max: u64) -> Self {
        MediaError::LimitExceeded { limit, actual, max }
    }

    /// Stable kebab-case code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            MediaError::Malformed(_) => "malformed-input",
            MediaError::Unsupported(_) => "unsupported-input",
            MediaError::LimitExceeded { limit, .. } => limit.code(),
            MediaError::EncodeFailed(_) => "encode-failed",
        }
    }
}
