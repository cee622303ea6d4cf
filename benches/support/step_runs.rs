//! The batches the store benchmarks hand a store, shared by `benches/stores.rs` (wall clock)
//! and `examples/store_cost.rs` (instruction counts), so that both measure the same rows.

use chrono::{SubsecRound, Utc};
use tracing_etl::{record::ErrorDetails, ExecutionRecord, RunStatus};

/// Step runs per batch: the writer's default batch is 4,096 records, a start and an end record
/// per entity.
pub const ENTITIES: usize = 2048;

/// A start and an end record of one step run.
pub struct StepRun {
    /// The start record.
    pub start: ExecutionRecord,
    /// The end record.
    pub end: ExecutionRecord,
}

/// [`ENTITIES`] step runs of one pipeline run, with fresh ids, as the layer records them: one
/// in 1,000 failed.
pub fn step_runs() -> Vec<StepRun> {
    let run_id = uuid::Uuid::now_v7().hyphenated().to_string();
    let process_run_id = uuid::Uuid::now_v7().hyphenated().to_string();
    let recorder_id = uuid::Uuid::now_v7().hyphenated().to_string();
    (0..ENTITIES)
        .map(|i| {
            let start = ExecutionRecord::step_start(
                &run_id,
                uuid::Uuid::now_v7().hyphenated().to_string(),
                "load",
                Utc::now().trunc_subsecs(6),
            )
            .with_process_run_id(&process_run_id)
            .with_recorder_id(&recorder_id);
            let failed = i % 1000 == 0;
            let status = if failed {
                RunStatus::Failed
            } else {
                RunStatus::Success
            };
            let mut end = start.clone().ended(status, 3);
            if failed {
                end = end.with_error(ErrorDetails::new("bad row").with_full("bad row"));
            }
            StepRun { start, end }
        })
        .collect()
}

/// The batch the writer hands a store for `runs`: both records of each, or for a store that
/// keeps one row per entity only the end record, which supersedes the start record.
pub fn handed(one_row: bool, runs: Vec<StepRun>) -> Vec<ExecutionRecord> {
    let mut records = Vec::with_capacity(2 * runs.len());
    for run in runs {
        if !one_row {
            records.push(run.start);
        }
        records.push(run.end);
    }
    records
}
