//! Property test: arbitrary values — text (NUL, blanks, any Unicode, around and past
//! `MAX_FIELD_BYTES`), integers of every width, floats (NaN and infinities included), bools,
//! `Debug` and `Display` values — on the `etl.*` fields and other fields of a pipeline, a
//! process and a step, on the error events inside the step, and recorded late. Nothing
//! panics; each entity gets one start and one end record; every stored text is clean (no NUL,
//! within the limit); the values and warnings are those of a model of the field rules.
//!
//! Cases: `PROPTEST_CASES` (default 256), 1/8 of them also against SQLite.

use crate::support;

use std::fmt;

use proptest::collection::vec;
use proptest::prelude::*;
use support::scenarios::{run, Runs, Store};
use tracing::field::Empty;
use tracing::Value;
use tracing_etl::{
    layer::{MAX_FIELD_BYTES, TRUNCATED_MARKER},
    ExecutionRecord, RunStatus,
};

#[derive(Debug, Clone)]
enum Val {
    Absent,
    Str(String),
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    Bool(bool),
    Debug(String),
    Display(String),
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "(?s).{0,24}",
        1 => Just(String::new()),
        1 => "[ \t\n\u{3000}]{1,3}",
        1 => "[0-9 +-]{1,12}",
        1 => prop_oneof![Just("true".to_owned()), Just("false".to_owned())],
        // Around the limit, in characters of every width.
        1 => (any::<char>(), 0usize..6).prop_map(|(c, extra)| {
            c.to_string().repeat(MAX_FIELD_BYTES / c.len_utf8() + extra - 2)
        }),
    ]
}

fn val() -> impl Strategy<Value = Val> {
    prop_oneof![
        3 => Just(Val::Absent),
        5 => text().prop_map(Val::Str),
        1 => any::<i64>().prop_map(Val::I64),
        1 => (0u64..5).prop_map(Val::U64),
        1 => any::<u64>().prop_map(Val::U64),
        1 => any::<i128>().prop_map(Val::I128),
        1 => any::<u128>().prop_map(Val::U128),
        1 => proptest::num::f64::ANY.prop_map(Val::F64),
        1 => (0.0f64..4.0).prop_map(|f| Val::F64(f.round())),
        1 => any::<bool>().prop_map(Val::Bool),
        1 => text().prop_map(Val::Debug),
        2 => text().prop_map(Val::Display),
    ]
}

/// An error whose `Display` is the text and whose `Debug` is derived.
#[derive(Debug, Clone)]
struct FuzzError(String);

impl fmt::Display for FuzzError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FuzzError {}

#[derive(Debug, Clone)]
enum ErrorVal {
    Val(Val),
    Error(String),
}

#[derive(Debug, Clone)]
struct ErrorEvent {
    error: ErrorVal,
    message_field: Val,
    type_field: Val,
    other: Val,
    message: String,
    /// A WARN event with the same fields instead (not a failure).
    warn: bool,
}

fn error_event() -> impl Strategy<Value = ErrorEvent> {
    (
        prop_oneof![3 => val().prop_map(ErrorVal::Val), 1 => text().prop_map(ErrorVal::Error)],
        val(),
        val(),
        val(),
        text(),
        prop::bool::weighted(0.3),
    )
        .prop_map(
            |(error, message_field, type_field, other, message, warn)| ErrorEvent {
                error,
                message_field,
                type_field,
                other,
                message,
                warn,
            },
        )
}

#[derive(Debug, Clone)]
struct Case {
    pipeline: [Val; 7],
    process: [Val; 3],
    step: [Val; 2],
    events: Vec<ErrorEvent>,
    late: Val,
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::array::uniform7(val()),
        proptest::array::uniform3(val()),
        proptest::array::uniform2(val()),
        vec(error_event(), 0..3),
        val(),
    )
        .prop_map(|(pipeline, process, step, events, late)| Case {
            pipeline,
            process,
            step,
            events,
            late,
        })
}

fn value(v: &Val) -> Box<dyn Value + '_> {
    match v {
        Val::Absent => Box::new(Empty),
        Val::Str(s) => Box::new(s.as_str()),
        Val::I64(n) => Box::new(*n),
        Val::U64(n) => Box::new(*n),
        Val::I128(n) => Box::new(*n),
        Val::U128(n) => Box::new(*n),
        Val::F64(f) => Box::new(*f),
        Val::Bool(b) => Box::new(*b),
        Val::Debug(s) => Box::new(tracing::field::debug(s)),
        Val::Display(s) => Box::new(tracing::field::display(s)),
    }
}

fn execute(case: &Case) {
    let [p_name, run_id, correlation_id, attempt, last_attempt, other, extra] = &case.pipeline;
    let pipeline = tracing::info_span!(
        "fuzz_pipeline",
        etl.pipeline = value(p_name),
        etl.run_id = value(run_id),
        etl.correlation_id = value(correlation_id),
        etl.attempt = value(attempt),
        etl.last_attempt = value(last_attempt),
        other = value(other),
        etl.extra = value(extra)
    );
    let _p = pipeline.enter();
    let [q_name, q_run_id, rows] = &case.process;
    let process = tracing::info_span!(
        "fuzz_process",
        etl.process = value(q_name),
        etl.run_id = value(q_run_id),
        rows = value(rows)
    );
    let _q = process.enter();
    let [s_name, size] = &case.step;
    let step = tracing::info_span!("fuzz_step", etl.step = value(s_name), size = value(size));
    let _s = step.enter();
    for e in &case.events {
        let error_value: Box<dyn Value + '_> = match &e.error {
            ErrorVal::Val(v) => value(v),
            ErrorVal::Error(text) => {
                let error: Box<dyn std::error::Error + 'static> = Box::new(FuzzError(text.clone()));
                Box::new(error)
            }
        };
        let (m, t, o) = (
            value(&e.message_field),
            value(&e.type_field),
            value(&e.other),
        );
        if e.warn {
            tracing::warn!(error = error_value, error.message = m, error.type = t, other = o, "{}", e.message);
        } else {
            tracing::error!(error = error_value, error.message = m, error.type = t, other = o, "{}", e.message);
        }
    }
    step.record("etl.step", value(&case.late));
}

// ---------------------------------------------------------------------------------------------
// The model.

/// Text as the crate keeps it: NUL characters replaced, then cut at the limit with the marker.
fn clean(text: &str) -> String {
    let text = text.replace('\0', "\u{FFFD}");
    if text.len() <= MAX_FIELD_BYTES {
        return text;
    }
    let mut end = MAX_FIELD_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{TRUNCATED_MARKER}", &text[..end])
}

/// The value as text, for values that are text (`Debug` values render quoted).
fn as_text(v: &Val) -> Option<String> {
    match v {
        Val::Str(s) | Val::Display(s) => Some(clean(s)),
        Val::Debug(s) => Some(clean(&format!("{s:?}"))),
        _ => None,
    }
}

fn as_int(v: &Val) -> Option<i128> {
    match v {
        Val::I64(n) => Some((*n).into()),
        Val::U64(n) => Some((*n).into()),
        Val::I128(n) => Some(*n),
        Val::U128(n) => i128::try_from(*n).ok(),
        _ => None,
    }
}

fn is_int(v: &Val) -> bool {
    matches!(v, Val::I64(_) | Val::U64(_) | Val::I128(_) | Val::U128(_))
}

/// The entity's name and whether a warning says the value was not usable.
fn name(v: &Val, span: &str) -> (String, bool) {
    match (v, as_text(v)) {
        (_, Some(text)) if !text.trim().is_empty() => (text, false),
        (_, Some(_)) => (span.to_owned(), true),
        (Val::Absent | Val::Bool(_), _) => (span.to_owned(), false),
        _ => (span.to_owned(), true),
    }
}

/// The run id (`None`: a generated one) and whether a warning says why.
fn run_id(v: &Val) -> (Option<String>, bool) {
    match v {
        Val::Absent => (None, false),
        Val::U128(n) => (Some(n.to_string()), false),
        v if is_int(v) => (Some(as_int(v).unwrap().to_string()), false),
        v => match as_text(v) {
            Some(text) if !text.trim().is_empty() => (Some(text), false),
            _ => (None, true),
        },
    }
}

fn attempt(v: &Val) -> (u32, bool) {
    let n = match v {
        Val::Absent => return (1, false),
        Val::F64(f) if f.fract() == 0.0 && f.abs() < 1e20 => Some(*f as i128),
        v if is_int(v) => as_int(v),
        v => as_text(v).and_then(|t| t.trim().parse::<i128>().ok()),
    };
    match n.and_then(|n| u32::try_from(n).ok()).filter(|&n| n >= 1) {
        Some(n) => (n, false),
        None => (1, true),
    }
}

fn last_attempt(v: &Val) -> (bool, bool) {
    match v {
        Val::Absent => (true, false),
        Val::Bool(b) => (*b, false),
        v => match as_text(v).as_deref() {
            Some("true") => (true, false),
            Some("false") => (false, false),
            _ => (true, true),
        },
    }
}

fn correlation_id(v: &Val) -> Option<String> {
    match v {
        Val::Absent => None,
        Val::U128(n) => Some(n.to_string()),
        Val::F64(f) => Some(format!("{f:?}")),
        Val::Bool(b) => Some(b.to_string()),
        v if is_int(v) => Some(as_int(v).unwrap().to_string()),
        v => as_text(v),
    }
}

/// A value on an error event, as the crate renders it (`Debug` but for strings and `Display`).
fn error_text(v: &Val) -> Option<String> {
    Some(clean(&match v {
        Val::Absent => return None,
        Val::Str(s) | Val::Display(s) => s.clone(),
        Val::Debug(s) => format!("{s:?}"),
        Val::I64(n) => n.to_string(),
        Val::U64(n) => n.to_string(),
        Val::I128(n) => n.to_string(),
        Val::U128(n) => n.to_string(),
        Val::F64(f) => format!("{f:?}"),
        Val::Bool(b) => b.to_string(),
    }))
}

/// What comes before the first blank line of `text` (trailing whitespace cut), or `text` when
/// it has none (or nothing before it): the message of a text `error` field.
fn first_paragraph(text: &str) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let before = &lines[..i];
        if line.trim().is_empty() && before.iter().any(|l| !l.trim().is_empty()) {
            return before.concat().trim_end().to_owned();
        }
    }
    text.to_owned()
}

/// `(error, error_message, error_type given)` of the first error event.
fn expected_error(e: &ErrorEvent) -> (String, String, Option<String>) {
    let message = clean(&e.message);
    let (debug, display, plain) = match &e.error {
        ErrorVal::Error(text) => (
            Some(clean(&format!("{:?}", FuzzError(text.clone())))),
            Some(clean(text)),
            None,
        ),
        ErrorVal::Val(v) => (None, None, error_text(v)),
    };
    let error_message = error_text(&e.message_field)
        .or(display)
        .or(plain.as_deref().map(first_paragraph))
        .unwrap_or(message.clone());
    let error = debug.or(plain).unwrap_or(message);
    (error, error_message, error_text(&e.type_field))
}

fn texts(record: &ExecutionRecord) -> Vec<String> {
    let value = serde_json::to_value(record).unwrap();
    value
        .as_object()
        .unwrap()
        .values()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

fn check(store: Store, case: &Case) {
    let (runs, ()) = run(store, || execute(case));
    assert_eq!(runs.records.len(), 6, "a start and an end record each");
    assert_eq!(runs.entity_count(), 3);
    for record in &runs.records {
        for text in texts(record) {
            assert!(!text.contains('\0'), "a NUL in {record:?}");
            assert!(
                text.len() <= MAX_FIELD_BYTES + TRUNCATED_MARKER.len(),
                "{} bytes",
                text.len()
            );
        }
    }
    check_model(&runs, case);
}

fn check_model(runs: &Runs, case: &Case) {
    let [p_name, p_run_id, p_correlation, p_attempt, p_last, _, p_extra] = &case.pipeline;
    let mut warnings = 0;
    let mut count = |warned: bool| warnings += usize::from(warned);

    let p = &runs.pipelines[0];
    let (name_, warned) = name(p_name, "fuzz_pipeline");
    assert_eq!(p.name, name_);
    count(warned);
    let (id, warned) = run_id(p_run_id);
    match id {
        Some(id) => assert_eq!(p.run.run_id, id),
        None => assert!(
            uuid::Uuid::parse_str(&p.run.run_id).is_ok(),
            "{}",
            p.run.run_id
        ),
    }
    count(warned);
    let (n, warned) = attempt(p_attempt);
    assert_eq!(p.run.attempt, n);
    count(warned);
    let (last, warned) = last_attempt(p_last);
    assert_eq!(p.run.last_attempt, last);
    count(warned);
    assert_eq!(p.run.correlation_id, correlation_id(p_correlation));
    count(!matches!(p_extra, Val::Absent));

    let [q_name, q_run_id, _] = &case.process;
    let q = &runs.processes[0];
    let (name_, warned) = name(q_name, "fuzz_process");
    assert_eq!(q.name, name_);
    count(warned);
    count(!matches!(q_run_id, Val::Absent));
    assert_eq!(
        (q.run.run_id.as_str(), q.run.attempt),
        (p.run.run_id.as_str(), p.run.attempt)
    );
    assert_eq!(q.run.correlation_id, p.run.correlation_id);

    let s = &runs.steps[0];
    let (name_, warned) = name(&case.step[0], "fuzz_step");
    count(warned);
    // Recorded after the span opened, after its error events: a usable name renames the step
    // (a bool names it after its span), anything else is reported and changes nothing.
    let (name_, warned) = match (&case.late, as_text(&case.late)) {
        (Val::Absent, _) => (name_, false),
        (_, Some(text)) if !text.trim().is_empty() => (text, false),
        (Val::Bool(_), _) => ("fuzz_step".to_owned(), false),
        _ => (name_, true),
    };
    assert_eq!(s.name, name_);
    count(warned);
    assert_eq!(s.run.run_id, p.run.run_id);
    assert_eq!(s.process_run_id, q.process_run_id);

    match case.events.iter().find(|e| !e.warn) {
        None => {
            for status in [p.outcome.status, q.outcome.status, s.outcome.status] {
                assert_eq!(status, RunStatus::Success);
            }
            assert_eq!(s.outcome.error.full, None);
        }
        Some(first) => {
            let (error, error_message, error_type) = expected_error(first);
            assert_eq!(s.outcome.status, RunStatus::Failed);
            assert_eq!(s.outcome.error.full.as_deref(), Some(error.as_str()));
            assert_eq!(
                s.outcome.error.message.as_deref(),
                Some(error_message.as_str())
            );
            if error_type.is_some() {
                assert_eq!(s.outcome.error.type_name, error_type);
            }
            for (status, failed_step, message) in [
                (p.outcome.status, p.failed_step(), &p.outcome.error.message),
                (q.outcome.status, q.failed_step(), &q.outcome.error.message),
            ] {
                assert_eq!(status, RunStatus::Failed);
                assert_eq!(failed_step, Some(s.name.as_str()));
                assert_eq!(message, &s.outcome.error.message);
            }
        }
    }
    assert_eq!(runs.warnings.len(), warnings, "{:#?}", runs.warnings);
}

store_properties!(check, case);
