//! Entities reused instead of allocated: the writer gives back the entities whose records it
//! has built, and the span's thread takes one when an entity opens.
//!
//! An entity is allocated on the span's thread and freed on the writer thread; with the system
//! allocator, memory freed on another thread is the slow path of the next allocation (about
//! 200 instructions, and the allocator's lock shared with the writer). A bounded lock-free
//! queue of blank entities takes both off the span's thread. An entity is given back only
//! when no one else holds it ([`Arc::get_mut`]), and blank: it refers to nothing (no parent
//! keeps a tree of entities alive in the pool).

use std::borrow::Cow;
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;

use super::{Entity, Opening, Run, RunId};
use crate::record::EntityKind;

/// How many blank entities wait for reuse: a few hundred kilobytes at most, enough for the
/// entities of a writer batch to come back before the span's thread needs new ones.
const CAPACITY: usize = 1024;

/// Blank entities, shared by the layer (which takes them) and its writer (which gives them
/// back).
#[derive(Debug)]
pub(crate) struct EntityPool {
    blank: ArrayQueue<Arc<Entity>>,
    /// What a blank entity's run is.
    blank_run: Arc<Run>,
}

impl Default for EntityPool {
    fn default() -> Self {
        EntityPool {
            blank: ArrayQueue::new(CAPACITY),
            blank_run: Arc::new(Run::new(RunId::given(String::new()), None, 1, true)),
        }
    }
}

impl EntityPool {
    /// The entity of a new span: a blank entity reopened in place, or a new one when none is
    /// waiting.
    pub(crate) fn open(
        &self,
        kind: EntityKind,
        name: Cow<'static, str>,
        run: Arc<Run>,
        parent: Option<Arc<Entity>>,
        opening: Opening,
    ) -> Arc<Entity> {
        if let Some(mut entity) = self.blank.pop() {
            // Only the pool held it (it was unique when given back, and no one took a
            // reference since), so this always succeeds.
            if let Some(blank) = Arc::get_mut(&mut entity) {
                blank.reopen(kind, name, run, parent, opening);
                return entity;
            }
        }
        Arc::new(Entity::new(kind, name, run, parent, opening))
    }

    /// Gives back an entity whose records are built. It is kept, blank, when nothing else
    /// holds it and the pool has room; otherwise it is dropped.
    pub(crate) fn give_back(&self, mut entity: Arc<Entity>) {
        if let Some(done) = Arc::get_mut(&mut entity) {
            done.release(&self.blank_run);
            // A full pool drops it.
            let _ = self.blank.push(entity);
        }
    }

    /// How many blank entities wait.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.blank.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str) -> Arc<Run> {
        Arc::new(Run::new(
            RunId::given(id.to_owned()),
            Some("corr".to_owned()),
            2,
            false,
        ))
    }

    /// A pipeline and a step in it, from `pool`.
    fn pipeline_and_step(pool: &EntityPool) -> (Arc<Entity>, Arc<Entity>) {
        let pipeline = pool.open(
            EntityKind::Pipeline,
            "p".into(),
            run("r1"),
            None,
            Opening::now(),
        );
        let step = pool.open(
            EntityKind::Step,
            "load".into(),
            pipeline.run.clone(),
            Some(pipeline.clone()),
            Opening::now(),
        );
        (pipeline, step)
    }

    #[test]
    fn a_given_back_entity_is_reused_blank() {
        let pool = EntityPool::default();
        let (_pipeline, step) = pipeline_and_step(&pool);
        step.fail(crate::entity::ErrorInfo {
            error: "boom".into(),
            error_type: None,
            error_message: "boom".into(),
        });
        step.close();
        step.set_end_in_batch();
        let address = Arc::as_ptr(&step);
        pool.give_back(step);
        assert_eq!(pool.len(), 1);

        let reused = pool.open(
            EntityKind::Process,
            "extract".into(),
            run("r2"),
            None,
            Opening::now(),
        );
        assert_eq!(Arc::as_ptr(&reused), address, "the blank entity is reused");
        assert_eq!(pool.len(), 0);
        assert_eq!(reused.kind, EntityKind::Process);
        assert_eq!(reused.name, "extract");
        assert_eq!(reused.run.run_id.to_text(), "r2");
        assert_eq!(reused.process_run_id, Some(reused.id));
        assert!(reused.parent.is_none());
        assert!(
            !reused.is_failed(),
            "the failure of the earlier use is gone"
        );
        assert_eq!(reused.duration_ms(), None, "open again");
        assert!(!reused.end_in_batch());
    }

    #[test]
    fn an_entity_held_elsewhere_is_not_reused() {
        let pool = EntityPool::default();
        let (pipeline, step) = pipeline_and_step(&pool);
        // The step still refers to the pipeline.
        pool.give_back(pipeline.clone());
        drop(pipeline);
        assert_eq!(pool.len(), 0);
        // Giving the step back lets go of its parent, which nothing holds any more.
        let parent = step.parent.clone().expect("parent");
        pool.give_back(step);
        assert_eq!(pool.len(), 1);
        assert_eq!(
            Arc::strong_count(&parent),
            1,
            "the blank step no longer holds it"
        );
    }

    #[test]
    fn a_full_pool_drops_what_is_given_back() {
        let pool = EntityPool::default();
        let entities: Vec<_> = (0..CAPACITY + 10)
            .map(|_| pool.open(EntityKind::Step, "s".into(), run("r"), None, Opening::now()))
            .collect();
        for entity in entities {
            pool.give_back(entity);
        }
        assert_eq!(pool.len(), CAPACITY);
    }
}
