use crate::error::{Class, Code, ErrorCode};

/// What went wrong asking clamd for a verdict. None of these is a verdict: only
/// [`super::Verdict`] says clean or infected, so no error path can let an upload through.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum VscanError {
    /// clamd could not be reached, or stopped answering: refused or reset connection, no
    /// connection within the connect timeout, no progress within the I/O timeout.
    #[error("virus scanner unavailable: {message}")]
    Unavailable { message: String },
    /// clamd answered, but not with a verdict: an `ERROR` reply other than the size limit
    /// (out of memory, a temporary file it could not write) or a reply this client does not
    /// understand.
    #[error("virus scanner error: {message}")]
    Scanner { message: String },
    /// The stream is larger than clamd accepts (its `StreamMaxLength`, or attachd's copy of
    /// it, `ATTACH_VSCAN_MAX_STREAM`): clamd cannot vouch for these bytes.
    #[error("the upload is {size} bytes, more than the virus scanner accepts ({limit})")]
    TooLarge { size: u64, limit: String },
    /// Reading the bytes to scan failed (the object store, not the scanner).
    #[error("reading the upload to scan it failed: {message}")]
    Source { message: String },
}

impl ErrorCode for VscanError {
    fn error_code(&self) -> Code {
        match self {
            VscanError::Unavailable { .. } => Code::ScannerUnavailable,
            VscanError::Scanner { .. } => Code::ScannerError,
            VscanError::TooLarge { .. } => Code::ScanTooLarge,
            // The breaker counts this code against storage, which is where the fault is.
            VscanError::Source { .. } => Code::StorageUnavailable,
        }
    }

    fn class(&self) -> Class {
        match self {
            // The same bytes are over the same limit every time.
            VscanError::TooLarge { .. } => Class::Permanent,
            // A scanner that is down, restarting or out of memory comes back; so does storage.
            VscanError::Unavailable { .. }
            | VscanError::Scanner { .. }
            | VscanError::Source { .. } => Class::Retryable,
        }
    }
}

impl VscanError {
    pub(super) fn unavailable(message: impl Into<String>) -> Self {
        VscanError::Unavailable {
            message: message.into(),
        }
    }

    /// True for the failures that mean "the scanner cannot give a verdict right now", which
    /// the job answers by scheduling `attachments.vscan.retry` rather than failing.
    pub fn is_scanner_down(&self) -> bool {
        matches!(
            self,
            VscanError::Unavailable { .. } | VscanError::Scanner { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_only_the_size_limit_is_permanent() {
        let cases = [
            (
                VscanError::unavailable("x"),
                "scanner-unavailable",
                Class::Retryable,
            ),
            (
                VscanError::Scanner {
                    message: "x".into(),
                },
                "scanner-error",
                Class::Retryable,
            ),
            (
                VscanError::TooLarge {
                    size: 2,
                    limit: "1 byte".into(),
                },
                "scan-too-large",
                Class::Permanent,
            ),
            (
                VscanError::Source {
                    message: "x".into(),
                },
                "storage-unavailable",
                Class::Retryable,
            ),
        ];
        for (err, code, class) in cases {
            assert_eq!((err.code(), err.class()), (code, class), "{err}");
        }
    }
}
