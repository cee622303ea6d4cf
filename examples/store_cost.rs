//! The stores benchmark's batches written a fixed number of times, for instruction-count
//! profiling with callgrind (load-independent, unlike wall-clock timings):
//!
//! ```text
//! cargo build --profile bench --features jsonl,postgres --example store_cost
//! valgrind --tool=callgrind --toggle-collect='store_cost::run' \
//!     target/release/examples/store_cost jsonl 10
//! ```
//!
//! Stores: `jsonl`, `sqlite` (in a temporary directory) and `postgres` (a schema of its own on
//! `TRACING_ETL_BENCH_POSTGRES`, default `host=127.0.0.1 port=5432 user=postgres dbname=test`;
//! the client's instructions only). One batch is what `benches/stores.rs` hands a store: the
//! records of 2,048 step runs, both records of each for JSON Lines, the end records for the SQL
//! stores (which keep one row per entity). The records are made before the counted part
//! (`run`) and dropped after it. Instructions per row: run with two batch counts (5 and 10) and
//! divide the difference of the totals by the difference of the rows written. Outside
//! valgrind, it prints the rows per second of the counted part.

#[path = "../benches/support/step_runs.rs"]
mod step_runs;

use tracing_etl::{
    ExecutionRecord, ExecutionRecordStore, JsonLinesStore, PostgresStore, SqliteStore,
};

/// One batch as `benches/stores.rs` hands it to a store.
fn batch(one_row: bool) -> Vec<ExecutionRecord> {
    step_runs::handed(one_row, step_runs::step_runs())
}

/// The counted part: every batch written, then flushed.
#[inline(never)]
fn run(store: &mut dyn ExecutionRecordStore, batches: &[Vec<ExecutionRecord>]) {
    for batch in batches {
        store.write_batch(batch).expect("write batch");
    }
    store.flush().expect("flush");
}

fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_else(|| "jsonl".into());
    let count: usize = args
        .next()
        .map_or(10, |n| n.parse().expect("a batch count"));
    let dir = tempfile::tempdir().expect("temp dir");
    let url = std::env::var("TRACING_ETL_BENCH_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".to_owned());
    let schema = format!("tracing_etl_store_cost_{}", std::process::id());
    let mut store: Box<dyn ExecutionRecordStore> = match kind.as_str() {
        "jsonl" => Box::new(JsonLinesStore::open(dir.path()).expect("open")),
        "sqlite" => Box::new(SqliteStore::open(dir.path().join("runs.db")).expect("open")),
        "postgres" => Box::new(
            PostgresStore::builder(url.clone())
                .schema(schema.clone())
                .connect()
                .expect("connect"),
        ),
        other => panic!("unknown store {other:?} (jsonl, sqlite, postgres)"),
    };
    let one_row = store.keeps_one_row_per_entity();
    let batches: Vec<Vec<ExecutionRecord>> = (0..count).map(|_| batch(one_row)).collect();
    let rows: usize = batches.iter().map(Vec::len).sum();
    let start = std::time::Instant::now();
    run(&mut *store, &batches);
    let seconds = start.elapsed().as_secs_f64();
    drop(batches);
    drop(store);
    if kind == "postgres" {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        client
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .expect("drop schema");
    }
    println!(
        "{kind}: {rows} rows in {count} batches, {:.0} rows/s",
        rows as f64 / seconds
    );
}
