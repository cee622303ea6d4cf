//! Reading the `OTEL_EXPORTER_OTLP_*` variables this crate resolves itself: the signal's own
//! variable (`…_TRACES_…`) first, then the general one, an empty value counting as unset.

use super::OtlpError;

/// The first of `names` that is set to a non-empty value, with its name; a value that is not
/// UTF-8 is an [`OtlpError::InvalidVariable`].
pub(super) fn first_set(
    names: &[&'static str],
) -> Result<Option<(&'static str, String)>, OtlpError> {
    for &name in names {
        match std::env::var(name) {
            Ok(value) if value.trim().is_empty() => continue,
            Ok(value) => return Ok(Some((name, value))),
            Err(std::env::VarError::NotPresent) => continue,
            Err(std::env::VarError::NotUnicode(value)) => {
                return Err(invalid(
                    name,
                    value.to_string_lossy().into_owned(),
                    "not valid UTF-8",
                ))
            }
        }
    }
    Ok(None)
}

/// The error for `name=value`.
pub(super) fn invalid(name: &str, value: String, reason: impl Into<String>) -> OtlpError {
    OtlpError::InvalidVariable {
        name: name.to_owned(),
        value,
        reason: reason.into(),
    }
}
