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
//! One claimed attempt is an [`Attempt`]: what the job knows and has done so far, which the
//! failure path reads to undo and record. The security decisions between steps 2 and 5 (the
//! antivirus re-check, the scan guest's verdict by policy) come from [`Antivirus`] as values,
//! and the job carries them out: a quarantine ([`quarantine`]), a wait for the scanner (an
//! `attachments.vscan.retry` job), or a failure.

mod quarantine;

use crate::audit::{self, Audit};
use crate::db::{
    Attachment, Claim, Db, DbError, Finding, GuestDigest, NewAttachment, Ready, ScanFields,
    ScanVerdict, Status, VariantRecord,
};
use crate::error::{Class, Code, ErrorCode};
use crate::metrics::Metrics;
use crate::pipeline::{Outcome, Pipeline, PipelineError};
use crate::queue::{Enqueue, EnqueueOptions, QueueError, QueueName};
use crate::sandbox::{self, GuestRef, VariantSpec};
use crate::storage::{self, Storage, StorageError};
use crate::variant::{self, VariantFile};
use crate::vscan::{self, Antivirus, Cause, Decision, Refusal, Stop, Subject, VscanError, Wait};
use quarantine::Quarantine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// A summary's `waitingOn` while the upload waits for the scanner.
pub const WAITING_ON_SCANNER: &str = "scanner";
/// How long a claim holds before another worker may take the upload over unless renewed (a
/// running job renews it every [`RENEW_FRACTION`]th, so a long video transcode keeps it):
/// the queue's default lock duration ([`crate::worker::DEFAULT_LOCK_DURATION`]; the worker's
/// claim follows its lock unless `ATTACH_CLAIM_LEASE` says otherwise). A job is taken over
/// from a dead worker once its lock lapses; with a longer claim that job would find the
/// upload still held by the dead worker and spend its attempts on `attachment-busy` (a 5 min
/// claim outlasted the default 5 attempts, 30 s of backoff, so a worker killed mid-job
/// failed its upload). Renewed every 10 s, it still rides out two failed renewals (a
/// database restart) without losing the claim.
pub const DEFAULT_CLAIM_LEASE: Duration = Duration::from_secs(30);

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
    let video = storage::variant_key(file_key, crate::pipeline::VIDEO_VARIANT, "mp4");
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
    /// A re-process job (`attachd requeue --guest-digest`): the sha256 (or a 12+ digit prefix)
    /// of the guest release it re-processes for. Such a job may re-open a `ready` or `failed`
    /// row, but only one whose recorded guests include that release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reprocess_guest_digest: Option<String>,
}

/// What a finished job returns (the BullMQ job's return value).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub file_key: String,
    pub status: Status,
    pub mime: Option<String>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub checksum: Option<String>,
    /// The row's `scan_verdict` as stored (a [`ScanVerdict`] name when attachd wrote it).
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
    /// The guest releases (`name`, `version`, `sha256`) that last ran the upload's steps, as
    /// the row records them; empty if they never ran for it.
    #[serde(default)]
    pub guests: Vec<GuestRef>,
}

/// The payload of an `attachments.vscan.retry` job: the upload's process payload and how many
/// scanner tries came before.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScanRetryPayload {
    #[serde(flatten)]
    pub upload: ProcessPayload,
    #[serde(default)]
    pub scan_tries: u32,
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
            status: row.status,
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
            guests: row.guests.clone().unwrap_or_default(),
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

impl From<Refusal> for JobError {
    fn from(refusal: Refusal) -> JobError {
        match refusal {
            Refusal::Scanner(e) => JobError::Vscan(e),
            Refusal::Exhausted { tries, message } => JobError::ScannerExhausted { tries, message },
            Refusal::Suspicious { rules } => JobError::ScanSuspicious { rules },
        }
    }
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

/// Everything a [`Handler`] works with, built by its caller (the worker, `process --store`, a
/// test) and handed over whole: the handler creates none of it.
pub struct HandlerDeps {
    pub pipeline: Pipeline,
    pub storage: Arc<dyn Storage>,
    pub db: Db,
    /// What a payload that names no variants gets (usually [`variant::defaults`]).
    pub default_variants: Vec<VariantSpec>,
    /// How long a claim holds unless renewed (usually [`DEFAULT_CLAIM_LEASE`]).
    pub lease: Duration,
    /// The antivirus re-check and what the job does with verdicts.
    pub policy: Arc<vscan::Policy>,
    /// Where scanner retries and quarantine reviews are enqueued. `None` (the CLI): a scanner
    /// outage is a retryable error and no review job is added.
    pub queue: Option<Arc<dyn Enqueue>>,
    pub metrics: Arc<Metrics>,
    pub audit: Audit,
}

/// Runs process jobs. Cheap to clone.
#[derive(Clone)]
pub struct Handler {
    pipeline: Pipeline,
    storage: Arc<dyn Storage>,
    db: Db,
    default_variants: Arc<Vec<VariantSpec>>,
    lease: Duration,
    queue: Option<Arc<dyn Enqueue>>,
    metrics: Arc<Metrics>,
    audit: Audit,
    antivirus: Antivirus,
    quarantine: Quarantine,
}

impl Handler {
    pub fn new(deps: HandlerDeps) -> Self {
        let HandlerDeps {
            pipeline,
            storage,
            db,
            default_variants,
            lease,
            policy,
            queue,
            metrics,
            audit,
        } = deps;
        Handler {
            antivirus: Antivirus::new(policy.clone(), metrics.clone(), audit.clone()),
            quarantine: Quarantine {
                storage: storage.clone(),
                db: db.clone(),
                queue: queue.clone(),
                metrics: metrics.clone(),
                audit: audit.clone(),
                policy,
            },
            pipeline,
            storage,
            db,
            default_variants: Arc::new(default_variants),
            lease,
            queue,
            metrics,
            audit,
        }
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
        let CheckedPayload {
            specs,
            declared_checksum,
            reprocess,
        } = check_payload(payload, &self.default_variants, &self.quarantine.key(""))?;
        let size = i64::try_from(payload.size)
            .map_err(|_| JobError::InvalidPayload("size out of range".into()))?;
        self.db
            .upsert_uploaded(&NewAttachment {
                file_key: payload.file_key.clone(),
                mime_type: payload.mime_type.clone(),
                size,
                checksum: declared_checksum.clone(),
            })
            .await?;

        let token = uuid::Uuid::new_v4().to_string();
        let claim = match &reprocess {
            None => self.db.claim(&payload.file_key, &token, self.lease).await?,
            Some(digest) => {
                self.db
                    .claim_reprocess(&payload.file_key, &token, self.lease, digest)
                    .await?
            }
        };
        let (row, reopened) = match claim {
            Claim::Claimed(row) => (row, false),
            Claim::Reopened(row) => (row, true),
            Claim::Finished(row) => return self.finished(row).await,
            Claim::NotTouched(row) => {
                tracing::info!(file_key = %row.file_key, status = %row.status,
                    "re-process job for a row the named guest release did not process: nothing to do");
                return Ok(Summary::from_row(&row, true));
            }
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
        let mut attempt = Attempt {
            payload,
            meta,
            specs,
            declared_checksum,
            row,
            token,
            sha256: None,
            scan: None,
            guests: None,
            written: Vec::new(),
        };
        if let (true, Some(digest)) = (reopened, &reprocess) {
            if let Err(err) = self.audit_reopened(&attempt, digest).await {
                return Err(self.fail(&mut attempt, err).await);
            }
        }
        match self.run_keeping_claim(&mut attempt).await {
            Ok(summary) => Ok(summary),
            Err(err) => Err(self.fail(&mut attempt, err).await),
        }
    }

    /// Records that a re-process job re-opened the row, and for which release, before anything
    /// else happens to it.
    async fn audit_reopened(&self, a: &Attempt<'_>, digest: &GuestDigest) -> Result<(), JobError> {
        // The claim re-opened the row for having this release among its guests.
        let release = digest.find(a.row.guests.as_deref().unwrap_or_default());
        let reason = match &release {
            Some(g) => format!(
                "re-processed because guest {} {} (sha256 {}) processed it",
                g.name, g.version, g.sha256
            ),
            None => format!("re-processed because of guest digest {digest}"),
        };
        let event = audit::Event::new(audit::Decision::Reprocessed, reason)
            .about(
                &a.payload.file_key,
                a.meta.job_id.as_deref(),
                a.row.checksum.as_deref(),
            )
            .details(serde_json::json!({
                "guestDigest": digest.as_str(),
                "guest": release,
                "previousGuests": a.row.guests,
                "previousVariants": a.row.variants.len(),
            }));
        self.audit.record(event).await?;
        Ok(())
    }

    /// A job that finds its row finished: a quarantined row gets its quarantine completed (a
    /// crash may have stopped the first job between the row and the moves).
    async fn finished(&self, row: Attachment) -> Result<Summary, JobError> {
        let mut summary = Summary::from_row(&row, true);
        if row.status == Status::Quarantined {
            self.quarantine.settle(&row).await?;
            summary.quarantine_key = Some(self.quarantine.key(&row.file_key));
        }
        Ok(summary)
    }

    /// [`Handler::run`] while renewing the claim. If renewing finds the claim lost, the job
    /// goes on without it: every write that settles the row (publish, fail, release,
    /// quarantine) is conditional on the token, so it then changes nothing and the job ends
    /// `claim-lost`; stopping it midway instead could delete variants the worker that took
    /// over has just written under the same keys.
    async fn run_keeping_claim(&self, attempt: &mut Attempt<'_>) -> Result<Summary, JobError> {
        let (file_key, token) = (attempt.payload.file_key.clone(), attempt.token.clone());
        let work = self.run(attempt);
        tokio::pin!(work);
        tokio::select! {
            r = &mut work => r,
            () = self.keep_claim(&file_key, &token) => work.await,
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

    /// Steps 2 to 5 on the claimed row.
    async fn run(&self, a: &mut Attempt<'_>) -> Result<Summary, JobError> {
        let data = self.read_checked(a).await?;
        // The antivirus re-check, before any guest parses the bytes: an upload clamd has not
        // called clean is never rendered, written or published.
        let check = self
            .antivirus
            .check(&a.subject(), &data, a.meta.scan_tries, self.queue.is_some())
            .await?;
        let skipped = match check {
            Decision::Proceed { skipped } => skipped,
            Decision::Stop(stop) => return self.stop(a, stop).await,
        };

        let outcome = self.render(a, data).await?;
        // From here the row records the releases that ran, whatever the ending: they are
        // what a bad release is traced by (a hot swap may have changed them since the last
        // job, so they come from this run's outcome and nowhere else).
        a.guests = Some(outcome.guests.clone());
        a.scan = vscan::with_skipped(outcome.scan.as_ref().map(scan_fields), skipped);
        self.antivirus
            .audit_guest_verdict(&a.subject(), a.scan.as_ref())
            .await?;
        let thumbs = match outcome.result {
            Ok(thumbs) => thumbs,
            // A `reject` is hostile content: held for review, not just refused.
            Err(PipelineError::ScanRejected { rules }) => {
                return self.quarantine(a, Cause::ScanGuest { rules }).await
            }
            Err(e) => return Err(e.into()),
        };
        if let Decision::Stop(stop) = self.antivirus.judge_guest_scan(a.scan.as_ref()) {
            return self.stop(a, stop).await;
        }
        let variants = self
            .write_variants(a, variant::files(thumbs.variants, outcome.video))
            .await?;
        self.remove_superseded(a, &variants).await?;
        let probe = outcome.probe.as_ref();
        // Orientations 5..=8 swap the axes of the displayed image.
        let swapped = probe.is_some_and(|p| (5..=8).contains(&p.orientation));
        let (w, h) = probe.map_or((0, 0), |p| (p.width, p.height));
        let (width, height) = if swapped { (h, w) } else { (w, h) };
        let ready = Ready {
            sniffed_mime: probe.map(|p| p.mime.clone()).unwrap_or_default(),
            checksum: a.sha256.clone().unwrap_or_default(),
            width: width.into(),
            height: height.into(),
            placeholder: thumbs.placeholder,
            variants,
            scan: a.scan.clone().unwrap_or_else(ScanFields::clean),
            guests: outcome.guests,
        };
        self.publish(a, &ready).await
    }

    /// A re-opened row's old variants that this run did not write again (the configured
    /// variants changed since): removed before the row is published, while it is not `ready`,
    /// so that the `ready` row lists exactly the variants in storage.
    async fn remove_superseded(
        &self,
        a: &Attempt<'_>,
        variants: &[VariantRecord],
    ) -> Result<(), JobError> {
        for old in &a.row.variants {
            if !variants.iter().any(|v| v.key == old.key) {
                self.storage.delete(&old.key).await?;
            }
        }
        Ok(())
    }

    /// Step 2: the object, read with a byte cap, must be the size and sha256 the payload and
    /// the row say. Records the sha256 on the attempt.
    async fn read_checked(&self, a: &mut Attempt<'_>) -> Result<Vec<u8>, JobError> {
        let payload = a.payload;
        // Videos may be larger than images; the pipeline applies each kind's own limit. Below
        // that, no more than the declared size is read (the store reads one byte beyond to
        // tell a larger object apart): the bytes-in-flight cap counts declared bytes, so a
        // payload declaring 1 byte for a 60 MiB object must not cost a 60 MiB read.
        let max = self.pipeline.max_read_bytes();
        let limit = payload.size.min(max);
        let data = match self.storage.get(&payload.file_key, limit).await {
            Ok(data) => data,
            Err(StorageError::TooLarge { size, .. }) if limit < max => {
                return Err(JobError::SizeMismatch {
                    expected: payload.size,
                    actual: size,
                })
            }
            Err(e) => return Err(e.into()),
        };
        let actual_size = data.len() as u64;
        for expected in [payload.size, u64::try_from(a.row.size).unwrap_or(u64::MAX)] {
            if actual_size != expected {
                return Err(JobError::SizeMismatch {
                    expected,
                    actual: actual_size,
                });
            }
        }
        let actual_sum = sandbox::hex(&Sha256::digest(&data));
        let declared = [a.declared_checksum.as_deref(), a.row.checksum.as_deref()];
        for expected in declared.into_iter().flatten() {
            if !expected.eq_ignore_ascii_case(&actual_sum) {
                return Err(JobError::ChecksumMismatch {
                    expected: expected.to_string(),
                    actual: actual_sum.clone(),
                });
            }
        }
        a.sha256 = Some(actual_sum);
        Ok(data)
    }

    /// Step 3: probe → scan → thumbnail in the sandbox, off the async threads.
    async fn render(&self, a: &Attempt<'_>, data: Vec<u8>) -> Result<Outcome, JobError> {
        let pipeline = self.pipeline.clone();
        let (mime, specs) = (a.payload.mime_type.clone(), a.specs.clone());
        tokio::task::spawn_blocking(move || pipeline.run(&data, &mime, &specs))
            .await
            .map_err(|e| JobError::Task(e.to_string()))
    }

    /// Step 4: every variant under its deterministic key, each recorded on the attempt as
    /// soon as it is written (a failure removes them).
    async fn write_variants(
        &self,
        a: &mut Attempt<'_>,
        files: Vec<VariantFile>,
    ) -> Result<Vec<VariantRecord>, JobError> {
        let mut variants = Vec::with_capacity(files.len());
        for file in files {
            let key = storage::variant_key(&a.payload.file_key, &file.name, file.extension);
            let bytes = file.bytes();
            self.storage
                .put(&key, file.data.into(), file.content_type)
                .await?;
            a.written.push(key.clone());
            variants.push(VariantRecord {
                name: file.name,
                key,
                format: file.format.to_string(),
                width: file.width,
                height: file.height,
                bytes,
            });
        }
        Ok(variants)
    }

    /// Step 5: the row goes `ready` with its variants, after the decision is audited.
    async fn publish(&self, a: &mut Attempt<'_>, ready: &Ready) -> Result<Summary, JobError> {
        let key = &a.payload.file_key;
        let event = audit::Event::new(
            audit::Decision::Published,
            format!("{} variants published", ready.variants.len()),
        )
        .about(key, a.meta.job_id.as_deref(), Some(&ready.checksum))
        .details(serde_json::json!({ "verdict": ready.scan.verdict, "guests": ready.guests }));
        self.audit.record(event).await?;
        let published = self.db.publish_ready(key, &a.token, ready).await?;
        // Published, or another worker took the upload over after our lease ran out and
        // publishes the same keys: our objects are identical, so leave them either way.
        a.written.clear();
        if !published {
            return Err(JobError::ClaimLost {
                file_key: key.clone(),
            });
        }
        let row = self.db.get(key).await?.ok_or_else(|| JobError::Missing {
            file_key: key.clone(),
        })?;
        Ok(Summary::from_row(&row, false))
    }

    /// Carries out a decision that stops the upload short of publication.
    async fn stop(&self, a: &mut Attempt<'_>, stop: Stop) -> Result<Summary, JobError> {
        match stop {
            Stop::Quarantine(cause) => self.quarantine(a, cause).await,
            Stop::WaitForScanner(wait) => self.wait_for_scanner(a, wait).await,
            Stop::Fail(refusal) => Err(refusal.into()),
        }
    }

    /// Moves the upload to quarantine; the summary says where its original now is.
    async fn quarantine(&self, a: &mut Attempt<'_>, cause: Cause) -> Result<Summary, JobError> {
        let row = self
            .quarantine
            .apply(
                &a.subject(),
                &a.token,
                &cause,
                a.scan.clone(),
                a.guests.as_deref(),
            )
            .await?;
        let mut summary = Summary::from_row(&row, false);
        summary.quarantine_key = Some(self.quarantine.key(&row.file_key));
        Ok(summary)
    }

    /// The scanner gave no verdict: the row goes back to `uploaded` saying it waits on the
    /// scanner, and an `attachments.vscan.retry` job is scheduled for the next try. The job
    /// itself completes: waiting is not failing.
    async fn wait_for_scanner(&self, a: &mut Attempt<'_>, wait: Wait) -> Result<Summary, JobError> {
        let key = &a.payload.file_key;
        let Some(queue) = &self.queue else {
            // The antivirus only waits when told the job can.
            return Err(JobError::Task("no queue to wait for the scanner on".into()));
        };
        // A re-opened row's old variants go before the row is given back listing none: the
        // retry renders them again, and may never get to (the scanner stays down).
        for old in &a.row.variants {
            self.storage.delete(&old.key).await?;
        }
        // The row first: it says it waits on the scanner before the retry job can run.
        let released = self
            .db
            .release(key, &a.token, "scanner-unavailable", &wait.message)
            .await?;
        if !released {
            return Err(JobError::ClaimLost {
                file_key: key.clone(),
            });
        }
        let retry = ScanRetryPayload {
            upload: a.payload.clone(),
            scan_tries: wait.tries,
        };
        let data = serde_json::to_value(&retry).map_err(|e| JobError::Task(e.to_string()))?;
        // One id per claim of the row: a process job retried after this point adds its own.
        let opts = EnqueueOptions {
            delay: Some(wait.delay),
            job_id: Some(format!("vscan-{}-{}", key_digest(key), a.row.attempts)),
            ..EnqueueOptions::default()
        };
        let job_id = queue.enqueue(QueueName::VscanRetry, data, &opts).await?;
        self.metrics.vscan_retries.inc();
        let delay_ms = u64::try_from(wait.delay.as_millis()).unwrap_or(u64::MAX);
        tracing::warn!(file_key = %key, tries = wait.tries, delay_ms, retry_job = %job_id, "virus scanner unavailable; scan retry scheduled");
        let row = self.db.get(key).await?.ok_or_else(|| JobError::Missing {
            file_key: key.clone(),
        })?;
        let mut summary = Summary::from_row(&row, false);
        summary.waiting_on = Some(WAITING_ON_SCANNER.into());
        summary.next_try_in_ms = Some(delay_ms);
        Ok(summary)
    }

    /// The attempt failed with `err`: nothing half-published stays, the row records the
    /// failure (given back if retryable, `failed` with the scan if not), and a security
    /// decision is audited. Returns the job's error.
    async fn fail(&self, a: &mut Attempt<'_>, err: JobError) -> JobError {
        let key = &a.payload.file_key;
        let err = escalate_repeated_timeout(err, a.row.error_code.as_deref());
        // The row never listed the variants written, and a later attempt writes them again
        // under the same keys. A re-opened row's old variants go too: this attempt may have
        // overwritten some of them, and the row will list none (only a `ready` row does). If
        // another worker took the upload over and published the same keys meanwhile, they
        // are its now: leave them.
        let taken_over = matches!(
            self.db.get(key).await,
            Ok(Some(r)) if r.status == Status::Ready
        );
        let mut unlisted: Vec<&String> = a.written.iter().collect();
        for old in &a.row.variants {
            if !unlisted.contains(&&old.key) {
                unlisted.push(&old.key);
            }
        }
        for written in unlisted.into_iter().filter(|_| !taken_over) {
            if let Err(e) = self.storage.delete(written).await {
                tracing::warn!(key = %written, error = %e, "could not remove an unpublished variant");
            }
        }
        let (code, message) = (err.code(), err.to_string());
        let settled = match err.class() {
            Class::Permanent => {
                self.db
                    .mark_failed(
                        key,
                        &a.token,
                        code,
                        &message,
                        a.scan.as_ref(),
                        a.guests.as_deref(),
                    )
                    .await
            }
            Class::Retryable => self.db.release(key, &a.token, code, &message).await,
        };
        if let Err(e) = settled {
            // The lease expires on its own; the job's own error is what matters.
            tracing::warn!(error = %e, "could not record the job's failure on its row");
        }
        if let Some(decision) = err.error_code().audit_decision() {
            let event = audit::Event::new(decision, &message).about(
                key,
                a.meta.job_id.as_deref(),
                a.declared_checksum.as_deref(),
            );
            self.audit
                .record_best_effort(event.details(serde_json::json!({ "code": code })))
                .await;
        }
        err
    }
}

/// What [`check_payload`] makes of a payload it accepts.
#[derive(Debug)]
pub struct CheckedPayload {
    /// The payload's variants, resolved.
    pub specs: Vec<VariantSpec>,
    /// The payload's checksum, lowercased.
    pub declared_checksum: Option<String>,
    /// A re-process job's guest digest.
    pub reprocess: Option<GuestDigest>,
}

/// Resolves a payload's variants: spec strings, or names of `defaults`; none means `defaults`.
pub fn resolve_variants(
    requested: &[String],
    defaults: &[VariantSpec],
) -> Result<Vec<VariantSpec>, JobError> {
    if requested.is_empty() {
        return Ok(defaults.to_vec());
    }
    let resolved: Vec<String> = requested
        .iter()
        .map(|r| match defaults.iter().find(|d| &d.name == r) {
            Some(d) => variant::to_spec_string(d),
            None => r.clone(),
        })
        .collect();
    variant::parse_all(&resolved).map_err(|e| JobError::InvalidPayload(e.to_string()))
}

/// Everything a job checks of its payload before it touches the store or the database: the
/// key, the variants (resolved against `defaults`), the keys derived from them (with the
/// quarantine copy's `quarantine_prefix`), the checksum and a re-process digest. Pure, so the
/// payload fuzz target runs exactly what a job runs.
pub fn check_payload(
    payload: &ProcessPayload,
    defaults: &[VariantSpec],
    quarantine_prefix: &str,
) -> Result<CheckedPayload, JobError> {
    storage::validate_key(&payload.file_key)
        .map_err(|e| JobError::InvalidPayload(e.to_string()))?;
    let specs = resolve_variants(&payload.variants, defaults)?;
    check_derived_keys(&payload.file_key, &specs, quarantine_prefix)?;
    let checksum = payload.checksum.as_ref().map(|c| c.to_ascii_lowercase());
    if checksum
        .as_ref()
        .is_some_and(|c| c.len() != 64 || !c.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(JobError::InvalidPayload(
            "checksum must be 64 hex digits (sha256)".into(),
        ));
    }
    let reprocess = payload
        .reprocess_guest_digest
        .as_deref()
        .map(GuestDigest::parse)
        .transpose()
        .map_err(|e| JobError::InvalidPayload(format!("reprocessGuestDigest: {e}")))?;
    Ok(CheckedPayload {
        specs,
        declared_checksum: checksum,
        reprocess,
    })
}

/// One claimed attempt at an upload: what the job knows and has done so far.
struct Attempt<'a> {
    payload: &'a ProcessPayload,
    meta: &'a JobMeta,
    /// The payload's variants, resolved.
    specs: Vec<VariantSpec>,
    /// The payload's checksum, lowercased.
    declared_checksum: Option<String>,
    /// The row as the claim left it.
    row: Attachment,
    token: String,
    /// sha256 of the object, once read and checked.
    sha256: Option<String>,
    /// The scan guest's verdict and findings, once the guests ran: a failure records them.
    scan: Option<ScanFields>,
    /// The guest releases that ran, once they did: every verdict records them.
    guests: Option<Vec<GuestRef>>,
    /// Variant keys written and not published: a failure removes them.
    written: Vec<String>,
}

impl Attempt<'_> {
    /// Who the security decisions are about.
    fn subject(&self) -> Subject<'_> {
        Subject {
            file_key: &self.payload.file_key,
            job_id: self.meta.job_id.as_deref(),
            checksum: self.sha256.as_deref(),
        }
    }
}

/// The scan guest's report in the row's vocabulary.
fn scan_fields(report: &sandbox::Report) -> ScanFields {
    ScanFields {
        verdict: scan_verdict(report.verdict),
        findings: report
            .findings
            .iter()
            .map(|f| Finding::new(f.rule.clone(), scan_verdict(f.verdict), f.detail.clone()))
            .collect(),
    }
}

fn scan_verdict(v: sandbox::Verdict) -> ScanVerdict {
    match v {
        sandbox::Verdict::Clean => ScanVerdict::Clean,
        sandbox::Verdict::Suspicious => ScanVerdict::Suspicious,
        sandbox::Verdict::Reject => ScanVerdict::Reject,
    }
}

/// A short, stable name for a key in queue job ids (BullMQ ids cannot hold every character a
/// key can).
pub fn key_digest(key: &str) -> String {
    sandbox::hex(&Sha256::digest(key.as_bytes()))[..32].to_string()
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

    #[test]
    fn retry_payload_is_the_process_payload_plus_the_tries() {
        let p: ScanRetryPayload = serde_json::from_value(serde_json::json!({
            "fileKey": "uploads/a.jpg", "mimeType": "image/jpeg", "size": 3, "scanTries": 2,
        }))
        .unwrap();
        assert_eq!(p.scan_tries, 2);
        assert_eq!(p.upload.file_key, "uploads/a.jpg");
        // A retry job a Node producer added without the count starts from zero.
        let p: ScanRetryPayload = serde_json::from_value(serde_json::json!({
            "fileKey": "k", "mimeType": "image/png", "size": 1,
        }))
        .unwrap();
        assert_eq!(p.scan_tries, 0);
    }

    #[test]
    fn key_digests_are_short_stable_and_colon_free() {
        let d = key_digest("uploads/a:b.jpg");
        assert_eq!(d.len(), 32);
        assert_eq!(d, key_digest("uploads/a:b.jpg"));
        assert!(!d.contains(':'));
    }

    #[test]
    fn a_summary_says_its_status_as_the_row_stores_it() {
        let summary = Summary {
            file_key: "k".into(),
            status: Status::Quarantined,
            mime: None,
            width: None,
            height: None,
            checksum: None,
            verdict: Some("reject".into()),
            placeholder: None,
            variants: vec![],
            already_done: false,
            waiting_on: None,
            next_try_in_ms: None,
            quarantine_key: Some("quarantine/k".into()),
            guests: vec![GuestRef {
                name: "probe".into(),
                version: "1.2.0".into(),
                sha256: "ab".repeat(32),
            }],
        };
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["status"], "quarantined");
        assert_eq!(json["quarantineKey"], "quarantine/k");
        assert_eq!(json["guests"][0]["sha256"], "ab".repeat(32));
        assert_eq!(serde_json::from_value::<Summary>(json).unwrap(), summary);
    }
}
