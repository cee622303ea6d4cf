//! One entity, one id: the records layers of one subscriber (SQLite for the command-line tool,
//! JSON Lines for the lake, …) give a span the same ids and start time.
//!
//! Each layer keeps its own entity table, but what an entity is given when its span opens —
//! its id, its start (monotonic and wall clock) and, for an entity that starts a run without
//! an `etl.run_id`, the generated run id — is decided once: the first records layer to see the
//! span (the innermost, whose callbacks run first) keeps it in the span's extensions under a
//! private type, and the others take it from there. A layer learns that it is not alone when
//! the subscriber is built (`on_register_dispatch`), so a subscriber with one records layer
//! never touches the extensions.

use tracing_core::span::Id;
use tracing_core::Subscriber;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::entity::{Opening, RunId};

/// What the first records layer gave the entity of a span.
#[derive(Debug, Clone)]
pub(super) struct SharedOpening {
    pub(super) opening: Opening,
    /// The run id it generated, when the entity starts a run without a usable `etl.run_id`.
    pub(super) generated_run_id: Option<RunId>,
}

/// What another records layer gave the entity of span `id`, if one saw it first.
pub(super) fn find<S>(ctx: &Context<'_, S>, id: &Id) -> Option<SharedOpening>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    ctx.span(id)?.extensions().get::<SharedOpening>().cloned()
}

/// Keeps what this layer gave the entity of span `id`, for the records layers after it.
pub(super) fn publish<S>(ctx: &Context<'_, S>, id: &Id, shared: SharedOpening)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if let Some(span) = ctx.span(id) {
        // `replace`, not `insert` (which panics on a value already there).
        let _ = span.extensions_mut().replace(shared);
    }
}
