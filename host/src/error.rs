//! What every layer's error type shares: a stable kebab-case code (stored in the row's
//! `error_code` and used as a metric label) and whether retrying can help.

/// Whether a failure is worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// The input itself is at fault (malformed, unsupported, over a limit, hostile): the
    /// same bytes fail the same way every time, so fail now.
    Permanent,
    /// The environment is at fault (storage, database, a missing guest): another try later,
    /// or on another worker, can succeed.
    Retryable,
}

/// Implemented by every layer's error type.
pub trait ErrorCode {
    /// Stable kebab-case code; never reworded once released.
    fn code(&self) -> &'static str;
    fn class(&self) -> Class;
}
