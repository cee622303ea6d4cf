//! The command line: global store and output options, one subcommand per question.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use tracing_etl::RunStatus;

use crate::output::TraceUrl;

/// Read the run history that `tracing-etl` records: what ran, what failed and why, what is still
/// running — and mark runs abandoned by a dead process as failed.
///
/// Times are shown in UTC. Exit status: 0 on success, 1 when `failures` finds failed runs, 2 on
/// a usage error or when the store cannot be read.
#[derive(Debug, Parser)]
#[command(name = "tracing-etl", version, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Where the run history is. At most one of `--store`, `--db`, `--jsonl`, `--postgres`.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// The run history as a store URL: sqlite:PATH, jsonl:DIR or
    /// postgres://USER@HOST:PORT/DBNAME?schema=NAME (schema default public). The path follows
    /// the colon as written (sqlite:runs.db, sqlite:/var/lib/etl/runs.db)
    /// [default: $TRACING_ETL_STORE, else $TRACING_ETL_POSTGRES or $TRACING_ETL_DB, else
    /// sqlite:tracing-etl.db]
    #[arg(
        long,
        global = true,
        value_name = "URL",
        conflicts_with_all = ["db", "jsonl", "postgres"]
    )]
    pub(crate) store: Option<String>,
    /// SQLite run history file (the same as --store sqlite:PATH) [default: $TRACING_ETL_DB]
    #[arg(long, global = true, value_name = "PATH", conflicts_with_all = ["jsonl", "postgres"])]
    pub(crate) db: Option<PathBuf>,
    /// JSON Lines run history directory (the same as --store jsonl:DIR)
    #[arg(long, global = true, value_name = "DIR", conflicts_with = "postgres")]
    pub(crate) jsonl: Option<PathBuf>,
    /// PostgreSQL run history: a connection URL (postgres://user@host/db?sslmode=require) or
    /// key=value string (host=... user=... dbname=...) [default: $TRACING_ETL_POSTGRES]
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) postgres: Option<String>,
    /// Schema of the --postgres run history [default: $TRACING_ETL_PG_SCHEMA, else public]
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) pg_schema: Option<String>,
}

/// How to print.
#[derive(Debug, Args)]
pub(crate) struct OutputArgs {
    /// Print JSON for scripts (objects keyed by record field names) instead of tables
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Colour the tables: `auto` colours only on a terminal and when NO_COLOR is not set
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub(crate) color: ColorChoice,
    /// Link records to their trace, e.g. http://localhost:16686/trace/{trace_id} (Jaeger);
    /// `{span_id}` is replaced too
    #[arg(
        long,
        global = true,
        env = "TRACING_ETL_TRACE_URL",
        value_name = "TEMPLATE",
        value_parser = TraceUrl::parse
    )]
    pub(crate) trace_url: Option<TraceUrl>,
}

/// When to colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List pipeline runs, newest first
    Runs(RunsArgs),
    /// Show one run as a tree of processes and steps, with the root cause of a failure
    Show(ShowArgs),
    /// List failed runs with their root cause (exit status 1 when there are any)
    Failures(FailuresArgs),
    /// List pipelines, processes and steps still running, live or abandoned
    Running(RunningArgs),
    /// Mark entities abandoned by a dead process as failed (error type "abandoned")
    Reap(ReapArgs),
    /// Write the records of a spill history (left by a writer whose store was down when it
    /// stopped) into the store
    Replay(ReplayArgs),
    /// Serve the run history as read-only web pages and a JSON API
    #[cfg(feature = "web")]
    Serve(ServeArgs),
    /// Write one run's page as a self-contained HTML file (inline styles and timeline, no
    /// script), to attach to a ticket or keep as a CI artifact
    #[cfg(feature = "web")]
    Report(ReportArgs),
    /// Rewrite each day's small Parquet files of a Delta Lake store (delta:DIR) as one; run it
    /// daily or weekly
    #[cfg(feature = "delta")]
    Compact,
}

#[cfg(feature = "web")]
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on; anything but loopback without --token is warned about
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    pub(crate) addr: std::net::SocketAddr,
    /// Require `Authorization: Bearer TOKEN` on every request
    #[arg(
        long,
        value_name = "TOKEN",
        env = "TRACING_ETL_SERVE_TOKEN",
        hide_env_values = true
    )]
    pub(crate) token: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RunsArgs {
    /// Only runs with this status
    #[arg(long, value_enum)]
    pub(crate) status: Option<StatusArg>,
    /// Only runs of this pipeline
    #[arg(long, value_name = "NAME")]
    pub(crate) pipeline: Option<String>,
    /// Only runs started since: a duration back from now (24h, 90m, 7d) or a date/time
    /// (2026-11-01, 2026-11-01T03:00:00Z)
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    pub(crate) since: Option<DateTime<Utc>>,
    /// At most this many runs
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) limit: u32,
    /// With --pipeline: how many earlier runs of the pipeline the median rows out beside each
    /// run is taken over
    #[arg(long, value_name = "N", default_value_t = crate::commands::volume::DEFAULT_WINDOW, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) volume_window: u32,
}

/// The run `show` and `report` are about.
#[derive(Debug, Args)]
pub(crate) struct RunArg {
    /// Run id, a unique prefix of one, or `latest` (the newest run)
    #[arg(value_name = "RUN_ID")]
    pub(crate) id: String,
    /// Which attempt [default: the last one recorded]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) attempt: Option<u32>,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    #[command(flatten)]
    pub(crate) run: RunArg,
    /// List every step, one line each as it is read, even in a run too big for a tree (more
    /// than 1000 steps, which are otherwise summed up)
    #[arg(long)]
    pub(crate) all: bool,
    /// Print the root cause's error whole, however long (otherwise cut at 40 lines and 4000
    /// characters per part)
    #[arg(long)]
    pub(crate) full: bool,
}

#[cfg(feature = "web")]
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    #[command(flatten)]
    pub(crate) run: RunArg,
    /// Write the page to this file [default: stdout]
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct FailuresArgs {
    /// Only runs started since: a duration back from now (24h, 90m, 7d) or a date/time
    /// (2026-11-01, 2026-11-01T03:00:00Z)
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    pub(crate) since: Option<DateTime<Utc>>,
    /// Only runs of this pipeline (leaves out runs without a pipeline record)
    #[arg(long, value_name = "NAME")]
    pub(crate) pipeline: Option<String>,
    /// At most this many runs
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) limit: u32,
    /// List every failed attempt, also of runs that a later attempt recovered (by default a
    /// run's outcome is its latest attempt's)
    #[arg(long)]
    pub(crate) all_attempts: bool,
    /// Also list successful runs whose rows out fell PCT percent or more below the median of
    /// the earlier runs of their pipeline (0 < PCT ≤ 100; 100: runs with 0 rows out where the
    /// earlier runs wrote some)
    #[arg(long, value_name = "PCT", value_parser = crate::commands::volume::parse_pct)]
    pub(crate) volume_drop: Option<f64>,
    /// How many earlier runs of a pipeline the median of --volume-drop is taken over
    #[arg(long, value_name = "N", default_value_t = crate::commands::volume::DEFAULT_WINDOW, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) volume_window: u32,
}

/// How `running` and `reap` judge liveness.
#[derive(Debug, Args)]
pub(crate) struct LivenessArgs {
    /// Only entities that started at least this long ago (e.g. 1h, 30m)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) older_than: Option<Duration>,
    /// How long a recorder may go without a heartbeat before its runs count as abandoned
    /// (never less than three of its beat intervals)
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub(crate) grace: Duration,
}

#[derive(Debug, Args)]
pub(crate) struct RunningArgs {
    #[command(flatten)]
    pub(crate) liveness: LivenessArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    /// The spill history (the directory spill-<recorder_id>), or the spill file of an earlier
    /// release (spill-<recorder_id>.jsonl)
    #[arg(value_name = "SPILL")]
    pub(crate) file: PathBuf,
    /// Delete it once its records are in the store
    #[arg(long)]
    pub(crate) remove: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ReapArgs {
    /// Show what would be marked failed, change nothing
    #[arg(long)]
    pub(crate) dry_run: bool,
    #[command(flatten)]
    pub(crate) liveness: LivenessArgs,
}

/// `--status` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StatusArg {
    Running,
    Success,
    Failed,
    Cancelled,
}

impl From<StatusArg> for RunStatus {
    fn from(s: StatusArg) -> Self {
        match s {
            StatusArg::Running => RunStatus::Running,
            StatusArg::Success => RunStatus::Success,
            StatusArg::Failed => RunStatus::Failed,
            StatusArg::Cancelled => RunStatus::Cancelled,
        }
    }
}

/// A duration such as `90s`, `30m`, `1h 30m`, `7d`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{e} (expected a duration like 30s, 90m, 24h or 7d)"))
}

/// `--since`: a duration back from now, a date (midnight UTC) or a date and time (UTC unless an
/// offset is given).
pub(crate) fn parse_since(text: &str) -> Result<DateTime<Utc>, String> {
    since_at(text, Utc::now())
}

pub(crate) fn since_at(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    let expected = "expected a duration back from now (24h, 90m, 7d), a date (2026-11-01) or a \
                    time (2026-11-01T03:00:00Z)";
    if text.is_empty() {
        return Err(format!("empty value: {expected}"));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(day.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    if text.starts_with(|c: char| c.is_ascii_digit()) {
        if let Ok(back) = humantime::parse_duration(text) {
            return chrono::Duration::from_std(back)
                .ok()
                .and_then(|back| now.checked_sub_signed(back))
                .ok_or_else(|| format!("{text:?} reaches back too far"));
        }
    }
    Err(format!("{text:?}: {expected}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_dates_and_times() {
        let now = DateTime::parse_from_rfc3339("2026-11-28T03:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |s: &str| since_at(s, now).map(|t| t.to_rfc3339());
        assert_eq!(at("24h").unwrap(), "2026-11-27T03:00:00+00:00");
        assert_eq!(at("1h 30m").unwrap(), "2026-11-28T01:30:00+00:00");
        assert_eq!(at("2026-11-01").unwrap(), "2026-11-01T00:00:00+00:00");
        assert_eq!(at("2026-11-01 12:30").unwrap(), "2026-11-01T12:30:00+00:00");
        assert_eq!(
            at("2026-11-01T12:30:00+02:00").unwrap(),
            "2026-11-01T10:30:00+00:00"
        );
        for bad in ["", "yesterday", "24", "-1h", "2026-13-01", "99999999999y"] {
            assert!(at(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
