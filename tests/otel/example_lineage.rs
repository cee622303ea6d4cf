//! `examples/etl_job` with the OpenLineage variables set sends a run event for every entity, to
//! a file and over HTTP to a real endpoint; the official `openlineage-python` client builds its
//! own `RunEvent` from every one of them, with its validators, and serialises it back to the
//! same event (the interpreter is `TRACING_ETL_PYTHON`, made by `.ci/python-readers`).

use crate::lineage_support::LineageReceiver;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile_dir
        .join("examples")
        .join(format!("etl_job{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: `cargo test --all-features` builds it",
        binary.display()
    );
    binary
}

/// Runs the job on `input` (a file of `examples/data`) as run `run_id` with the variables
/// `env`; whether it succeeded.
fn job(dir: &Path, run_id: &str, input: &str, env: &[(&str, &str)]) -> bool {
    let mut command = Command::new(example_binary());
    for (name, _) in std::env::vars() {
        if name.starts_with("OTEL_") || name.starts_with("OPENLINEAGE") {
            command.env_remove(name);
        }
    }
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data");
    let output = command
        .args(["--run-id", run_id, "--db"])
        .arg(dir.join("runs.db"))
        .arg("--input")
        .arg(data.join(input))
        .arg("--output")
        .arg(dir.join("daily_sales.csv"))
        .env("RUST_LOG", "error")
        .env_remove("TRACING_ETL_STORE")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("OpenLineage"),
        "no lineage error expected: {stderr}"
    );
    output.status.success()
}

/// The Python interpreter with `openlineage-python`: `TRACING_ETL_PYTHON`, which CI sets.
/// Without it the test is skipped, except in CI (`CI` set), where it is a failure.
fn python() -> Option<PathBuf> {
    match std::env::var_os("TRACING_ETL_PYTHON").filter(|v| !v.is_empty()) {
        Some(python) => Some(PathBuf::from(python)),
        None if std::env::var_os("CI").is_some() => {
            panic!("TRACING_ETL_PYTHON is not set: CI must provide the Python readers")
        }
        None => {
            eprintln!(
                "skipped: set TRACING_ETL_PYTHON to a Python with openlineage-python \
                 (`bash .ci/python-readers` makes one in .ci/venv)"
            );
            None
        }
    }
}

/// What `openlineage-python` says of the events in `files`: its summary, or the test fails
/// with its error.
fn python_check(python: &Path, files: &[&Path]) -> Value {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lineage_support/check_events.py");
    let output = Command::new(python)
        .arg(script)
        .arg(tracing_etl::lineage::TRACING_ETL_FACET_SCHEMA)
        .args(files)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "openlineage-python refused the events:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn read_events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Per run id, its event types in order.
fn types_by_run(events: &[Value]) -> HashMap<String, Vec<String>> {
    let mut runs: HashMap<String, Vec<String>> = HashMap::new();
    for event in events {
        runs.entry(event["run"]["runId"].as_str().unwrap().to_owned())
            .or_default()
            .push(event["eventType"].as_str().unwrap().to_owned());
    }
    runs
}

/// A good run: 9 entities (a pipeline, 3 processes, 5 steps), each a START and a COMPLETE. A
/// bad one fails in `validate`: it, `extract` and the pipeline FAIL; nothing runs after.
fn check_runs(events: &[Value]) {
    let runs = types_by_run(events);
    for types in runs.values() {
        assert_eq!(types.len(), 2, "{types:?}");
        assert_eq!(types[0], "START");
    }
    let count = |t: &str| runs.values().filter(|types| types[1] == t).count();
    assert_eq!(count("COMPLETE") + count("FAIL"), runs.len());
    assert_eq!(count("FAIL"), 3, "validate, extract, daily_sales");
    let names: Vec<&str> = events
        .iter()
        .filter_map(|e| e["job"]["name"].as_str())
        .collect();
    assert!(names.contains(&"daily_sales.extract.validate"));
    assert!(names.contains(&"daily_sales.load.write_output"));
}

#[test]
fn openlineage_python_builds_its_run_events_from_every_event_the_example_sends() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let spill = dir.path().join("spill");
    let spill = spill.to_str().unwrap();

    // To a file.
    let file = dir.path().join("lineage.jsonl");
    let file_env = [
        ("OPENLINEAGE__TRANSPORT__TYPE", "file"),
        (
            "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH",
            file.to_str().unwrap(),
        ),
        ("OPENLINEAGE_NAMESPACE", "warehouse"),
        ("TMPDIR", spill),
    ];
    assert!(job(dir.path(), "run-ok", "orders.csv", &file_env));
    assert!(!job(dir.path(), "run-bad", "orders_bad.csv", &file_env));
    let from_file = read_events(&file);
    check_runs(&from_file);

    // Over HTTP.
    let receiver = LineageReceiver::start();
    let url = receiver.url();
    let http_env = [
        ("OPENLINEAGE_URL", url.as_str()),
        ("OPENLINEAGE_API_KEY", "k"),
        ("TMPDIR", spill),
    ];
    assert!(job(dir.path(), "run-ok-http", "orders.csv", &http_env));
    assert!(!job(
        dir.path(),
        "run-bad-http",
        "orders_bad.csv",
        &http_env
    ));
    let over_http = receiver.events();
    check_runs(&over_http);
    assert!(over_http.iter().all(|e| e["job"]["namespace"] == "default"));
    let http_file = dir.path().join("http.jsonl");
    let lines: Vec<String> = over_http.iter().map(Value::to_string).collect();
    std::fs::write(&http_file, lines.join("\n") + "\n").unwrap();

    let summary = python_check(&python, &[&file, &http_file]);
    assert_eq!(
        summary["checked"].as_u64().unwrap() as usize,
        from_file.len() + over_http.len(),
        "{summary}"
    );
    assert_eq!(
        summary["runs"].as_u64().unwrap() as usize * 2,
        from_file.len() + over_http.len()
    );
}
