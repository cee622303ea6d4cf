//! Store throughput in rows per second (row 6 of BENCHMARKS.md), each store next to the raw
//! floor of its medium:
//!
//! - SQLite: [`SqliteStore::write_batch`] against batched `rusqlite` inserts of the same rows
//!   into the same table, one transaction per batch;
//! - JSON Lines: `write_all` of the same JSON lines to a file;
//! - PostgreSQL: `COPY` of the same rows into a real table on the local server
//!   (`TRACING_ETL_BENCH_POSTGRES`, default `host=127.0.0.1 port=5432 user=postgres
//!   dbname=test`; skipped with a message when it cannot be reached).
//!
//! One iteration is one batch as the writer hands it to a store: the records of
//! [`ENTITIES`] step runs (a start and an end record each; a store that keeps one row per
//! entity gets only the end record of an entity whose start is in the same batch, see
//! [`ExecutionRecordStore::keeps_one_row_per_entity`]). A row is what the store keeps: one per
//! entity for SQLite and PostgreSQL, one per record (line) for JSON Lines. Every benchmark ends
//! by counting the rows written. Batches are made before the timing and dropped after it
//! (freeing the records is the writer's work, not the store's).
//!
//! - Delta Lake (feature `delta`): [`DELTA_BATCHES`] batches, then a flush (one Delta commit),
//!   against the same rows built as one Arrow record batch and written as one Parquet file with
//!   `parquet`'s `ArrowWriter` directly (same compression, Snappy). It also prints the data files
//!   10,000 step runs recorded through the layer leave, before and after `DeltaStore::compact`.
//!
//! A store's benchmark is one small function over [`store_row`]; see `sqlite_store`,
//! `jsonl_store`, `postgres_store`.
//!
//! `cargo bench --features jsonl,postgres --bench stores` (add `delta` for the Delta Lake rows)

use std::fs::File;
use std::io::Write as _;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion, Throughput,
};
#[path = "support/step_runs.rs"]
mod step_runs;

use step_runs::{handed, step_runs, ENTITIES};
use tracing_etl::{
    ExecutionRecord, ExecutionRecordStore, JsonLinesStore, PostgresStore, SqliteStore,
};

/// Benchmarks `store` writing batches of [`ENTITIES`] step runs; returns how many step runs it
/// was given, for the caller to check against the rows the store holds.
fn store_row<S: ExecutionRecordStore>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    store: &mut S,
) -> u64 {
    let one_row = store.keeps_one_row_per_entity();
    let rows_per_entity = if one_row { 1 } else { 2 };
    g.throughput(Throughput::Elements((ENTITIES * rows_per_entity) as u64));
    let mut entities = 0;
    g.bench_function(name, |b| {
        b.iter_batched_ref(
            || handed(one_row, step_runs()),
            |batch| {
                store.write_batch(batch).expect("write batch");
                entities += ENTITIES as u64;
            },
            BatchSize::PerIteration,
        )
    });
    store.flush().expect("flush");
    entities
}

/// Text as stored: RFC 3339 with nanoseconds (what `SqliteStore` writes).
fn timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn count_rows(conn: &rusqlite::Connection, table: &str) -> u64 {
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
        r.get::<_, i64>(0)
    })
    .expect("count rows") as u64
}

/// Row 6, SQLite: the store.
fn sqlite_store(g: &mut BenchmarkGroup<'_, WallTime>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let mut store = SqliteStore::open(&path).expect("open");
    let entities = store_row(g, "sqlite_store", &mut store);
    assert_eq!(count_rows(store.connection(), "step_runs"), entities);
}

const INSERT_STEP: &str = "INSERT INTO step_runs (step_run_id, event, run_id, correlation_id,
    attempt, last_attempt, step, process_run_id, started_at, status, duration_ms, error,
    error_type, error_message, trace_id, span_id, recorder_id)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";

/// Row 6, SQLite: the floor. The same rows (values formatted beforehand) inserted with a prepared
/// `INSERT` into the same table (schema made by `SqliteStore`, same settings), one transaction
/// per batch.
fn sqlite_floor(g: &mut BenchmarkGroup<'_, WallTime>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("floor.db");
    drop(SqliteStore::open(&path).expect("create schema"));
    let mut conn = rusqlite::Connection::open(&path).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("WAL");
    // The store's settings.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .expect("synchronous");
    conn.pragma_update(None, "wal_autocheckpoint", 10_000)
        .expect("wal_autocheckpoint");
    g.throughput(Throughput::Elements(ENTITIES as u64));
    let mut entities = 0;
    g.bench_function("sqlite_floor_rusqlite", |b| {
        b.iter_batched_ref(
            || {
                step_runs()
                    .into_iter()
                    .map(|r| (r.end, timestamp(&r.start.started_at)))
                    .collect::<Vec<_>>()
            },
            |rows| {
                let tx = conn.transaction().expect("begin");
                {
                    let mut stmt = tx.prepare_cached(INSERT_STEP).expect("prepare");
                    for (r, started_at) in rows.iter() {
                        stmt.execute(rusqlite::params![
                            r.step_run_id,
                            r.event().as_str(),
                            r.run.run_id,
                            r.run.correlation_id,
                            r.run.attempt,
                            r.run.last_attempt,
                            r.name,
                            r.process_run_id,
                            started_at,
                            r.outcome.status.as_str(),
                            r.outcome.duration_ms.map(|d| d as i64),
                            r.outcome.error.full,
                            r.outcome.error.type_name,
                            r.outcome.error.message,
                            r.trace_id,
                            r.span_id,
                            r.recorder_id,
                        ])
                        .expect("insert");
                    }
                }
                tx.commit().expect("commit");
                entities += ENTITIES as u64;
            },
            BatchSize::PerIteration,
        )
    });
    assert_eq!(count_rows(&conn, "step_runs"), entities);
}

/// Row 6, JSON Lines: the floor. `write_all` of the same JSON lines (a start and an end record per
/// step run, as an append-only store keeps them, serialised beforehand) to a file.
fn jsonl_floor(g: &mut BenchmarkGroup<'_, WallTime>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("step_runs.jsonl");
    let mut file = File::options()
        .create(true)
        .append(true)
        .open(&path)
        .expect("open");
    g.throughput(Throughput::Elements(2 * ENTITIES as u64));
    let mut bytes = 0u64;
    g.bench_function("jsonl_floor_write_all", |b| {
        b.iter_batched_ref(
            || {
                let mut buf = Vec::with_capacity(ENTITIES * 2 * 512);
                for run in step_runs() {
                    for record in [&run.start, &run.end] {
                        // The store's line: the record's columns, without `kind`.
                        let line = serde_json::to_string(record).expect("serialise");
                        let line = line.replacen("{\"kind\":\"step\",", "{", 1);
                        buf.extend_from_slice(line.as_bytes());
                        buf.push(b'\n');
                    }
                }
                buf
            },
            |buf| {
                file.write_all(buf).expect("write");
                bytes += buf.len() as u64;
            },
            BatchSize::PerIteration,
        )
    });
    file.sync_all().expect("sync");
    assert_eq!(std::fs::metadata(&path).expect("stat").len(), bytes);
}

/// The PostgreSQL server of the benchmarks, if it can be reached.
fn postgres() -> Option<postgres::Client> {
    let params = std::env::var("TRACING_ETL_BENCH_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".to_owned());
    let mut config: postgres::Config = params.parse().ok()?;
    config.connect_timeout(Duration::from_secs(5));
    match config.connect(postgres::NoTls) {
        Ok(client) => Some(client),
        Err(e) => {
            eprintln!("PostgreSQL benchmarks skipped: cannot connect with {params:?}: {e}");
            None
        }
    }
}

/// A step_runs table with the columns and indexes of the SQLite store's, in PostgreSQL.
fn create_step_table(client: &mut postgres::Client, table: &str) {
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {table};
            CREATE TABLE {table} (
                step_run_id        TEXT        NOT NULL PRIMARY KEY,
                event              TEXT        NOT NULL,
                run_id             TEXT        NOT NULL,
                correlation_id     TEXT,
                attempt            INTEGER     NOT NULL,
                last_attempt       BOOLEAN     NOT NULL,
                step               TEXT        NOT NULL,
                process_run_id     TEXT,
                started_at         TIMESTAMPTZ NOT NULL,
                status             TEXT        NOT NULL,
                duration_ms        BIGINT,
                error              TEXT,
                error_type         TEXT,
                error_message      TEXT,
                trace_id           TEXT,
                span_id            TEXT,
                recorder_id        TEXT
            );
            CREATE INDEX ON {table} (run_id, attempt);
            CREATE INDEX ON {table} (status);"
        ))
        .expect("create table");
}

/// A value in COPY text format (`\N` for NULL; the values here need no escaping).
fn copy_value(out: &mut String, value: Option<&str>) {
    out.push_str(value.unwrap_or("\\N"));
}

/// Row 6, PostgreSQL: the floor. `COPY` of the same rows (COPY text formatted beforehand) into a
/// table like the store's, one `COPY` (one transaction) per batch.
fn postgres_floor(g: &mut BenchmarkGroup<'_, WallTime>) {
    let Some(mut client) = postgres() else {
        return;
    };
    let table = format!("tracing_etl_bench_copy_{}", std::process::id());
    create_step_table(&mut client, &table);
    let copy = format!("COPY {table} FROM STDIN");
    g.throughput(Throughput::Elements(ENTITIES as u64));
    let mut entities = 0;
    g.bench_function("postgres_floor_copy", |b| {
        b.iter_batched_ref(
            || {
                let mut text = String::with_capacity(ENTITIES * 300);
                for run in step_runs() {
                    let r = &run.end;
                    let started_at = timestamp(&r.started_at);
                    let attempt = r.run.attempt.to_string();
                    let last_attempt = if r.run.last_attempt { "t" } else { "f" };
                    let duration = r.outcome.duration_ms.map(|d| d.to_string());
                    let values = [
                        r.step_run_id.as_deref(),
                        Some(r.event().as_str()),
                        Some(r.run.run_id.as_str()),
                        r.run.correlation_id.as_deref(),
                        Some(attempt.as_str()),
                        Some(last_attempt),
                        Some(r.name.as_str()),
                        r.process_run_id.as_deref(),
                        Some(started_at.as_str()),
                        Some(r.outcome.status.as_str()),
                        duration.as_deref(),
                        r.outcome.error.full.as_deref(),
                        r.outcome.error.type_name.as_deref(),
                        r.outcome.error.message.as_deref(),
                        r.trace_id.as_deref(),
                        r.span_id.as_deref(),
                        r.recorder_id.as_deref(),
                    ];
                    for (i, v) in values.into_iter().enumerate() {
                        if i > 0 {
                            text.push('\t');
                        }
                        copy_value(&mut text, v);
                    }
                    text.push('\n');
                }
                text
            },
            |text| {
                let mut writer = client.copy_in(&copy).expect("copy in");
                writer.write_all(text.as_bytes()).expect("copy rows");
                writer.finish().expect("finish copy");
                entities += ENTITIES as u64;
            },
            BatchSize::PerIteration,
        )
    });
    let rows: i64 = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .expect("count rows")
        .get(0);
    client
        .batch_execute(&format!("DROP TABLE {table}"))
        .expect("drop table");
    assert_eq!(rows as u64, entities);
}

/// Row 6, JSON Lines: the store (both records of every entity, one line each).
fn jsonl_store(g: &mut BenchmarkGroup<'_, WallTime>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = JsonLinesStore::open(dir.path()).expect("open");
    let entities = store_row(g, "jsonl_store", &mut store);
    drop(store);
    let lines = std::fs::read_to_string(dir.path().join("step_runs.jsonl"))
        .expect("read lines")
        .lines()
        .count() as u64;
    assert_eq!(lines, 2 * entities);
}

/// Row 6, PostgreSQL: the store, in a schema of its own on the benchmark server.
fn postgres_store(g: &mut BenchmarkGroup<'_, WallTime>) {
    let Some(mut admin) = postgres() else {
        return;
    };
    let params = std::env::var("TRACING_ETL_BENCH_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".to_owned());
    let schema = format!("tracing_etl_bench_store_{}", std::process::id());
    let drop_schema = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
    admin.batch_execute(&drop_schema).expect("drop schema");
    let mut store = PostgresStore::builder(params)
        .schema(schema.clone())
        .connect()
        .expect("connect");
    let entities = store_row(g, "postgres_store", &mut store);
    drop(store);
    let rows: i64 = admin
        .query_one(&format!("SELECT count(*) FROM {schema}.step_runs"), &[])
        .expect("count rows")
        .get(0);
    admin.batch_execute(&drop_schema).expect("drop schema");
    assert_eq!(rows as u64, entities);
}

fn stores(c: &mut Criterion) {
    let mut g = c.benchmark_group("store");
    sqlite_store(&mut g);
    sqlite_floor(&mut g);
    jsonl_store(&mut g);
    jsonl_floor(&mut g);
    postgres_store(&mut g);
    postgres_floor(&mut g);
    #[cfg(feature = "delta")]
    {
        delta::store(&mut g);
        delta::floor(&mut g);
        delta::files_per_10k_entities();
    }
    g.finish();
}

/// Batches per Delta commit in the benchmark: a flush after this many writer batches.
#[cfg(feature = "delta")]
const DELTA_BATCHES: usize = 8;

#[cfg(feature = "delta")]
mod delta {
    //! Row 6, Delta Lake: the store and its floor.

    use std::sync::Arc;

    use criterion::measurement::WallTime;
    use criterion::{BatchSize, BenchmarkGroup, Throughput};
    use deltalake::arrow::array::{
        ArrayRef, BooleanBuilder, Date32Builder, Int32Builder, Int64Builder, RecordBatch,
        StringBuilder, TimestampMicrosecondBuilder,
    };
    use deltalake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use deltalake::parquet::arrow::ArrowWriter;
    use deltalake::parquet::basic::Compression;
    use deltalake::parquet::file::properties::WriterProperties;
    use tracing_etl::{
        store::{RecordReader, RunFilter},
        DeltaStore, ExecutionRecord, ExecutionRecordStore, ExecutionRecordsLayer,
    };
    use tracing_subscriber::prelude::*;

    use super::step_runs::{step_runs, ENTITIES};
    use super::DELTA_BATCHES;

    /// [`DELTA_BATCHES`] batches of both records of every step run (an append-only store
    /// keeps both).
    fn batches() -> Vec<Vec<ExecutionRecord>> {
        (0..DELTA_BATCHES)
            .map(|_| {
                step_runs()
                    .into_iter()
                    .flat_map(|r| [r.start, r.end])
                    .collect()
            })
            .collect()
    }

    const ROWS: u64 = (DELTA_BATCHES * ENTITIES * 2) as u64;

    /// The store: the batches, then one flush (one commit of one Parquet file).
    pub(super) fn store(g: &mut BenchmarkGroup<'_, WallTime>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = DeltaStore::open(dir.path()).expect("open");
        g.throughput(Throughput::Elements(ROWS));
        let mut rows = 0;
        g.bench_function("delta_store", |b| {
            b.iter_batched_ref(
                batches,
                |batches| {
                    for batch in batches.iter() {
                        store.write_batch(batch).expect("write batch");
                    }
                    store.flush().expect("flush");
                    rows += ROWS;
                },
                BatchSize::PerIteration,
            )
        });
        let steps = store.read_steps(&RunFilter::default()).expect("read").len() as u64;
        assert_eq!(2 * steps, rows);
    }

    /// The floor: the same rows as one Arrow batch, written as one Parquet file.
    pub(super) fn floor(g: &mut BenchmarkGroup<'_, WallTime>) {
        let dir = tempfile::tempdir().expect("temp dir");
        g.throughput(Throughput::Elements(ROWS));
        let mut files = 0u64;
        g.bench_function("delta_floor_parquet", |b| {
            b.iter_batched_ref(
                batches,
                |batches| {
                    let records: Vec<&ExecutionRecord> = batches.iter().flatten().collect();
                    let batch = step_batch(&records);
                    let path = dir.path().join(format!("{files}.parquet"));
                    let file = std::fs::File::create(&path).expect("create");
                    let props = WriterProperties::builder()
                        .set_compression(Compression::SNAPPY)
                        .build();
                    let mut writer =
                        ArrowWriter::try_new(file, batch.schema(), Some(props)).expect("writer");
                    writer.write(&batch).expect("write");
                    writer.close().expect("close");
                    files += 1;
                },
                BatchSize::PerIteration,
            )
        });
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("list").count() as u64,
            files
        );
    }

    /// The step rows as one Arrow batch, built field by field.
    fn step_batch(records: &[&ExecutionRecord]) -> RecordBatch {
        let n = records.len();
        let text = |get: &dyn Fn(&ExecutionRecord) -> Option<&str>| -> ArrayRef {
            let mut b = StringBuilder::with_capacity(n, n * 16);
            records.iter().for_each(|r| b.append_option(get(r)));
            Arc::new(b.finish())
        };
        let mut attempt = Int32Builder::with_capacity(n);
        let mut last = BooleanBuilder::with_capacity(n);
        let mut started = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
        let mut duration = Int64Builder::with_capacity(n);
        let mut date = Date32Builder::with_capacity(n);
        for r in records {
            attempt.append_value(r.run.attempt as i32);
            last.append_value(r.run.last_attempt);
            started.append_value(r.started_at.timestamp_micros());
            duration.append_option(r.outcome.duration_ms.map(|d| d as i64));
            date.append_value((r.started_at.timestamp() / 86_400) as i32);
        }
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("event", text(&|r| Some(r.event().as_str()))),
            ("run_id", text(&|r| Some(&r.run.run_id))),
            ("correlation_id", text(&|r| r.run.correlation_id.as_deref())),
            ("attempt", Arc::new(attempt.finish())),
            ("last_attempt", Arc::new(last.finish())),
            ("step_run_id", text(&|r| r.step_run_id.as_deref())),
            ("step", text(&|r| Some(&r.name))),
            ("process_run_id", text(&|r| r.process_run_id.as_deref())),
            ("started_at", Arc::new(started.finish())),
            ("status", text(&|r| Some(r.outcome.status.as_str()))),
            ("duration_ms", Arc::new(duration.finish())),
            ("error", text(&|r| r.outcome.error.full.as_deref())),
            (
                "error_type",
                text(&|r| r.outcome.error.type_name.as_deref()),
            ),
            (
                "error_message",
                text(&|r| r.outcome.error.message.as_deref()),
            ),
            ("trace_id", text(&|r| r.trace_id.as_deref())),
            ("span_id", text(&|r| r.span_id.as_deref())),
            ("recorder_id", text(&|r| r.recorder_id.as_deref())),
            ("started_date", Arc::new(date.finish())),
        ];
        let fields: Vec<Field> = columns
            .iter()
            .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
            .collect();
        debug_assert!(fields
            .iter()
            .any(|f| f.data_type()
                == &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))));
        let arrays = columns.into_iter().map(|(_, a)| a).collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("batch")
    }

    /// Prints the data files of the step table after 10,000 step runs recorded through the
    /// layer, before and after `DeltaStore::compact`: back to back (a quarter of a millisecond
    /// each, a few seconds in all) and paced (6 ms each, a minute in all), each with the flush
    /// interval the store asks for (30 s) and with the writer's usual 200 ms.
    pub(super) fn files_per_10k_entities() {
        let quick = || spin(std::time::Duration::from_micros(250));
        let paced = || std::thread::sleep(std::time::Duration::from_millis(6));
        for (pace, step) in [
            ("back to back", &quick as &dyn Fn()),
            ("paced, 6 ms", &paced),
        ] {
            for interval in [None, Some(std::time::Duration::from_millis(200))] {
                let started = std::time::Instant::now();
                let (before, after) = files_after_10k(step, interval);
                println!(
                    "delta step_runs files per 10,000 step runs ({pace}, {:.1} s, flush \
                     interval {}): {before} before compaction, {after} after",
                    started.elapsed().as_secs_f64(),
                    match interval {
                        None => "the store's 30 s".to_owned(),
                        Some(i) => format!("{} ms", i.as_millis()),
                    }
                );
            }
        }
    }

    fn spin(d: std::time::Duration) {
        let until = std::time::Instant::now() + d;
        while std::time::Instant::now() < until {
            std::hint::spin_loop();
        }
    }

    /// The data files of `step_runs` after 10,000 steps of `step` each, before and after
    /// compaction, with the writer's flush interval `interval` (`None`: the store's).
    fn files_after_10k(step: &dyn Fn(), interval: Option<std::time::Duration>) -> (usize, usize) {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut builder = ExecutionRecordsLayer::builder();
        if let Some(interval) = interval {
            builder = builder.flush_interval(interval);
        }
        let (layer, guard) = builder.build(DeltaStore::open(dir.path()).expect("open"));
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            let _run = tracing::info_span!("nightly", etl.pipeline = "nightly").entered();
            for _ in 0..10_000 {
                let _step = tracing::info_span!("load", etl.step = "load").entered();
                step();
            }
        });
        guard.shutdown().expect("shutdown");
        let mut store = DeltaStore::open(dir.path()).expect("reopen");
        let before = store.data_files().expect("files")[2];
        let report = store.compact().expect("compact");
        let after = store.data_files().expect("files")[2];
        assert_eq!(
            store.read_steps(&Default::default()).expect("read").len(),
            10_000
        );
        assert_eq!(
            (report[2].files_before, report[2].files_after),
            (before, after)
        );
        (before, after)
    }
}

/// What collapsing a start and an end record in one batch into the end record is worth to
/// SQLite: the store given both records of every step run, as without it.
fn sqlite_uncollapsed(c: &mut Criterion) {
    let mut g = c.benchmark_group("store");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("both.db");
    let mut store = SqliteStore::open(&path).expect("open");
    g.throughput(Throughput::Elements(ENTITIES as u64));
    let mut entities = 0;
    g.bench_function("sqlite_store_start_and_end", |b| {
        b.iter_batched_ref(
            || {
                step_runs()
                    .into_iter()
                    .flat_map(|r| [r.start, r.end])
                    .collect::<Vec<ExecutionRecord>>()
            },
            |batch| {
                store.write_batch(batch).expect("write batch");
                entities += ENTITIES as u64;
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
    assert_eq!(count_rows(store.connection(), "step_runs"), entities);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = stores, sqlite_uncollapsed
}
criterion_main!(benches);
