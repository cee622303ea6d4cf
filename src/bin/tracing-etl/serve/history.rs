//! The store behind a mutex, read on Tokio's blocking threads.

use std::sync::{Arc, Mutex, PoisonError};

use super::error::WebError;
use crate::error::CliError;
use crate::store::Store;

/// The read-only store the server shares between requests.
#[derive(Clone)]
pub(crate) struct History {
    store: Arc<Mutex<Box<dyn Store>>>,
}

impl History {
    pub(crate) fn new(store: Box<dyn Store>) -> Self {
        History {
            store: Arc::new(Mutex::new(store)),
        }
    }

    /// Runs `read` with the store on a blocking thread, one request at a time.
    pub(crate) async fn read<T, F>(&self, read: F) -> Result<T, WebError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Store) -> Result<T, WebError> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || {
            // A read that panicked left nothing half-written: the store only reads.
            let mut store = store.lock().unwrap_or_else(PoisonError::into_inner);
            read(&mut **store)
        })
        .await
        .map_err(|e| {
            WebError::from(CliError::new(format!(
                "reading the run history failed: {e}"
            )))
        })?
    }
}
