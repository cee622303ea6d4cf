//! Writes: records become one Arrow record batch per table as they arrive; a flush writes each
//! table's pending rows as one Parquet file per `started_date` and commits them in one Delta
//! commit. A failed flush keeps the rows for the next one.

use std::sync::Arc;

use delta_kernel::expressions::Scalar;
use deltalake::arrow::array::{
    new_null_array, ArrayRef, BooleanBuilder, Date32Array, Date32Builder, Int32Builder,
    Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::kernel::Action;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter, WriteMode};
use deltalake::DeltaTable;
use indexmap::IndexMap;

use super::schema::{arrow_schema, DeltaType, PARTITION_COLUMN, UTC};
use super::{log, DeltaError};
use crate::record::columns::{self, Value};
use crate::record::{EntityKind, ExecutionRecord};

/// `records` (all of `kind`) as a record batch of `kind`'s table, in order.
pub(super) fn record_batch(
    kind: EntityKind,
    records: &[&ExecutionRecord],
) -> Result<RecordBatch, DeltaError> {
    let n = records.len();
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns::of(kind).len() + 1);
    for column in columns::of(kind) {
        let values = records.iter().map(|r| column.get(r));
        arrays.push(array(DeltaType::of(column), n, values));
    }
    let mut dates = Date32Builder::with_capacity(n);
    for record in records {
        dates.append_value(date32(record));
    }
    arrays.push(Arc::new(dates.finish()));
    Ok(RecordBatch::try_new(arrow_schema(kind), arrays)?)
}

/// The `started_date` of a record, as an Arrow `Date32`: days since 1970-01-01 of its UTC
/// date, the same number as [`epoch_days`] gives, without building the date.
fn date32(record: &ExecutionRecord) -> i32 {
    saturating_days(record.started_at.timestamp().div_euclid(86_400))
}

/// `date` as an Arrow `Date32`: days since 1970-01-01 (every date chrono has fits).
pub(super) fn epoch_days(date: chrono::NaiveDate) -> i32 {
    saturating_days((date - chrono::DateTime::UNIX_EPOCH.date_naive()).num_days())
}

/// A count of days as an Arrow `Date32`, saturated at its bounds.
fn saturating_days(days: i64) -> i32 {
    i32::try_from(days).unwrap_or(if days < 0 { i32::MIN } else { i32::MAX })
}

/// One column's values as an array of `ty`. A value of another kind than the column's (which
/// the column table never yields) is NULL.
fn array<'a>(ty: DeltaType, n: usize, values: impl Iterator<Item = Value<'a>>) -> ArrayRef {
    match ty {
        DeltaType::String => {
            let mut b = StringBuilder::with_capacity(n, n * 16);
            values.for_each(|v| b.append_option(v.text_or_json()));
            Arc::new(b.finish())
        }
        DeltaType::Long => {
            let mut b = Int64Builder::with_capacity(n);
            values.for_each(|v| {
                b.append_option(v.integer().map(|n| i64::try_from(n).unwrap_or(i64::MAX)))
            });
            Arc::new(b.finish())
        }
        DeltaType::Int => {
            let mut b = Int32Builder::with_capacity(n);
            values.for_each(|v| {
                b.append_option(v.integer().map(|n| i32::try_from(n).unwrap_or(i32::MAX)))
            });
            Arc::new(b.finish())
        }
        DeltaType::Boolean => {
            let mut b = BooleanBuilder::with_capacity(n);
            values.for_each(|v| b.append_option(v.boolean()));
            Arc::new(b.finish())
        }
        DeltaType::Timestamp => {
            let mut b = TimestampMicrosecondBuilder::with_capacity(n).with_timezone(UTC);
            values.for_each(|v| b.append_option(v.time().map(|t| t.timestamp_micros())));
            Arc::new(b.finish())
        }
        DeltaType::Date => {
            let mut b = Date32Builder::with_capacity(n);
            values.for_each(|_| b.append_null());
            Arc::new(b.finish())
        }
    }
}

/// The rows of `batch` by `started_date` (its last column), one batch per date in the order
/// the dates first appear, rows in order within each: `batch` itself when it holds one date.
fn by_date(batch: &RecordBatch) -> Result<Vec<(i32, RecordBatch)>, DeltaError> {
    use deltalake::arrow::array::{AsArray, UInt32Array};
    use deltalake::arrow::compute::take_record_batch;
    use deltalake::arrow::datatypes::Date32Type;

    let dates = batch
        .column(batch.num_columns() - 1)
        .as_primitive::<Date32Type>();
    let Some(first) = dates.values().first().copied() else {
        return Ok(Vec::new());
    };
    if dates.values().iter().all(|&d| d == first) {
        return Ok(vec![(first, batch.clone())]);
    }
    let mut rows: IndexMap<i32, Vec<u32>> = IndexMap::new();
    for (i, &date) in dates.values().iter().enumerate() {
        let row = u32::try_from(i).map_err(|_| "a batch of more than 2^32 rows")?;
        rows.entry(date).or_default().push(row);
    }
    rows.into_iter()
        .map(|(date, indices)| Ok((date, take_record_batch(batch, &UInt32Array::from(indices))?)))
        .collect()
}

/// `batch` with the columns of `schema`, by name, each cast to its type; a column `batch` lacks
/// is NULL, and the partition column holds `date`.
pub(super) fn conform(
    batch: &RecordBatch,
    schema: &SchemaRef,
    date: i32,
) -> Result<RecordBatch, DeltaError> {
    if batch.schema() == *schema {
        // Rows of one date as the store builds them: the partition column holds `date`.
        return Ok(batch.clone());
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let column = if field.name() == PARTITION_COLUMN {
            Arc::new(Date32Array::from(vec![date; batch.num_rows()])) as ArrayRef
        } else {
            match batch.column_by_name(field.name()) {
                Some(column) => cast(column, field.data_type())?,
                None => new_null_array(field.data_type(), batch.num_rows()),
            }
        };
        columns.push(column);
    }
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// The partition of one date, as the writer takes it.
pub(super) fn partition(date: i32) -> IndexMap<String, Scalar> {
    IndexMap::from([(PARTITION_COLUMN.to_owned(), Scalar::Date(date))])
}

/// Writes `batches` to `table` as one Parquet file per date (each date's rows in the order of
/// `batches`, without copying them into one batch first) and commits them in one append: the
/// table's new version.
pub(super) async fn append(
    table: &mut DeltaTable,
    batches: &[RecordBatch],
) -> Result<i64, DeltaError> {
    let mut writer = RecordBatchWriter::for_table(table)?;
    let schema = writer.arrow_schema();
    for batch in batches {
        for (date, rows) in by_date(batch)? {
            let rows = conform(&rows, &schema, date)?;
            writer
                .write_partition(rows, &partition(date), WriteMode::Default)
                .await?;
        }
    }
    let adds = writer.flush().await?;
    let actions: Vec<Action> = adds.into_iter().map(Action::Add).collect();
    log::commit(table, actions, write_operation()).await
}

/// An append, as the Delta log records it.
fn write_operation() -> DeltaOperation {
    DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: Some(vec![PARTITION_COLUMN.to_owned()]),
        predicate: None,
    }
}
