//! The HTML pages, rendered server-side with `maud`, which escapes every value it splices in
//! (text and attribute values alike, attributes always quoted): a stored string is shown as
//! text, never run. Links carry only percent-encoded ids and names, and a trace link only when
//! it is an `http(s)` URL.

mod failures;
mod list;
mod pipeline;
pub(crate) mod run;
mod run_summary;
mod running;
mod runs;
mod timeline;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use tracing_etl::{ExecutionRecord, RunStatus};

use super::assets::{LIVE_PATH, STYLE, STYLE_PATH};
use super::error::WebError;
use super::load::Load;
use super::query::percent_encode;
use super::AppState;
use crate::output::{duration_ms, elapsed, time};

/// How often a page that shows running runs reloads itself, in seconds.
pub(crate) const LIVE_SECONDS: u32 = 5;

/// A whole page: `title`, the navigation, `body`; with `live`, the page reloads itself every
/// [`LIVE_SECONDS`] (through the compiled-in script: no inline script).
pub(crate) fn layout(title: &str, live: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · tracing-etl" }
                link rel="stylesheet" href=(STYLE_PATH);
                script src=(LIVE_PATH) defer {}
            }
            body data-live=[live.then_some(LIVE_SECONDS)] {
                header {
                    span.brand { "tracing-etl" }
                    a href="/" { "Runs" }
                    a href="/failures" { "Failures" }
                    a href="/running" { "Running" }
                }
                main { (body) }
            }
        }
    }
}

/// A page that is a file of its own: the stylesheet inline, no script (its policy forbids any),
/// nothing loaded from elsewhere.
pub(crate) fn standalone(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy"
                    content="default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; script-src 'none'";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · tracing-etl" }
                // Our own stylesheet, compiled in: nothing of the history in it.
                style { (PreEscaped(STYLE)) }
            }
            body { main { (body) } }
        }
    }
}

/// A page for an error: its status and message.
pub(crate) fn error_page(e: WebError) -> Response {
    let title = e.status.canonical_reason().unwrap_or("Error");
    let body = layout(
        title,
        false,
        html! {
            h1 { (e.status.as_u16()) " " (title) }
            p.error { (e.message) }
            p { a href="/" { "All runs" } }
        },
    );
    (e.status, body).into_response()
}

/// A page's data as HTML.
pub(crate) trait Render: Load {
    fn render(&self, state: &AppState) -> Markup;
}

/// `GET` of a page: its data read and rendered; a bad request or a failed read is the error
/// page.
pub(crate) async fn page<T: Render>(
    State(state): State<AppState>,
    request: T::Request,
) -> Response {
    match state.history.read(|store| T::read(store, request)).await {
        Ok(data) => data.render(&state).into_response(),
        Err(e) => error_page(e),
    }
}

/// A table of class `class`: a header row of `head`, then `rows`.
pub(crate) fn table(class: &str, head: &[&str], rows: Markup) -> Markup {
    html! {
        table class=(class) {
            thead { tr { @for h in head { th { (h) } } } }
            tbody { (rows) }
        }
    }
}

/// The link to a run's page (an attempt of it, with `attempt`).
pub(crate) fn run_href(run_id: &str, attempt: Option<u32>) -> String {
    match attempt {
        Some(n) => format!("/runs/{}?attempt={n}", percent_encode(run_id)),
        None => format!("/runs/{}", percent_encode(run_id)),
    }
}

/// The link to one pipeline's page.
pub(crate) fn pipeline_page_href(name: &str) -> String {
    format!("/pipelines/{}", percent_encode(name))
}

/// The link to the runs of one pipeline.
pub(crate) fn pipeline_href(name: &str) -> String {
    format!("/?pipeline={}", percent_encode(name))
}

/// A status, styled.
pub(crate) fn status(status: RunStatus) -> Markup {
    html! { span class=(format!("status-{}", status.as_str())) { (status.as_str()) } }
}

/// `2026-11-28 03:12:45` in a `<time>` element.
pub(crate) fn when(t: DateTime<Utc>) -> Markup {
    html! { time datetime=(t.to_rfc3339()) { (time(t)) } }
}

/// How long a record took, or for a running one, how long it has been running.
pub(crate) fn took(record: &ExecutionRecord, now: DateTime<Utc>) -> String {
    if record.outcome.status == RunStatus::Running {
        format!("running for {}", elapsed(record.started_at, now))
    } else {
        duration_ms(record.outcome.duration_ms)
    }
}

/// A trace link as a link when it is an `http(s)` URL, else as text.
pub(crate) fn trace_link(url: &str) -> Markup {
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    if matches!(scheme.as_deref(), Some("http" | "https")) {
        html! { a href=(url) rel="noreferrer noopener" { (url) } }
    } else {
        html! { code { (url) } }
    }
}
