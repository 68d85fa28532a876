//! The audit log: every security decision attachd makes, as a structured event with the job
//! id, file key, checksum, decision and reason. Each event goes two ways:
//!
//! - the tracing target [`TARGET`] (`attachd::audit`), which `attachd` writes as one JSON object
//!   per line (to stderr, or to the file `ATTACH_AUDIT_LOG` names) whatever the log level, for a
//!   log shipper to carry off the machine;
//! - the append-only `attachment_events` table, for the history of an upload next to its row.
//!
//! The job records a decision's event before it acts on it (before the row says `quarantined`
//! or `ready`), and an event that cannot be stored fails the job retryably: no verdict is
//! published without its event. The reverse is not promised: a job that stops after the event
//! and before its row change leaves an event whose retry records another.

use crate::db::{Db, DbError, NewEvent, ScanVerdict};

/// The tracing target of audit events. `main` routes it to the JSON audit stream only.
pub const TARGET: &str = "attachd::audit";

/// What was decided. The names are stable (stored, and matched by alert rules).
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
    /// A size, pixel, frame or output limit stopped the upload.
    LimitHit,
    /// The sandbox stopped a guest (deadline, memory, stack).
    SandboxKill,
    /// A setting that makes attachd less strict than its defaults (logged at start).
    ConfigWeakened,
}

impl Decision {
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
            Decision::LimitHit => "limit-hit",
            Decision::SandboxKill => "sandbox-kill",
            Decision::ConfigWeakened => "config-weakened",
        }
    }

    /// Decisions that stop or weaken something are warnings; the rest are information.
    fn is_warning(self) -> bool {
        !matches!(
            self,
            Decision::VscanClean | Decision::ScanClean | Decision::Published
        )
    }
}

/// One audit event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub decision: Decision,
    pub reason: String,
    pub file_key: Option<String>,
    pub job_id: Option<String>,
    pub checksum: Option<String>,
    /// A JSON object of decision-specific facts (signature, quarantine key, tries, …).
    pub details: serde_json::Value,
}

impl Event {
    pub fn new(decision: Decision, reason: impl Into<String>) -> Self {
        Event {
            decision,
            reason: reason.into(),
            file_key: None,
            job_id: None,
            checksum: None,
            details: serde_json::json!({}),
        }
    }

    pub fn about(mut self, file_key: &str, job_id: Option<&str>, checksum: Option<&str>) -> Self {
        self.file_key = Some(file_key.to_string());
        self.job_id = job_id.map(str::to_string);
        self.checksum = checksum.map(str::to_string);
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// Where events go. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Audit {
    /// `None`: the tracing stream only (the CLI on local files, which has no database).
    db: Option<Db>,
}

impl Audit {
    pub fn new(db: Option<Db>) -> Self {
        Audit { db }
    }

    /// Emits the event on the audit stream, then appends it to `attachment_events`. The
    /// stream always gets it; an error means the table did not.
    pub async fn record(&self, event: Event) -> Result<(), DbError> {
        emit(&event);
        let Some(db) = &self.db else {
            return Ok(());
        };
        db.record_event(&NewEvent {
            file_key: event.file_key,
            job_id: event.job_id,
            checksum: event.checksum,
            decision: event.decision.as_str().to_string(),
            reason: event.reason,
            details: event.details,
        })
        .await
        .map(drop)
    }

    /// [`Audit::record`] for events that follow a decision already taken (a limit hit on a
    /// job that is failing anyway): a table that cannot take it is logged, not fatal.
    pub async fn record_best_effort(&self, event: Event) {
        let decision = event.decision.as_str();
        if let Err(e) = self.record(event).await {
            tracing::warn!(decision, error = %e, "could not store an audit event (it was logged)");
        }
    }
}

/// The event that records a scan guest's verdict.
impl From<ScanVerdict> for Decision {
    fn from(verdict: ScanVerdict) -> Decision {
        match verdict {
            ScanVerdict::Clean => Decision::ScanClean,
            ScanVerdict::Suspicious => Decision::ScanSuspicious,
            ScanVerdict::Reject => Decision::ScanReject,
        }
    }
}

/// The event on the tracing target. Two call sites because a tracing level is fixed per call
/// site.
fn emit(e: &Event) {
    let details = e.details.to_string();
    if e.decision.is_warning() {
        tracing::warn!(
            target: TARGET,
            decision = e.decision.as_str(),
            reason = %e.reason,
            job_id = e.job_id.as_deref(),
            file_key = e.file_key.as_deref(),
            checksum = e.checksum.as_deref(),
            details = %details,
        );
    } else {
        tracing::info!(
            target: TARGET,
            decision = e.decision.as_str(),
            reason = %e.reason,
            job_id = e.job_id.as_deref(),
            file_key = e.file_key.as_deref(),
            checksum = e.checksum.as_deref(),
            details = %details,
        );
    }
}

/// The audit decision a job failure's code stands for, if it is a security decision.
pub fn decision_for_code(code: &str) -> Option<Decision> {
    match code {
        "input-too-large"
        | "too-many-pixels"
        | "too-many-frames"
        | "frame-area-too-large"
        | "output-too-large"
        | "structure-too-complex"
        | "video-too-long"
        | "frame-rate-too-high" => Some(Decision::LimitHit),
        // The wasm sandbox stopping a guest (or refusing what it returned), and the ffmpeg
        // sandbox killing or stopping ffmpeg: a timeout, a forbidden call, an rlimit, a lie.
        "guest-timeout"
        | "guest-fuel-exhausted"
        | "guest-cpu-exhausted"
        | "guest-timeout-repeated"
        | "guest-forbidden-call"
        | "guest-output-invalid"
        | "guest-memory-limit"
        | "guest-stack-overflow"
        | "sandbox-timeout"
        | "sandbox-violation"
        | "sandbox-resource-limit" => Some(Decision::SandboxKill),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_names_are_kebab_case_and_distinct() {
        let all = [
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
            Decision::LimitHit,
            Decision::SandboxKill,
            Decision::ConfigWeakened,
        ];
        let names: std::collections::HashSet<&str> = all.iter().map(|d| d.as_str()).collect();
        assert_eq!(names.len(), all.len());
        for n in names {
            assert!(
                n.split('-')
                    .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase())),
                "{n}"
            );
        }
    }

    #[test]
    fn limit_and_sandbox_codes_are_security_decisions() {
        assert_eq!(
            decision_for_code("too-many-pixels"),
            Some(Decision::LimitHit)
        );
        assert_eq!(
            decision_for_code("guest-timeout"),
            Some(Decision::SandboxKill)
        );
        // The ffmpeg sandbox's codes count like the wasm sandbox's.
        for code in [
            "sandbox-timeout",
            "sandbox-violation",
            "sandbox-resource-limit",
        ] {
            assert_eq!(
                decision_for_code(code),
                Some(Decision::SandboxKill),
                "{code}"
            );
        }
        for code in ["video-too-long", "frame-rate-too-high"] {
            assert_eq!(decision_for_code(code), Some(Decision::LimitHit), "{code}");
        }
        assert_eq!(decision_for_code("storage-unavailable"), None);
        assert_eq!(decision_for_code("transcode-failed"), None);
    }
}
