//! Capturing panic messages, so a step that panics records what the panic said.
//!
//! A panic hook (installed once per process, calling the hook that was there before) keeps the
//! message and location of the current thread's latest panic in a thread-local; spans closed
//! while that thread unwinds read it. The message is cut at [`MAX_FIELD_BYTES`] like every
//! other text the layer keeps (with room for the `panic: ` prefix and the location that the
//! record's `error` field adds); a panic of megabytes costs the hook one copy of 64 KiB.
//!
//! A panic re-raised with `std::panic::resume_unwind` (as rayon does with a worker's panic) runs
//! no hook, so the thread-local may still hold the message of an earlier panic that was caught.
//! The layer forgets the message whenever an entity opens or closes while the thread is not
//! panicking, so such a panic is reported without a message rather than with a stale one.

use std::cell::{Cell, RefCell};
use std::sync::Once;

use super::fields::{limit_to, MAX_FIELD_BYTES};

/// What the hook captured of a panic: its message, and where it happened.
#[derive(Debug, Clone)]
pub(crate) struct CapturedPanic {
    /// The panic's message (its payload, when that is text).
    pub(crate) message: String,
    /// `file:line:column`, when the panic says.
    pub(crate) location: Option<String>,
}

thread_local! {
    static LAST_PANIC: RefCell<Option<CapturedPanic>> = const { RefCell::new(None) };
    /// Whether `LAST_PANIC` may hold a message: a flag without a destructor, so the check every
    /// entity makes costs a load, not the lazy registration of `LAST_PANIC`'s destructor.
    static CAPTURED: Cell<bool> = const { Cell::new(false) };
}

static INSTALL: Once = Once::new();

/// Installs the capturing hook, chained in front of the current one. Idempotent.
pub(crate) fn install_hook() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let text = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("panic with a non-string payload");
            let location = info
                .location()
                .map(|at| format!("{}:{}:{}", at.file(), at.line(), at.column()));
            // The record's `error` is `panic: MESSAGE (at LOCATION)`.
            let around = ERROR_PREFIX.len() + location.as_ref().map_or(0, |at| at.len() + 6);
            let message = cut(text, around);
            // `try_with`: the thread-local may already be gone during thread teardown.
            let _ = LAST_PANIC.try_with(|slot| {
                if let Ok(mut slot) = slot.try_borrow_mut() {
                    *slot = Some(CapturedPanic { message, location });
                    let _ = CAPTURED.try_with(|captured| captured.set(true));
                }
            });
            previous(info);
        }));
    });
}

/// What the record's `error` field puts before the message (`"panic: …"`).
const ERROR_PREFIX: &str = "panic: ";

/// The panic's text, cut (with [`TRUNCATED_MARKER`](super::fields::TRUNCATED_MARKER)) so that
/// with `around` more bytes around it it stays within [`MAX_FIELD_BYTES`] like every other text
/// the layer keeps. Copies at most a little more than the limit, however long the message.
fn cut(text: &str, around: usize) -> String {
    let room = MAX_FIELD_BYTES.saturating_sub(around);
    let mut end = text.len().min(room + 4);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    limit_to(text[..end].to_owned(), room)
}

/// The panic this thread is unwinding from, when the hook captured it.
pub(crate) fn current() -> Option<CapturedPanic> {
    LAST_PANIC
        .try_with(|slot| slot.try_borrow().ok().and_then(|m| m.clone()))
        .ok()
        .flatten()
}

/// Forgets the captured message (called when no panic is in flight on this thread).
pub(crate) fn forget_message() {
    if !CAPTURED.try_with(Cell::get).unwrap_or(false) {
        return;
    }
    let _ = LAST_PANIC.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            *slot = None;
            let _ = CAPTURED.try_with(|captured| captured.set(false));
        }
    });
}

/// Whether [`install_hook`] has run in this process.
#[cfg(test)]
pub(crate) fn is_installed() -> bool {
    INSTALL.is_completed()
}

#[cfg(test)]
mod tests {
    use std::panic::{catch_unwind, AssertUnwindSafe};

    use tracing_subscriber::prelude::*;

    use crate::{ExecutionRecordsLayer, InMemoryStore, RunStatus};

    /// Nothing process-wide by default: building a layer installs no panic hook, and a panic is
    /// still recorded, without its message. (No other unit test asks for the hook; the tests
    /// that do run in their own binaries.)
    #[test]
    fn no_panic_hook_unless_asked() {
        #[tracing::instrument(fields(etl.step))]
        fn load() {
            panic!("row 7: amount missing");
        }

        let store = InMemoryStore::new();
        let (layer, guard) = ExecutionRecordsLayer::new(store.clone());
        assert!(
            !super::is_installed(),
            "building the layer installed a hook"
        );
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            assert!(catch_unwind(AssertUnwindSafe(load)).is_err());
        });
        drop(guard);
        assert!(!super::is_installed());
        let step = &store.step_runs()[0];
        assert_eq!(step.status(), RunStatus::Failed);
        assert_eq!(step.outcome.error.type_name.as_deref(), Some("panic"));
        let message = step.outcome.error.message.as_deref().unwrap();
        assert!(message.contains("not captured"), "{message}");
        assert!(!message.contains("row 7"), "{message}");
    }
}
