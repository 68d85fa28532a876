//! The statements for PostgreSQL. Times come from the server's `now()`; `updated_at` is kept by
//! the trigger.

use super::{Attachment, DbError, NewAttachment, Ready, ScanFields, Status, VariantRecord};
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::types::Json;
use sqlx::Row;
use std::collections::HashSet;

fn attachment(r: &PgRow) -> Result<Attachment, DbError> {
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
        width: r.try_get::<Option<i32>, _>("width")?.map(i64::from),
        height: r.try_get::<Option<i32>, _>("height")?.map(i64::from),
        placeholder: r.try_get("placeholder")?,
        error_code: r.try_get("error_code")?,
        error_message: r.try_get("error_message")?,
        attempts: r.try_get::<i32, _>("attempts")?.into(),
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

fn all(rows: &[PgRow]) -> Result<Vec<Attachment>, DbError> {
    rows.iter().map(attachment).collect()
}

pub(super) async fn get(pool: &PgPool, file_key: &str) -> Result<Option<Attachment>, DbError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM attachments WHERE file_key = $1"
    ))
    .bind(file_key)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(attachment).transpose()
}

pub(super) async fn insert_uploaded(
    pool: &PgPool,
    new: &NewAttachment,
) -> Result<Option<Attachment>, DbError> {
    let row = sqlx::query(concat!(
        "INSERT INTO attachments (file_key, mime_type, size, checksum) VALUES ($1, $2, $3, $4)
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
    pool: &PgPool,
    file_key: &str,
    token: &str,
    lease_ms: i64,
) -> Result<Option<Attachment>, DbError> {
    // Two concurrent claims: the second waits for the first's row lock, then re-checks this
    // WHERE against the row the first one wrote (READ COMMITTED), sees a live lease and
    // updates nothing.
    let row = sqlx::query(concat!(
        "UPDATE attachments
         SET status = 'processing', claim_token = $2,
             claimed_until = now() + $3::bigint * interval '1 millisecond',
             attempts = attempts + 1
         WHERE file_key = $1
           AND (status IN ('uploaded', 'failed')
                OR (status = 'processing' AND claimed_until < now()))
         RETURNING ",
        columns!()
    ))
    .bind(file_key)
    .bind(token)
    .bind(lease_ms)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(attachment).transpose()
}

pub(super) async fn renew_claim(
    pool: &PgPool,
    file_key: &str,
    token: &str,
    lease_ms: i64,
) -> Result<bool, DbError> {
    // Not `claimed_until > now()`: a lease that ran out but that no one took over is still
    // this job's, and renewing it is what the job wants.
    let done = sqlx::query(
        "UPDATE attachments
         SET claimed_until = now() + $3::bigint * interval '1 millisecond'
         WHERE file_key = $1 AND status = 'processing' AND claim_token = $2",
    )
    .bind(file_key)
    .bind(token)
    .bind(lease_ms)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn publish_ready(
    pool: &PgPool,
    file_key: &str,
    token: &str,
    r: &Ready,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE attachments
         SET status = 'ready', variants = $3, sniffed_mime = $4, checksum = $5,
             width = $6::integer, height = $7::integer,
             scan_verdict = $8, scan_findings = $9, placeholder = $10, processed_at = now(),
             error_code = NULL, error_message = NULL, claim_token = NULL, claimed_until = NULL
         WHERE file_key = $1 AND status = 'processing' AND claim_token = $2",
    )
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
    pool: &PgPool,
    file_key: &str,
    token: &str,
    status: Status,
    code: &str,
    message: &str,
    scan: Option<&ScanFields>,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE attachments
         SET status = $3, error_code = $4, error_message = $5,
             scan_verdict = $6, scan_findings = $7, processed_at = now(),
             claim_token = NULL, claimed_until = NULL
         WHERE file_key = $1 AND status = 'processing' AND claim_token = $2",
    )
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
    pool: &PgPool,
    file_key: &str,
    token: &str,
    code: &str,
    message: &str,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE attachments
         SET status = 'uploaded', error_code = $3, error_message = $4,
             claim_token = NULL, claimed_until = NULL
         WHERE file_key = $1 AND status = 'processing' AND claim_token = $2",
    )
    .bind(file_key)
    .bind(token)
    .bind(code)
    .bind(message)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn claim_orphans(
    pool: &PgPool,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Attachment>, DbError> {
    // SKIP LOCKED: a second cleaner passes over the rows the first is taking instead of
    // waiting for them; the outer status check covers a row that changed after the inner
    // SELECT's snapshot. MATERIALIZED makes the locking SELECT run exactly once: written as
    // `id IN (SELECT … FOR UPDATE SKIP LOCKED)`, the planner may re-run it for every outer
    // row (a nested-loop semi-join), each run locking more rows that other cleaners then
    // skip, so they come back empty-handed while orphans remain.
    let rows = sqlx::query(concat!(
        "WITH picked AS MATERIALIZED (
             SELECT id AS picked_id FROM attachments
             WHERE status = 'uploaded' AND created_at < $1 AND updated_at < $1
             ORDER BY created_at
             LIMIT $2
             FOR UPDATE SKIP LOCKED)
         UPDATE attachments SET status = 'deleted'
         FROM picked
         WHERE id = picked_id AND status = 'uploaded'
         RETURNING ",
        columns!()
    ))
    .bind(cutoff)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    all(&rows)
}

pub(super) async fn orphan_candidates(
    pool: &PgPool,
    cutoff: DateTime<Utc>,
    after: &str,
    limit: i64,
) -> Result<Vec<String>, DbError> {
    let rows = sqlx::query(
        "SELECT file_key FROM attachments
         WHERE status = 'uploaded' AND created_at < $1 AND updated_at < $1 AND file_key > $2
         ORDER BY file_key
         LIMIT $3",
    )
    .bind(cutoff)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| r.try_get("file_key").map_err(DbError::from))
        .collect()
}

pub(super) async fn claim_orphan_keys(
    pool: &PgPool,
    cutoff: DateTime<Utc>,
    keys: &[String],
) -> Result<Vec<Attachment>, DbError> {
    // A second cleaner taking the same key waits for the first's row lock, then re-checks
    // the WHERE on the row the first wrote (READ COMMITTED): `deleted`, so it takes nothing.
    let rows = sqlx::query(concat!(
        "UPDATE attachments SET status = 'deleted'
         WHERE file_key = ANY($2) AND status = 'uploaded'
           AND created_at < $1 AND updated_at < $1
         RETURNING ",
        columns!()
    ))
    .bind(cutoff)
    .bind(keys)
    .fetch_all(pool)
    .await?;
    all(&rows)
}

pub(super) async fn count_orphans(pool: &PgPool, cutoff: DateTime<Utc>) -> Result<i64, DbError> {
    let n = sqlx::query_scalar(
        "SELECT count(*) FROM attachments
         WHERE status = 'uploaded' AND created_at < $1 AND updated_at < $1",
    )
    .bind(cutoff)
    .fetch_one(pool)
    .await?;
    Ok(n)
}

pub(super) async fn fail_abandoned(
    pool: &PgPool,
    cutoff: DateTime<Utc>,
    limit: i64,
    code: &str,
    message: &str,
) -> Result<Vec<Attachment>, DbError> {
    // The same MATERIALIZED … SKIP LOCKED shape as `claim_orphans`, for the same reasons; the
    // outer conditions re-check a row a worker took over after the inner snapshot.
    let rows = sqlx::query(concat!(
        "WITH picked AS MATERIALIZED (
             SELECT id AS picked_id FROM attachments
             WHERE status = 'processing' AND claimed_until < $1
             ORDER BY claimed_until
             LIMIT $2
             FOR UPDATE SKIP LOCKED)
         UPDATE attachments
         SET status = 'failed', error_code = $3, error_message = $4,
             claim_token = NULL, claimed_until = NULL
         FROM picked
         WHERE id = picked_id AND status = 'processing' AND claimed_until < $1
         RETURNING ",
        columns!()
    ))
    .bind(cutoff)
    .bind(limit)
    .bind(code)
    .bind(message)
    .fetch_all(pool)
    .await?;
    all(&rows)
}

pub(super) async fn count_abandoned(pool: &PgPool, cutoff: DateTime<Utc>) -> Result<i64, DbError> {
    let n = sqlx::query_scalar(
        "SELECT count(*) FROM attachments WHERE status = 'processing' AND claimed_until < $1",
    )
    .bind(cutoff)
    .fetch_one(pool)
    .await?;
    Ok(n)
}

pub(super) async fn purge(pool: &PgPool, file_key: &str) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM attachments WHERE file_key = $1 AND status = 'deleted'")
        .bind(file_key)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn rows_with_status(
    pool: &PgPool,
    status: &str,
    code: Option<&str>,
    limit: i64,
) -> Result<Vec<Attachment>, DbError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM attachments WHERE status = $1 AND ($2::text IS NULL OR error_code = $2)
          ORDER BY updated_at LIMIT $3"
    ))
    .bind(status)
    .bind(code)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    all(&rows)
}

pub(super) async fn deleted_rows(
    pool: &PgPool,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Attachment>, DbError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM attachments WHERE status = 'deleted' AND updated_at < $1
          ORDER BY updated_at LIMIT $2"
    ))
    .bind(cutoff)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    all(&rows)
}

pub(super) async fn existing_keys(
    pool: &PgPool,
    keys: &[String],
) -> Result<HashSet<String>, DbError> {
    let rows = sqlx::query("SELECT file_key FROM attachments WHERE file_key = ANY($1)")
        .bind(keys)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| r.try_get("file_key").map_err(DbError::from))
        .collect()
}

/// None when the database has no migrations table (it was never migrated).
pub(super) async fn applied_migrations(
    pool: &PgPool,
) -> Result<Option<Vec<super::schema::Applied>>, DbError> {
    // to_regclass follows the search_path, as the migrator does.
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
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
    pool: &PgPool,
    file_key: &str,
    at: DateTime<Utc>,
) -> Result<bool, DbError> {
    let done =
        sqlx::query("UPDATE attachments SET created_at = $2, updated_at = $2, claimed_until = CASE WHEN claimed_until IS NULL THEN NULL ELSE $2 END WHERE file_key = $1")
            .bind(file_key)
            .bind(at)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() == 1)
}
