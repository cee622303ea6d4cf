//! Records as JSON lines, written column by column from the column table: the text
//! `serde_json` writes for the records' `Serialize` (a property test holds the two equal),
//! without the generic serializer's work per field (escaping each key, dispatching each value).

use std::sync::LazyLock;

use crate::record::columns::{self, Column, Value};
use crate::record::rfc3339::{self, Fraction};
use crate::record::{EntityKind, ExecutionRecord};

/// A column and what comes before its value in a line.
type Keyed = (Box<[u8]>, &'static Column);

/// Per kind: its columns, each with what comes before its value (`{"key":` for the first,
/// `,"key":` for the others; column names are plain identifiers, with nothing to escape).
static KEYED: LazyLock<[Vec<Keyed>; 3]> = LazyLock::new(|| {
    EntityKind::ALL.map(|kind| {
        columns::of(kind)
            .enumerate()
            .map(|(i, c)| {
                let open = if i == 0 { '{' } else { ',' };
                (format!("{open}\"{}\":", c.name).into_bytes().into(), c)
            })
            .collect()
    })
});

/// Appends `record` as one line of JSON (with its newline) to `out`: its table's columns, in
/// table order.
pub(super) fn write_line(record: &ExecutionRecord, out: &mut Vec<u8>) -> serde_json::Result<()> {
    for (key, column) in &KEYED[record.kind.index()] {
        let value = column.get(record);
        if column.sparse && value == Value::Null {
            continue;
        }
        out.extend_from_slice(key);
        match value {
            Value::Text(text) => string(out, text)?,
            Value::Integer(n) => serde_json::to_writer(&mut *out, &n)?,
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
            Value::List(list) => {
                for (i, item) in list.iter().enumerate() {
                    out.push(if i == 0 { b'[' } else { b',' });
                    string(out, item)?;
                }
                out.push(b']');
            }
            Value::Time(t) => {
                let mut buf = [0u8; 30];
                match rfc3339::format(&t, Fraction::Auto, &mut buf) {
                    // Digits, '-', ':', '.', 'T' and 'Z': nothing to escape.
                    Some(text) => {
                        out.push(b'"');
                        out.extend_from_slice(text.as_bytes());
                        out.push(b'"');
                    }
                    None => serde_json::to_writer(&mut *out, &t)?,
                }
            }
        }
    }
    out.extend_from_slice(b"}\n");
    Ok(())
}

/// `text` as a JSON string. Most text (ids, names, timestamps) has nothing to escape: it is
/// checked 16 bytes at a time and copied as it is; other text goes through `serde_json`.
fn string(out: &mut Vec<u8>, text: &str) -> serde_json::Result<()> {
    let plain = text.as_bytes().chunks(16).all(|chunk| {
        !chunk.iter().fold(false, |escape, &b| {
            escape | (b < 0x20) | (b == b'"') | (b == b'\\')
        })
    });
    if plain {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
        Ok(())
    } else {
        serde_json::to_writer(out, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Columns, Phase, RootCause, RunContext, RunStatus};
    use chrono::{DateTime, TimeZone, Utc};
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        // Quotes, backslashes, control characters, non-ASCII and astral characters.
        prop_oneof![
            "[a-z0-9_-]{0,12}",
            any::<String>(),
            "[\"\\\\\u{0}-\u{1f}\u{7f}é日\u{1F4A5}a]{0,8}",
        ]
    }

    fn maybe_text() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(text())
    }

    fn time() -> impl Strategy<Value = DateTime<Utc>> {
        // Years 1 to 9999 and beyond both ends (written by chrono itself), whole seconds,
        // milliseconds, microseconds and nanoseconds.
        (
            -400_000_000_000i64..400_000_000_000,
            prop_oneof![
                Just(0u32),
                0..1_000u32,
                0..1_000_000u32,
                0..1_000_000_000u32
            ],
            0..4u32,
        )
            .prop_map(|(secs, frac, scale)| {
                let nanos = match scale {
                    0 => 0,
                    1 => frac % 1_000 * 1_000_000,
                    2 => frac % 1_000_000 * 1_000,
                    _ => frac % 1_000_000_000,
                };
                Utc.timestamp_opt(secs, nanos).single().unwrap_or_default()
            })
    }

    fn status() -> impl Strategy<Value = RunStatus> {
        prop_oneof![
            Just(RunStatus::Running),
            Just(RunStatus::Success),
            Just(RunStatus::Failed),
            Just(RunStatus::Cancelled)
        ]
    }

    fn record() -> impl Strategy<Value = ExecutionRecord> {
        (
            (text(), maybe_text(), any::<u32>(), any::<bool>(), text()),
            (time(), status(), proptest::option::of(any::<u64>())),
            proptest::array::uniform8(maybe_text()),
            (text(), any::<bool>(), 0..3u8),
            (
                proptest::option::of(any::<u64>()),
                proptest::option::of(any::<u64>()),
                proptest::collection::vec(text(), 0..3),
                proptest::collection::vec(text(), 0..3),
            ),
        )
            .prop_map(|((run_id, correlation_id, attempt, last, name), (started_at, status, duration), o, (id, end, kind), (rows_in, rows_out, inputs, outputs))| {
                let [message, type_name, full, process_run_id, failed, trace_id, span_id, recorder_id] = o;
                let mut run = RunContext::new(run_id.clone()).with_attempt(attempt, last);
                run.correlation_id = correlation_id;
                let mut r = match kind {
                    0 => ExecutionRecord::pipeline_start(run_id, name, started_at),
                    1 => ExecutionRecord::process_start(run_id, id.clone(), name, started_at),
                    _ => ExecutionRecord::step_start(run_id, id.clone(), name, started_at),
                }
                .with_run(run);
                if kind == 2 {
                    r.process_run_id = process_run_id;
                } else if let Some(step) = failed {
                    r = r.with_root_cause(RootCause::new(id, step));
                }
                if end {
                    r.phase = Phase::End;
                }
                r.outcome.status = status;
                r.outcome.duration_ms = duration;
                r.outcome.error.message = message;
                r.outcome.error.type_name = type_name;
                r.outcome.error.full = full;
                r.trace_id = trace_id;
                r.span_id = span_id;
                r.recorder_id = recorder_id;
                r.volume.rows_in = rows_in;
                r.volume.rows_out = rows_out;
                r.volume.inputs = inputs;
                r.volume.outputs = outputs;
                r
            })
    }

    fn serde_line(record: &ExecutionRecord) -> Vec<u8> {
        let mut line = serde_json::to_vec(&Columns(record)).unwrap();
        line.push(b'\n');
        line
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn lines_are_what_serde_json_writes(record in record()) {
            let mut line = Vec::new();
            write_line(&record, &mut line).unwrap();
            prop_assert_eq!(
                String::from_utf8(line).unwrap(),
                String::from_utf8(serde_line(&record)).unwrap()
            );
        }
    }
}
