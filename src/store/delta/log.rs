//! The Delta log: commits, and the checkpoints that keep loading a table cheap.
//!
//! A commit here skips deltalake's post-commit checkpoint and log cleanup: its checkpoint
//! needs the table loaded with its file list, which appends do without
//! ([`Load::LogOnly`](super::location::Load)), and its cleanup lists the whole log at every
//! commit. The store writes the checkpoint itself when a commit reaches the table's
//! checkpoint interval, and cleans the log up then, as Delta's writers do.

use deltalake::checkpoints::{cleanup_metadata, create_checkpoint};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::Action;
use deltalake::protocol::DeltaOperation;
use deltalake::table::config::TablePropertiesExt as _;
use deltalake::table::state::DeltaTableState;
use deltalake::DeltaTable;

use super::DeltaError;

/// The checkpoint interval (`delta.checkpointInterval`) of the tables the store creates: a
/// checkpoint every ten commits, Spark's default (deltalake's is 100). Between checkpoints
/// every commit replays the log since the last one, so ten keeps a commit cheap; a checkpoint
/// costs one pass over the table's file list.
pub(super) const CHECKPOINT_INTERVAL: u64 = 10;

/// The properties of every commit of the store: deltalake's own retries on a concurrent
/// commit, no post-commit checkpoint or cleanup (see the module's documentation).
pub(super) fn commit_properties() -> CommitProperties {
    CommitProperties::default()
        .with_create_checkpoint(false)
        .with_cleanup_expired_logs(Some(false))
}

/// Commits `actions` to `table` (retrying on a concurrent writer's commit, which an append
/// never conflicts with) and brings `table` to the new version: the version.
pub(super) async fn commit(
    table: &mut DeltaTable,
    actions: Vec<Action>,
    operation: DeltaOperation,
) -> Result<i64, DeltaError> {
    let snapshot = table.snapshot()?;
    let committed = CommitBuilder::from(commit_properties())
        .with_actions(actions)
        .build(Some(snapshot), table.log_store(), operation)
        .into_prepared_commit_future()
        .await?
        .await?;
    let version = committed.version;
    if table.config.require_files {
        // The post-commit step brings the file list up to date with the commit.
        table.state = Some(committed.await?.snapshot());
    } else {
        // If the reload fails, the commit still stands and the state stays at the version
        // before it: the next commit finds this one newer, checks it for conflicts (an
        // append has none) and goes on.
        let _ = reload(table, Some(version)).await;
    }
    Ok(version)
}

/// Loads `table`'s state afresh at `version` (the latest when `None`). For a table loaded
/// without its file list this costs less than bringing the state up to date: deltalake's
/// update re-reads every file the state has seen added since it was loaded, a fresh load only
/// the log since the last checkpoint (at most [`CHECKPOINT_INTERVAL`] commits in the tables
/// the store creates).
pub(super) async fn reload(table: &mut DeltaTable, version: Option<i64>) -> Result<(), DeltaError> {
    let state =
        DeltaTableState::try_new(table.log_store().as_ref(), table.config.clone(), version).await?;
    table.state = Some(state);
    Ok(())
}

/// Whether the commit of `version` is one the table wants a checkpoint after: every
/// `delta.checkpointInterval` commits (100 unless the table says otherwise), the rule of
/// Delta's own writers.
pub(super) fn checkpoint_due(table: &DeltaTable, version: i64) -> bool {
    let Ok(snapshot) = table.snapshot() else {
        return false;
    };
    let interval = snapshot.table_config().checkpoint_interval().get();
    u64::try_from(version).is_ok_and(|v| (v + 1) % interval == 0)
}

/// Writes a checkpoint of `table`'s loaded version, then (unless the table sets
/// `delta.enableExpiredLogCleanup` to false) deletes the log entries older than its
/// `delta.logRetentionDuration` (30 days unless set) that the checkpoint makes unnecessary.
pub(super) async fn checkpoint(table: &DeltaTable) -> Result<(), DeltaError> {
    create_checkpoint(table, None).await?;
    if table
        .snapshot()?
        .table_config()
        .enable_expired_log_cleanup()
    {
        cleanup_metadata(table, None).await?;
    }
    Ok(())
}
