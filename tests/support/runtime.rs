//! A multi-thread tokio runtime whose worker threads record into the subscriber of the thread
//! that builds it.
//!
//! The scenarios record under `with_default`, the default of one thread: the registry closes a
//! span's parents through the closing thread's default dispatcher, so a task span dropped on a
//! worker thread without it would leave its parents open. Each worker thread here sets the same
//! dispatcher as its default, as a program with a global subscriber has it.

use std::cell::RefCell;

use tracing::dispatcher::DefaultGuard;

thread_local! {
    static WORKER_DEFAULT: RefCell<Option<DefaultGuard>> = const { RefCell::new(None) };
}

/// A runtime of two worker threads, each with the current dispatcher as its default.
pub fn multi_thread() -> tokio::runtime::Runtime {
    let dispatch = tracing::dispatcher::get_default(tracing::Dispatch::clone);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .on_thread_start(move || {
            let guard = tracing::dispatcher::set_default(&dispatch);
            WORKER_DEFAULT.with(|slot| *slot.borrow_mut() = Some(guard));
        })
        .on_thread_stop(|| WORKER_DEFAULT.with(|slot| drop(slot.borrow_mut().take())))
        .build()
        .unwrap()
}
