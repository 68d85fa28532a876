//! Orphan cleanup (`attachd cleanup` and the `attachments.cleanup.orphan` job): uploads whose
//! row stayed `uploaded` past the maximum age (the client never completed, or the API never
//! enqueued processing) go, with their objects and any variants; then objects under the upload
//! prefix that no row owns.
//!
//! The order keeps every row true at every instant, with any number of cleaners and process
//! jobs running at once: a row is first moved `uploaded` → `deleted` in one conditional
//! statement (so a process job can no longer claim it, and no two cleaners take the same row),
//! then its objects are deleted, then the row. A cleaner that dies midway leaves a `deleted`
//! row, which the next run finishes. A `ready` row is never touched.
//!
//! **Queued uploads are not orphans.** A row untouched for the maximum age may belong to an
//! upload whose job is still waiting: a backlog longer than the age (a burst of video
//! transcodes, a paused queue) or a scanner retry not yet due. The Node API adds those jobs
//! with npm `bullmq` under ids attachd never sees, so before taking any `uploaded` row (and
//! before the sweep deletes any object) a run reads every job that may still run from
//! `attachments.process` and `attachments.vscan.retry` ([`PENDING_QUEUES`]: waiting, paused,
//! prioritized, delayed, waiting for children, active) and keeps every upload one of them
//! names. The scan reads at most [`MAX_PENDING_SCAN`] jobs; if the queues hold more, the run
//! cannot prove any upload unqueued and deletes no `uploaded` row and sweeps nothing (it says
//! so in its report and log; the next run, once the backlog drains, catches up). If Redis
//! does not answer, the run fails (retryable) before deleting anything. [`QueueCheck::NoQueue`]
//! skips the scan: only for a deployment that runs no queue at all (`ATTACH_QUEUE_ENABLED=0`).
//!
//! What remains unguarded: a job added for a row already older than the maximum age in the
//! moment between the scan and the row's claim (an operator's `attachd requeue --status
//! uploaded` racing the run). That job then fails `object-not-found`; the API's own enqueue
//! follows the upload by far less than the maximum age.
//!
//! Abandoned work comes first: a row still `processing` under a lease that ran out before the
//! same cutoff lost its worker mid-job, and no job took it over. It is marked `failed`
//! ([`ABANDONED_CODE`]) so the API sees the truth instead of `processing` forever; its object
//! stays, and `failed` is claimable, so a job that turns up later processes it. Variants the
//! dead worker may have written stay unpublished (the row lists none) and a later run
//! overwrites them: deleting them here could race with a job that has just claimed the row.

use crate::db::{Db, DbError};
use crate::error::{Class, Code, ErrorCode};
use crate::queue::{QueueBackend, QueueError, QueueName, MAX_PENDING_SCAN};
use crate::storage::{self, Storage, StorageError};
use serde::Serialize;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `error_code` of a row whose worker died mid-job and that no job took over.
pub const ABANDONED_CODE: &str = Code::ProcessingAbandoned.as_str();
/// The seed's rule: uploads still `uploaded` after 2 h are orphans.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(2 * 60 * 60);
/// Rows claimed per statement: small enough that one batch's deletes finish well within a
/// job's lock time, large enough to clear a backlog in few round trips.
pub const BATCH_SIZE: i64 = 100;
/// Batches per run: bounds one run's work (100 × 100 = 10,000 rows); the next run, 15 minutes
/// later, continues.
pub const MAX_BATCHES: usize = 100;
/// Objects listed per page in the sweep.
pub const SWEEP_PAGE: usize = 1000;
/// Objects examined per sweep run, for the same reason as `MAX_BATCHES`.
pub const MAX_SWEEP_OBJECTS: usize = 100_000;

/// Queues whose jobs name an upload to process: an upload one of them still holds is kept.
/// (`attachments.quarantine` jobs name uploads already `quarantined`, which cleanup never
/// takes.)
pub const PENDING_QUEUES: [QueueName; 2] = [QueueName::Process, QueueName::VscanRetry];

/// How a run learns which stale uploads a job will still process.
#[derive(Clone)]
pub enum QueueCheck {
    /// Read the queues before deleting (the worker's cleanup job, and `attachd cleanup`).
    Queue(Arc<dyn QueueBackend>),
    /// The deployment runs no queue (`ATTACH_QUEUE_ENABLED=0`): no job can be waiting, and
    /// the seed's rule applies as is.
    NoQueue,
}

#[derive(Debug, Clone)]
pub struct CleanupOptions {
    pub max_age: Duration,
    /// Objects under this prefix are swept for ones no row owns; `None` skips the sweep.
    pub sweep_prefix: Option<String>,
    /// Report what the sweep would delete without deleting it. Stale rows are only counted.
    pub dry_run: bool,
}

impl Default for CleanupOptions {
    fn default() -> Self {
        CleanupOptions {
            max_age: DEFAULT_MAX_AGE,
            sweep_prefix: None,
            dry_run: false,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CleanupReport {
    /// Stale `uploaded` rows removed (or, in a dry run, found).
    pub rows_removed: u64,
    /// Abandoned `processing` rows marked `failed` (or, in a dry run, found).
    pub abandoned: u64,
    /// Objects (uploads and variants) deleted for those rows.
    pub objects_removed: u64,
    /// Objects under the sweep prefix with no row, deleted (or, in a dry run, found).
    pub orphan_objects: u64,
    pub orphan_keys: Vec<String>,
    /// Stale `uploaded` rows kept because a queued job will still process them.
    pub queued_kept: u64,
    /// The queues held more jobs than one run reads ([`MAX_PENDING_SCAN`]): no `uploaded`
    /// row was taken and nothing swept, because none could be proven unqueued.
    pub queue_scan_incomplete: bool,
    pub dry_run: bool,
    pub duration_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl ErrorCode for CleanupError {
    fn error_code(&self) -> Code {
        match self {
            CleanupError::Db(e) => e.error_code(),
            CleanupError::Storage(e) => e.error_code(),
            CleanupError::Queue(e) => e.error_code(),
        }
    }
    fn class(&self) -> Class {
        // A cleanup run is always safe to repeat.
        Class::Retryable
    }
}

/// One cleanup run.
#[tracing::instrument(skip_all, fields(dry_run = opts.dry_run))]
pub async fn run(
    db: &Db,
    storage: &Arc<dyn Storage>,
    queue: &QueueCheck,
    opts: &CleanupOptions,
) -> Result<CleanupReport, CleanupError> {
    let started = Instant::now();
    let cutoff = chrono::Utc::now()
        - chrono::Duration::from_std(opts.max_age).unwrap_or(chrono::Duration::hours(2));
    let mut report = CleanupReport {
        dry_run: opts.dry_run,
        ..Default::default()
    };

    if opts.dry_run {
        report.abandoned = db.count_abandoned(cutoff).await?;
    } else {
        let why = format!(
            "the worker processing this upload stopped, and no job took it over within {}",
            humantime(opts.max_age)
        );
        for _ in 0..MAX_BATCHES {
            let rows = db
                .fail_abandoned(cutoff, BATCH_SIZE, ABANDONED_CODE, &why)
                .await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                tracing::warn!(file_key = %row.file_key, "abandoned upload marked failed");
            }
            report.abandoned += rows.len() as u64;
        }
        // Rows a cleaner left half-done: already `deleted`, so no job can claim them.
        let leftovers = db
            .deleted_rows(cutoff, BATCH_SIZE * MAX_BATCHES as i64)
            .await?;
        for row in leftovers {
            report.objects_removed += remove_objects(storage, &row.file_key).await?;
            db.purge(&row.file_key).await?;
        }
    }

    // Read after the rows above and before any upload below is taken: a job present now is
    // seen (see the module docs for the order the lists are read in).
    let queued: Option<HashSet<String>> = match queue {
        QueueCheck::NoQueue => None,
        QueueCheck::Queue(backend) => {
            let pending = backend
                .pending_uploads(&PENDING_QUEUES, MAX_PENDING_SCAN)
                .await?;
            if !pending.complete {
                report.queue_scan_incomplete = true;
                tracing::warn!(
                    read = pending.jobs,
                    bound = MAX_PENDING_SCAN,
                    "cleanup kept every stale upload: the queues hold more jobs than one run reads, \
                     so none can be proven unqueued; it resumes once the backlog drains"
                );
                report.duration_ms = started.elapsed().as_millis() as u64;
                return Ok(report);
            }
            Some(pending.file_keys)
        }
    };
    let is_queued = |key: &str| queued.as_ref().is_some_and(|q| q.contains(key));

    let mut after: Option<String> = None;
    for _ in 0..MAX_BATCHES {
        let keys = db
            .orphan_candidates(cutoff, after.as_deref(), BATCH_SIZE)
            .await?;
        let Some(last) = keys.last() else { break };
        after = Some(last.clone());
        let (kept, free): (Vec<String>, Vec<String>) =
            keys.iter().cloned().partition(|k| is_queued(k));
        for key in &kept {
            tracing::info!(file_key = %key, "stale upload kept: a queued job will process it");
        }
        report.queued_kept += kept.len() as u64;
        if opts.dry_run {
            report.rows_removed += free.len() as u64;
        } else {
            for row in db.claim_orphan_keys(cutoff, &free).await? {
                report.objects_removed += remove_objects(storage, &row.file_key).await?;
                if db.purge(&row.file_key).await? {
                    report.rows_removed += 1;
                }
            }
        }
        if keys.len() < BATCH_SIZE as usize {
            break;
        }
    }

    if let Some(prefix) = &opts.sweep_prefix {
        let queued = queued.as_ref();
        sweep(
            db,
            storage,
            prefix,
            cutoff,
            opts.dry_run,
            queued,
            &mut report,
        )
        .await?;
        // Variants of uploads under that prefix whose row is gone.
        let variants = format!("{}{prefix}", storage::VARIANTS_ROOT);
        sweep(
            db,
            storage,
            &variants,
            cutoff,
            opts.dry_run,
            queued,
            &mut report,
        )
        .await?;
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    tracing::info!(
        abandoned = report.abandoned,
        rows = report.rows_removed,
        queued_kept = report.queued_kept,
        objects = report.objects_removed,
        orphan_objects = report.orphan_objects,
        duration_ms = report.duration_ms,
        "cleanup finished"
    );
    Ok(report)
}

async fn remove_objects(storage: &Arc<dyn Storage>, file_key: &str) -> Result<u64, CleanupError> {
    let variants = storage
        .delete_prefix(&storage::variants_prefix(file_key))
        .await?;
    let upload = u64::from(storage.head(file_key).await?.is_some());
    storage.delete(file_key).await?;
    Ok(variants + upload)
}

/// Deletes objects under `prefix` that no row owns and that are older than the cutoff (a
/// younger one may be an upload whose row the API has not written yet) and that no queued
/// job names (the process job writes a missing row itself). Works for the uploads' prefix
/// and for the variants tree alike.
async fn sweep(
    db: &Db,
    storage: &Arc<dyn Storage>,
    prefix: &str,
    cutoff: chrono::DateTime<chrono::Utc>,
    dry_run: bool,
    queued: Option<&HashSet<String>>,
    report: &mut CleanupReport,
) -> Result<(), CleanupError> {
    let mut after: Option<String> = None;
    let mut seen = 0;
    while seen < MAX_SWEEP_OBJECTS {
        let page = storage.list(prefix, after.as_deref(), SWEEP_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        seen += page.len();
        // A variant belongs to the upload whose key precedes `/variants/`.
        let owners: Vec<String> = page.iter().map(|o| owner_key(&o.key).to_string()).collect();
        let known = db.existing_keys(&owners).await?;
        for (object, owner) in page.iter().zip(&owners) {
            let old = object.modified.is_none_or(|m| m < cutoff);
            let is_queued = queued.is_some_and(|q| q.contains(owner));
            if known.contains(owner) || is_queued || !old {
                continue;
            }
            if !dry_run {
                storage.delete(&object.key).await?;
            }
            report.orphan_objects += 1;
            report.orphan_keys.push(object.key.clone());
        }
        if page.len() < SWEEP_PAGE {
            break;
        }
    }
    Ok(())
}

/// `2h`, `15m`, `90s`: the largest whole unit, for messages.
fn humantime(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The upload key an object belongs to: itself, or for a variant its upload's key.
pub fn owner_key(object_key: &str) -> &str {
    storage::variant_owner(object_key).unwrap_or(object_key)
}

#[cfg(test)]
mod tests {
    use super::owner_key;

    #[test]
    fn variants_belong_to_their_upload() {
        assert_eq!(
            owner_key("variants/uploads/a/b.jpg/thumb.webp"),
            "uploads/a/b.jpg"
        );
        assert_eq!(owner_key("uploads/a/b.jpg"), "uploads/a/b.jpg");
    }
}
