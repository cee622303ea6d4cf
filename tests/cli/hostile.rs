//! Text from a history is data: a history whose ids, names, error types and messages carry
//! terminal controls (clear screen, OSC 52 clipboard, OSC 8 links, the C1 CSI, carriage return,
//! bidi overrides, DEL) reaches the terminal escaped from every command, in its output, notes and
//! errors, with or without colour; `--json` stays valid JSON that decodes to the text recorded.

use crate::cli_support;

use cli_support::{cli, History};
use serde_json::Value;
use tracing_etl::{ExecutionRecordsLayer, SqliteStore};
use tracing_subscriber::prelude::*;

/// Every attack of the report in one string.
const HOSTILE: &str = "\u{1b}[2J\u{1b}]52;c;cHduZWQ=\u{7}\u{1b}]8;;https://evil.example\u{1b}\\\
                       link\u{1b}]8;;\u{1b}\\\u{9b}32mOK\r\u{202e}gnp.exe\u{7f}\tfake\nline";

/// How the clear-screen sequence must look once escaped.
const VISIBLE: &str = "\\u{1b}[2J";

/// A character that must not reach a terminal raw (the rule the tool follows).
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// Panics if `bytes` hold a raw control or bidi character other than the newlines between lines
/// and, with `colour`, the tool's own SGR colour sequences (`ESC [ digits ; m`).
fn assert_clean(what: &str, bytes: &[u8], colour: bool) {
    let text = std::str::from_utf8(bytes).unwrap_or_else(|e| panic!("{what}: not UTF-8: {e}"));
    let mut rest = text;
    while let Some((i, c)) = rest
        .char_indices()
        .find(|&(_, c)| is_unsafe(c) && c != '\n')
    {
        let after = &rest[i + c.len_utf8()..];
        let sgr_len = after
            .strip_prefix('[')
            .and_then(|a| a.find(|ch: char| !ch.is_ascii_digit() && ch != ';'))
            .filter(|&end| after[1 + end..].starts_with('m'))
            .map(|end| 1 + end + 1);
        match sgr_len {
            Some(len) if colour && c == '\u{1b}' => rest = &after[len..],
            _ => panic!(
                "{what}: raw {c:?} at byte {} of:\n{text:?}",
                text.len() - rest.len() + i
            ),
        }
    }
}

/// Records `run_id`'s pipeline `name`, whose step `name` fails with a hostile error type and
/// message; with `stuck`, a process and step left open at a clean shutdown (abandoned).
fn record(history: &History, run_id: &str, stuck: bool) {
    let (layer, guard) = ExecutionRecordsLayer::new(SqliteStore::open(&history.path).unwrap());
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let name = format!("nightly{HOSTILE}");
    let spans = tracing::dispatcher::with_default(&dispatch, || {
        let pipeline = tracing::info_span!("p", etl.pipeline = %name, etl.run_id = run_id);
        let process = pipeline.in_scope(|| tracing::info_span!("l", etl.process = %name));
        process.in_scope(|| {
            let _step = tracing::info_span!("s", etl.step = %name).entered();
            tracing::error!(error.type = %format!("Bad{HOSTILE}"), "message{HOSTILE}");
        });
        let open = process.in_scope(|| tracing::info_span!("w", etl.step = %name));
        if stuck {
            vec![pipeline, process, open]
        } else {
            Vec::new()
        }
    });
    guard.shutdown().unwrap();
    drop(spans);
}

/// A history with a failed run and a stuck one, both hostile.
fn hostile_history() -> (History, String, String) {
    let history = History::new();
    let failed = format!("run{HOSTILE}");
    let stuck = format!("run{HOSTILE}-stuck");
    record(&history, &failed, false);
    record(&history, &stuck, true);
    (history, failed, stuck)
}

/// Runs the CLI with `args` (with and without colour), checks stdout and stderr are clean and
/// that at least one of them shows the escaped text; returns (stdout, stderr) without colour.
fn clean_run(history: &History, args: &[&str]) -> (String, String) {
    let mut plain = None;
    for colour in ["never", "always"] {
        let out = cli(&history.path)
            .args(["--color", colour])
            .args(args)
            .output()
            .unwrap();
        let what = format!("{args:?} --color {colour}");
        assert_clean(&format!("{what} stdout"), &out.stdout, colour == "always");
        assert_clean(&format!("{what} stderr"), &out.stderr, colour == "always");
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stdout.contains(VISIBLE) || stderr.contains(VISIBLE),
            "{what}: the escaped text is not shown:\n{stdout}\n{stderr}"
        );
        plain.get_or_insert((stdout, stderr));
    }
    plain.unwrap()
}

#[test]
fn every_command_prints_hostile_text_escaped() {
    let (history, failed, stuck) = hostile_history();
    let (runs, _) = clean_run(&history, &["runs"]);
    // One value, one line: the embedded newline and tab are shown, not obeyed.
    assert!(
        runs.contains("\\r\\u{202e}gnp.exe\\u{7f}\\tfake\\nline"),
        "{runs}"
    );
    assert!(runs.contains("\\u{9b}32mOK"), "{runs}");
    assert!(!runs.lines().any(|l| l.starts_with("line")), "{runs}");

    let (show, _) = clean_run(&history, &["show", &failed]);
    assert!(show.contains(&format!("Bad{VISIBLE}")), "{show}");
    clean_run(&history, &["show", "latest"]);
    clean_run(&history, &["failures"]);
    let (running, notes) = clean_run(&history, &["running"]);
    assert!(running.contains("abandoned"), "{running}\n{notes}");
    clean_run(&history, &["reap", "--dry-run"]);
    let out = cli(&history.path).arg("reap").output().unwrap();
    assert_clean("reap", &out.stdout, false);
    assert_clean("reap stderr", &out.stderr, false);
    assert!(String::from_utf8_lossy(&out.stdout).contains(VISIBLE));
    // Reaped, the stuck run is a failure like the other.
    let (show, _) = clean_run(&history, &["show", &stuck]);
    assert!(show.contains("abandoned"), "{show}");
}

#[test]
fn errors_that_echo_hostile_text_escape_it() {
    let (history, failed, _) = hostile_history();
    // A prefix of both run ids: the ambiguity lists them.
    let prefix = format!("run{}", &HOSTILE[..4]);
    let (_, err) = clean_run(&history, &["show", &prefix]);
    assert!(err.contains("ambiguous"), "{err}");
    let (_, err) = clean_run(&history, &["show", &failed, "--attempt", "9"]);
    assert!(err.contains("has no attempt 9"), "{err}");
    let (_, err) = clean_run(&history, &["show", &format!("nothing{HOSTILE}")]);
    assert!(err.contains("no run id starts with"), "{err}");
    // A usage error quoting its argument (the command line's own text, its lines kept).
    for colour in ["never", "always"] {
        let out = cli(&history.path)
            .args(["--color", colour, "runs", "--limit", HOSTILE])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert_clean("usage error", &out.stderr, colour == "always");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--limit"));
    }
}

#[test]
fn replay_escapes_the_file_name_and_the_lines_it_rejects() {
    let (history, _, _) = hostile_history();
    let dir = tempfile::tempdir().unwrap();
    // A file name may hold anything but `/` and NUL.
    let file = dir
        .path()
        .join(format!("spill{}.jsonl", HOSTILE.replace('/', "")));
    std::fs::write(&file, "").unwrap();
    let file = file.to_str().unwrap();
    let (out, _) = clean_run(&history, &["replay", file]);
    assert!(out.contains("replayed 0 records"), "{out}");
    // A line that is not a record, quoted in the error.
    std::fs::write(file, format!("{{\"kind\":\"{HOSTILE}\"}}\n{{}}\n")).unwrap();
    let (_, err) = clean_run(&history, &["replay", file]);
    assert!(err.contains("not an execution record"), "{err}");
}

#[test]
fn json_output_is_valid_and_carries_the_text_as_recorded() {
    let (history, failed, _) = hostile_history();
    for args in [
        &["runs", "--json"][..],
        &["show", &failed, "--json"],
        &["failures", "--json"],
        &["running", "--json"],
    ] {
        let out = cli(&history.path).args(args).output().unwrap();
        assert_clean(&format!("{args:?}"), &out.stdout, false);
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        let text = json.to_string();
        assert!(text.contains("\\u001b[2J"), "{args:?}: {text}");
        let first = match &json {
            Value::Array(items) => items[0].clone(),
            other => other.clone(),
        };
        assert!(
            first["run_id"]
                .as_str()
                .unwrap()
                .starts_with("run\u{1b}[2J"),
            "{args:?}: {first}"
        );
    }
    let out = cli(&history.path)
        .args(["runs", "--json"])
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["run_id"].as_str() == Some(failed.as_str())));
}
