//! Query strings: filters and pages, checked, with a clear 400 for a bad value.
//!
//! Empty values (a filter form sent with a field left blank) mean "not given".

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tracing_etl::store::{RunFilter, RunPosition};
use tracing_etl::{ExecutionRecord, RunStatus};

use super::error::WebError;
use super::read::{DEFAULT_PIPELINE_RUNS, MAX_PIPELINE_RUNS};

/// Rows per page when `per_page` is not given.
pub(crate) const DEFAULT_PER_PAGE: usize = 50;
/// The most rows a page may ask for.
pub(crate) const MAX_PER_PAGE: usize = 500;
/// The deepest a page by number may start: it reads and skips the rows before it. Past it,
/// the "Older" links (`before`) read from the index however deep.
pub(crate) const MAX_OFFSET: usize = 10_000;

/// `?pipeline=&status=&since=&page=&per_page=&before=` as sent.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListParams {
    pipeline: Option<String>,
    status: Option<String>,
    since: Option<String>,
    page: Option<String>,
    per_page: Option<String>,
    before: Option<String>,
}

/// A checked list query.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListQuery {
    pub(crate) pipeline: Option<String>,
    pub(crate) status: Option<RunStatus>,
    /// The `since` text as given (to put back in links and forms) and the time it names.
    pub(crate) since: Option<(String, DateTime<Utc>)>,
    /// 1-based. With [`before`](Self::before), only the page's number as shown.
    pub(crate) page: usize,
    pub(crate) per_page: usize,
    /// Only runs older than this one (the last of the page before): the page starts there,
    /// read off the index with no rows skipped.
    pub(crate) before: Option<RunPosition>,
}

/// The separator of the parts of a `before` value.
const CURSOR_SEPARATOR: char = '~';

/// `record`'s position as a `before` value: `START~ATTEMPT~RUN_ID` (the start time in RFC 3339
/// with nanoseconds; a run id may hold the separator, since it comes last).
pub(crate) fn cursor(record: &ExecutionRecord) -> String {
    format!(
        "{}{CURSOR_SEPARATOR}{}{CURSOR_SEPARATOR}{}",
        record
            .started_at
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        record.run.attempt,
        record.run.run_id
    )
}

/// The position a `before` value names.
fn parse_cursor(text: &str) -> Result<RunPosition, WebError> {
    let bad = || {
        WebError::bad_request(format!(
            "before={text:?}: expected START~ATTEMPT~RUN_ID, as the \"Older\" link gives"
        ))
    };
    let mut parts = text.splitn(3, CURSOR_SEPARATOR);
    let (Some(start), Some(attempt), Some(run_id)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let started_at = DateTime::parse_from_rfc3339(start).map_err(|_| bad())?;
    let attempt = attempt.parse::<u32>().map_err(|_| bad())?;
    Ok(RunPosition::new(
        started_at.with_timezone(&Utc),
        run_id,
        attempt,
    ))
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn number(name: &str, value: &Option<String>, default: usize) -> Result<usize, WebError> {
    match given(value) {
        None => Ok(default),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                WebError::bad_request(format!("{name}={text:?}: expected a number >= 1"))
            }),
    }
}

impl ListParams {
    pub(crate) fn check(&self) -> Result<ListQuery, WebError> {
        let status = given(&self.status)
            .map(|text| {
                text.parse::<RunStatus>().map_err(|_| {
                    WebError::bad_request(format!(
                        "status={text:?}: expected running, success or failed"
                    ))
                })
            })
            .transpose()?;
        let since = given(&self.since)
            .map(|text| {
                crate::args::parse_since(text)
                    .map(|t| (text.to_owned(), t))
                    .map_err(|e| WebError::bad_request(format!("since: {e}")))
            })
            .transpose()?;
        let page = number("page", &self.page, 1)?;
        let per_page = number("per_page", &self.per_page, DEFAULT_PER_PAGE)?;
        if per_page > MAX_PER_PAGE {
            return Err(WebError::bad_request(format!(
                "per_page={per_page}: at most {MAX_PER_PAGE}"
            )));
        }
        let query = ListQuery {
            pipeline: given(&self.pipeline).map(str::to_owned),
            status,
            since,
            page,
            per_page,
            before: given(&self.before).map(parse_cursor).transpose()?,
        };
        if query.offset() > MAX_OFFSET {
            return Err(WebError::bad_request(format!(
                "page={page}: pages by number reach back at most {MAX_OFFSET} rows; follow the \
                 \"Older\" links (before=) or narrow the list with since or pipeline"
            )));
        }
        Ok(query)
    }
}

impl ListQuery {
    /// Rows the store skips before this page: none when the page starts at a `before` bound.
    pub(crate) fn offset(&self) -> usize {
        if self.before.is_some() {
            return 0;
        }
        (self.page - 1).saturating_mul(self.per_page)
    }

    /// The store filter for this page and one row more (to know whether a next page exists),
    /// newest first.
    pub(crate) fn filter(&self) -> RunFilter {
        let mut filter = RunFilter::default()
            .newest_first()
            .limit(self.offset() + self.per_page + 1);
        if let Some(status) = self.status {
            filter = filter.status(status);
        }
        if let Some(pipeline) = &self.pipeline {
            filter = filter.name(pipeline.clone());
        }
        if let Some((_, since)) = &self.since {
            filter = filter.since(*since);
        }
        if let Some(before) = &self.before {
            filter = filter.before(before.clone());
        }
        filter
    }

    /// The query string of this query at another page by number (for the pagination links).
    pub(crate) fn at_page(&self, page: usize) -> String {
        self.link(page, None)
    }

    /// The query string of the page after this one, whose last row is `last`: older runs than
    /// it, read from the bound.
    pub(crate) fn older_than(&self, last: &ExecutionRecord) -> String {
        self.link(self.page + 1, Some(cursor(last)))
    }

    /// The query string of this query at page `page`, starting after `before` when given.
    fn link(&self, page: usize, before: Option<String>) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(pipeline) = &self.pipeline {
            pairs.push(("pipeline", pipeline.clone()));
        }
        if let Some(status) = self.status {
            pairs.push(("status", status.as_str().to_owned()));
        }
        if let Some((text, _)) = &self.since {
            pairs.push(("since", text.clone()));
        }
        if self.per_page != DEFAULT_PER_PAGE {
            pairs.push(("per_page", self.per_page.to_string()));
        }
        pairs.push(("page", page.to_string()));
        if let Some(before) = before {
            pairs.push(("before", before));
        }
        let encoded: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", percent_encode(v)))
            .collect();
        format!("?{}", encoded.join("&"))
    }
}

/// `?attempt=N` of a run page.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RunParams {
    attempt: Option<String>,
}

impl RunParams {
    pub(crate) fn attempt(&self) -> Result<Option<u32>, WebError> {
        given(&self.attempt)
            .map(|text| {
                text.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    WebError::bad_request(format!("attempt={text:?}: expected a number >= 1"))
                })
            })
            .transpose()
    }
}

/// `text` with every byte but unreserved ones (RFC 3986) percent-encoded: safe in a path
/// segment and in a query value.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `?runs=N` of a pipeline page.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PipelineParams {
    runs: Option<String>,
}

impl PipelineParams {
    pub(crate) fn runs(&self) -> Result<usize, WebError> {
        let runs = number("runs", &self.runs, DEFAULT_PIPELINE_RUNS)?;
        if runs > MAX_PIPELINE_RUNS {
            return Err(WebError::bad_request(format!(
                "runs={runs}: at most {MAX_PIPELINE_RUNS}"
            )));
        }
        Ok(runs)
    }
}
