//! Ids of entities and runs.

use std::cell::Cell;
use std::sync::Arc;

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
    /// State of this thread's id generator: seeded once per thread from the operating system's
    /// randomness (through a UUID v7 of the `uuid` crate), then stepped without locks.
    static ID_STATE: Cell<Option<u64>> = const { Cell::new(None) };
}

/// SplitMix64's output function: a bijection of `u64`, so distinct states give distinct outputs.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A UUID v7 for an entity that started at `started_us` (microseconds since the epoch): the
/// millisecond timestamp, then 74 bits from this thread's generator.
///
/// `Uuid::now_v7` takes a lock shared by every thread and asks the operating system for random
/// bytes on every call; an entity opens on the span's thread, so its id is made here without
/// either. Ids made by one thread never repeat (the generator steps through a bijection of a
/// 64-bit counter); threads start from independent random seeds. Ids of one thread within one
/// millisecond are not ordered, which nothing relies on (rows are ordered by `started_at`).
pub(crate) fn new_id(started_us: i64) -> Uuid {
    let state = ID_STATE
        .try_with(|cell| {
            let state = cell.get().unwrap_or_else(|| {
                // The low 64 bits of a UUID v7 are 62 random bits and the variant.
                let seed = Uuid::now_v7().as_u64_pair().1;
                seed ^ (cell as *const _ as u64).rotate_left(32)
            });
            let next = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            cell.set(Some(next));
            Some(next)
        })
        .ok()
        .flatten();
    let Some(state) = state else {
        // Thread-locals already gone (thread teardown): the shared generator.
        return Uuid::now_v7();
    };
    let low = mix64(state);
    let high = mix64(state ^ 0xD6E8_FEB8_6659_FD93);
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&low.to_le_bytes());
    random[8..].copy_from_slice(&high.to_le_bytes()[..2]);
    let millis = u64::try_from(started_us.div_euclid(1000)).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}
