//! `tracing-etl report RUN`: a run's page as one self-contained HTML file — the stylesheet and
//! the timeline inline, no script, no link back to a server — to attach to a ticket or keep as
//! a CI artifact.

use std::fmt::Write as _;

use crate::args::ReportArgs;
use crate::commands::show::resolve;
use crate::error::CliError;
use crate::escape::replace_unsafe;
use crate::output::{stderr_line, TraceUrl, Ui};
use crate::store::Store;

use super::pages::run::{body, Links};
use super::pages::standalone;
use super::read::{view, ViewError};

pub(crate) fn run(
    store: &mut dyn Store,
    args: &ReportArgs,
    trace_url: Option<&TraceUrl>,
    ui: &mut Ui,
) -> Result<u8, CliError> {
    let (run_id, attempts) = resolve(store, &args.run.id)?;
    let view = view(store, &run_id, attempts, args.run.attempt).map_err(|e| match e {
        ViewError::NoAttempt(e) | ViewError::Store(e) => e,
    })?;
    let p = &view.pipeline;
    let page = standalone(
        &format!("Run {} (attempt {})", p.run.run_id, p.run.attempt),
        body(&view, trace_url, Links::Standalone),
    )
    .into_string();
    match &args.output {
        Some(path) => {
            std::fs::write(path, page)
                .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))?;
            stderr_line(format_args!("tracing-etl: wrote {}", path.display()));
        }
        // Control characters as character references: the page stays the same page, and
        // prints harmlessly on a terminal.
        None => ui.json_line(&html_safe(&page)),
    }
    Ok(0)
}

/// `page` with every character a terminal could obey, other than newlines and tabs, written as
/// an HTML character reference.
fn html_safe(page: &str) -> String {
    replace_unsafe(page, |out, c| write!(out, "&#x{c:x};"))
}
