use chrono::{DateTime, Utc};
use std::fmt;

/// Where an attachment is in its life. The moves attachd makes:
///
/// - `uploaded` → `processing` ([`claim`](super::Db::claim); also from `failed`, and from
///   `processing` whose lease ran out);
/// - `processing` → `ready` | `failed` | `quarantined` (the verdicts) or back to `uploaded`
///   ([`release`](super::Db::release), a retryable error);
/// - `uploaded` → `deleted` ([`claim_orphans`](super::Db::claim_orphans)), then the row is
///   purged.
///
/// The database's trigger enforces the part that matters whoever writes: `ready` and
/// `quarantined` may only move to `deleted`, and `deleted` never moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Uploaded,
    Processing,
    Ready,
    Failed,
    Quarantined,
    Deleted,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Uploaded,
        Status::Processing,
        Status::Ready,
        Status::Failed,
        Status::Quarantined,
        Status::Deleted,
    ];

    /// The value stored in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Uploaded => "uploaded",
            Status::Processing => "processing",
            Status::Ready => "ready",
            Status::Failed => "failed",
            Status::Quarantined => "quarantined",
            Status::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// True for the statuses a job has nothing left to do for (`ready`, `quarantined`,
    /// `deleted`): the database refuses to move them anywhere but `deleted`.
    pub fn is_finished(self) -> bool {
        matches!(self, Status::Ready | Status::Quarantined | Status::Deleted)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rendered variant as stored in the row's `variants` JSON array.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct VariantRecord {
    pub name: String,
    /// Storage key of the variant's object.
    pub key: String,
    pub format: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
}

/// What the upload-complete step knows about a new upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttachment {
    pub file_key: String,
    /// As declared by the uploader; not trusted.
    pub mime_type: String,
    pub size: i64,
    /// sha256 hex, if the uploader sent one.
    pub checksum: Option<String>,
}

/// One `attachments` row.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Attachment {
    pub id: i64,
    pub file_key: String,
    pub mime_type: String,
    pub sniffed_mime: Option<String>,
    pub size: i64,
    pub checksum: Option<String>,
    pub status: Status,
    pub variants: Vec<VariantRecord>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    /// ThumbHash (base64) of the displayed image, for clients to show while loading.
    pub placeholder: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// Claims taken so far, takeovers included.
    pub attempts: i64,
    pub scan_verdict: Option<String>,
    pub scan_findings: Option<serde_json::Value>,
    /// While `processing`: when the current claim's lease runs out (so a `Busy` caller knows
    /// when a takeover becomes possible). `None` in every other status.
    pub claimed_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the row got its verdict (ready, failed or quarantined).
    pub processed_at: Option<DateTime<Utc>>,
}

/// The scanner's verdict as stored on the row.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanFields {
    pub verdict: String,
    pub findings: serde_json::Value,
}

/// Everything `publish_ready` writes, in one statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Ready {
    pub sniffed_mime: String,
    pub checksum: String,
    pub width: i64,
    pub height: i64,
    pub placeholder: String,
    pub variants: Vec<VariantRecord>,
    pub scan: ScanFields,
}

/// The outcome of [`Db::claim`](super::Db::claim).
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The row is ours until the lease runs out (the row as it is after the claim).
    Claimed(Attachment),
    /// Another worker holds a live lease; try again after `claimed_until`.
    Busy(Attachment),
    /// `ready`, `quarantined` or `deleted`: nothing to do (a duplicate or late job).
    Finished(Attachment),
    /// No row for this key.
    Missing,
}
