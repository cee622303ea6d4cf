//! Ids of entities and runs.

use std::cell::RefCell;
use std::sync::Arc;

use rand::rngs::{SmallRng, SysRng};
use rand::{Rng as _, SeedableRng};

use uuid::Uuid;

/// A run id, given by the user or generated: text made once per run and shared by its
/// entities (records and exported spans copy or share it instead of formatting it again).
#[derive(Debug, Clone)]
pub(crate) struct RunId(Arc<str>);

impl RunId {
    pub(crate) fn given(text: String) -> Self {
        RunId(text.into())
    }

    pub(crate) fn generated(id: Uuid) -> Self {
        RunId(uuid_text(id).into())
    }

    pub(crate) fn to_text(&self) -> String {
        self.0.as_ref().to_owned()
    }

    /// The text, shared.
    #[cfg(feature = "otel")]
    pub(crate) fn shared(&self) -> Arc<str> {
        self.0.clone()
    }
}

/// A UUID as lower-case hyphenated text, encoded directly (without the formatting machinery).
pub(crate) fn uuid_text(id: Uuid) -> String {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    id.hyphenated().encode_lower(&mut buf).to_owned()
}

thread_local! {
    /// This thread's generator of the random bits of ids: `rand`'s small, fast generator
    /// (xoshiro256++), seeded once per thread from the operating system.
    static ID_RNG: RefCell<Option<SmallRng>> = const { RefCell::new(None) };
}

/// A seed from the operating system; if it has none to give (it always has on the platforms
/// `rand` supports), one from the clock and the thread's stack address, never a panic.
fn seeded() -> SmallRng {
    SmallRng::try_from_rng(&mut SysRng).unwrap_or_else(|_| {
        let local = 0u8;
        let address = &local as *const u8 as u64;
        SmallRng::seed_from_u64(address.rotate_left(32) ^ super::now_micros() as u64)
    })
}

/// A UUID v7 for an entity that started at `started_us` (microseconds since the epoch): the
/// millisecond timestamp, then 74 random bits, put together by `uuid`'s builder.
///
/// The random bits come from a generator of this thread's: `Uuid::now_v7` with `uuid`'s own
/// generators costs 170 more instructions per step span (5 % of its cost on the span's
/// thread, see BENCHMARKS.md), a shared lock and, without `fast-rng`, a system call per id.
/// Ids of one thread within one millisecond are not ordered, which nothing relies on (rows are
/// ordered by `started_at`).
pub(crate) fn new_id(started_us: i64) -> Uuid {
    let random = ID_RNG
        .try_with(|cell| {
            let mut rng = cell.try_borrow_mut().ok()?;
            let rng = rng.get_or_insert_with(seeded);
            let mut random = [0u8; 10];
            rng.fill_bytes(&mut random);
            Some(random)
        })
        .ok()
        .flatten();
    let Some(random) = random else {
        // Thread-locals already gone (thread teardown): the shared generator.
        return Uuid::now_v7();
    };
    let millis = u64::try_from(started_us.div_euclid(1000)).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}
