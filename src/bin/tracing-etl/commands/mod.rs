//! One module per subcommand. Each reads the store, prints through [`Ui`](crate::output::Ui)
//! and returns the exit status.

#[cfg(feature = "delta")]
pub(crate) mod compact;
pub(crate) mod failures;
pub(crate) mod reap;
#[cfg(feature = "openlineage")]
pub(crate) mod reap_lineage;
pub(crate) mod replay;
pub(crate) mod running;
pub(crate) mod runs;
pub(crate) mod show;
pub(crate) mod volume;
