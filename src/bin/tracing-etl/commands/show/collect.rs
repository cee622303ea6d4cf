//! The steps of a run as they stream from the store: kept whole while the run is small enough
//! to draw as a tree, else summed up (counts by status, the first failed steps, the slowest,
//! and for the web page's timeline a sample in start order) in memory that does not grow with
//! the run. `show` and the web run page (and `report`) read a run through this one collection.

use std::collections::HashMap;

use tracing_etl::record::EntityKind;
use tracing_etl::store::{RecordOutline, RecordReader, RunFilter, Summarize};
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
///
/// A [`Summarize`]: the store hands over every step's outline, and the records of the steps
/// kept (a step kept while its outline came may be pushed out later: its record, when it
/// comes, is dropped). [`Steps::finish`] puts the kept records in their lists.
#[derive(Debug, Default)]
pub(crate) struct Steps {
    /// Every step (error texts cut) while there are at most [`TREE_STEPS`]; emptied beyond.
    pub(crate) all: Vec<ExecutionRecord>,
    /// Whether the run has more steps than a tree shows.
    pub(crate) too_many: bool,
    /// Counts of every step.
    pub(crate) counts: Counts,
    /// The first [`FAILED_SHOWN`] failed steps to start.
    pub(crate) failed: Vec<ExecutionRecord>,
    /// The [`SLOWEST_SHOWN`] slowest steps, slowest first.
    pub(crate) slowest: Vec<ExecutionRecord>,
    /// The root cause, whole (its error texts uncut).
    pub(crate) root_cause: Option<ExecutionRecord>,
    /// Every k-th step, for a timeline of a run too big to draw whole.
    #[cfg(feature = "web")]
    pub(crate) sample: Sample,
    /// Counts per `process_run_id`.
    by_process: HashMap<String, Counts>,
    /// Counts of the steps outside a process.
    outside_processes: Counts,
    root_cause_id: Option<String>,
    kept: Kept,
}

/// The steps kept while outlines come, by their number in start order, and the records of
/// those still kept when their records come.
#[derive(Debug, Default)]
struct Kept {
    /// Outlines taken so far (numbers for [`Steps::add`]).
    seen: u64,
    all: Vec<u64>,
    failed: Vec<u64>,
    /// `(duration_ms, number)`, slowest first.
    slowest: Vec<(u64, u64)>,
    root_cause: Option<u64>,
    records: HashMap<u64, ExecutionRecord>,
}

impl Kept {
    /// Whether step `n` is in a list (the lists in number order are searched as such).
    fn has(&self, n: u64, sample: &[u64]) -> bool {
        self.root_cause == Some(n)
            || self.all.binary_search(&n).is_ok()
            || self.failed.binary_search(&n).is_ok()
            || sample.binary_search(&n).is_ok()
            || self.slowest.iter().any(|(_, s)| *s == n)
    }
}

impl Steps {
    /// Ready to keep the step `root_cause_id` whole.
    pub(crate) fn new(root_cause_id: Option<&str>) -> Self {
        Steps {
            root_cause_id: root_cause_id.map(str::to_owned),
            ..Steps::default()
        }
    }

    /// The steps of `filter`, summed up by `store`, the step `root_cause_id` kept whole.
    pub(crate) fn read(
        store: &mut dyn RecordReader,
        filter: &RunFilter,
        root_cause_id: Option<&str>,
    ) -> Result<Self, StoreError> {
        let mut steps = Steps::new(root_cause_id);
        store.summarize_records(EntityKind::Step, filter, &mut steps)?;
        steps.finish();
        Ok(steps)
    }

    /// Takes one step, in start order (then [`finish`](Self::finish)).
    pub(crate) fn add(&mut self, step: ExecutionRecord) {
        let n = self.kept.seen;
        if self.outline(n, RecordOutline::of(&step)) {
            self.record(n, step);
        }
    }

    /// Counts of the steps of process `id` (`None`: outside any process).
    pub(crate) fn process_counts(&self, id: Option<&str>) -> Counts {
        match id {
            Some(id) => self.by_process.get(id).copied().unwrap_or_default(),
            None => self.outside_processes,
        }
    }

    /// Puts the records kept in their lists (error texts cut, but the root cause's).
    pub(crate) fn finish(&mut self) {
        let mut kept = std::mem::take(&mut self.kept);
        let mut take = |n: &u64| kept.records.get(n).cloned().map(cut_errors);
        if !self.too_many {
            self.all = kept.all.iter().filter_map(&mut take).collect();
        }
        self.failed = kept.failed.iter().filter_map(&mut take).collect();
        self.slowest = kept.slowest.iter().filter_map(|(_, n)| take(n)).collect();
        #[cfg(feature = "web")]
        {
            self.sample.steps = self
                .sample
                .numbers
                .iter()
                .filter_map(|n| kept.records.get(n))
                .map(|step| {
                    let mut kept = step.clone();
                    kept.outcome.error = tracing_etl::record::ErrorDetails::default();
                    kept
                })
                .collect();
        }
        self.root_cause = kept.root_cause.and_then(|n| kept.records.remove(&n));
    }

    /// Drops the record of `n` unless a list still has it.
    fn release(&mut self, n: u64) {
        #[cfg(feature = "web")]
        let sample: &[u64] = &self.sample.numbers;
        #[cfg(not(feature = "web"))]
        let sample: &[u64] = &[];
        if !self.kept.has(n, sample) {
            self.kept.records.remove(&n);
        }
    }

    /// Keeps step `n` among the slowest if it is; the step pushed out, if any.
    fn keep_if_slow(&mut self, n: u64, duration_ms: Option<u64>) -> (bool, Option<u64>) {
        let Some(ms) = duration_ms else {
            return (false, None);
        };
        let slowest = &mut self.kept.slowest;
        let place = slowest.iter().take_while(|(d, _)| *d >= ms).count();
        if place >= SLOWEST_SHOWN {
            return (false, None);
        }
        slowest.insert(place, (ms, n));
        let out = (slowest.len() > SLOWEST_SHOWN)
            .then(|| slowest.pop().map(|(_, n)| n))
            .flatten();
        (true, out)
    }
}

impl Summarize for Steps {
    fn outline(&mut self, n: u64, step: RecordOutline<'_>) -> bool {
        self.kept.seen = n + 1;
        self.counts.add(step.status);
        match step.process_run_id {
            Some(id) => match self.by_process.get_mut(id) {
                Some(counts) => counts.add(step.status),
                None => {
                    let mut counts = Counts::default();
                    counts.add(step.status);
                    self.by_process.insert(id.to_owned(), counts);
                }
            },
            None => self.outside_processes.add(step.status),
        }
        let mut keep = false;
        if self.root_cause_id.is_some() && self.root_cause_id.as_deref() == step.id {
            self.kept.root_cause = Some(n);
            keep = true;
        }
        if step.status == RunStatus::Failed && self.kept.failed.len() < FAILED_SHOWN {
            self.kept.failed.push(n);
            keep = true;
        }
        let (slow, pushed_out) = self.keep_if_slow(n, step.duration_ms);
        keep |= slow;
        #[cfg(feature = "web")]
        let (sampled, dropped) = self.sample.add(n);
        #[cfg(not(feature = "web"))]
        let (sampled, dropped) = (false, Vec::new());
        keep |= sampled;
        if !self.too_many {
            if self.kept.all.len() < TREE_STEPS {
                self.kept.all.push(n);
                keep = true;
            } else {
                self.too_many = true;
                let all = std::mem::take(&mut self.kept.all);
                all.into_iter().for_each(|n| self.release(n));
            }
        }
        pushed_out
            .into_iter()
            .chain(dropped)
            .for_each(|n| self.release(n));
        keep
    }

    fn record(&mut self, n: u64, step: ExecutionRecord) {
        #[cfg(feature = "web")]
        let sample: &[u64] = &self.sample.numbers;
        #[cfg(not(feature = "web"))]
        let sample: &[u64] = &[];
        if self.kept.has(n, sample) {
            self.kept.records.insert(n, step);
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
    /// The sampled steps, in start order (once [`Steps::finish`]ed).
    pub(crate) steps: Vec<ExecutionRecord>,
    /// One step in this many is kept.
    pub(crate) stride: u64,
    /// The numbers of the sampled steps, in start order.
    numbers: Vec<u64>,
}

#[cfg(feature = "web")]
impl Default for Sample {
    fn default() -> Self {
        Sample {
            steps: Vec::new(),
            stride: 1,
            numbers: Vec::new(),
        }
    }
}

#[cfg(feature = "web")]
impl Sample {
    /// Takes step `index`: whether it is sampled, and the steps that left the sample.
    fn add(&mut self, index: u64) -> (bool, Vec<u64>) {
        if !index.is_multiple_of(self.stride) {
            return (false, Vec::new());
        }
        let mut dropped = Vec::new();
        if self.numbers.len() == SAMPLED_STEPS {
            // Keep the steps at even multiples of the stride: every other one.
            let mut i = 0;
            self.numbers.retain(|&n| {
                i += 1;
                let keep = i % 2 == 1;
                if !keep {
                    dropped.push(n);
                }
                keep
            });
            self.stride *= 2;
            if !index.is_multiple_of(self.stride) {
                return (false, dropped);
            }
        }
        self.numbers.push(index);
        (true, dropped)
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
