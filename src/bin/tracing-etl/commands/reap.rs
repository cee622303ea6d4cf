//! `tracing-etl reap`: marks abandoned entities failed, so that a run whose process died stops
//! showing as `running`.
//!
//! For every abandoned entity (see [`crate::liveness`]) reap writes its end record through the
//! store: status `failed`, `error_type = "abandoned"`, an `error_message` saying which recorder
//! went away and when, no duration (nobody saw it end), every other field kept. A reaped
//! pipeline or process names its root cause like any failure: its first failed step by start
//! time once the reap is done — a step that had failed before the process died, else the step
//! that was running when it died (reaped with it) — or none when no step was involved.
//!
//! Built with the `openlineage` feature and with the OpenLineage variables set, reap also sends
//! the OpenLineage `ABORT` event of each entity it marks (see `reap_lineage`).
//!
//! Reap touches only abandoned entities, so a second run finds nothing to do, and it is safe from
//! cron next to live jobs. Should a recorder that was judged dead come back and close its span,
//! its own end record replaces the reaped one.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use tracing_etl::{
    record::{EntityKind, ErrorDetails, Phase, RootCause},
    store::RunFilter,
    ExecutionRecord, RunStatus,
};

use super::json_or_none;
use super::running::{entities_json, entities_table};
use crate::args::ReapArgs;
use crate::error::CliError;
use crate::liveness::{self, Liveness, RunningEntity};
use crate::output::{time, Ui};
use crate::store::Store;

/// The `error_type` of reaped entities.
pub(crate) const ABANDONED: &str = "abandoned";

pub(crate) fn run(store: &mut dyn Store, args: &ReapArgs, ui: &mut Ui) -> Result<u8, CliError> {
    let now = Utc::now();
    let abandoned: Vec<RunningEntity> =
        liveness::running_entities(store, now, args.liveness.grace, args.liveness.older_than)?
            .into_iter()
            .filter(|e| e.liveness == Liveness::Abandoned)
            .collect();

    let ended = end_records(store, &abandoned, now)?;
    let ended: Vec<RunningEntity> = abandoned
        .into_iter()
        .zip(ended)
        .map(|(e, record)| RunningEntity { record, ..e })
        .collect();
    if !args.dry_run && !ended.is_empty() {
        let records: Vec<ExecutionRecord> = ended.iter().map(|e| e.record.clone()).collect();
        // The events first: should they fail, nothing is written and the next reap sends
        // them again.
        #[cfg(feature = "openlineage")]
        let sent = super::reap_lineage::send(store, &records)?;
        store.write_batch(&records)?;
        store.flush()?;
        #[cfg(feature = "openlineage")]
        if let (Some(sent), false) = (sent, ui.json) {
            ui.line(format!("sent {sent} OpenLineage ABORT events"));
        }
    }

    let none = "nothing to reap: no abandoned entities";
    if json_or_none(ui, ended.is_empty(), none, |ui| entities_json(ui, &ended)) {
        return Ok(0);
    }
    let n = ended.len();
    let what = if n == 1 { "entity" } else { "entities" };
    if args.dry_run {
        ui.line(format!(
            "would mark {n} abandoned {what} failed (dry run, nothing written):"
        ));
    } else {
        ui.line(format!("marked {n} abandoned {what} failed:"));
    }
    entities_table(ui, &ended, false);
    Ok(0)
}

/// The end record of each abandoned entity, in the same order.
fn end_records(
    store: &mut dyn Store,
    abandoned: &[RunningEntity],
    now: DateTime<Utc>,
) -> Result<Vec<ExecutionRecord>, CliError> {
    // The steps of every run with a reaped pipeline or process, to name their root cause:
    // those that failed, read in one call (they started after the earliest reaped entity), and
    // those reaped now.
    let runs: HashSet<(&str, u32)> = abandoned
        .iter()
        .filter(|e| e.record.kind != EntityKind::Step)
        .map(|e| (e.record.run.run_id.as_str(), e.record.run.attempt))
        .collect();
    let earliest = abandoned
        .iter()
        .filter(|e| e.record.kind != EntityKind::Step)
        .map(|e| e.record.started_at)
        .min();
    let mut steps_of_run: HashMap<(String, u32), Vec<ExecutionRecord>> = HashMap::new();
    if let Some(earliest) = earliest {
        let filter = RunFilter::default()
            .status(RunStatus::Failed)
            .since(earliest);
        let reaped = abandoned
            .iter()
            .filter(|e| e.record.kind == EntityKind::Step)
            .map(|e| e.record.clone());
        for step in store.read_steps(&filter)?.into_iter().chain(reaped) {
            let run = (step.run.run_id.as_str(), step.run.attempt);
            if runs.contains(&run) {
                let key = (run.0.to_owned(), run.1);
                steps_of_run.entry(key).or_default().push(step);
            }
        }
        for steps in steps_of_run.values_mut() {
            steps.sort_by_key(|s| s.started_at);
        }
    }
    // The first such step of the run, inside `process` when given.
    let failed_step = |record: &ExecutionRecord| {
        let process = match record.kind {
            EntityKind::Process => record.process_run_id.as_deref(),
            _ => None,
        };
        steps_of_run
            .get(&(record.run.run_id.clone(), record.run.attempt))
            .and_then(|steps| {
                steps
                    .iter()
                    .find(|s| process.is_none() || s.process_run_id.as_deref() == process)
            })
            .map(|s| RootCause::new(s.step_run_id.clone().unwrap_or_default(), s.name.clone()))
    };

    Ok(abandoned
        .iter()
        .map(|e| {
            let message = format!(
                "{}; marked failed by tracing-etl reap at {} UTC",
                e.reason,
                time(now)
            );
            let mut r = e.record.clone();
            if r.kind != EntityKind::Step {
                r.root_cause = failed_step(&r);
            }
            r.phase = Phase::End;
            r.outcome.status = RunStatus::Failed;
            // Nobody saw it end.
            r.outcome.duration_ms = None;
            r.outcome.error = ErrorDetails::new(message).with_type(ABANDONED);
            r
        })
        .collect())
}
