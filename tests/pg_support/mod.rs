//! Helpers for the tests against a real PostgreSQL server: the connection string comes from
//! `TRACING_ETL_TEST_PG` (default `host=127.0.0.1 port=5432 user=postgres dbname=test`), and
//! each test works in a schema of its own, created fresh and dropped at the end, so tests run in
//! parallel without seeing each other.

use std::sync::atomic::{AtomicUsize, Ordering};

use postgres::{Client, NoTls};
use tracing_etl::{store::PostgresStoreBuilder, PostgresStore};

/// The test server's connection string.
pub fn url() -> String {
    std::env::var("TRACING_ETL_TEST_PG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "host=127.0.0.1 port=5432 user=postgres dbname=test".to_owned())
}

/// A plain connection for the test's own queries (outside the store under test).
pub fn admin() -> Client {
    let url = url();
    Client::connect(&url, NoTls).unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is not reachable at {url:?} ({e}); start it or point \
             TRACING_ETL_TEST_PG at a server"
        )
    })
}

/// A schema name unique to this test process and call.
pub fn unique_name(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "tetl_{tag}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Quotes an identifier for the test's own SQL.
pub fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A schema of the test's own, dropped (with everything in it) when this is dropped. It is not
/// created: the store under test creates it.
pub struct TestSchema {
    pub name: String,
    pub admin: Client,
}

impl TestSchema {
    pub fn new(tag: &str) -> Self {
        Self::named(unique_name(tag))
    }

    /// A schema with a given name (which may need quoting).
    pub fn named(name: String) -> Self {
        let mut admin = admin();
        admin
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", quoted(&name)))
            .unwrap();
        TestSchema { name, admin }
    }

    /// A builder for a store in this schema.
    pub fn builder(&self) -> PostgresStoreBuilder {
        PostgresStore::builder(url()).schema(self.name.clone())
    }

    /// A store in this schema, creating the tables.
    pub fn store(&self) -> PostgresStore {
        self.builder().connect().unwrap()
    }

    /// A read-only store on this schema.
    pub fn reader(&self) -> PostgresStore {
        self.builder().connect_read_only().unwrap()
    }

    /// `schema.table`, quoted.
    pub fn table(&self, table: &str) -> String {
        format!("{}.{table}", quoted(&self.name))
    }

    /// `SELECT count(*) FROM schema.table [WHERE …]`.
    pub fn count(&mut self, table: &str, filter: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {} {filter}", self.table(table));
        self.admin.query_one(&sql, &[]).unwrap().get(0)
    }

    /// Whether the schema exists.
    pub fn exists(&mut self) -> bool {
        self.admin
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
                &[&self.name],
            )
            .unwrap()
            .get(0)
    }

    /// Terminates the backends of connections with this `application_name`; returns how many.
    pub fn terminate(&mut self, application_name: &str) -> usize {
        self.admin
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE application_name = $1 AND pid <> pg_backend_pid()",
                &[&application_name],
            )
            .unwrap()
            .iter()
            .filter(|row| row.get::<_, bool>(0))
            .count()
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let _ = self.admin.batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            quoted(&self.name)
        ));
    }
}
