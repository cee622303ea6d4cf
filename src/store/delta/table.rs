//! One of the three tables: its log as this store appends to it, its file list as reads see
//! it, and the rows not committed yet.

use std::collections::HashMap;
use std::future::IntoFuture;

use deltalake::arrow::array::RecordBatch;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::create::CreateBuilder;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, TableProperty};
use url::Url;

use super::compact::{self, TableCompaction};
use super::location::{self, Load};
use super::schema::{self, PARTITION_COLUMN};
use super::{log, write, DeltaError};
use crate::error::StoreError;
use crate::record::EntityKind;
use crate::store::runtime::Rt;

/// One table of a store.
pub(super) struct Table {
    pub(super) kind: EntityKind,
    pub(super) url: Url,
    /// The root's storage options (none for a directory).
    options: HashMap<String, String>,
    /// The table as appends commit to it ([`Load::LogOnly`]: no file list, so that a commit
    /// costs the same in a table of ten files or of ten thousand). `None` until
    /// [`open_for_writing`](Self::open_for_writing), and always in a read-only store.
    log: Option<DeltaTable>,
    /// The table with its file list ([`Load::Files`]), for reads and compaction: loaded by the
    /// first of them and brought up to date by each. `None` until then, and while the table
    /// does not exist.
    files: Option<DeltaTable>,
    /// Record batches not committed yet, and their rows.
    pub(super) pending: Vec<RecordBatch>,
    pub(super) pending_rows: usize,
    /// A checkpoint is owed: a commit reached the table's checkpoint interval, or writing the
    /// checkpoint failed and the next commit tries again.
    checkpoint_owed: bool,
}

impl Table {
    pub(super) fn new(kind: EntityKind, url: Url, options: HashMap<String, String>) -> Table {
        Table {
            kind,
            url,
            options,
            log: None,
            files: None,
            pending: Vec::new(),
            pending_rows: 0,
            checkpoint_owed: false,
        }
    }

    pub(super) fn error(&self, what: &str, source: DeltaError) -> StoreError {
        StoreError::Delta {
            context: format!("delta table {}: {what}", self.url),
            source,
        }
    }

    /// Loads the table for appending, creating it if there is none and adding the columns of
    /// this release it lacks.
    pub(super) fn open_for_writing(&mut self, runtime: &Rt) -> Result<(), StoreError> {
        let delta = open_or_create(runtime, self.kind, &self.url, &self.options)
            .map_err(|e| self.error("open or create", e))?;
        self.log = Some(evolve_schema(self, delta, runtime)?);
        Ok(())
    }

    /// Appends the pending rows in one commit, and forgets them once committed. A commit that
    /// reaches the table's checkpoint interval then writes a checkpoint; failing to write one
    /// is a warning (the rows are committed), and the next commit tries again.
    pub(super) fn commit(&mut self, runtime: &Rt) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let Some(delta) = self.log.as_mut() else {
            return Err(self.error("commit", "the table is not open for writing".into()));
        };
        let version = match runtime.block_on(write::append(delta, &self.pending)) {
            Ok(version) => version,
            Err(e) => {
                // The next try starts from the table's latest version (another writer's
                // commit may be what failed this one).
                let _ = runtime.block_on(log::reload(delta, None));
                return Err(self.error("commit", e));
            }
        };
        self.pending.clear();
        self.pending_rows = 0;
        self.checkpoint_owed |= log::checkpoint_due(delta, version);
        if self.checkpoint_owed {
            match runtime.block_on(log::checkpoint(delta)) {
                Ok(()) => self.checkpoint_owed = false,
                Err(e) => tracing::warn!(
                    target: "tracing_etl",
                    "delta table {}: version {version} is committed, but writing its \
                     checkpoint failed (the next commit tries again): {e}",
                    self.url
                ),
            }
        }
        Ok(())
    }

    /// Brings the table with its file list to its latest version (loading it the first time,
    /// once the table exists); [`files`](Self::files) then has it.
    pub(super) fn refresh_files(&mut self, runtime: &Rt) -> Result<(), StoreError> {
        let loaded = match &mut self.files {
            Some(delta) => runtime.block_on(delta.update_state()).map_err(Into::into),
            None => open_existing(runtime, &self.url, &self.options, Load::Files).map(|delta| {
                self.files = delta;
            }),
        };
        loaded.map_err(|e| self.error("load", e))
    }

    /// The table with its file list as [`refresh_files`](Self::refresh_files) last loaded it,
    /// `None` while there is no table.
    pub(super) fn files(&self) -> Option<&DeltaTable> {
        self.files.as_ref()
    }

    /// Compacts the table's small files ([`compact::compact_table`]).
    pub(super) fn compact(&mut self, runtime: &Rt) -> Result<TableCompaction, StoreError> {
        self.refresh_files(runtime)?;
        let Some(delta) = self.files.as_mut() else {
            return Ok(TableCompaction::default());
        };
        let compaction = runtime
            .block_on(compact::compact_table(delta))
            .map_err(|e| self.error("compact", e))?;
        // Appends go on from the compaction's version, not through a conflict check.
        if let Some(log) = self.log.as_mut() {
            runtime
                .block_on(log::reload(log, None))
                .map_err(|e| self.error("load", e))?;
        }
        Ok(compaction)
    }
}

/// Loads the table at `url` for appending ([`Load::LogOnly`]), or creates it (empty, with its
/// schema and partition column). Two programs creating it at once both end up with the one
/// that won.
fn open_or_create(
    runtime: &Rt,
    kind: EntityKind,
    url: &Url,
    options: &HashMap<String, String>,
) -> Result<DeltaTable, DeltaError> {
    if let Some(table) = open_existing(runtime, url, options, Load::LogOnly)? {
        return Ok(table);
    }
    let log_store = location::unloaded_table(url, options.clone(), Load::LogOnly)?.log_store();
    let create = CreateBuilder::new()
        .with_log_store(log_store)
        .with_table_name(kind.table())
        .with_columns(schema::delta_fields(kind))
        .with_partition_columns([PARTITION_COLUMN])
        .with_configuration_property(
            TableProperty::CheckpointInterval,
            Some(log::CHECKPOINT_INTERVAL.to_string()),
        )
        .with_save_mode(SaveMode::Ignore)
        // Losing the race for version 0 must not commit a second table's metadata on top.
        .with_commit_properties(CommitProperties::default().with_max_retries(0));
    let created = runtime.block_on(create.into_future());
    // Loaded again either way: the created table comes with a file list, and losing the race
    // means another program created it between our look and our commit.
    match (open_existing(runtime, url, options, Load::LogOnly), created) {
        (Ok(Some(table)), _) => Ok(table),
        (_, Err(e)) => Err(e.into()),
        (Err(e), Ok(_)) => Err(e),
        (Ok(None), Ok(_)) => Err("the table just created is not there".into()),
    }
}

/// The table at `url` at its latest version, loaded as `load` says; `None` when there is no
/// table there. The table is built outside the runtime (see [`location::unloaded_table`]).
fn open_existing(
    runtime: &Rt,
    url: &Url,
    options: &HashMap<String, String>,
    load: Load,
) -> Result<Option<DeltaTable>, DeltaError> {
    let mut table = location::unloaded_table(url, options.clone(), load)?;
    runtime.block_on(async move {
        if !table.verify_deltatable_existence().await? {
            return Ok(None);
        }
        table.load().await?;
        Ok::<_, DeltaError>(Some(table))
    })
}

/// An existing table must have every column this release writes: the nullable ones it lacks
/// are added (schema evolution), a missing column that cannot be NULL is an error.
fn evolve_schema(table: &Table, delta: DeltaTable, runtime: &Rt) -> Result<DeltaTable, StoreError> {
    let schema = delta
        .snapshot()
        .map_err(|e| table.error("read schema", e.into()))?
        .schema();
    let (addable, required): (Vec<_>, Vec<_>) = schema::delta_fields(table.kind)
        .into_iter()
        .filter(|f| schema.field(f.name()).is_none())
        .partition(|f| f.is_nullable());
    if required.is_empty() {
        if addable.is_empty() {
            return Ok(delta);
        }
        let add = delta
            .add_columns()
            .with_fields(addable)
            .with_commit_properties(log::commit_properties());
        return runtime
            .block_on(add.into_future())
            .map_err(|e| table.error("add the columns of this release", e.into()));
    }
    let missing: Vec<String> = required.iter().map(|f| f.name().clone()).collect();
    Err(StoreError::invalid_data(
        format!("delta table {}", table.url),
        format!(
            "not a {} table: no column {}",
            table.kind.table(),
            missing.join(", ")
        ),
    ))
}
