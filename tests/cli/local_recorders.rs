//! A recorder on this host is judged by its process, not its heartbeat: alive (even with a
//! heartbeat gone stale, as during a store stall) is live and never reaped; gone is abandoned at
//! once. A recorder on another host is judged by its heartbeat.

use crate::cli_support;
use crate::running::spawn_recorder;

use std::time::Duration;

use chrono::Utc;
use cli_support::{cli, record_stuck, History};
use serde_json::Value;
use tracing_etl::{
    record::RecorderHeartbeat, store::RecordReader, ExecutionRecordStore, SqliteStore,
};

/// `running --json` with `args`: (liveness, reason) of each entity.
fn verdicts(history: &History, args: &[&str]) -> Vec<(String, String)> {
    let out = cli(&history.path)
        .args(["running", "--json"])
        .args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let entities: Vec<Value> = serde_json::from_slice(&out).unwrap();
    entities
        .iter()
        .map(|e| {
            (
                e["liveness"].as_str().unwrap().to_owned(),
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Sends `signal` (`STOP`, `CONT`) to `pid`.
fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_live_local_recorder_with_a_stale_heartbeat_is_live_and_not_reaped() {
    let history = History::new();
    let mut child = spawn_recorder(&history);
    let pid = child.id();
    // Stopped, it cannot beat: its heartbeat goes stale, as when its store stalls.
    signal(pid, "STOP");
    // Three of its 100 ms beats missed, and then some.
    std::thread::sleep(Duration::from_millis(800));
    let beats = SqliteStore::open_read_only(&history.path)
        .unwrap()
        .read_recorders()
        .unwrap();
    assert!(
        !beats[0].is_alive(Utc::now(), Duration::ZERO),
        "the heartbeat is stale"
    );

    let found = verdicts(&history, &["--grace", "0s"]);
    assert_eq!(found.len(), 3);
    for (liveness, reason) in &found {
        assert_eq!(liveness, "live", "{reason}");
        assert!(
            reason.contains(&format!("(pid {pid}) runs on this host")),
            "{reason}"
        );
    }
    let out = cli(&history.path)
        .args(["reap", "--grace", "0s"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(
        String::from_utf8_lossy(&out).starts_with("nothing to reap"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    cli(&history.path).arg("failures").assert().code(0);

    // Gone, it is abandoned at once, whatever the grace.
    signal(pid, "CONT");
    child.kill().unwrap();
    child.wait().unwrap();
    let found = verdicts(&history, &["--grace", "1h"]);
    assert!(
        found
            .iter()
            .all(|(l, r)| l == "abandoned" && r.contains("is gone")),
        "{found:?}"
    );
}

/// Rewrites the heartbeat of `recorder_id` as if its writer ran as `pid` on `host`, started at
/// `started_ago` and last beat `beat_ago` before now, and never stopped.
fn beat(
    history: &History,
    recorder_id: &str,
    host: &str,
    pid: u32,
    started_ago: i64,
    beat_ago: i64,
) {
    let now = Utc::now();
    let mut store = SqliteStore::open(&history.path).unwrap();
    store
        .write_heartbeat(&RecorderHeartbeat {
            recorder_id: recorder_id.to_owned(),
            host: host.to_owned(),
            pid,
            started_at: now - chrono::Duration::seconds(started_ago),
            last_beat_at: now - chrono::Duration::seconds(beat_ago),
            beat_interval_ms: 1000,
            stopped_at: None,
        })
        .unwrap();
    store.flush().unwrap();
}

#[test]
fn other_hosts_are_judged_by_heartbeat_and_a_reused_pid_is_not_the_recorder() {
    let history = History::new();
    let recorder = record_stuck(&history, "stuck");
    let this_host = gethostname::gethostname().to_string_lossy().into_owned();
    // This test's own pid: a process that is alive here.
    let pid = std::process::id();

    // Another host: a fresh beat is live, a stale one abandoned, whatever runs here as `pid`.
    beat(&history, &recorder, "elsewhere.example", pid, 3600, 1);
    assert!(verdicts(&history, &[]).iter().all(|(l, _)| l == "live"));
    beat(&history, &recorder, "elsewhere.example", pid, 3600, 600);
    let found = verdicts(&history, &[]);
    assert!(
        found
            .iter()
            .all(|(l, r)| l == "abandoned" && r.contains("stopped beating")),
        "{found:?}"
    );

    // This host, the pid alive and started before the writer: live, the beat however stale.
    beat(&history, &recorder, &this_host, pid, 0, 600);
    assert!(verdicts(&history, &[]).iter().all(|(l, _)| l == "live"));
    // The pid held by a process started a day after the writer: not the writer.
    beat(&history, &recorder, &this_host, pid, 86_400, 600);
    let found = verdicts(&history, &[]);
    assert!(
        found
            .iter()
            .all(|(l, r)| l == "abandoned" && r.contains("another process")),
        "{found:?}"
    );
}
