//! `tracing-etl`: the command-line tool that reads the run history recorded by
//! `tracing_etl::ExecutionRecordsLayer`.
//!
//! ```text
//! tracing-etl runs [--status S] [--pipeline NAME] [--since 24h] [--limit N]
//! tracing-etl show RUN_ID|latest [--attempt N]
//! tracing-etl failures [--since 24h]            # exit status 1 when there are failures
//! tracing-etl running [--older-than 1h]
//! tracing-etl reap [--dry-run]
//! tracing-etl replay SPILL_FILE [--remove]
//! ```
//!
//! Global options: `--store URL` (`sqlite:PATH`, `jsonl:DIR`, `postgres://…?schema=NAME`) or
//! one of `--db PATH` / `--jsonl DIR` / `--postgres URL [--pg-schema NAME]`, `--json`,
//! `--color WHEN`, `--trace-url TEMPLATE`. Exit status 2 on usage errors and on a store that
//! cannot be read.

mod args;
mod commands;
mod error;
mod liveness;
mod output;
mod store;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::error::CliError;
use crate::output::Ui;
use crate::store::Access;

/// Usage errors and unreadable stores.
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with status 0; usage errors to stderr with 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_ERROR } else { 0 });
        }
    };
    let mut ui = Ui::new(&cli.output);
    let code = match run(&cli, &mut ui) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "tracing-etl: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    match ui.finish() {
        Ok(()) => ExitCode::from(code),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "tracing-etl: cannot write output: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(cli: &Cli, ui: &mut Ui) -> Result<u8, CliError> {
    let url = store::from_args(&cli.store)?;
    let access = match cli.command {
        Command::Reap(ref args) if !args.dry_run => Access::Write,
        Command::Replay(_) => Access::Write,
        _ => Access::Read,
    };
    let mut store = store::open(&url, access)?;
    let store = &mut *store;
    match &cli.command {
        Command::Runs(args) => commands::runs::run(store, args, ui),
        Command::Show(args) => commands::show::run(store, args, ui),
        Command::Failures(args) => commands::failures::run(store, args, ui),
        Command::Running(args) => commands::running::run(store, args, ui),
        Command::Reap(args) => commands::reap::run(store, args, ui),
        Command::Replay(args) => commands::replay::run(store, args, ui),
    }
}
