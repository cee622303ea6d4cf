//! The steps of a run as they stream from the store: kept whole while the run is small enough
//! to draw as a tree, else summed up (counts by status, the first failed steps, the slowest,
//! and for the web page's timeline a sample in start order) in memory that does not grow with
//! the run. `show` and the web run page (and `report`) read a run through this one collection.

use std::collections::HashMap;
use std::ops::ControlFlow;

use tracing_etl::record::EntityKind;
use tracing_etl::store::{RecordReader, RunFilter};
use tracing_etl::StoreError;
use tracing_etl::{ExecutionRecord, RunStatus};

/// Runs with at most this many steps are drawn as a tree; bigger ones are summed up (or, with
/// `--all`, listed as they come).
pub(crate) const TREE_STEPS: usize = 1_000;
/// A summary lists at most this many failed steps, the first to start.
pub(crate) const FAILED_SHOWN: usize = 20;
/// A summary lists this many of the slowest steps.
pub(crate) const SLOWEST_SHOWN: usize = 10;
/// Error texts of the steps kept for display are cut to this many bytes (at a character
/// boundary): a terminal line shows far less, and the full text is one `--full` or `--json`
/// away.
const KEPT_ERROR_BYTES: usize = 4 * 1024;

/// The order statuses are counted and printed in.
const ORDER: [RunStatus; 4] = [
    RunStatus::Success,
    RunStatus::Failed,
    RunStatus::Cancelled,
    RunStatus::Running,
];

/// Step counts by status, in [`ORDER`]; `other` counts statuses this build does not know.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counts {
    by_status: [u64; ORDER.len()],
    other: u64,
}

impl Counts {
    fn add(&mut self, status: RunStatus) {
        match ORDER.iter().position(|s| *s == status) {
            Some(i) => self.by_status[i] += 1,
            None => self.other += 1,
        }
    }

    /// How many steps have `status`.
    pub(crate) fn of(&self, status: RunStatus) -> u64 {
        ORDER
            .iter()
            .position(|s| *s == status)
            .map_or(0, |i| self.by_status[i])
    }

    pub(crate) fn total(&self) -> u64 {
        self.by_status.iter().sum::<u64>() + self.other
    }

    /// `999990 success, 10 failed` (statuses with no step left out; `none` for no steps).
    pub(crate) fn text(&self) -> String {
        let mut parts: Vec<String> = ORDER
            .iter()
            .zip(self.by_status)
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        if self.other > 0 {
            parts.push(format!("{} other", self.other));
        }
        if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// What is kept of a run's steps.
#[derive(Debug, Default)]
pub(crate) struct Steps {
    /// Every step (error texts cut) while there are at most [`TREE_STEPS`]; emptied beyond.
    pub(crate) all: Vec<ExecutionRecord>,
    /// Whether the run has more steps than a tree shows.
    pub(crate) too_many: bool,
    /// Counts of every step.
    pub(crate) counts: Counts,
    /// Counts per `process_run_id` (steps outside a process under `None`).
    pub(crate) by_process: HashMap<Option<String>, Counts>,
    /// The first [`FAILED_SHOWN`] failed steps to start.
    pub(crate) failed: Vec<ExecutionRecord>,
    /// The [`SLOWEST_SHOWN`] slowest steps, slowest first.
    pub(crate) slowest: Vec<ExecutionRecord>,
    /// The root cause, whole (its error texts uncut).
    pub(crate) root_cause: Option<ExecutionRecord>,
    root_cause_id: Option<String>,
    /// Every k-th step, for a timeline of a run too big to draw whole.
    #[cfg(feature = "web")]
    pub(crate) sample: Sample,
}

impl Steps {
    /// Ready to keep the step `root_cause_id` whole.
    pub(crate) fn new(root_cause_id: Option<&str>) -> Self {
        Steps {
            root_cause_id: root_cause_id.map(str::to_owned),
            ..Steps::default()
        }
    }

    /// The steps of `filter` as they stream from `store`, the step `root_cause_id` kept whole.
    pub(crate) fn read(
        store: &mut dyn RecordReader,
        filter: &RunFilter,
        root_cause_id: Option<&str>,
    ) -> Result<Self, StoreError> {
        let mut steps = Steps::new(root_cause_id);
        store.for_each_record(EntityKind::Step, filter, &mut |step| {
            steps.add(step);
            ControlFlow::Continue(())
        })?;
        Ok(steps)
    }

    /// Takes one step, in start order.
    pub(crate) fn add(&mut self, step: ExecutionRecord) {
        self.counts.add(step.outcome.status);
        self.by_process
            .entry(step.process_run_id.clone())
            .or_default()
            .add(step.outcome.status);
        if self.root_cause_id.is_some() && self.root_cause_id == step.step_run_id {
            self.root_cause = Some(step.clone());
        }
        let step = cut_errors(step);
        if step.outcome.status == RunStatus::Failed && self.failed.len() < FAILED_SHOWN {
            self.failed.push(step.clone());
        }
        self.keep_if_slow(&step);
        #[cfg(feature = "web")]
        self.sample.add(&step);
        if !self.too_many {
            if self.all.len() < TREE_STEPS {
                self.all.push(step);
            } else {
                self.too_many = true;
                self.all = Vec::new();
            }
        }
    }

    fn keep_if_slow(&mut self, step: &ExecutionRecord) {
        let Some(ms) = step.outcome.duration_ms else {
            return;
        };
        let slower = |s: &ExecutionRecord| s.outcome.duration_ms.unwrap_or(0) >= ms;
        let place = self.slowest.iter().take_while(|s| slower(s)).count();
        if place < SLOWEST_SHOWN {
            self.slowest.insert(place, step.clone());
            self.slowest.truncate(SLOWEST_SHOWN);
        }
    }
}

/// A timeline of a big run draws at most this many sampled steps.
#[cfg(feature = "web")]
pub(crate) const SAMPLED_STEPS: usize = 1_000;

/// Every `stride`-th step in start order (the 1st, the `stride + 1`-th, …), at most
/// [`SAMPLED_STEPS`] of them: when the sample fills, every other step of it goes and the stride
/// doubles, so that it covers the whole run evenly with between half and all of
/// [`SAMPLED_STEPS`] steps, whatever the run's size. The steps are kept without their error
/// texts (a timeline bar shows name, status and duration).
#[cfg(feature = "web")]
#[derive(Debug)]
pub(crate) struct Sample {
    /// The sampled steps, in start order.
    pub(crate) steps: Vec<ExecutionRecord>,
    /// One step in this many is kept.
    pub(crate) stride: u64,
    seen: u64,
}

#[cfg(feature = "web")]
impl Default for Sample {
    fn default() -> Self {
        Sample {
            steps: Vec::new(),
            stride: 1,
            seen: 0,
        }
    }
}

#[cfg(feature = "web")]
impl Sample {
    fn add(&mut self, step: &ExecutionRecord) {
        let index = self.seen;
        self.seen += 1;
        if !index.is_multiple_of(self.stride) {
            return;
        }
        if self.steps.len() == SAMPLED_STEPS {
            // Keep the steps at even multiples of the stride: every other one.
            let mut i = 0;
            self.steps.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            self.stride *= 2;
            if !index.is_multiple_of(self.stride) {
                return;
            }
        }
        let mut kept = step.clone();
        kept.outcome.error = tracing_etl::record::ErrorDetails::default();
        self.steps.push(kept);
    }
}

/// The record with its error texts cut to [`KEPT_ERROR_BYTES`].
pub(crate) fn cut_errors(mut record: ExecutionRecord) -> ExecutionRecord {
    let error = &mut record.outcome.error;
    for text in [&mut error.message, &mut error.type_name, &mut error.full]
        .into_iter()
        .flatten()
    {
        if text.len() > KEPT_ERROR_BYTES {
            let mut end = KEPT_ERROR_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
        }
    }
    record
}
