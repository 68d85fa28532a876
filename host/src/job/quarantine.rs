//! Carrying out a quarantine decision ([`Cause`]): the original is copied under
//! `ATTACH_QUARANTINE_PREFIX`, the decision is audited, the row becomes `quarantined` (final;
//! only deletion moves it), then the original and any variants are deleted and a review job
//! goes on `attachments.quarantine`. Those last steps ([`Quarantine::settle`]) run again for
//! every later job that meets the quarantined row, so a crash between them leaves nothing
//! behind for long.

use super::{key_digest, JobError};
use crate::audit::{self, Audit, Event};
use crate::db::{Attachment, Db, ScanFields};
use crate::metrics::Metrics;
use crate::queue::{Enqueue, EnqueueOptions, QueueName};
use crate::sandbox::GuestRef;
use crate::storage::{self, Storage};
use crate::vscan::{Cause, Policy, Subject};
use std::sync::Arc;

/// What a quarantine touches. Cheap to clone.
#[derive(Clone)]
pub(super) struct Quarantine {
    pub storage: Arc<dyn Storage>,
    pub db: Db,
    /// `None` (the CLI): no review job is added.
    pub queue: Option<Arc<dyn Enqueue>>,
    pub metrics: Arc<Metrics>,
    pub audit: Audit,
    /// Where quarantined originals go (`ATTACH_QUARANTINE_PREFIX`).
    pub policy: Arc<Policy>,
}

impl Quarantine {
    /// Where the original of `file_key` goes.
    pub fn key(&self, file_key: &str) -> String {
        self.policy.quarantine_key(file_key)
    }

    /// Moves the upload to quarantine and makes the row (claimed with `token`) say so, with
    /// `scan` (the guests' verdict, if they ran) as the cause records it and the guest
    /// releases that ran (`None` if they did not: the row keeps what it had). Returns the row.
    pub async fn apply(
        &self,
        subject: &Subject<'_>,
        token: &str,
        cause: &Cause,
        scan: Option<ScanFields>,
        guests: Option<&[GuestRef]>,
    ) -> Result<Attachment, JobError> {
        let key = subject.file_key;
        let quarantine_key = self.key(key);
        // The copy first: until it exists the original stays where it is and the row stays
        // claimable, so a failure here is retried with nothing lost.
        self.storage.copy(key, &quarantine_key).await?;
        let fields = cause.scan_fields(scan);
        let message = cause.message(&quarantine_key);
        let event = Event::new(audit::Decision::Quarantined, message.clone())
            .about(key, subject.job_id, subject.checksum)
            .details(cause.audit_details(&quarantine_key));
        self.audit.record(event).await?;
        let marked = self
            .db
            .mark_quarantined(key, token, cause.code(), &message, &fields, guests)
            .await?;
        if !marked {
            return Err(JobError::ClaimLost {
                file_key: key.to_string(),
            });
        }
        self.metrics
            .quarantined
            .with_label_values(&[cause.source()])
            .inc();
        tracing::warn!(file_key = %key, quarantine_key = %quarantine_key, code = cause.code(), "upload quarantined");
        let row = self.db.get(key).await?.ok_or_else(|| JobError::Missing {
            file_key: key.to_string(),
        })?;
        self.settle(&row).await?;
        Ok(row)
    }

    /// The steps after the row says `quarantined`, each safe to repeat: the original leaves the
    /// upload prefix (once its quarantined copy exists), any variants go, and a review job is
    /// on the quarantine queue (one per upload: its id is derived from the key).
    pub async fn settle(&self, row: &Attachment) -> Result<(), JobError> {
        let key = &row.file_key;
        let quarantine_key = self.key(key);
        if self.storage.head(&quarantine_key).await?.is_none()
            && self.storage.head(key).await?.is_some()
        {
            self.storage.copy(key, &quarantine_key).await?;
        }
        if self.storage.head(&quarantine_key).await?.is_some() {
            self.storage.delete(key).await?;
        } else {
            tracing::warn!(file_key = %key, quarantine_key = %quarantine_key,
                "quarantined upload has no quarantined copy (removed by an operator?); original left in place");
        }
        self.storage
            .delete_prefix(&storage::variants_prefix(key))
            .await?;
        let Some(queue) = &self.queue else {
            tracing::debug!(file_key = %key, "no queue: no quarantine review job added");
            return Ok(());
        };
        let review = serde_json::json!({
            "fileKey": key,
            "quarantineKey": quarantine_key,
            "checksum": row.checksum,
            "code": row.error_code,
            "reason": row.error_message,
            "scanVerdict": row.scan_verdict,
            "findings": row.scan_findings,
            "quarantinedAt": row.processed_at,
        });
        let opts = EnqueueOptions {
            job_id: Some(format!("quarantine-{}", key_digest(key))),
            ..EnqueueOptions::default()
        };
        queue.enqueue(QueueName::Quarantine, review, &opts).await?;
        Ok(())
    }
}
