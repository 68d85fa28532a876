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
//!
//! Security decisions (the antivirus re-check between steps 2 and 3, quarantine, the scanner
//! retry schedule, the audit events) are in [`security`].

mod security;

pub use security::{ScanRetryPayload, QUARANTINE_CODE_VIRUS, WAITING_ON_SCANNER};

use crate::audit::{self, Audit};
use crate::db::{Attachment, Claim, Db, DbError, NewAttachment, Ready, ScanFields, VariantRecord};
use crate::error::{Class, Code, ErrorCode};
use crate::metrics::Metrics;
use crate::pipeline::{self, Pipeline, PipelineError};
use crate::queue::{QueueBackend, QueueError};
use crate::sandbox::VariantSpec;
use crate::storage::{self, Storage, StorageError};
use crate::variant;
use crate::vscan::{self, VscanError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// The job name BullMQ producers use.
pub const PROCESS_JOB: &str = "attachments.process";
/// How long a claim holds before another worker may take the upload over unless renewed (a
/// running job renews it every [`RENEW_FRACTION`]th, so a long video transcode keeps it):
/// comfortably more than the slowest renewal gap plus storage round trips, yet short enough
/// that a crashed worker's upload resumes soon.
pub const DEFAULT_CLAIM_LEASE: Duration = Duration::from_secs(5 * 60);

/// Every key the job may write for `file_key`, refused up front if one would pass
/// [`storage::MAX_KEY_LEN`]: S3 refuses such a key, and a job that only found out when
/// quarantining an infected upload would leave it `failed` under `uploads/` instead of moved
/// away. Checked: the quarantine copy (`quarantine_prefix` + key), each requested variant,
/// and the `video` MP4 (charged whatever the declared type, which a hostile client chooses).
pub fn check_derived_keys(
    file_key: &str,
    specs: &[VariantSpec],
    quarantine_prefix: &str,
) -> Result<(), JobError> {
    let video = storage::variant_key(file_key, pipeline::VIDEO_VARIANT, "mp4");
    // `auto` renders JPEG or PNG: `jpg` and `png` are the same length.
    let variants = specs
        .iter()
        .map(|s| storage::variant_key(file_key, &s.name, variant::extension(s.format)));
    let quarantine = format!("{quarantine_prefix}{file_key}");
    let longest = std::iter::once(quarantine)
        .chain(std::iter::once(video))
        .chain(variants)
        .max_by_key(|k| k.len())
        .unwrap_or_default();
    if longest.len() > storage::MAX_KEY_LEN {
        return Err(JobError::InvalidPayload(format!(
            "file key too long: a key derived from it ({} bytes, {:?}…) passes the store's {} byte limit",
            longest.len(),
            longest.chars().take(40).collect::<String>(),
            storage::MAX_KEY_LEN
        )));
    }
    Ok(())
}

/// The claim is renewed every `lease / RENEW_FRACTION` while the job runs: a third leaves two
/// more renewals before the lease would run out, so one slow or failed renewal (a database
/// blip) does not cost the claim.
pub const RENEW_FRACTION: u32 = 3;
/// Renewals never come closer together than this, whatever the lease: bounds the database
/// writes a very short lease (a test's, a misconfiguration) could cause.
pub const MIN_RENEW_INTERVAL: Duration = Duration::from_millis(100);

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
    /// `scanner` while the upload waits for the virus scanner (an `attachments.vscan.retry`
    /// job is scheduled); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_on: Option<String>,
    /// With `waiting_on`: when the next scanner try runs, from now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_try_in_ms: Option<u64>,
    /// For a quarantined upload: where its original now is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine_key: Option<String>,
}

/// Facts about the queue job running the handler, for the audit log and the scanner retries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobMeta {
    pub job_id: Option<String>,
    /// Scanner tries already made for this upload (0 for a process job; an
    /// `attachments.vscan.retry` job carries its count).
    pub scan_tries: u32,
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
            waiting_on: None,
            next_try_in_ms: None,
            quarantine_key: None,
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
    #[error(transparent)]
    Vscan(#[from] VscanError),
    /// The scanner stayed unavailable through every try: the upload fails closed.
    #[error("virus scanner unavailable after {tries} tries: {message}")]
    ScannerExhausted { tries: u32, message: String },
    /// `ATTACH_SCAN_SUSPICIOUS=fail` and the scan guest called the upload suspicious.
    #[error("scan found the upload suspicious: {rules}")]
    ScanSuspicious { rules: String },
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// A guest ran past its wall-clock deadline starved of CPU (retryable), and the attempt
    /// before had ended the same way: see [`Code::GuestTimeoutRepeated`].
    #[error("{0}; the previous attempt timed out too, so the upload is failed")]
    TimedOutAgain(Box<JobError>),
}

/// A starved deadline hit (`guest-timeout`) on an upload whose previous attempt ended the same
/// way (`previous_code`, the row's error code from that attempt) becomes permanent
/// (`guest-timeout-repeated`). A deadline hit starved of CPU is retryable (the machine was
/// busy), but a hostile upload can make its own calls look starved by arriving many times at
/// once; a second hit for the same upload ends it, so one upload costs at most two deadlines,
/// not one per attempt.
fn escalate_repeated_timeout(err: JobError, previous_code: Option<&str>) -> JobError {
    let previous = previous_code.and_then(|c| c.parse::<Code>().ok());
    if err.error_code() == Code::GuestTimeout && previous == Some(Code::GuestTimeout) {
        JobError::TimedOutAgain(Box::new(err))
    } else {
        err
    }
}

impl ErrorCode for JobError {
    fn error_code(&self) -> Code {
        match self {
            JobError::InvalidPayload(_) => Code::InvalidPayload,
            JobError::SizeMismatch { .. } => Code::SizeMismatch,
            JobError::ChecksumMismatch { .. } => Code::ChecksumMismatch,
            JobError::Busy { .. } => Code::AttachmentBusy,
            JobError::ClaimLost { .. } => Code::ClaimLost,
            JobError::Missing { .. } => Code::AttachmentMissing,
            JobError::Pipeline(e) => e.error_code(),
            JobError::Storage(e) => e.error_code(),
            JobError::Db(e) => e.error_code(),
            JobError::Task(_) => Code::InternalError,
            JobError::Vscan(e) => e.error_code(),
            JobError::ScannerExhausted { .. } => Code::ScannerUnavailable,
            JobError::ScanSuspicious { .. } => Code::ScanSuspicious,
            JobError::Queue(e) => e.error_code(),
            JobError::TimedOutAgain(_) => Code::GuestTimeoutRepeated,
        }
    }

    fn class(&self) -> Class {
        match self {
            JobError::InvalidPayload(_)
            | JobError::SizeMismatch { .. }
            | JobError::ChecksumMismatch { .. }
            | JobError::Missing { .. }
            | JobError::ScannerExhausted { .. }
            | JobError::ScanSuspicious { .. }
            | JobError::TimedOutAgain(_) => Class::Permanent,
            JobError::Vscan(e) => e.class(),
            JobError::Queue(e) => e.class(),
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
    /// The antivirus re-check and what the job does with verdicts (defaults: no scanner,
    /// quarantine on a guest `reject`, publish on `suspicious`).
    pub policy: Arc<vscan::Policy>,
    /// Where scanner retries and quarantine reviews are enqueued. `None` (the CLI): a scanner
    /// outage is a retryable error and no review job is added.
    pub queue: Option<Arc<dyn QueueBackend>>,
    pub metrics: Arc<Metrics>,
    pub audit: Audit,
}

impl Handler {
    pub fn new(pipeline: Pipeline, storage: Arc<dyn Storage>, db: Db) -> Self {
        Handler {
            pipeline,
            storage,
            default_variants: Arc::new(variant::defaults()),
            lease: DEFAULT_CLAIM_LEASE,
            policy: Arc::new(vscan::Policy::default()),
            queue: None,
            metrics: Metrics::new(),
            audit: Audit::new(Some(db.clone())),
            db,
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
    pub async fn process(&self, payload: &ProcessPayload) -> Result<Summary, JobError> {
        self.process_job(payload, &JobMeta::default()).await
    }

    /// [`Handler::process`] for a queue job: its id goes into the audit log, and an
    /// `attachments.vscan.retry` job says how many scanner tries came before it.
    #[tracing::instrument(skip_all, fields(file_key = %payload.file_key, job_id = ?meta.job_id))]
    pub async fn process_job(
        &self,
        payload: &ProcessPayload,
        meta: &JobMeta,
    ) -> Result<Summary, JobError> {
        storage::validate_key(&payload.file_key)
            .map_err(|e| JobError::InvalidPayload(e.to_string()))?;
        let specs = self.variants(&payload.variants)?;
        check_derived_keys(&payload.file_key, &specs, &self.policy.quarantine_key(""))?;
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
            Claim::Finished(row) => return self.finished(row).await,
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
        let result = {
            let work = self.run_claimed(
                payload,
                &row,
                &token,
                &specs,
                checksum.as_deref(),
                meta,
                &mut written,
            );
            tokio::pin!(work);
            // The lease is renewed while the job runs. If renewing finds the claim lost, the
            // job goes on without it: every write that settles the row (publish, fail,
            // release, quarantine) is conditional on the token, so it then changes nothing
            // and the job ends `claim-lost`; stopping it midway instead could delete variants
            // the worker that took over has just written under the same keys.
            tokio::select! {
                r = &mut work => r,
                () = self.keep_claim(&payload.file_key, &token) => work.await,
            }
        };
        match result {
            Ok(summary) => Ok(summary),
            Err((err, scan)) => {
                let err = escalate_repeated_timeout(err, row.error_code.as_deref());
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
                if let Some(decision) = err.error_code().audit_decision() {
                    let event = audit::Event::new(decision, &message).about(
                        &payload.file_key,
                        meta.job_id.as_deref(),
                        checksum.as_deref(),
                    );
                    self.audit
                        .record_best_effort(event.details(serde_json::json!({ "code": code })))
                        .await;
                }
                Err(err)
            }
        }
    }

    /// Renews the claim every [`RENEW_FRACTION`]th of the lease for as long as it is polled;
    /// returns only once the claim is lost. A renewal that fails (the database is briefly
    /// unreachable) is tried again at the next tick: two more chances before the lease ends.
    async fn keep_claim(&self, file_key: &str, token: &str) {
        let every = (self.lease / RENEW_FRACTION).max(MIN_RENEW_INTERVAL);
        loop {
            tokio::time::sleep(every).await;
            match self.db.renew_claim(file_key, token, self.lease).await {
                Ok(true) => tracing::debug!(file_key, "claim renewed"),
                Ok(false) => {
                    tracing::warn!(
                        file_key,
                        "claim lost while the job ran: its result will not be published"
                    );
                    return;
                }
                Err(e) => {
                    tracing::warn!(file_key, error = %e, "could not renew the claim; trying again")
                }
            }
        }
    }

    // One claimed attempt's whole context; bundling it in a struct would only rename it.
    #[allow(clippy::too_many_arguments)]
    async fn run_claimed(
        &self,
        payload: &ProcessPayload,
        row: &Attachment,
        token: &str,
        specs: &[VariantSpec],
        checksum: Option<&str>,
        meta: &JobMeta,
        written: &mut Vec<String>,
    ) -> Result<Summary, (JobError, Option<ScanFields>)> {
        let plain = |e: JobError| (e, None);
        // Videos may be larger than images; the pipeline applies each kind's own limit. Below
        // that, no more than the declared size is read (the store reads one byte beyond to
        // tell a larger object apart): the bytes-in-flight cap counts declared bytes, so a
        // payload declaring 1 byte for a 60 MiB object must not cost a 60 MiB read.
        let max = self.pipeline.max_read_bytes();
        let limit = payload.size.min(max);
        let data = match self.storage.get(&payload.file_key, limit).await {
            Ok(data) => data,
            Err(StorageError::TooLarge { size, .. }) if limit < max => {
                return Err(plain(JobError::SizeMismatch {
                    expected: payload.size,
                    actual: size,
                }))
            }
            Err(e) => return Err(plain(e.into())),
        };

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

        // The antivirus re-check, before any guest parses the bytes: an upload clamd has not
        // called clean is never rendered, written or published.
        let skipped_av = match self
            .antivirus(payload, row, token, &actual_sum, &data, meta)
            .await?
        {
            security::Av::Proceed(skipped) => skipped,
            security::Av::Settled(summary) => return Ok(*summary),
        };

        let pipeline = self.pipeline.clone();
        let (mime, owned_specs) = (payload.mime_type.clone(), specs.to_vec());
        let outcome = tokio::task::spawn_blocking(move || pipeline.run(&data, &mime, &owned_specs))
            .await
            .map_err(|e| plain(JobError::Task(e.to_string())))?;
        let scan = outcome.scan.as_ref().map(|r| ScanFields {
            verdict: r.verdict.name().to_string(),
            findings: serde_json::Value::Array(
                r.findings
                    .iter()
                    .map(|f| {
                        serde_json::json!({
                            "rule": f.rule,
                            "verdict": f.verdict.name(),
                            "detail": f.detail,
                        })
                    })
                    .collect(),
            ),
        });
        let scan = security::with_skipped_av(scan, skipped_av);
        self.audit_guest_verdict(payload, &actual_sum, meta, scan.as_ref())
            .await
            .map_err(|e| (e.into(), scan.clone()))?;
        let thumbs = match outcome.result {
            Ok(t) => t,
            // A `reject` is hostile content: held for review, not just refused.
            Err(PipelineError::ScanRejected { rules }) => {
                let cause = security::Cause::ScanGuest { rules };
                return self
                    .quarantine(payload, token, &actual_sum, meta, cause, scan)
                    .await;
            }
            Err(e) => return Err((e.into(), scan)),
        };
        if let Some(settled) = self
            .apply_suspicious_policy(payload, token, &actual_sum, meta, scan.as_ref())
            .await?
        {
            return Ok(settled);
        }
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
        if let Some(mp4) = outcome.video {
            let key = storage::variant_key(&payload.file_key, pipeline::VIDEO_VARIANT, "mp4");
            let bytes = mp4.data.len() as u64;
            self.storage
                .put(&key, mp4.data.into(), "video/mp4")
                .await
                .map_err(|e| (e.into(), scan.clone()))?;
            written.push(key.clone());
            variants.push(VariantRecord {
                name: pipeline::VIDEO_VARIANT.to_string(),
                key,
                format: "mp4".to_string(),
                width: mp4.width,
                height: mp4.height,
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
        let event = audit::Event::new(
            audit::Decision::Published,
            format!("{} variants published", ready.variants.len()),
        )
        .about(
            &payload.file_key,
            meta.job_id.as_deref(),
            Some(&ready.checksum),
        )
        .details(serde_json::json!({ "verdict": ready.scan.verdict }));
        self.audit
            .record(event)
            .await
            .map_err(|e| (e.into(), scan.clone()))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of_len(n: usize) -> String {
        let mut key = "uploads/".to_string();
        while key.len() < n {
            let room = (n - key.len()).min(200);
            key.push_str(&"k".repeat(room));
            if key.len() < n {
                key.pop();
                key.push('/');
            }
        }
        assert_eq!(key.len(), n);
        key
    }

    #[test]
    fn a_second_starved_deadline_hit_in_a_row_fails_the_upload_for_good() {
        let timeout = || {
            JobError::Pipeline(PipelineError::Sandbox(
                crate::sandbox::SandboxError::Timeout {
                    guest: "thumbnail",
                    deadline_ms: 30_000,
                },
            ))
        };
        let first = escalate_repeated_timeout(timeout(), None);
        assert_eq!(
            (first.error_code(), first.class()),
            (Code::GuestTimeout, Class::Retryable)
        );
        let after_other = escalate_repeated_timeout(timeout(), Some("storage-unavailable"));
        assert_eq!(after_other.class(), Class::Retryable);
        let second = escalate_repeated_timeout(timeout(), Some("guest-timeout"));
        assert_eq!(
            (second.code(), second.class()),
            ("guest-timeout-repeated", Class::Permanent)
        );
        // Only a timeout is escalated.
        let other = escalate_repeated_timeout(
            JobError::Busy {
                file_key: "k".into(),
            },
            Some("guest-timeout"),
        );
        assert_eq!(other.code(), "attachment-busy");
    }

    #[test]
    fn derived_keys_over_1024_bytes_are_refused_whichever_key_it_is() {
        let short = variant::parse_all(&["t:8x8:png".to_string()]).unwrap();
        // Only the quarantine copy is over: a long quarantine prefix.
        let key = key_of_len(900);
        let long_prefix = format!("{}/", "q".repeat(200));
        assert!(check_derived_keys(&key, &short, "quarantine/").is_ok());
        let e = check_derived_keys(&key, &short, &long_prefix).unwrap_err();
        assert_eq!(e.code(), "invalid-payload");
        assert_eq!(e.class(), Class::Permanent);
        // Only the video MP4 is over: `variants/<key>/video.mp4` is the key + 19 bytes,
        // `variants/<key>/t.png` + 15, `quarantine/<key>` + 11.
        let key = key_of_len(1006);
        let e = check_derived_keys(&key, &short, "quarantine/").unwrap_err();
        assert!(e.to_string().contains("1025 bytes"), "{e}");
        assert!(check_derived_keys(&key_of_len(1005), &short, "quarantine/").is_ok());
        // Only a requested variant is over: a long (32-byte) variant name, the key + 46.
        let long_name = variant::parse_all(&[format!("{}:8x8:png", "n".repeat(32))]).unwrap();
        let key = key_of_len(990);
        assert!(check_derived_keys(&key, &short, "quarantine/").is_ok());
        assert!(check_derived_keys(&key, &long_name, "quarantine/").is_err());
    }
}
