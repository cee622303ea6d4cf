//! The open entities of one layer, by span id: the layer's own table instead of the registry's
//! span extensions.
//!
//! Every span that closes is looked up here, so the common answer, "not an entity", is the
//! cheap one: the table is split into shards by a hash of the span id, and each shard keeps its
//! length in an atomic that is read without taking the shard's lock. A span whose shard is empty
//! costs one multiplication and one load; no registry lookup, no lock. An entity span costs an
//! uncontended lock and a short scan to insert and to remove, with no allocation once a shard's
//! vector has grown to the number of entities open in it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tracing_core::span::Id;

use crate::entity::Entity;

/// log2 of the number of shards. 128 shards hold a few open entities each in a typical job (a
/// pipeline, its processes and their running steps); with thousands of steps open at once (many
/// concurrent tasks), a lookup scans a few dozen ids.
const SHARD_BITS: u32 = 7;
const SHARDS: usize = 1 << SHARD_BITS;

/// One shard: the open entities whose id hashes here, and their number, readable without the
/// lock.
#[derive(Default)]
#[repr(align(64))] // One cache line each: threads closing spans in different shards do not share one.
struct Shard {
    len: AtomicUsize,
    entities: Mutex<Vec<(u64, Arc<Entity>)>>,
}

impl Shard {
    /// The shard's entities. Nothing panics while the lock is held (pushes, swaps and clones),
    /// so a poisoned lock still guards a consistent vector and is used as is.
    fn lock(&self) -> MutexGuard<'_, Vec<(u64, Arc<Entity>)>> {
        self.entities.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[inline(never)]
    fn get(&self, key: u64) -> Option<Arc<Entity>> {
        let entities = self.lock();
        entities
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, e)| e.clone())
    }

    #[inline(never)]
    fn remove(&self, key: u64) -> Option<Arc<Entity>> {
        let mut entities = self.lock();
        let at = entities.iter().position(|(k, _)| *k == key)?;
        let (_, entity) = entities.swap_remove(at);
        self.len.store(entities.len(), Ordering::Release);
        Some(entity)
    }
}

/// The open entity spans of a layer, by span id.
pub(crate) struct LiveEntities {
    shards: Box<[Shard; SHARDS]>,
}

impl Default for LiveEntities {
    fn default() -> Self {
        LiveEntities {
            shards: Box::new(std::array::from_fn(|_| Shard::default())),
        }
    }
}

impl LiveEntities {
    #[inline]
    fn shard(&self, id: &Id) -> &Shard {
        // Fibonacci hashing: span ids are slab indices, dense in their low bits; the high bits of
        // the product mix all of them.
        let hash = id.into_u64().wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SHARD_BITS);
        // The mask proves the index in bounds (it is already below `SHARDS`).
        &self.shards[hash as usize & (SHARDS - 1)]
    }

    /// Records `entity` as the entity of the open span `id`.
    ///
    /// A span id is unique among open spans, and the layer removes an entity when its span
    /// closes, before the subscriber may give the id to a new span.
    pub(crate) fn insert(&self, id: &Id, entity: Arc<Entity>) {
        let shard = self.shard(id);
        let mut entities = shard.lock();
        entities.push((id.into_u64(), entity));
        // Under the lock: every store is the length of the vector at that moment, so a reader
        // that sees the store of this insert (or any later one) sees at least 1 until the
        // entity is removed.
        shard.len.store(entities.len(), Ordering::Release);
    }

    /// The shard of `id` if it holds any entity (its length read without the lock): `None` is
    /// the common answer for a span that is not an entity, and costs no lock.
    ///
    /// A span's own insert happened before anything asks about it (the span existed first), so
    /// when `id` is in the table its shard's length read here is not 0.
    #[inline]
    fn occupied_shard(&self, id: &Id) -> Option<&Shard> {
        let shard = self.shard(id);
        (shard.len.load(Ordering::Acquire) != 0).then_some(shard)
    }

    /// The entity of the open span `id`, if it is one.
    #[inline]
    pub(crate) fn get(&self, id: &Id) -> Option<Arc<Entity>> {
        self.occupied_shard(id)?.get(id.into_u64())
    }

    /// Whether the open span `id` is an entity.
    #[cfg(test)]
    pub(crate) fn contains(&self, id: &Id) -> bool {
        self.get(id).is_some()
    }

    /// Takes the entity of span `id` out of the table (when the span closes).
    #[inline]
    pub(crate) fn remove(&self, id: &Id) -> Option<Arc<Entity>> {
        self.occupied_shard(id)?.remove(id.into_u64())
    }

    /// How many entities are open.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.len.load(Ordering::Acquire))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::{Run, RunId};
    use crate::record::EntityKind;

    fn entity(name: &'static str) -> Arc<Entity> {
        let run = Arc::new(Run::new(RunId::given("r".to_owned()), None, 1, true));
        Arc::new(Entity::new(
            EntityKind::Step,
            name.into(),
            run,
            None,
            crate::entity::Opening::now(),
        ))
    }

    #[test]
    fn finds_inserted_entities_until_removed() {
        let live = LiveEntities::default();
        // Far more ids than shards, dense like a slab's, so shards hold several.
        let ids: Vec<Id> = (1..=1000).map(Id::from_u64).collect();
        for id in &ids {
            live.insert(id, entity("s"));
        }
        assert_eq!(live.len(), 1000);
        assert!(ids
            .iter()
            .all(|id| live.contains(id) && live.get(id).is_some()));
        assert!(!live.contains(&Id::from_u64(1001)));
        for id in ids.iter().step_by(2) {
            assert!(live.remove(id).is_some());
            assert!(live.remove(id).is_none(), "removed once");
        }
        assert_eq!(live.len(), 500);
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(live.contains(id), i % 2 == 1);
        }
    }

    #[test]
    fn an_entity_closed_on_another_thread_is_found() {
        let live = Arc::new(LiveEntities::default());
        let handles: Vec<_> = (0..4u64)
            .map(|t| {
                let live = live.clone();
                std::thread::spawn(move || {
                    for i in 0..300u64 {
                        let id = Id::from_u64(1 + t * 10_000 + i);
                        live.insert(&id, entity("s"));
                        let other = live.clone();
                        let removed = std::thread::spawn(move || other.remove(&id).is_some());
                        assert!(removed.join().unwrap());
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(live.len(), 0);
    }
}
