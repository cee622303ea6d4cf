//! [`ExecutionRecordsLayer`]: the `tracing_subscriber::Layer` that turns pipeline, process and
//! step spans into execution records.

mod builder;
mod fields;
mod filter;
mod live;
mod panic;
mod report;
mod shared;
mod span_ext;
mod volume;

pub use builder::ExecutionRecordsLayerBuilder;
pub use fields::{MAX_FIELD_BYTES, TRUNCATED_MARKER};
pub use report::record_error;
pub use span_ext::EtlSpanExt;

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Dispatch, Event, Level, LevelFilter, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layered};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use self::fields::{ErrorFields, Markers, Raw, RunFields, SpanFields};
use self::live::LiveEntities;
use crate::dispatch::RegisteredDispatch;
use crate::entity::{self, Entity, EntityPool, ErrorInfo, Opening, Run, RunId};
use crate::error::WriterError;
use crate::record::EntityKind;
use crate::store::ExecutionRecordStore;
use crate::writer::{Queued, RecordSender, WriterGuard, WriterHandle};

/// A [`Layer`] that records every pipeline, process and step span as an execution record.
///
/// Spans are recognised by their fields (see the [crate docs](crate) for the conventions):
/// `etl.pipeline`, `etl.process` or `etl.step` make a span an entity. For each entity the layer
/// queues a start record when the span opens and an end record when it closes; a background
/// thread writes them to the [`ExecutionRecordStore`]. Other spans cost a scan of their field
/// names when they open and one atomic load when they close (the layer keeps its open entities
/// in a table of its own, by span id, rather than in the registry's span extensions).
///
/// Dropping the layer (with its subscriber: the end of a `with_default` or `set_default` scope)
/// waits until the records it queued are written. A global subscriber is never dropped: there,
/// the [`WriterGuard`] flushes when the program drops it.
///
/// A subscriber set with `with_default` or `set_default` is the default of one thread only:
/// steps on the worker threads of a runtime are then lost, and their parents never close.
/// Use a global subscriber, or set the default on every runtime thread (see
/// [`guide::conventions`](crate::guide::conventions)).
///
/// ```
/// use tracing_etl::{ExecutionRecordsLayer, InMemoryStore, RunStatus};
/// use tracing_subscriber::prelude::*;
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("row {0} has no amount")]
/// struct BadRow(usize);
///
/// #[tracing::instrument(skip_all, fields(etl.pipeline = "daily_sales", etl.run_id = "run-1"))]
/// fn run() -> Result<(), BadRow> {
///     ingest()
/// }
///
/// #[tracing::instrument(skip_all, fields(etl.process))]
/// fn ingest() -> Result<(), BadRow> {
///     load()
/// }
///
/// #[tracing::instrument(skip_all, err, fields(etl.step))]
/// fn load() -> Result<(), BadRow> {
///     Err(BadRow(7))
/// }
///
/// let store = InMemoryStore::new();
/// let (layer, guard) = ExecutionRecordsLayer::new(store.clone());
/// let subscriber = tracing_subscriber::registry().with(layer);
/// tracing::subscriber::with_default(subscriber, || run()).unwrap_err();
/// drop(guard);
///
/// let pipeline = &store.pipeline_runs()[0];
/// assert_eq!(pipeline.run.run_id, "run-1");
/// assert_eq!(pipeline.outcome.status, RunStatus::Failed);
/// assert_eq!(pipeline.failed_step(), Some("load"));
/// assert_eq!(pipeline.outcome.error.message.as_deref(), Some("row 7 has no amount"));
/// ```
pub struct ExecutionRecordsLayer {
    sender: RecordSender,
    /// The lineage writer's end of its queue, when the layer sends OpenLineage events.
    #[cfg(feature = "openlineage")]
    lineage: Option<RecordSender>,
    live: Arc<LiveEntities>,
    /// The entity tables of the other records layers of the subscriber, when this one is the
    /// outermost (the one a `downcast_ref` finds): a completion mark reaches them through it.
    others: RwLock<Vec<Arc<LiveEntities>>>,
    /// Blank entities the writer gave back, for new entities.
    pool: Arc<EntityPool>,
    warnings: RegisteredDispatch,
    /// Whether another records layer is in the same subscriber: then the entities' ids and start
    /// times are shared through the span's extensions (see the `shared` module).
    shares_ids: AtomicBool,
    #[cfg(feature = "otel")]
    otel: crate::otel::OtelExport,
}

impl fmt::Debug for ExecutionRecordsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut f = f.debug_struct("ExecutionRecordsLayer");
        f.field("writer", &self.sender);
        #[cfg(feature = "otel")]
        f.field("otel", &self.otel);
        f.finish_non_exhaustive()
    }
}

impl ExecutionRecordsLayer {
    /// A layer writing to `store` with the default settings, and the guard of its writer
    /// thread. Hold the guard until the program stops recording: dropping it flushes.
    pub fn new<S: ExecutionRecordStore>(store: S) -> (Self, WriterGuard) {
        Self::builder().build(store)
    }

    /// A builder for a layer with other settings.
    pub fn builder() -> ExecutionRecordsLayerBuilder {
        ExecutionRecordsLayerBuilder::default()
    }

    /// A handle on the writer: flush it or read its counters.
    pub fn writer(&self) -> WriterHandle {
        self.sender.handle().clone()
    }

    /// Waits until every record queued so far is in the store (see [`WriterHandle::flush`]).
    pub fn flush(&self) -> Result<(), WriterError> {
        self.sender.handle().flush()
    }

    fn warn(&self, message: String) {
        self.sender.send(Queued::Warning(message));
    }

    /// Queues the record of `entity` that `record` makes ([`Queued::Start`] or [`Queued::End`])
    /// to the writer (and to the lineage writer, if any).
    #[inline]
    fn queue(&self, record: impl Fn(Arc<Entity>) -> Queued, entity: Arc<Entity>) {
        #[cfg(feature = "openlineage")]
        if let Some(lineage) = &self.lineage {
            lineage.send(record(entity.clone()));
        }
        self.sender.send(record(entity));
    }

    /// Adds `given` to the volume of the entity of span `id`, in this layer and in the other
    /// records layers of the subscriber (counts replace, datasets add). Nothing for a span that
    /// is not an entity.
    pub(crate) fn add_volume(&self, id: &Id, given: crate::record::Volume) {
        let others = self.others.read().unwrap_or_else(PoisonError::into_inner);
        for live in std::iter::once(&self.live).chain(others.iter()) {
            if let Some(entity) = live.get(id) {
                entity.update_volume(|v| volume::merge(v, given.clone()));
            }
        }
    }

    /// Notes on the entity of span `id`, in this layer and in the other records layers of the
    /// subscriber, that its future tracks its completion (`completed` false) or completed.
    /// Nothing for a span that is not an entity.
    pub(crate) fn mark_completion(&self, id: &Id, completed: bool) {
        let mark = |live: &LiveEntities| {
            if let Some(entity) = live.get(id) {
                if completed {
                    entity.mark_completed();
                } else {
                    entity.track_completion();
                }
            }
        };
        mark(&self.live);
        let others = self.others.read().unwrap_or_else(PoisonError::into_inner);
        for live in others.iter() {
            mark(live);
        }
    }
}

/// Dropping the layer — with its subscriber, at the end of a `with_default` or `set_default`
/// scope, or when a `reload` layer replaces it — waits until the records it queued are written
/// (as [`flush`](ExecutionRecordsLayer::flush) does, within the writer's shutdown timeout). The
/// writer keeps running until its [`WriterGuard`] is dropped. A global subscriber
/// (`set_global_default`, `.init()`) is never dropped: there, the guard is what flushes.
impl Drop for ExecutionRecordsLayer {
    fn drop(&mut self) {
        self.sender.flush_quietly();
        #[cfg(feature = "openlineage")]
        if let Some(lineage) = &self.lineage {
            lineage.flush_quietly();
        }
    }
}

impl ExecutionRecordsLayer {
    /// The nearest entity enclosing the new span `id`: its parent, or the parent's nearest
    /// entity ancestor.
    fn parent_entity<S>(
        &self,
        attrs: &Attributes<'_>,
        id: &Id,
        ctx: &Context<'_, S>,
    ) -> Option<Arc<Entity>>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let current;
        let parent = if attrs.is_root() {
            return None;
        } else if let Some(parent) = attrs.parent() {
            parent
        } else {
            current = ctx.current_span();
            current.id()?
        };
        // Most entities are children of entities: no registry lookup for them.
        if let Some(entity) = self.live.get(parent) {
            return Some(entity);
        }
        // Spans in between (or a parent this layer's filter disables, which the registry's
        // ancestry skips for it): walk up from the new span.
        ctx.span(id)?
            .scope()
            .skip(1)
            .find_map(|span| self.live.get(&span.id()))
    }

    /// Opens the entity of the new span `id`, of kind `kind`.
    #[inline(never)]
    fn open_entity<S>(
        &self,
        kind: EntityKind,
        markers: Markers,
        attrs: &Attributes<'_>,
        id: &Id,
        ctx: &Context<'_, S>,
    ) where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let metadata = attrs.metadata();
        if !std::thread::panicking() {
            panic::forget_message();
        }
        let mut values = SpanFields::new(metadata.name());
        attrs.record(&mut values);
        let mut warnings = Vec::new();
        if markers.count() > 1 {
            warnings.push(format!(
                "span `{}` has more than one of etl.pipeline/etl.process/etl.step; recorded as a {}",
                metadata.name(),
                kind
            ));
        }

        let parent = self.parent_entity(attrs, id, ctx);
        let name = entity_name(kind, metadata.name(), &mut values, &mut warnings);
        let given = volume::take(&mut values, metadata.name(), &mut warnings);
        for unknown in values.unknown.drain(..) {
            warnings.push(format!(
                "unknown field `{unknown}` on span `{}` is ignored (etl.* is reserved)",
                metadata.name()
            ));
        }
        for repeated in values.repeated.drain(..) {
            warnings.push(format!(
                "field `{repeated}` is given more than once on span `{}`; the last value is used",
                metadata.name()
            ));
        }
        let sharing = self.shares_ids.load(Ordering::Relaxed);
        let found = if sharing { shared::find(ctx, id) } else { None };
        let first = sharing && found.is_none();
        let (opening, mut generated_run_id) = match found {
            Some(shared) => (shared.opening, shared.generated_run_id),
            None => (Opening::now(), None),
        };
        let run = match (kind, &parent) {
            (EntityKind::Pipeline, _) | (_, None) => Arc::new(run_from_fields(
                metadata.name(),
                values.run.take().map(|run| *run).unwrap_or_default(),
                &mut warnings,
                &mut generated_run_id,
            )),
            (_, Some(parent)) => {
                warn_run_fields_ignored(kind, metadata.name(), &values, &mut warnings);
                parent.run().inherit()
            }
        };
        if first {
            shared::publish(
                ctx,
                id,
                shared::SharedOpening {
                    opening,
                    generated_run_id,
                },
            );
        }
        let entity = self.pool.open(kind, name, run, parent, opening);
        if let Some(given) = given {
            entity.update_volume(|v| *v = given);
        }
        #[cfg(feature = "otel")]
        let start_now = self.otel.on_new_span(attrs, &entity, id);
        #[cfg(not(feature = "otel"))]
        let start_now = true;
        self.live.insert(id, entity.clone());
        if start_now {
            self.queue(Queued::Start, entity);
        }
        for warning in warnings {
            self.warn(warning);
        }
    }

    /// Takes the `etl.*` values recorded with `Span::record` on the open entity span `id`:
    /// its name, and the run fields that no record has been keyed by (`etl.correlation_id`,
    /// `etl.last_attempt`) on the entity that starts the run, while no other entity has
    /// inherited it. The rest is reported and ignored.
    #[inline(never)]
    fn record_entity<S>(
        &self,
        entity: &Arc<Entity>,
        id: &Id,
        values: &Record<'_>,
        ctx: &Context<'_, S>,
    ) where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let Some(metadata) = ctx.metadata(id) else {
            return;
        };
        let span_name = metadata.name();
        let mut recorded = SpanFields::new(span_name);
        values.record(&mut recorded);
        let kind = entity.kind();
        let mut warnings = Vec::new();
        match recorded.name_for(kind) {
            None => {}
            Some(Raw::Bool(_)) => entity.rename(Cow::Borrowed(span_name)),
            Some(Raw::SpanName(name)) => entity.rename(Cow::Borrowed(name)),
            Some(Raw::Text(text)) if !text.trim().is_empty() => entity.rename(Cow::Owned(text)),
            Some(other) => warnings.push(format!(
                "etl.{kind} = {other} recorded on span `{span_name}` is not a usable name; \
                 the name is unchanged"
            )),
        }
        if recorded.names.iter().any(Option::is_some) {
            warnings.push(format!(
                "etl.pipeline/etl.process/etl.step recorded on span `{span_name}` is ignored: \
                 the span is a {kind}, which the fields it was created with decide"
            ));
        }
        if let Some(run_fields) = recorded.run.take() {
            if run_fields.keys_given() {
                warnings.push(format!(
                    "etl.run_id/etl.attempt recorded on span `{span_name}` after it was created \
                     are ignored: its start record is keyed by them; give them in the span's \
                     fields (e.g. #[instrument(fields(etl.run_id = %id))])"
                ));
            }
            if run_fields.late_fields_given() {
                self.record_run_fields(entity, span_name, *run_fields, &mut warnings);
            }
        }
        if let Some(given) = volume::take(&mut recorded, span_name, &mut warnings) {
            entity.update_volume(|v| volume::merge(v, given));
        }
        for unknown in recorded.unknown.drain(..) {
            warnings.push(format!(
                "unknown field `{unknown}` on span `{span_name}` is ignored (etl.* is reserved)"
            ));
        }
        #[cfg(feature = "otel")]
        self.otel.on_record(entity, values);
        for warning in warnings {
            self.warn(warning);
        }
    }

    /// `etl.correlation_id` and `etl.last_attempt` recorded on the open entity span `entity`.
    fn record_run_fields(
        &self,
        entity: &Entity,
        span_name: &str,
        recorded: RunFields,
        warnings: &mut Vec<String>,
    ) {
        let kind = entity.kind();
        if !entity.starts_its_run() {
            warnings.push(format!(
                "etl.correlation_id/etl.last_attempt recorded on {kind} span `{span_name}` are \
                 ignored: a {kind} inherits them from its pipeline"
            ));
            return;
        }
        let correlation_id = recorded.correlation_id.map(correlation_id_text);
        let last_attempt = match recorded.last_attempt {
            None => None,
            Some(raw) => match parse_last_attempt(&raw) {
                Some(b) => Some(b),
                None => {
                    warnings.push(format!(
                        "etl.last_attempt = {raw} recorded on span `{span_name}` is not a bool; \
                         the value is unchanged"
                    ));
                    None
                }
            },
        };
        let recorded_in_time = entity.run().record_late(|fields| {
            if let Some(correlation_id) = correlation_id {
                fields.correlation_id = Some(correlation_id);
            }
            if let Some(last_attempt) = last_attempt {
                fields.last_attempt = last_attempt;
            }
        });
        if !recorded_in_time {
            warnings.push(format!(
                "etl.correlation_id/etl.last_attempt recorded on span `{span_name}` after a \
                 process or step opened in it are ignored: record them before the first one \
                 opens, or give them in the span's fields"
            ));
        }
    }

    /// Ends the entity of the span `id`, which is closing.
    #[inline(never)]
    fn close_entity(&self, entity: Arc<Entity>, id: &Id) {
        if std::thread::panicking() {
            fail_with_panic(&entity);
        } else {
            panic::forget_message();
            // A future that tracks its completion and closes without having completed (and
            // not while unwinding) was dropped: a timeout, `select!`, an aborted task.
            if entity.is_unfinished() {
                entity.cancel();
            }
        }
        entity.close();
        #[cfg(feature = "otel")]
        if self.otel.on_close(&entity, id) {
            self.queue(Queued::Start, entity.clone());
        }
        #[cfg(not(feature = "otel"))]
        let _ = id;
        self.queue(Queued::End, entity);
    }
}

impl<S> Layer<S> for ExecutionRecordsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.warnings.set(subscriber.downgrade());
        #[cfg(feature = "otel")]
        self.otel.on_register_dispatch(subscriber, &self.sender);
        // Every records layer of the subscriber hears of it here, before any span: the one found
        // by type (the outermost) and each of the others mark both of them as sharing.
        if let Some(other) = subscriber.downcast_ref::<ExecutionRecordsLayer>() {
            if !std::ptr::eq(other, self) {
                other.shares_ids.store(true, Ordering::Relaxed);
                self.shares_ids.store(true, Ordering::Relaxed);
                let mut others = other.others.write().unwrap_or_else(PoisonError::into_inner);
                if !others.iter().any(|live| Arc::ptr_eq(live, &self.live)) {
                    others.push(self.live.clone());
                }
            }
        }
        if let Some(hint) = inward_level_hint::<S>(subscriber) {
            filter::check_subscriber(hint);
        }
    }

    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        // Once per callsite, not per span.
        if metadata.is_span() && !filter::warned() && Markers::of(metadata).kind().is_some() {
            let dispatch = self.warnings.get().and_then(|weak| weak.upgrade());
            if let Some(hint) = dispatch.as_ref().and_then(inward_level_hint::<S>) {
                filter::check_callsite(metadata, hint);
            }
        }
        Interest::always()
    }

    // The callbacks every span goes through are inlined into the subscriber's and return
    // at once for spans that are not entities; the entity work is out of line.

    #[inline]
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let markers = Markers::of(attrs.metadata());
        if let Some(kind) = markers.kind() {
            self.open_entity(kind, markers, attrs, id, &ctx);
        }
    }

    #[inline]
    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        // Most spans are not entities: for them, one load from the table and nothing else.
        if let Some(entity) = self.live.get(id) {
            self.record_entity(&entity, id, values, &ctx);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if *event.metadata().level() != Level::ERROR {
            return;
        }
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        let Some(entity) = scope.into_iter().find_map(|s| self.live.get(&s.id())) else {
            return;
        };
        let mut error = ErrorFields::default();
        event.record(&mut error);
        entity.fail(error.into_info());
    }

    #[cfg(feature = "otel")]
    #[inline]
    fn on_enter(&self, id: &Id, _ctx: Context<'_, S>) {
        // Only with `tracing-opentelemetry`, whose span exists from the first enter on.
        if !self.otel.watches_enter() {
            return;
        }
        if let Some(entity) = self.live.get(id) {
            if self.otel.on_enter(&entity, id) {
                self.queue(Queued::Start, entity);
            }
        }
    }

    #[inline]
    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        // Only a thread that is unwinding has anything to do here.
        if !std::thread::panicking() {
            return;
        }
        if let Some(entity) = self.live.get(id) {
            fail_with_panic(&entity);
        }
    }

    #[inline]
    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        // Most spans are not entities: for them, one load from the table and nothing else.
        if let Some(entity) = self.live.remove(&id) {
            self.close_entity(entity, &id);
        }
    }
}

/// The level hint of the subscriber from this layer inward (see the `filter` module): the
/// `Layered` that holds this layer, found by its type, as `.with(layer)` makes it (the layer
/// also boxed or in an `Option`). `None` when the layer sits elsewhere (in a `Filtered`, a
/// `Vec`, a `reload::Layer`).
fn inward_level_hint<S>(dispatch: &Dispatch) -> Option<Option<LevelFilter>>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if let Some(layered) = dispatch.downcast_ref::<Layered<ExecutionRecordsLayer, S>>() {
        return Some(layered.max_level_hint());
    }
    if let Some(layered) = dispatch.downcast_ref::<Layered<Option<ExecutionRecordsLayer>, S>>() {
        return Some(layered.max_level_hint());
    }
    dispatch
        .downcast_ref::<Layered<Box<dyn Layer<S> + Send + Sync>, S>>()
        .map(Subscriber::max_level_hint)
}

/// Fails `entity` with the panic its thread is unwinding from: `error_message` the panic's
/// message, `error` the full form, with where it happened.
fn fail_with_panic(entity: &Arc<Entity>) {
    if entity.is_failed() {
        return;
    }
    let (message, location) = match panic::current() {
        Some(panic) => (panic.message, panic.location),
        None => (
            "panicked (message not captured; see `capture_panic_messages`)".to_owned(),
            None,
        ),
    };
    let error = match location {
        Some(at) => format!("panic: {message} (at {at})"),
        None => format!("panic: {message}"),
    };
    entity.fail(ErrorInfo {
        error,
        error_type: Some("panic".to_owned()),
        error_message: message,
    });
}

/// The entity's name: the marker's text value, else the span name.
fn entity_name(
    kind: EntityKind,
    span_name: &'static str,
    values: &mut SpanFields,
    warnings: &mut Vec<String>,
) -> Cow<'static, str> {
    match values.name_for(kind) {
        None | Some(Raw::Bool(_)) => Cow::Borrowed(span_name),
        Some(Raw::SpanName(name)) => Cow::Borrowed(name),
        Some(Raw::Text(text)) if !text.trim().is_empty() => Cow::Owned(text),
        Some(other) => {
            warnings.push(format!(
                "etl.{kind} = {other} on span `{span_name}` is not a usable name; \
                 using the span name"
            ));
            Cow::Borrowed(span_name)
        }
    }
}

/// The run a pipeline (or an entity outside any pipeline, which gets a run of its own) starts.
/// A run id to generate is the one in `generated` if there is one (another records layer's),
/// else a new one, left in `generated`.
fn run_from_fields(
    span_name: &str,
    values: RunFields,
    warnings: &mut Vec<String>,
    generated: &mut Option<RunId>,
) -> Run {
    let mut generate = || {
        generated
            .get_or_insert_with(|| RunId::generated(entity::new_id(entity::now_micros())))
            .clone()
    };
    let run_id = match values.run_id {
        None => generate(),
        Some(Raw::Text(text)) if !text.trim().is_empty() => RunId::given(text),
        Some(Raw::Int(n)) => RunId::given(n.to_string()),
        Some(Raw::Huge(n)) => RunId::given(n.to_string()),
        Some(other) => {
            warnings.push(format!(
                "etl.run_id = {other} on span `{span_name}` is not a usable id; \
                 using a generated one"
            ));
            generate()
        }
    };
    let correlation_id = values.correlation_id.map(correlation_id_text);
    let attempt = match values.attempt {
        None => 1,
        Some(raw) => match parse_attempt(&raw) {
            Some(n) => n,
            None => {
                warnings.push(format!(
                    "etl.attempt = {raw} on span `{span_name}` is not an integer from 1 to {}; \
                     using 1",
                    u32::MAX
                ));
                1
            }
        },
    };
    let last_attempt = match values.last_attempt {
        None => true,
        Some(raw) => parse_last_attempt(&raw).unwrap_or_else(|| {
            warnings.push(format!(
                "etl.last_attempt = {raw} on span `{span_name}` is not a bool; using true"
            ));
            true
        }),
    };
    Run::new(run_id, correlation_id, attempt, last_attempt)
}

/// A correlation id: any value, as text.
fn correlation_id_text(raw: Raw) -> String {
    match raw {
        Raw::Text(text) => text,
        Raw::SpanName(name) => name.to_owned(),
        other => other.to_string(),
    }
}

/// `etl.last_attempt`: a bool, or the text `true` / `false`.
fn parse_last_attempt(raw: &Raw) -> Option<bool> {
    match raw {
        Raw::Bool(b) => Some(*b),
        Raw::Text(t) if t == "true" || t == "false" => Some(t == "true"),
        _ => None,
    }
}

fn parse_attempt(raw: &Raw) -> Option<u32> {
    let n = match raw {
        Raw::Int(n) => *n,
        Raw::Text(t) => t.trim().parse::<i128>().ok()?,
        // An integral float (`2.0`) is its integer.
        Raw::Float(f) if f.fract() == 0.0 && f.abs() < 1e20 => *f as i128,
        Raw::Float(_) | Raw::Huge(_) | Raw::Bool(_) | Raw::SpanName(_) => return None,
    };
    u32::try_from(n).ok().filter(|&n| n >= 1)
}

fn warn_run_fields_ignored(
    kind: EntityKind,
    span_name: &str,
    values: &SpanFields,
    warnings: &mut Vec<String>,
) {
    if values.run.is_some() {
        warnings.push(format!(
            "etl.run_id/etl.correlation_id/etl.attempt/etl.last_attempt on {kind} span \
             `{span_name}` are ignored: a {kind} inherits them from its pipeline"
        ));
    }
}
