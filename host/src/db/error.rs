use crate::error::{Class, Code, ErrorCode};
use sqlx::migrate::MigrateError;

/// SQLSTATE the PostgreSQL trigger raises when it refuses a status transition (a class of our
/// own, "AT", so it cannot be confused with a server error).
pub(super) const PG_CONFLICT_SQLSTATE: &str = "AT409";
/// Prefix of the message both databases' triggers raise when they refuse a status transition;
/// SQLite's RAISE carries no code of its own, so the message is what identifies it there.
pub(super) const CONFLICT_MARKER: &str = "status-conflict";

/// What went wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database cannot be reached or used right now: refused or dropped connection, I/O,
    /// pool timeout, a database that is starting up or locked, or a URL this worker cannot use.
    #[error("database unavailable: {message}")]
    Unavailable { message: String },
    /// The database's schema is not the one this binary was built for: not migrated, migrated
    /// by a newer attachd, a changed migration, or a table/column missing.
    #[error("database schema mismatch: {message}")]
    Schema { message: String },
    /// The database refused a status transition (a finished row may not move back).
    #[error("status conflict: {message}")]
    Conflict { message: String },
    /// Any other failed statement.
    #[error("database error: {message}")]
    Query { message: String },
}

impl ErrorCode for DbError {
    fn error_code(&self) -> Code {
        match self {
            DbError::Unavailable { .. } => Code::DatabaseUnavailable,
            DbError::Schema { .. } => Code::SchemaMismatch,
            DbError::Conflict { .. } => Code::StatusConflict,
            DbError::Query { .. } => Code::DatabaseError,
        }
    }

    fn class(&self) -> Class {
        match self {
            // The row is finished: whatever the job wanted to do to it, doing it again is
            // refused again.
            DbError::Conflict { .. } => Class::Permanent,
            // None of these is the upload's fault. A schema mismatch in particular is this
            // worker's deployment being wrong: the upload must not be failed for it, another
            // worker (or this one once migrated) can process it. At startup `check_schema`
            // returns it and the worker must refuse to start rather than retry.
            DbError::Unavailable { .. } | DbError::Schema { .. } | DbError::Query { .. } => {
                Class::Retryable
            }
        }
    }
}

impl DbError {
    pub(super) fn unavailable(message: impl Into<String>) -> Self {
        DbError::Unavailable {
            message: message.into(),
        }
    }

    pub(super) fn schema(message: impl Into<String>) -> Self {
        DbError::Schema {
            message: message.into(),
        }
    }

    pub(super) fn query(message: impl Into<String>) -> Self {
        DbError::Query {
            message: message.into(),
        }
    }

    pub(super) fn from_migrate(err: MigrateError) -> Self {
        match err {
            MigrateError::Execute(e) => e.into(),
            MigrateError::ExecuteMigration(e, version) => match DbError::from(e) {
                DbError::Query { message } => {
                    DbError::query(format!("migration {version} failed: {message}"))
                }
                other => other,
            },
            e @ (MigrateError::VersionMissing(_)
            | MigrateError::VersionMismatch(_)
            | MigrateError::VersionNotPresent(_)
            | MigrateError::VersionTooOld(..)
            | MigrateError::VersionTooNew(..)
            | MigrateError::Dirty(_)) => DbError::schema(e.to_string()),
            other => DbError::query(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for DbError {
    fn from(err: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match err {
            E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => {
                DbError::unavailable(err.to_string())
            }
            // A bad URL or option: nothing here can work until the configuration changes; the
            // caller sees it at startup from `Db::connect`.
            E::Configuration(_) => DbError::unavailable(format!("database configuration: {err}")),
            // The server spoke something we did not expect: treat the connection as broken.
            E::Protocol(_) => DbError::unavailable(err.to_string()),
            E::ColumnNotFound(_) | E::TypeNotFound { .. } | E::ColumnIndexOutOfBounds { .. } => {
                DbError::schema(err.to_string())
            }
            E::Migrate(e) => DbError::from_migrate(*e),
            E::Database(ref db) => classify_database(db.as_ref(), &err),
            _ => DbError::query(err.to_string()),
        }
    }
}

fn classify_database(db: &dyn sqlx::error::DatabaseError, err: &sqlx::Error) -> DbError {
    let message = err.to_string();
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        let code = pg.code();
        return match code {
            PG_CONFLICT_SQLSTATE => DbError::Conflict {
                message: pg.message().to_owned(),
            },
            // connection_exception, insufficient_resources, admin/crash shutdown, starting up,
            // invalid authorization, database does not exist.
            _ if code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("28")
                || matches!(code, "57P01" | "57P02" | "57P03" | "3D000") =>
            {
                DbError::unavailable(message)
            }
            // undefined_table, undefined_column, undefined_function, undefined_object.
            "42P01" | "42703" | "42883" | "42704" => DbError::schema(message),
            _ => DbError::query(message),
        };
    }
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        if db.message().starts_with(CONFLICT_MARKER) {
            return DbError::Conflict {
                message: db.message().to_owned(),
            };
        }
        // The code is SQLite's extended result code; its low byte is the primary code.
        let primary = db
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .map(|c| c & 0xff);
        return match primary {
            // BUSY and LOCKED (still, after busy_timeout), IOERR, CORRUPT, FULL, CANTOPEN,
            // READONLY, NOTADB: the file is not usable right now.
            Some(5 | 6 | 8 | 10 | 11 | 13 | 14 | 26) => DbError::unavailable(message),
            _ if db.message().starts_with("no such table")
                || db.message().starts_with("no such column") =>
            {
                DbError::schema(message)
            }
            _ => DbError::query(message),
        };
    }
    DbError::query(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_only_conflict_is_permanent() {
        let cases = [
            (
                DbError::unavailable("x"),
                "database-unavailable",
                Class::Retryable,
            ),
            (DbError::schema("x"), "schema-mismatch", Class::Retryable),
            (
                DbError::Conflict {
                    message: "x".into(),
                },
                "status-conflict",
                Class::Permanent,
            ),
            (DbError::query("x"), "database-error", Class::Retryable),
        ];
        for (err, code, class) in cases {
            assert_eq!(err.code(), code);
            assert_eq!(err.class(), class);
        }
    }

    #[test]
    fn pool_timeout_and_io_are_unavailable() {
        assert!(matches!(
            DbError::from(sqlx::Error::PoolTimedOut),
            DbError::Unavailable { .. }
        ));
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(matches!(
            DbError::from(sqlx::Error::Io(io)),
            DbError::Unavailable { .. }
        ));
        assert!(matches!(
            DbError::from_migrate(MigrateError::VersionMissing(7)),
            DbError::Schema { .. }
        ));
    }
}
