//! `tracing-etl serve`: the run history as read-only web pages and a JSON API.
//!
//! One module per concern: [`routes`] maps paths to handlers, [`query`] turns query strings into
//! store filters, [`history`] reads the store on a blocking thread, [`load`] reads each page's
//! data for its HTML and its JSON route, [`pages`] renders HTML (auto-escaped `maud`
//! templates), [`api`] answers JSON in the shapes `--json` prints, [`read`] asks the store the
//! subcommands' questions, [`trends`] sums up a pipeline's last runs, [`auth`] checks the
//! bearer token, [`headers`] adds the security headers to every response, and [`assets`]
//! serves the compiled-in stylesheet and script.
//!
//! [`report`] writes one run's page as a file of its own (`tracing-etl report`); [`shutdown`]
//! stops the server on SIGINT and SIGTERM.
//!
//! The server only reads: the store is opened read-only once, and each request locks it on a
//! blocking thread, so a slow store never stalls the server's threads.

mod api;
mod assets;
mod auth;
mod error;
mod headers;
mod history;
mod load;
mod pages;
mod query;
mod read;
pub(crate) mod report;
mod routes;
mod shutdown;
mod trends;

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::args::ServeArgs;
use crate::error::CliError;
use crate::output::TraceUrl;
use crate::store::Store;

pub(crate) use history::History;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    /// The store, read on a blocking thread.
    pub(crate) history: History,
    /// The trace link template (`--trace-url`).
    pub(crate) trace_url: Option<TraceUrl>,
    /// The bearer token every request must carry, when one is set.
    pub(crate) token: Option<Arc<str>>,
}

/// Serves until SIGINT or SIGTERM, then finishes the requests under way and returns 0 (see
/// [`shutdown`]); or returns an error: the address cannot be bound, the token is empty, the
/// server fails.
pub(crate) fn run(
    store: Box<dyn Store>,
    args: &ServeArgs,
    trace_url: Option<TraceUrl>,
) -> Result<u8, CliError> {
    let token = match args.token.as_deref() {
        Some("") => {
            return Err(CliError::new(
                "--token is empty: give a secret or no --token",
            ))
        }
        Some(token) => Some(Arc::<str>::from(token)),
        None => None,
    };
    if token.is_none() && !args.addr.ip().is_loopback() {
        warn(format!(
            "{} is not a loopback address and there is no --token: anyone who can reach it \
             reads the run history",
            args.addr
        ));
    }
    let state = AppState {
        history: History::new(store),
        trace_url,
        token,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(4)
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| CliError::new(format!("cannot start the server's runtime: {e}")))?;
    runtime.block_on(serve(args.addr, state))?;
    Ok(0)
}

async fn serve(addr: SocketAddr, state: AppState) -> Result<(), CliError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::new(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| CliError::new(format!("cannot read the address listened on: {e}")))?;
    // One line on stderr, which scripts and tests read to find the port of `--addr HOST:0`.
    {
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "tracing-etl: listening on http://{bound}/");
        let _ = stderr.flush();
    }
    axum::serve(listener, routes::router(state))
        .with_graceful_shutdown(shutdown::signal())
        .await
        .map_err(|e| CliError::new(format!("the server stopped: {e}")))
}

fn warn(message: String) {
    let _ = writeln!(std::io::stderr(), "tracing-etl: warning: {message}");
}
