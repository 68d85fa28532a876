//! The `attachments` table: the one record of each upload's status, variants and verdict, on
//! PostgreSQL or SQLite. This module owns the table's schema (the migrations under
//! `migrations/postgres` and `migrations/sqlite`, embedded in the binary), the check that a
//! database has exactly that schema before a worker starts, and every statement that reads or
//! writes a row.
//!
//! Correctness does not depend on attachd being the only writer, or on one worker per row:
//!
//! - **The status rules are in the database.** A trigger refuses any status change out of
//!   `quarantined` except to `deleted`, out of `ready` except to `deleted` or to a claimed
//!   `processing` (re-processing, [`Db::claim_reprocess`]), and any status change out of
//!   `deleted` ([`DbError::Conflict`]).
//! - **Processing is leased.** [`Db::claim`] moves a row to `processing` with a token and an
//!   expiry in one conditional UPDATE; [`Db::publish_ready`], [`Db::mark_failed`],
//!   [`Db::mark_quarantined`] and [`Db::release`] change the row only `WHERE status =
//!   'processing' AND claim_token = <ours>`, so a worker whose lease was taken over (it hung,
//!   or was presumed dead) cannot overwrite its successor, and a late duplicate job cannot touch
//!   a finished row. A verdict (status, variants, checksum, scan, guests) is one statement: a
//!   reader never sees `ready` without its variants. The other verdicts and a release empty
//!   the list (a re-opened row keeps its old one while `processing`, so that the job knows
//!   which objects to replace or remove; so does one `fail_abandoned` fails).
//! - **Cleanup takes rows before it deletes objects.** [`Db::claim_orphans`] moves stale
//!   `uploaded` rows to `deleted` (so no job can claim them any more) and returns them;
//!   the caller deletes their objects, then [`Db::purge`]s the rows. [`Db::deleted_rows`]
//!   finds rows a crashed cleaner left in `deleted`.
//!
//! Times: PostgreSQL stores `timestamptz` and uses its `now()`; SQLite stores fixed-width
//! RFC 3339 UTC text (`2026-01-02T03:04:05.678Z`) from its own clock. Cutoffs passed in by the
//! caller are compared against those database times, so the worker's and the database's clocks
//! should agree to well within the cutoffs' margins (minutes).
//!
//! Layout: the statements are written once for both databases, in `lifecycle.rs` (a row's
//! life through a job), `cleanup.rs` (orphans, abandoned work, requeue listings),
//! `events.rs` (the audit log) and `schema.rs` (migrations); `dialect.rs` holds the only
//! text the two spell differently, `row.rs` the one mapping of a row to an [`Attachment`].

/// Runs `$body` on the database `$db` talks to, with `$pool` its pool and `$d` its
/// `dialect::Dialect`. The body is written once and compiled once per database: sqlx's row,
/// argument and result types differ per database, and expanding the body in each arm lets one
/// text use them all (sqlx's `Any` driver has no chrono or JSON types; a generic function would
/// need a bound per bound type). The body must give the same type in both arms, so it turns
/// query results into ours before it ends.
macro_rules! on_pool {
    ($db:expr, |$pool:ident, $d:ident| $body:expr) => {
        match &$db.pool {
            $crate::db::Pool::Postgres($pool) => {
                let $d = $crate::db::dialect::Postgres;
                $body
            }
            $crate::db::Pool::Sqlite($pool) => {
                let $d = $crate::db::dialect::Sqlite;
                $body
            }
        }
    };
}

#[macro_use]
mod dialect;
mod cleanup;
mod error;
mod events;
mod lifecycle;
mod model;
mod review;
mod row;
mod schema;

pub use error::DbError;
pub use events::{Event, NewEvent, MAX_REASON_BYTES};
pub use model::{
    Attachment, Claim, Finding, GuestDigest, NewAttachment, Ready, ScanFields, ScanVerdict, Status,
    VariantRecord, MAX_GUEST_DIGEST_LEN, MIN_GUEST_DIGEST_LEN,
};

use sqlx::pool::PoolOptions;
use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Database};
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
    /// Whether `url` is a database URL [`Db::connect`] takes, without connecting: a scheme it
    /// knows and options that parse. The error does not repeat the URL.
    pub fn check_url(url: &str) -> Result<(), DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            PgConnectOptions::from_str(url)?;
        } else if url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url)?;
        } else {
            return Err(DbError::unavailable(
                "unsupported database URL: expected postgres://… or sqlite://…",
            ));
        }
        Ok(())
    }

    pub async fn connect(url: &str) -> Result<Db, DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?
                .application_name("attachd")
                .options([(
                    "statement_timeout",
                    format!("{}ms", PG_STATEMENT_TIMEOUT.as_millis()),
                )]);
            Ok(Db {
                pool: Pool::Postgres(open(options).await?),
            })
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true);
            Ok(Db {
                pool: Pool::Sqlite(open(options).await?),
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

    /// Whether the database answers a new connection ([`connect_once`], bounded by
    /// [`ACQUIRE_TIMEOUT`]): while the server is away the pool reports only its own timeout,
    /// a new connection the cause (refused, unknown host, authentication).
    pub async fn ping(&self) -> Result<(), DbError> {
        match &self.pool {
            Pool::Postgres(p) => connect_once::<sqlx::PgConnection>(&p.connect_options()).await,
            Pool::Sqlite(p) => connect_once::<sqlx::SqliteConnection>(&p.connect_options()).await,
        }
    }

    /// Closes the pool's connections (waits for the ones in use to come back).
    pub async fn close(&self) {
        on_pool!(self, |pool, _d| pool.close().await)
    }
}

/// Test support: hooks that reach past the API to set up what the tests need (an old row,
/// another writer's statement). Only in test builds and with the `test-hooks` feature (which
/// the integration tests turn on): a release worker must have no way to backdate a row or run
/// unchecked SQL.
#[cfg(any(test, feature = "test-hooks"))]
impl Db {
    /// TEST ONLY. Sets a row's `created_at` and `updated_at` (and its lease's end, if it has
    /// one) to `at`, to make it old.
    pub async fn backdate(
        &self,
        file_key: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, DbError> {
        use dialect::Dialect;
        on_pool!(self, |pool, d| {
            let done = sqlx::query(
                "UPDATE attachments
                 SET created_at = $2, updated_at = $2,
                     claimed_until = CASE WHEN claimed_until IS NULL THEN NULL ELSE $2 END
                 WHERE file_key = $1",
            )
            .bind(file_key)
            .bind(d.time(at))
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// TEST ONLY. Runs one SQL statement as given (to act as another writer would), and
    /// returns the number of rows it changed; errors are classified like any other.
    pub async fn execute_unchecked(&self, sql: &str) -> Result<u64, DbError> {
        on_pool!(self, |pool, _d| {
            let sql = sqlx::AssertSqlSafe(sql.to_owned());
            Ok(sqlx::query(sql).execute(pool).await?.rows_affected())
        })
    }
}

/// Proves the database reachable ([`connect_once`]), then makes the pool, which connects as it is
/// used.
async fn open<DB: Database>(
    options: <DB::Connection as Connection>::Options,
) -> Result<sqlx::Pool<DB>, DbError> {
    connect_once::<DB::Connection>(&options).await?;
    Ok(PoolOptions::<DB>::new()
        .max_connections(POOL_MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy_with(options))
}

/// Opens and closes one connection, so that an unreachable database fails `connect` now and
/// with its real cause (the pool would retry a refused connection until its timeout, and
/// report only the timeout).
async fn connect_once<C: Connection>(options: &C::Options) -> Result<(), DbError>
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
