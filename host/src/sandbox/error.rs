use crate::error::{Class, ErrorCode};

/// A guest call that did not return a typed result: it was stopped by a limit, it trapped,
/// or the guest could not be loaded. A guest's own typed `media-error` is not a
/// `SandboxError`; it is the call's successful `Err` value (see `GuestError`).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("guest `{guest}` ran past its {deadline_ms} ms deadline and was stopped")]
    Timeout {
        guest: &'static str,
        deadline_ms: u128,
    },
    #[error("guest `{guest}` tried to use more than its {limit_bytes} bytes of memory")]
    MemoryLimit {
        guest: &'static str,
        limit_bytes: u64,
    },
    #[error("guest `{guest}` overflowed its {limit_bytes}-byte stack")]
    StackOverflow {
        guest: &'static str,
        limit_bytes: usize,
    },
    #[error("guest `{guest}` returned {actual} bytes of output, more than the {max} allowed")]
    OutputTooLarge {
        guest: &'static str,
        actual: u64,
        max: u64,
    },
    #[error("guest `{guest}` trapped: {message}")]
    Trap {
        guest: &'static str,
        message: String,
    },
    #[error("guest `{guest}` could not be loaded: {message}")]
    Load {
        guest: &'static str,
        message: String,
    },
    #[error("no sandbox slot for guest `{guest}`: {message}")]
    Instantiate {
        guest: &'static str,
        message: String,
    },
}

impl ErrorCode for SandboxError {
    fn code(&self) -> &'static str {
        match self {
            SandboxError::Timeout { .. } => "guest-timeout",
            SandboxError::MemoryLimit { .. } => "guest-memory-limit",
            SandboxError::StackOverflow { .. } => "guest-stack-overflow",
            SandboxError::OutputTooLarge { .. } => "output-too-large",
            SandboxError::Trap { .. } => "guest-trap",
            SandboxError::Load { .. } => "guest-unavailable",
            SandboxError::Instantiate { .. } => "sandbox-unavailable",
        }
    }

    fn class(&self) -> Class {
        match self {
            // The input drove the guest over a limit or into a crash: the same bytes would do
            // it again, and a retry would only burn CPU.
            SandboxError::Timeout { .. }
            | SandboxError::MemoryLimit { .. }
            | SandboxError::StackOverflow { .. }
            | SandboxError::OutputTooLarge { .. }
            | SandboxError::Trap { .. } => Class::Permanent,
            // A missing or corrupt guest file, or an exhausted instance pool, is this
            // worker's problem: another worker (or this one after a deploy) can succeed.
            SandboxError::Load { .. } | SandboxError::Instantiate { .. } => Class::Retryable,
        }
    }
}
