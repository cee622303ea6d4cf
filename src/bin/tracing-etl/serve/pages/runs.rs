//! `/`: pipeline runs, newest first, filtered by pipeline, status and start time, a page at a
//! time.

use chrono::Utc;
use maud::Markup;
use tracing_etl::{ExecutionRecord, RunStatus};

use super::list::{runs_table, ListPage};
use super::Render;
use crate::serve::load::List;
use crate::serve::AppState;

impl Render for List<ExecutionRecord> {
    fn render(&self, _: &AppState) -> Markup {
        let runs = &self.page.items;
        let live = runs.iter().any(|r| r.outcome.status == RunStatus::Running);
        ListPage::RUNS.layout(self, live, runs_table(runs, Utc::now(), true))
    }
}
