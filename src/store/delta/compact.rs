//! Compaction: the small files of each `started_date` rewritten as one, in one Delta commit per
//! table that removes them and adds the new file (`dataChange: false`, as `OPTIMIZE` does).

use std::collections::BTreeMap;

use deltalake::kernel::Action;
use deltalake::protocol::DeltaOperation;
use deltalake::writer::{DeltaWriter, RecordBatchWriter, WriteMode};
use deltalake::DeltaTable;

use super::log::commit;
use super::read::{data_files, read_file, DataFile};
use super::write::{conform, partition};
use super::DeltaError;

/// Files at least this large are left as they are: compaction only merges smaller ones.
pub const TARGET_FILE_SIZE: i64 = 128 * 1024 * 1024;

/// What compacting one table did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TableCompaction {
    /// Active data files before.
    pub files_before: usize,
    /// Active data files after.
    pub files_after: usize,
    /// The table version that compaction committed (`None`: nothing to merge).
    pub version: Option<i64>,
}

/// Merges the small files of every date of `table` that has more than one; returns what it did.
/// `table` is loaded with its file list, at its latest version.
pub(super) async fn compact_table(table: &mut DeltaTable) -> Result<TableCompaction, DeltaError> {
    let files = data_files(table)?;
    let files_before = files.len();
    // The small files per date, oldest first within each.
    let mut by_date: BTreeMap<Option<i32>, Vec<&DataFile>> = BTreeMap::new();
    for file in files.iter().filter(|f| f.size < TARGET_FILE_SIZE) {
        by_date.entry(file.date).or_default().push(file);
    }
    by_date.retain(|date, files| date.is_some() && files.len() > 1);
    if by_date.is_empty() {
        return Ok(TableCompaction {
            files_before,
            files_after: files_before,
            version: None,
        });
    }
    let mut writer = RecordBatchWriter::for_table(table)?;
    let schema = writer.arrow_schema();
    let mut actions: Vec<Action> = Vec::new();
    let mut merged = 0;
    for (date, files) in &by_date {
        let Some(days) = *date else { continue };
        for file in files {
            for batch in read_file(table, file).await? {
                // Files carry no partition column: the writer wants the table's full schema.
                let batch = conform(&batch, &schema, days)?;
                writer
                    .write_partition(batch, &partition(days), WriteMode::Default)
                    .await?;
            }
            actions.push(Action::Remove(file.view.remove_action(false)));
            merged += 1;
        }
    }
    let added = writer.flush().await?;
    let files_after = files_before - merged + added.len();
    actions.extend(added.into_iter().map(|mut add| {
        add.data_change = false;
        Action::Add(add)
    }));
    let operation = DeltaOperation::Optimize {
        predicate: None,
        target_size: TARGET_FILE_SIZE,
    };
    let version = commit(table, actions, operation).await?;
    Ok(TableCompaction {
        files_before,
        files_after,
        version: Some(version),
    })
}
