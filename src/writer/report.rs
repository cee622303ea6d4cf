//! Reporting store errors: each distinct error at once, its repeats folded into one summary.
//!
//! A store that stays down fails every retry with the same error, and a store whose flush keeps
//! failing does the same. Calling the error callback for each would flood its log (or stderr,
//! the default) with identical lines saying nothing new. So the callback gets every *distinct*
//! error as it happens, and identical repeats (same text) are counted: at most once per
//! [`REPEAT_WINDOW`], and when the error changes, the store recovers or the writer stops, the
//! callback gets a [`RepeatedStoreError`] saying how many there were. Nothing is dropped
//! unseen: a new cause is reported at once however often the old one repeated, every repeat
//! is in a count, and [`WriterStats::store_errors`](super::WriterStats::store_errors) counts
//! each failed operation.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Counters, ErrorCallback};
use crate::error::StoreError;

/// The longest time repeats of one error go unreported: they are summed up in one report per
/// window.
pub(super) const REPEAT_WINDOW: Duration = Duration::from_secs(10);

/// What the error callback is given for the repeats of an error it was told about: the error,
/// how many times it happened again, and over how long.
///
/// Its `Display` is the error's, followed by `(repeated N times in the last T s)`. Reach it from
/// the callback's [`StoreError`] with [`RepeatedStoreError::of`].
///
/// ```
/// use tracing_etl::writer::{RepeatedStoreError, WriterConfig};
///
/// let config = WriterConfig::default().with_store_error_callback(|e| {
///     match RepeatedStoreError::of(e) {
///         Some(repeats) => eprintln!("still failing, {} more times: {}", repeats.repeats(), repeats.error()),
///         None => eprintln!("run history store failed: {e}"),
///     }
/// });
/// ```
#[derive(Debug, Clone)]
pub struct RepeatedStoreError {
    error: Arc<StoreError>,
    repeats: u64,
    over: Duration,
}

impl RepeatedStoreError {
    /// The summary of repeats that `error` is, if it is one.
    pub fn of(error: &StoreError) -> Option<&RepeatedStoreError> {
        match error {
            StoreError::Other(inner) => inner.downcast_ref(),
            _ => None,
        }
    }

    /// The error that repeated (its latest occurrence).
    pub fn error(&self) -> &StoreError {
        &self.error
    }

    /// How many more times it happened since it was last reported.
    pub fn repeats(&self) -> u64 {
        self.repeats
    }

    /// Over how long.
    pub fn over(&self) -> Duration {
        self.over
    }
}

impl fmt::Display for RepeatedStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let times = match self.repeats {
            1 => "once".to_owned(),
            n => format!("{n} times"),
        };
        write!(
            f,
            "{} (repeated {times} in the last {:.1} s)",
            self.error,
            self.over.as_secs_f64()
        )
    }
}

impl std::error::Error for RepeatedStoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.error)
    }
}

/// A store call that had not returned when the writer's store deadline
/// ([`WriterConfig::with_store_deadline`](super::WriterConfig::with_store_deadline)) passed: the
/// writer treats the store as down from then on (the records wait in memory, then in the spill
/// file) until the call returns. Reach it from the callback's [`StoreError`] with
/// [`StoreDeadlineExceeded::of`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreDeadlineExceeded {
    operation: String,
    deadline: Duration,
}

impl StoreDeadlineExceeded {
    pub(super) fn new(operation: String, deadline: Duration) -> Self {
        StoreDeadlineExceeded {
            operation,
            deadline,
        }
    }

    /// The deadline passed that `error` reports, if it is one.
    pub fn of(error: &StoreError) -> Option<&StoreDeadlineExceeded> {
        match error {
            StoreError::Other(inner) => inner.downcast_ref(),
            _ => None,
        }
    }

    /// What the call was doing (`"writing 64 records"`, `"the heartbeat"`, `"flushing"`).
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// The deadline it missed.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }
}

impl fmt::Display for StoreDeadlineExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the store has not answered within {:?} ({}); records wait meanwhile",
            self.deadline, self.operation
        )
    }
}

impl std::error::Error for StoreDeadlineExceeded {}

/// Counts and reports store errors (see the module docs).
pub(super) struct Reporter {
    callback: ErrorCallback,
    counters: Arc<Counters>,
    last: Option<Last>,
}

/// The error reported last, and its repeats since.
struct Last {
    text: String,
    error: Arc<StoreError>,
    since: Instant,
    repeats: u64,
}

impl Reporter {
    pub(super) fn new(callback: ErrorCallback, counters: Arc<Counters>) -> Self {
        Reporter {
            callback,
            counters,
            last: None,
        }
    }

    /// A failed store operation: counted, and reported unless it repeats the error reported
    /// last.
    pub(super) fn report(&mut self, error: Arc<StoreError>, now: Instant) {
        self.counters.store_errors.fetch_add(1, Ordering::Relaxed);
        self.tick(now);
        let text = error.to_string();
        if let Some(last) = &mut self.last {
            if last.text == text {
                last.repeats += 1;
                last.error = error;
                return;
            }
        }
        self.settle(now);
        (self.callback)(&error);
        self.last = Some(Last {
            text,
            error,
            since: now,
            repeats: 0,
        });
    }

    /// Reports the repeats counted over a window that has ended; forgets an error that did not
    /// repeat in its window (should it come back, it is reported anew).
    pub(super) fn tick(&mut self, now: Instant) {
        let Some(last) = &mut self.last else {
            return;
        };
        if now < last.since + REPEAT_WINDOW {
            return;
        }
        if last.repeats == 0 {
            self.last = None;
            return;
        }
        let summary = summary(last, now);
        last.repeats = 0;
        last.since = now;
        (self.callback)(&summary);
    }

    /// Reports the repeats counted so far and forgets the error: the store recovered, or the
    /// writer stops, or another error came.
    pub(super) fn settle(&mut self, now: Instant) {
        if let Some(last) = self.last.take() {
            if last.repeats > 0 {
                (self.callback)(&summary(&last, now));
            }
        }
    }

    /// When [`tick`](Self::tick) has a summary to report.
    pub(super) fn due(&self) -> Option<Instant> {
        self.last
            .as_ref()
            .filter(|last| last.repeats > 0)
            .map(|last| last.since + REPEAT_WINDOW)
    }
}

fn summary(last: &Last, now: Instant) -> StoreError {
    StoreError::other(RepeatedStoreError {
        error: last.error.clone(),
        repeats: last.repeats,
        over: now.saturating_duration_since(last.since),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn reporter() -> (Reporter, Arc<Mutex<Vec<String>>>, Arc<Counters>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let counters = Arc::new(Counters::default());
        let callback: ErrorCallback = {
            let seen = seen.clone();
            Arc::new(move |e: &StoreError| seen.lock().unwrap().push(e.to_string()))
        };
        (Reporter::new(callback, counters.clone()), seen, counters)
    }

    fn error(text: &str) -> Arc<StoreError> {
        Arc::new(StoreError::other(text.to_owned()))
    }

    #[test]
    fn repeats_are_counted_and_summed_up_per_window() {
        let (mut reporter, seen, counters) = reporter();
        let t0 = Instant::now();
        for i in 0..58 {
            reporter.report(error("disk I/O error"), t0 + Duration::from_millis(i * 100));
        }
        assert_eq!(*seen.lock().unwrap(), ["disk I/O error"]);
        assert_eq!(reporter.due(), Some(t0 + REPEAT_WINDOW));
        reporter.tick(t0 + REPEAT_WINDOW);
        assert_eq!(
            seen.lock().unwrap()[1],
            "disk I/O error (repeated 57 times in the last 10.0 s)"
        );
        assert_eq!(reporter.due(), None);
        assert_eq!(counters.store_errors.load(Ordering::Relaxed), 58);

        // A quiet window forgets the error: it is reported in full when it comes back.
        reporter.tick(t0 + 2 * REPEAT_WINDOW);
        reporter.report(error("disk I/O error"), t0 + 2 * REPEAT_WINDOW);
        assert_eq!(seen.lock().unwrap().len(), 3);
        assert_eq!(seen.lock().unwrap()[2], "disk I/O error");
    }

    #[test]
    fn a_new_error_is_reported_at_once_after_the_count_of_the_old_one() {
        let (mut reporter, seen, _) = reporter();
        let t0 = Instant::now();
        reporter.report(error("database is locked"), t0);
        reporter.report(error("database is locked"), t0 + Duration::from_secs(1));
        reporter.report(error("disk full"), t0 + Duration::from_secs(2));
        reporter.settle(t0 + Duration::from_secs(3));
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "database is locked",
                "database is locked (repeated once in the last 2.0 s)",
                "disk full",
            ]
        );
    }

    #[test]
    fn the_summary_is_reachable_from_the_store_error() {
        let (mut reporter, _, _) = reporter();
        let got = Arc::new(Mutex::new(None));
        reporter.callback = {
            let got = got.clone();
            Arc::new(move |e: &StoreError| {
                if let Some(r) = RepeatedStoreError::of(e) {
                    *got.lock().unwrap() = Some((r.repeats(), r.error().to_string()));
                }
            })
        };
        let t0 = Instant::now();
        for _ in 0..4 {
            reporter.report(error("connection refused"), t0);
        }
        reporter.settle(t0);
        assert_eq!(
            *got.lock().unwrap(),
            Some((3, "connection refused".to_owned()))
        );
    }
}
