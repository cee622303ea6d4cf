//! The figures of the Guarantees, measured: for each fault, a job of paced steps under the
//! writer's default settings runs through a 3 s fault and on for 0.5 s after it; printed are
//! the records lost, the longest time one step held up the job's thread, and the error reports
//! (`on_store_error` calls) per second of fault. Run it (as root, for the tmpfs) with
//! `cargo test --all-features --test writer fault_figures -- --ignored --nocapture`.

use crate::fs_support::Tmpfs;
use crate::pg_support;
use crate::postgres_outage::{test_server, through, Proxy};

use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::field::Empty;
use tracing_etl::store::{RecordReader, RunFilter};
use tracing_etl::{
    ExecutionRecordsLayer, ExecutionRecordsLayerBuilder, JsonLinesStore, PostgresStore,
    SqliteStore, WriterGuard,
};
use tracing_subscriber::prelude::*;

const FAULT: Duration = Duration::from_secs(3);
const AFTER: Duration = Duration::from_millis(500);

/// What one fault cost.
struct Figures {
    steps: u64,
    longest: Duration,
    reports: u64,
}

/// Runs a job through a fault: `start` builds the layer with the builder given (spill
/// directory and error counter set), `end` ends the fault after [`FAULT`].
fn through_a_fault(
    spill: &Path,
    build: impl FnOnce(ExecutionRecordsLayerBuilder) -> (ExecutionRecordsLayer, WriterGuard),
    end: impl FnOnce(),
) -> (Figures, WriterGuard) {
    let reports = Arc::new(AtomicU64::new(0));
    let builder = ExecutionRecordsLayer::builder()
        .spill_dir(spill)
        .on_store_error({
            let reports = reports.clone();
            move |_| {
                reports.fetch_add(1, Ordering::SeqCst);
            }
        });
    let (layer, guard) = build(builder);
    let mut end = Some(end);
    let (steps, longest) =
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            let _p = tracing::info_span!("run", etl.pipeline = "faults").entered();
            let started = Instant::now();
            let (mut steps, mut longest) = (0u64, Duration::ZERO);
            while started.elapsed() < FAULT + AFTER {
                if started.elapsed() >= FAULT {
                    if let Some(end) = end.take() {
                        end();
                    }
                }
                let step = Instant::now();
                drop(tracing::info_span!("write", etl.step = Empty).entered());
                longest = longest.max(step.elapsed());
                steps += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            (steps, longest)
        });
    let reports = reports.load(Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(60);
    while guard.flush().is_err() {
        assert!(Instant::now() < deadline, "the store never came back");
        std::thread::sleep(Duration::from_millis(50));
    }
    (
        Figures {
            steps,
            longest,
            reports,
        },
        guard,
    )
}

/// Prints the figures of `fault` and checks that every step is in the store.
fn report(fault: &str, figures: Figures, guard: WriterGuard, stored_steps: impl FnOnce() -> u64) {
    let stats = guard.shutdown().unwrap();
    let stored = stored_steps();
    let lost = figures.steps - stored.min(figures.steps);
    println!(
        "{fault}: {} steps, lost {lost}, longest step {:.1} ms, {:.2} error reports/s \
         ({} in {:?}); {stats:?}",
        figures.steps,
        figures.longest.as_secs_f64() * 1e3,
        figures.reports as f64 / FAULT.as_secs_f64(),
        figures.reports,
        FAULT,
    );
    assert_eq!(stored, figures.steps, "{fault}");
    assert_eq!(stats.dropped + stats.abandoned, 0, "{fault}");
}

fn jsonl_steps(dir: &Path) -> u64 {
    let mut reader = JsonLinesStore::open_read_only(dir).unwrap();
    reader.read_steps(&RunFilter::default()).unwrap().len() as u64
}

fn sqlite_steps(path: &Path) -> u64 {
    let mut reader = SqliteStore::open_read_only(path).unwrap();
    reader.read_steps(&RunFilter::default()).unwrap().len() as u64
}

fn pg_steps(schema: &str) -> u64 {
    let mut reader = PostgresStore::builder(pg_support::url())
        .schema(schema)
        .connect_read_only()
        .unwrap();
    reader.read_steps(&RunFilter::default()).unwrap().len() as u64
}

#[test]
#[ignore = "3.5 s per fault; prints the Guarantees' figures (needs root for the tmpfs)"]
fn fault_figures() {
    let spill = tempfile::tempdir().unwrap();

    // A full disk under a JSON Lines history.
    let disk = Tmpfs::mount("4m").expect("mount a tmpfs (as root)");
    let history = disk.path().join("runs");
    let store = JsonLinesStore::open(&history).unwrap();
    disk.fill();
    let (figures, guard) = through_a_fault(spill.path(), |b| b.build(store), || disk.free());
    report("full disk (JSON Lines)", figures, guard, || {
        jsonl_steps(&history)
    });

    // A SQLite history whose write lock another connection holds (`BEGIN IMMEDIATE`).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let store = SqliteStore::open(&path).unwrap();
    let other = SqliteStore::open(&path).unwrap();
    other.connection().execute_batch("BEGIN IMMEDIATE").unwrap();
    let (figures, guard) = through_a_fault(
        spill.path(),
        |b| b.build(store),
        || other.connection().execute_batch("COMMIT").unwrap(),
    );
    report("SQLite locked (BEGIN IMMEDIATE)", figures, guard, || {
        sqlite_steps(&path)
    });

    // A PostgreSQL step table locked by another session (`LOCK TABLE … ACCESS EXCLUSIVE`).
    let schema = pg_support::TestSchema::new("figures_locked");
    let store = schema.store();
    let mut other = pg_support::admin();
    let mut lock = Some(other.transaction().unwrap());
    lock.as_mut()
        .unwrap()
        .batch_execute(&format!(
            "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
            schema.table("step_runs")
        ))
        .unwrap();
    let (figures, guard) = through_a_fault(
        spill.path(),
        |b| b.build(store),
        || lock.take().unwrap().commit().unwrap(),
    );
    report("PostgreSQL locked (LOCK TABLE)", figures, guard, || {
        pg_steps(&schema.name)
    });

    // A SQLite history whose directory is not there at start (`build_with`).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("later").join("runs.db");
    let (figures, guard) = through_a_fault(
        spill.path(),
        |b| {
            let path = path.clone();
            b.build_with(move || SqliteStore::open(&path))
        },
        || std::fs::create_dir(dir.path().join("later")).unwrap(),
    );
    report("SQLite down at start", figures, guard, || {
        sqlite_steps(&path)
    });

    // A PostgreSQL server that nothing listens for at start (`build_with`).
    let schema = pg_support::TestSchema::new("figures_down");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut proxy = None;
    let (figures, guard) = through_a_fault(
        spill.path(),
        |b| {
            let (url, name) = (through(port), schema.name.clone());
            b.build_with(move || {
                PostgresStore::builder(url.clone())
                    .schema(name.clone())
                    .connect()
            })
        },
        || {
            let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
            proxy = Some(Proxy::start_on(listener, test_server()));
        },
    );
    report("PostgreSQL down at start", figures, guard, || {
        pg_steps(&schema.name)
    });
    drop(proxy);

    // A PostgreSQL server that takes connections at start but never answers (`build_with`):
    // each connect waits out its timeout (2 s) on the store's thread.
    let schema = pg_support::TestSchema::new("figures_mute");
    let mute = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = mute.local_addr().unwrap().port();
    let mut mute = Some(mute);
    let mut proxy = None;
    let (figures, guard) = through_a_fault(
        spill.path(),
        |b| {
            let (url, name) = (through(port), schema.name.clone());
            b.build_with(move || {
                PostgresStore::builder(url.clone())
                    .schema(name.clone())
                    .connect()
            })
        },
        || {
            drop(mute.take());
            let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
            proxy = Some(Proxy::start_on(listener, test_server()));
        },
    );
    report("PostgreSQL not answering at start", figures, guard, || {
        pg_steps(&schema.name)
    });
    drop(proxy);
}
