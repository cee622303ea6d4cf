//! One module per subcommand. Each reads the store, prints through [`Ui`](crate::output::Ui)
//! and returns the exit status.

pub(crate) mod failures;
pub(crate) mod reap;
pub(crate) mod replay;
pub(crate) mod running;
pub(crate) mod runs;
pub(crate) mod show;

use tracing_etl::ExecutionRecord;

use crate::output::{record_json, Ui};

/// Pipeline runs as a JSON array of objects keyed by their columns (plus `trace_url`).
pub(crate) fn pipelines_json(ui: &Ui, runs: &[ExecutionRecord]) -> serde_json::Value {
    serde_json::Value::Array(
        runs.iter()
            .map(|r| record_json(ui, r, false).into())
            .collect(),
    )
}
