//! A fresh, private database per test, on PostgreSQL or SQLite, so the database tests run in
//! parallel and leave nothing behind.
//!
//! PostgreSQL: `ATTACH_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/test`) names
//! a server and a database to connect to for `CREATE DATABASE attach_test_<random>`; the test
//! database is dropped when the [`TestDb`] is (best effort: a test that aborts the process
//! leaves it, and its name says what it was). SQLite: a file in a temporary directory.

use attachd::db::{Backend, Db};
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection};

pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// Prefix of every database a test creates.
pub const PG_TEST_DB_PREFIX: &str = "attach_test_";

/// The server the PostgreSQL tests use.
pub fn pg_url() -> String {
    std::env::var("ATTACH_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

/// `url` with its database name replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

/// A private database, connected but not migrated.
pub struct TestDb {
    pub db: Db,
    /// Where the database is, for a second [`Db::connect`] to it.
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Postgres { admin_url: String, database: String },
    Sqlite(tempfile::TempDir),
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Postgres => TestDb::postgres().await,
            Backend::Sqlite => TestDb::sqlite().await,
        }
    }

    pub async fn postgres() -> TestDb {
        let admin_url = pg_url();
        let database = format!("{PG_TEST_DB_PREFIX}{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!(
                "cannot reach the test PostgreSQL at {admin_url} ({e}); start it, or point \
                 ATTACH_TEST_PG_URL at one where this user may CREATE DATABASE"
            )
        });
        // The name is ours (a fixed prefix and hex digits), so formatting it in is safe.
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{database}\"")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let _ = admin.close().await;
        let url = with_database(&admin_url, &database);
        let db = Db::connect(&url).await.expect("connect to test database");
        TestDb {
            db,
            url,
            cleanup: Cleanup::Postgres {
                admin_url,
                database,
            },
        }
    }

    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = Db::default_url(dir.path());
        let db = Db::connect(&url).await.expect("connect to test database");
        TestDb {
            db,
            url,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// A new database with the migrations applied.
    pub async fn migrated(backend: Backend) -> TestDb {
        let t = TestDb::new(backend).await;
        t.db.migrate().await.expect("migrate");
        t
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Cleanup::Postgres {
            admin_url,
            database,
        } = &self.cleanup
        else {
            return; // the TempDir removes itself
        };
        let (admin_url, database) = (admin_url.clone(), database.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on; a thread of its own
        // with its own runtime can. FORCE ends the pool's connections, which are still open.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await.ok()?;
                sqlx::query(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await
                .ok()?;
                let _ = admin.close().await;
                Some(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop test database (left behind, harmless)");
        }
    }
}
