//! [`record_error`]: an ERROR event that carries an error's type, `Debug` and `Display` at once.

use super::fields::concrete_type_name;

/// Emits an ERROR event for `error` with the fields the layer reads: `error` (the `Debug`
/// form, including the source chain most error types print there), `error.message` (the
/// `Display` form) and `error.type` (the concrete type name, without its module path).
///
/// The type name is the static type of `error`, references, `Box`, `Rc` and `Arc` looked
/// through. A trait object (`&*boxed` of a `Box<dyn Error + Send + Sync>`, `anyhow_err.as_ref()`)
/// has no concrete type name to give: then `error.type` is left out, and the layer derives the
/// type from the `Debug` form as for any other `error` field (the name it starts with, if it
/// reads like a `Debug` rendering, else none; see the failures guide).
///
/// `#[instrument(err)]` records only the `Display` form, so the layer can only guess the type;
/// call this where the type matters to whoever reads the run history.
///
/// ```
/// use tracing_etl::{ExecutionRecordsLayer, InMemoryStore};
/// use tracing_subscriber::prelude::*;
///
/// #[tracing::instrument(fields(etl.step))]
/// fn parse_amount(text: &str) -> Option<u32> {
///     text.parse()
///         .map_err(|e: std::num::ParseIntError| tracing_etl::record_error(&e))
///         .ok()
/// }
///
/// let store = InMemoryStore::new();
/// let (layer, guard) = ExecutionRecordsLayer::new(store.clone());
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
///     parse_amount("12x")
/// });
/// drop(guard);
/// let step = &store.step_runs()[0];
/// assert_eq!(step.outcome.error.type_name.as_deref(), Some("ParseIntError"));
/// assert_eq!(step.outcome.error.message.as_deref(), Some("invalid digit found in string"));
/// ```
pub fn record_error<E>(error: &E)
where
    E: std::error::Error + ?Sized,
{
    match concrete_type_name(std::any::type_name::<E>()) {
        Some(error_type) => tracing::error!(
            target: "tracing_etl",
            error = ?error,
            error.message = %error,
            error.type = error_type,
            "{error}"
        ),
        None => tracing::error!(
            target: "tracing_etl",
            error = ?error,
            error.message = %error,
            "{error}"
        ),
    }
}
