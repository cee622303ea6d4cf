//! Helpers for the `tracing-etl` binary's tests: run histories recorded through the real layer
//! into real SQLite files, and the binary run against them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use tracing::instrument;
use tracing_etl::{ExecutionRecordsLayer, SqliteStore};
use tracing_subscriber::prelude::*;

/// The binary, with a clean environment (no store, trace link or colour settings inherited).
pub fn cli(db: &Path) -> Command {
    let mut cmd = bare_cli();
    cmd.arg("--db").arg(db);
    cmd
}

/// The binary without `--db`.
pub fn bare_cli() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tracing-etl"));
    cmd.env_remove("TRACING_ETL_STORE")
        .env_remove("TRACING_ETL_DB")
        .env_remove("TRACING_ETL_POSTGRES")
        .env_remove("TRACING_ETL_PG_SCHEMA")
        .env_remove("TRACING_ETL_TRACE_URL")
        .env_remove("NO_COLOR");
    cmd
}

/// Runs the tool, expects exit code `code`, and returns its stdout as JSON (a panic shows what
/// it printed when that is not JSON).
pub fn json(cmd: &mut Command, code: i32) -> serde_json::Value {
    let out = cmd.assert().code(code).get_output().clone();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A run history file in a temporary directory.
pub struct History {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl History {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.db");
        // Create the schema even when nothing is recorded.
        drop(SqliteStore::open(&path).unwrap());
        History { _dir: dir, path }
    }

    /// Runs `f` under the layer writing to this history, then shuts the writer down cleanly.
    /// Returns the recorder id.
    pub fn record(&self, f: impl FnOnce()) -> String {
        let (layer, guard) = ExecutionRecordsLayer::new(SqliteStore::open(&self.path).unwrap());
        let recorder_id = guard.handle().recorder_id().to_owned();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
        let stats = guard.shutdown().unwrap();
        assert_eq!(stats.dropped, 0);
        recorder_id
    }

    /// A store to read back what the binary did.
    pub fn reader(&self) -> SqliteStore {
        SqliteStore::open_read_only(&self.path).unwrap()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("row {row}: amount {value:?} is not a number")]
pub struct BadAmount {
    pub row: usize,
    pub value: String,
}

/// `nightly`: a process `extract` (steps `read`, `parse`) then a step `publish` directly in the
/// pipeline. With `fail`, `parse` fails and `publish` does not run.
#[instrument(skip_all, fields(etl.pipeline = "nightly", etl.run_id = %run_id, etl.attempt = attempt))]
pub fn nightly(run_id: &str, attempt: u32, fail: bool) -> Result<(), BadAmount> {
    extract(fail)?;
    publish();
    Ok(())
}

#[instrument(skip_all, fields(etl.process))]
fn extract(fail: bool) -> Result<(), BadAmount> {
    read();
    parse(fail)
}

#[instrument(skip_all, fields(etl.step))]
fn read() {
    std::thread::sleep(Duration::from_millis(2));
}

#[instrument(skip_all, fields(etl.step))]
fn parse(fail: bool) -> Result<(), BadAmount> {
    if fail {
        let error = BadAmount {
            row: 58,
            value: "twelve".into(),
        };
        tracing_etl::record_error(&error);
        return Err(error);
    }
    Ok(())
}

#[instrument(skip_all, fields(etl.step))]
fn publish() {}

/// `weekly`: one step, always succeeds.
#[instrument(skip_all, fields(etl.pipeline = "weekly", etl.run_id = %run_id))]
pub fn weekly(run_id: &str) {
    publish();
}

/// Records a pipeline `stuck` (run `run_id`) with a process `load` and a step `write` that never
/// close: their spans are still open when the writer shuts down cleanly, as when a program
/// exits without unwinding them. Before that, a step `check` in `load` fails.
pub fn record_stuck(history: &History, run_id: &str) -> String {
    let (layer, guard) = ExecutionRecordsLayer::new(SqliteStore::open(&history.path).unwrap());
    let recorder_id = guard.handle().recorder_id().to_owned();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let spans = tracing::dispatcher::with_default(&dispatch, || open_stuck(run_id, true));
    guard.shutdown().unwrap();
    // Closing them now reaches a writer that has shut down: they stay `running` in the store.
    drop(spans);
    recorder_id
}

/// Opens `stuck` → `load` → `write` (after `check`, failed when `with_failure`) and returns the
/// open spans.
pub fn open_stuck(run_id: &str, with_failure: bool) -> Vec<tracing::Span> {
    let pipeline = tracing::info_span!("stuck", etl.pipeline = "stuck", etl.run_id = run_id);
    let process = pipeline.in_scope(|| tracing::info_span!("load", etl.process = "load"));
    process.in_scope(|| {
        let _check = tracing::info_span!("check", etl.step = "check").entered();
        if with_failure {
            tracing::error!(error.type = "CheckError", "3 rows without a key");
        }
    });
    let step = process.in_scope(|| tracing::info_span!("write", etl.step = "write"));
    vec![pipeline, process, step]
}

/// Steps of [`huge`] that fail: every `HUGE_FAIL_EVERY`th.
pub const HUGE_FAIL_EVERY: usize = 500;

/// `huge` (run `run_id`): a process `load` with `steps` steps `chunk`, every
/// [`HUGE_FAIL_EVERY`]th failing (`BadChunk: chunk N: checksum mismatch`), then a step `slow`
/// (200 ms, the slowest by far) directly in the pipeline.
#[instrument(skip_all, fields(etl.pipeline = "huge", etl.run_id = %run_id))]
pub fn huge(run_id: &str, steps: usize) {
    load(steps);
    slow();
}

#[instrument(skip_all, fields(etl.process))]
fn load(steps: usize) {
    for i in 1..=steps {
        let _chunk = tracing::info_span!("chunk", etl.step = "chunk", rows = i).entered();
        if i % HUGE_FAIL_EVERY == 0 {
            tracing::error!(error.type = "BadChunk", "chunk {i}: checksum mismatch");
        }
    }
}

#[instrument(skip_all, fields(etl.step))]
fn slow() {
    std::thread::sleep(Duration::from_millis(200));
}

/// A step that fails with a message of `len` bytes over several lines, in pipeline `long`
/// (run `run_id`).
#[instrument(skip_all, fields(etl.pipeline = "long", etl.run_id = %run_id))]
pub fn long_error(run_id: &str, len: usize) {
    verbose(len);
}

#[instrument(skip_all, fields(etl.step))]
fn verbose(len: usize) {
    let line = "y".repeat(99) + "\n";
    let message: String = line.repeat(len / 100 + 1)[..len].to_owned();
    tracing::error!(error.type = "Verbose", error.message = %message, "failed");
}

/// A step `orphan` that fails outside any pipeline span: it gets a run id of its own.
#[instrument(skip_all, fields(etl.step))]
pub fn orphan() -> Result<(), BadAmount> {
    parse(true)
}

/// `retried` (run `run_id`): `extract` as in [`nightly`], failing when `fail`; every attempt
/// opens with `etl.last_attempt = false`, as a retry loop that cannot know it will succeed.
#[instrument(skip_all, fields(
    etl.pipeline = "retried", etl.run_id = %run_id, etl.attempt = attempt,
    etl.last_attempt = false
))]
pub fn retried(run_id: &str, attempt: u32, fail: bool) -> Result<(), BadAmount> {
    extract(fail)
}
