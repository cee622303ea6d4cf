//! One pipeline's trends over its last runs: success rate, per-step median and p95 duration,
//! and the steps that got slower (the median of the newer half of the runs against the older
//! half's).

use std::collections::BTreeMap;

use tracing_etl::{ExecutionRecord, RunStatus};

/// A step counts as slower when the newer half's median is this much above the older half's…
const SLOWER_RATIO: f64 = 1.2;
/// … and at least this many milliseconds more (jitter on fast steps is not a trend).
const SLOWER_MIN_MS: u64 = 10;

/// How one step of the pipeline did over the runs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StepTrend {
    pub(crate) name: String,
    /// Finished executions with a duration.
    pub(crate) count: usize,
    pub(crate) failed: usize,
    pub(crate) median_ms: u64,
    pub(crate) p95_ms: u64,
    /// Medians over the older and the newer half of the runs, when the step ran in both.
    pub(crate) older_median_ms: Option<u64>,
    pub(crate) newer_median_ms: Option<u64>,
}

impl StepTrend {
    /// The newer median over the older one, when the step got slower.
    pub(crate) fn slowdown(&self) -> Option<f64> {
        let (older, newer) = (self.older_median_ms?, self.newer_median_ms?);
        let ratio = newer as f64 / (older.max(1)) as f64;
        (ratio >= SLOWER_RATIO && newer >= older + SLOWER_MIN_MS).then_some(ratio)
    }
}

/// The `p`-th percentile (0 < p <= 1) of sorted values, by nearest rank.
pub(crate) fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn median(values: &mut [u64]) -> Option<u64> {
    values.sort_unstable();
    percentile(values, 0.5)
}

/// Finished runs that succeeded, as a share of finished runs; `None` when none finished.
pub(crate) fn success_rate(runs: &[ExecutionRecord]) -> Option<f64> {
    let finished = runs
        .iter()
        .filter(|r| r.outcome.status != RunStatus::Running)
        .count();
    let succeeded = runs
        .iter()
        .filter(|r| r.outcome.status == RunStatus::Success)
        .count();
    (finished > 0).then(|| succeeded as f64 / finished as f64)
}

/// The durations of one step's executions, in milliseconds, and its failures.
#[derive(Default)]
struct Samples {
    all: Vec<u64>,
    older: Vec<u64>,
    newer: Vec<u64>,
    failed: usize,
}

/// Per-step trends. `steps_by_run[i]` are the steps of the `i`-th run, newest first; the newer
/// half is the first `len / 2` runs.
pub(crate) fn step_trends(steps_by_run: &[Vec<ExecutionRecord>]) -> Vec<StepTrend> {
    let newer_runs = steps_by_run.len() / 2;
    let mut by_name: BTreeMap<&str, Samples> = BTreeMap::new();
    for (i, steps) in steps_by_run.iter().enumerate() {
        for step in steps {
            let entry = by_name.entry(step.name.as_str()).or_default();
            if step.outcome.status == RunStatus::Failed {
                entry.failed += 1;
            }
            let Some(ms) = step.outcome.duration_ms else {
                continue;
            };
            if step.outcome.status == RunStatus::Running {
                continue;
            }
            entry.all.push(ms);
            if i < newer_runs {
                entry.newer.push(ms);
            } else {
                entry.older.push(ms);
            }
        }
    }
    by_name
        .into_iter()
        .map(|(name, mut s)| {
            s.all.sort_unstable();
            StepTrend {
                name: name.to_owned(),
                count: s.all.len(),
                failed: s.failed,
                median_ms: percentile(&s.all, 0.5).unwrap_or(0),
                p95_ms: percentile(&s.all, 0.95).unwrap_or(0),
                older_median_ms: median(&mut s.older),
                newer_median_ms: median(&mut s.newer),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<u64> = (1..=20).collect();
        assert_eq!(percentile(&v, 0.5), Some(10));
        assert_eq!(percentile(&v, 0.95), Some(19));
        assert_eq!(percentile(&[7], 0.95), Some(7));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn a_step_is_slower_only_by_a_clear_margin() {
        let trend = |older, newer| StepTrend {
            name: "s".into(),
            count: 2,
            failed: 0,
            median_ms: 0,
            p95_ms: 0,
            older_median_ms: Some(older),
            newer_median_ms: Some(newer),
        };
        assert_eq!(trend(100, 150).slowdown(), Some(1.5));
        assert_eq!(trend(100, 110).slowdown(), None, "10% is noise");
        assert_eq!(trend(2, 5).slowdown(), None, "3 ms is jitter");
        assert_eq!(trend(0, 20).slowdown(), Some(20.0));
    }
}
