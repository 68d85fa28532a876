use crate::error::{Class, Code, ErrorCode};

/// A guest call that did not return a typed result: it was stopped by a limit, it trapped,
/// or the guest could not be loaded. A guest's own typed `media-error` is not a
/// `SandboxError`; it is the call's successful `Err` value (see `GuestError`).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("guest `{guest}` used up its fuel budget of {budget} and was stopped")]
    FuelExhausted { guest: &'static str, budget: u64 },
    #[error(
        "guest `{guest}` ran past its {deadline_ms} ms wall-clock deadline, {cpu_ms} ms of it \
         on the CPU, and was stopped"
    )]
    CpuExhausted {
        guest: &'static str,
        deadline_ms: u128,
        cpu_ms: u128,
    },
    #[error("guest `{guest}` ran past its {deadline_ms} ms wall-clock deadline and was stopped")]
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
    #[error("guest `{guest}` called `{call}`, which blocks and is denied to guests")]
    ForbiddenCall {
        guest: &'static str,
        call: &'static str,
    },
    #[error("guest `{guest}` returned a result the host refuses: {reason}")]
    InvalidOutput { guest: &'static str, reason: String },
    #[error(
        "guest `{guest}` tried to hand the host more than {max} bytes; refused before copying"
    )]
    CopyLimit { guest: &'static str, max: u64 },
    /// The guest ended its instance with a failing exit status instead of returning: the
    /// way a guest gives up on an input from inside C code that cannot return (libjpeg's
    /// `error_exit`). Its reason is what it wrote to stderr. It claims no more than a
    /// returned `malformed-input` would, so it is reported as one.
    #[error("guest `{guest}` gave up on the input: {reason}")]
    GaveUp { guest: &'static str, reason: String },
    #[error("guest `{guest}` trapped: {message}")]
    Trap {
        guest: &'static str,
        message: String,
    },
    #[error("guest `{guest}` release refused: {error}")]
    Release {
        guest: &'static str,
        error: crate::release::ReleaseError,
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
    fn error_code(&self) -> Code {
        match self {
            SandboxError::FuelExhausted { .. } => Code::GuestFuelExhausted,
            // A deadline hit while starved of CPU: the job layer counts them.
            SandboxError::Timeout { .. } => Code::GuestTimeout,
            SandboxError::CpuExhausted { .. } => Code::GuestCpuExhausted,
            SandboxError::ForbiddenCall { .. } => Code::GuestForbiddenCall,
            SandboxError::InvalidOutput { .. } => Code::GuestOutputInvalid,
            SandboxError::MemoryLimit { .. } => Code::GuestMemoryLimit,
            SandboxError::StackOverflow { .. } => Code::GuestStackOverflow,
            SandboxError::OutputTooLarge { .. } | SandboxError::CopyLimit { .. } => {
                Code::OutputTooLarge
            }
            SandboxError::GaveUp { .. } => Code::MalformedInput,
            SandboxError::Trap { .. } => Code::GuestTrap,
            SandboxError::Load { .. } => Code::GuestUnavailable,
            SandboxError::Release { error, .. } => error.error_code(),
            SandboxError::Instantiate { .. } => Code::SandboxUnavailable,
        }
    }

    fn class(&self) -> Class {
        match self {
            // The input drove the guest over a limit, into a crash or into a lie: fuel, memory
            // and stack are counted in the guest's own terms, so the same bytes would do it
            // again on any worker, and a retry would only burn CPU.
            SandboxError::FuelExhausted { .. }
            // The call had the CPU for most of its deadline: not a loaded machine but an
            // input that is slow per instruction (memory access patterns fuel cannot price).
            | SandboxError::CpuExhausted { .. }
            | SandboxError::ForbiddenCall { .. }
            | SandboxError::InvalidOutput { .. }
            | SandboxError::MemoryLimit { .. }
            | SandboxError::StackOverflow { .. }
            | SandboxError::OutputTooLarge { .. }
            | SandboxError::CopyLimit { .. }
            | SandboxError::GaveUp { .. }
            | SandboxError::Trap { .. } => Class::Permanent,
            // A missing or corrupt guest file, or an exhausted instance pool, is this
            // worker's problem: another worker (or this one after a deploy) can succeed. The
            // wall-clock backstop depends on the machine's load, not only on the bytes: the
            // same call on a quieter worker may finish (fuel is what bounds the CPU).
            SandboxError::Load { .. }
            | SandboxError::Release { .. }
            | SandboxError::Instantiate { .. }
            | SandboxError::Timeout { .. } => Class::Retryable,
        }
    }
}
