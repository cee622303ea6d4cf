//! One module per subcommand. Each reads the store, prints through [`Ui`](crate::output::Ui)
//! and returns the exit status.

pub(crate) mod failures;
pub(crate) mod reap;
pub(crate) mod replay;
pub(crate) mod running;
pub(crate) mod runs;
pub(crate) mod show;

use tracing_etl::PipelineRunRecord;

use crate::output::{record_json, Ui};

/// Pipeline runs as a JSON array of objects keyed by the record fields (plus `trace_url`).
pub(crate) fn pipelines_json(ui: &Ui, runs: &[PipelineRunRecord]) -> serde_json::Value {
    serde_json::Value::Array(
        runs.iter()
            .map(|r| record_json(ui, r, r.trace_id.as_deref(), r.span_id.as_deref()).into())
            .collect(),
    )
}
