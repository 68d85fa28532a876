//! The statements of cleanup and requeue: orphaned uploads, abandoned work, rows a crashed
//! cleaner left behind, and the listings the operator commands page through. Written once for
//! both databases (see `dialect.rs` for the parts they spell differently); cutoffs are bound
//! in each database's time encoding (`Dialect::time`).

use super::dialect::Dialect;
use super::row::attachments;
use super::{Attachment, Db, DbError, GuestDigest, Status};
use chrono::{DateTime, Utc};
use std::collections::HashSet;

/// Keys per statement that takes a list of keys: keeps each statement and its result small
/// whatever the caller passes.
const KEYS_BATCH: usize = 1000;

impl Db {
    /// Orphan cleanup, step 1: moves up to `limit` stale `uploaded` rows to `deleted` in one
    /// statement and returns them, so no job can claim them any more and no other cleaner
    /// gets the same rows. Stale means created before `cutoff` *and* not touched since
    /// `cutoff`: a row a job released a moment ago for a retry is not an orphan, however old.
    /// Step 2 is the caller's (delete the objects), step 3 is [`Db::purge`].
    pub async fn claim_orphans(
        &self,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Attachment>, DbError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        on_pool!(self, |pool, d| {
            let sql = take_batch!(d,
                pick: "status = 'uploaded' AND created_at < $1 AND updated_at < $1
                       ORDER BY created_at LIMIT $2",
                set: "status = 'deleted'",
                recheck: "status = 'uploaded'",
            );
            let query = sqlx::query(sql).bind(d.time(cutoff)).bind(limit);
            attachments(&query.fetch_all(pool).await?)
        })
    }

    /// Orphan cleanup, step 0 when a queue may still hold jobs for stale rows: up to `limit`
    /// keys of rows that [`Db::claim_orphans`] would take, after `after` in key order (so a
    /// caller can page past rows it decided to keep); changes nothing. The caller drops the
    /// keys that still have a job, then takes the rest with [`Db::claim_orphan_keys`].
    pub async fn orphan_candidates(
        &self,
        cutoff: DateTime<Utc>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<String>, DbError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        let after = after.unwrap_or("");
        on_pool!(self, |pool, d| {
            Ok(sqlx::query_scalar(
                "SELECT file_key FROM attachments
                 WHERE status = 'uploaded' AND created_at < $1 AND updated_at < $1
                   AND file_key > $2
                 ORDER BY file_key
                 LIMIT $3",
            )
            .bind(d.time(cutoff))
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?)
        })
    }

    /// [`Db::claim_orphans`] for the given keys only: each row still stale (`uploaded`, and
    /// neither created nor touched since `cutoff`) moves to `deleted` in one statement and is
    /// returned. A row a job claimed or released since [`Db::orphan_candidates`] listed it
    /// is no longer stale and stays.
    pub async fn claim_orphan_keys(
        &self,
        cutoff: DateTime<Utc>,
        keys: &[String],
    ) -> Result<Vec<Attachment>, DbError> {
        let mut taken = Vec::new();
        for batch in keys.chunks(KEYS_BATCH) {
            // PostgreSQL: a second cleaner taking the same key waits for the first's row
            // lock, then re-checks the WHERE on the row the first wrote (READ COMMITTED):
            // `deleted`, so it takes nothing.
            taken.extend(on_pool!(self, |pool, d| {
                let rows = sqlx::query(sql!(d:
                    "UPDATE attachments SET status = 'deleted', updated_at = ", now, "
                     WHERE ", key_in("$1"), " AND status = 'uploaded'
                       AND created_at < $2 AND updated_at < $2
                     RETURNING ", columns))
                .bind(d.keys(batch)?)
                .bind(d.time(cutoff))
                .fetch_all(pool)
                .await?;
                attachments(&rows)
            })?);
        }
        Ok(taken)
    }

    /// How many rows [`Db::claim_orphans`] would take for this `cutoff` now (for a dry run);
    /// changes nothing.
    pub async fn count_orphans(&self, cutoff: DateTime<Utc>) -> Result<u64, DbError> {
        let n: i64 = on_pool!(self, |pool, d| {
            sqlx::query_scalar(
                "SELECT count(*) FROM attachments
                 WHERE status = 'uploaded' AND created_at < $1 AND updated_at < $1",
            )
            .bind(d.time(cutoff))
            .fetch_one(pool)
            .await?
        });
        // COUNT(*) is never negative.
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Cleanup of abandoned work: marks up to `limit` rows `failed` with `code` and `message`
    /// that are still `processing` under a lease that ran out before `cutoff`, and returns
    /// them. Such a row's worker died mid-job and no job took the upload over (BullMQ recovers
    /// a stalled job within a minute, but fails it once it has stalled too often, and a job
    /// can be lost with Redis): left alone it would say `processing` forever. `failed` is
    /// visible to the API and still claimable, so a job that does turn up processes it. A
    /// re-opened row keeps listing its old variants (still in storage): the next job to claim
    /// it replaces or removes them.
    pub async fn fail_abandoned(
        &self,
        cutoff: DateTime<Utc>,
        limit: i64,
        code: &str,
        message: &str,
    ) -> Result<Vec<Attachment>, DbError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        on_pool!(self, |pool, d| {
            // The recheck covers a row a worker took over after the batch was picked.
            let sql = take_batch!(d,
                pick: "status = 'processing' AND claimed_until < $1
                       ORDER BY claimed_until LIMIT $2",
                set: "status = 'failed', error_code = $3, error_message = $4,
                      claim_token = NULL, claimed_until = NULL",
                recheck: "status = 'processing' AND claimed_until < $1",
            );
            let query = sqlx::query(sql)
                .bind(d.time(cutoff))
                .bind(limit)
                .bind(code)
                .bind(message);
            attachments(&query.fetch_all(pool).await?)
        })
    }

    /// How many rows [`Db::fail_abandoned`] would take for this `cutoff` now; changes nothing.
    pub async fn count_abandoned(&self, cutoff: DateTime<Utc>) -> Result<u64, DbError> {
        let n: i64 = on_pool!(self, |pool, d| {
            sqlx::query_scalar(
                "SELECT count(*) FROM attachments
                 WHERE status = 'processing' AND claimed_until < $1",
            )
            .bind(d.time(cutoff))
            .fetch_one(pool)
            .await?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Orphan cleanup, step 3, once the row's objects are gone: deletes the row if it is
    /// `deleted`. Returns false if there was no such row.
    pub async fn purge(&self, file_key: &str) -> Result<bool, DbError> {
        on_pool!(self, |pool, _d| {
            let done =
                sqlx::query("DELETE FROM attachments WHERE file_key = $1 AND status = 'deleted'")
                    .bind(file_key)
                    .execute(pool)
                    .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Up to `limit` rows that have been `deleted` since before `cutoff`, oldest first: rows
    /// a cleaner left behind when it crashed between [`Db::claim_orphans`] and
    /// [`Db::purge`]. Pick a cutoff well behind a cleaner run's length, so a run still in
    /// progress is not raced.
    pub async fn deleted_rows(
        &self,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Attachment>, DbError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        on_pool!(self, |pool, d| {
            let rows = sqlx::query(sql!(d:
                "SELECT ", columns, " FROM attachments
                 WHERE status = 'deleted' AND updated_at < $1
                 ORDER BY updated_at LIMIT $2"))
            .bind(d.time(cutoff))
            .bind(limit)
            .fetch_all(pool)
            .await?;
            attachments(&rows)
        })
    }

    /// Up to `limit` rows in `status`, optionally only those whose `error_code` is `code`,
    /// least recently changed first: what `attachd requeue` sends back to the queue.
    pub async fn rows_with_status(
        &self,
        status: Status,
        code: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Attachment>, DbError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        on_pool!(self, |pool, d| {
            let rows = sqlx::query(sql!(d:
                "SELECT ", columns, " FROM attachments
                 WHERE status = $1 AND (CAST($2 AS TEXT) IS NULL OR error_code = $2)
                 ORDER BY updated_at LIMIT $3"))
            .bind(status.as_str())
            .bind(code)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            attachments(&rows)
        })
    }

    /// Up to `limit` `ready` or `failed` rows whose recorded guests include a release whose
    /// sha256 starts with `digest`, least recently changed first: what `attachd requeue
    /// --guest-digest` sends back to be processed again. The match is one bound LIKE pattern
    /// built from the validated digest alone.
    pub async fn rows_touched_by(
        &self,
        digest: &GuestDigest,
        limit: i64,
    ) -> Result<Vec<Attachment>, DbError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        on_pool!(self, |pool, d| {
            let rows = sqlx::query(sql!(d:
                "SELECT ", columns, " FROM attachments
                 WHERE status IN ('ready', 'failed') AND ", guests_match("$1"), "
                 ORDER BY updated_at, id LIMIT $2"))
            .bind(digest.like_pattern())
            .bind(limit)
            .fetch_all(pool)
            .await?;
            attachments(&rows)
        })
    }

    /// Which of `keys` have a row (in any status), for the sweep of objects without a row.
    pub async fn existing_keys(&self, keys: &[String]) -> Result<HashSet<String>, DbError> {
        let mut found = HashSet::new();
        for batch in keys.chunks(KEYS_BATCH) {
            let batch_found: Vec<String> = on_pool!(self, |pool, d| {
                sqlx::query_scalar(sql!(d:
                    "SELECT file_key FROM attachments WHERE ", key_in("$1")))
                .bind(d.keys(batch)?)
                .fetch_all(pool)
                .await?
            });
            found.extend(batch_found);
        }
        Ok(found)
    }
}
