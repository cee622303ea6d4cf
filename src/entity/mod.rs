//! The state of one open entity (pipeline, process or step) and the records built from it:
//! what the layer fills on the span's thread, the writer turns into records and the
//! OpenTelemetry export reads. It depends on none of them.
//!
//! The hot path only fills an [`Entity`] (one the writer gave back for reuse, see
//! [`EntityPool`], or a new allocation) and queues an `Arc` of it; the records, with their
//! owned strings, are built on the writer thread.

mod clock;
mod id;
mod pool;
#[cfg(feature = "otel")]
mod span;

#[cfg(feature = "otel")]
pub(crate) use self::clock::system_time;
pub(crate) use self::clock::{now_micros, now_on_both_clocks};
pub(crate) use self::id::{new_id, uuid_text, RunId};
pub(crate) use self::pool::EntityPool;
#[cfg(feature = "otel")]
pub(crate) use self::span::EntitySpan;

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::record::{
    EntityKind, ErrorDetails, ExecutionRecord, Outcome, Phase, RootCause, RunContext, RunStatus,
    Volume,
};

/// What an ERROR event says went wrong: the error of an entity, and the root cause of the
/// entities around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrorInfo {
    pub(crate) error: String,
    pub(crate) error_type: Option<String>,
    pub(crate) error_message: String,
}

/// The run a pipeline starts and its descendants share.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) run_id: RunId,
    pub(crate) attempt: u32,
    /// What the entity that starts the run may still record (`Span::record`) until another
    /// entity inherits the run.
    late: Mutex<LateRunFields>,
    /// Whether an entity has inherited the run: its fields are final then.
    inherited: AtomicBool,
    /// Whether the correlation id was recorded after the run's first entity opened.
    correlation_id_recorded: AtomicBool,
}

/// The run fields that are not part of a record's key.
#[derive(Debug, Clone)]
pub(crate) struct LateRunFields {
    pub(crate) correlation_id: Option<String>,
    pub(crate) last_attempt: bool,
}

impl Run {
    pub(crate) fn new(
        run_id: RunId,
        correlation_id: Option<String>,
        attempt: u32,
        last_attempt: bool,
    ) -> Self {
        Run {
            run_id,
            attempt,
            late: Mutex::new(LateRunFields {
                correlation_id,
                last_attempt,
            }),
            inherited: AtomicBool::new(false),
            correlation_id_recorded: AtomicBool::new(false),
        }
    }

    fn late(&self) -> MutexGuard<'_, LateRunFields> {
        // Every update is a single assignment: a poisoned lock holds consistent fields.
        self.late.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The run's correlation id.
    #[cfg(feature = "otel")]
    pub(crate) fn correlation_id(&self) -> Option<String> {
        self.late().correlation_id.clone()
    }

    /// The run, for an entity that inherits it: from now on its fields are final.
    pub(crate) fn inherit(self: &Arc<Self>) -> Arc<Self> {
        if !self.inherited.load(Ordering::Relaxed) {
            self.inherited.store(true, Ordering::Release);
        }
        self.clone()
    }

    /// Changes the fields recorded after the run's first entity opened, unless an entity has
    /// inherited the run already (then its records carry the fields as they were): returns
    /// whether it did.
    pub(crate) fn record_late(&self, update: impl FnOnce(&mut LateRunFields)) -> bool {
        let mut late = self.late();
        if self.inherited.load(Ordering::Acquire) {
            return false;
        }
        let before = late.correlation_id.clone();
        update(&mut late);
        if late.correlation_id != before {
            self.correlation_id_recorded.store(true, Ordering::Relaxed);
        }
        true
    }

    /// Whether the correlation id was recorded after the run's first entity opened (its
    /// OpenTelemetry span then gets it again at the end).
    #[cfg(feature = "otel")]
    pub(crate) fn correlation_id_recorded(&self) -> bool {
        self.correlation_id_recorded.load(Ordering::Relaxed)
    }
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
    /// Whether the entity was cancelled: its future was dropped before it completed (its
    /// `error` then says so, and is its own: it does not travel up).
    pub(crate) cancelled: bool,
    /// The first step cancelled inside the entity while it had not failed: its root cause if
    /// it fails later with no failed step inside it.
    pub(crate) cancelled_step: Option<FailedStep>,
    /// The entity's name, when one was recorded after its span opened.
    pub(crate) renamed: Option<Cow<'static, str>>,
    /// OpenTelemetry ids of the exported span, as lower-case hex.
    /// Kept as numbers: they are formatted on the writer thread, when a record is built.
    pub(crate) trace_id: Option<u128>,
    /// See `trace_id`.
    pub(crate) span_id: Option<u64>,
    /// Rows and datasets given so far (empty, without allocating, for entities that give none).
    pub(crate) volume: Volume,
}

/// When and as what an entity opens: read once per entity on the span's thread (and shared by
/// the layers of one subscriber that record the same span, so that they agree).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Opening {
    /// The monotonic instant the span opened.
    pub(crate) start: Instant,
    /// The same moment on the wall clock, in nanoseconds since the Unix epoch (derived from
    /// `start`, see [`now_on_both_clocks`]).
    pub(crate) started_ns: i64,
    /// The entity's id: `process_run_id` / `step_run_id` (unused for pipelines).
    pub(crate) id: Uuid,
}

impl Opening {
    /// An entity opening now, with a new id.
    pub(crate) fn now() -> Self {
        let (start, started_ns) = now_on_both_clocks();
        Opening {
            start,
            started_ns,
            id: new_id(started_ns.div_euclid(1000)),
        }
    }
}

/// One open (or just closed) entity.
#[derive(Debug)]
pub(crate) struct Entity {
    kind: EntityKind,
    name: Cow<'static, str>,
    /// `process_run_id` / `step_run_id`; unused for pipelines, keyed by `(run_id, attempt)`.
    id: Uuid,
    run: Arc<Run>,
    /// The nearest enclosing process of the same run.
    process_run_id: Option<Uuid>,
    /// The nearest enclosing entity: failures travel up this chain.
    parent: Option<Arc<Entity>>,
    /// When the span opened, in nanoseconds since the Unix epoch, derived from `start`. Records
    /// keep it to the microsecond (what every store, PostgreSQL included, keeps exactly; see
    /// [`started_at`](Self::started_at)); the OpenTelemetry span to the nanosecond, so that its
    /// start and its end (`start` plus the monotonic time the span was open) are derived alike.
    started_ns: i64,
    start: Instant,
    state: Mutex<EntityState>,
    /// How long the span was open, in nanoseconds; [`OPEN`] until it closes. An atomic, so
    /// that closing takes no lock.
    elapsed_ns: AtomicU64,
    /// Set by the writer when it takes the end record into the batch it is building, so that a
    /// store keeping one row per entity is not also given the start record of that batch.
    end_in_batch: AtomicBool,
    /// Whether the entity's future tells when it completes, and whether it did: one of
    /// [`UNTRACKED`], [`TRACKED`], [`COMPLETED`].
    completion: AtomicU8,
    /// The entity's OpenTelemetry span, when the layer exports it.
    #[cfg(feature = "otel")]
    otel: EntitySpan,
}

impl Entity {
    pub(crate) fn new(
        kind: EntityKind,
        name: Cow<'static, str>,
        run: Arc<Run>,
        parent: Option<Arc<Entity>>,
        opening: Opening,
    ) -> Self {
        let process_run_id = process_run_id(kind, opening.id, parent.as_deref());
        Entity {
            kind,
            name,
            id: opening.id,
            run,
            process_run_id,
            parent,
            started_ns: opening.started_ns,
            start: opening.start,
            state: Mutex::new(EntityState::default()),
            elapsed_ns: AtomicU64::new(OPEN),
            end_in_batch: AtomicBool::new(false),
            completion: AtomicU8::new(UNTRACKED),
            #[cfg(feature = "otel")]
            otel: EntitySpan::default(),
        }
    }

    /// Makes a released entity (see [`release`](Self::release)) the entity of a new span, in
    /// place: what [`new`](Self::new) makes, without allocating.
    pub(crate) fn reopen(
        &mut self,
        kind: EntityKind,
        name: Cow<'static, str>,
        run: Arc<Run>,
        parent: Option<Arc<Entity>>,
        opening: Opening,
    ) {
        self.process_run_id = process_run_id(kind, opening.id, parent.as_deref());
        self.kind = kind;
        self.name = name;
        self.id = opening.id;
        self.run = run;
        self.parent = parent;
        self.started_ns = opening.started_ns;
        self.start = opening.start;
    }

    /// Lets go of everything the entity refers to (its parent, its run, its failure, its
    /// OpenTelemetry span) and clears what changes while it is open, so that it can be reused
    /// by [`reopen`](Self::reopen). `blank_run` stands in for the run.
    pub(crate) fn release(&mut self, blank_run: &Arc<Run>) {
        self.parent = None;
        self.run = blank_run.clone();
        self.name = Cow::Borrowed("");
        *self.state.get_mut().unwrap_or_else(|p| p.into_inner()) = EntityState::default();
        *self.elapsed_ns.get_mut() = OPEN;
        *self.end_in_batch.get_mut() = false;
        *self.completion.get_mut() = UNTRACKED;
        #[cfg(feature = "otel")]
        {
            self.otel = EntitySpan::default();
        }
    }

    /// Pipeline, process or step.
    pub(crate) fn kind(&self) -> EntityKind {
        self.kind
    }

    /// The entity's name when its span opened (the marker's value, else the span's name).
    #[cfg(feature = "otel")]
    pub(crate) fn name(&self) -> &Cow<'static, str> {
        &self.name
    }

    /// The entity's name now: the one recorded after the span opened, if any.
    #[cfg(feature = "otel")]
    pub(crate) fn current_name(&self) -> Cow<'static, str> {
        self.state()
            .renamed
            .clone()
            .unwrap_or_else(|| self.name.clone())
    }

    /// Whether the entity started its run (a pipeline, or an entity outside any pipeline).
    pub(crate) fn starts_its_run(&self) -> bool {
        self.parent
            .as_ref()
            .is_none_or(|parent| !Arc::ptr_eq(&parent.run, &self.run))
    }

    /// Names the entity `name` from now on, in its records and in the `failed_step` of the
    /// entities its failure reached.
    pub(crate) fn rename(&self, name: Cow<'static, str>) {
        self.state().renamed = Some(name.clone());
        if self.kind != EntityKind::Step {
            return;
        }
        let mut current = self.parent.as_deref();
        while let Some(entity) = current {
            {
                let mut state = entity.state();
                match &mut state.failed_step {
                    Some(failed) if failed.step_run_id == self.id => failed.step = name.clone(),
                    _ => {}
                }
            }
            current = entity.parent.as_deref();
        }
    }

    /// `process_run_id` / `step_run_id`; unused for pipelines.
    #[cfg(feature = "otel")]
    pub(crate) fn id(&self) -> Uuid {
        self.id
    }

    /// The run the entity belongs to.
    pub(crate) fn run(&self) -> &Arc<Run> {
        &self.run
    }

    /// The nearest enclosing process of the same run.
    #[cfg(feature = "otel")]
    pub(crate) fn process_run_id(&self) -> Option<Uuid> {
        self.process_run_id
    }

    /// The nearest enclosing entity.
    #[cfg(feature = "otel")]
    pub(crate) fn parent(&self) -> Option<&Arc<Entity>> {
        self.parent.as_ref()
    }

    /// How long the span was open (once closed), else how long it has been open so far, on the
    /// monotonic clock.
    #[cfg(feature = "otel")]
    pub(crate) fn elapsed(&self) -> std::time::Duration {
        match self.elapsed_ns.load(Ordering::Acquire) {
            OPEN => self.start.elapsed(),
            ns => std::time::Duration::from_nanos(ns),
        }
    }

    /// The entity's OpenTelemetry slot.
    #[cfg(feature = "otel")]
    pub(crate) fn otel(&self) -> &EntitySpan {
        &self.otel
    }

    /// When the span opened, to the microsecond (for records).
    pub(crate) fn started_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.started_ns.div_euclid(1000)).unwrap_or_default()
    }

    /// When the span opened, in nanoseconds since the Unix epoch.
    #[cfg(feature = "otel")]
    pub(crate) fn started_ns(&self) -> i64 {
        self.started_ns
    }

    /// When the span ended (or, while it is open, now), in nanoseconds since the Unix epoch:
    /// its start plus the monotonic time it was open — derived from the same reading of the
    /// monotonic clock as its start, so that a child that opened after its parent and closed
    /// before it lies within it when both started on one thread's clock anchor.
    #[cfg(feature = "otel")]
    pub(crate) fn ended_ns(&self) -> i64 {
        let elapsed = i64::try_from(self.elapsed().as_nanos()).unwrap_or(i64::MAX);
        self.started_ns.saturating_add(elapsed)
    }

    /// Marks the entity's end record as taken into the writer's current batch.
    pub(crate) fn set_end_in_batch(&self) {
        self.end_in_batch.store(true, Ordering::Relaxed);
    }

    /// Whether the entity's end record is in the writer's current batch.
    pub(crate) fn end_in_batch(&self) -> bool {
        self.end_in_batch.load(Ordering::Relaxed)
    }

    /// The mutable state. A panic while it was held cannot leave it inconsistent (every update
    /// is a single assignment), so a poisoned lock is used as is: a layer callback must not
    /// panic.
    pub(crate) fn state(&self) -> MutexGuard<'_, EntityState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the rows and datasets given for the entity.
    pub(crate) fn update_volume(&self, update: impl FnOnce(&mut Volume)) {
        update(&mut self.state().volume);
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
            {
                let mut state = entity.state();
                if entity.kind == EntityKind::Step && failed_step.is_none() {
                    failed_step = Some(FailedStep {
                        step_run_id: entity.id,
                        step: state.renamed.clone().unwrap_or_else(|| entity.name.clone()),
                    });
                }
                if state.error.is_some() {
                    // Failures always travel all the way up, so every ancestor already has one.
                    return;
                }
                state.error = Some(error.clone());
                if entity.kind != EntityKind::Step {
                    // No failed step below: a step cancelled in it before is the cause.
                    if failed_step.is_none() {
                        failed_step = state.cancelled_step.clone();
                    }
                    state.failed_step = failed_step.clone();
                }
            }
            current = entity.parent.as_ref();
        }
    }

    /// Notes that the entity's future tells when it completes (a wrapper polls it).
    pub(crate) fn track_completion(&self) {
        let _ = self.completion.compare_exchange(
            UNTRACKED,
            TRACKED,
            Ordering::Release,
            Ordering::Relaxed,
        );
    }

    /// Notes that the entity's future completed.
    pub(crate) fn mark_completed(&self) {
        self.completion.store(COMPLETED, Ordering::Release);
    }

    /// Whether the entity tracks its completion and its future has not completed.
    pub(crate) fn is_unfinished(&self) -> bool {
        self.completion.load(Ordering::Acquire) == TRACKED
    }

    /// Records that the entity's future was dropped before it completed: its status
    /// `cancelled`, with `error`, and, for a step, the pending root cause of every enclosing
    /// entity that has not failed (see [`fail`](Self::fail)). Nothing for an entity that
    /// failed: its error says more.
    pub(crate) fn cancel(self: &Arc<Self>) {
        let step = {
            let mut state = self.state();
            if state.error.is_some() {
                return;
            }
            state.cancelled = true;
            state.error = Some(Arc::new(cancelled_error(self.kind)));
            (self.kind == EntityKind::Step).then(|| FailedStep {
                step_run_id: self.id,
                step: state.renamed.clone().unwrap_or_else(|| self.name.clone()),
            })
        };
        let Some(step) = step else {
            return;
        };
        let mut current = self.parent.as_ref();
        while let Some(entity) = current {
            {
                let mut state = entity.state();
                if state.error.is_none() && state.cancelled_step.is_none() {
                    state.cancelled_step = Some(step.clone());
                }
            }
            current = entity.parent.as_ref();
        }
    }

    /// The entity's status now: `running` while it is open.
    pub(crate) fn status(&self, state: &EntityState) -> RunStatus {
        if self.duration_ms().is_none() {
            RunStatus::Running
        } else if state.cancelled {
            RunStatus::Cancelled
        } else if state.error.is_some() {
            RunStatus::Failed
        } else {
            RunStatus::Success
        }
    }

    /// Marks the entity closed now.
    pub(crate) fn close(&self) {
        let elapsed = self.start.elapsed().as_nanos();
        let ns = u64::try_from(elapsed).map_or(OPEN - 1, |ns| ns.min(OPEN - 1));
        self.elapsed_ns.store(ns, Ordering::Release);
    }

    /// How long the span was open, in whole milliseconds, once it has closed.
    pub(crate) fn duration_ms(&self) -> Option<u64> {
        Some(self.elapsed_ns.load(Ordering::Acquire))
            .filter(|&ns| ns != OPEN)
            .map(|ns| ns / 1_000_000)
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
        let (phase, outcome, failed) = if end {
            let error = state.error.as_deref();
            let outcome = Outcome {
                status: self.status(&state),
                duration_ms: self.duration_ms(),
                error: error.map_or_else(ErrorDetails::default, |e| ErrorDetails {
                    message: Some(e.error_message.clone()),
                    type_name: e.error_type.clone(),
                    full: Some(e.error.clone()),
                }),
            };
            (Phase::End, outcome, state.failed_step.as_ref())
        } else {
            (Phase::Start, Outcome::running(), None)
        };
        let late = self.run.late().clone();
        ExecutionRecord {
            kind: self.kind,
            phase,
            run: RunContext {
                run_id: self.run.run_id.to_text(),
                correlation_id: late.correlation_id,
                attempt: self.run.attempt,
                last_attempt: late.last_attempt,
            },
            name: state
                .renamed
                .as_ref()
                .unwrap_or(&self.name)
                .clone()
                .into_owned(),
            // A process's own id, a step's process.
            process_run_id: self.process_run_id.map(uuid_text),
            step_run_id: (self.kind == EntityKind::Step).then(|| uuid_text(self.id)),
            started_at: self.started_at(),
            outcome,
            root_cause: failed.map(|f| RootCause {
                step_run_id: uuid_text(f.step_run_id),
                step: f.step.clone().into_owned(),
            }),
            trace_id: state.trace_id.map(|id| format!("{id:032x}")),
            span_id: state.span_id.map(|id| format!("{id:016x}")),
            recorder_id: Some(recorder_id.to_owned()),
            volume: state.volume.clone(),
        }
    }
}

/// The process an entity of `kind` with id `id` under `parent` belongs to.
fn process_run_id(kind: EntityKind, id: Uuid, parent: Option<&Entity>) -> Option<Uuid> {
    match kind {
        EntityKind::Pipeline => None,
        EntityKind::Process => Some(id),
        EntityKind::Step => parent.and_then(|p| p.process_run_id),
    }
}

/// The error of a cancelled entity of `kind`.
fn cancelled_error(kind: EntityKind) -> ErrorInfo {
    let message = format!("the {kind}'s future was dropped before it completed");
    ErrorInfo {
        error: format!("cancelled: {message}"),
        error_type: Some(CANCELLED_ERROR_TYPE.to_owned()),
        error_message: message,
    }
}

/// The `error_type` of a cancelled entity.
pub(crate) const CANCELLED_ERROR_TYPE: &str = "cancelled";

/// `Entity::completion`: the entity's future does not say when it completes.
const UNTRACKED: u8 = 0;
/// `Entity::completion`: the entity's future says when it completes, and has not yet.
const TRACKED: u8 = 1;
/// `Entity::completion`: the entity's future completed.
const COMPLETED: u8 = 2;

/// The value of `Entity::elapsed_ns` while the span is open (584 years).
const OPEN: u64 = u64::MAX;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_times_derived_from_the_monotonic_clock_follow_the_wall_clock() {
        for _ in 0..2_000 {
            let before = clock::now_nanos();
            let (_, derived) = now_on_both_clocks();
            let after = clock::now_nanos();
            // The anchor's two readings are a moment apart: 2 µs of slack.
            assert!(
                before - 2_000 <= derived && derived <= after + 2_000,
                "{before} <= {derived} <= {after}"
            );
        }
        let (first, _) = now_on_both_clocks();
        let (second, _) = now_on_both_clocks();
        assert!(second >= first);
    }

    /// Times derived from one anchor keep the monotonic clock's differences to the nanosecond,
    /// whatever the anchor's sub-microsecond phase: a child that opens after its parent and
    /// closes before it (its end being its start plus its monotonic duration) lies within it.
    #[test]
    fn derived_times_keep_monotonic_differences_exactly() {
        let base = Instant::now();
        for phase in [0, 1, 499, 500, 999, 1_000, 1_001, 123_456_789] {
            let anchor = clock::Anchor {
                at: base,
                wall_ns: 1_764_000_000_000_000_000 + phase,
            };
            for (p, c, ce, pe) in [
                (999, 1_001, 1_500, 1_600),
                (1, 999, 1_000, 1_001),
                (0, 0, 0, 0),
                (250, 1_750, 2_999, 3_000),
            ] {
                let at = |ns: u64| base + std::time::Duration::from_nanos(ns);
                let parent_start = anchor.wall_ns_at(at(p));
                let child_start = anchor.wall_ns_at(at(c));
                let child_end = child_start + (ce - c) as i64;
                let parent_end = parent_start + (pe - p) as i64;
                assert!(parent_start <= child_start);
                assert!(
                    child_end <= parent_end,
                    "phase {phase}: {child_end} > {parent_end}"
                );
                assert_eq!(child_end, anchor.wall_ns_at(at(ce)));
            }
        }
    }

    #[test]
    fn uuid_text_is_the_hyphenated_form() {
        for _ in 0..100 {
            let id = new_id(now_micros());
            assert_eq!(uuid_text(id), id.hyphenated().to_string());
        }
        assert_eq!(uuid_text(Uuid::nil()), Uuid::nil().to_string());
    }

    #[test]
    fn ids_are_version_7_with_the_start_time_and_unique() {
        let us = now_micros();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100_000 {
            let id = new_id(us);
            assert_eq!(id.get_version_num(), 7);
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
            let (secs, nanos) = id.get_timestamp().expect("v7 timestamp").to_unix();
            assert_eq!(
                secs * 1000 + u64::from(nanos) / 1_000_000,
                (us / 1000) as u64
            );
            assert!(seen.insert(id), "ids never repeat");
        }
        let other = std::thread::spawn(move || new_id(us)).join().unwrap();
        assert!(!seen.contains(&other));
    }
}
