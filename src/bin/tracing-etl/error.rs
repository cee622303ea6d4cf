//! The one error type of the tool: a one-line message, exit status 2.

use std::fmt;

use tracing_etl::StoreError;

/// Why a command could not answer: a store that cannot be opened or read, a run that does not
/// exist, an ambiguous prefix. Printed as one line on stderr; the tool then exits with status 2.
#[derive(Debug)]
pub(crate) struct CliError(String);

impl CliError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        CliError(message.into())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, whatever the underlying errors look like.
        let mut first = true;
        for line in self.0.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(line)?;
            first = false;
        }
        Ok(())
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        CliError(e.to_string())
    }
}
