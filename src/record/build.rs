//! Records made by hand: a start record with the defaults of an entity the layer records
//! (attempt 1, the last; status `running`; nothing else known yet), made an end record with
//! `ended`. For programs that write records to a store themselves (an import of older run
//! history, a store's tests), and for the records' tests.

use chrono::{DateTime, Utc};

use super::{EventName, PipelineRunRecord, ProcessRunRecord, RunStatus, StepRunRecord};

impl PipelineRunRecord {
    /// The start record of run `run_id` of `pipeline`, opened at `started_at`: attempt 1 and
    /// the last, status `running`, every optional field empty.
    ///
    /// ```
    /// use chrono::Utc;
    /// use tracing_etl::{EventName, PipelineRunRecord, RunStatus};
    ///
    /// let mut end = PipelineRunRecord::started("2026-11-29", "nightly", Utc::now())
    ///     .ended(RunStatus::Failed, 1_500);
    /// end.error_message = Some("row 7 has a bad amount".into());
    /// assert_eq!(end.event, EventName::PipelineEnd);
    /// assert_eq!((end.attempt, end.last_attempt), (1, true));
    /// ```
    pub fn started(
        run_id: impl Into<String>,
        pipeline: impl Into<String>,
        started_at: DateTime<Utc>,
    ) -> Self {
        PipelineRunRecord {
            event: EventName::PipelineStart,
            run_id: run_id.into(),
            correlation_id: None,
            attempt: 1,
            last_attempt: true,
            pipeline: pipeline.into(),
            started_at,
            status: RunStatus::Running,
            duration_ms: None,
            error: None,
            error_type: None,
            error_message: None,
            failed_step_run_id: None,
            failed_step: None,
            trace_id: None,
            span_id: None,
            recorder_id: None,
        }
    }
}

impl ProcessRunRecord {
    /// The start record of run `process_run_id` of `process`, in run `run_id` (attempt 1),
    /// opened at `started_at`: status `running`, every optional field empty.
    ///
    /// ```
    /// use chrono::Utc;
    /// use tracing_etl::{ProcessRunRecord, RunStatus};
    ///
    /// let start = ProcessRunRecord::started("2026-11-29", "0193…", "extract", Utc::now());
    /// assert_eq!(start.status, RunStatus::Running);
    /// assert_eq!(start.ended(RunStatus::Success, 700).duration_ms, Some(700));
    /// ```
    pub fn started(
        run_id: impl Into<String>,
        process_run_id: impl Into<String>,
        process: impl Into<String>,
        started_at: DateTime<Utc>,
    ) -> Self {
        ProcessRunRecord {
            event: EventName::ProcessStart,
            run_id: run_id.into(),
            correlation_id: None,
            attempt: 1,
            process_run_id: process_run_id.into(),
            process: process.into(),
            started_at,
            status: RunStatus::Running,
            duration_ms: None,
            error: None,
            error_type: None,
            error_message: None,
            failed_step_run_id: None,
            failed_step: None,
            trace_id: None,
            span_id: None,
            recorder_id: None,
        }
    }
}

impl StepRunRecord {
    /// The start record of run `step_run_id` of `step`, in run `run_id` (attempt 1, outside
    /// any process), opened at `started_at`: status `running`, every optional field empty.
    ///
    /// ```
    /// use chrono::Utc;
    /// use tracing_etl::{EventName, RunStatus, StepRunRecord};
    ///
    /// let step = StepRunRecord::started("2026-11-29", "0193…", "load", Utc::now());
    /// assert_eq!(step.event, EventName::StepStart);
    /// assert_eq!(step.ended(RunStatus::Success, 300).event, EventName::StepEnd);
    /// ```
    pub fn started(
        run_id: impl Into<String>,
        step_run_id: impl Into<String>,
        step: impl Into<String>,
        started_at: DateTime<Utc>,
    ) -> Self {
        StepRunRecord {
            event: EventName::StepStart,
            run_id: run_id.into(),
            correlation_id: None,
            attempt: 1,
            step_run_id: step_run_id.into(),
            step: step.into(),
            started_at,
            status: RunStatus::Running,
            duration_ms: None,
            error: None,
            process_run_id: None,
            error_type: None,
            error_message: None,
            trace_id: None,
            span_id: None,
            recorder_id: None,
        }
    }
}

/// `ended` for each record type, with its end event.
macro_rules! ended {
    ($($record:ty => $end:expr),* $(,)?) => {$(
        impl $record {
            /// This record made the end record of its entity: the end event, `status`
            /// ([`RunStatus::Success`] or [`RunStatus::Failed`]) and `duration_ms`; every other
            /// field as it is.
            #[must_use]
            pub fn ended(mut self, status: RunStatus, duration_ms: u64) -> Self {
                self.event = $end;
                self.status = status;
                self.duration_ms = Some(duration_ms);
                self
            }
        }
    )*};
}

ended!(
    PipelineRunRecord => EventName::PipelineEnd,
    ProcessRunRecord => EventName::ProcessEnd,
    StepRunRecord => EventName::StepEnd,
);
