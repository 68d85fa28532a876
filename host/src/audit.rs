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

/// What was decided: defined next to the error codes that stand for some decisions
/// ([`crate::error::Code::audit_decision`]).
pub use crate::error::Decision;

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

/// The event on the tracing target at `$level`: a tracing level is fixed per call site, so
/// [`emit`] needs one call site per level, and this keeps their fields the same.
macro_rules! emit_at {
    ($level:ident, $e:expr, $details:expr) => {
        tracing::$level!(
            target: TARGET,
            decision = $e.decision.as_str(),
            reason = %$e.reason,
            job_id = $e.job_id.as_deref(),
            file_key = $e.file_key.as_deref(),
            checksum = $e.checksum.as_deref(),
            details = %$details,
        )
    };
}

/// The event on the tracing target: stopping or weakening decisions as warnings.
fn emit(e: &Event) {
    let details = e.details.to_string();
    if e.decision.is_warning() {
        emit_at!(warn, e, details);
    } else {
        emit_at!(info, e, details);
    }
}
