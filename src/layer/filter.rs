//! Noticing a subscriber whose filter hides entity spans from every layer.
//!
//! A span that a global filter disables is created for no layer: the records layer never hears
//! of it, and a program whose filter hides its pipeline spans records nothing at all. The sound
//! signal is a level hint: `tracing` itself skips every span more verbose than the subscriber's
//! [`max_level_hint`](tracing_core::Subscriber::max_level_hint), and every span above its
//! compile-time maximum (the `max_level_*` features).
//!
//! What is knowable when: the layer's `on_register_dispatch` runs once the whole subscriber is
//! built, but before `tracing` computes the global maximum level from it
//! ([`LevelFilter::current`] is stale then) and the dispatcher's own hint is not public. The
//! part of the subscriber from this layer inward is reachable by its type (`Layered<this layer,
//! S>`), and its hint covers every filter beneath the layer — the registry's and those of the
//! layers added before it, per-layer filters included. A filter added *after* the records layer
//! is seen by nothing that runs once the subscriber is built (a hidden span never reaches a
//! layer), and so is not detected. The check runs when the subscriber is built (against INFO,
//! the level `#[instrument]` and `info_span!` give) and again whenever an entity callsite
//! registers (against its own level), which also catches an inner filter reloaded later.
//!
//! The warning goes to stderr, once per process: a `tracing` event would be hidden by the very
//! filter it is about.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::level_filters::STATIC_MAX_LEVEL;
use tracing_core::{Level, LevelFilter, Metadata};

/// The level of the spans `#[instrument]` and `info_span!` make.
const USUAL_ENTITY_LEVEL: Level = Level::INFO;

/// Whether this process has printed the warning.
static WARNED: AtomicBool = AtomicBool::new(false);

/// Whether the warning was printed (for the check after it, which can then be skipped).
pub(super) fn warned() -> bool {
    WARNED.load(Ordering::Relaxed)
}

/// The most verbose level a subscriber whose level hint (from this layer inward) is `hint` can
/// enable, capped by the compile-time maximum, and what sets it.
fn max_level(hint: Option<LevelFilter>) -> (LevelFilter, &'static str) {
    match hint {
        Some(hint) if hint <= STATIC_MAX_LEVEL => {
            (hint, "the subscriber's filter (its max level hint)")
        }
        _ => (
            STATIC_MAX_LEVEL,
            "tracing's compile-time maximum level (a max_level_* feature)",
        ),
    }
}

/// When the subscriber is built: warns if it hides spans at INFO. `hint` is the level hint of
/// the subscriber from this layer inward.
pub(super) fn check_subscriber(hint: Option<LevelFilter>) {
    let (max, cause) = max_level(hint);
    if USUAL_ENTITY_LEVEL <= max {
        return;
    }
    warn_once(&format!(
        "tracing-etl: {}, so pipeline, process and step spans at INFO (the level \
         #[instrument] and info_span! give) or more verbose are disabled for every layer and \
         no run history is recorded for them. {FIX}",
        what_is_enabled(max, cause),
    ));
}

/// When an entity callsite registers: warns if the subscriber hides it.
pub(super) fn check_callsite(metadata: &'static Metadata<'static>, hint: Option<LevelFilter>) {
    let (max, cause) = max_level(hint);
    if *metadata.level() <= max {
        return;
    }
    let at = match (metadata.file(), metadata.line()) {
        (Some(file), Some(line)) => format!(" at {file}:{line}"),
        _ => String::new(),
    };
    warn_once(&format!(
        "tracing-etl: span `{}` ({}{at}) is an entity span, but {}, so it is disabled for \
         every layer and not recorded. {FIX}",
        metadata.name(),
        metadata.level(),
        what_is_enabled(max, cause),
    ));
}

const FIX: &str = "Filter the log output, not the registry: \
    registry().with(records).with(fmt::layer().with_filter(EnvFilter::from_default_env())).";

fn what_is_enabled(max: LevelFilter, cause: &str) -> String {
    if max == LevelFilter::OFF {
        format!("{cause} enables no span at all")
    } else {
        format!(
            "{cause} enables no span more verbose than {}",
            max.to_string().to_uppercase()
        )
    }
}

/// Prints `message` on stderr unless this process already printed the warning. Never panics
/// (`eprintln!` would, if stderr is closed).
fn warn_once(message: &str) {
    if WARNED.swap(true, Ordering::Relaxed) {
        return;
    }
    let _ = writeln!(std::io::stderr().lock(), "{message}");
}
