//! OpenLineage run events built from execution records: one per record, `START` for a start
//! record and `COMPLETE`, `FAIL` or `ABORT` for an end record.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::facets;
use crate::record::{EntityKind, ExecutionRecord, Phase, RunStatus};

/// The `error_type` of the end records `tracing-etl reap` writes for abandoned entities.
pub(crate) const ABANDONED: &str = "abandoned";

/// The UUID v5 namespace of run ids derived from ours (a v4 UUID made once for this purpose).
const RUN_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f0b_1c3e_5d2a_4e8f_9b71_2c4d_8e6a_0f35);

/// The OpenLineage `runId` of a pipeline run: its run id when that is a UUID and this is the
/// first attempt, else a UUID v5 of the run id and attempt (each attempt is its own run).
pub fn pipeline_run_uuid(run_id: &str, attempt: u32) -> Uuid {
    match Uuid::parse_str(run_id) {
        Ok(uuid) if attempt == 1 => uuid,
        _ => Uuid::new_v5(
            &RUN_ID_NAMESPACE,
            format!("{run_id}\u{0}{attempt}").as_bytes(),
        ),
    }
}

/// The OpenLineage `runId` of a process or step: its own id (a UUID v7 when the layer made
/// it), or a UUID v5 of it when it is no UUID.
fn entity_uuid(id: &str) -> Uuid {
    Uuid::parse_str(id).unwrap_or_else(|_| Uuid::new_v5(&RUN_ID_NAMESPACE, id.as_bytes()))
}

/// The run id an event of `record` carries.
pub(crate) fn run_uuid(record: &ExecutionRecord) -> Uuid {
    match record.kind {
        EntityKind::Pipeline => pipeline_run_uuid(&record.run.run_id, record.run.attempt),
        EntityKind::Process => record
            .process_run_id
            .as_deref()
            .map(entity_uuid)
            .unwrap_or_else(|| pipeline_run_uuid(&record.run.run_id, record.run.attempt)),
        EntityKind::Step => record
            .step_run_id
            .as_deref()
            .map(entity_uuid)
            .unwrap_or_else(|| pipeline_run_uuid(&record.run.run_id, record.run.attempt)),
    }
}

/// The OpenLineage `eventType` of `record`.
pub fn event_type(record: &ExecutionRecord) -> &'static str {
    match (record.phase, record.outcome.status) {
        (Phase::Start, _) => "START",
        (Phase::End, RunStatus::Success) => "COMPLETE",
        (Phase::End, RunStatus::Failed)
            if record.outcome.error.type_name.as_deref() == Some(ABANDONED) =>
        {
            "ABORT"
        }
        (Phase::End, RunStatus::Failed) => "FAIL",
        (Phase::End, RunStatus::Cancelled) => "ABORT",
        (Phase::End, _) => "OTHER",
    }
}

/// A pipeline run: `(run_id, attempt)`.
type RunKey = (String, u32);

/// The names of the pipelines and processes whose records have been seen, so that the events
/// of the entities inside them carry the full job name (`pipeline.process.step`) and their
/// parent: a record names only its own entity.
#[derive(Debug, Default)]
pub(crate) struct Names {
    pipelines: HashMap<RunKey, String>,
    /// Process run id → its name and its run.
    processes: HashMap<String, (String, RunKey)>,
}

/// What to forget once the events of a batch are sent: the runs whose pipeline ended, and the
/// processes outside any pipeline that ended.
#[derive(Debug, Default)]
pub(crate) struct Forget {
    runs: Vec<RunKey>,
    processes: Vec<String>,
}

impl Names {
    /// Notes the names `record` gives, and what can be forgotten after it.
    pub(crate) fn observe(&mut self, record: &ExecutionRecord, forget: &mut Forget) {
        let run = (record.run.run_id.clone(), record.run.attempt);
        match record.kind {
            EntityKind::Pipeline => {
                if record.phase == Phase::End {
                    forget.runs.push(run.clone());
                }
                self.pipelines.insert(run, record.name.clone());
            }
            EntityKind::Process => {
                let Some(id) = record.process_run_id.clone() else {
                    return;
                };
                if record.phase == Phase::End && !self.pipelines.contains_key(&run) {
                    forget.processes.push(id.clone());
                }
                self.processes.insert(id, (record.name.clone(), run));
            }
            EntityKind::Step => {}
        }
    }

    /// Forgets what `forget` lists (once the events that needed the names are sent).
    pub(crate) fn forget(&mut self, forget: Forget) {
        for id in &forget.processes {
            self.processes.remove(id);
        }
        if forget.runs.is_empty() {
            return;
        }
        for run in &forget.runs {
            self.pipelines.remove(run);
        }
        self.processes
            .retain(|_, (_, run)| !forget.runs.contains(run));
    }

    fn pipeline(&self, record: &ExecutionRecord) -> Option<&str> {
        self.pipelines
            .get(&(record.run.run_id.clone(), record.run.attempt))
            .map(String::as_str)
    }

    fn process(&self, record: &ExecutionRecord) -> Option<&str> {
        let id = record.process_run_id.as_deref()?;
        self.processes.get(id).map(|(name, _)| name.as_str())
    }
}

/// A job in a `parent` facet: its run id and name.
struct JobRef {
    run_id: Uuid,
    name: String,
}

/// The events' constant parts: the job namespace.
#[derive(Debug, Clone)]
pub(crate) struct EventBuilder {
    namespace: String,
}

impl EventBuilder {
    pub(crate) fn new(namespace: impl Into<String>) -> Self {
        EventBuilder {
            namespace: namespace.into(),
        }
    }

    /// The event of `record`, given the names seen so far (which must include `record`'s own,
    /// see [`Names::observe`]). `now` is the event time of an end record with no duration (an
    /// entity nobody saw end).
    pub(crate) fn event(
        &self,
        record: &ExecutionRecord,
        names: &Names,
        now: DateTime<Utc>,
    ) -> Value {
        let pipeline = names.pipeline(record).map(|name| JobRef {
            run_id: pipeline_run_uuid(&record.run.run_id, record.run.attempt),
            name: name.to_owned(),
        });
        let process = match record.kind {
            EntityKind::Step => names.process(record).map(|name| JobRef {
                run_id: run_uuid_of_process(record),
                name: join(pipeline.as_ref().map(|p| p.name.as_str()), name),
            }),
            _ => None,
        };
        let name = match record.kind {
            EntityKind::Pipeline => record.name.clone(),
            EntityKind::Process => join(pipeline.as_ref().map(|p| p.name.as_str()), &record.name),
            EntityKind::Step => match (&process, &pipeline) {
                (Some(process), _) => join(Some(&process.name), &record.name),
                (None, Some(pipeline)) => join(Some(&pipeline.name), &record.name),
                (None, None) => record.name.clone(),
            },
        };
        let parent = match record.kind {
            EntityKind::Pipeline => None,
            EntityKind::Process => pipeline.as_ref(),
            EntityKind::Step => process.as_ref().or(pipeline.as_ref()),
        };
        let root = pipeline.as_ref().or(parent);

        let mut run_facets = Map::new();
        if let Some(parent) = parent {
            let root = root.unwrap_or(parent);
            run_facets.insert(
                "parent".into(),
                facets::parent(
                    &self.namespace,
                    (&parent.run_id, &parent.name),
                    (&root.run_id, &root.name),
                ),
            );
        }
        run_facets.insert("processing_engine".into(), facets::processing_engine());
        run_facets.insert("tracing_etl".into(), facets::tracing_etl(record));
        let event_type = event_type(record);
        if matches!(event_type, "FAIL" | "ABORT") && !record.outcome.error.is_empty() {
            run_facets.insert(
                "errorMessage".into(),
                facets::error_message(&record.outcome.error),
            );
        }

        let event_time = match (record.phase, record.outcome.duration_ms) {
            (Phase::Start, _) => record.started_at,
            (Phase::End, Some(ms)) => i64::try_from(ms)
                .ok()
                .and_then(chrono::TimeDelta::try_milliseconds)
                .and_then(|d| record.started_at.checked_add_signed(d))
                .unwrap_or(now),
            (Phase::End, None) => now,
        };
        json!({
            "eventType": event_type,
            "eventTime": event_time.to_rfc3339_opts(SecondsFormat::Micros, true),
            "run": { "runId": run_uuid(record).hyphenated().to_string(), "facets": run_facets },
            "job": {
                "namespace": self.namespace,
                "name": name,
                "facets": { "jobType": facets::job_type(record.kind) },
            },
            "inputs": facets::datasets(&self.namespace, record.inputs(), record.rows_in(), false),
            "outputs": facets::datasets(&self.namespace, record.outputs(), record.rows_out(), true),
            "producer": facets::PRODUCER,
            "schemaURL": facets::RUN_EVENT_SCHEMA,
        })
    }
}

/// The run id of the process `record` (a step) is in.
fn run_uuid_of_process(record: &ExecutionRecord) -> Uuid {
    record
        .process_run_id
        .as_deref()
        .map(entity_uuid)
        .unwrap_or_else(|| pipeline_run_uuid(&record.run.run_id, record.run.attempt))
}

/// `outer.name`, or `name` alone.
fn join(outer: Option<&str>, name: &str) -> String {
    match outer {
        Some(outer) => format!("{outer}.{name}"),
        None => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ErrorDetails;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn run_ids_are_ours_when_they_are_uuids_and_derived_otherwise() {
        let ours = "0191f9a8-5c3e-7b21-9d4e-2f6a8b0c1d3e";
        assert_eq!(pipeline_run_uuid(ours, 1).to_string(), ours);
        // Another attempt of the same run is another OpenLineage run.
        assert_ne!(pipeline_run_uuid(ours, 2).to_string(), ours);
        let derived = pipeline_run_uuid("2026-11-28", 1);
        assert_eq!(derived.get_version_num(), 5);
        assert_eq!(derived, pipeline_run_uuid("2026-11-28", 1), "stable");
        assert_ne!(derived, pipeline_run_uuid("2026-11-28", 2));
    }

    #[test]
    fn end_records_map_to_terminal_event_types() {
        let start = ExecutionRecord::pipeline_start("r", "p", at("2026-12-01T10:00:00Z"));
        assert_eq!(event_type(&start), "START");
        let mut end = start.clone();
        end.phase = Phase::End;
        end.outcome.status = RunStatus::Success;
        assert_eq!(event_type(&end), "COMPLETE");
        end.outcome.status = RunStatus::Cancelled;
        assert_eq!(event_type(&end), "ABORT");
        end.outcome.status = RunStatus::Failed;
        end.outcome.error = ErrorDetails::new("boom");
        assert_eq!(event_type(&end), "FAIL");
        end.outcome.error = ErrorDetails::new("gone").with_type(ABANDONED);
        assert_eq!(event_type(&end), "ABORT");
    }

    #[test]
    fn an_end_event_is_at_the_start_plus_the_duration_or_now_without_one() {
        let builder = EventBuilder::new("ns");
        let mut names = Names::default();
        let mut end = ExecutionRecord::pipeline_start("r", "p", at("2026-12-01T10:00:00Z"));
        end.phase = Phase::End;
        end.outcome.status = RunStatus::Failed;
        end.outcome.duration_ms = Some(1500);
        names.observe(&end, &mut Forget::default());
        let now = at("2026-12-02T00:00:00Z");
        let event = builder.event(&end, &names, now);
        assert_eq!(event["eventTime"], "2026-12-01T10:00:01.500000Z");
        assert_eq!(
            event["run"]["facets"].get("errorMessage"),
            None,
            "no error known"
        );
        end.outcome.duration_ms = Some(u64::MAX);
        assert_eq!(
            builder.event(&end, &names, now)["eventTime"],
            "2026-12-02T00:00:00.000000Z"
        );
        end.outcome.duration_ms = None;
        assert_eq!(
            builder.event(&end, &names, now)["eventTime"],
            "2026-12-02T00:00:00.000000Z"
        );
    }

    #[test]
    fn names_are_forgotten_once_the_pipeline_ends() {
        let mut names = Names::default();
        let pipeline = ExecutionRecord::pipeline_start("r", "p", at("2026-12-01T10:00:00Z"));
        let mut forget = Forget::default();
        names.observe(&pipeline, &mut forget);
        let mut end = pipeline.clone();
        end.phase = Phase::End;
        names.observe(&end, &mut forget);
        assert_eq!(names.pipeline(&pipeline), Some("p"));
        names.forget(forget);
        assert_eq!(names.pipeline(&pipeline), None);
    }
}
