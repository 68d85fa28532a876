//! A row's life through a job: created by the upload-complete step, claimed under a lease,
//! renewed while the job runs, then given its verdict or released for a retry. Each statement
//! is written once for both databases (see `dialect.rs` for the parts they spell differently).
//!
//! Every UPDATE sets `updated_at` itself: SQLite's RETURNING does not see what its AFTER
//! trigger writes (PostgreSQL's trigger would set the same `now()`).

use super::row::{guests_column, scan_columns, AttachmentRow};
use super::{
    truncate, Attachment, Claim, Db, DbError, GuestDigest, NewAttachment, Ready, ScanFields,
    Status, MAX_ERROR_MESSAGE_BYTES, MAX_LEASE,
};
use crate::sandbox::GuestRef;
use std::time::Duration;

/// [`Db::claim`] and [`Db::upsert_uploaded`] re-read the row after a write that matched
/// nothing; when another writer changed the row in between (inserted, released, purged it),
/// they try again, this many times in all. More rounds than this means the row is being
/// fought over, and the caller is better off trying later.
const RACE_ROUNDS: usize = 3;

/// Which rows one claiming UPDATE may take (see [`Db::take`]).
enum Claimable<'a> {
    /// `uploaded`, `failed`, or `processing` under a lease that ran out: a process job's.
    Open,
    /// As `Open` but not `failed`: a re-process job's, which takes a `failed` row only if
    /// the release it names processed it (`Touched`).
    OpenNotFailed,
    /// `ready` or `failed` with a recorded guest whose sha256 is LIKE this pattern.
    Touched(&'a str),
}

/// The claiming UPDATE with `$where` as the condition on the row's status: `processing` under
/// token `$2` until `$3` milliseconds from now, the attempt counted.
macro_rules! claiming_update {
    ($d:ident: $($where:tt)+) => {
        sql!($d:
            "UPDATE attachments
             SET status = 'processing', claim_token = $2,
                 claimed_until = ", lease_end("$3"), ",
                 attempts = attempts + 1, updated_at = ", now, "
             WHERE file_key = $1 AND ", $($where)+, "
             RETURNING ", columns)
    };
}

impl Db {
    /// One claiming UPDATE of the rows `which` names: the row as claimed, or `None` if it was
    /// not one of them. PostgreSQL: of two concurrent claims, the second waits for the first's
    /// row lock, then re-checks the WHERE against the row the first one wrote (READ
    /// COMMITTED), sees a live lease and updates nothing. SQLite: one writer at a time, and
    /// this is one autocommit statement.
    async fn take(
        &self,
        which: &Claimable<'_>,
        file_key: &str,
        token: &str,
        lease_ms: i64,
    ) -> Result<Option<Attachment>, DbError> {
        on_pool!(self, |pool, d| {
            let query = sqlx::query(match which {
                Claimable::Open => claiming_update!(d:
                    "(status IN ('uploaded', 'failed')
                      OR (status = 'processing' AND claimed_until < ", now, "))"),
                Claimable::OpenNotFailed => claiming_update!(d:
                    "(status = 'uploaded'
                      OR (status = 'processing' AND claimed_until < ", now, "))"),
                Claimable::Touched(_) => claiming_update!(d:
                    "status IN ('ready', 'failed') AND ", guests_match("$4")),
            })
            .bind(file_key)
            .bind(token)
            .bind(lease_ms);
            let query = match which {
                Claimable::Touched(pattern) => query.bind(*pattern),
                _ => query,
            };
            query
                .fetch_optional(pool)
                .await?
                .map(|row| row.attachment())
                .transpose()
        })
    }

    pub async fn get(&self, file_key: &str) -> Result<Option<Attachment>, DbError> {
        on_pool!(self, |pool, d| {
            sqlx::query(sql!(d: "SELECT ", columns, " FROM attachments WHERE file_key = $1"))
                .bind(file_key)
                .fetch_optional(pool)
                .await?
                .map(|row| row.attachment())
                .transpose()
        })
    }

    /// Creates the `uploaded` row if there is none for this key, and returns the row either
    /// way (an existing row is returned as it is, whatever its status and fields: the first
    /// upload-complete wins).
    pub async fn upsert_uploaded(&self, new: &NewAttachment) -> Result<Attachment, DbError> {
        for _ in 0..RACE_ROUNDS {
            let inserted = on_pool!(self, |pool, d| {
                sqlx::query(sql!(d:
                    "INSERT INTO attachments (file_key, mime_type, size, checksum)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (file_key) DO NOTHING
                     RETURNING ", columns))
                .bind(&new.file_key)
                .bind(&new.mime_type)
                .bind(new.size)
                .bind(&new.checksum)
                .fetch_optional(pool)
                .await?
                .map(|row| row.attachment())
                .transpose()
            })?;
            if let Some(row) = inserted {
                return Ok(row);
            }
            // The key exists, unless it was purged since the INSERT looked; then insert again.
            if let Some(row) = self.get(&new.file_key).await? {
                return Ok(row);
            }
        }
        Err(DbError::query(format!(
            "the row for {:?} kept appearing and disappearing while being created",
            new.file_key
        )))
    }

    /// Takes the row for processing under `token` for `lease` (at most [`MAX_LEASE`]):
    /// `uploaded` or `failed` → `processing`, or a `processing` row whose lease has run out
    /// (its worker crashed or hung: takeover). Counts the attempt.
    ///
    /// `failed` is claimable so that an operator (or a deliberate requeue) can retry a failed
    /// upload; a duplicate job for it just fails the same way again.
    pub async fn claim(
        &self,
        file_key: &str,
        token: &str,
        lease: Duration,
    ) -> Result<Claim, DbError> {
        let lease_ms = lease_ms(lease);
        let mut last = None;
        for _ in 0..RACE_ROUNDS {
            let claimed = self
                .take(&Claimable::Open, file_key, token, lease_ms)
                .await?;
            if let Some(row) = claimed {
                return Ok(Claim::Claimed(row));
            }
            // Nothing matched: say why, from the row as it is now.
            match self.get(file_key).await? {
                None => return Ok(Claim::Missing),
                Some(row) if row.status.is_finished() => return Ok(Claim::Finished(row)),
                Some(row) if row.status == Status::Processing => return Ok(Claim::Busy(row)),
                // uploaded or failed: it was created or released after our UPDATE looked.
                Some(row) => last = Some(row),
            }
        }
        Ok(last.map_or(Claim::Missing, Claim::Busy))
    }

    /// [`Db::claim`] for a re-process job, which names a guest release by `digest`: a `ready`
    /// or `failed` row whose recorded guests include that release is re-opened (→
    /// `processing`, [`Claim::Reopened`]); any other `ready` or `failed` row is left as it is
    /// ([`Claim::NotTouched`]), so a late or duplicate re-process job cannot re-open a row the
    /// release did not touch (or one already processed again by other releases). An
    /// `uploaded` row, or a `processing` one whose lease ran out, is claimed as by
    /// [`Db::claim`]: that is the job's own retry after a retryable error gave the row back, or
    /// its takeover after a crash. Counts the attempt.
    pub async fn claim_reprocess(
        &self,
        file_key: &str,
        token: &str,
        lease: Duration,
        digest: &GuestDigest,
    ) -> Result<Claim, DbError> {
        let lease_ms = lease_ms(lease);
        let pattern = digest.like_pattern();
        let mut last = None;
        for _ in 0..RACE_ROUNDS {
            // The digest is checked in the same statement that re-opens the row, so the row's
            // guests cannot change between the check and the claim.
            let touched = Claimable::Touched(&pattern);
            if let Some(row) = self.take(&touched, file_key, token, lease_ms).await? {
                return Ok(Claim::Reopened(row));
            }
            let claimed = self
                .take(&Claimable::OpenNotFailed, file_key, token, lease_ms)
                .await?;
            if let Some(row) = claimed {
                return Ok(Claim::Claimed(row));
            }
            match self.get(file_key).await? {
                None => return Ok(Claim::Missing),
                Some(row) if matches!(row.status, Status::Ready | Status::Failed) => {
                    if !digest.touched(&row) {
                        return Ok(Claim::NotTouched(row));
                    }
                    // Touched after all: the row got its verdict after our UPDATE looked.
                    last = Some(row);
                }
                Some(row) if row.status.is_finished() => return Ok(Claim::Finished(row)),
                Some(row) if row.status == Status::Processing => return Ok(Claim::Busy(row)),
                // uploaded: it was released after our UPDATE looked.
                Some(row) => last = Some(row),
            }
        }
        Ok(last.map_or(Claim::Missing, Claim::Busy))
    }

    /// Extends a live claim: the row's lease ends `lease` (at most [`MAX_LEASE`]) from now,
    /// if it is still `processing` under `token`. Returns false, changing nothing, if the
    /// claim was lost (the lease ran out and another worker took the upload over, or the row
    /// was finished). A job calls this while it runs, so a slow job keeps its upload.
    pub async fn renew_claim(
        &self,
        file_key: &str,
        token: &str,
        lease: Duration,
    ) -> Result<bool, DbError> {
        let lease_ms = lease_ms(lease);
        // Not `claimed_until > now`: a lease that ran out but that no one took over is still
        // this job's, and renewing it is what the job wants.
        on_pool!(self, |pool, d| {
            let done = sqlx::query(sql!(d:
                "UPDATE attachments SET claimed_until = ", lease_end("$3"), "
                 WHERE file_key = $1 AND status = 'processing' AND claim_token = $2"))
            .bind(file_key)
            .bind(token)
            .bind(lease_ms)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Publishes the verdict `ready` with everything that goes with it (the guests that ran
    /// included), in one statement, and ends the claim. Returns false, changing nothing, if the row is no longer
    /// `processing` under `token` (the lease was taken over, or the row was finished).
    pub async fn publish_ready(
        &self,
        file_key: &str,
        token: &str,
        r: &Ready,
    ) -> Result<bool, DbError> {
        let (scan_verdict, scan_findings) = scan_columns(Some(&r.scan));
        on_pool!(self, |pool, d| {
            let done = sqlx::query(sql!(d:
                "UPDATE attachments
                 SET status = 'ready', variants = $3, sniffed_mime = $4, checksum = $5,
                     width = CAST($6 AS INTEGER), height = CAST($7 AS INTEGER),
                     scan_verdict = $8, scan_findings = $9, placeholder = $10,
                     processed_at = ", now, ", updated_at = ", now, ",
                     error_code = NULL, error_message = NULL, guests = $11,
                     claim_token = NULL, claimed_until = NULL
                 WHERE file_key = $1 AND status = 'processing' AND claim_token = $2"))
            .bind(file_key)
            .bind(token)
            .bind(sqlx::types::Json(&r.variants))
            .bind(&r.sniffed_mime)
            .bind(&r.checksum)
            .bind(r.width)
            .bind(r.height)
            .bind(scan_verdict)
            .bind(scan_findings)
            .bind(&r.placeholder)
            .bind(guests_column(Some(&r.guests)))
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// The verdict `failed` (a permanent error: the same bytes fail the same way), with the
    /// error's code and message, the scan if there was one and the guests if they ran (`None`
    /// keeps the row's); ends the claim and empties the variant list. Returns false, changing
    /// nothing, if the claim was lost.
    pub async fn mark_failed(
        &self,
        file_key: &str,
        token: &str,
        code: &str,
        message: &str,
        scan: Option<&ScanFields>,
        guests: Option<&[GuestRef]>,
    ) -> Result<bool, DbError> {
        self.finish_with_error(file_key, token, Status::Failed, code, message, scan, guests)
            .await
    }

    /// The verdict `quarantined` (the scanner judged the upload hostile), with the scan and
    /// an error code/message saying why, and the guests if they ran (`None` keeps the row's);
    /// ends the claim and empties the variant list. Final: only deletion moves it on.
    /// Returns false, changing nothing, if the claim was lost.
    pub async fn mark_quarantined(
        &self,
        file_key: &str,
        token: &str,
        code: &str,
        message: &str,
        scan: &ScanFields,
        guests: Option<&[GuestRef]>,
    ) -> Result<bool, DbError> {
        self.finish_with_error(
            file_key,
            token,
            Status::Quarantined,
            code,
            message,
            Some(scan),
            guests,
        )
        .await
    }

    /// `failed` or `quarantined`: a verdict with an error and maybe a scan and guests. Only a
    /// `ready` row lists variants: a re-processed row that ends here lists none any more.
    #[allow(clippy::too_many_arguments)]
    async fn finish_with_error(
        &self,
        file_key: &str,
        token: &str,
        status: Status,
        code: &str,
        message: &str,
        scan: Option<&ScanFields>,
        guests: Option<&[GuestRef]>,
    ) -> Result<bool, DbError> {
        let message = truncate(message, MAX_ERROR_MESSAGE_BYTES);
        let (scan_verdict, scan_findings) = scan_columns(scan);
        on_pool!(self, |pool, d| {
            let done = sqlx::query(sql!(d:
                "UPDATE attachments
                 SET status = $3, error_code = $4, error_message = $5,
                     scan_verdict = $6, scan_findings = $7,
                     guests = COALESCE($8, guests), variants = '[]',
                     processed_at = ", now, ", updated_at = ", now, ",
                     claim_token = NULL, claimed_until = NULL
                 WHERE file_key = $1 AND status = 'processing' AND claim_token = $2"))
            .bind(file_key)
            .bind(token)
            .bind(status.as_str())
            .bind(code)
            .bind(message)
            .bind(scan_verdict)
            .bind(scan_findings)
            .bind(guests_column(guests))
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Gives the claim back without a verdict after a retryable error: the row returns to
    /// `uploaded` (claimable by the job's next try) with the error recorded and no variants
    /// listed (a re-processed row's old ones are gone). Returns false, changing nothing, if
    /// the claim was lost.
    pub async fn release(
        &self,
        file_key: &str,
        token: &str,
        code: &str,
        message: &str,
    ) -> Result<bool, DbError> {
        let message = truncate(message, MAX_ERROR_MESSAGE_BYTES);
        on_pool!(self, |pool, d| {
            let done = sqlx::query(sql!(d:
                "UPDATE attachments
                 SET status = 'uploaded', error_code = $3, error_message = $4, variants = '[]',
                     claim_token = NULL, claimed_until = NULL, updated_at = ", now, "
                 WHERE file_key = $1 AND status = 'processing' AND claim_token = $2"))
            .bind(file_key)
            .bind(token)
            .bind(code)
            .bind(message)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }
}

/// `lease` capped at [`MAX_LEASE`], in the milliseconds the statements bind.
fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.min(MAX_LEASE).as_millis()).unwrap_or(i64::MAX)
}
