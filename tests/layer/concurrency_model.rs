//! Property test over random concurrent runs: pipelines whose processes and steps run inline, on
//! OS threads (`std::thread::scope`) and as tokio tasks on a multi-thread runtime
//! (`.instrument(span)`), side by side or one after the other, with ERROR events and panics
//! (caught with `catch_unwind`) among them, and span handles cloned and dropped late, in a
//! shuffled order. Checked against a model computed from the generated runs alone:
//!
//! - exactly one start and one end record per entity, the start first;
//! - run ids and `process_run_id` follow the span tree;
//! - status, error and root cause (`failed_step`): with failures sequenced (each waits until
//!   the failures before it in program order have happened), the root cause of an entity is
//!   its first failure in that order; with failures free to race, it is one of the failures
//!   inside the entity, and every entity between that failure and the one naming it has the
//!   same root cause.
//!
//! Cases: `PROPTEST_CASES` (default 256), 1/8 of them also against SQLite. Long run:
//! `PROPTEST_CASES=10000 cargo test --release --test layer concurrency_model`.

use crate::support;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use support::scenarios::{run, Runs, Store};
use tracing::{Dispatch, Instrument, Span};
use tracing_etl::{ExecutionRecord, RunStatus};

// ---------------------------------------------------------------------------------------------
// What is generated.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exec {
    Inline,
    Thread,
    Task,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Error,
    Panic,
}

#[derive(Debug, Clone)]
enum Node {
    Step {
        exec: Exec,
        outcome: Outcome,
        /// A clone of the span is kept and dropped after everything else.
        late: bool,
        /// The step's work runs in a plain (non-entity) span inside it.
        wrapped: bool,
    },
    Process {
        /// `Inline` or `Thread`.
        exec: Exec,
        concurrent: bool,
        late: bool,
        children: Vec<Node>,
    },
    /// An ERROR event directly in the enclosing process or pipeline.
    Event,
}

#[derive(Debug, Clone)]
struct Pipeline {
    concurrent: bool,
    children: Vec<Node>,
}

#[derive(Debug, Clone)]
struct Case {
    pipelines: Vec<Pipeline>,
    pipelines_concurrent: bool,
    sequenced: bool,
    /// Order in which the late clones are dropped.
    shuffle: u64,
}

fn step() -> impl Strategy<Value = Node> {
    (
        prop_oneof![Just(Exec::Inline), Just(Exec::Thread), Just(Exec::Task)],
        prop_oneof![3 => Just(Outcome::Ok), 1 => Just(Outcome::Error), 1 => Just(Outcome::Panic)],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(exec, outcome, late, wrapped)| Node::Step {
            exec,
            outcome,
            late,
            wrapped,
        })
}

fn process() -> impl Strategy<Value = Node> {
    (
        prop_oneof![Just(Exec::Inline), Just(Exec::Thread)],
        any::<bool>(),
        any::<bool>(),
        vec(prop_oneof![4 => step(), 1 => Just(Node::Event)], 0..4),
    )
        .prop_map(|(exec, concurrent, late, children)| Node::Process {
            exec,
            concurrent,
            late,
            children,
        })
}

fn case() -> impl Strategy<Value = Case> {
    let pipeline = (
        any::<bool>(),
        vec(
            prop_oneof![2 => step(), 2 => process(), 1 => Just(Node::Event)],
            0..5,
        ),
    )
        .prop_map(|(concurrent, children)| Pipeline {
            concurrent,
            children,
        });
    (
        vec(pipeline, 1..4),
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(
            |(pipelines, pipelines_concurrent, sequenced, shuffle)| Case {
                pipelines,
                pipelines_concurrent,
                sequenced,
                shuffle,
            },
        )
}

// ---------------------------------------------------------------------------------------------
// The plan: the generated case with entities and failures numbered in program order.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pipeline,
    Process,
    Step,
}

#[derive(Debug)]
struct Entity {
    kind: Kind,
    name: String,
    parent: Option<usize>,
    pipeline: usize,
}

#[derive(Debug, Clone, Copy)]
struct Failure {
    /// The entity it happens in (a step, or a process or pipeline for an ERROR event).
    at: usize,
    panic: bool,
}

#[derive(Debug)]
enum Planned {
    Step {
        entity: usize,
        exec: Exec,
        failure: Option<usize>,
        late: bool,
        wrapped: bool,
    },
    Process {
        entity: usize,
        exec: Exec,
        concurrent: bool,
        late: bool,
        children: Vec<Planned>,
    },
    Event {
        failure: usize,
    },
}

#[derive(Debug)]
struct PlannedPipeline {
    entity: usize,
    concurrent: bool,
    children: Vec<Planned>,
}

#[derive(Debug, Default)]
struct Plan {
    entities: Vec<Entity>,
    failures: Vec<Failure>,
    pipelines: Vec<PlannedPipeline>,
    has_tasks: bool,
}

impl Plan {
    fn new(case: &Case) -> Plan {
        let mut plan = Plan::default();
        for (p, pipeline) in case.pipelines.iter().enumerate() {
            let entity = plan.entity(Kind::Pipeline, None, p);
            let children = plan.children(&pipeline.children, entity, p);
            plan.pipelines.push(PlannedPipeline {
                entity,
                concurrent: pipeline.concurrent,
                children,
            });
        }
        plan
    }

    fn entity(&mut self, kind: Kind, parent: Option<usize>, pipeline: usize) -> usize {
        let i = self.entities.len();
        let name = match kind {
            Kind::Pipeline => format!("pipeline-{i}"),
            Kind::Process => format!("process-{i}"),
            Kind::Step => format!("step-{i}"),
        };
        self.entities.push(Entity {
            kind,
            name,
            parent,
            pipeline,
        });
        i
    }

    fn failure(&mut self, at: usize, panic: bool) -> usize {
        self.failures.push(Failure { at, panic });
        self.failures.len() - 1
    }

    fn children(&mut self, nodes: &[Node], parent: usize, pipeline: usize) -> Vec<Planned> {
        nodes
            .iter()
            .map(|node| match node {
                Node::Step {
                    exec,
                    outcome,
                    late,
                    wrapped,
                } => {
                    let entity = self.entity(Kind::Step, Some(parent), pipeline);
                    let failure = match outcome {
                        Outcome::Ok => None,
                        Outcome::Error => Some(self.failure(entity, false)),
                        Outcome::Panic => Some(self.failure(entity, true)),
                    };
                    self.has_tasks |= *exec == Exec::Task;
                    Planned::Step {
                        entity,
                        exec: *exec,
                        failure,
                        late: *late,
                        wrapped: *wrapped,
                    }
                }
                Node::Process {
                    exec,
                    concurrent,
                    late,
                    children,
                } => {
                    let entity = self.entity(Kind::Process, Some(parent), pipeline);
                    let children = self.children(children, entity, pipeline);
                    Planned::Process {
                        entity,
                        exec: *exec,
                        concurrent: *concurrent,
                        late: *late,
                        children,
                    }
                }
                Node::Event => Planned::Event {
                    failure: self.failure(parent, false),
                },
            })
            .collect()
    }
}

fn exec_of(node: &Planned) -> Exec {
    match node {
        Planned::Step { exec, .. } | Planned::Process { exec, .. } => *exec,
        Planned::Event { .. } => Exec::Inline,
    }
}

// ---------------------------------------------------------------------------------------------
// Running the plan under the layer.

/// Lets failure `k` happen only after failures `0..k` have (when sequenced).
struct Sequencer {
    sequenced: bool,
    next: AtomicUsize,
}

impl Sequencer {
    fn ready(&self, k: usize) -> bool {
        !self.sequenced || self.next.load(Ordering::Acquire) == k
    }

    fn wait(&self, k: usize) {
        while !self.ready(k) {
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    async fn wait_async(&self, k: usize) {
        while !self.ready(k) {
            tokio::time::sleep(Duration::from_micros(100)).await;
        }
    }

    fn done(&self) {
        if self.sequenced {
            self.next.fetch_add(1, Ordering::AcqRel);
        }
    }
}

struct Runner<'a> {
    plan: &'a Plan,
    dispatch: Dispatch,
    runtime: Option<&'a tokio::runtime::Runtime>,
    sequencer: Arc<Sequencer>,
    late: Arc<Mutex<Vec<Span>>>,
}

/// Catches a panic inside a future, as `catch_unwind` does for a closure.
struct CatchUnwind(Pin<Box<dyn Future<Output = ()> + Send>>);

impl Future for CatchUnwind {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let inner = &mut self.0;
        std::panic::catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(cx)))
            .unwrap_or(Poll::Ready(()))
    }
}

/// What a failing step or event does.
fn fail(k: usize, panic: bool) {
    if panic {
        // Reported like any panic, into the test's captured output: a hook keeping it quiet
        // would have to sit behind the layer's (which reads the message), and in a test binary
        // shared with other layers nothing says which hook comes first.
        panic!("panic-{k}");
    }
    tracing::error!(error.type = "Boom", "boom-{k}");
}

impl Runner<'_> {
    fn name(&self, entity: usize) -> &str {
        &self.plan.entities[entity].name
    }

    fn keep_late(&self, late: bool, span: &Span) {
        if late {
            self.late.lock().unwrap().push(span.clone());
        }
    }

    fn pipelines(&self, concurrent: bool) {
        let pipelines = &self.plan.pipelines;
        if !concurrent {
            pipelines.iter().for_each(|p| self.pipeline(p));
            return;
        }
        std::thread::scope(|s| {
            for p in pipelines {
                s.spawn(|| tracing::dispatcher::with_default(&self.dispatch, || self.pipeline(p)));
            }
        });
    }

    fn pipeline(&self, p: &PlannedPipeline) {
        let span = tracing::info_span!(
            "pipeline",
            etl.pipeline = %self.name(p.entity),
            etl.run_id = %format!("run-{}", p.entity)
        );
        span.in_scope(|| self.children(&p.children, p.concurrent, &span));
    }

    /// Runs `children` of the current span `parent`, one after the other or side by side: the
    /// threads and tasks are started first, then the inline ones run here in order.
    fn children(&self, children: &[Planned], concurrent: bool, parent: &Span) {
        if !concurrent {
            for child in children {
                match exec_of(child) {
                    Exec::Inline => self.here(child),
                    Exec::Thread => std::thread::scope(|s| {
                        s.spawn(|| self.on_thread(child, parent));
                    }),
                    Exec::Task => self.join(self.task(child, parent)),
                }
            }
            return;
        }
        std::thread::scope(|s| {
            let mut tasks = Vec::new();
            for child in children {
                match exec_of(child) {
                    Exec::Inline => {}
                    Exec::Thread => {
                        s.spawn(|| self.on_thread(child, parent));
                    }
                    Exec::Task => tasks.push(self.task(child, parent)),
                }
            }
            for child in children.iter().filter(|c| exec_of(c) == Exec::Inline) {
                self.here(child);
            }
            for task in tasks {
                self.join(task);
            }
        });
    }

    fn join(&self, task: tokio::task::JoinHandle<()>) {
        self.runtime
            .unwrap()
            .block_on(task)
            .expect("the task caught its panic");
    }

    fn on_thread(&self, node: &Planned, parent: &Span) {
        tracing::dispatcher::with_default(&self.dispatch, || parent.in_scope(|| self.here(node)));
    }

    /// Runs `node` on this thread, inside the current span.
    fn here(&self, node: &Planned) {
        match node {
            Planned::Step {
                entity,
                failure,
                late,
                wrapped,
                ..
            } => {
                let span = tracing::info_span!("step", etl.step = %self.name(*entity));
                self.keep_late(*late, &span);
                let body = || {
                    let _chunk = wrapped.then(|| tracing::info_span!("chunk").entered());
                    if let Some(k) = *failure {
                        fail(k, self.plan.failures[k].panic);
                    }
                };
                match *failure {
                    None => span.in_scope(body),
                    Some(k) => {
                        self.sequencer.wait(k);
                        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| span.in_scope(body)));
                        self.sequencer.done();
                    }
                }
            }
            Planned::Process {
                entity,
                concurrent,
                late,
                children,
                ..
            } => {
                let span = tracing::info_span!("process", etl.process = %self.name(*entity));
                self.keep_late(*late, &span);
                span.in_scope(|| self.children(children, *concurrent, &span));
            }
            Planned::Event { failure } => {
                self.sequencer.wait(*failure);
                fail(*failure, false);
                self.sequencer.done();
            }
        }
    }

    /// Spawns a step as a task, its span a child of `parent`.
    fn task(&self, node: &Planned, parent: &Span) -> tokio::task::JoinHandle<()> {
        let Planned::Step {
            entity,
            failure,
            late,
            wrapped,
            ..
        } = *node
        else {
            unreachable!("only steps run as tasks");
        };
        let span = tracing::info_span!(parent: parent, "step", etl.step = %self.name(entity));
        self.keep_late(late, &span);
        let sequencer = self.sequencer.clone();
        let panic = failure.is_some_and(|k| self.plan.failures[k].panic);
        let work = async move {
            tokio::task::yield_now().await;
            let _chunk = wrapped.then(|| tracing::info_span!("chunk"));
            let _entered = _chunk.as_ref().map(|c| c.enter());
            if let Some(k) = failure {
                fail(k, panic);
            }
        };
        self.runtime.unwrap().spawn(async move {
            if let Some(k) = failure {
                sequencer.wait_async(k).await;
            }
            CatchUnwind(Box::pin(work.instrument(span))).await;
            if failure.is_some() {
                sequencer.done();
            }
        })
    }
}

/// Runs the case under the layer; the late clones are dropped last, in a shuffled order.
fn execute(case: &Case, plan: &Plan) {
    let dispatch = tracing::dispatcher::get_default(Dispatch::clone);
    let runtime = plan.has_tasks.then(support::runtime::multi_thread);
    let runner = Runner {
        plan,
        dispatch,
        runtime: runtime.as_ref(),
        sequencer: Arc::new(Sequencer {
            sequenced: case.sequenced,
            next: AtomicUsize::new(0),
        }),
        late: Arc::default(),
    };
    runner.pipelines(case.pipelines_concurrent);
    let late = runner.late.clone();
    drop(runner);
    drop(runtime);
    let mut late = std::mem::take(&mut *late.lock().unwrap());
    let mut seed = case.shuffle;
    while !late.is_empty() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let i = (seed >> 33) as usize % late.len();
        drop(late.swap_remove(i));
    }
}

// ---------------------------------------------------------------------------------------------
// The model and the checks.

/// The fields of an end record that the model predicts.
#[derive(Debug)]
struct End<'a> {
    name: &'a str,
    run_id: &'a str,
    status: RunStatus,
    error_type: Option<&'a str>,
    error_message: Option<&'a str>,
    failed_step: Option<&'a str>,
    failed_step_run_id: Option<&'a str>,
    process_run_id: Option<&'a str>,
    /// `process_run_id` of a process, `step_run_id` of a step.
    id: Option<&'a str>,
}

fn end_fields(r: &ExecutionRecord) -> End<'_> {
    End {
        name: &r.name,
        run_id: &r.run.run_id,
        status: r.outcome.status,
        error_type: r.outcome.error.type_name.as_deref(),
        error_message: r.outcome.error.message.as_deref(),
        failed_step: r.failed_step(),
        failed_step_run_id: r.failed_step_run_id(),
        process_run_id: r.process_run_id.as_deref(),
        id: r.entity_id(),
    }
}

/// The failure an error message names: `boom-K` or `panic-K`.
fn failure_named(message: &str) -> usize {
    let digits = message
        .strip_prefix("boom-")
        .or_else(|| message.strip_prefix("panic-"))
        .unwrap_or_else(|| panic!("not a generated failure: {message:?}"));
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().unwrap()
}

/// Entities from `entity` up to its pipeline, itself first.
fn chain(plan: &Plan, entity: usize) -> Vec<usize> {
    let mut out = vec![entity];
    while let Some(parent) = plan.entities[*out.last().unwrap()].parent {
        out.push(parent);
    }
    out
}

fn check(store: Store, case: &Case) {
    let plan = Plan::new(case);
    let (runs, ()) = run(store, || execute(case, &plan));
    let entities = &plan.entities;

    assert!(runs.warnings.is_empty(), "{:#?}", runs.warnings);
    assert_eq!(
        runs.records.len(),
        2 * entities.len(),
        "two records per entity, none else"
    );
    assert_eq!(runs.entity_count(), entities.len(), "one row per entity");

    // Exactly one start and one end record per entity, found by its (unique) name.
    let ends: Vec<&ExecutionRecord> = entities
        .iter()
        .map(|e| start_and_end(&runs, &e.name))
        .collect();

    // Failures inside each entity (its own and its descendants').
    let mut inside: Vec<Vec<usize>> = vec![Vec::new(); entities.len()];
    for (k, failure) in plan.failures.iter().enumerate() {
        for e in chain(&plan, failure.at) {
            inside[e].push(k);
        }
    }

    for (i, entity) in entities.iter().enumerate() {
        let end = end_fields(ends[i]);
        let name = &entity.name;
        assert_eq!(
            end.run_id,
            format!("run-{}", plan.pipelines[entity.pipeline].entity),
            "{name}"
        );
        let process = chain(&plan, i)[1..]
            .iter()
            .copied()
            .find(|&e| entities[e].kind == Kind::Process);
        match entity.kind {
            Kind::Step => assert_eq!(
                end.process_run_id,
                process.map(|p| end_fields(ends[p]).id.unwrap()),
                "{name}: the nearest process"
            ),
            Kind::Process => assert_eq!(end.process_run_id, end.id),
            Kind::Pipeline => {}
        }

        if inside[i].is_empty() {
            assert_eq!(end.status, RunStatus::Success, "{name}");
            assert_eq!(end.error_message, None, "{name}");
            assert_eq!(end.failed_step, None, "{name}");
            continue;
        }
        assert_eq!(end.status, RunStatus::Failed, "{name}");
        let message = end.error_message.expect("a failed entity has a message");
        let k = failure_named(message);
        assert!(
            inside[i].contains(&k),
            "{name}: failure {k} is not inside it"
        );
        if case.sequenced {
            assert_eq!(
                k, inside[i][0],
                "{name}: the first failure is the root cause"
            );
        }
        let failure = plan.failures[k];
        let expected_type = if failure.panic { "panic" } else { "Boom" };
        assert_eq!(end.error_type, Some(expected_type), "{name}");
        // Every entity between the failure and this one has the same root cause.
        for e in chain(&plan, failure.at) {
            let between = end_fields(ends[e]);
            assert_eq!(between.error_message, Some(message), "{}", entities[e].name);
            if e == i {
                break;
            }
        }
        if entity.kind != Kind::Step {
            let step = (entities[failure.at].kind == Kind::Step).then_some(failure.at);
            assert_eq!(
                end.failed_step,
                step.map(|s| entities[s].name.as_str()),
                "{name}"
            );
            assert_eq!(
                end.failed_step_run_id,
                step.map(|s| end_fields(ends[s]).id.unwrap()),
                "{name}"
            );
        }
    }
}

/// The end record of the entity named `name`, checking it has exactly one start and one end
/// record, in that order.
fn start_and_end<'a>(runs: &'a Runs, name: &str) -> &'a ExecutionRecord {
    let found: Vec<&ExecutionRecord> = runs
        .records
        .iter()
        .filter(|r| end_fields(r).name == name)
        .collect();
    assert_eq!(found.len(), 2, "{name}: {found:#?}");
    assert!(
        !found[0].event().is_end() && found[1].event().is_end(),
        "{name}"
    );
    assert_eq!(found[0].status(), RunStatus::Running, "{name}");
    assert_eq!(found[0].key(), found[1].key(), "{name}");
    found[1]
}

store_properties!(check, case);

/// One fixed case of every shape at once, sequenced: a smoke test that fails with a readable
/// message before the property does.
#[test]
fn every_shape_at_once() {
    let step = |exec, outcome, late, wrapped| Node::Step {
        exec,
        outcome,
        late,
        wrapped,
    };
    let process = Node::Process {
        exec: Exec::Thread,
        concurrent: true,
        late: true,
        children: vec![
            step(Exec::Task, Outcome::Ok, true, true),
            step(Exec::Thread, Outcome::Panic, false, false),
            step(Exec::Task, Outcome::Error, false, true),
            step(Exec::Inline, Outcome::Error, true, false),
            Node::Event,
        ],
    };
    let case = Case {
        pipelines: vec![
            Pipeline {
                concurrent: true,
                children: vec![step(Exec::Inline, Outcome::Ok, false, false), process],
            },
            Pipeline {
                concurrent: false,
                children: vec![Node::Event, step(Exec::Task, Outcome::Panic, true, false)],
            },
        ],
        pipelines_concurrent: true,
        sequenced: true,
        shuffle: 7,
    };
    check(Store::Memory, &case);
    let plan = Plan::new(&case);
    assert_eq!(plan.failures.len(), 6);
    assert_eq!(plan.entities.len(), 9);
}
