//! `tracing-etl running`: pipelines, processes and steps still `running`, each **live** (its
//! recorder beats) or **abandoned** (see [`crate::liveness`]).

use chrono::Utc;
use comfy_table::Color;
use serde_json::Value;
use tracing_etl::store::RecordReader;

use super::json_or_none;
use crate::args::RunningArgs;
use crate::error::CliError;
use crate::liveness::{self, Liveness, RunningEntity};
use crate::output::{elapsed, record_json, time, Ui};

pub(crate) fn run(
    store: &mut dyn RecordReader,
    args: &RunningArgs,
    ui: &mut Ui,
) -> Result<u8, CliError> {
    let now = Utc::now();
    let entities =
        liveness::running_entities(store, now, args.liveness.grace, args.liveness.older_than)?;
    if json_or_none(ui, entities.is_empty(), "nothing is running", |ui| {
        entities_json(ui, &entities)
    }) {
        return Ok(0);
    }
    entities_table(ui, &entities, true);
    let abandoned = entities
        .iter()
        .filter(|e| e.liveness == Liveness::Abandoned)
        .count();
    if abandoned > 0 {
        ui.note(format!(
            "{abandoned} abandoned; `tracing-etl reap` marks them failed"
        ));
    }
    Ok(0)
}

/// The entities as a table; with `age`, how long each has been running.
pub(crate) fn entities_table(ui: &mut Ui, entities: &[RunningEntity], age: bool) {
    let now = Utc::now();
    let mut header = vec!["KIND", "NAME", "RUN ID", "ATTEMPT", "STARTED (UTC)"];
    if age {
        header.push("AGE");
    }
    header.extend(["STATE", "REASON"]);
    let mut table = ui.table(&header);
    for e in entities {
        let started = e.record.started_at;
        let state = match e.liveness {
            Liveness::Live => ui.paint(e.liveness.as_str().into(), Some(Color::Green), false),
            Liveness::Abandoned => ui.paint(e.liveness.as_str().into(), Some(Color::Red), true),
        };
        let mut row = vec![
            e.record.kind.as_str().into(),
            e.record.name.as_str().into(),
            e.record.run.run_id.as_str().into(),
            ui.right(e.record.run.attempt),
            time(started).into(),
        ];
        if age {
            row.push(ui.right(elapsed(started, now)));
        }
        row.extend([state, e.reason.as_str().into()]);
        table.add_row(row);
    }
    ui.print_table(&table);
}

/// The entities as JSON: each record's fields, plus `kind`, `liveness`, `reason`, `recorder`.
pub(crate) fn entities_json(ui: &Ui, entities: &[RunningEntity]) -> Value {
    Value::Array(
        entities
            .iter()
            .map(|e| {
                // The record's columns (`kind` included) and its `trace_url`.
                let mut object = record_json(ui, &e.record, true);
                object.insert("liveness".into(), e.liveness.as_str().into());
                object.insert("reason".into(), e.reason.as_str().into());
                object.insert(
                    "recorder".into(),
                    e.recorder.as_deref().map_or(Value::Null, Value::from),
                );
                Value::Object(object)
            })
            .collect(),
    )
}
