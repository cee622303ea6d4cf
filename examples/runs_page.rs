//! Times the web runs page over a big history: writes `--runs` pipeline runs (100,000 by
//! default) straight to a store, starts `tracing-etl serve` on it, and times each request of a
//! list of filters and pages (by number and by `before` bound), printing the median, the
//! fastest and the slowest of `--repeat` requests after one unmeasured request.
//!
//! ```text
//! cargo build --release --features sqlite,jsonl,postgres,web --bin tracing-etl --example runs_page
//! target/release/examples/runs_page --store sqlite:/tmp/runs.db
//! target/release/examples/runs_page --store 'postgres://postgres@127.0.0.1/test?schema=runs_page'
//! ```
//!
//! With `--no-write --path PATH …` it times other pages of a history written before, such as
//! the page of the million-step run `examples/big_run.rs` writes:
//!
//! ```text
//! target/release/examples/runs_page --store sqlite:/tmp/big/big.db --no-write \
//!     --path /runs/big-1
//! ```
//!
//! The runs are `run-000000` …, one a second (every tenth starts with the one before it, the
//! ties a keyset bound must order), of 20 pipelines `pipeline-00` …; one run in 20 fails, one
//! in 50 has a second attempt. The store must not hold them already (`--no-write` times a
//! history written before).

#[path = "support/store.rs"]
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use clap::Parser;
use tracing_etl::record::RunContext;
use tracing_etl::store::StoreUrl;
use tracing_etl::{ExecutionRecord, RunStatus};

/// Times the runs page over a big history.
#[derive(Debug, Parser)]
struct Args {
    /// Where the history is: sqlite:PATH, jsonl:DIR or postgres://…?schema=NAME.
    #[arg(long)]
    store: StoreUrl,
    /// How many pipeline runs to write.
    #[arg(long, default_value_t = 100_000)]
    runs: u32,
    /// Time a history written before instead of writing one.
    #[arg(long)]
    no_write: bool,
    /// Timed requests per address.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// The `tracing-etl` binary (default: the one built next to this example).
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Time these paths instead of the list pages (repeatable), e.g. `--no-write --path
    /// /runs/big-1` on a history written by `big_run`.
    #[arg(long = "path")]
    paths: Vec<String>,
}

/// When run `i` starts.
fn start_of(i: u32) -> DateTime<Utc> {
    let second = i64::from(i - u32::from(i % 10 == 9));
    Utc.timestamp_opt(1_780_000_000 + second, 0).unwrap()
}

/// The pipeline records of run `i`: one attempt, or two for one run in 50.
fn run(i: u32) -> Vec<ExecutionRecord> {
    let run_id = format!("run-{i:06}");
    let attempts = if i % 50 == 7 { 2 } else { 1 };
    (1..=attempts)
        .map(|attempt| {
            let status = if i % 20 == 3 && attempt == attempts {
                RunStatus::Failed
            } else {
                RunStatus::Success
            };
            let name = format!("pipeline-{:02}", i % 20);
            ExecutionRecord::pipeline_start(&run_id, name, start_of(i))
                .with_run(RunContext::new(&run_id).with_attempt(attempt, attempt == attempts))
                .ended(status, 1_000 + u64::from(i % 997))
        })
        .collect()
}

fn write_history(url: &StoreUrl, runs: u32) {
    let started = Instant::now();
    let mut store = support::open(url);
    let mut batch = Vec::new();
    for i in 0..runs {
        batch.extend(run(i));
        if batch.len() >= 10_000 {
            store.write_batch(&batch).expect("write");
            batch.clear();
        }
    }
    store.write_batch(&batch).expect("write");
    store.flush().expect("flush");
    eprintln!("{runs} runs written in {:.1?}", started.elapsed());
}

/// `GET path` on `addr`: the status and how long the whole response took.
fn get(addr: &str, path: &str) -> (u16, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let took = started.elapsed();
    let status = String::from_utf8_lossy(&raw[..raw.len().min(12)])
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, took)
}

/// `before=` of run `i`'s last attempt, as the "Older" link writes it.
fn before(i: u32) -> String {
    let attempt = if i % 50 == 7 { 2 } else { 1 };
    let start = start_of(i).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    format!("{}~{attempt}~run-{i:06}", start.replace(':', "%3A"))
}

fn main() {
    let args = Args::parse();
    if !args.no_write {
        write_history(&args.store, args.runs);
    }
    let bin = args.bin.clone().unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("current exe");
        exe.parent()
            .and_then(|d| d.parent())
            .expect("target dir")
            .join("tracing-etl")
    });
    let mut child = Command::new(&bin)
        .args([
            "--store",
            &args.store.to_string(),
            "serve",
            "--addr",
            "127.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let addr = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).expect("read stderr") == 0 {
            panic!("tracing-etl serve exited before listening");
        }
        if let Some(rest) = line
            .trim()
            .strip_prefix("tracing-etl: listening on http://")
        {
            break rest.trim_end_matches('/').to_owned();
        }
    };
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));

    let list_pages = [
        "/".to_owned(),
        "/?pipeline=pipeline-07".to_owned(),
        "/?status=failed".to_owned(),
        "/?status=success".to_owned(),
        "/?pipeline=pipeline-03&status=failed".to_owned(),
        "/?since=2026-05-01".to_owned(),
        "/?page=200".to_owned(),
        "/?page=201".to_owned(),
        format!("/?page=2&before={}", before(args.runs / 2)),
        format!("/?page=2&before={}", before(2_000)),
        format!("/?pipeline=pipeline-07&page=2&before={}", before(2_007)),
        format!("/?status=failed&page=2&before={}", before(2_003)),
        "/failures".to_owned(),
        format!("/failures?page=2&before={}", before(2_003)),
        "/api/v1/runs?per_page=500".to_owned(),
    ];
    let paths = if args.paths.is_empty() {
        list_pages.to_vec()
    } else {
        args.paths.clone()
    };
    println!("| request | status | median | fastest–slowest |");
    println!("|---|---|---|---|");
    for path in &paths {
        let (status, _) = get(&addr, path);
        let mut times: Vec<Duration> = (0..args.repeat).map(|_| get(&addr, path).1).collect();
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
        println!(
            "| `{path}` | {status} | {:.1} ms | {:.1}–{:.1} ms |",
            ms(times[times.len() / 2]),
            ms(times[0]),
            ms(times[times.len() - 1])
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}
