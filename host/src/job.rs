//! The `attachments.process` job: one upload from storage through the sandboxed pipeline to
//! published variants and a true `attachments` row.
//!
//! Order matters, and every step is safe to repeat:
//! 1. create the `uploaded` row if the API has not (`upsert`), then claim it with a lease, so
//!    two workers never process one upload at once and a crashed worker's claim expires;
//! 2. read the object with a byte cap, and check its size and sha256 against the payload and
//!    the row;
//! 3. run probe → scan → thumbnail in the sandbox;
//! 4. write the variants under deterministic keys (a retry overwrites, never duplicates);
//! 5. only then flip the row to `ready` with its variants JSON, in one conditional statement.
//!
//! A row is the publication: variants exist for readers only once the row says `ready` and
//! lists them. A failure before step 5 leaves the row `uploaded` (retryable) or `failed`
//! (permanent) and removes the variants this attempt wrote.

use crate::db::{Attachment, Claim, Db, DbError, NewAttachment, Ready, ScanFields, VariantRecord};
use crate::error::{Class, ErrorCode};
use crate::pipeline::{self, Pipeline, PipelineError};
use crate::sandbox::VariantSpec;
use crate::storage::{self, Storage, StorageError};
use crate::variant;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// The job name BullMQ producers use.
pub const PROCESS_JOB: &str = "attachments.process";
/// How long a claim holds before another worker may take the upload over: comfortably more
/// than the slowest job (every guest call is capped at 10 s by default, and a job makes three)
/// plus storage round trips, yet short enough that a crashed worker's upload resumes soon.
pub const DEFAULT_CLAIM_LEASE: Duration = Duration::from_secs(5 * 60);

/// The payload the API enqueues: `{ fileKey, mimeType, size, variants: [...], checksum? }`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProcessPayload {
    pub file_key: String,
    pub mime_type: String,
    pub size: u64,
    /// Variant specs (`name:WxH[:format[:quality[:fit]]]`) or names of configured variants;
    /// absent or empty means the configured defaults.
    #[serde(default)]
    pub variants: Vec<String>,
    /// sha256 (hex) the client computed, if the API forwards it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

/// What a finished job returns (the BullMQ job's return value).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub file_key: String,
    pub status: String,
    pub mime: Option<String>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub checksum: Option<String>,
    pub verdict: Option<String>,
    /// ThumbHash (base64) of the displayed image.
    pub placeholder: Option<String>,
    pub variants: Vec<VariantRecord>,
    /// True when this run found the work already done (a duplicate or retried job).
    pub already_done: bool,
}

impl Summary {
    fn from_row(row: &Attachment, already_done: bool) -> Self {
        Summary {
            file_key: row.file_key.clone(),
            status: row.status.as_str().to_string(),
            mime: row.sniffed_mime.clone(),
            width: row.width,
            height: row.height,
            checksum: row.checksum.clone(),
            verdict: row.scan_verdict.clone(),
            placeholder: row.placeholder.clone(),
            variants: row.variants.clone(),
            already_done,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
    #[error("object is {actual} bytes, the payload says {expected}")]
    SizeMismatch { expected: u64, actual: u64 },
    #[error("object sha256 is {actual}, expected {expected}")]
    ChecksumMismatch { expected: String, actual: String },
    #[error("another worker holds the claim on {file_key}")]
    Busy { file_key: String },
    #[error("the claim on {file_key} was lost before publishing")]
    ClaimLost { file_key: String },
    #[error("no attachments row for {file_key}")]
    Missing { file_key: String },
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("pipeline task failed: {0}")]
    Task(String),
}

impl ErrorCode for JobError {
    fn code(&self) -> &'static str {
        match self {
            JobError::InvalidPayload(_) => "invalid-payload",
            JobError::SizeMismatch { .. } => "size-mismatch",
            JobError::ChecksumMismatch { .. } => "checksum-mismatch",
            JobError::Busy { .. } => "attachment-busy",
            JobError::ClaimLost { .. } => "claim-lost",
            JobError::Missing { .. } => "attachment-missing",
            JobError::Pipeline(e) => e.code(),
            JobError::Storage(e) => e.code(),
            JobError::Db(e) => e.code(),
            JobError::Task(_) => "internal-error",
        }
    }

    fn class(&self) -> Class {
        match self {
            JobError::InvalidPayload(_)
            | JobError::SizeMismatch { .. }
            | JobError::ChecksumMismatch { .. }
            | JobError::Missing { .. } => Class::Permanent,
            // Busy and claim-lost resolve themselves: the other worker finishes, and the
            // retry then finds the row done.
            JobError::Busy { .. } | JobError::ClaimLost { .. } | JobError::Task(_) => {
                Class::Retryable
            }
            JobError::Pipeline(e) => e.class(),
            JobError::Storage(e) => e.class(),
            JobError::Db(e) => e.class(),
        }
    }
}

/// Everything a process job needs. Cheap to clone.
#[derive(Clone)]
pub struct Handler {
    pub pipeline: Pipeline,
    pub storage: Arc<dyn Storage>,
    pub db: Db,
    pub default_variants: Arc<Vec<VariantSpec>>,
    pub lease: Duration,
}

impl Handler {
    pub fn new(pipeline: Pipeline, storage: Arc<dyn Storage>, db: Db) -> Self {
        Handler {
            pipeline,
            storage,
            db,
            default_variants: Arc::new(variant::defaults()),
            lease: DEFAULT_CLAIM_LEASE,
        }
    }

    /// Resolves the payload's variants: spec strings, or names of the configured defaults.
    pub fn variants(&self, requested: &[String]) -> Result<Vec<VariantSpec>, JobError> {
        if requested.is_empty() {
            return Ok(self.default_variants.to_vec());
        }
        let resolved: Vec<String> = requested
            .iter()
            .map(
                |r| match self.default_variants.iter().find(|d| &d.name == r) {
                    Some(d) => variant::to_spec_string(d),
                    None => r.clone(),
                },
            )
            .collect();
        variant::parse_all(&resolved).map_err(|e| JobError::InvalidPayload(e.to_string()))
    }

    /// Runs one `attachments.process` job. `Ok` is the job's return value; an `Err`'s class
    /// says whether the queue should retry it.
    #[tracing::instrument(skip_all, fields(file_key = %payload.file_key))]
    pub async fn process(&self, payload: &ProcessPayload) -> Result<Summary, JobError> {
        storage::validate_key(&payload.file_key)
            .map_err(|e| JobError::InvalidPayload(e.to_string()))?;
        let specs = self.variants(&payload.variants)?;
        let checksum = payload.checksum.as_ref().map(|c| c.to_ascii_lowercase());
        if checksum
            .as_ref()
            .is_some_and(|c| c.len() != 64 || !c.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(JobError::InvalidPayload(
                "checksum must be 64 hex digits (sha256)".into(),
            ));
        }
        let size = i64::try_from(payload.size)
            .map_err(|_| JobError::InvalidPayload("size out of range".into()))?;
        self.db
            .upsert_uploaded(&NewAttachment {
                file_key: payload.file_key.clone(),
                mime_type: payload.mime_type.clone(),
                size,
                checksum: checksum.clone(),
            })
            .await?;

        let token = uuid::Uuid::new_v4().to_string();
        let row = match self.db.claim(&payload.file_key, &token, self.lease).await? {
            Claim::Claimed(row) => row,
            Claim::Finished(row) => return Ok(Summary::from_row(&row, true)),
            Claim::Busy(_) => {
                return Err(JobError::Busy {
                    file_key: payload.file_key.clone(),
                })
            }
            Claim::Missing => {
                return Err(JobError::Missing {
                    file_key: payload.file_key.clone(),
                })
            }
        };

        let mut written = Vec::new();
        let result = self
            .run_claimed(
                payload,
                &row,
                &token,
                &specs,
                checksum.as_deref(),
                &mut written,
            )
            .await;
        match result {
            Ok(summary) => Ok(summary),
            Err((err, scan)) => {
                // Nothing half-published: the row never listed these, and a later attempt
                // writes them again under the same keys. If another worker took the upload
                // over and published the same keys meanwhile, they are its now: leave them.
                let taken_over = matches!(
                    self.db.get(&payload.file_key).await,
                    Ok(Some(r)) if r.status == crate::db::Status::Ready
                );
                for key in written.iter().filter(|_| !taken_over) {
                    if let Err(e) = self.storage.delete(key).await {
                        tracing::warn!(key = %key, error = %e, "could not remove an unpublished variant");
                    }
                }
                let (code, message) = (err.code(), err.to_string());
                let settled = match err.class() {
                    Class::Permanent => {
                        self.db
                            .mark_failed(&payload.file_key, &token, code, &message, scan.as_ref())
                            .await
                    }
                    Class::Retryable => {
                        self.db
                            .release(&payload.file_key, &token, code, &message)
                            .await
                    }
                };
                if let Err(e) = settled {
                    // The lease expires on its own; the job's own error is what matters.
                    tracing::warn!(error = %e, "could not record the job's failure on its row");
                }
                Err(err)
            }
        }
    }

    async fn run_claimed(
        &self,
        payload: &ProcessPayload,
        row: &Attachment,
        token: &str,
        specs: &[VariantSpec],
        checksum: Option<&str>,
        written: &mut Vec<String>,
    ) -> Result<Summary, (JobError, Option<ScanFields>)> {
        let plain = |e: JobError| (e, None);
        let max = self.pipeline.limits().max_input_bytes;
        let data = self
            .storage
            .get(&payload.file_key, max)
            .await
            .map_err(|e| plain(e.into()))?;

        let actual_size = data.len() as u64;
        for expected in [payload.size, u64::try_from(row.size).unwrap_or(u64::MAX)] {
            if actual_size != expected {
                return Err(plain(JobError::SizeMismatch {
                    expected,
                    actual: actual_size,
                }));
            }
        }
        let actual_sum = crate::sandbox::hex(&Sha256::digest(&data));
        for expected in [checksum, row.checksum.as_deref()].into_iter().flatten() {
            if !expected.eq_ignore_ascii_case(&actual_sum) {
                return Err(plain(JobError::ChecksumMismatch {
                    expected: expected.to_string(),
                    actual: actual_sum.clone(),
                }));
            }
        }

        let pipeline = self.pipeline.clone();
        let (mime, owned_specs) = (payload.mime_type.clone(), specs.to_vec());
        let outcome = tokio::task::spawn_blocking(move || pipeline.run(&data, &mime, &owned_specs))
            .await
            .map_err(|e| plain(JobError::Task(e.to_string())))?;
        let scan = outcome.scan.as_ref().map(|r| ScanFields {
            verdict: pipeline::verdict_name(r.verdict).to_string(),
            findings: serde_json::Value::Array(
                r.findings
                    .iter()
                    .map(|f| {
                        serde_json::json!({
                            "rule": f.rule,
                            "verdict": pipeline::verdict_name(f.verdict),
                            "detail": f.detail,
                        })
                    })
                    .collect(),
            ),
        });
        let thumbs = match outcome.result {
            Ok(t) => t,
            Err(e) => return Err((e.into(), scan)),
        };
        let probe = outcome.probe.as_ref();
        let swapped = probe.is_some_and(|p| (5..=8).contains(&p.orientation));
        let (w, h) = probe.map_or((0, 0), |p| (p.width, p.height));
        let (width, height) = if swapped { (h, w) } else { (w, h) };

        let mut variants = Vec::with_capacity(thumbs.variants.len());
        for v in thumbs.variants {
            let ext = variant::extension(v.format);
            let key = storage::variant_key(&payload.file_key, &v.name, ext);
            let bytes = v.data.len() as u64;
            self.storage
                .put(&key, v.data.into(), variant::content_type(v.format))
                .await
                .map_err(|e| (e.into(), scan.clone()))?;
            written.push(key.clone());
            variants.push(VariantRecord {
                name: v.name,
                key,
                format: variant::format_name(v.format).to_string(),
                width: v.width,
                height: v.height,
                bytes,
            });
        }
        let ready = Ready {
            sniffed_mime: probe.map(|p| p.mime.clone()).unwrap_or_default(),
            checksum: actual_sum,
            width: width.into(),
            height: height.into(),
            placeholder: thumbs.placeholder,
            variants,
            scan: scan.clone().unwrap_or(ScanFields {
                verdict: "clean".into(),
                findings: serde_json::Value::Array(vec![]),
            }),
        };
        let published = self
            .db
            .publish_ready(&payload.file_key, token, &ready)
            .await
            .map_err(|e| (e.into(), scan.clone()))?;
        if !published {
            // Another worker took the upload over after our lease ran out; it publishes the
            // same keys. Our objects are identical, so leave them.
            written.clear();
            return Err((
                JobError::ClaimLost {
                    file_key: payload.file_key.clone(),
                },
                scan,
            ));
        }
        written.clear();
        let row = self
            .db
            .get(&payload.file_key)
            .await
            .map_err(|e| (e.into(), None))?
            .ok_or_else(|| {
                plain(JobError::Missing {
                    file_key: payload.file_key.clone(),
                })
            })?;
        Ok(Summary::from_row(&row, false))
    }
}
