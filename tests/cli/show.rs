//! `tracing-etl show`: a run as a tree with the root cause marked; run ids by prefix, `latest`,
//! attempts; nested JSON.

use crate::cli_support;

use cli_support::{cli, nightly, weekly, History};
use serde_json::Value;

fn history() -> History {
    let history = History::new();
    history.record(|| {
        nightly("alpha-0001", 1, true).unwrap_err();
        nightly("alpha-0001", 2, false).unwrap();
        nightly("alpha-0002", 1, false).unwrap();
        weekly("beta-0001");
        nightly("gamma-0001", 1, true).unwrap_err();
    });
    history
}

fn stdout(cmd: &mut assert_cmd::Command) -> String {
    let out = cmd.assert().success().get_output().stdout.clone();
    String::from_utf8(out).unwrap()
}

fn stderr_of(cmd: &mut assert_cmd::Command, code: i32) -> String {
    let out = cmd.assert().code(code).get_output().clone();
    assert!(
        out.stdout.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// The table row whose first cell (after the tree drawing) is `name`.
fn row<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| {
            l.trim_start_matches(['├', '└', '│', '─', ' '])
                .split_whitespace()
                .next()
                == Some(name)
        })
        .unwrap_or_else(|| panic!("no row {name} in\n{out}"))
}

#[test]
fn a_failed_run_is_a_tree_with_the_root_cause_marked() {
    let history = history();
    let out = stdout(cli(&history.path).args(["show", "gamma-0001"]));
    assert!(
        out.starts_with("run gamma-0001  pipeline nightly  attempt 1\n"),
        "{out}"
    );
    assert!(
        out.lines().nth(1).unwrap().starts_with("failed  started "),
        "{out}"
    );

    let pipeline = row(&out, "nightly");
    assert!(pipeline.starts_with("nightly "), "{pipeline}");
    assert!(pipeline.contains("pipeline  failed"), "{pipeline}");
    let extract = row(&out, "extract");
    assert!(extract.starts_with("└─ extract "), "{extract}");
    assert!(extract.contains("process   failed"), "{extract}");
    let read = row(&out, "read");
    assert!(read.starts_with("   ├─ read "), "{read}");
    assert!(read.contains("step      success"), "{read}");
    let parse = row(&out, "parse");
    assert!(parse.starts_with("   └─ parse  ← root cause"), "{parse}");
    assert!(
        parse.ends_with("BadAmount: row 58: amount \"twelve\" is not a number"),
        "{parse}"
    );
    // Start offsets from the pipeline's start, durations.
    assert!(pipeline.contains(" +0ms "), "{pipeline}");
    assert!(read.contains(" +"), "{read}");
    // `publish` never ran.
    assert!(!out.contains("publish"), "{out}");
    // The root cause in full below the tree.
    assert!(
        out.contains("root cause: step parse (step_run_id "),
        "{out}"
    );
    assert!(out.contains("  type     BadAmount\n"), "{out}");
    assert!(
        out.contains("  message  row 58: amount \"twelve\" is not a number\n"),
        "{out}"
    );
}

#[test]
fn steps_directly_under_the_pipeline_sit_beside_its_processes() {
    let history = history();
    let out = stdout(cli(&history.path).args(["show", "alpha-0002"]));
    assert!(row(&out, "extract").starts_with("├─ extract "), "{out}");
    assert!(row(&out, "read").starts_with("│  ├─ read "), "{out}");
    assert!(row(&out, "parse").starts_with("│  └─ parse "), "{out}");
    let publish = row(&out, "publish");
    assert!(publish.starts_with("└─ publish "), "{out}");
    assert!(publish.contains("step      success"), "{out}");
    assert!(!out.contains("root cause"), "{out}");
}

#[test]
fn run_ids_match_by_unique_prefix_and_latest() {
    let history = history();
    let first_line = |arg: &str| {
        stdout(cli(&history.path).args(["show", arg]))
            .lines()
            .next()
            .unwrap()
            .to_owned()
    };
    assert!(first_line("gam").starts_with("run gamma-0001 "));
    assert!(first_line("beta").starts_with("run beta-0001  pipeline weekly "));
    assert!(first_line("alpha-0002").starts_with("run alpha-0002 "));
    assert!(first_line("latest").starts_with("run gamma-0001 "));

    let err = stderr_of(cli(&history.path).args(["show", "alpha"]), 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("ambiguous"), "{err}");
    assert!(
        err.contains("alpha-0001") && err.contains("alpha-0002"),
        "{err}"
    );
    assert!(!err.contains("beta"), "{err}");

    let err = stderr_of(cli(&history.path).args(["show", "delta"]), 2);
    assert_eq!(err.trim(), "tracing-etl: no run id starts with \"delta\"");
    // Wildcards are literal.
    stderr_of(cli(&history.path).args(["show", "%"]), 2);
    stderr_of(cli(&history.path).args(["show", "_lpha"]), 2);

    let empty = History::new();
    let err = stderr_of(cli(&empty.path).args(["show", "latest"]), 2);
    assert!(err.contains("no pipeline runs recorded yet"), "{err}");
}

#[test]
fn attempts_default_to_the_last_one() {
    let history = history();
    let out = stdout(cli(&history.path).args(["show", "alpha-0001"]));
    assert!(
        out.starts_with("run alpha-0001  pipeline nightly  attempt 2\n"),
        "{out}"
    );
    assert!(out.lines().nth(1).unwrap().starts_with("success"), "{out}");
    assert!(out.contains("other attempts: 1 (failed)"), "{out}");

    let out = stdout(cli(&history.path).args(["show", "alpha-0001", "--attempt", "1"]));
    assert!(
        out.starts_with(
            "run alpha-0001  pipeline nightly  attempt 1 (not the last: attempt 2 recorded later)\n"
        ),
        "{out}"
    );
    assert!(row(&out, "parse").contains("← root cause"), "{out}");
    assert!(out.contains("other attempts: 2 (success)"), "{out}");

    let err = stderr_of(
        cli(&history.path).args(["show", "alpha-0001", "--attempt", "3"]),
        2,
    );
    assert!(err.contains("has no attempt 3 (recorded: 1, 2)"), "{err}");
    stderr_of(
        cli(&history.path).args(["show", "alpha-0001", "--attempt", "0"]),
        2,
    );
}

#[test]
fn json_lists_processes_and_every_step_with_its_process() {
    let history = history();
    let out = stdout(cli(&history.path).args(["show", "alpha-0002", "--json"]));
    let run: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(run["run_id"], "alpha-0002");
    assert_eq!(run["pipeline"], "nightly");
    assert_eq!(run["status"], "success");
    let processes = run["processes"].as_array().unwrap();
    assert_eq!(processes.len(), 1);
    assert_eq!(processes[0]["process"], "extract");
    assert!(processes[0].get("steps").is_none(), "{out}");
    let steps = run["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(names, ["read", "parse", "publish"], "in start order");
    for s in &steps[..2] {
        assert_eq!(s["process_run_id"], processes[0]["process_run_id"]);
    }
    assert_eq!(steps[2]["process_run_id"], Value::Null);

    let out = stdout(cli(&history.path).args(["show", "gamma", "--json"]));
    let run: Value = serde_json::from_str(&out).unwrap();
    let parse = &run["steps"][1];
    assert_eq!(parse["step"], "parse");
    assert_eq!(run["failed_step_run_id"], parse["step_run_id"]);
    assert_eq!(parse["error_type"], "BadAmount");
}
