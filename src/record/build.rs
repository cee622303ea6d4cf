//! Records made by hand: a start record with the defaults of an entity the layer records
//! (attempt 1, the last; status `running`; nothing else known yet), completed with the `with_*`
//! methods and made an end record with [`ended`](ExecutionRecord::ended). For programs that
//! write records to a store themselves (an import of older run history, a store's tests), and
//! for the layer itself.

use chrono::{DateTime, Utc};

use super::{
    EntityKind, ErrorDetails, ExecutionRecord, Outcome, Phase, RootCause, RunContext, RunStatus,
    Volume,
};

impl ExecutionRecord {
    /// The start record of an entity of `kind` named `name`, in `run`, opened at `started_at`:
    /// status `running`, no ids, nothing else known.
    pub(crate) fn started(
        kind: EntityKind,
        run: RunContext,
        name: String,
        started_at: DateTime<Utc>,
    ) -> Self {
        ExecutionRecord {
            kind,
            phase: Phase::Start,
            run,
            name,
            process_run_id: None,
            step_run_id: None,
            started_at,
            outcome: Outcome::running(),
            root_cause: None,
            trace_id: None,
            span_id: None,
            recorder_id: None,
            volume: Volume::default(),
        }
    }

    /// The start record of run `run_id` of pipeline `pipeline`, opened at `started_at`: attempt
    /// 1 and the last, status `running`, every optional field empty.
    ///
    /// ```
    /// use chrono::Utc;
    /// use tracing_etl::{ExecutionRecord, RunStatus, record::{ErrorDetails, EventName}};
    ///
    /// let end = ExecutionRecord::pipeline_start("2026-11-29", "nightly", Utc::now())
    ///     .with_error(ErrorDetails::new("row 7 has a bad amount"))
    ///     .ended(RunStatus::Failed, 1_500);
    /// assert_eq!(end.event(), EventName::PipelineEnd);
    /// assert_eq!((end.run.attempt, end.run.last_attempt), (1, true));
    /// ```
    pub fn pipeline_start(
        run_id: impl Into<String>,
        pipeline: impl Into<String>,
        started_at: DateTime<Utc>,
    ) -> Self {
        let run = RunContext::new(run_id);
        Self::started(EntityKind::Pipeline, run, pipeline.into(), started_at)
    }

    /// The start record of run `process_run_id` of process `process`, in run `run_id` (attempt
    /// 1, the last), opened at `started_at`: status `running`, every optional field empty.
    ///
    /// ```
    /// use chrono::Utc;
    /// use tracing_etl::{ExecutionRecord, RunStatus};
    ///
    /// let start = ExecutionRecord::process_start("2026-11-29", "0193…", "extract", Utc::now());
    /// assert_eq!(start.status(), RunStatus::Running);
    /// assert_eq!(start.ended(RunStatus::Success, 700).outcome.duration_ms, Some(700));
    /// ```
    pub fn process_start(
        run_id: impl Into<String>,
        process_run_id: impl Into<String>,
        process: impl Into<String>,
        started_at: DateTime<Utc>,
    ) -> Self {
        let run = RunContext::new(run_id);
        Self::started(EntityKind::Process, run, process.into(), started_at)
            .with_process_run_id(process_run_id)
    }

    /// The start record of run `step_run_id` of step `step`, in run `run_id` (attempt 1, the
    /// last, outside any process), opened at `started_at`: status `running`, every optional
    /// field empty.
    ///
    /// ```
    /// use chrono::Utc;
    /// use tracing_etl::{ExecutionRecord, RunStatus, record::EventName};
    ///
    /// let step = ExecutionRecord::step_start("2026-11-29", "0193…", "load", Utc::now())
    ///     .with_process_run_id("0192…");
    /// assert_eq!(step.event(), EventName::StepStart);
    /// assert_eq!(step.ended(RunStatus::Success, 300).event(), EventName::StepEnd);
    /// ```
    pub fn step_start(
        run_id: impl Into<String>,
        step_run_id: impl Into<String>,
        step: impl Into<String>,
        started_at: DateTime<Utc>,
    ) -> Self {
        let run = RunContext::new(run_id);
        ExecutionRecord {
            step_run_id: Some(step_run_id.into()),
            ..Self::started(EntityKind::Step, run, step.into(), started_at)
        }
    }

    setters! {
        /// This record in `run` (its run id, correlation id and attempt).
        #[must_use]
        pub fn with_run(run: RunContext) => run = run;

        /// This record with `process_run_id`: for a step, the process it ran in.
        #[must_use]
        pub fn with_process_run_id(process_run_id: impl Into<String>)
            => process_run_id = Some(process_run_id.into());

        /// This record with `error` as the error of its outcome.
        #[must_use]
        pub fn with_error(error: ErrorDetails) => outcome.error = error;

        /// This record with `root_cause` as the first failed step inside it (pipelines and
        /// processes).
        #[must_use]
        pub fn with_root_cause(root_cause: RootCause) => root_cause = Some(root_cause);

        /// This record as written by the writer `recorder_id`.
        #[must_use]
        pub fn with_recorder_id(recorder_id: impl Into<String>)
            => recorder_id = Some(recorder_id.into());

        /// This record with `volume` as the rows and datasets it read and wrote.
        ///
        /// ```
        /// use chrono::Utc;
        /// use tracing_etl::{ExecutionRecord, RunStatus, record::Volume};
        ///
        /// let load = ExecutionRecord::step_start("2026-11-29", "0193…", "load", Utc::now())
        ///     .with_volume(
        ///         Volume::new().with_rows_out(1_204).with_output("postgres://dw/sales.orders"),
        ///     )
        ///     .ended(RunStatus::Success, 300);
        /// assert_eq!(load.rows_out(), Some(1_204));
        /// assert_eq!(load.outputs(), ["postgres://dw/sales.orders"]);
        /// assert_eq!(load.rows_in(), None);
        /// ```
        #[must_use]
        pub fn with_volume(volume: Volume) => volume = volume;
    }

    /// This record with the OpenTelemetry ids of its span.
    #[must_use]
    pub fn with_trace(mut self, trace_id: impl Into<String>, span_id: impl Into<String>) -> Self {
        self.trace_id = Some(trace_id.into());
        self.span_id = Some(span_id.into());
        self
    }

    /// This record made the end record of its entity: [`Phase::End`], `status`
    /// ([`RunStatus::Success`] or [`RunStatus::Failed`]) and `duration_ms`; every other field as
    /// it is.
    #[must_use]
    pub fn ended(mut self, status: RunStatus, duration_ms: u64) -> Self {
        self.phase = Phase::End;
        self.outcome.status = status;
        self.outcome.duration_ms = Some(duration_ms);
        self
    }
}
