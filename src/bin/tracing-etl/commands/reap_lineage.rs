//! The OpenLineage `ABORT` events of the entities `reap` marked abandoned, when the
//! OpenLineage variables are set (feature `openlineage`): the dead process's lineage writer
//! cannot send them any more.

use std::collections::BTreeSet;

use tracing_etl::lineage::{OpenLineageConfig, OpenLineageTransport};
use tracing_etl::store::RunFilter;
use tracing_etl::{ExecutionRecord, ExecutionRecordStore};

use crate::error::CliError;
use crate::store::Store;

/// Sends the events of the `reaped` end records (all `ABORT`) as the variables say; how many,
/// or `None` when no transport is configured.
pub(crate) fn send(
    store: &mut dyn Store,
    reaped: &[ExecutionRecord],
) -> Result<Option<usize>, CliError> {
    let config = OpenLineageConfig::from_env().map_err(|e| CliError::new(e.to_string()))?;
    let Some(config) = config else {
        return Ok(None);
    };
    let mut transport = OpenLineageTransport::new(&config);
    // The pipelines and processes of the reaped runs, for the job names and parents.
    let runs: BTreeSet<(String, u32)> = reaped
        .iter()
        .map(|r| (r.run.run_id.clone(), r.run.attempt))
        .collect();
    for (run_id, attempt) in runs {
        let filter = RunFilter::default().run_id(run_id).attempt(attempt);
        transport.remember(&store.read_pipelines(&filter)?);
        transport.remember(&store.read_processes(&filter)?);
    }
    transport
        .write_batch(reaped)
        .and_then(|()| transport.flush())
        .map_err(|e| CliError::new(format!("sending the OpenLineage ABORT events: {e}")))?;
    Ok(Some(reaped.len()))
}
