//! Live or abandoned: the rule `running`, `show` and `reap` share.
//!
//! An entity still `running` is **abandoned** when the writer that recorded it (its
//! `recorder_id`) shut down with the entity still open (the program exited without closing the
//! span), or never left a heartbeat at all (a record without a `recorder_id`, or a store that
//! keeps no heartbeats). Otherwise its writer's heartbeat in the store's `recorders` table names
//! a host and a pid:
//!
//! - on this host (the same host name), the process decides: alive (running, stopped or stuck,
//!   whatever its heartbeat — a stalled store delays beats, not the job) means **live**; gone
//!   (no such process, a zombie, or the pid now held by a process started after the writer)
//!   means **abandoned** at once, with no grace;
//! - on another host (or where this system cannot tell), the heartbeat decides: **live** with a
//!   beat within three of its intervals (at least `--grace`), else **abandoned** (the process was
//!   killed, crashed, or its host is down).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing_etl::{
    record::{EntityKind, RecorderHeartbeat},
    store::{RecordReader, RunFilter},
    ExecutionRecord, RunStatus,
};

use crate::error::CliError;
use crate::output::{elapsed, time};
use crate::process::{self, ProcessState};

/// What became of an entity's recorder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Liveness {
    /// Its recorder beats: the run is in progress.
    Live,
    /// Its recorder is gone; the reason says how.
    Abandoned,
}

impl Liveness {
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            Liveness::Live => "live",
            Liveness::Abandoned => "abandoned",
        }
    }
}

/// A running entity and the verdict on it.
#[derive(Debug, Clone)]
pub(crate) struct RunningEntity {
    pub(crate) record: ExecutionRecord,
    pub(crate) liveness: Liveness,
    /// Why, for people: which recorder, and when it last beat or stopped.
    pub(crate) reason: String,
    /// `host:pid` of the recorder, when it left a heartbeat.
    pub(crate) recorder: Option<String>,
}

/// The recorders of a store, judged at one instant.
#[derive(Debug)]
pub(crate) struct Recorders {
    by_id: HashMap<String, RecorderHeartbeat>,
    now: DateTime<Utc>,
    grace: Duration,
    /// This host's name, as writers record it.
    host: String,
}

impl Recorders {
    pub(crate) fn read(
        store: &mut dyn RecordReader,
        now: DateTime<Utc>,
        grace: Duration,
    ) -> Result<Self, CliError> {
        let by_id = store
            .read_recorders()?
            .into_iter()
            .map(|r| (r.recorder_id.clone(), r))
            .collect();
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        Ok(Recorders {
            by_id,
            now,
            grace,
            host,
        })
    }

    /// The verdict on an entity recorded by `recorder_id`.
    pub(crate) fn judge(&self, record: ExecutionRecord) -> RunningEntity {
        let recorder_id = record.recorder_id.as_deref();
        let heartbeat = recorder_id.and_then(|id| self.by_id.get(id));
        let (liveness, reason) = match (recorder_id, heartbeat) {
            (None, _) => (
                Liveness::Abandoned,
                "recorded without a recorder id: no heartbeat to check".to_owned(),
            ),
            (Some(id), None) => (
                Liveness::Abandoned,
                format!("recorder {} never left a heartbeat", short_id(id)),
            ),
            (Some(_), Some(beat)) => self.judge_heartbeat(beat),
        };
        RunningEntity {
            record,
            liveness,
            reason,
            recorder: heartbeat.map(|b| format!("{}:{}", b.host, b.pid)),
        }
    }

    fn judge_heartbeat(&self, beat: &RecorderHeartbeat) -> (Liveness, String) {
        let who = format!("recorder {} (pid {})", beat.host, beat.pid);
        if let Some(stopped) = beat.stopped_at {
            return (
                Liveness::Abandoned,
                format!(
                    "{who} shut down at {} UTC with it still open",
                    time(stopped)
                ),
            );
        }
        let ago = elapsed(beat.last_beat_at, self.now);
        let last = time(beat.last_beat_at);
        if beat.host == self.host {
            match process::state(beat.pid, beat.started_at) {
                ProcessState::Alive => {
                    return (
                        Liveness::Live,
                        format!("{who} runs on this host; beat {ago} ago"),
                    )
                }
                ProcessState::Gone => {
                    return (
                        Liveness::Abandoned,
                        format!("{who} is gone from this host: last beat at {last} UTC"),
                    )
                }
                ProcessState::Reused => {
                    return (
                        Liveness::Abandoned,
                        format!(
                            "{who} is gone from this host (its pid is another process's now): \
                             last beat at {last} UTC"
                        ),
                    )
                }
                ProcessState::Unknown => {}
            }
        }
        if beat.is_alive(self.now, self.grace) {
            (Liveness::Live, format!("{who} beat {ago} ago"))
        } else {
            (
                Liveness::Abandoned,
                format!("{who} stopped beating: last beat at {last} UTC"),
            )
        }
    }
}

/// Every entity of the store still `running`, oldest first, judged; with `older_than`, only
/// those started at least that long before `now`.
pub(crate) fn running_entities(
    store: &mut dyn RecordReader,
    now: DateTime<Utc>,
    grace: Duration,
    older_than: Option<Duration>,
) -> Result<Vec<RunningEntity>, CliError> {
    let recorders = Recorders::read(store, now, grace)?;
    let filter = RunFilter::default().status(RunStatus::Running);
    let mut records: Vec<ExecutionRecord> = Vec::new();
    for kind in EntityKind::ALL {
        records.extend(store.read_records(kind, &filter)?);
    }
    if let Some(older_than) = older_than {
        let cutoff = chrono::Duration::from_std(older_than)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        records.retain(|r| r.started_at <= cutoff);
    }
    records.sort_by_key(|r| r.started_at);
    Ok(records.into_iter().map(|r| recorders.judge(r)).collect())
}

/// The first eight characters of an id, for people.
pub(crate) fn short_id(id: &str) -> &str {
    id.char_indices().nth(8).map_or(id, |(i, _)| &id[..i])
}
