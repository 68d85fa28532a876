use crate::sandbox::GuestRef;
use chrono::{DateTime, Utc};
use std::fmt;

/// Where an attachment is in its life. The moves attachd makes:
///
/// - `uploaded` → `processing` ([`claim`](super::Db::claim); also from `failed`, and from
///   `processing` whose lease ran out);
/// - `ready` or `failed` → `processing` ([`claim_reprocess`](super::Db::claim_reprocess)), only
///   for a row whose recorded guests include the release a re-process job names;
/// - `processing` → `ready` | `failed` | `quarantined` (the verdicts) or back to `uploaded`
///   ([`release`](super::Db::release), a retryable error);
/// - `uploaded` → `deleted` ([`claim_orphans`](super::Db::claim_orphans)), then the row is
///   purged.
///
/// The database's trigger enforces the part that matters whoever writes: `quarantined` may only
/// move to `deleted`, `ready` only to `deleted` or to a claimed (leased) `processing`, and
/// `deleted` never moves.
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

    /// True for the statuses a process job has nothing left to do for (`ready`, `quarantined`,
    /// `deleted`): only a re-process job may take a `ready` row again.
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
    /// The guest releases that last ran the upload's steps; `None` if they never ran for it
    /// (or the row is older than the column).
    pub guests: Option<Vec<GuestRef>>,
}

/// Fewest hex digits of a guest release's sha256 that name it: 48 bits, so that among the few
/// releases ever deployed two never share a prefix by chance, yet short enough to type.
pub const MIN_GUEST_DIGEST_LEN: usize = 12;
/// A whole sha256 in hex.
pub const MAX_GUEST_DIGEST_LEN: usize = 64;

/// A guest release named by its sha256 or a prefix of it: [`MIN_GUEST_DIGEST_LEN`] to
/// [`MAX_GUEST_DIGEST_LEN`] lowercase hex digits. Only such text reaches a statement's LIKE
/// pattern, so the pattern holds no wildcard but its trailing `%`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GuestDigest(String);

impl GuestDigest {
    /// Refuses anything but 12 to 64 lowercase hex digits, saying why.
    pub fn parse(s: &str) -> Result<GuestDigest, String> {
        if !(MIN_GUEST_DIGEST_LEN..=MAX_GUEST_DIGEST_LEN).contains(&s.len()) {
            return Err(format!(
                "a guest digest is {MIN_GUEST_DIGEST_LEN} to {MAX_GUEST_DIGEST_LEN} hex digits \
                 of a guest release's sha256, not {} characters",
                s.len()
            ));
        }
        if !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err("a guest digest is lowercase hex digits (0-9, a-f) only".into());
        }
        Ok(GuestDigest(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The LIKE pattern matching a sha256 that starts with this digest.
    pub(super) fn like_pattern(&self) -> String {
        format!("{}%", self.0)
    }

    /// The first of `guests` whose sha256 starts with this digest.
    pub fn find<'g>(&self, guests: &'g [GuestRef]) -> Option<&'g GuestRef> {
        guests.iter().find(|g| g.sha256.starts_with(&self.0))
    }

    /// Whether the row's recorded guests include a release with this digest.
    pub fn touched(&self, row: &Attachment) -> bool {
        row.guests
            .as_deref()
            .is_some_and(|guests| self.find(guests).is_some())
    }
}

impl fmt::Display for GuestDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for GuestDigest {
    type Err = String;

    fn from_str(s: &str) -> Result<GuestDigest, String> {
        GuestDigest::parse(s)
    }
}

/// How bad a scan found an upload, as stored in `scan_verdict` and in each finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanVerdict {
    Clean,
    /// Published by default (`ATTACH_SCAN_SUSPICIOUS`), with the findings on the row.
    Suspicious,
    /// Hostile content: the upload is quarantined.
    Reject,
}

impl ScanVerdict {
    pub const ALL: [ScanVerdict; 3] = [
        ScanVerdict::Clean,
        ScanVerdict::Suspicious,
        ScanVerdict::Reject,
    ];

    /// The value stored in the `scan_verdict` column and a finding's `verdict`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ScanVerdict::Clean => "clean",
            ScanVerdict::Suspicious => "suspicious",
            ScanVerdict::Reject => "reject",
        }
    }

    pub fn parse(s: &str) -> Option<ScanVerdict> {
        ScanVerdict::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for ScanVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule that fired, as stored in the row's `scan_findings` JSON array.
///
/// The fields are in alphabetical order on purpose: the findings used to be built as
/// `serde_json` objects, which serialize their keys sorted, and SQLite stores the JSON text as
/// written; this order keeps the stored text byte for byte what it was.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Finding {
    pub detail: String,
    /// The antivirus engine that reported `signature` (`clamd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// A stable rule name: a scan guest rule (`mime-mismatch`, `svg-script`, …),
    /// `antivirus`, or `antivirus-skipped`.
    pub rule: String,
    /// The antivirus signature, as the engine names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    pub verdict: ScanVerdict,
}

impl Finding {
    /// A finding with no antivirus signature (a guest rule, or a note the job adds).
    pub fn new(rule: impl Into<String>, verdict: ScanVerdict, detail: impl Into<String>) -> Self {
        Finding {
            detail: detail.into(),
            engine: None,
            rule: rule.into(),
            signature: None,
            verdict,
        }
    }
}

/// The scan's verdict and findings as stored on the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanFields {
    pub verdict: ScanVerdict,
    pub findings: Vec<Finding>,
}

impl ScanFields {
    /// No scan said anything: what a row published without a guest scan records.
    pub fn clean() -> Self {
        ScanFields {
            verdict: ScanVerdict::Clean,
            findings: vec![],
        }
    }

    /// The rules of the findings with `verdict`, comma-separated.
    pub fn rules_with(&self, verdict: ScanVerdict) -> String {
        self.findings
            .iter()
            .filter(|f| f.verdict == verdict)
            .map(|f| f.rule.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
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
    /// The guest releases that ran the upload's steps.
    pub guests: Vec<GuestRef>,
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
    /// A re-process claim took a `ready` or `failed` row that the named guest release had
    /// processed (the row as it is after the claim: `processing`, still listing its variants
    /// and guests).
    Reopened(Attachment),
    /// A re-process claim found a `ready` or `failed` row that the named guest release did not
    /// process (the last run was by other releases): nothing to do.
    NotTouched(Attachment),
    /// No row for this key.
    Missing,
}
