//! `show --json`: one JSON object, written as the store hands the steps over — the pipeline's
//! columns (none for a run without a pipeline record: then `run_id` alone), `processes` (each
//! process's columns) and `steps` (every step's columns, in start order, each with its
//! `process_run_id`).

use serde_json::{Map, Value};
use tracing_etl::{
    record::EntityKind,
    store::{RecordReader, RunFilter},
    ExecutionRecord,
};

use crate::error::CliError;
use crate::escape::compact_json;
use crate::output::{record_json, Ui};

pub(super) fn print(
    store: &mut dyn RecordReader,
    filter: &RunFilter,
    run_id: &str,
    pipeline: Option<&ExecutionRecord>,
    processes: &[ExecutionRecord],
    ui: &mut Ui,
) -> Result<(), CliError> {
    let mut head = match pipeline {
        Some(p) => record_json(ui, p, false),
        None => {
            let mut object = Map::new();
            object.insert("run_id".into(), Value::String(run_id.to_owned()));
            object
        }
    };
    let processes = processes
        .iter()
        .map(|p| record_json(ui, p, false).into())
        .collect();
    head.insert("processes".into(), Value::Array(processes));
    // The object without its closing brace, then the steps one by one.
    let head = compact_json(&Value::Object(head));
    let open = head.strip_suffix('}').unwrap_or(&head);
    ui.json_line(&format!("{open},\"steps\":["));
    let mut first = true;
    let mut failure = None;
    store.for_each_record(EntityKind::Step, filter, &mut |step| {
        let object = compact_json(&Value::Object(record_json(ui, &step, false)));
        let comma = if first { "" } else { "," };
        first = false;
        ui.json_line(&format!("{comma}{object}"));
        ui.keep_writing(&mut failure)
    })?;
    if let Some(e) = failure {
        return Err(CliError::new(format!("cannot write output: {e}")));
    }
    ui.json_line("]}");
    Ok(())
}
