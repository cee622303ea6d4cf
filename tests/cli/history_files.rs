//! Histories in unusual states: a SQLite file being created by a job while the tool reads it, and
//! histories in a directory the reader cannot write.

use crate::cli_support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use cli_support::{cli, nightly, History};
use serde_json::Value;
use tracing_etl::SqliteStore;

/// `runs --json` of `path`: its status and output.
fn runs_json(path: &Path) -> std::process::Output {
    cli(path).args(["runs", "--json"]).output().unwrap()
}

#[test]
fn a_history_without_tables_yet_is_empty_and_a_foreign_database_is_not() {
    let dir = tempfile::tempdir().unwrap();
    // What a job's first moments leave: an empty file, then a WAL database with no tables.
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, "").unwrap();
    let creating = dir.path().join("creating.db");
    let conn = rusqlite::Connection::open(&creating).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    for path in [&empty, &creating] {
        for command in [
            &["runs"][..],
            &["failures"],
            &["running"],
            &["show", "latest"],
        ] {
            let out = cli(path).args(command).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            if command[0] == "show" {
                // No run to show is the one error an empty history gives.
                assert!(err.contains("no pipeline runs recorded yet"), "{err}");
            } else {
                assert!(
                    out.status.success(),
                    "{command:?} {}: {err}",
                    path.display()
                );
            }
        }
        let out = runs_json(path);
        assert!(out.status.success());
        assert_eq!(
            serde_json::from_slice::<Value>(&out.stdout).unwrap(),
            Value::Array(vec![])
        );
    }
    drop(conn);
}

#[test]
fn a_history_being_created_reads_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    let current = Arc::new(Mutex::new(dir.path().join("runs-0.db")));
    let done = Arc::new(AtomicBool::new(false));
    // Jobs creating new histories one after another, each read while it is created.
    let writer = {
        let (current, done, dir) = (
            Arc::clone(&current),
            Arc::clone(&done),
            dir.path().to_owned(),
        );
        std::thread::spawn(move || {
            let mut created = 0;
            while !done.load(Ordering::Relaxed) || created < 20 {
                let path = dir.join(format!("runs-{created}.db"));
                *current.lock().unwrap() = path.clone();
                drop(SqliteStore::open(&path).unwrap());
                created += 1;
            }
            created
        })
    };
    let mut read = 0;
    for _ in 0..150 {
        let path = current.lock().unwrap().clone();
        let out = runs_json(&path);
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            assert_eq!(
                serde_json::from_slice::<Value>(&out.stdout).unwrap(),
                Value::Array(vec![])
            );
            read += 1;
        } else {
            // Before its creation there is no file: that is the one other answer.
            assert!(err.contains("no run history at"), "{err}");
        }
    }
    done.store(true, Ordering::Relaxed);
    let created = writer.join().unwrap();
    assert!(read > 0 && created >= 20, "read {read}, created {created}");
}

/// Runs `args` of the tool as the unprivileged user `nobody`, or `None` (with a note) where
/// that is not possible: root bypasses permissions, so only another user shows them.
fn as_nobody(args: &[&std::ffi::OsStr]) -> Option<std::process::Output> {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let setpriv = std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !root || !setpriv {
        eprintln!("skipped: reading as another user needs root and setpriv(1)");
        return None;
    }
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_tracing-etl"))
        .args(args)
        .env_remove("TRACING_ETL_STORE")
        .env_remove("TRACING_ETL_DB")
        .env_remove("TRACING_ETL_POSTGRES");
    Some(cmd.output().unwrap())
}

/// Makes `dir` and what it holds readable, not writable, by others.
fn readable_by_others(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_history_in_a_directory_the_reader_cannot_write_is_read() {
    let history = History::new();
    history.record(|| {
        nightly("ro-1", 1, true).ok();
        nightly("ro-2", 1, false).unwrap();
    });
    let dir = history.path.parent().unwrap().to_owned();
    readable_by_others(&dir);
    let before: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(before.len(), 1, "a closed history is one file");

    let db = history.path.as_os_str();
    let Some(out) = as_nobody(&["--db".as_ref(), db, "runs".as_ref(), "--json".as_ref()]) else {
        return;
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 2, "{runs}");
    let out = as_nobody(&["--db".as_ref(), db, "failures".as_ref()]).unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ro-1"));
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "nothing created"
    );
}

#[test]
fn a_json_lines_history_in_a_directory_the_reader_cannot_write_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = tracing_etl::JsonLinesStore::open(dir.path()).unwrap();
    let (layer, guard) = tracing_etl::ExecutionRecordsLayer::new(store);
    {
        use tracing_subscriber::prelude::*;
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            nightly("ro-jsonl", 1, false).unwrap();
        });
    }
    guard.shutdown().unwrap();
    readable_by_others(dir.path());
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    let Some(out) = as_nobody(&[
        "--jsonl".as_ref(),
        dir.path().as_os_str(),
        "runs".as_ref(),
        "--json".as_ref(),
    ]) else {
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs[0]["run_id"], "ro-jsonl");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), files);
}
