//! What each page reads, for its HTML route ([`pages::page`](super::pages::page)) and its JSON
//! route ([`api::json`](super::api::json)) alike: one [`Load`] per page.

use axum::extract::{FromRequestParts, Path, Query};
use tracing_etl::store::RecordReader;
use tracing_etl::ExecutionRecord;

use super::error::WebError;
use super::query::{ListParams, ListQuery, PipelineParams, RunParams};
use super::read::{self, Failure, Page, PipelineView, RunView};
use super::AppState;
use crate::liveness::RunningEntity;

/// A page's data, read for the request's path and query (on the store's thread).
pub(crate) trait Load: Sized + Send + 'static {
    /// The parts of the request it is read for.
    type Request: FromRequestParts<AppState> + Send + 'static;

    /// Checks `request` (a bad one is a 400 before anything is read), then reads what it asks
    /// for.
    fn read(store: &mut dyn RecordReader, request: Self::Request) -> Result<Self, WebError>;
}

/// A page of a list (`/`, `/failures`) and the query it answers.
#[derive(Debug)]
pub(crate) struct List<T> {
    pub(crate) query: ListQuery,
    pub(crate) page: Page<T>,
}

/// A row of a list page.
pub(crate) trait Listed: Sized + Send + 'static {
    /// The page of rows that `query` asks for.
    fn page(store: &mut dyn RecordReader, query: &ListQuery) -> Result<Page<Self>, WebError>;

    /// The run the row is about: the next page starts after the last one's.
    fn record(&self) -> &ExecutionRecord;
}

impl Listed for ExecutionRecord {
    fn page(store: &mut dyn RecordReader, query: &ListQuery) -> Result<Page<Self>, WebError> {
        read::runs(store, query)
    }

    fn record(&self) -> &ExecutionRecord {
        self
    }
}

impl Listed for Failure {
    fn page(store: &mut dyn RecordReader, query: &ListQuery) -> Result<Page<Self>, WebError> {
        read::failures(store, query)
    }

    fn record(&self) -> &ExecutionRecord {
        &self.record
    }
}

impl<T: Listed> Load for List<T> {
    type Request = Query<ListParams>;

    fn read(store: &mut dyn RecordReader, request: Self::Request) -> Result<Self, WebError> {
        let query = request.check()?;
        let page = T::page(store, &query)?;
        Ok(List { query, page })
    }
}

/// `/runs/{run_id}?attempt=N`.
impl Load for RunView {
    type Request = (Path<String>, Query<RunParams>);

    fn read(store: &mut dyn RecordReader, request: Self::Request) -> Result<Self, WebError> {
        let (Path(run_id), Query(params)) = request;
        read::run(store, &run_id, params.attempt()?)
    }
}

/// `/pipelines/{name}?runs=N`.
impl Load for PipelineView {
    type Request = (Path<String>, Query<PipelineParams>);

    fn read(store: &mut dyn RecordReader, request: Self::Request) -> Result<Self, WebError> {
        let (Path(name), Query(params)) = request;
        read::pipeline(store, name, params.runs()?)
    }
}

/// Everything still running (`/running`).
pub(crate) type Running = Vec<RunningEntity>;

impl Load for Running {
    type Request = ();

    fn read(store: &mut dyn RecordReader, (): ()) -> Result<Self, WebError> {
        read::running(store)
    }
}
