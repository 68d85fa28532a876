//! The `attachments` table: the one record of each upload's status, variants and verdict, on
//! PostgreSQL or SQLite. This module owns the table's schema (the migrations under
//! `migrations/postgres` and `migrations/sqlite`, embedded in the binary), the check that a
//! database has exactly that schema before a worker starts, and every statement that reads or
//! writes a row.
//!
//! Correctness does not depend on attachd being the only writer, or on one worker per row:
//!
//! - **The status rules are in the database.** A trigger refuses any status change out of
//!   `ready` or `quarantined` except to `deleted`, and any status change out of `deleted`
//!   ([`DbError::Conflict`]).
//! - **Processing is leased.** [`Db::claim`] moves a row to `processing` with a token and an
//!   expiry in one conditional UPDATE; [`Db::publish_ready`], [`Db::mark_failed`],
//!   [`Db::mark_quarantined`] and [`Db::release`] change the row only `WHERE status =
//!   'processing' AND claim_token = <ours>`, so a worker whose lease was taken over (it hung,
//!   or was presumed dead) cannot overwrite its successor, and a late duplicate job cannot touch
//!   a finished row. A verdict (status, variants, checksum, scan) is one statement: a reader
//!   never sees `ready` without its variants.
//! - **Cleanup takes rows before it deletes objects.** [`Db::claim_orphans`] moves stale
//!   `uploaded` rows to `deleted` (so no job can claim them any more) and returns them;
//!   the caller deletes their objects, then [`Db::purge`]s the rows. [`Db::deleted_rows`]
//!   finds rows a crashed cleaner left in `deleted`.
//!
//! Times: PostgreSQL stores `timestamptz` and uses its `now()`; SQLite stores fixed-width
//! RFC 3339 UTC text (`2026-01-02T03:04:05.678Z`) from its own clock. Cutoffs passed in by the
//! caller are compared against those database times, so the worker's and the database's clocks
//! should agree to well within the cutoffs' margins (minutes).

mod error;
mod events;
mod model;
mod schema;

/// The columns every statement returns, in [`Attachment`]'s order.
macro_rules! columns {
    () => {
        "id, file_key, mime_type, sniffed_mime, size, checksum, status, variants, width, \
         height, placeholder, error_code, error_message, attempts, scan_verdict, scan_findings, \
         claimed_until, created_at, updated_at, processed_at"
    };
}

mod pg;
mod sqlite;

pub use error::DbError;
pub use events::{Event, NewEvent, MAX_REASON_BYTES};
pub use model::{
    Attachment, Claim, Finding, NewAttachment, Ready, ScanFields, ScanVerdict, Status,
    VariantRecord,
};

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};
use std::collections::HashSet;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// Connections per worker process: the job concurrency (a handful) plus the cleaner, with
/// room to spare, while many workers together stay well under PostgreSQL's default
/// `max_connections` of 100.
pub const POOL_MAX_CONNECTIONS: u32 = 10;
/// How long getting a connection may take, from the pool or by connecting. Short: a dead
/// database should fail a job (retryably) or the startup quickly and visibly, not hang it.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a SQLite writer waits for another's write to finish before giving up. Our writes
/// are single short statements, so a wait this long means something is wrong.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a PostgreSQL statement may run. Ours are single-row or LIMITed; one running this
/// long is stuck on a lock or a sick server, and holding a job for it helps nobody.
pub const PG_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest lease [`Db::claim`] grants, whatever is asked: a crashed worker's row stays
/// unprocessable for the lease, and no job legitimately needs more than this.
pub const MAX_LEASE: Duration = Duration::from_secs(24 * 60 * 60);
/// `error_message` is cut to this many bytes: the row stays small, and an error that quotes
/// hostile input (a guest's stderr) cannot inflate it.
pub const MAX_ERROR_MESSAGE_BYTES: usize = 4096;
/// [`Db::claim`] and [`Db::upsert_uploaded`] re-read the row after a write that matched
/// nothing; when another writer changed the row in between (inserted, released, purged it),
/// they try again, this many times in all. More rounds than this means the row is being
/// fought over, and the caller is better off trying later.
const RACE_ROUNDS: usize = 3;
/// Keys per `existing_keys` statement: keeps each statement and its result small whatever
/// the caller passes.
const EXISTING_KEYS_BATCH: usize = 1000;
/// The SQLite file under the data directory.
pub const SQLITE_FILE_NAME: &str = "attachd.db";

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

#[derive(Debug, Clone)]
enum Pool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// A connection pool to the attachments database. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct Db {
    pool: Pool,
}

impl Db {
    /// Connects to `postgres://…` (or `postgresql://…`) or `sqlite://path` (the file is
    /// created if missing; its directory must exist). Opens one connection to prove the
    /// database is reachable and fails within [`ACQUIRE_TIMEOUT`] if it is not.
    ///
    /// SQLite runs in WAL mode (readers do not block the writer), waits up to
    /// [`SQLITE_BUSY_TIMEOUT`] for a concurrent writer, enforces foreign keys, and syncs
    /// every commit (`synchronous=FULL`: a job acknowledged after `publish_ready` must not
    /// lose its row to a power cut).
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?
                .application_name("attachd")
                .options([(
                    "statement_timeout",
                    format!("{}ms", PG_STATEMENT_TIMEOUT.as_millis()),
                )]);
            probe::<PgConnection>(&options).await?;
            let pool = PgPoolOptions::new()
                .max_connections(POOL_MAX_CONNECTIONS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_lazy_with(options);
            Ok(Db {
                pool: Pool::Postgres(pool),
            })
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true);
            probe::<SqliteConnection>(&options).await?;
            let pool = SqlitePoolOptions::new()
                .max_connections(POOL_MAX_CONNECTIONS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_lazy_with(options);
            Ok(Db {
                pool: Pool::Sqlite(pool),
            })
        } else {
            // Not echoing the URL: it may carry a password.
            Err(DbError::unavailable(
                "unsupported database URL: expected postgres://… or sqlite://…",
            ))
        }
    }

    /// The default database: a SQLite file `attachd.db` under the data directory.
    pub fn default_url(data_dir: &Path) -> String {
        let path = data_dir
            .join(SQLITE_FILE_NAME)
            .to_string_lossy()
            .into_owned();
        // sqlx percent-decodes the path and stops it at `?`; keep those characters literal.
        let path = path
            .replace('%', "%25")
            .replace('?', "%3F")
            .replace('#', "%23");
        format!("sqlite://{path}")
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Postgres(_) => Backend::Postgres,
            Pool::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Applies the migrations this binary carries that the database lacks. Safe to run from
    /// several workers at once (the migrator takes a lock). Fails with [`DbError::Schema`] if
    /// the database has a migration this binary does not know, or one that was changed.
    pub async fn migrate(&self) -> Result<(), DbError> {
        let result = match &self.pool {
            Pool::Postgres(p) => schema::POSTGRES.run(p).await,
            Pool::Sqlite(p) => schema::SQLITE.run(p).await,
        };
        result.map_err(DbError::from_migrate)
    }

    /// The worker refuses to start on a schema it does not know: [`DbError::Schema`] if the
    /// database is not migrated, lacks some of this binary's migrations, has migrations this
    /// binary does not know (a newer attachd migrated it), has a half-applied one, or one
    /// whose text changed since it was applied.
    pub async fn check_schema(&self) -> Result<(), DbError> {
        match &self.pool {
            Pool::Postgres(p) => {
                schema::compare(&schema::POSTGRES, pg::applied_migrations(p).await?)
            }
            Pool::Sqlite(p) => {
                schema::compare(&schema::SQLITE, sqlite::applied_migrations(p).await?)
            }
        }
    }

    pub async fn get(&self, file_key: &str) -> Result<Option<Attachment>, DbError> {
        match &self.pool {
            Pool::Postgres(p) => pg::get(p, file_key).await,
            Pool::Sqlite(p) => sqlite::get(p, file_key).await,
        }
    }

    /// Creates the `uploaded` row if there is none for this key, and returns the row either
    /// way (an existing row is returned as it is, whatever its status and fields: the first
    /// upload-complete wins).
    pub async fn upsert_uploaded(&self, new: &NewAttachment) -> Result<Attachment, DbError> {
        for _ in 0..RACE_ROUNDS {
            let inserted = match &self.pool {
                Pool::Postgres(p) => pg::insert_uploaded(p, new).await?,
                Pool::Sqlite(p) => sqlite::insert_uploaded(p, new).await?,
            };
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
        let lease_ms = i64::try_from(lease.min(MAX_LEASE).as_millis()).unwrap_or(i64::MAX);
        let mut last = None;
        for _ in 0..RACE_ROUNDS {
            let claimed = match &self.pool {
                Pool::Postgres(p) => pg::try_claim(p, file_key, token, lease_ms).await?,
                Pool::Sqlite(p) => sqlite::try_claim(p, file_key, token, lease_ms).await?,
            };
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
        let lease_ms = i64::try_from(lease.min(MAX_LEASE).as_millis()).unwrap_or(i64::MAX);
        match &self.pool {
            Pool::Postgres(p) => pg::renew_claim(p, file_key, token, lease_ms).await,
            Pool::Sqlite(p) => sqlite::renew_claim(p, file_key, token, lease_ms).await,
        }
    }

    /// Publishes the verdict `ready` with everything that goes with it, in one statement,
    /// and ends the claim. Returns false, changing nothing, if the row is no longer
    /// `processing` under `token` (the lease was taken over, or the row was finished).
    pub async fn publish_ready(
        &self,
        file_key: &str,
        token: &str,
        r: &Ready,
    ) -> Result<bool, DbError> {
        match &self.pool {
            Pool::Postgres(p) => pg::publish_ready(p, file_key, token, r).await,
            Pool::Sqlite(p) => sqlite::publish_ready(p, file_key, token, r).await,
        }
    }

    /// The verdict `failed` (a permanent error: the same bytes fail the same way), with the
    /// error's code and message and the scan if there was one; ends the claim. Returns false,
    /// changing nothing, if the claim was lost.
    pub async fn mark_failed(
        &self,
        file_key: &str,
        token: &str,
        code: &str,
        message: &str,
        scan: Option<&ScanFields>,
    ) -> Result<bool, DbError> {
        self.finish_with_error(file_key, token, Status::Failed, code, message, scan)
            .await
    }

    /// The verdict `quarantined` (the scanner judged the upload hostile), with the scan and
    /// an error code/message saying why; ends the claim. Final: only deletion moves it on.
    /// Returns false, changing nothing, if the claim was lost.
    pub async fn mark_quarantined(
        &self,
        file_key: &str,
        token: &str,
        code: &str,
        message: &str,
        scan: &ScanFields,
    ) -> Result<bool, DbError> {
        self.finish_with_error(
            file_key,
            token,
            Status::Quarantined,
            code,
            message,
            Some(scan),
        )
        .await
    }

    async fn finish_with_error(
        &self,
        file_key: &str,
        token: &str,
        status: Status,
        code: &str,
        message: &str,
        scan: Option<&ScanFields>,
    ) -> Result<bool, DbError> {
        let message = truncate(message, MAX_ERROR_MESSAGE_BYTES);
        match &self.pool {
            Pool::Postgres(p) => {
                pg::finish_with_error(p, file_key, token, status, code, message, scan).await
            }
            Pool::Sqlite(p) => {
                sqlite::finish_with_error(p, file_key, token, status, code, message, scan).await
            }
        }
    }

    /// Gives the claim back without a verdict after a retryable error: the row returns to
    /// `uploaded` (claimable by the job's next try) with the error recorded. Returns false,
    /// changing nothing, if the claim was lost.
    pub async fn release(
        &self,
        file_key: &str,
        token: &str,
        code: &str,
        message: &str,
    ) -> Result<bool, DbError> {
        let message = truncate(message, MAX_ERROR_MESSAGE_BYTES);
        match &self.pool {
            Pool::Postgres(p) => pg::release(p, file_key, token, code, message).await,
            Pool::Sqlite(p) => sqlite::release(p, file_key, token, code, message).await,
        }
    }

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
        match &self.pool {
            Pool::Postgres(p) => pg::claim_orphans(p, cutoff, limit).await,
            Pool::Sqlite(p) => sqlite::claim_orphans(p, cutoff, limit).await,
        }
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
        match &self.pool {
            Pool::Postgres(p) => pg::orphan_candidates(p, cutoff, after, limit).await,
            Pool::Sqlite(p) => sqlite::orphan_candidates(p, cutoff, after, limit).await,
        }
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
        for batch in keys.chunks(EXISTING_KEYS_BATCH) {
            taken.extend(match &self.pool {
                Pool::Postgres(p) => pg::claim_orphan_keys(p, cutoff, batch).await?,
                Pool::Sqlite(p) => sqlite::claim_orphan_keys(p, cutoff, batch).await?,
            });
        }
        Ok(taken)
    }

    /// How many rows [`Db::claim_orphans`] would take for this `cutoff` now (for a dry run);
    /// changes nothing.
    pub async fn count_orphans(&self, cutoff: DateTime<Utc>) -> Result<u64, DbError> {
        let n = match &self.pool {
            Pool::Postgres(p) => pg::count_orphans(p, cutoff).await?,
            Pool::Sqlite(p) => sqlite::count_orphans(p, cutoff).await?,
        };
        // COUNT(*) is never negative.
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Cleanup of abandoned work: marks up to `limit` rows `failed` with `code` and `message`
    /// that are still `processing` under a lease that ran out before `cutoff`, and returns
    /// them. Such a row's worker died mid-job and no job took the upload over (BullMQ recovers
    /// a stalled job within a minute, but fails it once it has stalled too often, and a job
    /// can be lost with Redis): left alone it would say `processing` forever. `failed` is
    /// visible to the API and still claimable, so a job that does turn up processes it.
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
        match &self.pool {
            Pool::Postgres(p) => pg::fail_abandoned(p, cutoff, limit, code, message).await,
            Pool::Sqlite(p) => sqlite::fail_abandoned(p, cutoff, limit, code, message).await,
        }
    }

    /// How many rows [`Db::fail_abandoned`] would take for this `cutoff` now; changes nothing.
    pub async fn count_abandoned(&self, cutoff: DateTime<Utc>) -> Result<u64, DbError> {
        let n = match &self.pool {
            Pool::Postgres(p) => pg::count_abandoned(p, cutoff).await?,
            Pool::Sqlite(p) => sqlite::count_abandoned(p, cutoff).await?,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Orphan cleanup, step 3, once the row's objects are gone: deletes the row if it is
    /// `deleted`. Returns false if there was no such row.
    pub async fn purge(&self, file_key: &str) -> Result<bool, DbError> {
        match &self.pool {
            Pool::Postgres(p) => pg::purge(p, file_key).await,
            Pool::Sqlite(p) => sqlite::purge(p, file_key).await,
        }
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
        match &self.pool {
            Pool::Postgres(p) => pg::deleted_rows(p, cutoff, limit).await,
            Pool::Sqlite(p) => sqlite::deleted_rows(p, cutoff, limit).await,
        }
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
        match &self.pool {
            Pool::Postgres(p) => pg::rows_with_status(p, status.as_str(), code, limit).await,
            Pool::Sqlite(p) => sqlite::rows_with_status(p, status.as_str(), code, limit).await,
        }
    }

    /// Which of `keys` have a row (in any status), for the sweep of objects without a row.
    pub async fn existing_keys(&self, keys: &[String]) -> Result<HashSet<String>, DbError> {
        let mut found = HashSet::new();
        for batch in keys.chunks(EXISTING_KEYS_BATCH) {
            found.extend(match &self.pool {
                Pool::Postgres(p) => pg::existing_keys(p, batch).await?,
                Pool::Sqlite(p) => sqlite::existing_keys(p, batch).await?,
            });
        }
        Ok(found)
    }

    /// Closes the pool's connections (waits for the ones in use to come back).
    pub async fn close(&self) {
        match &self.pool {
            Pool::Postgres(p) => p.close().await,
            Pool::Sqlite(p) => p.close().await,
        }
    }
}

/// Test support only: not part of the worker's API, and nothing in attachd calls these.
impl Db {
    /// TEST ONLY. Sets a row's `created_at` and `updated_at` (and its lease's end, if it has
    /// one) to `at`, to make it old.
    #[doc(hidden)]
    pub async fn backdate(&self, file_key: &str, at: DateTime<Utc>) -> Result<bool, DbError> {
        match &self.pool {
            Pool::Postgres(p) => pg::backdate(p, file_key, at).await,
            Pool::Sqlite(p) => sqlite::backdate(p, file_key, at).await,
        }
    }

    /// TEST ONLY. Runs one SQL statement as given (to act as another writer would), and
    /// returns the number of rows it changed; errors are classified like any other.
    #[doc(hidden)]
    pub async fn execute_unchecked(&self, sql: &str) -> Result<u64, DbError> {
        let sql = AssertSqlSafe(sql.to_owned());
        Ok(match &self.pool {
            Pool::Postgres(p) => sqlx::query(sql).execute(p).await?.rows_affected(),
            Pool::Sqlite(p) => sqlx::query(sql).execute(p).await?.rows_affected(),
        })
    }
}

/// Opens and closes one connection, so that an unreachable database fails `connect` now and
/// with its real cause (the pool would retry a refused connection until its timeout, and
/// report only the timeout).
async fn probe<C: Connection>(options: &C::Options) -> Result<(), DbError>
where
    C::Options: ConnectOptions<Connection = C>,
{
    let conn = tokio::time::timeout(ACQUIRE_TIMEOUT, options.connect())
        .await
        .map_err(|_| {
            DbError::unavailable(format!(
                "no connection within {} s",
                ACQUIRE_TIMEOUT.as_secs()
            ))
        })??;
    // The connection did its job; failing to close it politely changes nothing.
    let _ = conn.close().await;
    Ok(())
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_through_its_column_value() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("Ready"), None);
    }

    #[test]
    fn default_url_is_attachd_db_under_the_data_dir() {
        assert_eq!(
            Db::default_url(Path::new("/var/lib/attachd")),
            "sqlite:///var/lib/attachd/attachd.db"
        );
        assert_eq!(
            Db::default_url(Path::new("data")),
            "sqlite://data/attachd.db"
        );
        assert_eq!(
            Db::default_url(Path::new("/odd?dir#1")),
            "sqlite:///odd%3Fdir%231/attachd.db"
        );
    }

    #[test]
    fn truncate_keeps_whole_characters() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("aé", 3), "aé");
    }
}
