//! One conformance suite that every store must pass: the same tests, generic over
//! [`ExecutionRecordStore`] + [`RecordReader`], instantiated once per store at the bottom.
//!
//! A [`Harness`] opens a store at one fixed location (a file, a directory, a schema, shared
//! rows): opening it again after dropping the first store is a reopen.

use crate::fs_support::Tmpfs;
use crate::pg_support;

use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use tracing::instrument;
use tracing_etl::{
    record::{EntityKind, EventName, RecorderHeartbeat, RootCause, RunContext, Volume},
    store::{RecordOutline, RecordReader, RunFilter, RunPosition, Summarize},
    ExecutionRecord, ExecutionRecordStore, ExecutionRecordsLayer, RunStatus,
};
use tracing_subscriber::prelude::*;

/// Opens the store under test, always at the same location.
trait Harness {
    type Store: ExecutionRecordStore + RecordReader;
    fn open(&self) -> Self::Store;
}

// ---------------------------------------------------------------------------------------------
// Records

/// Text that breaks naive SQL, JSON or CSV handling.
const HOSTILE: &str =
    "Robert'); DROP TABLE step_runs;-- \"quoted\" \\ back\\slash\n\ttab, \u{1F4A5} 日本語 é";

/// A timestamp with microsecond precision (what every store keeps).
fn at(seconds: i64, micros: u32) -> DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000 + seconds, micros * 1_000)
        .single()
        .unwrap()
}

fn pipeline(run_id: &str, attempt: u32, end: Option<RunStatus>) -> ExecutionRecord {
    let start = ExecutionRecord::pipeline_start(run_id, "nightly", at(i64::from(attempt), 0))
        .with_run(RunContext::new(run_id).with_attempt(attempt, false));
    finish(start, end, 1_500, ExecutionRecord::ended)
}

fn process(run_id: &str, process_run_id: &str, end: Option<RunStatus>) -> ExecutionRecord {
    let start = ExecutionRecord::process_start(run_id, process_run_id, "extract", at(10, 0));
    finish(start, end, 700, ExecutionRecord::ended)
}

fn step(run_id: &str, step_run_id: &str, end: Option<RunStatus>) -> ExecutionRecord {
    let start = ExecutionRecord::step_start(run_id, step_run_id, "load", at(20, 0));
    finish(start, end, 300, ExecutionRecord::ended)
}

/// `start`, or its end record with status `end` when there is one.
fn finish<R>(start: R, end: Option<RunStatus>, ms: u64, ended: fn(R, RunStatus, u64) -> R) -> R {
    match end {
        Some(status) => ended(start, status, ms),
        None => start,
    }
}

/// Failed end records with every optional field set to `text`.
fn full_records(run_id: &str, text: &str) -> Vec<ExecutionRecord> {
    let some = |s: &str| Some(format!("{s}:{text}"));
    let mut p = pipeline(run_id, 7, Some(RunStatus::Failed));
    p.run.correlation_id = some("corr");
    p.run.last_attempt = true;
    p.name = format!("pipeline {text}");
    p.started_at = at(3, 123_456);
    p.outcome.duration_ms = Some(u64::from(u32::MAX) * 4);
    p.outcome.error.full = some("error");
    p.outcome.error.type_name = some("type");
    p.outcome.error.message = some("message");
    p.root_cause = Some(RootCause::new(
        format!("failed_step_run_id:{text}"),
        format!("failed_step:{text}"),
    ));
    p.trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736".to_owned());
    p.span_id = Some("00f067aa0ba902b7".to_owned());
    p.recorder_id = some("recorder");
    // The largest count every store keeps exactly, and 0 (not NULL).
    p.volume = Volume::new()
        .with_rows_in(0)
        .with_rows_out(i64::MAX as u64)
        .with_input(format!("inputs:{text}"))
        .with_input(format!("s3://bucket/a,b [c]/{text}"))
        .with_output(format!("outputs:{text}"));

    let mut pr = process(
        run_id,
        &format!("{run_id}/process"),
        Some(RunStatus::Failed),
    );
    pr.run.correlation_id = some("corr");
    pr.run.attempt = 7;
    pr.run.last_attempt = false;
    pr.name = format!("process {text}");
    pr.started_at = at(4, 999_999);
    pr.outcome.error.full = some("error");
    pr.outcome.error.type_name = some("type");
    pr.outcome.error.message = some("message");
    pr.root_cause = Some(RootCause::new(
        format!("failed_step_run_id:{text}"),
        format!("failed_step:{text}"),
    ));
    pr.trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736".to_owned());
    pr.span_id = Some("b7ad6b7169203331".to_owned());
    pr.recorder_id = some("recorder");

    let mut s = step(run_id, &format!("{run_id}/step"), Some(RunStatus::Failed));
    s.run.correlation_id = some("corr");
    s.run.attempt = 7;
    s.name = format!("step {text}");
    s.started_at = at(5, 1);
    s.outcome.error.full = some("error");
    s.process_run_id = Some(format!("{run_id}/process"));
    s.outcome.error.type_name = some("type");
    s.outcome.error.message = some("message");
    s.trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736".to_owned());
    s.span_id = Some("53995c3f42cd8ad8".to_owned());
    s.recorder_id = some("recorder");
    s.volume = Volume::new()
        .with_rows_out(1_204)
        .with_output(format!("outputs:{text}"));

    vec![p, pr, s]
}

fn write<S: ExecutionRecordStore>(store: &mut S, records: &[ExecutionRecord]) {
    store.write_batch(records).expect("write_batch");
    store.flush().expect("flush");
}

/// Every row of the store, as records, pipelines then processes then steps, oldest first.
fn read_all<S: RecordReader>(store: &mut S) -> Vec<ExecutionRecord> {
    let all = RunFilter::default();
    let mut rows: Vec<ExecutionRecord> = Vec::new();
    for kind in EntityKind::ALL {
        rows.extend(store.read_records(kind, &all).unwrap());
    }
    rows
}

fn read_run<S: RecordReader>(store: &mut S, run_id: &str) -> Vec<ExecutionRecord> {
    read_all(store)
        .into_iter()
        .filter(|r| r.run_id() == run_id)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The tests

fn round_trip_of_every_field<H: Harness>(h: &H) {
    let mut store = h.open();
    let plain = full_records("plain", "value");
    let hostile = full_records("hostile", HOSTILE);
    let long = full_records("long", &"x".repeat(60_000));
    let empty = full_records("empty", "");
    for records in [&plain, &hostile, &long, &empty] {
        write(&mut store, records);
    }
    // NULLs: the minimal records, every optional field absent.
    let nulls: Vec<ExecutionRecord> = vec![
        pipeline("nulls", 1, Some(RunStatus::Success)),
        process("nulls", "nulls/process", Some(RunStatus::Success)),
        step("nulls", "nulls/step", Some(RunStatus::Success)),
    ];
    write(&mut store, &nulls);
    drop(store);

    let mut store = h.open();
    for (run_id, expected) in [
        ("plain", plain),
        ("hostile", hostile),
        ("long", long),
        ("empty", empty),
        ("nulls", nulls),
    ] {
        assert_eq!(read_run(&mut store, run_id), expected, "run {run_id}");
    }
}

/// Random volumes (counts from 0 to `i64::MAX`, lists of any text, empty lists and no counts)
/// read back as written, on steps, processes and pipelines.
fn volume_round_trips<H: Harness>(h: &H) {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let text = prop_oneof![
        "[a-z:/.,]{1,12}",
        any::<String>(),
        "[\"\\\\\u{0}-\u{1f}é日]{1,6}"
    ];
    let volume = (
        proptest::option::of(0..=i64::MAX as u64),
        proptest::option::of(0..=i64::MAX as u64),
        proptest::collection::vec(text.clone(), 0..4),
        proptest::collection::vec(text, 0..4),
    );
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    // The runner takes a `Fn`: the store and the run count live in cells.
    let store = std::cell::RefCell::new(h.open());
    let n = std::cell::Cell::new(0);
    runner
        .run(&proptest::collection::vec(volume, 3), |volumes| {
            n.set(n.get() + 1);
            let run_id = format!("volume-{}", n.get());
            let mut records = vec![
                pipeline(&run_id, 1, Some(RunStatus::Success)),
                process(&run_id, &format!("{run_id}/p"), Some(RunStatus::Success)),
                step(&run_id, &format!("{run_id}/s"), Some(RunStatus::Success)),
            ];
            for (r, (rows_in, rows_out, inputs, outputs)) in records.iter_mut().zip(volumes) {
                let mut v = Volume::new();
                v.rows_in = rows_in;
                v.rows_out = rows_out;
                // As the layer keeps them: in order, once each.
                for name in inputs {
                    v = v.with_input(name);
                }
                for name in outputs {
                    v = v.with_output(name);
                }
                r.volume = v;
            }
            let mut store = store.borrow_mut();
            write(&mut *store, &records);
            prop_assert_eq!(read_run(&mut *store, &run_id), records);
            Ok(())
        })
        .unwrap();
}

fn a_start_then_an_end_leave_the_end<H: Harness>(h: &H) {
    let mut store = h.open();
    let start: Vec<ExecutionRecord> = vec![
        pipeline("upsert", 1, None),
        process("upsert", "upsert/p", None),
        step("upsert", "upsert/s", None),
    ];
    write(&mut store, &start);
    assert_eq!(
        read_run(&mut store, "upsert"),
        start,
        "start rows are `running`"
    );

    let end: Vec<ExecutionRecord> = vec![
        pipeline("upsert", 1, Some(RunStatus::Success)),
        process("upsert", "upsert/p", Some(RunStatus::Failed)),
        step("upsert", "upsert/s", Some(RunStatus::Success)),
    ];
    write(&mut store, &end);
    assert_eq!(
        read_run(&mut store, "upsert"),
        end,
        "one row per entity, the end"
    );
}

fn an_end_written_before_its_start_stays<H: Harness>(h: &H) {
    let mut store = h.open();
    let end: Vec<ExecutionRecord> = vec![
        pipeline("overtaken", 1, Some(RunStatus::Failed)),
        process("overtaken", "overtaken/p", Some(RunStatus::Success)),
        step("overtaken", "overtaken/s", Some(RunStatus::Success)),
    ];
    let start: Vec<ExecutionRecord> = vec![
        pipeline("overtaken", 1, None),
        process("overtaken", "overtaken/p", None),
        step("overtaken", "overtaken/s", None),
    ];
    write(&mut store, &end);
    write(&mut store, &start);
    // In one batch, too.
    let mut both: Vec<ExecutionRecord> = end.clone();
    both.extend(start.iter().cloned());
    write(&mut store, &both);
    assert_eq!(read_run(&mut store, "overtaken"), end);
}

fn writing_a_batch_twice_leaves_the_same_rows<H: Harness>(h: &H) {
    let mut store = h.open();
    let batch: Vec<ExecutionRecord> = vec![
        pipeline("twice", 1, None),
        step("twice", "twice/s", None),
        step("twice", "twice/s", Some(RunStatus::Success)),
        pipeline("twice", 1, Some(RunStatus::Success)),
    ];
    write(&mut store, &batch);
    let once = read_run(&mut store, "twice");
    write(&mut store, &batch);
    assert_eq!(read_run(&mut store, "twice"), once);
    assert_eq!(once.len(), 2);
}

fn a_batch_of_100k_records<H: Harness>(h: &H) {
    const N: usize = 100_000;
    let mut store = h.open();
    let records: Vec<ExecutionRecord> = (0..N)
        .map(|i| {
            let mut s = step("bulk", &format!("bulk/{i:06}"), Some(RunStatus::Success));
            s.started_at = at(100, u32::try_from(i).unwrap());
            s
        })
        .collect();
    write(&mut store, &records);
    drop(store);
    let mut store = h.open();
    let steps = store
        .read_steps(&RunFilter::default().run_id("bulk"))
        .unwrap();
    assert_eq!(steps.len(), N);
    assert_eq!(steps[0].step_run_id.as_deref(), Some("bulk/000000"));
    assert_eq!(steps[N - 1].step_run_id, Some(format!("bulk/{:06}", N - 1)));
}

#[instrument(skip_all, fields(etl.pipeline = "concurrent", etl.run_id = %run_id))]
fn concurrent_pipeline(run_id: &str, steps: usize) {
    std::thread::scope(|scope| {
        for t in 0..2 {
            let span = tracing::Span::current();
            let dispatch = tracing::dispatcher::get_default(Clone::clone);
            scope.spawn(move || {
                let _default = tracing::dispatcher::set_default(&dispatch);
                let _entered = span.enter();
                for i in 0..steps / 2 {
                    concurrent_step(t, i);
                }
            });
        }
    });
}

#[instrument(skip_all, fields(etl.step))]
fn concurrent_step(thread: usize, i: usize) {
    if (thread + i).is_multiple_of(97) {
        tracing::error!(thread, i, "bad row");
    }
}

/// Two writers (two layers, two store handles: like two jobs sharing a store), each fed by
/// two threads, at the same time.
fn concurrent_writers<H: Harness + Sync>(h: &H) {
    const STEPS: usize = 400;
    std::thread::scope(|scope| {
        for writer in 0..2 {
            scope.spawn(move || {
                let (layer, guard) = ExecutionRecordsLayer::builder()
                    .max_batch(64)
                    .build(h.open());
                let subscriber = tracing_subscriber::registry().with(layer);
                tracing::subscriber::with_default(subscriber, || {
                    concurrent_pipeline(&format!("concurrent-{writer}"), STEPS);
                });
                let stats = guard.shutdown().expect("writer shut down");
                assert_eq!(stats.written, 2 * (STEPS as u64 + 1));
            });
        }
    });
    let mut store = h.open();
    for writer in 0..2 {
        let run_id = format!("concurrent-{writer}");
        let filter = RunFilter::default().run_id(&run_id);
        let pipelines = store.read_pipelines(&filter).unwrap();
        assert_eq!(pipelines.len(), 1);
        assert_eq!(pipelines[0].outcome.status, RunStatus::Failed);
        let steps = store.read_steps(&filter).unwrap();
        assert_eq!(steps.len(), STEPS, "one row per step of {run_id}");
        assert!(steps.iter().all(|s| s.event() == EventName::StepEnd));
        let failed = steps
            .iter()
            .filter(|s| s.outcome.status == RunStatus::Failed)
            .count();
        assert_eq!(
            failed,
            (0..2)
                .map(|t| (0..STEPS / 2)
                    .filter(|i| (t + i).is_multiple_of(97))
                    .count())
                .sum::<usize>()
        );
    }
}

fn reopen_after_close_keeps_and_appends<H: Harness>(h: &H) {
    let first: Vec<ExecutionRecord> = vec![pipeline("reopen", 1, Some(RunStatus::Failed))];
    let mut store = h.open();
    write(&mut store, &first);
    drop(store);

    let second: Vec<ExecutionRecord> = vec![pipeline("reopen", 2, None)];
    let mut store = h.open();
    write(&mut store, &second);
    drop(store);

    let mut store = h.open();
    let rows = store
        .read_pipelines(&RunFilter::default().run_id("reopen"))
        .unwrap();
    let rows: Vec<ExecutionRecord> = rows.into_iter().collect();
    assert_eq!(rows, [first, second].concat());
}

fn heartbeats_keep_the_latest_beat<H: Harness>(h: &H) {
    let mut store = h.open();
    let mut beat = RecorderHeartbeat {
        recorder_id: "conformance-recorder".to_owned(),
        host: format!("host {HOSTILE}"),
        pid: 4242,
        started_at: at(0, 0),
        last_beat_at: at(5, 0),
        beat_interval_ms: 5_000,
        stopped_at: None,
    };
    store.write_heartbeat(&beat).unwrap();
    beat.last_beat_at = at(10, 250);
    beat.stopped_at = Some(at(10, 250));
    store.write_heartbeat(&beat).unwrap();
    store.flush().unwrap();
    drop(store);
    let mut store = h.open();
    let recorders: Vec<_> = store
        .read_recorders()
        .unwrap()
        .into_iter()
        .filter(|r| r.recorder_id == beat.recorder_id)
        .collect();
    assert_eq!(recorders, [beat]);
}

fn filters_select_order_and_limit<H: Harness>(h: &H) {
    let mut store = h.open();
    let mut rows: Vec<ExecutionRecord> = Vec::new();
    for (i, status) in [RunStatus::Success, RunStatus::Failed, RunStatus::Running]
        .into_iter()
        .enumerate()
    {
        let end = (status != RunStatus::Running).then_some(status);
        let mut p = pipeline(&format!("filter-{i}"), 1, end);
        p.started_at = at(1_000 + i as i64, 0);
        p.name = if i == 1 { "other" } else { "nightly" }.to_owned();
        rows.push(p);
    }
    write(&mut store, &rows);

    let ids = |store: &mut H::Store, filter: RunFilter| -> Vec<String> {
        store
            .read_pipelines(&filter.run_id_prefix("filter-"))
            .unwrap()
            .into_iter()
            .map(|p| p.run.run_id)
            .collect()
    };
    assert_eq!(
        ids(&mut store, RunFilter::default()),
        ["filter-0", "filter-1", "filter-2"]
    );
    assert_eq!(
        ids(&mut store, RunFilter::default().newest_first().limit(2)),
        ["filter-2", "filter-1"]
    );
    assert_eq!(
        ids(&mut store, RunFilter::default().status(RunStatus::Failed)),
        ["filter-1"]
    );
    assert_eq!(
        ids(&mut store, RunFilter::default().name("nightly")),
        ["filter-0", "filter-2"]
    );
    assert_eq!(
        ids(&mut store, RunFilter::default().since(at(1_001, 0))),
        ["filter-1", "filter-2"]
    );
    assert_eq!(
        ids(&mut store, RunFilter::default().attempt(2)),
        Vec::<String>::new()
    );
}

/// [`RunFilter::run_ids`] reads the rows of several runs at once, every attempt of each,
/// together with the other conditions; an empty list reads none.
fn a_list_of_run_ids_reads_those_runs<H: Harness>(h: &H) {
    let mut store = h.open();
    let mut rows = Vec::new();
    for (i, run_id) in ["ids-a", "ids-b", "ids-c", "ids-d"].into_iter().enumerate() {
        for attempt in 1..=2 {
            let status = if attempt == 1 {
                RunStatus::Failed
            } else {
                RunStatus::Success
            };
            let mut p = pipeline(run_id, attempt, Some(status));
            p.started_at = at(3_000 + 10 * i as i64 + i64::from(attempt), 0);
            rows.push(p);
        }
        let mut s = step(run_id, &format!("{run_id}-step"), Some(RunStatus::Success));
        s.started_at = at(3_000 + 10 * i as i64, 0);
        rows.push(s);
    }
    write(&mut store, &rows);

    let key = |p: &ExecutionRecord| format!("{}/{}", p.run.run_id, p.run.attempt);
    let read = |store: &mut H::Store, filter: RunFilter| -> Vec<String> {
        store
            .read_pipelines(&filter)
            .unwrap()
            .iter()
            .map(key)
            .collect()
    };
    let some = RunFilter::default().run_ids(["ids-d", "ids-b", "ids-none"]);
    assert_eq!(
        read(&mut store, some.clone()),
        ["ids-b/1", "ids-b/2", "ids-d/1", "ids-d/2"]
    );
    assert_eq!(
        read(
            &mut store,
            some.clone().status(RunStatus::Success).newest_first()
        ),
        ["ids-d/2", "ids-b/2"]
    );
    assert_eq!(
        read(&mut store, some.clone().run_id("ids-b").attempt(1)),
        ["ids-b/1"]
    );
    assert_eq!(
        read(
            &mut store,
            RunFilter::default().run_ids(Vec::<String>::new())
        ),
        Vec::<String>::new()
    );
    let steps: Vec<String> = store
        .read_steps(&some)
        .unwrap()
        .into_iter()
        .filter_map(|s| s.step_run_id)
        .collect();
    assert_eq!(steps, ["ids-b-step", "ids-d-step"]);
}

/// A keyset bound ([`RunFilter::before`]) pages newest first through pipeline runs, ties in
/// start time included (ordered by run id and attempt in every store): each page goes on
/// from the last row of the one before, and the pages together are the whole list.
fn keyset_pages_go_on_from_the_last_row<H: Harness>(h: &H) {
    let mut store = h.open();
    // (run id, attempt, start second, name): written out of order, several starting together.
    let runs = [
        ("page-c", 1, 5, "nightly"),
        ("page-a", 1, 5, "nightly"),
        ("page-b", 2, 5, "other"),
        ("page-b", 1, 5, "nightly"),
        ("page-d", 1, 9, "nightly"),
        ("page-e", 1, 1, "other"),
        ("page-f", 1, 7, "nightly"),
    ];
    let rows: Vec<ExecutionRecord> = runs
        .iter()
        .map(|&(run_id, attempt, second, name)| {
            let mut p = pipeline(run_id, attempt, Some(RunStatus::Success));
            p.started_at = at(2_000 + second, 0);
            p.name = name.to_owned();
            p
        })
        .collect();
    write(&mut store, &rows);

    let key = |p: &ExecutionRecord| format!("{}/{}", p.run.run_id, p.run.attempt);
    let newest_first = [
        "page-d/1", "page-f/1", "page-c/1", "page-b/2", "page-b/1", "page-a/1", "page-e/1",
    ];
    let all = RunFilter::default().run_id_prefix("page-").newest_first();
    let whole: Vec<String> = store
        .read_pipelines(&all)
        .unwrap()
        .iter()
        .map(key)
        .collect();
    assert_eq!(whole, newest_first);

    for (filter, expected) in [
        (all.clone(), newest_first.to_vec()),
        (
            all.clone().name("nightly"),
            vec!["page-d/1", "page-f/1", "page-c/1", "page-b/1", "page-a/1"],
        ),
    ] {
        let mut pages = Vec::new();
        let mut bound = None;
        loop {
            let mut page_filter = filter.clone().limit(2);
            if let Some(position) = bound.take() {
                page_filter = page_filter.before(position);
            }
            let page = store.read_pipelines(&page_filter).unwrap();
            let Some(last) = page.last() else { break };
            bound = Some(RunPosition::of(last));
            pages.extend(page.iter().map(key));
            assert!(pages.len() <= expected.len(), "{pages:?}");
        }
        assert_eq!(pages, expected, "{filter:?}");
    }

    // Oldest first, the bound keeps the rows strictly before it.
    let older = RunFilter::default()
        .run_id_prefix("page-")
        .before(RunPosition::new(at(2_005, 0), "page-b", 2));
    let rows: Vec<String> = store
        .read_pipelines(&older)
        .unwrap()
        .iter()
        .map(key)
        .collect();
    assert_eq!(rows, ["page-e/1", "page-a/1", "page-b/1"]);
}

/// `for_each_record` hands over the latest record of each entity in the filter's order, across
/// more rows than a read fetches at a time, and stops when the visitor breaks.
fn streaming_reads_in_order_and_stop_on_break<H: Harness>(h: &H) {
    use std::ops::ControlFlow;

    let mut store = h.open();
    const STEPS: usize = 12_345;
    let mut records = Vec::new();
    for i in 0..STEPS {
        let mut s = step("stream-1", &format!("stream-step-{i:05}"), None);
        s.started_at = at(2_000 + i as i64, 0);
        records.push(s.clone());
        // Every other step ends: its end line must win over its start line.
        if i % 2 == 0 {
            let status = if i % 1_000 == 0 {
                RunStatus::Failed
            } else {
                RunStatus::Success
            };
            records.push(s.ended(status, 5));
        }
    }
    // Another run's steps, which the filter leaves out.
    records.push(step("stream-2", "stream-other", Some(RunStatus::Failed)));
    write(&mut store, &records);

    let filter = RunFilter::default().run_id("stream-1");
    let mut seen = Vec::new();
    store
        .for_each_record(EntityKind::Step, &filter, &mut |r| {
            seen.push(r);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(seen.len(), STEPS);
    for (i, r) in seen.iter().enumerate() {
        assert_eq!(
            r.step_run_id.as_deref(),
            Some(format!("stream-step-{i:05}").as_str())
        );
        let expected = match i {
            i if i % 2 == 1 => RunStatus::Running,
            i if i % 1_000 == 0 => RunStatus::Failed,
            _ => RunStatus::Success,
        };
        assert_eq!(r.outcome.status, expected, "step {i}");
    }

    // Newest first, the status filter applied before the limit.
    let mut failed = Vec::new();
    store
        .for_each_record(
            EntityKind::Step,
            &filter
                .clone()
                .status(RunStatus::Failed)
                .newest_first()
                .limit(3),
            &mut |r| {
                failed.push(r.step_run_id.unwrap());
                ControlFlow::Continue(())
            },
        )
        .unwrap();
    assert_eq!(
        failed,
        [
            "stream-step-12000",
            "stream-step-11000",
            "stream-step-10000"
        ]
    );

    // A visitor that breaks gets nothing more.
    let mut calls = 0;
    store
        .for_each_record(EntityKind::Step, &filter, &mut |_| {
            calls += 1;
            if calls == 7 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(calls, 7);
    // The store is still usable after a read that stopped early.
    assert_eq!(store.read_steps(&filter.limit(2)).unwrap().len(), 2);
}

/// A summary that asks for every record whose number `wanted` picks, keeping what it gets.
struct Recording {
    wanted: fn(u64) -> bool,
    outlines: Vec<(u64, Outline)>,
    records: std::collections::BTreeMap<u64, ExecutionRecord>,
}

/// An outline's fields, owned.
type Outline = (
    Option<String>,
    Option<String>,
    RunStatus,
    DateTime<Utc>,
    Option<u64>,
);

fn owned(o: &RecordOutline<'_>) -> Outline {
    (
        o.id.map(str::to_owned),
        o.process_run_id.map(str::to_owned),
        o.status,
        o.started_at,
        o.duration_ms,
    )
}

impl Summarize for Recording {
    fn outline(&mut self, n: u64, outline: RecordOutline<'_>) -> bool {
        self.outlines.push((n, owned(&outline)));
        (self.wanted)(n)
    }

    fn record(&mut self, n: u64, record: ExecutionRecord) {
        assert!((self.wanted)(n), "record {n} was not asked for");
        assert!(
            self.records.insert(n, record).is_none(),
            "record {n} came twice"
        );
    }
}

/// `summarize_records` hands over the outline of every record `for_each_record` reads, numbered
/// in its order, and then exactly the records asked for, whole.
fn summaries_outline_every_record_and_hand_over_those_asked_for<H: Harness>(h: &H) {
    let mut store = h.open();
    let mut records = Vec::new();
    for i in 0..2_345u32 {
        let mut s = step("sum-1", &format!("sum-step-{i:05}"), None)
            .with_process_run_id(format!("sum-process-{}", i % 3));
        if i % 5 == 4 {
            s.process_run_id = None;
        }
        s.started_at = at(3_000 + i64::from(i / 2), i % 2);
        let status = match i % 7 {
            0 => RunStatus::Failed,
            1 => RunStatus::Cancelled,
            _ => RunStatus::Success,
        };
        let end = s.clone().ended(status, u64::from(i * 37 % 1_000));
        match i % 4 {
            // Still running.
            0 => records.push(s),
            // The end written before the start: the end stays.
            1 => records.extend([end, s]),
            _ => records.extend([s, end]),
        }
    }
    records.push(step("sum-2", "sum-other", Some(RunStatus::Failed)));
    write(&mut store, &records);

    let run = RunFilter::default().run_id("sum-1");
    let filters = [
        run.clone(),
        run.clone().status(RunStatus::Failed),
        run.clone().newest_first().limit(100),
        run.clone().name("load").since(at(3_500, 0)),
        RunFilter::default(),
    ];
    for filter in filters {
        let expected = store.read_records(EntityKind::Step, &filter).unwrap();
        let mut summary = Recording {
            wanted: |n| n % 97 == 3 || n < 5,
            outlines: Vec::new(),
            records: Default::default(),
        };
        store
            .summarize_records(EntityKind::Step, &filter, &mut summary)
            .unwrap();
        let outlines: Vec<(u64, Outline)> = (0..)
            .zip(&expected)
            .map(|(n, r)| (n, owned(&RecordOutline::of(r))))
            .collect();
        assert_eq!(summary.outlines, outlines, "{filter:?}");
        let asked: std::collections::BTreeMap<u64, ExecutionRecord> = (0..)
            .zip(expected)
            .filter(|(n, _)| (summary.wanted)(*n))
            .collect();
        assert_eq!(summary.records, asked, "{filter:?}");
    }
}

/// Instantiates every conformance test for one store: `$store::$test` runs `$test` against a
/// fresh harness.
macro_rules! conformance {
    ($($store:ident => $harness:expr;)*) => {$(
        conformance!(@store $store, $harness,
            round_trip_of_every_field,
            volume_round_trips,
            a_start_then_an_end_leave_the_end,
            an_end_written_before_its_start_stays,
            writing_a_batch_twice_leaves_the_same_rows,
            a_batch_of_100k_records,
            concurrent_writers,
            reopen_after_close_keeps_and_appends,
            heartbeats_keep_the_latest_beat,
            filters_select_order_and_limit,
            a_list_of_run_ids_reads_those_runs,
            keyset_pages_go_on_from_the_last_row,
            streaming_reads_in_order_and_stop_on_break,
            summaries_outline_every_record_and_hand_over_those_asked_for,
        );
    )*};
    (@store $store:ident, $harness:expr, $($test:ident,)*) => {
        mod $store {
            use super::*;
            $(
                #[test]
                fn $test() {
                    super::$test(&$harness);
                }
            )*
        }
    };
}

// ---------------------------------------------------------------------------------------------
// The stores

/// In memory: "reopening" is another clone sharing the same rows.
struct Memory(tracing_etl::InMemoryStore);

impl Harness for Memory {
    type Store = tracing_etl::InMemoryStore;
    fn open(&self) -> Self::Store {
        self.0.clone()
    }
}

fn memory() -> Memory {
    Memory(tracing_etl::InMemoryStore::new())
}

/// SQLite: one database file in a directory removed when the harness is dropped.
struct Sqlite(tempfile::TempDir);

impl Harness for Sqlite {
    type Store = tracing_etl::SqliteStore;
    fn open(&self) -> Self::Store {
        tracing_etl::SqliteStore::open(self.0.path().join("runs.db")).expect("open SQLite store")
    }
}

fn sqlite() -> Sqlite {
    Sqlite(tempfile::tempdir().unwrap())
}

/// JSON Lines: one directory, removed when the harness is dropped.
struct JsonLines(tempfile::TempDir);

impl Harness for JsonLines {
    type Store = tracing_etl::JsonLinesStore;
    fn open(&self) -> Self::Store {
        tracing_etl::JsonLinesStore::open(self.0.path().join("runs")).expect("open JSONL store")
    }
}

fn jsonl() -> JsonLines {
    JsonLines(tempfile::tempdir().unwrap())
}

/// PostgreSQL: a schema of its own on the real server (`TRACING_ETL_TEST_PG`), dropped when the
/// harness is dropped.
/// (The schema's admin connection is not `Sync`; the mutex makes the harness shareable.)
struct Postgres(std::sync::Mutex<pg_support::TestSchema>);

impl Harness for Postgres {
    type Store = tracing_etl::PostgresStore;
    fn open(&self) -> Self::Store {
        let builder = self.0.lock().unwrap().builder();
        builder.connect().expect("connect to PostgreSQL")
    }
}

fn postgres() -> Postgres {
    Postgres(std::sync::Mutex::new(pg_support::TestSchema::new(
        "conformance",
    )))
}

/// Delta Lake: one root of three tables, removed when the harness is dropped.
#[cfg(feature = "delta")]
struct Delta(tempfile::TempDir);

#[cfg(feature = "delta")]
impl Harness for Delta {
    type Store = tracing_etl::DeltaStore;
    fn open(&self) -> Self::Store {
        tracing_etl::DeltaStore::open(self.0.path().join("lake")).expect("open Delta store")
    }
}

#[cfg(feature = "delta")]
fn delta() -> Delta {
    Delta(tempfile::tempdir().unwrap())
}

#[cfg(feature = "delta")]
conformance! {
    delta => delta();
}

conformance! {
    memory => memory();
    sqlite => sqlite();
    jsonl => jsonl();
    postgres => postgres();
}

// ---------------------------------------------------------------------------------------------
// A full disk (the stores that write files)

/// A store on a tmpfs filled to its last byte: a batch is readable exactly when the store
/// accepted it; a batch the disk cannot take fails, leaves nothing of itself readable, and the
/// store stays usable; once the disk has room, the retry of the same batch lands once.
fn a_full_disk_fails_the_batch_and_its_retry_lands_once<S>(open: impl Fn(&Path) -> S)
where
    S: ExecutionRecordStore + RecordReader,
{
    let Some(disk) = Tmpfs::mount("8m") else {
        return;
    };
    let mut store = open(disk.path());
    let first: Vec<_> = std::iter::once(pipeline("disk", 1, None))
        .chain((0..10).map(|i| step("disk", &format!("first-{i}"), Some(RunStatus::Success))))
        .collect();
    store.write_batch(&first).unwrap();
    store.flush().unwrap();
    disk.fill();

    // A batch of 20 steps, 40 KB: more than the room left in the files' last pages, less than
    // a store might buffer. Read back exactly when the store accepted it (a store that buffered
    // it and said Ok would lose it).
    let small: Vec<_> = (0..20)
        .map(|i| {
            let mut s = step("disk", &format!("small-{i}"), Some(RunStatus::Success));
            s.outcome.error.message = Some("y".repeat(2_000));
            s
        })
        .collect();
    let accepted = store.write_batch(&small).is_ok();
    let steps = store.read_steps(&RunFilter::default()).unwrap();
    let small_read = steps
        .iter()
        .filter(|s| {
            s.step_run_id
                .as_deref()
                .is_some_and(|id| id.starts_with("small-"))
        })
        .count();
    assert_eq!(
        small_read,
        if accepted { 20 } else { 0 },
        "accepted: {accepted}"
    );

    // About 2 MB of lines: more than the full disk takes, less than the free one.
    let mut batch: Vec<_> = (0..2_000)
        .map(|i| {
            let mut s = step("disk", &format!("second-{i}"), Some(RunStatus::Failed));
            s.outcome.error.message = Some(format!("{i}: {}", "x".repeat(1_000)));
            s
        })
        .collect();
    batch.push(pipeline("disk", 1, Some(RunStatus::Failed)));
    for _ in 0..3 {
        let error = store.write_batch(&batch).unwrap_err();
        assert!(
            error.to_string().contains("full") || error.to_string().contains("space"),
            "{error}"
        );
    }
    let steps = store.read_steps(&RunFilter::default()).unwrap();
    assert_eq!(
        steps.len(),
        10 + if accepted { 20 } else { 0 },
        "nothing of the failed batch is read back"
    );
    let pipelines = store.read_pipelines(&RunFilter::default()).unwrap();
    assert_eq!(pipelines[0].outcome.status, RunStatus::Running);

    disk.free();
    store.write_batch(&small).unwrap();
    store.write_batch(&batch).unwrap();
    store.flush().unwrap();
    drop(store);
    let mut store = open(disk.path());
    let steps = store.read_steps(&RunFilter::default()).unwrap();
    assert_eq!(steps.len(), 2_030);
    let failed = steps
        .iter()
        .filter(|s| s.outcome.status == RunStatus::Failed)
        .count();
    assert_eq!(failed, 2_000);
    let pipelines = store.read_pipelines(&RunFilter::default()).unwrap();
    assert_eq!(pipelines.len(), 1);
    assert_eq!(pipelines[0].outcome.status, RunStatus::Failed);
}

mod full_disk {
    use super::*;

    #[test]
    fn sqlite() {
        a_full_disk_fails_the_batch_and_its_retry_lands_once(|dir| {
            tracing_etl::SqliteStore::open(dir.join("runs.db")).expect("open SQLite store")
        });
    }

    #[test]
    fn jsonl() {
        a_full_disk_fails_the_batch_and_its_retry_lands_once(|dir| {
            tracing_etl::JsonLinesStore::open(dir.join("runs")).expect("open JSONL store")
        });
    }
}
