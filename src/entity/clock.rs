//! The entity's clocks: one monotonic reading per entity, the wall-clock start time derived
//! from it.

use std::cell::Cell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

thread_local! {
    /// This thread's reading of both clocks at one moment: the monotonic instant and the wall
    /// clock in nanoseconds since the epoch.
    static CLOCK_ANCHOR: Cell<Option<Anchor>> = const { Cell::new(None) };
}

/// How long a thread derives wall-clock times from its anchor before it reads the wall clock
/// again.
const ANCHOR_LIFETIME: Duration = Duration::from_secs(1);

/// Both clocks read at one moment: a monotonic instant and the wall-clock time then, in
/// nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Anchor {
    pub(crate) at: Instant,
    pub(crate) wall_ns: i64,
}

impl Anchor {
    /// The wall-clock time of `now` (not before the anchor), derived from the anchor: the
    /// anchor's wall time plus the monotonic time since, to the nanosecond. One mapping for
    /// every instant derived from one anchor, so that derived times keep the monotonic order
    /// and differences exactly.
    pub(crate) fn wall_ns_at(self, now: Instant) -> i64 {
        let since = now.saturating_duration_since(self.at);
        // Below `ANCHOR_LIFETIME` in use; any duration up to 292 years fits.
        let since = i64::try_from(since.as_nanos()).unwrap_or(i64::MAX);
        self.wall_ns.saturating_add(since)
    }
}

/// Now on the monotonic clock, and in nanoseconds since the Unix epoch on the wall clock.
///
/// Reading a clock is a good part of what an entity costs on the span's thread (tens of
/// nanoseconds each), so only the monotonic clock is read: the wall-clock time is the
/// thread's anchor (both clocks read at one moment, at most [`ANCHOR_LIFETIME`] ago) plus the
/// monotonic time since. The two clocks run at the same rate (the kernel slews both alike);
/// only a step of the wall clock (someone setting the time) shows up to a second late.
pub(crate) fn now_on_both_clocks() -> (Instant, i64) {
    let now = Instant::now();
    CLOCK_ANCHOR
        .try_with(|slot| {
            if let Some(anchor) = slot.get() {
                if now.saturating_duration_since(anchor.at) < ANCHOR_LIFETIME {
                    return (now, anchor.wall_ns_at(now));
                }
            }
            let anchor = read_anchor();
            slot.set(Some(anchor));
            (anchor.at, anchor.wall_ns)
        })
        // Thread-locals already gone (thread teardown): read the wall clock.
        .unwrap_or_else(|_| (now, now_nanos()))
}

/// Both clocks at one moment: the wall clock read between two readings of the monotonic
/// clock, taken at their midpoint, the best of a few tries (a thread preempted between the
/// readings would otherwise put every time derived from the anchor ahead by the delay).
fn read_anchor() -> Anchor {
    let mut best: Option<(Duration, Anchor)> = None;
    for _ in 0..4 {
        let before = Instant::now();
        let wall_ns = now_nanos();
        let gap = before.elapsed();
        let anchor = Anchor {
            at: before + gap / 2,
            wall_ns,
        };
        if best.is_none_or(|(smallest, _)| gap < smallest) {
            best = Some((gap, anchor));
        }
        if gap < Duration::from_micros(1) {
            break;
        }
    }
    best.map_or_else(
        || Anchor {
            at: Instant::now(),
            wall_ns: now_nanos(),
        },
        |(_, anchor)| anchor,
    )
}

/// Nanoseconds since the Unix epoch, now (wall clock).
pub(crate) fn now_nanos() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |ns| -ns),
    }
}

/// Microseconds since the Unix epoch, now (wall clock).
pub(crate) fn now_micros() -> i64 {
    now_nanos().div_euclid(1000)
}

/// `ns` nanoseconds since the Unix epoch as a `SystemTime`.
#[cfg(feature = "otel")]
pub(crate) fn system_time(ns: i64) -> SystemTime {
    let since = Duration::from_nanos(ns.unsigned_abs());
    if ns >= 0 {
        UNIX_EPOCH + since
    } else {
        UNIX_EPOCH - since
    }
}
