//! The statements of `attachd serve`: reading a row by its id, recording the checksum an
//! upload-complete declares, and a reviewer's two decisions on a quarantined upload (release
//! it for processing again, or delete it). Each decision is one conditional statement, so two
//! reviewers acting on the same row at once get one winner and one "no longer quarantined".

use super::row::{attachments, AttachmentRow};
use super::{Attachment, Db, DbError};

impl Db {
    /// The row whose `id` this is.
    pub async fn get_by_id(&self, id: i64) -> Result<Option<Attachment>, DbError> {
        on_pool!(self, |pool, d| {
            sqlx::query(sql!(d: "SELECT ", columns, " FROM attachments WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?
                .map(|row| row.attachment())
                .transpose()
        })
    }

    /// Records the sha256 an upload-complete declares on a row that has none yet, whatever
    /// its status (the job the complete queued may have claimed the row already), and returns
    /// the row as it is afterwards (`None`: no such row). A row that already has a checksum
    /// keeps it (another complete's, or the bytes' own once the job published): the caller
    /// compares.
    pub async fn record_checksum(
        &self,
        file_key: &str,
        checksum: &str,
    ) -> Result<Option<Attachment>, DbError> {
        on_pool!(self, |pool, d| {
            sqlx::query(sql!(d:
                "UPDATE attachments SET checksum = $2, updated_at = ", now, "
                 WHERE file_key = $1 AND checksum IS NULL"))
            .bind(file_key)
            .bind(checksum)
            .execute(pool)
            .await?;
            Ok::<_, DbError>(())
        })?;
        self.get(file_key).await
    }

    /// Up to `limit` quarantined rows, most recently quarantined first, starting below the id
    /// `before` (a page's last id) when given: the review queue.
    pub async fn quarantined(
        &self,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Attachment>, DbError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        on_pool!(self, |pool, d| {
            let rows = sqlx::query(sql!(d:
                "SELECT ", columns, " FROM attachments
                 WHERE status = 'quarantined' AND (CAST($1 AS BIGINT) IS NULL OR id < $1)
                 ORDER BY id DESC LIMIT $2"))
            .bind(before)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            attachments(&rows)
        })
    }

    /// A reviewer's release: the quarantined row goes back to `uploaded` with its verdict,
    /// error and scan cleared, ready for a process job to claim. `None`, changing nothing, if
    /// the row is not quarantined (any more).
    pub async fn reopen_quarantined(&self, file_key: &str) -> Result<Option<Attachment>, DbError> {
        on_pool!(self, |pool, d| {
            sqlx::query(sql!(d:
                "UPDATE attachments
                 SET status = 'uploaded', error_code = NULL, error_message = NULL,
                     scan_verdict = NULL, scan_findings = NULL, processed_at = NULL,
                     updated_at = ", now, "
                 WHERE file_key = $1 AND status = 'quarantined'
                 RETURNING ", columns))
            .bind(file_key)
            .fetch_optional(pool)
            .await?
            .map(|row| row.attachment())
            .transpose()
        })
    }

    /// A reviewer's delete, step 1: the quarantined row becomes `deleted` (no job claims it;
    /// the cleaner finishes the job if the caller stops before [`Db::purge`]). False,
    /// changing nothing, if the row is not quarantined (any more).
    pub async fn delete_quarantined(&self, file_key: &str) -> Result<bool, DbError> {
        on_pool!(self, |pool, d| {
            let done = sqlx::query(sql!(d:
                "UPDATE attachments SET status = 'deleted', updated_at = ", now, "
                 WHERE file_key = $1 AND status = 'quarantined'"))
            .bind(file_key)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }
}
