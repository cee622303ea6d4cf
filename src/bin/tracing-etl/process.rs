//! Whether a process of this host is still running: what `running` and `reap` ask first about a
//! recorder of this host, before its heartbeat.

use chrono::{DateTime, Utc};

/// A process started more than this long after its recorder says it started is another
/// process that was given the same pid. Generous, because the two times come from clocks that
/// may have been stepped in between; a pid reused within it passes for the recorder's.
const START_SLACK_SECS: i64 = 60;

/// What became of a process of this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProcessState {
    /// It runs (or is stopped, or stuck): it may still close its spans.
    Alive,
    /// No such process, or only its zombie: it exited.
    Gone,
    /// The pid belongs to a process started after the recorder: the recorder's exited.
    Reused,
    /// This platform does not tell.
    Unknown,
}

/// The state of process `pid` of this host, whose recorder started at `started_at`.
pub(crate) fn state(pid: u32, started_at: DateTime<Utc>) -> ProcessState {
    let Ok(pid) = i32::try_from(pid) else {
        return ProcessState::Gone;
    };
    if pid <= 0 {
        // 0 and negative pids name process groups, never a recorder.
        return ProcessState::Gone;
    }
    match proc_state(pid, started_at) {
        Some(state) => state,
        None => kill_state(pid),
    }
}

/// Elsewhere than on Linux, `kill` alone tells.
#[cfg(not(target_os = "linux"))]
fn proc_state(_pid: i32, _started_at: DateTime<Utc>) -> Option<ProcessState> {
    None
}

/// From `/proc/<pid>/stat` (Linux): `None` without `/proc`.
#[cfg(target_os = "linux")]
fn proc_state(pid: i32, started_at: DateTime<Utc>) -> Option<ProcessState> {
    if !std::path::Path::new("/proc/self/stat").exists() {
        return None;
    }
    let stat = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(ProcessState::Gone),
        Err(_) => return None,
    };
    // `pid (comm) state ppid …`: comm may hold anything, so fields count from the last `)`.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    if matches!(fields.first(), Some(&"Z" | &"X" | &"x")) {
        return Some(ProcessState::Gone);
    }
    // Field 22, `starttime`: clock ticks after boot.
    let ticks: i64 = fields.get(19)?.parse().ok()?;
    match process_start(ticks) {
        Some(start) if start.timestamp() > started_at.timestamp() + START_SLACK_SECS => {
            Some(ProcessState::Reused)
        }
        _ => Some(ProcessState::Alive),
    }
}

/// When a process started `ticks` clock ticks after boot.
#[cfg(target_os = "linux")]
fn process_start(ticks: i64) -> Option<DateTime<Utc>> {
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz <= 0 {
        return None;
    }
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let boot: i64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    DateTime::from_timestamp(boot.checked_add(ticks / hz)?, 0)
}

/// From `kill(pid, 0)`: it exists unless the system says there is no such process.
#[cfg(unix)]
fn kill_state(pid: i32) -> ProcessState {
    // SAFETY: signal 0 sends nothing; it only checks that the process exists.
    if unsafe { libc::kill(pid, 0) } == 0 {
        return ProcessState::Alive;
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::ESRCH) => ProcessState::Gone,
        // EPERM: it exists, under another user.
        Some(libc::EPERM) => ProcessState::Alive,
        _ => ProcessState::Unknown,
    }
}

#[cfg(not(unix))]
fn kill_state(_pid: i32) -> ProcessState {
    ProcessState::Unknown
}
