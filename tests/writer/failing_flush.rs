//! A store whose `flush` keeps failing: the writer tries again with the back-off it uses for
//! writes, not at once, and reports the error once, then its repeats as a count — for the
//! callback and the default handler alike.

use crate::faults::{pipeline, Faults, FaultyStore};

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing_etl::writer::{RepeatedStoreError, WriterConfig};
use tracing_etl::{error::WriterError, ExecutionRecordsLayer, InMemoryStore};
use tracing_subscriber::prelude::*;

#[test]
fn a_failing_flush_backs_off_and_is_reported_once_with_a_count() {
    let memory = InMemoryStore::new();
    let faults = Faults::default();
    faults.fail_flushes(true);
    let reported = Arc::new(Mutex::new(Vec::<(String, Option<u64>)>::new()));
    let config = WriterConfig::default()
        .with_flush_interval(Duration::from_millis(10))
        .with_retry_backoff(Duration::from_millis(20), Duration::from_millis(160))
        .with_shutdown_timeout(Duration::from_secs(5))
        // The failures counted are the store's own: a slow call must not add deadline errors.
        .with_store_deadline(Duration::from_secs(60))
        .with_store_error_callback({
            let reported = reported.clone();
            move |e| {
                let repeats = RepeatedStoreError::of(e).map(|r| r.repeats());
                reported.lock().unwrap().push((e.to_string(), repeats));
            }
        });
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .with_writer_config(config)
        .build(FaultyStore::new(&memory, &faults));
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || pipeline(3));
    // The records are written; the flush after them fails from now on.
    let started = Instant::now();
    while memory.records().len() < 8 {
        assert!(started.elapsed() < Duration::from_secs(10));
        std::thread::yield_now();
    }
    let (before, _) = faults.flushes();
    std::thread::sleep(Duration::from_secs(1));
    let (after, _) = faults.flushes();
    let tries = after - before;
    // 20, 40, 80, 160, 160, … ms apart: at most 10 tries in a second (a spinning writer makes
    // tens of thousands).
    eprintln!("{tries} flushes tried in 1 s");
    assert!((2..=10).contains(&tries), "{tries} flushes in 1 s");
    assert_eq!(
        *reported.lock().unwrap(),
        [("disk I/O error".to_owned(), None)],
        "one report, the repeats counted"
    );

    // Shutdown's own flush fails too; the repeats are reported, counted, as the writer stops.
    let handle = guard.handle();
    let result = guard.shutdown();
    assert!(matches!(result, Err(WriterError::Store(_))), "{result:?}");
    let (_, failed) = faults.flushes();
    let stats = handle.stats();
    assert_eq!(stats.store_errors, failed, "every failure counted");
    let reported = reported.lock().unwrap();
    assert_eq!(reported.len(), 2, "{reported:?}");
    assert_eq!(reported[1].1, Some(failed - 1), "{reported:?}");
    assert!(
        reported[1]
            .0
            .starts_with(&format!("disk I/O error (repeated {} times", failed - 1)),
        "{reported:?}"
    );
    assert_eq!(stats.written, 8);
}

/// The default handler prints to stderr: a child process, whose stderr the test reads.
#[test]
#[ignore = "child process of the_default_handler_prints_an_error_once_then_its_count"]
fn child_with_a_failing_flush() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let faults = Faults::default();
    faults.fail_flushes(true);
    let config = WriterConfig::default()
        .with_flush_interval(Duration::from_millis(10))
        .with_retry_backoff(Duration::from_millis(1), Duration::from_millis(8));
    let (layer, guard) = ExecutionRecordsLayer::builder()
        .with_writer_config(config)
        .build(FaultyStore::new(&InMemoryStore::new(), &faults));
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || pipeline(3));
    std::thread::sleep(Duration::from_secs(1));
    let _ = guard.shutdown();
    eprintln!("flushes tried: {}", faults.flushes().1);
}

const CHILD: &str = "TRACING_ETL_FAILING_FLUSH_CHILD";

#[test]
fn the_default_handler_prints_an_error_once_then_its_count() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            concat!(module_path!(), "::child_with_a_failing_flush")
                .split_once("::")
                .unwrap()
                .1,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("tracing-etl: execution record store failed"))
        .collect();
    let tries: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("flushes tried: "))
        .expect("the child's count")
        .parse()
        .unwrap();
    assert!(tries > 10, "{stderr}");
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines[0].ends_with(": disk I/O error"), "{stderr}");
    assert!(
        lines[1].contains(&format!(
            "disk I/O error (repeated {} times in the last",
            tries - 1
        )),
        "{stderr}"
    );
}
