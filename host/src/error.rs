//! What every layer's error type shares: a stable kebab-case [`Code`] (stored in the row's
//! `error_code`, printed in JSON and used as a metric label) and whether retrying can help.
//!
//! [`Code`] is the one registry of codes: each is defined here once, with what it means, the
//! dependency it blames and the audit decision it stands for. This module imports nothing
//! from the crate (every layer imports it), so the small vocabularies a code maps to,
//! [`Dependency`] and [`Decision`], live here too and are re-exported where they are used.

use std::fmt;

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
    /// This failure's code. Which class goes with it is the error variant's business (one
    /// code can be retryable from one layer and permanent from another).
    fn error_code(&self) -> Code;

    fn class(&self) -> Class;

    /// The code as stored and printed: [`Code::as_str`].
    fn code(&self) -> &'static str {
        self.error_code().as_str()
    }
}

/// Declares [`Code`], its `ALL` and its `as_str` from one list, so a code cannot be added
/// without its string or left out of `ALL`.
macro_rules! codes {
    ($($(#[doc = $doc:literal])+ $name:ident = $text:literal,)+) => {
        /// Every error code attachd reports. The strings are released (database rows, JSON,
        /// metric labels, alert rules): never reword one; add a new code instead.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $($(#[doc = $doc])+ $name,)+
        }

        impl Code {
            /// Every code, in declaration order.
            pub const ALL: &'static [Code] = &[$(Code::$name,)+];

            /// The released kebab-case string.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$name => $text,)+
                }
            }
        }
    };
}

codes! {
    // Limits (README "Limits"); images and videos share the first two and the output cap.
    /// The upload is larger than `ATTACH_MAX_INPUT_BYTES` (or than a video's limit).
    InputTooLarge = "input-too-large",
    /// One frame has more pixels than allowed.
    TooManyPixels = "too-many-pixels",
    /// An animation has more frames than allowed.
    TooManyFrames = "too-many-frames",
    /// The frames of an animation cover more pixels in total than allowed.
    FrameAreaTooLarge = "frame-area-too-large",
    /// A container's structure is over a limit: JPEG scans, EXIF entries, PNG chunks, ZIP
    /// entries.
    StructureTooComplex = "structure-too-complex",
    /// The variants (or a guest's output) are over the output cap.
    OutputTooLarge = "output-too-large",

    // The input, as the guests read it.
    /// The real type is not an image or video attachd processes.
    UnsupportedType = "unsupported-type",
    /// The scan guest's verdict is `reject` (the findings say why).
    ScanRejected = "scan-rejected",
    /// The bytes do not follow their format.
    MalformedInput = "malformed-input",
    /// A well-formed input with a feature not handled.
    UnsupportedInput = "unsupported-input",
    /// Encoding a variant failed.
    EncodeFailed = "encode-failed",

    // The wasm sandbox.
    /// A guest used up its fuel budget: counted in the guest's own terms, so the same bytes
    /// hit it on any worker.
    GuestFuelExhausted = "guest-fuel-exhausted",
    /// A guest tried to use more memory than allowed.
    GuestMemoryLimit = "guest-memory-limit",
    /// A guest overflowed its stack.
    GuestStackOverflow = "guest-stack-overflow",
    /// A guest ran past the wall-clock backstop with fuel left while it had the CPU for at
    /// least half of it: the input is slow per instruction.
    GuestCpuExhausted = "guest-cpu-exhausted",
    /// A guest ran past the wall-clock backstop with fuel left and had the CPU for less than
    /// half of it: the machine was too loaded to judge the input.
    GuestTimeout = "guest-timeout",
    /// A second [`Code::GuestTimeout`] in a row for the same upload: an upload can make its
    /// own calls look starved, so one upload costs at most two deadlines.
    GuestTimeoutRepeated = "guest-timeout-repeated",
    /// A guest called a WASI function that blocks (sleep, poll).
    GuestForbiddenCall = "guest-forbidden-call",
    /// A guest returned something the host refuses; nothing is written.
    GuestOutputInvalid = "guest-output-invalid",
    /// A guest crashed (its panic message is in the error).
    GuestTrap = "guest-trap",
    /// A guest file is missing or unreadable, or the component does not compile or link.
    GuestUnavailable = "guest-unavailable",
    // A guest release refused at load (the running set keeps serving): metric and audit
    // reasons, never a job's code.
    /// A guest's manifest is malformed, another guest's, or names a file outside its
    /// directory.
    GuestManifestInvalid = "guest-manifest-invalid",
    /// A guest implements another world, or a version outside this host's series.
    GuestWorldIncompatible = "guest-world-incompatible",
    /// A component's sha256 is not the one its signed manifest names.
    GuestDigestMismatch = "guest-digest-mismatch",
    /// A guest's manifest has no signature (and unsigned guests are not allowed).
    GuestSignatureMissing = "guest-signature-missing",
    /// A guest's signature does not verify over its manifest.
    GuestSignatureInvalid = "guest-signature-invalid",
    /// A guest is signed by a key not in `ATTACH_GUEST_TRUSTED_KEYS`.
    GuestKeyUntrusted = "guest-key-untrusted",
    /// A trusted key or a signing key cannot be read or used.
    GuestKeyInvalid = "guest-key-invalid",
    /// No free guest instance slot.
    SandboxUnavailable = "sandbox-unavailable",

    // The job and what it talks to.
    /// The job's payload is unusable (bad key, variant spec or checksum, or a key too long
    /// for its quarantine or variant keys).
    InvalidPayload = "invalid-payload",
    /// The stored object's size is not what the payload says.
    SizeMismatch = "size-mismatch",
    /// The stored object's sha256 is not what the payload (or the row) says.
    ChecksumMismatch = "checksum-mismatch",
    /// The upload is not in storage.
    ObjectNotFound = "object-not-found",
    /// The object key is refused.
    InvalidKey = "invalid-key",
    /// The object store is down.
    StorageUnavailable = "storage-unavailable",
    /// The object store refuses the worker's credentials (or a link was planted in the local
    /// store).
    StorageDenied = "storage-denied",
    /// The database is down.
    DatabaseUnavailable = "database-unavailable",
    /// A database statement failed.
    DatabaseError = "database-error",
    /// The database has another schema than this binary was built for.
    SchemaMismatch = "schema-mismatch",
    /// The database refused a status transition (a finished row may not move back).
    StatusConflict = "status-conflict",
    /// Another worker holds the upload's claim; the retry finds it done.
    AttachmentBusy = "attachment-busy",
    /// Another worker took the claim over before this one published.
    ClaimLost = "claim-lost",
    /// The upload has no `attachments` row (ingest it first).
    AttachmentMissing = "attachment-missing",
    /// The job's task failed outside every layer (it panicked or was cancelled).
    InternalError = "internal-error",
    /// Redis could not be reached: a follow-up job was not added, or cleanup could not read
    /// the queues and deleted nothing.
    RedisUnavailable = "redis-unavailable",
    /// The queue configuration is invalid.
    QueueConfig = "queue-config",
    /// Redis answered something the queue client does not understand.
    QueueProtocol = "queue-protocol",

    // Video: ffprobe and ffmpeg in the native jail.
    /// The video plays longer than allowed.
    VideoTooLong = "video-too-long",
    /// The video's frame rate is higher than allowed.
    FrameRateTooHigh = "frame-rate-too-high",
    /// The container has no picture to transcode.
    NoVideoStream = "no-video-stream",
    /// ffmpeg exited with an error, or its output is not an MP4 and a PNG poster the guests
    /// accept.
    TranscodeFailed = "transcode-failed",
    /// ffprobe or ffmpeg ran past its deadline; its process group was killed.
    SandboxTimeout = "sandbox-timeout",
    /// The seccomp filter killed ffprobe or ffmpeg, or ffmpeg left a link or other
    /// non-regular file at an output name.
    SandboxViolation = "sandbox-violation",
    /// ffmpeg was killed by its CPU or memory limit.
    SandboxResourceLimit = "sandbox-resource-limit",
    /// ffmpeg crashed (a signal no limit explains).
    TranscoderCrashed = "transcoder-crashed",
    /// ffmpeg is not installed.
    VideoUnavailable = "video-unavailable",
    /// The ffmpeg jail cannot be set up on this machine.
    VideoSandboxUnavailable = "video-sandbox-unavailable",
    /// The private work directory could not be written or read.
    VideoIoFailed = "video-io-failed",

    // Virus scanning and quarantine.
    /// clamd found a signature; the row is `quarantined`.
    VirusFound = "virus-found",
    /// `ATTACH_SCAN_SUSPICIOUS=fail` and the scan's verdict is `suspicious`.
    ScanSuspicious = "scan-suspicious",
    /// The upload is larger than clamd accepts.
    ScanTooLarge = "scan-too-large",
    /// clamd gave no verdict (down, or stopped answering).
    ScannerUnavailable = "scanner-unavailable",
    /// clamd answered with an error instead of a verdict.
    ScannerError = "scanner-error",

    // Cleanup.
    /// The worker processing the upload died and no job took it over in time.
    ProcessingAbandoned = "processing-abandoned",

    // `attachd process` on local files.
    /// The local file could not be read.
    ReadFailed = "read-failed",
    /// The variants could not be written to the output directory.
    PublishFailed = "publish-failed",
}

impl Code {
    /// The dependency a failure with this code blames: what the worker's circuit breaker
    /// counts. `None` for the upload's own faults and for faults no dependency check can
    /// see recover.
    pub const fn dependency(self) -> Option<Dependency> {
        match self {
            Code::StorageUnavailable | Code::StorageDenied => Some(Dependency::Storage),
            Code::DatabaseUnavailable | Code::SchemaMismatch => Some(Dependency::Database),
            Code::RedisUnavailable => Some(Dependency::Redis),
            _ => None,
        }
    }

    /// The audit decision a job failing with this code stands for, if it is a security
    /// decision.
    pub const fn audit_decision(self) -> Option<Decision> {
        match self {
            Code::InputTooLarge
            | Code::TooManyPixels
            | Code::TooManyFrames
            | Code::FrameAreaTooLarge
            | Code::OutputTooLarge
            | Code::StructureTooComplex
            | Code::VideoTooLong
            | Code::FrameRateTooHigh => Some(Decision::LimitHit),
            // The wasm sandbox stopping a guest (or refusing what it returned), and the ffmpeg
            // jail killing or stopping ffmpeg: a timeout, a forbidden call, an rlimit, a lie.
            Code::GuestTimeout
            | Code::GuestFuelExhausted
            | Code::GuestCpuExhausted
            | Code::GuestTimeoutRepeated
            | Code::GuestForbiddenCall
            | Code::GuestOutputInvalid
            | Code::GuestMemoryLimit
            | Code::GuestStackOverflow
            | Code::SandboxTimeout
            | Code::SandboxViolation
            | Code::SandboxResourceLimit => Some(Decision::SandboxKill),
            _ => None,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A string that is not a released code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error code {0:?}")]
pub struct UnknownCode(pub String);

impl std::str::FromStr for Code {
    type Err = UnknownCode;

    /// Reads a code back (from a row's `error_code`).
    fn from_str(s: &str) -> Result<Code, UnknownCode> {
        Code::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCode(s.to_string()))
    }
}

/// What the worker depends on besides the job's own input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dependency {
    Storage,
    Database,
    Redis,
}

impl Dependency {
    pub const ALL: [Dependency; 3] = [Dependency::Storage, Dependency::Database, Dependency::Redis];

    pub const fn as_str(self) -> &'static str {
        match self {
            Dependency::Storage => "storage",
            Dependency::Database => "database",
            Dependency::Redis => "redis",
        }
    }
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the audit log records was decided. The names are stable (stored, and matched by
/// alert rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// clamd called the upload clean.
    VscanClean,
    /// clamd found a signature.
    VscanInfected,
    /// The upload is larger than clamd accepts.
    VscanTooLarge,
    /// clamd could not be asked; a retry is scheduled (or, without a queue, left to the caller).
    VscanUnavailable,
    /// The scanner stayed unavailable through every try: the upload failed closed.
    VscanExhausted,
    /// The scanner stayed unavailable and `ATTACH_VSCAN_FAIL_OPEN` let the upload through.
    VscanSkipped,
    /// The scan guest's verdict.
    ScanClean,
    ScanSuspicious,
    ScanReject,
    /// The original was moved to quarantine and the row says `quarantined`.
    Quarantined,
    /// The row went `ready` with its variants.
    Published,
    /// A re-process job re-opened a `ready` or `failed` row because a guest release it names
    /// had processed the upload (`attachd requeue --guest-digest`).
    Reprocessed,
    /// A size, pixel, frame or output limit stopped the upload.
    LimitHit,
    /// The sandbox stopped a guest (deadline, memory, stack).
    SandboxKill,
    /// A setting that makes attachd less strict than its defaults (logged at start).
    ConfigWeakened,
    /// The worker switched to a new set of guest releases.
    GuestSwapped,
    /// A guest release was refused (signature, key, digest, world, or it did not compile);
    /// the guests already running kept serving.
    GuestRefused,
    /// `attachd guests rollback` put the previous release back.
    GuestRolledBack,
    /// A reviewer released a quarantined upload to be processed again (every check runs
    /// again), with a reason.
    ReviewReleased,
    /// A reviewer deleted a quarantined upload, its quarantined copy and its row.
    ReviewDeleted,
}

impl Decision {
    pub const ALL: [Decision; 20] = [
        Decision::VscanClean,
        Decision::VscanInfected,
        Decision::VscanTooLarge,
        Decision::VscanUnavailable,
        Decision::VscanExhausted,
        Decision::VscanSkipped,
        Decision::ScanClean,
        Decision::ScanSuspicious,
        Decision::ScanReject,
        Decision::Quarantined,
        Decision::Published,
        Decision::Reprocessed,
        Decision::LimitHit,
        Decision::SandboxKill,
        Decision::ConfigWeakened,
        Decision::GuestSwapped,
        Decision::GuestRefused,
        Decision::GuestRolledBack,
        Decision::ReviewReleased,
        Decision::ReviewDeleted,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Decision::VscanClean => "vscan-clean",
            Decision::VscanInfected => "vscan-infected",
            Decision::VscanTooLarge => "vscan-too-large",
            Decision::VscanUnavailable => "vscan-unavailable",
            Decision::VscanExhausted => "vscan-exhausted",
            Decision::VscanSkipped => "vscan-skipped",
            Decision::ScanClean => "scan-clean",
            Decision::ScanSuspicious => "scan-suspicious",
            Decision::ScanReject => "scan-reject",
            Decision::Quarantined => "quarantined",
            Decision::Published => "published",
            Decision::Reprocessed => "reprocessed",
            Decision::LimitHit => "limit-hit",
            Decision::SandboxKill => "sandbox-kill",
            Decision::ConfigWeakened => "config-weakened",
            Decision::GuestSwapped => "guest-swapped",
            Decision::GuestRefused => "guest-refused",
            Decision::GuestRolledBack => "guest-rolled-back",
            Decision::ReviewReleased => "review-released",
            Decision::ReviewDeleted => "review-deleted",
        }
    }

    /// Decisions that stop or weaken something are warnings; the rest are information.
    pub fn is_warning(self) -> bool {
        !matches!(
            self,
            Decision::VscanClean
                | Decision::ScanClean
                | Decision::Published
                | Decision::GuestSwapped
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn is_kebab_case(s: &str) -> bool {
        s.split('-')
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
    }

    #[test]
    fn codes_are_distinct_kebab_case_and_read_back() {
        let names: BTreeSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), Code::ALL.len(), "two codes share a string");
        for &code in Code::ALL {
            assert!(is_kebab_case(code.as_str()), "{code}");
            assert_eq!(code.as_str().parse::<Code>(), Ok(code));
            assert_eq!(code.to_string(), code.as_str());
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(code.as_str())
            );
        }
        assert!("guest-timed-out".parse::<Code>().is_err());
    }

    #[test]
    fn decision_names_are_kebab_case_and_distinct() {
        let names: BTreeSet<&str> = Decision::ALL.iter().map(|d| d.as_str()).collect();
        assert_eq!(names.len(), Decision::ALL.len());
        for n in names {
            assert!(is_kebab_case(n), "{n}");
        }
    }

    #[test]
    fn outages_blame_their_dependency_and_upload_faults_blame_none() {
        assert_eq!(
            Code::StorageUnavailable.dependency(),
            Some(Dependency::Storage)
        );
        assert_eq!(Code::StorageDenied.dependency(), Some(Dependency::Storage));
        assert_eq!(
            Code::DatabaseUnavailable.dependency(),
            Some(Dependency::Database)
        );
        assert_eq!(
            Code::SchemaMismatch.dependency(),
            Some(Dependency::Database)
        );
        assert_eq!(Code::RedisUnavailable.dependency(), Some(Dependency::Redis));
        for upload_fault in [
            Code::ObjectNotFound,
            Code::AttachmentBusy,
            Code::InputTooLarge,
            Code::ChecksumMismatch,
        ] {
            assert_eq!(upload_fault.dependency(), None, "{upload_fault}");
        }
    }

    #[test]
    fn limit_and_sandbox_codes_are_security_decisions() {
        for code in [
            Code::TooManyPixels,
            Code::VideoTooLong,
            Code::FrameRateTooHigh,
        ] {
            assert_eq!(code.audit_decision(), Some(Decision::LimitHit), "{code}");
        }
        // The ffmpeg jail's codes count like the wasm sandbox's.
        for code in [
            Code::GuestTimeout,
            Code::SandboxTimeout,
            Code::SandboxViolation,
            Code::SandboxResourceLimit,
        ] {
            assert_eq!(code.audit_decision(), Some(Decision::SandboxKill), "{code}");
        }
        assert_eq!(Code::StorageUnavailable.audit_decision(), None);
        assert_eq!(Code::TranscodeFailed.audit_decision(), None);
    }

    /// The codes in the first column of README.md's "Error codes" table (a row may list
    /// several, and one code may have a row per layer).
    fn readme_codes() -> BTreeSet<String> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
        let readme = std::fs::read_to_string(path).expect("README.md");
        let section = readme
            .split("\n## Error codes\n")
            .nth(1)
            .expect("README.md has an `## Error codes` section");
        let section = section.split("\n## ").next().unwrap_or(section);
        section
            .lines()
            .filter(|l| l.starts_with("| `"))
            .flat_map(|row| {
                let first = row.split('|').nth(1).unwrap_or("");
                first
                    .split('`')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn readme_error_table_lists_exactly_the_codes_that_exist() {
        let documented = readme_codes();
        let defined: BTreeSet<String> = Code::ALL.iter().map(|c| c.as_str().into()).collect();
        let missing: Vec<_> = defined.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&defined).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "README.md's error table is out of date: not listed {missing:?}, not a code {extra:?}"
        );
    }
}
