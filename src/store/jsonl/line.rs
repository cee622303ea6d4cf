//! Records as JSON lines, written field by field: the text `serde_json` writes for the records'
//! `Serialize` (a property test holds the two equal), without the generic serializer's work per
//! field (escaping each key, dispatching each value). Serialising is about half of what the
//! store spends on a line.

use chrono::{DateTime, Utc};

use crate::record::rfc3339::{self, Fraction};
use crate::record::{ExecutionRecord, PipelineRunRecord, ProcessRunRecord, StepRunRecord};

/// A value of a record's field.
enum Value<'a> {
    Text(&'a str),
    MaybeText(Option<&'a str>),
    Number(u64),
    MaybeNumber(Option<u64>),
    Bool(bool),
    Time(&'a DateTime<Utc>),
}

use Value::{Bool, MaybeNumber, MaybeText, Number, Text, Time};

/// Appends `record` as one line of JSON (with its newline) to `out`.
pub(super) fn write_line(record: &ExecutionRecord, out: &mut Vec<u8>) -> serde_json::Result<()> {
    match record {
        ExecutionRecord::Pipeline(r) => object(out, &pipeline(r))?,
        ExecutionRecord::Process(r) => object(out, &process(r))?,
        ExecutionRecord::Step(r) => object(out, &step(r))?,
    }
    out.push(b'\n');
    Ok(())
}

/// The fields of a pipeline record, in declaration order (the order `Serialize` writes).
fn pipeline(r: &PipelineRunRecord) -> [(&'static str, Value<'_>); 17] {
    [
        ("{\"event\":", Text(r.event.as_str())),
        (",\"run_id\":", Text(&r.run_id)),
        (
            ",\"correlation_id\":",
            MaybeText(r.correlation_id.as_deref()),
        ),
        (",\"attempt\":", Number(r.attempt.into())),
        (",\"last_attempt\":", Bool(r.last_attempt)),
        (",\"pipeline\":", Text(&r.pipeline)),
        (",\"started_at\":", Time(&r.started_at)),
        (",\"status\":", Text(r.status.as_str())),
        (",\"duration_ms\":", MaybeNumber(r.duration_ms)),
        (",\"error\":", MaybeText(r.error.as_deref())),
        (",\"error_type\":", MaybeText(r.error_type.as_deref())),
        (",\"error_message\":", MaybeText(r.error_message.as_deref())),
        (
            ",\"failed_step_run_id\":",
            MaybeText(r.failed_step_run_id.as_deref()),
        ),
        (",\"failed_step\":", MaybeText(r.failed_step.as_deref())),
        (",\"trace_id\":", MaybeText(r.trace_id.as_deref())),
        (",\"span_id\":", MaybeText(r.span_id.as_deref())),
        (",\"recorder_id\":", MaybeText(r.recorder_id.as_deref())),
    ]
}

/// The fields of a process record, in declaration order.
fn process(r: &ProcessRunRecord) -> [(&'static str, Value<'_>); 17] {
    [
        ("{\"event\":", Text(r.event.as_str())),
        (",\"run_id\":", Text(&r.run_id)),
        (
            ",\"correlation_id\":",
            MaybeText(r.correlation_id.as_deref()),
        ),
        (",\"attempt\":", Number(r.attempt.into())),
        (",\"process_run_id\":", Text(&r.process_run_id)),
        (",\"process\":", Text(&r.process)),
        (",\"started_at\":", Time(&r.started_at)),
        (",\"status\":", Text(r.status.as_str())),
        (",\"duration_ms\":", MaybeNumber(r.duration_ms)),
        (",\"error\":", MaybeText(r.error.as_deref())),
        (",\"error_type\":", MaybeText(r.error_type.as_deref())),
        (",\"error_message\":", MaybeText(r.error_message.as_deref())),
        (
            ",\"failed_step_run_id\":",
            MaybeText(r.failed_step_run_id.as_deref()),
        ),
        (",\"failed_step\":", MaybeText(r.failed_step.as_deref())),
        (",\"trace_id\":", MaybeText(r.trace_id.as_deref())),
        (",\"span_id\":", MaybeText(r.span_id.as_deref())),
        (",\"recorder_id\":", MaybeText(r.recorder_id.as_deref())),
    ]
}

/// The fields of a step record, in declaration order.
fn step(r: &StepRunRecord) -> [(&'static str, Value<'_>); 16] {
    [
        ("{\"event\":", Text(r.event.as_str())),
        (",\"run_id\":", Text(&r.run_id)),
        (
            ",\"correlation_id\":",
            MaybeText(r.correlation_id.as_deref()),
        ),
        (",\"attempt\":", Number(r.attempt.into())),
        (",\"step_run_id\":", Text(&r.step_run_id)),
        (",\"step\":", Text(&r.step)),
        (",\"started_at\":", Time(&r.started_at)),
        (",\"status\":", Text(r.status.as_str())),
        (",\"duration_ms\":", MaybeNumber(r.duration_ms)),
        (",\"error\":", MaybeText(r.error.as_deref())),
        (
            ",\"process_run_id\":",
            MaybeText(r.process_run_id.as_deref()),
        ),
        (",\"error_type\":", MaybeText(r.error_type.as_deref())),
        (",\"error_message\":", MaybeText(r.error_message.as_deref())),
        (",\"trace_id\":", MaybeText(r.trace_id.as_deref())),
        (",\"span_id\":", MaybeText(r.span_id.as_deref())),
        (",\"recorder_id\":", MaybeText(r.recorder_id.as_deref())),
    ]
}

/// `{"key":value,…}` from the fields, each given with what comes before its value (`{"key":`
/// for the first, `,"key":` for the others; keys are plain identifiers).
fn object(out: &mut Vec<u8>, fields: &[(&'static str, Value<'_>)]) -> serde_json::Result<()> {
    for (prefix, value) in fields {
        out.extend_from_slice(prefix.as_bytes());
        match *value {
            Text(text) | MaybeText(Some(text)) => string(out, text)?,
            Number(n) | MaybeNumber(Some(n)) => serde_json::to_writer(&mut *out, &n)?,
            MaybeText(None) | MaybeNumber(None) => out.extend_from_slice(b"null"),
            Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
            Time(t) => {
                let mut buf = [0u8; 30];
                match rfc3339::format(t, Fraction::Auto, &mut buf) {
                    // Digits, '-', ':', '.', 'T' and 'Z': nothing to escape.
                    Some(text) => {
                        out.push(b'"');
                        out.extend_from_slice(text.as_bytes());
                        out.push(b'"');
                    }
                    None => serde_json::to_writer(&mut *out, t)?,
                }
            }
        }
    }
    out.push(b'}');
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
    use crate::record::{EventName, RunStatus};
    use chrono::TimeZone;
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
            Just(RunStatus::Failed)
        ]
    }

    fn common() -> impl Strategy<
        Value = (
            String,
            Option<String>,
            u32,
            String,
            DateTime<Utc>,
            RunStatus,
            Option<u64>,
        ),
    > {
        (
            text(),
            maybe_text(),
            any::<u32>(),
            text(),
            time(),
            status(),
            proptest::option::of(any::<u64>()),
        )
    }

    fn optional() -> impl Strategy<Value = [Option<String>; 8]> {
        proptest::array::uniform8(maybe_text())
    }

    fn record() -> impl Strategy<Value = ExecutionRecord> {
        (common(), optional(), any::<bool>(), text(), 0..3u8).prop_map(
            |((run_id, correlation_id, attempt, name, started_at, status, duration_ms), o, b, id, kind)| {
                let [error, error_type, error_message, failed_id, failed, trace_id, span_id, recorder_id] = o;
                match kind {
                    0 => PipelineRunRecord {
                        event: if b { EventName::PipelineEnd } else { EventName::PipelineStart },
                        run_id,
                        correlation_id,
                        attempt,
                        last_attempt: b,
                        pipeline: name,
                        started_at,
                        status,
                        duration_ms,
                        error,
                        error_type,
                        error_message,
                        failed_step_run_id: failed_id,
                        failed_step: failed,
                        trace_id,
                        span_id,
                        recorder_id,
                    }
                    .into(),
                    1 => ProcessRunRecord {
                        event: if b { EventName::ProcessEnd } else { EventName::ProcessStart },
                        run_id,
                        correlation_id,
                        attempt,
                        process_run_id: id,
                        process: name,
                        started_at,
                        status,
                        duration_ms,
                        error,
                        error_type,
                        error_message,
                        failed_step_run_id: failed_id,
                        failed_step: failed,
                        trace_id,
                        span_id,
                        recorder_id,
                    }
                    .into(),
                    _ => StepRunRecord {
                        event: if b { EventName::StepEnd } else { EventName::StepStart },
                        run_id,
                        correlation_id,
                        attempt,
                        step_run_id: id,
                        step: name,
                        started_at,
                        status,
                        duration_ms,
                        error,
                        process_run_id: failed_id,
                        error_type,
                        error_message,
                        trace_id,
                        span_id,
                        recorder_id,
                    }
                    .into(),
                }
            },
        )
    }

    fn serde_line(record: &ExecutionRecord) -> Vec<u8> {
        let mut line = match record {
            ExecutionRecord::Pipeline(r) => serde_json::to_vec(r),
            ExecutionRecord::Process(r) => serde_json::to_vec(r),
            ExecutionRecord::Step(r) => serde_json::to_vec(r),
        }
        .unwrap();
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
