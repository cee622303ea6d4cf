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
//! tracing-etl serve [--addr 127.0.0.1:8080] [--token T]   # with the `web` feature
//! tracing-etl report RUN_ID|latest [--attempt N] [-o FILE] # with the `web` feature
//! ```
//!
//! Global options: `--store URL` (`sqlite:PATH`, `jsonl:DIR`, `postgres://…?schema=NAME`) or
//! one of `--db PATH` / `--jsonl DIR` / `--postgres URL [--pg-schema NAME]`, `--json`,
//! `--color WHEN`, `--trace-url TEMPLATE`. Exit status 2 on usage errors and on a store that
//! cannot be read.

// Everything printed goes through `output`, which escapes text from the history.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod args;
mod commands;
mod error;
mod escape;
mod liveness;
mod output;
mod process;
#[cfg(feature = "web")]
mod serve;
mod store;
mod table;

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
            // Help and version go to stdout with status 0; usage errors to stderr with 2. A usage
            // error may quote an argument: its lines are escaped like any output.
            if !e.use_stderr() {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            let message = e.render().to_string();
            let mut stderr = std::io::stderr().lock();
            for line in message.lines() {
                let _ = writeln!(stderr, "{}", escape::Escaped(line));
            }
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let mut ui = Ui::new(&cli.output);
    let code = match run(&cli, &mut ui) {
        Ok(code) => code,
        Err(e) => {
            output::stderr_line(format_args!("tracing-etl: {e}"));
            return ExitCode::from(EXIT_ERROR);
        }
    };
    match ui.finish() {
        Ok(()) => ExitCode::from(code),
        Err(e) => {
            output::stderr_line(format_args!("tracing-etl: cannot write output: {e}"));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(cli: &Cli, ui: &mut Ui) -> Result<u8, CliError> {
    let url = store::from_args(&cli.store)?;
    let open = |access| store::open(&url, access);
    match &cli.command {
        Command::Runs(args) => commands::runs::run(&mut *open(Access::Read)?, args, ui),
        Command::Show(args) => commands::show::run(&mut *open(Access::Read)?, args, ui),
        Command::Failures(args) => commands::failures::run(&mut *open(Access::Read)?, args, ui),
        Command::Running(args) => commands::running::run(&mut *open(Access::Read)?, args, ui),
        Command::Reap(args) => {
            let access = if args.dry_run {
                Access::Read
            } else {
                Access::Write
            };
            commands::reap::run(&mut *open(access)?, args, ui)
        }
        Command::Replay(args) => commands::replay::run(&mut *open(Access::Write)?, args, ui),
        // The server keeps its store for as long as it serves.
        #[cfg(feature = "web")]
        Command::Serve(args) => serve::run(open(Access::Read)?, args, cli.output.trace_url.clone()),
        #[cfg(feature = "web")]
        Command::Report(args) => serve::report::run(
            &mut *open(Access::Read)?,
            args,
            cli.output.trace_url.as_ref(),
            ui,
        ),
        // Compacting opens the tables itself.
        #[cfg(feature = "delta")]
        Command::Compact => commands::compact::run(&url, ui),
    }
}
