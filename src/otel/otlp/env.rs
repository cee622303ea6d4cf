//! Reading the `OTEL_EXPORTER_OTLP_*` variables this crate resolves itself: the signal's own
//! variable (`…_TRACES_…`) first, then the general one, an empty value counting as unset.

use super::OtlpError;

/// `FromStr` (with [`parse_name`]: the value listed whose name is the text, trimmed, in any
/// case, else `OtlpError::$invalid`) and `Display` (the name) of an enum named in a variable by
/// its `as_str`. The docs given are those of `from_str`.
macro_rules! named_in_variable {
    ($(#[$doc:meta])* $ty:ident [$($value:ident),+] else $invalid:ident) => {
        impl std::str::FromStr for $ty {
            type Err = $crate::otel::OtlpError;

            $(#[$doc])*
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                use $crate::otel::{otlp::env, OtlpError};
                env::parse_name(s, [$($ty::$value),+], $ty::as_str, OtlpError::$invalid)
            }
        }

        display_as_str!($ty);
    };
}

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

/// The one of `all` whose name (`as_str`) is `text`, trimmed, in any case; else the error
/// `invalid` makes of the trimmed text: how this crate reads the values of these variables.
pub(super) fn parse_name<T: Copy, const N: usize>(
    text: &str,
    all: [T; N],
    as_str: fn(T) -> &'static str,
    invalid: fn(String) -> OtlpError,
) -> Result<T, OtlpError> {
    let text = text.trim();
    all.into_iter()
        .find(|&value| text.eq_ignore_ascii_case(as_str(value)))
        .ok_or_else(|| invalid(text.to_owned()))
}
