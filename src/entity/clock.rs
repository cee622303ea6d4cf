//! The entity's clocks: one monotonic reading per entity, the wall-clock start time derived
//! from it.

use std::cell::Cell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

thread_local! {
    /// This thread's reading of both clocks at one moment: the monotonic instant and the wall
    /// clock in microseconds since the epoch.
    static CLOCK_ANCHOR: Cell<Option<(Instant, i64)>> = const { Cell::new(None) };
}

/// How long a thread derives wall-clock times from its anchor before it reads the wall clock
/// again.
const ANCHOR_LIFETIME: Duration = Duration::from_secs(1);

/// Now on the monotonic clock, and in microseconds since the Unix epoch on the wall clock.
///
/// Reading a clock is a good part of what an entity costs on the span's thread (tens of
/// nanoseconds each), so only the monotonic clock is read: the wall-clock time is the
/// thread's anchor (both clocks read at one moment, at most [`ANCHOR_LIFETIME`] ago) plus the
/// monotonic time since. The two clocks run at the same rate (the kernel slews both alike);
/// only a step of the wall clock (someone setting the time) shows up to a second late.
pub(crate) fn now_on_both_clocks() -> (Instant, i64) {
    let now = Instant::now();
    let derived = CLOCK_ANCHOR
        .try_with(|anchor| {
            if let Some((at, wall_us)) = anchor.get() {
                let since = now.saturating_duration_since(at);
                if since < ANCHOR_LIFETIME {
                    // Below a second: the microseconds fit any integer type.
                    return wall_us.saturating_add(since.as_micros() as i64);
                }
            }
            let wall_us = now_micros();
            anchor.set(Some((now, wall_us)));
            wall_us
        })
        // Thread-locals already gone (thread teardown): read the wall clock.
        .unwrap_or_else(|_| now_micros());
    (now, derived)
}

/// Microseconds since the Unix epoch, now (wall clock).
pub(crate) fn now_micros() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_micros()).map_or(i64::MIN, |us| -us),
    }
}
