//! The state of one open entity (pipeline, process or step) and the records built from it.
//!
//! The hot path only fills an [`Entity`] (one allocation) and queues an `Arc` of it; the
//! records, with their owned strings, are built on the writer thread.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use chrono::{DateTime, SubsecRound, Utc};
use uuid::Uuid;

use super::fields::ErrorInfo;
use crate::record::{
    EntityKind, EventName, ExecutionRecord, PipelineRunRecord, ProcessRunRecord, RunStatus,
    StepRunRecord,
};

/// A run id: given by the user, or generated (formatted only when a record is built).
#[derive(Debug, Clone)]
pub(crate) enum RunId {
    Given(String),
    Generated(Uuid),
}

impl RunId {
    pub(crate) fn to_text(&self) -> String {
        match self {
            RunId::Given(s) => s.clone(),
            RunId::Generated(u) => u.hyphenated().to_string(),
        }
    }
}

/// The run a pipeline starts and its descendants share.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) run_id: RunId,
    pub(crate) correlation_id: Option<String>,
    pub(crate) attempt: u32,
    pub(crate) last_attempt: bool,
}

/// The step that failed first inside an entity.
#[derive(Debug, Clone)]
pub(crate) struct FailedStep {
    pub(crate) step_run_id: Uuid,
    pub(crate) step: Cow<'static, str>,
}

/// What changes while an entity is open.
#[derive(Debug, Default)]
pub(crate) struct EntityState {
    /// The first error inside the entity (its own, or the root cause from a descendant).
    pub(crate) error: Option<Arc<ErrorInfo>>,
    /// The first failed step inside the entity, when the failure came from a step.
    pub(crate) failed_step: Option<FailedStep>,
    /// Set when the span closes.
    pub(crate) duration_ms: Option<u64>,
    /// OpenTelemetry ids of the exported span, as lower-case hex.
    pub(crate) trace_id: Option<String>,
    /// See `trace_id`.
    pub(crate) span_id: Option<String>,
}

/// One open (or just closed) entity.
#[derive(Debug)]
pub(crate) struct Entity {
    pub(crate) kind: EntityKind,
    pub(crate) name: Cow<'static, str>,
    /// `process_run_id` / `step_run_id`; unused for pipelines, keyed by `(run_id, attempt)`.
    pub(crate) id: Uuid,
    pub(crate) run: Arc<Run>,
    /// The nearest enclosing process of the same run.
    pub(crate) process_run_id: Option<Uuid>,
    /// The nearest enclosing entity: failures travel up this chain.
    pub(crate) parent: Option<Arc<Entity>>,
    pub(crate) started_at: DateTime<Utc>,
    pub(crate) start: Instant,
    state: Mutex<EntityState>,
    /// The entity's OpenTelemetry span, when the layer exports it.
    #[cfg(feature = "otel")]
    pub(crate) otel: crate::otel::EntitySpan,
}

impl Entity {
    pub(crate) fn new(
        kind: EntityKind,
        name: Cow<'static, str>,
        run: Arc<Run>,
        parent: Option<Arc<Entity>>,
    ) -> Self {
        let id = Uuid::now_v7();
        let process_run_id = match kind {
            EntityKind::Pipeline => None,
            EntityKind::Process => Some(id),
            EntityKind::Step => parent.as_ref().and_then(|p| p.process_run_id),
        };
        Entity {
            kind,
            name,
            id,
            run,
            process_run_id,
            parent,
            // Microseconds: what every store (PostgreSQL included) keeps exactly.
            started_at: Utc::now().trunc_subsecs(6),
            start: Instant::now(),
            state: Mutex::new(EntityState::default()),
            #[cfg(feature = "otel")]
            otel: crate::otel::EntitySpan::default(),
        }
    }

    /// The mutable state. A panic while it was held cannot leave it inconsistent (every update
    /// is a single assignment), so a poisoned lock is used as is: a layer callback must not
    /// panic.
    pub(crate) fn state(&self) -> MutexGuard<'_, EntityState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn is_failed(&self) -> bool {
        self.state().error.is_some()
    }

    /// Records `error` as this entity's failure and as the root cause of every enclosing entity
    /// that has none yet. The failed step is the innermost step on the way up.
    pub(crate) fn fail(self: &Arc<Self>, error: ErrorInfo) {
        let error = Arc::new(error);
        let mut failed_step: Option<FailedStep> = None;
        let mut current = Some(self);
        while let Some(entity) = current {
            if entity.kind == EntityKind::Step && failed_step.is_none() {
                failed_step = Some(FailedStep {
                    step_run_id: entity.id,
                    step: entity.name.clone(),
                });
            }
            {
                let mut state = entity.state();
                if state.error.is_some() {
                    // Failures always travel all the way up, so every ancestor already has one.
                    return;
                }
                state.error = Some(error.clone());
                if entity.kind != EntityKind::Step {
                    state.failed_step = failed_step.clone();
                }
            }
            current = entity.parent.as_ref();
        }
    }

    /// Marks the entity closed now.
    pub(crate) fn close(&self) {
        let elapsed = self.start.elapsed().as_millis();
        self.state().duration_ms = Some(u64::try_from(elapsed).unwrap_or(u64::MAX));
    }

    /// The start record (status `running`).
    pub(crate) fn start_record(&self, recorder_id: &str) -> ExecutionRecord {
        self.record(false, recorder_id)
    }

    /// The end record, from the state at close.
    pub(crate) fn end_record(&self, recorder_id: &str) -> ExecutionRecord {
        self.record(true, recorder_id)
    }

    fn record(&self, end: bool, recorder_id: &str) -> ExecutionRecord {
        let state = self.state();
        let status = match (end, state.error.is_some()) {
            (false, _) => RunStatus::Running,
            (true, true) => RunStatus::Failed,
            (true, false) => RunStatus::Success,
        };
        let duration_ms = if end { state.duration_ms } else { None };
        let error = if end { state.error.as_deref() } else { None };
        let failed = if end {
            state.failed_step.as_ref()
        } else {
            None
        };
        let run_id = self.run.run_id.to_text();
        let correlation_id = self.run.correlation_id.clone();
        let attempt = self.run.attempt;
        let process_run_id = self.process_run_id.map(|u| u.hyphenated().to_string());
        let name = self.name.clone().into_owned();
        let (trace_id, span_id) = (state.trace_id.clone(), state.span_id.clone());
        let error_fields = (
            error.map(|e| e.error.clone()),
            error.and_then(|e| e.error_type.clone()),
            error.map(|e| e.error_message.clone()),
        );
        let failed_fields = (
            failed.map(|f| f.step_run_id.hyphenated().to_string()),
            failed.map(|f| f.step.clone().into_owned()),
        );
        match self.kind {
            EntityKind::Pipeline => ExecutionRecord::Pipeline(PipelineRunRecord {
                event: if end {
                    EventName::PipelineEnd
                } else {
                    EventName::PipelineStart
                },
                run_id,
                correlation_id,
                attempt,
                last_attempt: self.run.last_attempt,
                pipeline: name,
                started_at: self.started_at,
                status,
                duration_ms,
                error: error_fields.0,
                error_type: error_fields.1,
                error_message: error_fields.2,
                failed_step_run_id: failed_fields.0,
                failed_step: failed_fields.1,
                trace_id,
                span_id,
                recorder_id: Some(recorder_id.to_owned()),
            }),
            EntityKind::Process => ExecutionRecord::Process(ProcessRunRecord {
                event: if end {
                    EventName::ProcessEnd
                } else {
                    EventName::ProcessStart
                },
                run_id,
                correlation_id,
                attempt,
                process_run_id: self.id.hyphenated().to_string(),
                process: name,
                started_at: self.started_at,
                status,
                duration_ms,
                error: error_fields.0,
                error_type: error_fields.1,
                error_message: error_fields.2,
                failed_step_run_id: failed_fields.0,
                failed_step: failed_fields.1,
                trace_id,
                span_id,
                recorder_id: Some(recorder_id.to_owned()),
            }),
            EntityKind::Step => ExecutionRecord::Step(StepRunRecord {
                event: if end {
                    EventName::StepEnd
                } else {
                    EventName::StepStart
                },
                run_id,
                correlation_id,
                attempt,
                step_run_id: self.id.hyphenated().to_string(),
                step: name,
                started_at: self.started_at,
                status,
                duration_ms,
                error: error_fields.0,
                process_run_id,
                error_type: error_fields.1,
                error_message: error_fields.2,
                trace_id,
                span_id,
                recorder_id: Some(recorder_id.to_owned()),
            }),
        }
    }
}
