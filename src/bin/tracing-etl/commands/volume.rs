//! Volume checks: a pipeline run's rows out (`rows_out` of its pipeline record) beside the
//! median rows out of the runs of the same pipeline before it.
//!
//! The baseline of a run is the median `rows_out` of the successful runs among the
//! `--volume-window` runs (attempts) of its pipeline that started before it ([`DEFAULT_WINDOW`]
//! by default); runs that give no rows out do not count. With an even number of counts the
//! median is the mean of the middle two, rounded down. A run has no baseline when none of those
//! runs gives rows out.

use tracing_etl::{
    store::{RecordReader, RunFilter, RunPosition},
    ExecutionRecord, RunStatus,
};

use crate::error::CliError;

/// How many earlier runs the baseline looks at, unless `--volume-window` says otherwise.
pub(crate) const DEFAULT_WINDOW: u32 = 20;

/// The median rows out of the runs before a run, and how many runs it is the median of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Baseline {
    pub(crate) median: u64,
    pub(crate) runs: usize,
}

impl Baseline {
    /// How far `rows` lies below the median, in percent of it (0 when it is not below).
    pub(crate) fn drop_pct(&self, rows: u64) -> f64 {
        if self.median == 0 || rows >= self.median {
            return 0.0;
        }
        (self.median - rows) as f64 * 100.0 / self.median as f64
    }

    /// `drop_pct` rounded to one decimal, for printing and JSON.
    pub(crate) fn drop_pct_rounded(&self, rows: u64) -> f64 {
        (self.drop_pct(rows) * 10.0).round() / 10.0
    }
}

/// The baseline of pipeline run `run`: from the `window` runs of its pipeline that started
/// before it.
pub(crate) fn baseline(
    store: &mut dyn RecordReader,
    run: &ExecutionRecord,
    window: u32,
) -> Result<Option<Baseline>, CliError> {
    let filter = RunFilter::default()
        .name(run.name.clone())
        .newest_first()
        .before(RunPosition::of(run))
        .limit(window as usize);
    let mut counts: Vec<u64> = store
        .read_pipelines(&filter)?
        .iter()
        .filter(|r| r.outcome.status == RunStatus::Success)
        .filter_map(ExecutionRecord::rows_out)
        .collect();
    Ok(median(&mut counts).map(|median| Baseline {
        median,
        runs: counts.len(),
    }))
}

/// The median of `values` (sorted in place): the mean of the middle two, rounded down, for an
/// even number of them. `None` for none.
pub(crate) fn median(values: &mut [u64]) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        let (a, b) = (values[mid - 1], values[mid]);
        a / 2 + b / 2 + (a % 2 + b % 2) / 2
    })
}

/// `--volume-drop PCT`: a percentage above 0 and at most 100 (`50`, `12.5`, `50%`).
pub(crate) fn parse_pct(text: &str) -> Result<f64, String> {
    let number = text.trim().strip_suffix('%').unwrap_or(text.trim());
    match number.trim().parse::<f64>() {
        Ok(pct) if pct > 0.0 && pct <= 100.0 => Ok(pct),
        Ok(_) => Err(format!(
            "{text:?} is not a percentage above 0 and at most 100"
        )),
        Err(_) => Err(format!(
            "{text:?} is not a number (a percentage such as 50 or 12.5)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [7]), Some(7));
        assert_eq!(median(&mut [9, 1, 5]), Some(5));
        assert_eq!(median(&mut [4, 1, 3, 10]), Some(3));
        assert_eq!(median(&mut [u64::MAX, u64::MAX]), Some(u64::MAX));
        assert_eq!(median(&mut [1, 2]), Some(1));
    }

    #[test]
    fn drops_are_percent_of_the_median() {
        let b = Baseline {
            median: 200,
            runs: 3,
        };
        assert_eq!(b.drop_pct(200), 0.0);
        assert_eq!(b.drop_pct(300), 0.0);
        assert_eq!(b.drop_pct(50), 75.0);
        assert_eq!(b.drop_pct(0), 100.0);
        assert_eq!(Baseline { median: 0, runs: 1 }.drop_pct(0), 0.0);
        assert_eq!(Baseline { median: 3, runs: 1 }.drop_pct_rounded(2), 33.3);
    }

    #[test]
    fn percentages_above_zero_up_to_a_hundred() {
        assert_eq!(parse_pct("50"), Ok(50.0));
        assert_eq!(parse_pct("12.5%"), Ok(12.5));
        assert_eq!(parse_pct("100"), Ok(100.0));
        for bad in ["0", "-5", "101", "abc", "", "NaN", "inf"] {
            assert!(parse_pct(bad).is_err(), "{bad}");
        }
    }
}
