//! The statements for SQLite. Times are TEXT in one fixed format (see [`TIME_FORMAT`]) so that
//! string order is time order; they come from SQLite's own clock, except the cutoffs callers
//! pass in. Every UPDATE sets `updated_at` itself because RETURNING does not see what the
//! AFTER trigger writes.
//!
//! Concurrency: SQLite runs one writer at a time (the others wait up to the busy timeout), and
//! each statement here is a single autocommit UPDATE/INSERT/DELETE, so its WHERE is evaluated
//! and its row written with no other writer in between; that is what makes a claim, a
//! publish or an orphan sweep atomic here.

use super::{Attachment, DbError, NewAttachment, Ready, ScanFields, Status, VariantRecord};
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::types::Json;
use sqlx::Row;
use std::collections::HashSet;

/// chrono's spelling of the stored format, `strftime('%Y-%m-%dT%H:%M:%fZ')` in SQLite:
/// UTC, milliseconds, fixed width.
const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";

/// SQLite's current time in the stored format.
macro_rules! now {
    () => {
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
    };
}

/// A time from Rust in the stored format, for comparisons with stored times.
fn stored_time(t: DateTime<Utc>) -> String {
    t.format(TIME_FORMAT).to_string()
}

fn attachment(r: &SqliteRow) -> Result<Attachment, DbError> {
    let status: String = r.try_get("status")?;
    Ok(Attachment {
        id: r.try_get("id")?,
        file_key: r.try_get("file_key")?,
        mime_type: r.try_get("mime_type")?,
        sniffed_mime: r.try_get("sniffed_mime")?,
        size: r.try_get("size")?,
        checksum: r.try_get("checksum")?,
        status: Status::parse(&status)
            .ok_or_else(|| DbError::schema(format!("unknown status {status:?} in attachments")))?,
        variants: r.try_get::<Json<Vec<VariantRecord>>, _>("variants")?.0,
        width: r.try_get("width")?,
        height: r.try_get("height")?,
        placeholder: r.try_get("placeholder")?,
        error_code: r.try_get("error_code")?,
        error_message: r.try_get("error_message")?,
        attempts: r.try_get("attempts")?,
        scan_verdict: r.try_get("scan_verdict")?,
        scan_findings: r
            .try_get::<Option<Json<serde_json::Value>>, _>("scan_findings")?
            .map(|j| j.0),
        claimed_until: r.try_get("claimed_until")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        processed_at: r.try_get("processed_at")?,
    })
}

fn all(rows: &[SqliteRow]) -> Result<Vec<Attachment>, DbError> {
    rows.iter().map(attachment).collect()
}

pub(super) async fn get(pool: &SqlitePool, file_key: &str) -> Result<Option<Attachment>, DbError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM attachments WHERE file_key = ?1"
    ))
    .bind(file_key)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(attachment).transpose()
}

pub(super) async fn insert_uploaded(
    pool: &SqlitePool,
    new: &NewAttachment,
) -> Result<Option<Attachment>, DbError> {
    let row = sqlx::query(concat!(
        "INSERT INTO attachments (file_key, mime_type, size, checksum) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (file_key) DO NOTHING
         RETURNING ",
        columns!()
    ))
    .bind(&new.file_key)
    .bind(&new.mime_type)
    .bind(new.size)
    .bind(&new.checksum)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(attachment).transpose()
}

pub(super) async fn try_claim(
    pool: &SqlitePool,
    file_key: &str,
    token: &str,
    lease_ms: i64,
) -> Result<Option<Attachment>, DbError> {
    // A date modifier such as '+90.250 seconds'.
    let lease = format!("+{}.{:03} seconds", lease_ms / 1000, lease_ms % 1000);
    let row = sqlx::query(concat!(
        "UPDATE attachments
         SET status = 'processing', claim_token = ?2,
             claimed_until = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?3),
             attempts = attempts + 1, updated_at = ",
        now!(),
        "
         WHERE file_key = ?1
           AND (status IN ('uploaded', 'failed')
                OR (status = 'processing' AND claimed_until < ",
        now!(),
        "))
         RETURNING ",
        columns!()
    ))
    .bind(file_key)
    .bind(token)
    .bind(lease)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(attachment).transpose()
}

pub(super) async fn renew_claim(
    pool: &SqlitePool,
    file_key: &str,
    token: &str,
    lease_ms: i64,
) -> Result<bool, DbError> {
    // As in `try_claim`; a lease that ran out with no one taking over is still this job's.
    let lease = format!("+{}.{:03} seconds", lease_ms / 1000, lease_ms % 1000);
    let done = sqlx::query(
        "UPDATE attachments
         SET claimed_until = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?3)
         WHERE file_key = ?1 AND status = 'processing' AND claim_token = ?2",
    )
    .bind(file_key)
    .bind(token)
    .bind(lease)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn publish_ready(
    pool: &SqlitePool,
    file_key: &str,
    token: &str,
    r: &Ready,
) -> Result<bool, DbError> {
    let done = sqlx::query(concat!(
        "UPDATE attachments
         SET status = 'ready', variants = ?3, sniffed_mime = ?4, checksum = ?5,
             width = ?6, height = ?7, scan_verdict = ?8, scan_findings = ?9, placeholder = ?10,
             processed_at = ",
        now!(),
        ", updated_at = ",
        now!(),
        ",
             error_code = NULL, error_message = NULL, claim_token = NULL, claimed_until = NULL
         WHERE file_key = ?1 AND status = 'processing' AND claim_token = ?2"
    ))
    .bind(file_key)
    .bind(token)
    .bind(Json(&r.variants))
    .bind(&r.sniffed_mime)
    .bind(&r.checksum)
    .bind(r.width)
    .bind(r.height)
    .bind(r.scan.verdict.as_str())
    .bind(Json(&r.scan.findings))
    .bind(&r.placeholder)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// `failed` or `quarantined`: a verdict with an error and maybe a scan.
pub(super) async fn finish_with_error(
    pool: &SqlitePool,
    file_key: &str,
    token: &str,
    status: Status,
    code: &str,
    message: &str,
    scan: Option<&ScanFields>,
) -> Result<bool, DbError> {
    let done = sqlx::query(concat!(
        "UPDATE attachments
         SET status = ?3, error_code = ?4, error_message = ?5,
             scan_verdict = ?6, scan_findings = ?7,
             processed_at = ",
        now!(),
        ", updated_at = ",
        now!(),
        ",
             claim_token = NULL, claimed_until = NULL
         WHERE file_key = ?1 AND status = 'processing' AND claim_token = ?2"
    ))
    .bind(file_key)
    .bind(token)
    .bind(status.as_str())
    .bind(code)
    .bind(message)
    .bind(scan.map(|s| s.verdict.as_str()))
    .bind(scan.map(|s| Json(&s.findings)))
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn release(
    pool: &SqlitePool,
    file_key: &str,
    token: &str,
    code: &str,
    message: &str,
) -> Result<bool, DbError> {
    let done = sqlx::query(concat!(
        "UPDATE attachments
         SET status = 'uploaded', error_code = ?3, error_message = ?4,
             claim_token = NULL, claimed_until = NULL, updated_at = ",
        now!(),
        "
         WHERE file_key = ?1 AND status = 'processing' AND claim_token = ?2"
    ))
    .bind(file_key)
    .bind(token)
    .bind(code)
    .bind(message)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn claim_orphans(
    pool: &SqlitePool,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Attachment>, DbError> {
    let rows = sqlx::query(concat!(
        "UPDATE attachments SET status = 'deleted', updated_at = ",
        now!(),
        "
         WHERE status = 'uploaded' AND id IN (
             SELECT id FROM attachments
             WHERE status = 'uploaded' AND created_at < ?1 AND updated_at < ?1
             ORDER BY created_at
             LIMIT ?2)
         RETURNING ",
        columns!()
    ))
    .bind(stored_time(cutoff))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    all(&rows)
}

pub(super) async fn fail_abandoned(
    pool: &SqlitePool,
    cutoff: DateTime<Utc>,
    limit: i64,
    code: &str,
    message: &str,
) -> Result<Vec<Attachment>, DbError> {
    let rows = sqlx::query(concat!(
        "UPDATE attachments
         SET status = 'failed', error_code = ?3, error_message = ?4,
             claim_token = NULL, claimed_until = NULL, updated_at = ",
        now!(),
        "
         WHERE status = 'processing' AND claimed_until < ?1 AND id IN (
             SELECT id FROM attachments
             WHERE status = 'processing' AND claimed_until < ?1
             ORDER BY claimed_until
             LIMIT ?2)
         RETURNING ",
        columns!()
    ))
    .bind(stored_time(cutoff))
    .bind(limit)
    .bind(code)
    .bind(message)
    .fetch_all(pool)
    .await?;
    all(&rows)
}

pub(super) async fn count_abandoned(
    pool: &SqlitePool,
    cutoff: DateTime<Utc>,
) -> Result<i64, DbError> {
    let n = sqlx::query_scalar(
        "SELECT count(*) FROM attachments WHERE status = 'processing' AND claimed_until < ?1",
    )
    .bind(stored_time(cutoff))
    .fetch_one(pool)
    .await?;
    Ok(n)
}

pub(super) async fn orphan_candidates(
    pool: &SqlitePool,
    cutoff: DateTime<Utc>,
    after: &str,
    limit: i64,
) -> Result<Vec<String>, DbError> {
    let rows = sqlx::query(
        "SELECT file_key FROM attachments
         WHERE status = 'uploaded' AND created_at < ?1 AND updated_at < ?1 AND file_key > ?2
         ORDER BY file_key
         LIMIT ?3",
    )
    .bind(stored_time(cutoff))
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| r.try_get("file_key").map_err(DbError::from))
        .collect()
}

pub(super) async fn claim_orphan_keys(
    pool: &SqlitePool,
    cutoff: DateTime<Utc>,
    keys: &[String],
) -> Result<Vec<Attachment>, DbError> {
    // One bound JSON array, as in `existing_keys`.
    let keys = serde_json::to_string(keys).map_err(|e| DbError::query(e.to_string()))?;
    let rows = sqlx::query(concat!(
        "UPDATE attachments SET status = 'deleted', updated_at = ",
        now!(),
        "
         WHERE file_key IN (SELECT value FROM json_each(?2)) AND status = 'uploaded'
           AND created_at < ?1 AND updated_at < ?1
         RETURNING ",
        columns!()
    ))
    .bind(stored_time(cutoff))
    .bind(keys)
    .fetch_all(pool)
    .await?;
    all(&rows)
}

pub(super) async fn count_orphans(
    pool: &SqlitePool,
    cutoff: DateTime<Utc>,
) -> Result<i64, DbError> {
    let n = sqlx::query_scalar(
        "SELECT count(*) FROM attachments
         WHERE status = 'uploaded' AND created_at < ?1 AND updated_at < ?1",
    )
    .bind(stored_time(cutoff))
    .fetch_one(pool)
    .await?;
    Ok(n)
}

pub(super) async fn purge(pool: &SqlitePool, file_key: &str) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM attachments WHERE file_key = ?1 AND status = 'deleted'")
        .bind(file_key)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn deleted_rows(
    pool: &SqlitePool,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Attachment>, DbError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM attachments WHERE status = 'deleted' AND updated_at < ?1
          ORDER BY updated_at LIMIT ?2"
    ))
    .bind(stored_time(cutoff))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    all(&rows)
}

pub(super) async fn rows_with_status(
    pool: &SqlitePool,
    status: &str,
    code: Option<&str>,
    limit: i64,
) -> Result<Vec<Attachment>, DbError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM attachments WHERE status = ?1 AND (?2 IS NULL OR error_code = ?2)
          ORDER BY updated_at LIMIT ?3"
    ))
    .bind(status)
    .bind(code)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    all(&rows)
}

pub(super) async fn existing_keys(
    pool: &SqlitePool,
    keys: &[String],
) -> Result<HashSet<String>, DbError> {
    // One bound JSON array instead of one parameter per key: no statement-size limit to mind.
    let keys = serde_json::to_string(keys).map_err(|e| DbError::query(e.to_string()))?;
    let rows = sqlx::query(
        "SELECT file_key FROM attachments WHERE file_key IN (SELECT value FROM json_each(?1))",
    )
    .bind(keys)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| r.try_get("file_key").map_err(DbError::from))
        .collect()
}

/// None when the database has no migrations table (it was never migrated).
pub(super) async fn applied_migrations(
    pool: &SqlitePool,
) -> Result<Option<Vec<super::schema::Applied>>, DbError> {
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
    )
    .bind(super::schema::MIGRATIONS_TABLE)
    .fetch_one(pool)
    .await?;
    if !exists {
        return Ok(None);
    }
    let rows =
        sqlx::query("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(pool)
            .await?;
    let applied = rows
        .iter()
        .map(|r| {
            Ok(super::schema::Applied {
                version: r.try_get("version")?,
                checksum: r.try_get("checksum")?,
                success: r.try_get("success")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Some(applied))
}

pub(super) async fn backdate(
    pool: &SqlitePool,
    file_key: &str,
    at: DateTime<Utc>,
) -> Result<bool, DbError> {
    let at = stored_time(at);
    let done =
        sqlx::query("UPDATE attachments SET created_at = ?2, updated_at = ?2, claimed_until = CASE WHEN claimed_until IS NULL THEN NULL ELSE ?2 END WHERE file_key = ?1")
            .bind(file_key)
            .bind(at)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() == 1)
}
