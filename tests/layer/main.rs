//! The layer: which records the spans of a program produce — runs, processes and steps, their
//! parentage, status and root cause — across threads, tasks, panics and hostile values.
//!
//! One test binary; each module is one behaviour. Every scenario records under its own
//! subscriber (`with_default`), never a global one, so the modules run in parallel in this
//! process without seeing each other.

#[macro_use]
#[path = "../support/mod.rs"]
mod support;

// Only `History` and `cli`, for the one hostile-input case that goes through the binary.
#[cfg(feature = "cli")]
#[allow(dead_code)]
#[path = "../cli_support/mod.rs"]
mod cli_support;

mod attempt_validation;
mod cancellation;
mod concurrency_model;
mod entity_reuse;
mod error_fields;
mod failure_propagation;
mod field_visitor_fuzz;
mod global_filter;
mod hostile_input;
mod late_fields;
mod non_entity_spans;
mod odd_shapes;
mod panic;
mod parentage;
mod run_fields;
mod runtime_threads;
mod span_trees;
mod start_end_records;
mod step_failure;
mod success;
mod threads;
mod tokio_tasks;
mod two_layers;
mod volume_fields;
