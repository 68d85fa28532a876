//! What the API does to uploads beyond reading them: queue a process job (complete, and a
//! release), and a reviewer's two decisions on a quarantined upload, shared by the JSON routes
//! and the review page.

use super::error::ApiError;
use super::Api;
use crate::audit::{Decision, Event};
use crate::db::{Attachment, Status};
use crate::job::{key_digest, ProcessPayload};
use crate::queue::{EnqueueOptions, QueueName};
use crate::storage;

/// Quarantined uploads per page of the review queue.
pub const REVIEW_PAGE: i64 = 50;

/// Longest reason a reviewer may give (characters): room for a paragraph; the audit table
/// cuts stored reasons at its own byte limit anyway.
pub const MAX_REASON_CHARS: usize = 1000;

/// The reason given, trimmed: 1 to [`MAX_REASON_CHARS`] characters.
fn check_reason(reason: &str) -> Result<&str, ApiError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::InvalidRequest(format!(
            "a reason of 1 to {MAX_REASON_CHARS} characters is required"
        )));
    }
    Ok(reason)
}

async fn quarantined_row(api: &Api, id: i64) -> Result<Attachment, ApiError> {
    let row = api.db.get_by_id(id).await?.ok_or(ApiError::NotFound)?;
    if row.status != Status::Quarantined {
        return Err(ApiError::NotQuarantined(row.status.as_str().into()));
    }
    Ok(row)
}

fn quarantine_key(api: &Api, file_key: &str) -> String {
    format!("{}{file_key}", api.quarantine_prefix)
}

/// Release: the quarantined copy is put back under the upload's key (over whatever is there:
/// bytes written to the key since the quarantine are not the ones reviewed), the row returns to
/// `uploaded`, and a process job runs every check again (so a file the checks still condemn is
/// quarantined again). The audit event, with the reviewer, comes first. The quarantined copy
/// stays, the record of what was reviewed. A release answered 503 (Redis down) left the upload
/// released but not queued; releasing it again (recorded too) queues it.
pub async fn release(
    api: &Api,
    id: i64,
    reviewer: &str,
    reason: &str,
) -> Result<Attachment, ApiError> {
    let reason = check_reason(reason)?;
    let row = api.db.get_by_id(id).await?.ok_or(ApiError::NotFound)?;
    let key = row.file_key.clone();
    let qkey = quarantine_key(api, &key);
    let unqueued = row.status == Status::Uploaded
        && api
            .db
            .events(&key)
            .await?
            .last()
            .is_some_and(|e| e.decision == Decision::ReviewReleased.as_str());
    if row.status != Status::Quarantined && !unqueued {
        return Err(ApiError::NotQuarantined(row.status.as_str().into()));
    }
    if api.storage.head(&qkey).await?.is_none() {
        return Err(ApiError::UploadMissing);
    }
    // Every release that does something is recorded, a repeated one too.
    api.audit
        .record(
            Event::new(Decision::ReviewReleased, reason)
                .about(&key, None, row.checksum.as_deref())
                .details(serde_json::json!({
                    "reviewer": reviewer,
                    "quarantineKey": qkey,
                    "repeated": unqueued,
                })),
        )
        .await?;
    api.storage.copy(&qkey, &key).await?;
    // The database itself refuses this move unless the release event above is recorded
    // after the upload's latest quarantine (the status rules in migrations/).
    let row = if unqueued {
        row
    } else {
        api.db
            .reopen_quarantined(&key)
            .await
            .map_err(|e| match e {
                crate::db::DbError::Conflict { .. } => {
                    ApiError::NotQuarantined("quarantined again meanwhile".into())
                }
                other => other.into(),
            })?
            .ok_or_else(|| ApiError::NotQuarantined("changed meanwhile".into()))?
    };
    let payload = ProcessPayload {
        file_key: key.clone(),
        mime_type: row.mime_type.clone(),
        size: u64::try_from(row.size).unwrap_or(0),
        variants: vec![],
        checksum: row.checksum.clone(),
        reprocess_guest_digest: None,
    };
    // The claim count differs after each processing, so a second release of the same upload
    // gets a job of its own, while a retried one finds its job (BullMQ keeps one per id).
    let job_id = format!("release-{}-{}", key_digest(&key), row.attempts);
    enqueue(api, &payload, &job_id).await?;
    tracing::warn!(reviewer, file_key = %key, job_id = %job_id, "quarantined upload released");
    Ok(row)
}

/// Delete: the quarantined copy, anything left under the upload's keys, and the row. The
/// audit event, with the reviewer, comes first and outlives the row.
pub async fn delete(
    api: &Api,
    id: i64,
    reviewer: &str,
    reason: &str,
) -> Result<Attachment, ApiError> {
    let reason = check_reason(reason)?;
    let row = quarantined_row(api, id).await?;
    let key = row.file_key.as_str();
    let qkey = quarantine_key(api, key);
    api.audit
        .record(
            Event::new(Decision::ReviewDeleted, reason)
                .about(key, None, row.checksum.as_deref())
                .details(serde_json::json!({ "reviewer": reviewer, "quarantineKey": qkey })),
        )
        .await?;
    // `deleted` first: no job claims it any more, and if this stops half-way the cleaner
    // finishes it.
    if !api.db.delete_quarantined(key).await? {
        return Err(ApiError::NotQuarantined("changed meanwhile".into()));
    }
    api.storage.delete(&qkey).await?;
    api.storage.delete(key).await?;
    api.storage
        .delete_prefix(&storage::variants_prefix(key))
        .await?;
    api.db.purge(key).await?;
    tracing::warn!(reviewer, file_key = %key, "quarantined upload deleted");
    Ok(row)
}

/// Adds a process job with the producer's retry policy, as the Node API does.
pub async fn enqueue(
    api: &Api,
    payload: &ProcessPayload,
    job_id: &str,
) -> Result<String, ApiError> {
    let opts = EnqueueOptions {
        attempts: Some(api.retry.attempts),
        backoff: Some(api.retry.backoff),
        delay: None,
        job_id: Some(job_id.to_owned()),
    };
    let data = serde_json::to_value(payload)
        .map_err(|e| ApiError::InvalidRequest(format!("payload: {e}")))?;
    Ok(api.queue.enqueue(QueueName::Process, data, &opts).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_required_and_bounded() {
        assert!(check_reason("  ").is_err());
        assert!(check_reason(&"x".repeat(MAX_REASON_CHARS + 1)).is_err());
        assert_eq!(check_reason(" false positive ").unwrap(), "false positive");
    }
}
