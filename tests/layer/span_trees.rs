//! Property test over random span trees: random nestings of pipelines, processes, steps and
//! plain spans with ERROR and WARN events among them, checked against a model computed from the
//! generated tree.
//!
//! Cases: 128 by default (`PROPTEST_CASES` for more), 1/8 of them also against SQLite.

use crate::support;

use std::collections::HashMap;

use proptest::collection::vec;
use proptest::prelude::*;
use support::scenarios::{run, Runs, Store};
use tracing_etl::{record::EntityKey, ExecutionRecord, RunStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pipeline,
    Process,
    Step,
    Plain,
}

#[derive(Debug, Clone)]
enum Action {
    Span(Kind, Vec<Action>),
    Error,
    Warn,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Pipeline),
        Just(Kind::Process),
        Just(Kind::Step),
        Just(Kind::Plain),
    ]
}

fn event() -> impl Strategy<Value = Action> {
    prop_oneof![2 => Just(Action::Error), 1 => Just(Action::Warn)]
}

/// A program: what happens at the top level, outside any span.
fn program() -> impl Strategy<Value = Vec<Action>> {
    let leaf = (kind(), vec(event(), 0..3)).prop_map(|(k, body)| Action::Span(k, body));
    let span = leaf.prop_recursive(6, 64, 5, |inner| {
        (kind(), vec(prop_oneof![3 => inner, 2 => event()], 0..5))
            .prop_map(|(k, body)| Action::Span(k, body))
    });
    vec(prop_oneof![4 => span, 1 => Just(Action::Error)], 1..4)
}

/// One step of the flattened program.
#[derive(Debug, Clone, Copy)]
enum Op {
    Open(usize),
    Close,
    /// The k-th ERROR event.
    Error(usize),
    Warn,
}

#[derive(Debug)]
struct Span {
    kind: Kind,
    name: String,
}

fn flatten(actions: &[Action], spans: &mut Vec<Span>, ops: &mut Vec<Op>, errors: &mut usize) {
    for action in actions {
        match action {
            Action::Span(kind, body) => {
                let i = spans.len();
                let name = match kind {
                    Kind::Pipeline => format!("pipeline-{i}"),
                    Kind::Process => format!("process-{i}"),
                    Kind::Step => format!("step-{i}"),
                    Kind::Plain => format!("plain-{i}"),
                };
                spans.push(Span { kind: *kind, name });
                ops.push(Op::Open(i));
                flatten(body, spans, ops, errors);
                ops.push(Op::Close);
            }
            Action::Error => {
                ops.push(Op::Error(*errors));
                *errors += 1;
            }
            Action::Warn => ops.push(Op::Warn),
        }
    }
}

/// Runs the program under the layer.
fn execute(spans: &[Span], ops: &[Op]) {
    let mut stack = Vec::new();
    for op in ops {
        match *op {
            Op::Open(i) => {
                let name = &spans[i].name;
                let span = match spans[i].kind {
                    Kind::Pipeline => tracing::info_span!(
                        "pipeline",
                        etl.pipeline = %name,
                        etl.run_id = %format!("run-{i}")
                    ),
                    Kind::Process => tracing::info_span!("process", etl.process = %name),
                    Kind::Step => tracing::info_span!("step", etl.step = %name),
                    Kind::Plain => tracing::info_span!("plain", node = i),
                };
                stack.push(span.entered());
            }
            Op::Close => drop(stack.pop()),
            Op::Error(k) => tracing::error!(error.type = "Boom", "boom-{k}"),
            Op::Warn => tracing::warn!(error = "not an error", "a warning"),
        }
    }
    assert!(stack.is_empty());
}

/// What the spec says each entity's end record holds.
#[derive(Debug, Default, Clone)]
struct Expected {
    /// The first ERROR event inside the entity (its root cause).
    error: Option<usize>,
    /// For processes and pipelines: the innermost step between that event and the entity.
    failed_step: Option<usize>,
    /// The entity whose run this one belongs to: the nearest pipeline (itself included), else
    /// the outermost entity around it.
    run_owner: usize,
    /// The process whose `process_run_id` a step carries.
    process: Option<usize>,
}

fn model(spans: &[Span], ops: &[Op]) -> HashMap<usize, Expected> {
    let is_entity = |i: &usize| spans[*i].kind != Kind::Plain;
    let mut expected: HashMap<usize, Expected> = HashMap::new();
    let mut stack: Vec<usize> = Vec::new();
    for op in ops {
        match *op {
            Op::Open(i) => {
                stack.push(i);
                if !is_entity(&i) {
                    continue;
                }
                // Entities around this one, innermost first, itself included.
                let chain: Vec<usize> = stack.iter().rev().copied().filter(is_entity).collect();
                let run_owner = chain
                    .iter()
                    .copied()
                    .find(|&e| spans[e].kind == Kind::Pipeline)
                    .unwrap_or(*chain.last().unwrap());
                let process = match spans[i].kind {
                    Kind::Process => Some(i),
                    Kind::Pipeline => None,
                    _ => chain[1..]
                        .iter()
                        .copied()
                        .find(|&e| spans[e].kind != Kind::Step)
                        .filter(|&e| spans[e].kind == Kind::Process),
                };
                expected.insert(
                    i,
                    Expected {
                        run_owner,
                        process,
                        ..Expected::default()
                    },
                );
            }
            Op::Close => {
                stack.pop();
            }
            Op::Error(k) => {
                let mut innermost_step = None;
                for e in stack.iter().rev().copied().filter(is_entity) {
                    if spans[e].kind == Kind::Step && innermost_step.is_none() {
                        innermost_step = Some(e);
                    }
                    let x = expected.get_mut(&e).unwrap();
                    if x.error.is_none() {
                        x.error = Some(k);
                        if spans[e].kind != Kind::Step {
                            x.failed_step = innermost_step;
                        }
                    }
                }
            }
            Op::Warn => {}
        }
    }
    expected
}

/// The start and end records of the entity named `name`, checking there is one of each.
fn start_and_end<'a>(runs: &'a Runs, name: &str) -> (&'a ExecutionRecord, &'a ExecutionRecord) {
    let named = |r: &&ExecutionRecord| r.name == name;
    let found: Vec<&ExecutionRecord> = runs.records.iter().filter(named).collect();
    assert_eq!(found.len(), 2, "{name}: {found:#?}");
    assert!(
        !found[0].event().is_end() && found[1].event().is_end(),
        "{name}"
    );
    assert_eq!(found[0].status(), RunStatus::Running, "{name}");
    assert_eq!(found[0].key(), found[1].key());
    (found[0], found[1])
}

/// The fields every kind of end record has, as one shape.
struct End<'a> {
    run_id: &'a str,
    attempt: u32,
    status: RunStatus,
    duration_ms: Option<u64>,
    error_type: Option<&'a str>,
    error_message: Option<&'a str>,
    failed_step_run_id: Option<&'a str>,
    failed_step: Option<&'a str>,
    process_run_id: Option<&'a str>,
    id: Option<&'a str>,
}

fn end_fields(r: &ExecutionRecord) -> End<'_> {
    End {
        run_id: &r.run.run_id,
        attempt: r.run.attempt,
        status: r.outcome.status,
        duration_ms: r.outcome.duration_ms,
        error_type: r.outcome.error.type_name.as_deref(),
        error_message: r.outcome.error.message.as_deref(),
        failed_step_run_id: r.failed_step_run_id(),
        failed_step: r.failed_step(),
        process_run_id: r.process_run_id.as_deref(),
        id: r.entity_id(),
    }
}

fn check(store: Store, program: &[Action]) {
    let (mut spans, mut ops, mut errors) = (Vec::new(), Vec::new(), 0);
    flatten(program, &mut spans, &mut ops, &mut errors);
    let expected = model(&spans, &ops);
    let (runs, ()) = run(store, || execute(&spans, &ops));

    assert!(runs.warnings.is_empty(), "{:#?}", runs.warnings);
    assert_eq!(
        runs.records.len(),
        2 * expected.len(),
        "two records per entity, none else"
    );
    assert_eq!(runs.entity_count(), expected.len(), "one row per entity");

    let ends: HashMap<usize, &ExecutionRecord> = expected
        .keys()
        .map(|&i| (i, start_and_end(&runs, &spans[i].name).1))
        .collect();
    for (&i, x) in &expected {
        let name = &spans[i].name;
        let end = end_fields(ends[&i]);
        assert!(end.duration_ms.is_some(), "{name}");
        assert_eq!(end.attempt, 1, "{name}");

        // The run.
        let owner = x.run_owner;
        if spans[owner].kind == Kind::Pipeline {
            assert_eq!(end.run_id, format!("run-{owner}"), "{name}");
        } else {
            assert_eq!(end.run_id, end_fields(ends[&owner]).run_id, "{name}");
            assert!(uuid::Uuid::parse_str(end.run_id).is_ok(), "{name}");
        }
        if spans[i].kind == Kind::Pipeline {
            assert!(runs
                .pipelines
                .iter()
                .any(|p| p.name == *name && p.key() == EntityKey::Pipeline(format!("run-{i}"), 1)));
        }
        // The process.
        let process_id = x.process.map(|p| end_fields(ends[&p]).id.unwrap());
        assert_eq!(end.process_run_id, process_id, "{name}");

        // The failure.
        match x.error {
            None => {
                assert_eq!(end.status, RunStatus::Success, "{name}");
                assert_eq!(end.error_message, None, "{name}");
                assert_eq!(end.error_type, None, "{name}");
                assert_eq!(end.failed_step, None, "{name}");
            }
            Some(k) => {
                assert_eq!(end.status, RunStatus::Failed, "{name}");
                assert_eq!(
                    end.error_message,
                    Some(format!("boom-{k}").as_str()),
                    "{name}"
                );
                assert_eq!(end.error_type, Some("Boom"), "{name}");
                let step = x.failed_step;
                assert_eq!(
                    end.failed_step,
                    step.map(|s| spans[s].name.as_str()),
                    "{name}"
                );
                assert_eq!(
                    end.failed_step_run_id,
                    step.map(|s| end_fields(ends[&s]).id.unwrap()),
                    "{name}"
                );
            }
        }
    }
}

fn cases(divisor: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(128);
    ProptestConfig::with_cases((cases / divisor).max(1))
}

proptest! {
    #![proptest_config(cases(1))]

    #[test]
    fn in_memory(program in program()) {
        check(Store::Memory, &program);
    }
}

proptest! {
    #![proptest_config(cases(8))]

    #[test]
    fn in_sqlite(program in program()) {
        check(Store::Sqlite, &program);
    }
}
