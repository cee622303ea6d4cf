//! Opening the store a measuring example writes to, from its URL.

use tracing_etl::{
    store::StoreUrl, ExecutionRecordStore, JsonLinesStore, PostgresStore, SqliteStore,
};

/// The store at `url` (`sqlite:PATH`, `jsonl:DIR`, `postgres://…?schema=NAME`), opened for
/// writing; panics with what failed (these are measuring tools).
pub fn open(url: &StoreUrl) -> Box<dyn ExecutionRecordStore> {
    match url {
        StoreUrl::Sqlite(path) => Box::new(SqliteStore::open(path).expect("open sqlite")),
        StoreUrl::JsonLines(dir) => Box::new(JsonLinesStore::open(dir).expect("open jsonl")),
        StoreUrl::Postgres(pg) => Box::new(
            PostgresStore::builder(pg.connection_string())
                .schema(pg.schema().unwrap_or("public"))
                .connect()
                .expect("connect"),
        ),
        other => panic!("unsupported store {}", other.redacted()),
    }
}
