//! A layer that keeps every event it sees, to assert on the warnings the crate emits.

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

/// One event as seen by [`Events`].
#[derive(Debug, Clone)]
pub struct Captured {
    pub level: Level,
    pub target: String,
    pub message: String,
}

/// A layer collecting every event into a shared list; clones share the list.
#[derive(Debug, Clone, Default)]
pub struct Events(Arc<Mutex<Vec<Captured>>>);

impl Events {
    pub fn all(&self) -> Vec<Captured> {
        self.0.lock().unwrap().clone()
    }

    /// Messages of the WARN events with target `tracing_etl`.
    pub fn warnings(&self) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|e| e.level == Level::WARN && e.target == "tracing_etl")
            .map(|e| e.message)
            .collect()
    }
}

struct Message<'a>(&'a mut String);

impl Visit for Message<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            // `write!`, not `format!`: a value whose `Debug` fails must not panic here.
            self.0.clear();
            let _ = write!(self.0, "{value:?}");
        }
    }
}

impl<S: Subscriber> Layer<S> for Events {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut message = String::new();
        event.record(&mut Message(&mut message));
        self.0.lock().unwrap().push(Captured {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            message,
        });
    }
}
