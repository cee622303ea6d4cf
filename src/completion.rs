//! Futures that tell the layer whether they completed, so that an entity whose future was
//! dropped before it finished (a `tokio::time::timeout`, the losing branch of `select!`, an
//! aborted task, a `JoinSet` dropped early) is recorded [`cancelled`](crate::RunStatus::Cancelled)
//! rather than `success`.
//!
//! A layer cannot tell a completed future from a dropped one: `tracing`'s
//! [`Instrumented`] enters its span to drop the future inside, so both end with the same
//! exit, enter, exit, close. The future itself knows. [`EtlInstrument::instrument_tracked`]
//! (in place of [`Instrument::instrument`]) and [`completes`] (around the body of an
//! `#[instrument] async fn`) note on the entity of their span that it tracks its completion,
//! and note when the future returns `Ready`. A tracked entity whose span closes without that
//! note, while its thread is not unwinding from a panic, is cancelled. See
//! [`guide::conventions`](crate::guide::conventions) for how to mark steps and
//! [`guide::failures`](crate::guide::failures) for what the status means for the root cause.
//!
//! The notes reach the layer through the span's subscriber (`downcast_ref` to
//! [`ExecutionRecordsLayer`], which passes them on to the other records layers of the same
//! subscriber): nothing is asked of spans whose futures are not wrapped.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tracing::instrument::Instrumented;
use tracing::{Instrument, Span};

use crate::ExecutionRecordsLayer;

/// Notes on the entity of `span` (in every records layer of its subscriber) that its future
/// tracks its completion, or that it completed.
fn mark(span: &Span, completed: bool) {
    span.with_subscriber(|(id, dispatch)| {
        if let Some(layer) = dispatch.downcast_ref::<ExecutionRecordsLayer>() {
            layer.mark_completion(id, completed);
        }
    });
}

/// [`Instrument`] for entity spans whose futures may be dropped before they finish:
/// `.instrument_tracked(span)` in place of `.instrument(span)`.
///
/// ```
/// use tracing::info_span;
/// use tracing_etl::{EtlInstrument, ExecutionRecordsLayer, InMemoryStore, RunStatus};
/// use tracing_subscriber::prelude::*;
///
/// let store = InMemoryStore::new();
/// let (layer, guard) = ExecutionRecordsLayer::new(store.clone());
/// let _default = tracing_subscriber::registry().with(layer).set_default();
/// let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// runtime.block_on(async {
///     let load = std::future::pending::<()>().instrument_tracked(info_span!("load", etl.step = true));
///     let timed_out = tokio::time::timeout(std::time::Duration::from_millis(5), load).await;
///     assert!(timed_out.is_err());
/// });
/// drop(_default);
/// drop(guard);
/// assert_eq!(store.step_runs()[0].status(), RunStatus::Cancelled);
/// ```
pub trait EtlInstrument: Future + Sized {
    /// The future instrumented with `span` (as [`Instrument::instrument`] does) and tracking
    /// its completion: if it is dropped before it completes — even before its first poll — the
    /// entity of `span` is recorded cancelled.
    fn instrument_tracked(self, span: Span) -> Tracked<Self> {
        mark(&span, false);
        Tracked {
            inner: self.instrument(span),
        }
    }
}

impl<F: Future> EtlInstrument for F {}

pin_project! {
    /// A future instrumented with an entity span that tracks its completion (see
    /// [`EtlInstrument::instrument_tracked`]).
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Tracked<F> {
        #[pin]
        inner: Instrumented<F>,
    }
}

impl<F> Tracked<F> {
    /// The span the future is instrumented with.
    pub fn span(&self) -> &Span {
        self.inner.span()
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut inner = self.project().inner;
        let poll = inner.as_mut().poll(cx);
        if poll.is_ready() {
            mark(inner.as_ref().get_ref().span(), true);
        }
        poll
    }
}

/// The body of an `#[instrument] async fn` that tracks the completion of its entity: the span
/// current when `future` is first polled (the function's own) is recorded cancelled if its
/// span closes before `future` completes.
///
/// ```
/// use tracing_etl::{completes, ExecutionRecordsLayer, InMemoryStore, RunStatus};
/// use tracing_subscriber::prelude::*;
///
/// #[tracing::instrument(skip_all, fields(etl.step))]
/// async fn load() {
///     completes(async move {
///         std::future::pending::<()>().await;
///     })
///     .await
/// }
///
/// let store = InMemoryStore::new();
/// let (layer, guard) = ExecutionRecordsLayer::new(store.clone());
/// let _default = tracing_subscriber::registry().with(layer).set_default();
/// let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// runtime.block_on(async {
///     let timed_out = tokio::time::timeout(std::time::Duration::from_millis(5), load()).await;
///     assert!(timed_out.is_err());
/// });
/// drop(_default);
/// drop(guard);
/// assert_eq!(store.step_runs()[0].status(), RunStatus::Cancelled);
/// ```
///
/// The body runs from the function future's first poll: a future dropped before it was ever
/// polled is not seen, and its entity is recorded as an untracked one is (`success`). Where
/// that matters (a task aborted before it ran), instrument the future with
/// [`EtlInstrument::instrument_tracked`] where it is made.
pub fn completes<F: Future>(future: F) -> Completes<F> {
    Completes {
        inner: future,
        span: None,
    }
}

pin_project! {
    /// The body of an entity's future that tracks its completion (see [`completes`]).
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Completes<F> {
        #[pin]
        inner: F,
        // The span current at the first poll.
        span: Option<Span>,
    }
}

impl<F: Future> Future for Completes<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let span = this.span.get_or_insert_with(|| {
            let span = Span::current();
            mark(&span, false);
            span
        });
        let poll = this.inner.poll(cx);
        if poll.is_ready() {
            mark(span, true);
        }
        poll
    }
}
