//! The tables' schema, from the one column table ([`crate::record::columns`]): each column's
//! Delta and Arrow types, and the `started_date` partition column.

use std::sync::Arc;

use deltalake::arrow::datatypes::{DataType as ArrowType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::kernel::{DataType, StructField};

use crate::record::columns::{self, Column, ColumnType};
use crate::record::EntityKind;

/// The partition column: the UTC date of `started_at`, so that a reader scanning a date range
/// reads only those days' files.
pub(super) const PARTITION_COLUMN: &str = "started_date";

/// The time zone of `started_at` in Arrow (Delta's `timestamp` is UTC microseconds).
pub(super) const UTC: &str = "UTC";

/// The Delta type of a column, which the Arrow type follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DeltaType {
    String,
    /// 64 bits: `duration_ms`.
    Long,
    /// 32 bits: `attempt`, as the original's tables have it.
    Int,
    Boolean,
    Timestamp,
    Date,
}

impl DeltaType {
    /// The type `column` has in the Delta tables.
    pub(super) fn of(column: &Column) -> DeltaType {
        match column.ty {
            // A list is the text of a JSON array (DuckDB's `from_json`, Spark's `from_json`).
            ColumnType::Text | ColumnType::Event | ColumnType::Status | ColumnType::List => {
                DeltaType::String
            }
            ColumnType::Integer if column.name == "attempt" => DeltaType::Int,
            ColumnType::Integer => DeltaType::Long,
            ColumnType::Bool => DeltaType::Boolean,
            ColumnType::Time => DeltaType::Timestamp,
        }
    }

    fn delta(self) -> DataType {
        match self {
            DeltaType::String => DataType::STRING,
            DeltaType::Long => DataType::LONG,
            DeltaType::Int => DataType::INTEGER,
            DeltaType::Boolean => DataType::BOOLEAN,
            DeltaType::Timestamp => DataType::TIMESTAMP,
            DeltaType::Date => DataType::DATE,
        }
    }

    /// The Arrow type the store writes and reads (other writers' text and integer variants are
    /// cast to it on reading).
    pub(super) fn arrow(self) -> ArrowType {
        match self {
            DeltaType::String => ArrowType::Utf8,
            DeltaType::Long => ArrowType::Int64,
            DeltaType::Int => ArrowType::Int32,
            DeltaType::Boolean => ArrowType::Boolean,
            DeltaType::Timestamp => ArrowType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
            DeltaType::Date => ArrowType::Date32,
        }
    }
}

/// The columns of `kind`'s table, in table order, then the partition column: name, type and
/// whether it may be NULL.
fn fields(kind: EntityKind) -> impl Iterator<Item = (&'static str, DeltaType, bool)> {
    columns::of(kind)
        .map(move |c| (c.name, DeltaType::of(c), !c.required(kind)))
        .chain([(PARTITION_COLUMN, DeltaType::Date, false)])
}

/// The Delta schema of `kind`'s table (what creating it declares).
pub(super) fn delta_fields(kind: EntityKind) -> Vec<StructField> {
    fields(kind)
        .map(|(name, ty, nullable)| StructField::new(name, ty.delta(), nullable))
        .collect()
}

/// The Arrow schema of the record batches written to `kind`'s table.
pub(super) fn arrow_schema(kind: EntityKind) -> SchemaRef {
    let fields: Vec<Field> = fields(kind)
        .map(|(name, ty, nullable)| Field::new(name, ty.arrow(), nullable))
        .collect();
    Arc::new(Schema::new(fields))
}
