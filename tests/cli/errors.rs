//! Bad input never panics and never prints an empty list: a missing, foreign or corrupt store
//! and bad arguments are one line on stderr and exit status 2.

use crate::cli_support;

use cli_support::{bare_cli, cli, nightly, History};

/// Runs the binary, expects `code`, and returns its stderr (which must be a single line for
/// the tool's own errors).
fn fails(cmd: &mut assert_cmd::Command, code: i32) -> String {
    let out = cmd.assert().code(code).get_output().clone();
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn a_missing_database_is_an_error_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.db");
    for command in [
        &["runs"][..],
        &["show", "latest"],
        &["failures"],
        &["running"],
        &["reap"],
        &["reap", "--dry-run"],
    ] {
        let err = fails(cli(&path).args(command), 2);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("tracing-etl: no run history at "), "{err}");
        assert!(err.contains("nope.db"), "{err}");
        assert!(!path.exists(), "{command:?} created the database");
    }
    // The default file, in the working directory.
    let err = fails(bare_cli().current_dir(dir.path()).arg("runs"), 2);
    assert!(err.contains("tracing-etl.db"), "{err}");
    assert!(!dir.path().join("tracing-etl.db").exists());
    // A directory.
    let err = fails(cli(dir.path()).arg("runs"), 2);
    assert!(err.contains("is a directory"), "{err}");
}

#[test]
fn a_corrupt_or_foreign_database_is_an_error() {
    let dir = tempfile::tempdir().unwrap();

    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, "this is not a database, just some text ".repeat(200)).unwrap();
    for command in [&["runs"][..], &["reap"], &["failures"]] {
        let err = fails(cli(&junk).args(command), 2);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("junk.db") && err.contains("not a database"),
            "{err}"
        );
    }

    // A SQLite database of someone else's.
    let foreign = dir.path().join("foreign.db");
    let conn = rusqlite::Connection::open(&foreign).unwrap();
    conn.execute_batch("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
        .unwrap();
    drop(conn);
    let err = fails(cli(&foreign).arg("runs"), 2);
    assert!(err.contains("not a tracing-etl database"), "{err}");

    // A real history whose pages were overwritten after the header.
    let history = History::new();
    history.record(|| {
        for i in 0..50 {
            nightly(&format!("run-{i}"), 1, i % 7 == 0).ok();
        }
    });
    let mut bytes = std::fs::read(&history.path).unwrap();
    assert!(bytes.len() > 8192, "{}", bytes.len());
    for b in &mut bytes[4096..] {
        *b = 0xA5;
    }
    std::fs::write(&history.path, bytes).unwrap();
    for command in [
        &["runs"][..],
        &["show", "run-1"],
        &["failures"],
        &["running"],
    ] {
        let err = fails(cli(&history.path).args(command), 2);
        assert_eq!(err.lines().count(), 1, "{command:?}: {err}");
        assert!(err.starts_with("tracing-etl: sqlite store "), "{err}");
    }
}

#[test]
fn a_database_from_a_newer_release_is_refused() {
    let history = History::new();
    let store = tracing_etl::SqliteStore::open(&history.path).unwrap();
    store
        .connection()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    drop(store);
    let err = fails(cli(&history.path).arg("runs"), 2);
    assert!(err.contains("newer tracing-etl"), "{err}");
}

#[test]
fn usage_errors_exit_with_status_2() {
    let history = History::new();
    for args in [
        &[][..],
        &["nope"],
        &["runs", "--bogus"],
        &["runs", "--status", "done"],
        &["runs", "--limit", "0"],
        &["runs", "--limit", "many"],
        &["runs", "--since", "last tuesday"],
        &["show"],
        &["show", "x", "--attempt", "first"],
        &["running", "--older-than", "-1h"],
        &["reap", "--grace", "soon"],
        &["runs", "--color", "sometimes"],
    ] {
        let err = fails(cli(&history.path).args(args), 2);
        assert!(
            err.contains("Usage") || err.contains("error:"),
            "{args:?}: {err}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let err = fails(
        cli(&history.path)
            .arg("--jsonl")
            .arg(dir.path())
            .arg("runs"),
        2,
    );
    assert!(err.contains("cannot be used with"), "{err}");
    // Help is not an error.
    cli(&history.path).arg("--help").assert().code(0);
    cli(&history.path).args(["runs", "--help"]).assert().code(0);
}

#[test]
fn colour_only_when_asked_for_or_on_a_terminal() {
    let history = History::new();
    history.record(|| {
        nightly("run-1", 1, true).ok();
    });
    let out = |extra: &[&str], no_color: bool| {
        let mut cmd = cli(&history.path);
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        let out = cmd.arg("runs").args(extra).assert().success();
        String::from_utf8(out.get_output().stdout.clone()).unwrap()
    };
    assert!(!out(&[], false).contains('\u{1b}'), "piped: no colour");
    assert!(!out(&["--color", "auto"], true).contains('\u{1b}'));
    assert!(!out(&["--color", "never"], false).contains('\u{1b}'));
    let coloured = out(&["--color", "always"], false);
    assert!(coloured.contains("\u{1b}["), "{coloured:?}");
    assert!(coloured.contains("failed"), "{coloured:?}");
    // JSON is never coloured.
    assert!(!out(&["--color", "always", "--json"], false).contains('\u{1b}'));
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let history = History::new();
    history.record(|| {
        for i in 0..200 {
            nightly(&format!("run-{i}"), 1, false).ok();
        }
    });
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tracing-etl"))
        .arg("--db")
        .arg(&history.path)
        .args(["runs", "--limit", "200"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close our end of stdout at once, as `| head -0` would.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}
