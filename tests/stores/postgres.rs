//! Against `PostgresStore` on a real server (`TRACING_ETL_TEST_PG`, see `pg_support`): rows as
//! the layer recorded them, one per entity, end records winning, values stored verbatim,
//! schema creation and migration, read-only opening, TLS, timeouts, and an outage in the middle
//! of a run that loses nothing.

use crate::pg_support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use pg_support::{admin, quoted, unique_name, url, TestSchema};
use tracing::instrument;
use tracing_etl::{
    record::{EventName, Phase, RecorderHeartbeat},
    store::{RecordReader, RunFilter, POSTGRES_SCHEMA_VERSION},
    ExecutionRecord, ExecutionRecordStore, ExecutionRecordsLayer, InMemoryStore, PostgresStore,
    RunStatus, StoreError,
};
use tracing_subscriber::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("row {row}: amount {value:?} is not a number")]
struct BadAmount {
    row: usize,
    value: String,
}

#[instrument(skip_all, fields(
    etl.pipeline = "nightly",
    etl.run_id = %run_id,
    etl.attempt = 2,
    etl.last_attempt = false,
    etl.correlation_id = "batch-7",
))]
fn nightly(run_id: &str) -> Result<(), BadAmount> {
    extract()?;
    publish();
    Ok(())
}

#[instrument(skip_all, fields(etl.process))]
fn extract() -> Result<(), BadAmount> {
    read();
    parse()
}

#[instrument(skip_all, fields(etl.step))]
fn read() {
    std::thread::sleep(Duration::from_millis(2));
}

#[instrument(skip_all, fields(etl.step))]
fn parse() -> Result<(), BadAmount> {
    let error = BadAmount {
        row: 58,
        value: "twelve".into(),
    };
    tracing_etl::record_error(&error);
    Err(error)
}

#[instrument(skip_all, fields(etl.step))]
fn publish() {}

#[instrument(skip_all, fields(etl.pipeline = "weekly", etl.run_id = %run_id))]
fn weekly(run_id: &str) {
    publish();
}

/// Writes to the Postgres store and to an in-memory store, to compare what each kept.
struct Tee {
    pg: PostgresStore,
    memory: InMemoryStore,
}

impl ExecutionRecordStore for Tee {
    fn write_record(&mut self, record: &ExecutionRecord) -> Result<(), StoreError> {
        self.write_batch(std::slice::from_ref(record))
    }

    fn write_batch(&mut self, records: &[ExecutionRecord]) -> Result<(), StoreError> {
        self.pg.write_batch(records)?;
        self.memory.write_batch(records)
    }

    fn write_heartbeat(&mut self, heartbeat: &RecorderHeartbeat) -> Result<(), StoreError> {
        self.pg.write_heartbeat(heartbeat)?;
        self.memory.write_heartbeat(heartbeat)
    }
}

/// PostgreSQL keeps microseconds.
fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

fn record_with(store: impl ExecutionRecordStore, f: impl FnOnce()) {
    // A deadline a busy test machine cannot reach: these tests are not about slow stores.
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .store_deadline(Duration::from_secs(60))
        .build(store);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
    let stats = guard.shutdown().unwrap();
    assert_eq!(stats.dropped, 0);
    assert_eq!(stats.store_errors, 0);
}

#[test]
fn real_runs_are_stored_field_by_field() {
    let mut schema = TestSchema::new("fields");
    let memory = InMemoryStore::new();
    let tee = Tee {
        pg: schema.store(),
        memory: memory.clone(),
    };
    record_with(tee, || {
        nightly("r1").unwrap_err();
        weekly("r2");
    });

    let mut reader = schema.reader();
    let mut expected = memory.pipeline_runs();
    expected
        .iter_mut()
        .for_each(|r| r.started_at = micros(r.started_at));
    assert_eq!(
        reader.read_pipelines(&RunFilter::default()).unwrap(),
        expected
    );
    let mut expected = memory.process_runs();
    expected
        .iter_mut()
        .for_each(|r| r.started_at = micros(r.started_at));
    assert_eq!(
        reader.read_processes(&RunFilter::default()).unwrap(),
        expected
    );
    let mut expected = memory.step_runs();
    expected
        .iter_mut()
        .for_each(|r| r.started_at = micros(r.started_at));
    let steps = reader.read_steps(&RunFilter::default()).unwrap();
    assert_eq!(steps, expected);
    assert_eq!(reader.read_recorders().unwrap(), {
        let mut beats = memory.recorders();
        for b in &mut beats {
            b.started_at = micros(b.started_at);
            b.last_beat_at = micros(b.last_beat_at);
            b.stopped_at = b.stopped_at.map(micros);
        }
        beats
    });

    // What the layer recorded, as a person would check it.
    let runs = reader.read_pipelines(&RunFilter::default()).unwrap();
    let r1 = &runs[0];
    assert_eq!(
        (r1.run.run_id.as_str(), r1.run.attempt, r1.run.last_attempt),
        ("r1", 2, false)
    );
    assert_eq!(r1.run.correlation_id.as_deref(), Some("batch-7"));
    assert_eq!(r1.event(), EventName::PipelineEnd);
    assert_eq!(r1.outcome.status, RunStatus::Failed);
    assert_eq!(r1.failed_step(), Some("parse"));
    assert_eq!(r1.outcome.error.type_name.as_deref(), Some("BadAmount"));
    assert_eq!(
        r1.outcome.error.message.as_deref(),
        Some("row 58: amount \"twelve\" is not a number")
    );
    let parse = steps.iter().find(|s| s.name == "parse").unwrap();
    assert_eq!(r1.failed_step_run_id(), parse.step_run_id.as_deref());
    let read = steps.iter().find(|s| s.name == "read").unwrap();
    assert!(read.outcome.duration_ms.unwrap() >= 2, "{read:?}");
    assert_eq!(runs[1].outcome.status, RunStatus::Success);

    // The columns have the types a SQL user expects.
    let row = schema
        .admin
        .query_one(
            &format!(
                "SELECT pg_typeof(started_at)::text, pg_typeof(duration_ms)::text,
                        pg_typeof(last_attempt)::text, status, event
                 FROM {} WHERE run_id = 'r1'",
                schema.table("pipeline_runs")
            ),
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "timestamp with time zone");
    assert_eq!(row.get::<_, String>(1), "bigint");
    assert_eq!(row.get::<_, String>(2), "boolean");
    assert_eq!(row.get::<_, String>(3), "failed");
    assert_eq!(row.get::<_, String>(4), "pipeline_end");
    let started: DateTime<Utc> = schema
        .admin
        .query_one(
            &format!(
                "SELECT started_at FROM {} WHERE run_id = 'r1'",
                schema.table("pipeline_runs")
            ),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(started, r1.started_at);
}

#[test]
fn one_row_per_entity_across_program_runs() {
    let mut schema = TestSchema::new("rows");
    for run_id in ["a", "b", "c"] {
        // A fresh store each time, as separate program runs would.
        record_with(schema.store(), || {
            nightly(run_id).unwrap_err();
        });
    }
    assert_eq!(schema.count("pipeline_runs", ""), 3);
    assert_eq!(schema.count("process_runs", ""), 3);
    assert_eq!(
        schema.count("step_runs", ""),
        6,
        "read and parse; publish never ran"
    );
    assert_eq!(schema.count("recorders", ""), 3);
    assert_eq!(
        schema.count(
            "step_runs",
            "WHERE event <> 'step_end' OR duration_ms IS NULL OR status = 'running'"
        ),
        0
    );
}

fn pipeline(event: EventName, status: RunStatus) -> ExecutionRecord {
    let start = ExecutionRecord::pipeline_start("run", "p", Utc::now()).with_recorder_id("rec");
    finish(start, event, status, 5, ExecutionRecord::ended)
}

fn process(id: &str, event: EventName, status: RunStatus) -> ExecutionRecord {
    let start = ExecutionRecord::process_start("run", id, "proc", Utc::now());
    finish(start, event, status, 4, ExecutionRecord::ended)
}

fn step(id: &str, event: EventName, status: RunStatus) -> ExecutionRecord {
    let mut start = ExecutionRecord::step_start("run", id, "step", micros(Utc::now()));
    start.outcome.error.full = (status == RunStatus::Failed).then(|| "Boom".into());
    finish(start, event, status, 3, ExecutionRecord::ended)
}

/// `start`, made its end record with `status` (taking `ms`) when `event` is an end.
fn finish<R>(
    start: R,
    event: EventName,
    status: RunStatus,
    ms: u64,
    ended: fn(R, RunStatus, u64) -> R,
) -> R {
    if event.is_end() {
        ended(start, status, ms)
    } else {
        assert_eq!(status, RunStatus::Running, "a start record is running");
        start
    }
}

#[test]
fn an_end_record_is_never_replaced_by_its_start_record() {
    let schema = TestSchema::new("endwins");
    let mut store = schema.store();
    let start = |id| step(id, EventName::StepStart, RunStatus::Running);
    let end = |id| step(id, EventName::StepEnd, RunStatus::Failed);

    // End before start, in separate batches.
    store.write_batch(&[end("s1")]).unwrap();
    store.write_batch(&[start("s1")]).unwrap();
    // In one batch, in every order, and the same entity several times.
    store.write_batch(&[end("s2"), start("s2")]).unwrap();
    store.write_batch(&[start("s3"), end("s3")]).unwrap();
    store
        .write_batch(&[
            start("s4"),
            end("s4"),
            start("s4"),
            start("s5"),
            start("s5"),
        ])
        .unwrap();
    // And single records.
    store.write_record(&start("s6")).unwrap();
    store.write_record(&end("s6")).unwrap();
    store.write_record(&start("s6")).unwrap();

    let rows = store.read_steps(&RunFilter::default()).unwrap();
    let mut states: Vec<(&str, EventName, RunStatus)> = rows
        .iter()
        .map(|s| {
            (
                s.step_run_id.as_deref().unwrap(),
                s.event(),
                s.outcome.status,
            )
        })
        .collect();
    states.sort_by_key(|s| s.0);
    assert_eq!(
        states,
        [
            ("s1", EventName::StepEnd, RunStatus::Failed),
            ("s2", EventName::StepEnd, RunStatus::Failed),
            ("s3", EventName::StepEnd, RunStatus::Failed),
            ("s4", EventName::StepEnd, RunStatus::Failed),
            ("s5", EventName::StepStart, RunStatus::Running),
            ("s6", EventName::StepEnd, RunStatus::Failed),
        ]
    );

    // The same mixed batch twice leaves the same state.
    let batch: Vec<ExecutionRecord> = vec![
        pipeline(EventName::PipelineStart, RunStatus::Running),
        process("p1", EventName::ProcessEnd, RunStatus::Success),
        pipeline(EventName::PipelineEnd, RunStatus::Success),
        process("p1", EventName::ProcessStart, RunStatus::Running),
        start("s7"),
    ];
    store.write_batch(&batch).unwrap();
    let once = (
        store.read_pipelines(&RunFilter::default()).unwrap(),
        store.read_processes(&RunFilter::default()).unwrap(),
        store.read_steps(&RunFilter::default()).unwrap(),
    );
    store.write_batch(&batch).unwrap();
    let twice = (
        store.read_pipelines(&RunFilter::default()).unwrap(),
        store.read_processes(&RunFilter::default()).unwrap(),
        store.read_steps(&RunFilter::default()).unwrap(),
    );
    assert_eq!(once, twice);
    assert_eq!(once.0.len(), 1);
    assert_eq!(once.0[0].outcome.status, RunStatus::Success);
    assert_eq!(once.1[0].event(), EventName::ProcessEnd);
}

const NASTY: &[&str] = &[
    "'; DROP TABLE pipeline_runs; --",
    "Robert'); DROP TABLE step_runs;--",
    "\"quoted\" $1 $$dollar$$ \\backslash\\ %_ wildcards",
    "line one\nline two\ttab",
    "ü 😀 ∑ 中文",
];

#[test]
fn injection_looking_values_are_stored_verbatim() {
    let schema = TestSchema::new("nasty");
    record_with(schema.store(), || {
        for (i, text) in NASTY.iter().enumerate() {
            let run_id = format!("{text}#{i}");
            let p = tracing::info_span!(
                "p",
                etl.pipeline = *text,
                etl.run_id = run_id.as_str(),
                etl.correlation_id = *text
            );
            let _p = p.enter();
            let s = tracing::info_span!("s", etl.step = *text);
            let _s = s.enter();
            tracing::error!(error.type = *text, error.message = *text, "{text}");
        }
        // NUL cannot be stored in PostgreSQL text; the layer already replaces it.
        let _p = tracing::info_span!("p", etl.pipeline = "nul\0name", etl.run_id = "nul").entered();
    });
    let mut reader = schema.reader();
    let runs = reader.read_pipelines(&RunFilter::default()).unwrap();
    assert_eq!(runs.len(), NASTY.len() + 1);
    for (i, text) in NASTY.iter().enumerate() {
        let run_id = format!("{text}#{i}");
        let found = reader
            .read_pipelines(&RunFilter::default().run_id(run_id.clone()))
            .unwrap();
        assert_eq!(found.len(), 1, "{run_id:?}");
        let run = &found[0];
        assert_eq!(run.name, *text);
        assert_eq!(run.run.correlation_id.as_deref(), Some(*text));
        assert_eq!(run.failed_step(), Some(*text));
        assert_eq!(run.outcome.error.type_name.as_deref(), Some(*text));
        assert_eq!(run.outcome.error.message.as_deref(), Some(*text));
        let by_prefix = reader
            .read_pipelines(&RunFilter::default().run_id_prefix(*text))
            .unwrap();
        assert_eq!(by_prefix.len(), 1, "{text:?}");
        let by_name = reader
            .read_steps(&RunFilter::default().name(*text))
            .unwrap();
        assert_eq!(by_name.len(), 1, "{text:?}");
        assert_eq!(by_name[0].outcome.error.message.as_deref(), Some(*text));
    }
    let nul = reader
        .read_pipelines(&RunFilter::default().run_id("nul"))
        .unwrap();
    assert_eq!(nul[0].name, "nul\u{FFFD}name");

    // A record written directly, NUL and all, is stored too (rather than refused forever).
    let mut store = schema.store();
    let mut record = step("nul-step", EventName::StepEnd, RunStatus::Failed);
    record.outcome.error.full = Some("a\0b".into());
    store.write_batch(&[record]).unwrap();
    let rows = store
        .read_steps(&RunFilter::default().run_id("run"))
        .unwrap();
    assert_eq!(rows[0].outcome.error.full.as_deref(), Some("a\u{FFFD}b"));
}

#[test]
fn schema_names_are_quoted_and_checked() {
    let mut schema = TestSchema::named(format!(
        "Team \"ETL\"; DROP SCHEMA public; -- {}",
        std::process::id()
    ));
    record_with(schema.store(), || weekly("w1"));
    assert!(schema.exists());
    assert_eq!(schema.count("pipeline_runs", ""), 1);
    let public: bool = admin()
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'public')",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(public);

    for bad in ["", "x\0y", &"x".repeat(64)] {
        let err = PostgresStore::builder(url())
            .schema(bad)
            .connect()
            .unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidData { .. }),
            "{bad:?}: {err}"
        );
        assert!(err.to_string().contains("schema name"), "{err}");
    }
}

#[test]
fn migration_is_idempotent_and_refuses_newer_schemas() {
    let mut schema = TestSchema::new("migrate");
    record_with(schema.store(), || weekly("w1"));
    let oids = |schema: &mut TestSchema| -> Vec<u32> {
        schema
            .admin
            .query(
                "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = $1 ORDER BY c.relname",
                &[&schema.name],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    let before = oids(&mut schema);
    // Tables, their primary keys and indexes, the version table.
    assert!(before.len() >= 14, "{before:?}");
    for _ in 0..3 {
        drop(schema.store());
    }
    record_with(schema.store(), || weekly("w2"));
    assert_eq!(oids(&mut schema), before, "nothing was recreated");
    assert_eq!(schema.count("pipeline_runs", ""), 2);
    let versions: Vec<i32> = schema
        .admin
        .query(
            &format!("SELECT version FROM {}", schema.table("tracing_etl_schema")),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, [POSTGRES_SCHEMA_VERSION]);

    // Several programs starting at once on a new schema: one creates it, none fails.
    let fresh = TestSchema::new("race");
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let builder = fresh.builder();
                scope.spawn(move || builder.connect().map(drop))
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
    });

    // A schema from a newer release is not touched.
    schema
        .admin
        .batch_execute(&format!(
            "UPDATE {} SET version = 99",
            schema.table("tracing_etl_schema")
        ))
        .unwrap();
    for err in [
        schema.builder().connect().unwrap_err(),
        schema.builder().connect_read_only().unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::InvalidData { .. }), "{err}");
        assert!(err.to_string().contains("newer tracing-etl"), "{err}");
    }
}

#[test]
fn read_only_opening_creates_nothing() {
    let mut schema = TestSchema::new("readonly");
    let err = schema.builder().connect_read_only().unwrap_err();
    assert!(matches!(err, StoreError::InvalidData { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("no tracing-etl tables"), "{message}");
    assert!(message.contains(&schema.name), "{message}");
    assert!(!message.contains('\n'), "{message}");
    assert!(!schema.exists(), "the read-only open created the schema");

    // Tables someone else made, but not ours.
    schema
        .admin
        .batch_execute(&format!(
            "CREATE SCHEMA {0}; CREATE TABLE {0}.pipeline_runs (x int)",
            quoted(&schema.name)
        ))
        .unwrap();
    let err = schema.builder().connect_read_only().unwrap_err();
    assert!(err.to_string().contains("missing table(s)"), "{err}");
    schema
        .admin
        .batch_execute(&format!("DROP SCHEMA {} CASCADE", quoted(&schema.name)))
        .unwrap();

    record_with(schema.store(), || weekly("w1"));
    let mut reader = schema.reader();
    assert!(reader.is_read_only());
    assert_eq!(
        reader.read_pipelines(&RunFilter::default()).unwrap().len(),
        1
    );
    // Writing through a read-only store fails, and leaves it usable.
    let err = reader
        .write_batch(&[step("x", EventName::StepEnd, RunStatus::Success)])
        .unwrap_err();
    assert!(err.to_string().contains("read-only"), "{err}");
    assert_eq!(
        reader.read_pipelines(&RunFilter::default()).unwrap().len(),
        1
    );
    assert_eq!(schema.count("step_runs", "WHERE step_run_id = 'x'"), 0);
}

#[test]
fn a_failed_batch_is_rolled_back_and_the_store_stays_usable() {
    let mut schema = TestSchema::new("rollback");
    let mut store = schema.store();
    // A trigger that refuses one step, as a full disk or a constraint someone added would.
    schema
        .admin
        .batch_execute(&format!(
            "CREATE FUNCTION {s}.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN RAISE EXCEPTION 'refused step %', NEW.step_run_id; END $$;
             CREATE TRIGGER refuse BEFORE INSERT ON {s}.step_runs
                 FOR EACH ROW WHEN (NEW.step_run_id = 'poison') EXECUTE FUNCTION {s}.refuse();",
            s = quoted(&schema.name)
        ))
        .unwrap();
    let batch: Vec<ExecutionRecord> = vec![
        pipeline(EventName::PipelineEnd, RunStatus::Success),
        step("good", EventName::StepEnd, RunStatus::Success),
        step("poison", EventName::StepEnd, RunStatus::Success),
    ];
    let err = store.write_batch(&batch).unwrap_err();
    assert!(matches!(err, StoreError::Postgres { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("refused step poison"), "{message}");
    assert!(message.contains("write records"), "{message}");
    assert_eq!(schema.count("pipeline_runs", ""), 0, "rolled back");
    assert_eq!(schema.count("step_runs", ""), 0, "rolled back");

    // The same store, the same batch, once the cause is gone.
    schema
        .admin
        .batch_execute(&format!(
            "DROP TRIGGER refuse ON {}",
            schema.table("step_runs")
        ))
        .unwrap();
    store.write_batch(&batch).unwrap();
    assert_eq!(schema.count("pipeline_runs", ""), 1);
    assert_eq!(schema.count("step_runs", ""), 2);
}

#[test]
fn a_lost_connection_is_replaced_on_the_next_call() {
    let mut schema = TestSchema::new("reconnect");
    let app = unique_name("app");
    let mut store = schema
        .builder()
        .application_name(app.clone())
        .connect()
        .unwrap();
    assert_eq!(schema.terminate(&app), 1, "the store's one connection");
    let first = store.write_batch(&[step("s1", EventName::StepEnd, RunStatus::Success)]);
    let err = first.unwrap_err();
    assert!(matches!(err, StoreError::Postgres { .. }), "{err}");
    // The next call connects again.
    store
        .write_batch(&[step("s1", EventName::StepEnd, RunStatus::Success)])
        .unwrap();
    assert_eq!(store.read_steps(&RunFilter::default()).unwrap().len(), 1);
    // Reads too.
    assert_eq!(schema.terminate(&app), 1);
    assert!(store.read_steps(&RunFilter::default()).is_err());
    assert_eq!(store.read_steps(&RunFilter::default()).unwrap().len(), 1);
    assert_eq!(schema.count("step_runs", ""), 1);
}

#[test]
fn an_unreachable_server_is_a_prompt_clear_error() {
    // Nothing listens on port 1.
    let started = Instant::now();
    let err =
        PostgresStore::connect("host=127.0.0.1 port=1 user=postgres dbname=test").unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    let message = err.to_string();
    assert!(
        message.contains("127.0.0.1:1/test") && message.contains("connect"),
        "{message}"
    );
    assert!(message.to_lowercase().contains("refused"), "{message}");

    // A server that accepts the connection and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let started = Instant::now();
    let err = PostgresStore::builder(format!(
        "host=127.0.0.1 port={port} user=postgres dbname=test sslmode=disable"
    ))
    .connect_timeout(Duration::from_millis(300))
    .connect()
    .unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(err.to_string().contains("no answer"), "{err}");

    // A bad connection string says so (without echoing a password).
    let err = PostgresStore::connect("postgres://u:s3cret@host:notaport/db").unwrap_err();
    assert!(err.to_string().contains("connection string"), "{err}");
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

#[test]
fn statements_time_out_and_the_store_recovers() {
    let mut schema = TestSchema::new("timeout");
    let mut store = schema
        .builder()
        .statement_timeout(Duration::from_millis(300))
        .connect()
        .unwrap();
    let mut locker = admin();
    let mut tx = locker.transaction().unwrap();
    tx.batch_execute(&format!(
        "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
        schema.table("step_runs")
    ))
    .unwrap();
    let started = Instant::now();
    let err = store
        .write_batch(&[step("s1", EventName::StepEnd, RunStatus::Success)])
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(err.to_string().contains("statement timeout"), "{err}");
    tx.rollback().unwrap();
    store
        .write_batch(&[step("s1", EventName::StepEnd, RunStatus::Success)])
        .unwrap();
    assert_eq!(schema.count("step_runs", ""), 1);
}

#[test]
fn big_batches_are_written_whole() {
    let mut schema = TestSchema::new("big");
    let mut store = schema.store();
    let records: Vec<ExecutionRecord> = (0..25_000)
        .flat_map(|i| {
            let id = format!("s{i:05}");
            [
                step(&id, EventName::StepStart, RunStatus::Running),
                step(&id, EventName::StepEnd, RunStatus::Success),
            ]
        })
        .collect();
    store.write_batch(&records).unwrap();
    assert_eq!(schema.count("step_runs", ""), 25_000);
    assert_eq!(
        schema.count("step_runs", "WHERE event = 'step_end'"),
        25_000
    );
}

#[test]
fn usable_from_async_code() {
    // (The test's own synchronous client stays outside the runtime.)
    let schema = TestSchema::new("async");
    let (writer, reader) = (schema.builder(), schema.builder());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let mut store = writer.connect().unwrap();
        store
            .write_batch(&[step("s1", EventName::StepEnd, RunStatus::Success)])
            .unwrap();
        assert_eq!(store.read_steps(&RunFilter::default()).unwrap().len(), 1);
        drop(store);
        let mut reader = reader.connect_read_only().unwrap();
        let steps = tokio::spawn(async move { reader.read_steps(&RunFilter::default()) });
        assert_eq!(steps.await.unwrap().unwrap().len(), 1);
    });
}

mod tls {
    use super::*;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    /// Accepts the test server's self-signed certificate (and any other).
    #[derive(Debug)]
    struct AcceptAny(Arc<CryptoProvider>);

    impl ServerCertVerifier for AcceptAny {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    fn accept_any() -> rustls::ClientConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
            .with_no_client_auth()
    }

    /// Whether the connection named `app` is encrypted.
    fn encrypted(app: &str) -> bool {
        admin()
            .query_one(
                "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
                 WHERE a.application_name = $1",
                &[&app],
            )
            .unwrap()
            .get(0)
    }

    fn with_sslmode(mode: &str) -> String {
        let url = url();
        if url.contains("://") {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}sslmode={mode}")
        } else {
            format!("{url} sslmode={mode}")
        }
    }

    #[test]
    fn sslmode_is_honoured() {
        let server_ssl: String = admin().query_one("SHOW ssl", &[]).unwrap().get(0);
        let schema = TestSchema::new("tls");
        drop(schema.store());

        let app = unique_name("plain");
        let _plain = PostgresStore::builder(with_sslmode("disable"))
            .schema(schema.name.clone())
            .application_name(app.clone())
            .connect_read_only()
            .unwrap();
        assert!(!encrypted(&app));

        if server_ssl != "on" {
            eprintln!("the test server has ssl off: TLS sessions not tested");
            return;
        }
        // A certificate the Mozilla roots do not vouch for (the test server's is self-signed).
        let err = PostgresStore::builder(with_sslmode("require"))
            .schema(schema.name.clone())
            .connect_read_only()
            .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("TLS"), "{message}");
        assert!(message.contains("certificate"), "{message}");
        // libpq's spelling of the same.
        assert!(PostgresStore::builder(with_sslmode("verify-full"))
            .schema(schema.name.clone())
            .connect_read_only()
            .is_err());

        // `prefer` (the default) falls back to an unencrypted connection.
        let app = unique_name("prefer");
        let _prefer = PostgresStore::builder(url())
            .schema(schema.name.clone())
            .application_name(app.clone())
            .connect_read_only()
            .unwrap();
        assert!(!encrypted(&app));

        // With a configuration that trusts the server: an encrypted session that works.
        let app = unique_name("tls");
        let mut store = PostgresStore::builder(with_sslmode("require"))
            .schema(schema.name.clone())
            .application_name(app.clone())
            .tls_config(accept_any())
            .connect()
            .unwrap();
        assert!(encrypted(&app));
        store
            .write_batch(&[step("s1", EventName::StepEnd, RunStatus::Success)])
            .unwrap();
        assert_eq!(store.read_steps(&RunFilter::default()).unwrap().len(), 1);
    }
}

/// A long run writing all the time; its store's connection is killed three times in the middle.
/// Every entity still ends up as exactly one row with its end status, and the outage was
/// reported.
#[test]
fn an_outage_mid_run_loses_nothing_and_is_reported() {
    let mut schema = TestSchema::new("outage");
    let app = unique_name("outage");
    let store = schema
        .builder()
        .application_name(app.clone())
        .connect()
        .unwrap();
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = errors.clone();
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .flush_interval(Duration::from_millis(10))
        .retry_backoff(Duration::from_millis(10), Duration::from_millis(100))
        .on_store_error(move |e| seen.lock().unwrap().push(e.to_string()))
        .build(store);

    let done = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicUsize::new(0));
    let steps_table = schema.table("step_runs");
    let killer = {
        let (done, kills, app) = (done.clone(), kills.clone(), app.clone());
        std::thread::spawn(move || {
            let mut admin = TestSchema {
                name: unique_name("unused"),
                admin: admin(),
            };
            // Once the run is well under way…
            while !done.load(Ordering::Relaxed) {
                let rows: i64 = admin
                    .admin
                    .query_one(&format!("SELECT count(*) FROM {steps_table}"), &[])
                    .unwrap()
                    .get(0);
                if rows >= 30 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            // …kill its connection, three times.
            for _ in 0..3 {
                kills.fetch_add(admin.terminate(&app), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(150));
            }
        })
    };

    const PROCESSES: usize = 4;
    const STEPS: usize = 60;
    #[instrument(skip_all, fields(etl.pipeline = "long", etl.run_id = "long-1"))]
    fn long_run() {
        for p in 0..PROCESSES {
            let process = tracing::info_span!("load", etl.process = format!("load-{p}"));
            let _p = process.enter();
            for s in 0..STEPS {
                let step = tracing::info_span!("write", etl.step = format!("write-{p}-{s}"));
                let _s = step.enter();
                std::thread::sleep(Duration::from_millis(5));
                if s == 7 {
                    tracing::error!("batch {s} rejected");
                }
            }
        }
    }
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), long_run);
    done.store(true, Ordering::Relaxed);
    killer.join().unwrap();
    let stats = guard.shutdown().unwrap();

    let kills = kills.load(Ordering::Relaxed);
    assert!(kills >= 1, "no connection was killed");
    let errors = errors.lock().unwrap().clone();
    assert!(stats.store_errors >= 1, "{stats:?}");
    assert!(!errors.is_empty());
    assert!(
        errors
            .iter()
            .all(|e| e.contains(&schema.name) && !e.contains('\n')),
        "{errors:#?}"
    );
    assert_eq!((stats.dropped, stats.abandoned), (0, 0), "{stats:?}");
    let entities = 1 + PROCESSES + PROCESSES * STEPS;
    assert_eq!(stats.written, 2 * entities as u64, "{stats:?}");
    eprintln!(
        "{kills} connection(s) killed, {} store error(s)",
        errors.len()
    );

    assert_eq!(schema.count("pipeline_runs", ""), 1);
    assert_eq!(schema.count("process_runs", ""), PROCESSES as i64);
    assert_eq!(schema.count("step_runs", ""), (PROCESSES * STEPS) as i64);
    for table in ["pipeline_runs", "process_runs", "step_runs"] {
        assert_eq!(
            schema.count(
                table,
                "WHERE event NOT LIKE '%\\_end' OR status = 'running' OR duration_ms IS NULL"
            ),
            0,
            "{table}"
        );
    }
    assert_eq!(
        schema.count("step_runs", "WHERE status = 'failed'"),
        PROCESSES as i64
    );
    assert_eq!(
        schema.count(
            "step_runs",
            "WHERE run_id <> 'long-1' OR process_run_id IS NULL"
        ),
        0
    );
    let mut reader = schema.reader();
    let names: std::collections::BTreeSet<String> = reader
        .read_steps(&RunFilter::default())
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names.len(), PROCESSES * STEPS);
    let run = reader.read_pipelines(&RunFilter::default()).unwrap();
    assert_eq!(run[0].outcome.status, RunStatus::Failed);
    assert_eq!(run[0].failed_step(), Some("write-0-7"));
    // The writer's final heartbeat made it too.
    let recorders = reader.read_recorders().unwrap();
    assert_eq!(recorders.len(), 1);
    assert!(recorders[0].stopped_at.is_some());
}

/// Throughput into the real server, as the writer batches (4096 records per call). Not run by
/// default:
/// `cargo test --release --features postgres --test stores -- --ignored --nocapture throughput`.
#[test]
#[ignore]
fn throughput() {
    let mut schema = TestSchema::new("throughput");
    let mut store = schema.store();
    let entities = 100_000;
    let records: Vec<ExecutionRecord> = (0..entities)
        .flat_map(|i| {
            let id = format!("{i:032}");
            let mut end = step(&id, EventName::StepEnd, RunStatus::Success);
            end.process_run_id = Some("process-0000000000000000000000000".into());
            end.recorder_id = Some("recorder-00000000000000000000000".into());
            let mut start = end.clone();
            start.phase = Phase::Start;
            start.outcome.status = RunStatus::Running;
            start.outcome.duration_ms = None;
            [start, end]
        })
        .collect();
    // Starts and ends in separate batches, as in a real run (each entity's row is inserted,
    // then updated).
    let (starts, ends): (Vec<_>, Vec<_>) = records
        .into_iter()
        .partition(|r| r.event() == EventName::StepStart);
    let started = Instant::now();
    for chunk in starts.chunks(4096).chain(ends.chunks(4096)) {
        store.write_batch(chunk).unwrap();
    }
    let took = started.elapsed();
    assert_eq!(
        schema.count("step_runs", "WHERE event = 'step_end'"),
        entities
    );
    let rate = (2 * entities) as f64 / took.as_secs_f64();
    eprintln!(
        "{} records ({entities} inserts + {entities} updates) in {took:?}: {rate:.0} records/s",
        2 * entities
    );
}

/// libpq's `sslrootcert` names the CA file to trust: the store reads it when it opens, so a
/// missing file is an error naming it, in either form of connection string. (The local test
/// server has no certificate: the handshake against a private CA is not tested here.)
#[test]
fn sslrootcert_names_the_ca_file_to_trust() {
    for conn in [
        "postgres://postgres@127.0.0.1:5432/test?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        "host=127.0.0.1 user=postgres dbname=test sslmode=verify-full sslrootcert=/nonexistent/ca.pem",
    ] {
        let err = PostgresStore::builder(conn).connect().unwrap_err().to_string();
        assert!(err.contains("sslrootcert /nonexistent/ca.pem"), "{conn}: {err}");
        assert!(err.contains("No such file"), "{conn}: {err}");
    }
    // `sslmode=disable` never reads it.
    let schema = TestSchema::new("rootcert");
    let conn = format!("{} sslmode=disable sslrootcert=/nonexistent/ca.pem", url());
    PostgresStore::builder(conn)
        .schema(&schema.name)
        .connect()
        .unwrap();
}
