//! Small macros for shapes that many types of the crate share: builder methods that set one
//! field, `Debug` of some of a struct's fields, `Display` of a named value.

/// Builder methods that each set one field and return `self`. Each is written
/// `pub fn with_x(arg: Type) => field = value;` and becomes
/// `pub fn with_x(mut self, arg: Type) -> Self`, which stores `value` (an expression of `arg`)
/// in `self.field` (a path of fields, such as `outcome.error`, is allowed). Docs and other
/// attributes go above each method as usual.
///
/// Methods that set more than one field, or do more than store a value, are written out.
macro_rules! setters {
    ($(
        $(#[$attr:meta])*
        $vis:vis fn $name:ident($arg:ident: $ty:ty) => $($field:ident).+ = $value:expr;
    )*) => {$(
        $(#[$attr])*
        $vis fn $name(mut self, $arg: $ty) -> Self {
            self.$($field).+ = $value;
            self
        }
    )*};
}

/// `Debug` for the struct `$ty`, as `$ty { a: …, b: …, .. }`: the fields named, in that order
/// (`name()` shows what the method `name` returns instead), then `..` for the fields left out
/// (callbacks, threads, secrets, state of no interest).
macro_rules! debug_fields {
    ($ty:ident { $($name:ident $(($($call:tt)*))?),* $(,)? }) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($name), &self.$name $(($($call)*))?))*
                    .finish_non_exhaustive()
            }
        }
    };
}

/// `Display` for enums whose values are named by `as_str`: the name, padded as asked (so that
/// `{:<10}` aligns it).
macro_rules! display_as_str {
    ($($ty:ident),* $(,)?) => {$(
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }
    )*};
}
