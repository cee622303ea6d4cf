//! The records' `serde` form, from the column table: one flat object of the record's columns
//! (`kind` first, when it is not known from elsewhere).
//!
//! Reading takes the keys in any order, ignores keys it does not know (written by a newer
//! release), gives a column missing from the object its default (a line written before the
//! column existed) and refuses an object without a required column.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::columns::{self, blank, cell, Cell, ColumnType, Value, COLUMNS};
use super::{rfc3339, EntityKind, ExecutionRecord};

/// The name `serde` sees; the JSON form does not show it.
const NAME: &str = "ExecutionRecord";

impl Serialize for Value<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Value::Null => s.serialize_none(),
            Value::Text(text) => s.serialize_str(text),
            Value::Integer(n) => s.serialize_u64(n),
            Value::Bool(b) => s.serialize_bool(b),
            Value::Time(t) => rfc3339::serialize(&t, s),
            Value::List(list) => list.serialize(s),
        }
    }
}

/// `{"kind":…, <columns>}`: the form of spill files and of the command-line tool's JSON.
///
/// Read back from that form, or from a line of a JSON Lines file (without `kind`: the event
/// says what the record is).
impl Serialize for ExecutionRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut object = s.serialize_struct(NAME, 1 + columns::of(self.kind).count())?;
        object.serialize_field("kind", self.kind.as_str())?;
        fields(&mut object, self)?;
        object.end()
    }
}

/// A record's columns without `kind`: a line of its table's JSON Lines file.
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Columns<'a>(pub(crate) &'a ExecutionRecord);

impl Serialize for Columns<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let record = self.0;
        let mut object = s.serialize_struct(NAME, columns::of(record.kind).count())?;
        fields(&mut object, record)?;
        object.end()
    }
}

/// The columns of `record`'s table into `object`, but for sparse columns that are NULL.
fn fields<S: SerializeStruct>(object: &mut S, record: &ExecutionRecord) -> Result<(), S::Error> {
    for column in columns::of(record.kind) {
        let value = column.get(record);
        if column.sparse && value == Value::Null {
            object.skip_field(column.name)?;
        } else {
            object.serialize_field(column.name, &value)?;
        }
    }
    Ok(())
}

impl<'de> Deserialize<'de> for ExecutionRecord {
    /// An object with the columns of a kind's table and, anywhere in it, the `kind` (else the
    /// `event` says it).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RecordSeed { kind: None }.deserialize(d)
    }
}

/// Reads a record of `kind` (from a line of that kind's file, which has no `kind` key), or of
/// the kind its `kind` key names when `kind` is `None`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordSeed {
    pub(crate) kind: Option<EntityKind>,
}

impl<'de> DeserializeSeed<'de> for RecordSeed {
    type Value = ExecutionRecord;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ExecutionRecord, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed {
    type Value = ExecutionRecord;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an execution record")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ExecutionRecord, A::Error> {
        let mut record = blank(self.kind.unwrap_or(EntityKind::Pipeline));
        let mut tag: Option<EntityKind> = None;
        let mut seen = 0u64;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match key {
                Key::Kind => {
                    let text: std::borrow::Cow<'de, str> = map.next_value()?;
                    tag = Some(text.parse().map_err(de::Error::custom)?);
                }
                Key::Column(i) => {
                    let column = &COLUMNS[i];
                    let cell = map.next_value_seed(CellSeed(column.ty))?;
                    column
                        .set(&mut record, cell)
                        .map_err(|e| de::Error::custom(format_args!("{}: {e}", column.name)))?;
                    seen |= 1 << i;
                }
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        // What the record is: given, tagged, or (a line of a JSON Lines file, where the file says
        // it) as its event says.
        let event_seen = columns::named("event").is_some_and(|(i, _)| seen & (1 << i) != 0);
        let kind = match (self.kind, tag) {
            (Some(kind), Some(tag)) if kind != tag => {
                return Err(de::Error::custom(format_args!(
                    "a {tag} record where a {kind} record belongs"
                )))
            }
            (Some(kind), _) | (None, Some(kind)) => kind,
            (None, None) if event_seen => record.kind,
            (None, None) => return Err(de::Error::missing_field("event")),
        };
        for (i, column) in COLUMNS.iter().enumerate() {
            if column.has(kind) && seen & (1 << i) == 0 {
                if column.required(kind) && column.default.is_none() {
                    return Err(de::Error::missing_field(column.name));
                }
                if let Some(default) = column.default {
                    column
                        .set(&mut record, cell(default))
                        .map_err(de::Error::custom)?;
                }
            }
        }
        // The event, which is required, set the kind.
        if record.kind != kind {
            return Err(de::Error::custom(format_args!(
                "event {} in a {kind} record",
                record.event()
            )));
        }
        Ok(record)
    }
}

enum Key {
    Kind,
    Column(usize),
    Other,
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a column name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(match key {
            "kind" => Key::Kind,
            _ => columns::named(key).map_or(Key::Other, |(i, _)| Key::Column(i)),
        })
    }
}

/// Reads a value of a column of type `.0`.
struct CellSeed(ColumnType);

impl<'de> DeserializeSeed<'de> for CellSeed {
    type Value = Cell;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cell, D::Error> {
        Ok(match self.0 {
            ColumnType::Text | ColumnType::Event | ColumnType::Status => {
                Option::<String>::deserialize(d)?.map_or(Cell::Null, Cell::Text)
            }
            ColumnType::Integer => {
                Option::<u64>::deserialize(d)?.map_or(Cell::Null, |n| Cell::Integer(n.into()))
            }
            ColumnType::Bool => Option::<bool>::deserialize(d)?.map_or(Cell::Null, Cell::Bool),
            ColumnType::List => {
                Option::<Vec<String>>::deserialize(d)?.map_or(Cell::Null, Cell::List)
            }
            ColumnType::Time => {
                // As chrono reads it (RFC 3339, any offset).
                match Option::<std::borrow::Cow<'de, str>>::deserialize(d)? {
                    None => Cell::Null,
                    Some(text) => Cell::Time(
                        text.parse::<chrono::DateTime<chrono::FixedOffset>>()
                            .map_err(de::Error::custom)?
                            .to_utc(),
                    ),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ErrorDetails, RootCause, RunStatus};

    #[test]
    fn records_serialise_flat_with_their_kind_and_read_back() {
        let record = ExecutionRecord::process_start("r", "p1", "extract", Default::default())
            .with_error(ErrorDetails::new("bad \"row\"\n"))
            .with_root_cause(RootCause::new("s1", "load"))
            .ended(RunStatus::Failed, 5);
        let text = serde_json::to_string(&record).unwrap();
        assert!(
            text.starts_with(r#"{"kind":"process","event":"process_end","run_id":"r","#),
            "{text}"
        );
        assert_eq!(
            serde_json::from_str::<ExecutionRecord>(&text).unwrap(),
            record
        );
        let line = serde_json::to_string(&Columns(&record)).unwrap();
        assert!(!line.contains("kind"), "{line}");
        let seed = RecordSeed {
            kind: Some(EntityKind::Process),
        };
        let mut de = serde_json::Deserializer::from_str(&line);
        assert_eq!(seed.deserialize(&mut de).unwrap(), record);
    }

    fn read(kind: Option<EntityKind>, text: &str) -> Result<ExecutionRecord, String> {
        let mut de = serde_json::Deserializer::from_str(text);
        RecordSeed { kind }
            .deserialize(&mut de)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn keys_in_any_order_unknown_keys_and_defaults() {
        let text = r#"{"status":"running","started_at":"2026-11-29T01:02:03.5+01:00",
            "step":"load","future_column":[1,{"a":2}],"attempt":2,"step_run_id":"s",
            "run_id":"r","event":"step_start","kind":"step"}"#;
        let r = read(None, text).unwrap();
        assert_eq!(
            (r.kind, r.name.as_str(), r.run.attempt),
            (EntityKind::Step, "load", 2)
        );
        assert!(
            r.run.last_attempt,
            "a line without last_attempt reads as the last"
        );
        assert_eq!(r.started_at.to_rfc3339(), "2026-11-29T00:02:03.500+00:00");
    }

    #[test]
    fn missing_or_contradicting_fields_are_errors() {
        let start = r#""run_id":"r","attempt":1,"step_run_id":"s","step":"x","started_at":"2026-11-29T00:00:00Z","status":"running""#;
        let e = read(None, &format!("{{{start}}}")).unwrap_err();
        assert!(e.contains("missing field `event`"), "{e}");
        let line = read(None, &format!("{{{start},\"event\":\"step_start\"}}")).unwrap();
        assert_eq!(line.kind, EntityKind::Step, "the event says what a line is");
        let e = read(Some(EntityKind::Step), &format!("{{{start}}}")).unwrap_err();
        assert!(e.contains("missing field `event`"), "{e}");
        let e = read(
            Some(EntityKind::Step),
            &format!("{{{start},\"event\":\"process_start\"}}"),
        )
        .unwrap_err();
        assert!(e.contains("event process_start in a step record"), "{e}");
        let e = read(
            Some(EntityKind::Process),
            &format!("{{{start},\"event\":\"step_start\",\"kind\":\"step\"}}"),
        )
        .unwrap_err();
        assert!(
            e.contains("a step record where a process record belongs"),
            "{e}"
        );
        let e = read(
            Some(EntityKind::Step),
            &format!("{{{start},\"event\":\"step_start\",\"attempt\":null}}"),
        )
        .unwrap_err();
        assert!(e.contains("attempt: is null"), "{e}");
    }
}
