//! The dispatcher a layer was registered with, shared by the layer (which learns it in
//! `on_register_dispatch`) and its writer (which emits the layer's warnings there, off the
//! span's thread).

/// The dispatcher the layer was registered with, once it is known; weak, so that the writer
/// does not keep the subscriber alive.
pub(crate) type RegisteredDispatch =
    std::sync::Arc<std::sync::OnceLock<tracing_core::dispatcher::WeakDispatch>>;
