//! When `serve` stops: on SIGINT (Ctrl-C) or SIGTERM (what `kill`, systemd and container
//! runtimes send), the server stops accepting connections, answers the requests it has begun,
//! and the process exits with status 0.

use std::future::{poll_fn, Future as _};
use std::io::Write as _;
use std::pin::pin;
use std::task::Poll;

/// Resolves on the first SIGINT or SIGTERM. A signal whose handler cannot be installed is
/// warned about, and then stops the process as that signal does by default.
pub(crate) async fn signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            super::warn(format!("cannot listen for SIGINT: {e}"));
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(e) => {
                super::warn(format!("cannot listen for SIGTERM: {e}"));
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    let mut interrupt = pin!(interrupt);
    let mut terminate = pin!(terminate);
    poll_fn(|cx| {
        if interrupt.as_mut().poll(cx).is_ready() || terminate.as_mut().poll(cx).is_ready() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(
        stderr,
        "tracing-etl: stopping: finishing the requests under way"
    );
    let _ = stderr.flush();
}
