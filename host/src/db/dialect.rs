//! What PostgreSQL and SQLite spell differently, and only that. Every statement is written once,
//! in `Db`'s methods, with named holes (`sql!`) that the two tables below fill in; the one
//! statement shape the databases need differently as a whole is `take_batch!`; and the values
//! the two store differently (times, key lists) are encoded by each [`Dialect`].
//!
//! Placeholders are `$1`, `$2`, … for both: sqlx binds SQLite's `$NNN` by its number, as
//! PostgreSQL does.

use super::{Backend, DbError};
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;

/// One statement's text for the dialect `$d`, as a `&'static str` built at compile time.
/// String literals are shared by both databases; a bare name (`now`, `columns`, or
/// `lease_end("$3")` with its placeholder) is filled in from the dialect's table below.
macro_rules! sql {
    ($d:ident: $($part:tt $(($($arg:tt)*))?),+ $(,)?) => {
        match $crate::db::dialect::Dialect::backend(&$d) {
            $crate::db::Backend::Postgres => concat!($(postgres_part!($part $(($($arg)*))?)),+),
            $crate::db::Backend::Sqlite => concat!($(sqlite_part!($part $(($($arg)*))?)),+),
        }
    };
}

/// PostgreSQL's spelling of `sql!`'s named parts. Times are `timestamptz` from the server's
/// `now()`.
macro_rules! postgres_part {
    (now) => {
        "now()"
    };
    // The lease's end, from a bound number of milliseconds.
    (lease_end($ms:literal)) => {
        concat!("now() + ", $ms, "::bigint * interval '1 millisecond'")
    };
    // `file_key` is one of a bound array of keys (see `Dialect::keys`).
    (key_in($keys:literal)) => {
        concat!("file_key = ANY(", $keys, ")")
    };
    // to_regclass follows the search_path, as the migrator does.
    (table_exists($name:literal)) => {
        concat!("SELECT to_regclass(", $name, ") IS NOT NULL")
    };
    // The row's recorded guests include one whose sha256 is LIKE a bound pattern (a
    // `GuestDigest`'s: hex digits and a trailing `%`). A NULL `guests` has no elements.
    (guests_match($pattern:literal)) => {
        concat!(
            "EXISTS (SELECT 1 FROM jsonb_array_elements(attachments.guests) AS g ",
            "WHERE g ->> 'sha256' LIKE ",
            $pattern,
            ")"
        )
    };
    ($shared:tt) => {
        shared_part!($shared)
    };
}

/// SQLite's spelling of `sql!`'s named parts. Times are TEXT in one fixed format (see
/// [`SQLITE_TIME_FORMAT`]) so that string order is time order, from SQLite's own clock.
macro_rules! sqlite_part {
    (now) => {
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
    };
    // A date modifier such as '+90.250 seconds', from a bound number of milliseconds.
    (lease_end($ms:literal)) => {
        concat!(
            "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', printf('+%d.%03d seconds', ",
            $ms,
            " / 1000, ",
            $ms,
            " % 1000))"
        )
    };
    // One bound JSON array instead of one parameter per key: no statement-size limit to mind.
    (key_in($keys:literal)) => {
        concat!("file_key IN (SELECT value FROM json_each(", $keys, "))")
    };
    (table_exists($name:literal)) => {
        concat!(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ",
            $name,
            ")"
        )
    };
    // As PostgreSQL's. SQLite's LIKE ignores ASCII case, which changes nothing here: the
    // pattern and the stored digests are lowercase hex.
    (guests_match($pattern:literal)) => {
        concat!(
            "EXISTS (SELECT 1 FROM json_each(attachments.guests) AS g ",
            "WHERE json_extract(g.value, '$.sha256') LIKE ",
            $pattern,
            ")"
        )
    };
    ($shared:tt) => {
        shared_part!($shared)
    };
}

/// The parts both databases spell alike.
macro_rules! shared_part {
    // The columns every statement that returns rows returns, in `Attachment`'s order. The
    // casts give both databases one Rust type per column (PostgreSQL's `integer` columns
    // would otherwise decode only as i32).
    (columns) => {
        "id, file_key, mime_type, sniffed_mime, size, checksum, status, variants, \
         CAST(width AS BIGINT) AS width, CAST(height AS BIGINT) AS height, placeholder, \
         error_code, error_message, CAST(attempts AS BIGINT) AS attempts, scan_verdict, \
         scan_findings, claimed_until, created_at, updated_at, processed_at, guests"
    };
    ($text:literal) => {
        $text
    };
}

/// An UPDATE that takes a batch of rows concurrent cleaners may also be after: `pick` is the
/// WHERE, ORDER BY and LIMIT choosing the batch, `set` what the update writes, `recheck` the
/// conditions the row must still meet when it is written. Sets `updated_at` and returns the
/// taken rows' [`columns`](shared_part).
///
/// PostgreSQL: SKIP LOCKED, so a second cleaner passes over the rows the first is taking
/// instead of waiting for them; `recheck` covers a row that changed after the inner SELECT's
/// snapshot. MATERIALIZED makes the locking SELECT run exactly once: written as
/// `id IN (SELECT … FOR UPDATE SKIP LOCKED)`, the planner may re-run it for every outer row (a
/// nested-loop semi-join), each run locking more rows that other cleaners then skip, so they
/// come back empty-handed while rows remain.
///
/// SQLite runs one writer at a time and each statement is a single autocommit UPDATE, so the
/// plain `id IN (SELECT …)` is evaluated and written with no other writer in between.
macro_rules! take_batch {
    ($d:ident, pick: $pick:literal, set: $set:literal, recheck: $recheck:literal $(,)?) => {
        match $crate::db::dialect::Dialect::backend(&$d) {
            $crate::db::Backend::Postgres => concat!(
                "WITH picked AS MATERIALIZED (SELECT id AS picked_id FROM attachments WHERE ",
                $pick,
                " FOR UPDATE SKIP LOCKED) UPDATE attachments SET ",
                $set,
                ", updated_at = ",
                postgres_part!(now),
                " FROM picked WHERE id = picked_id AND ",
                $recheck,
                " RETURNING ",
                shared_part!(columns)
            ),
            $crate::db::Backend::Sqlite => concat!(
                "UPDATE attachments SET ",
                $set,
                ", updated_at = ",
                sqlite_part!(now),
                " WHERE id IN (SELECT id FROM attachments WHERE ",
                $pick,
                ") AND ",
                $recheck,
                " RETURNING ",
                shared_part!(columns)
            ),
        }
    };
}

/// chrono's spelling of SQLite's stored time format, `strftime('%Y-%m-%dT%H:%M:%fZ')`: UTC,
/// milliseconds, fixed width.
const SQLITE_TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";

/// How one database takes the values it stores differently. `on_pool!` hands each statement
/// body the dialect of the pool it runs on.
pub(super) trait Dialect {
    /// A time from Rust as this database compares it with stored times (cutoffs).
    type Time;
    /// A list of keys as the one bound value `key_in` expects.
    type Keys<'k>;

    fn backend(&self) -> Backend;
    /// The migrations this binary carries for this database.
    fn migrator(&self) -> &'static Migrator;
    fn time(&self, t: DateTime<Utc>) -> Self::Time;
    fn keys<'k>(&self, keys: &'k [String]) -> Result<Self::Keys<'k>, DbError>;
}

pub(super) struct Postgres;
pub(super) struct Sqlite;

/// Each dialect's migrations, embedded at build time. Adding a migration file needs a rebuild
/// of this crate to be seen (the macro tracks the files it read, not new files in the folder).
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");

impl Dialect for Postgres {
    type Time = DateTime<Utc>;
    /// A `text[]`.
    type Keys<'k> = &'k [String];

    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    fn migrator(&self) -> &'static Migrator {
        &POSTGRES_MIGRATIONS
    }

    fn time(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        t
    }

    fn keys<'k>(&self, keys: &'k [String]) -> Result<&'k [String], DbError> {
        Ok(keys)
    }
}

impl Dialect for Sqlite {
    /// The stored text format, so that comparing strings compares instants.
    type Time = String;
    /// A JSON array.
    type Keys<'k> = String;

    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    fn migrator(&self) -> &'static Migrator {
        &SQLITE_MIGRATIONS
    }

    fn time(&self, t: DateTime<Utc>) -> String {
        t.format(SQLITE_TIME_FORMAT).to_string()
    }

    fn keys(&self, keys: &[String]) -> Result<String, DbError> {
        serde_json::to_string(keys).map_err(|e| DbError::query(e.to_string()))
    }
}
