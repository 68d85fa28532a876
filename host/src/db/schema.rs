//! Applying the migrations each dialect carries, and the check that a database holds exactly them.

use super::dialect::Dialect;
use super::{Db, DbError};
use sqlx::migrate::Migrator;
use std::collections::BTreeMap;

/// The migrations table sqlx keeps (its default name).
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// One row of the migrations table.
#[derive(sqlx::FromRow)]
struct Applied {
    version: i64,
    checksum: Vec<u8>,
    success: bool,
}

impl Db {
    /// Applies the migrations this binary carries that the database lacks. Safe to run from
    /// several workers at once (the migrator takes a lock). Fails with [`DbError::Schema`] if
    /// the database has a migration this binary does not know, or one that was changed.
    pub async fn migrate(&self) -> Result<(), DbError> {
        on_pool!(self, |pool, d| d.migrator().run(pool).await).map_err(DbError::from_migrate)
    }

    /// The worker refuses to start on a schema it does not know: [`DbError::Schema`] if the
    /// database is not migrated, lacks some of this binary's migrations, has migrations this
    /// binary does not know (a newer attachd migrated it), has a half-applied one, or one
    /// whose text changed since it was applied.
    pub async fn check_schema(&self) -> Result<(), DbError> {
        on_pool!(self, |pool, d| {
            let exists: bool = sqlx::query_scalar(sql!(d: table_exists("$1")))
                .bind(MIGRATIONS_TABLE)
                .fetch_one(pool)
                .await?;
            // No migrations table: the database was never migrated.
            let applied = if exists {
                Some(
                    sqlx::query_as(
                        "SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version",
                    )
                    .fetch_all(pool)
                    .await?,
                )
            } else {
                None
            };
            compare(d.migrator(), applied)
        })
    }
}

/// Accepts `applied` only if it is exactly the set of migrations `known` carries, each
/// applied successfully and unchanged since.
fn compare(known: &Migrator, applied: Option<Vec<Applied>>) -> Result<(), DbError> {
    let Some(applied) = applied else {
        return Err(DbError::schema(
            "the database is not migrated (no migrations table); apply the migrations first",
        ));
    };
    let known: BTreeMap<i64, &[u8]> = known
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| (m.version, &*m.checksum))
        .collect();
    let applied: BTreeMap<i64, &Applied> = applied.iter().map(|a| (a.version, a)).collect();

    if let Some(a) = applied.values().find(|a| !a.success) {
        return Err(DbError::schema(format!(
            "migration {} is only partly applied; repair the database by hand",
            a.version
        )));
    }
    // Newer first: a worker older than its database would write rows the schema's newer code
    // does not expect (or miss columns it relies on), so it must not start.
    let unknown: Vec<i64> = applied
        .keys()
        .filter(|v| !known.contains_key(v))
        .copied()
        .collect();
    if !unknown.is_empty() {
        return Err(DbError::schema(format!(
            "the database has migrations this attachd does not know ({unknown:?}); \
             it was migrated by a newer attachd"
        )));
    }
    let missing: Vec<i64> = known
        .keys()
        .filter(|v| !applied.contains_key(v))
        .copied()
        .collect();
    if !missing.is_empty() {
        return Err(DbError::schema(format!(
            "the database lacks migrations {missing:?}; apply the migrations first"
        )));
    }
    if let Some(v) = known
        .iter()
        .find(|(v, sum)| applied[*v].checksum != **sum)
        .map(|(v, _)| v)
    {
        return Err(DbError::schema(format!(
            "migration {v} was changed after it was applied to this database"
        )));
    }
    Ok(())
}
