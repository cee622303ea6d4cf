//! The private Tokio runtime of the stores built on async clients (PostgreSQL, Delta Lake): the
//! rest of the crate is synchronous, and a store runs on the writer's thread.

use std::future::Future;
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// A store's private runtime: it drives the client while a call waits.
pub(crate) struct Rt(Option<Runtime>);

impl Rt {
    /// A current-thread runtime: it runs only while a call of the store waits on it.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn new() -> std::io::Result<Self> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| Rt(Some(rt)))
    }

    /// A runtime with one worker thread of its own, named `name`, and a pool for blocking
    /// work: for a client that spawns work onto the runtime it is called from (the Delta
    /// kernel does, and on a current-thread runtime starts a thread of its own for every
    /// operation instead).
    #[cfg(feature = "delta")]
    pub(crate) fn with_worker(name: &str) -> std::io::Result<Self> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(name)
            .enable_all()
            .build()
            .map(|rt| Rt(Some(rt)))
    }

    /// Runs `future` to completion. From inside another runtime (async code), where a runtime
    /// cannot be entered, it runs on a scoped thread instead.
    pub(crate) fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        let Some(runtime) = self.0.as_ref() else {
            unreachable!("the runtime lives as long as the store");
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return runtime.block_on(future);
        }
        std::thread::scope(
            |scope| match scope.spawn(|| runtime.block_on(future)).join() {
                Ok(output) => output,
                Err(panic) => std::panic::resume_unwind(panic),
            },
        )
    }

    /// Lets `task` finish for at most `limit` (outside async code).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn finish(&self, task: JoinHandle<()>, limit: Duration) {
        if tokio::runtime::Handle::try_current().is_err() {
            if let Some(runtime) = self.0.as_ref() {
                let _ = runtime.block_on(async move { tokio::time::timeout(limit, task).await });
                return;
            }
        }
        task.abort();
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            // Safe in async code too, where an ordinary drop of a runtime panics.
            runtime.shutdown_background();
        }
    }
}
