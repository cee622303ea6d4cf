//! Reads: the table's Parquet files (and the rows not yet committed) folded into the latest
//! record per entity, an end record winning over a start record.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use delta_kernel::expressions::Scalar;
use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{Int32Type, Int64Type, TimestampMicrosecondType};
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use deltalake::{DeltaTable, ObjectStore, Path};

use super::schema::{DeltaType, PARTITION_COLUMN};
use super::DeltaError;
use crate::error::StoreError;
use crate::record::columns::{self, Cell, Column};
use crate::record::{EntityKey, EntityKind, ExecutionRecord};

/// One data file of a table, as its log lists it.
pub(super) struct DataFile {
    /// Relative to the table's root.
    pub(super) path: Path,
    pub(super) size: i64,
    pub(super) modification_time: i64,
    /// `started_date` as days since 1970-01-01 (`None` for a file of a writer that did not
    /// partition by it).
    pub(super) date: Option<i32>,
    pub(super) view: deltalake::kernel::LogicalFileView,
}

/// The active files of `table`'s loaded version, oldest first (by modification time, then
/// path: rows of later commits come later).
pub(super) fn data_files(table: &DeltaTable) -> Result<Vec<DataFile>, DeltaError> {
    let mut files: Vec<DataFile> = table
        .snapshot()?
        .log_data()
        .into_iter()
        .map(|view| {
            let raw = view.path();
            let path = Path::parse(raw.as_ref()).unwrap_or_else(|_| Path::from(raw.as_ref()));
            let date = view.partition_values().and_then(|values| {
                values
                    .fields()
                    .iter()
                    .zip(values.values())
                    .find(|(field, _)| field.name() == PARTITION_COLUMN)
                    .and_then(|(_, value)| match value {
                        Scalar::Date(days) => Some(*days),
                        _ => None,
                    })
            });
            DataFile {
                path,
                size: view.size(),
                modification_time: view.modification_time(),
                date,
                view,
            }
        })
        .collect();
    files.sort_by(|a, b| {
        (a.modification_time, a.path.as_ref()).cmp(&(b.modification_time, b.path.as_ref()))
    });
    Ok(files)
}

/// The record batches of one Parquet file of `table`.
pub(super) async fn read_file(
    table: &DeltaTable,
    file: &DataFile,
) -> Result<Vec<RecordBatch>, DeltaError> {
    let bytes = table.object_store().get(&file.path).await?.bytes().await?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?
        .with_batch_size(64 * 1024)
        .build()?;
    Ok(reader.collect::<Result<Vec<_>, _>>()?)
}

/// The latest record per entity of `kind`, folded from batches in the order they were written.
#[derive(Debug)]
pub(super) struct Fold {
    kind: EntityKind,
    rows: Vec<ExecutionRecord>,
    index: HashMap<EntityKey, usize>,
}

impl Fold {
    pub(super) fn new(kind: EntityKind) -> Self {
        Fold {
            kind,
            rows: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// Folds the rows of `batch` that pass `keep` in; `place` names the batch in errors.
    pub(super) fn add(
        &mut self,
        batch: &RecordBatch,
        place: &str,
        keep: impl Fn(&ExecutionRecord) -> bool,
    ) -> Result<(), StoreError> {
        for record in records(self.kind, batch, place)? {
            if !keep(&record) {
                continue;
            }
            match self.index.entry(record.key()) {
                Entry::Occupied(slot) => {
                    let row = &mut self.rows[*slot.get()];
                    if record.supersedes(row) {
                        *row = record;
                    }
                }
                Entry::Vacant(slot) => {
                    slot.insert(self.rows.len());
                    self.rows.push(record);
                }
            }
        }
        Ok(())
    }

    pub(super) fn into_rows(self) -> Vec<ExecutionRecord> {
        self.rows
    }
}

/// One column of a batch, cast to the store's type.
struct Source<'a> {
    column: &'a Column,
    ty: DeltaType,
    array: Option<deltalake::arrow::array::ArrayRef>,
}

/// The rows of `batch` as records of `kind`. A column the batch lacks reads as its default (or
/// NULL); a value that does not fit its column is a [`StoreError::InvalidData`].
fn records(
    kind: EntityKind,
    batch: &RecordBatch,
    place: &str,
) -> Result<Vec<ExecutionRecord>, StoreError> {
    let invalid = |message: String| StoreError::invalid_data(place.to_owned(), message);
    let mut sources = Vec::with_capacity(columns::of(kind).len());
    for column in columns::of(kind) {
        let ty = DeltaType::of(column);
        let array = match batch.column_by_name(column.name) {
            Some(array) => Some(
                cast(array, &ty.arrow())
                    .map_err(|e| invalid(format!("column {}: {e}", column.name)))?,
            ),
            None if column.default.is_some() || !column.required(kind) => None,
            None => return Err(invalid(format!("no column {}", column.name))),
        };
        sources.push(Source { column, ty, array });
    }
    let mut out = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let mut record = columns::blank(kind);
        for source in &sources {
            let cell = match &source.array {
                Some(array) => cell(source.ty, array.as_ref(), row),
                None => source.column.default.map_or(Cell::Null, columns::cell),
            };
            source
                .column
                .set(&mut record, cell)
                .map_err(|e| invalid(format!("row {row}, column {}: {e}", source.column.name)))?;
        }
        out.push(record);
    }
    Ok(out)
}

/// The value at `row` of `array` (already cast to `ty`'s Arrow type).
fn cell(ty: DeltaType, array: &dyn Array, row: usize) -> Cell {
    if array.is_null(row) {
        return Cell::Null;
    }
    match ty {
        DeltaType::String => Cell::Text(array.as_string::<i32>().value(row).to_owned()),
        DeltaType::Long => Cell::Integer(array.as_primitive::<Int64Type>().value(row).into()),
        DeltaType::Int => Cell::Integer(array.as_primitive::<Int32Type>().value(row).into()),
        DeltaType::Boolean => Cell::Bool(array.as_boolean().value(row)),
        DeltaType::Timestamp => {
            let micros = array.as_primitive::<TimestampMicrosecondType>().value(row);
            DateTime::<Utc>::from_timestamp_micros(micros).map_or(Cell::Null, Cell::Time)
        }
        // No record column is a date (the partition column is not read back).
        DeltaType::Date => Cell::Null,
    }
}
