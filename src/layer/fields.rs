//! Field visitors: the `etl.*` fields of entity spans, and the error fields of ERROR events.
//!
//! Both ignore every field they do not know without formatting it.

use std::fmt::{self, Write as _};

use tracing_core::field::{Field, Visit};
use tracing_core::Metadata;

use crate::entity::ErrorInfo;
use crate::record::EntityKind;

/// Longest text kept from a field value; longer values are cut at a character boundary and end
/// with [`TRUNCATED_MARKER`].
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

/// Appended to a value cut at [`MAX_FIELD_BYTES`].
pub const TRUNCATED_MARKER: &str = "…[truncated]";

pub(crate) const PIPELINE: &str = "etl.pipeline";
pub(crate) const PROCESS: &str = "etl.process";
pub(crate) const STEP: &str = "etl.step";
pub(crate) const RUN_ID: &str = "etl.run_id";
pub(crate) const CORRELATION_ID: &str = "etl.correlation_id";
pub(crate) const ATTEMPT: &str = "etl.attempt";
pub(crate) const LAST_ATTEMPT: &str = "etl.last_attempt";
pub(crate) const ROWS_IN: &str = "etl.rows_in";
pub(crate) const ROWS_OUT: &str = "etl.rows_out";
pub(crate) const INPUTS: &str = "etl.inputs";
pub(crate) const OUTPUTS: &str = "etl.outputs";

/// The entity markers (`etl.pipeline`, `etl.process`, `etl.step`) among a span's field names:
/// the hot-path test every new span goes through. Looks only at field names (no values, no
/// allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Markers(u8);

impl Markers {
    /// The markers `metadata` declares.
    #[inline]
    pub(crate) fn of(metadata: &Metadata<'_>) -> Self {
        let mut set = 0u8;
        for field in metadata.fields() {
            set |= match field.name() {
                PIPELINE => 1 << rank(EntityKind::Pipeline),
                PROCESS => 1 << rank(EntityKind::Process),
                STEP => 1 << rank(EntityKind::Step),
                _ => 0,
            };
        }
        Markers(set)
    }

    /// The entity kind declared, if any. A span with several markers is the outermost kind
    /// (pipeline, then process, then step).
    #[inline]
    pub(crate) fn kind(self) -> Option<EntityKind> {
        match self.0.trailing_zeros() {
            0 => Some(EntityKind::Pipeline),
            1 => Some(EntityKind::Process),
            2 => Some(EntityKind::Step),
            _ => None,
        }
    }

    /// How many different markers are declared (more than one is reported as a warning; the
    /// same marker twice is reported as a field given twice).
    pub(crate) fn count(self) -> u32 {
        self.0.count_ones()
    }
}

fn rank(kind: EntityKind) -> u8 {
    match kind {
        EntityKind::Pipeline => 0,
        EntityKind::Process => 1,
        EntityKind::Step => 2,
    }
}

/// A value as recorded, before validation.
#[derive(Debug)]
pub(crate) enum Raw {
    Int(i128),
    /// A `u128` above `i128::MAX`.
    Huge(u128),
    Float(f64),
    Bool(bool),
    Text(String),
    /// Text equal to the span's name (a marker such as `etl.step = "load"` on span `load`),
    /// kept without a copy.
    SpanName(&'static str),
}

impl fmt::Display for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Raw::Int(v) => write!(f, "{v}"),
            Raw::Huge(v) => write!(f, "{v}"),
            Raw::Float(v) => write!(f, "{v:?}"),
            Raw::Bool(v) => write!(f, "{v}"),
            Raw::Text(v) => write!(f, "{v:?}"),
            Raw::SpanName(v) => write!(f, "{v:?}"),
        }
    }
}

/// The `etl.*` values of an entity span.
#[derive(Debug, Default)]
pub(crate) struct SpanFields {
    /// The span's name: a marker whose value is the same text takes it without a copy.
    pub(crate) span_name: &'static str,
    /// The value of each marker field, indexed by `rank`.
    pub(crate) names: [Option<Raw>; 3],
    /// The run fields, once one is recorded: pipelines give them, the processes and steps that
    /// make up most entity spans give none, and they then cost one pointer to set up and drop.
    pub(crate) run: Option<Box<RunFields>>,
    /// The volume fields, once one is recorded (most spans give none, as for `run`).
    pub(crate) volume: Option<Box<VolumeFields>>,
    /// `etl.*` fields recorded that this crate does not know.
    pub(crate) unknown: Vec<&'static str>,
    /// Fields given more than one value (the last one is kept).
    pub(crate) repeated: Vec<&'static str>,
}

/// The run fields of an entity span as recorded: `etl.run_id`, `etl.correlation_id`,
/// `etl.attempt` and `etl.last_attempt`.
#[derive(Debug, Default)]
pub(crate) struct RunFields {
    pub(crate) run_id: Option<Raw>,
    pub(crate) correlation_id: Option<Raw>,
    pub(crate) attempt: Option<Raw>,
    pub(crate) last_attempt: Option<Raw>,
}

impl RunFields {
    /// Whether `etl.run_id` or `etl.attempt` (what a start record is keyed by) is given.
    pub(crate) fn keys_given(&self) -> bool {
        self.run_id.is_some() || self.attempt.is_some()
    }

    /// Whether `etl.correlation_id` or `etl.last_attempt` is given.
    pub(crate) fn late_fields_given(&self) -> bool {
        self.correlation_id.is_some() || self.last_attempt.is_some()
    }
}

/// The volume fields of an entity span as recorded: `etl.rows_in`, `etl.rows_out`, and every
/// value given for `etl.inputs` and for `etl.outputs`, in order (each adds).
#[derive(Debug, Default)]
pub(crate) struct VolumeFields {
    pub(crate) rows_in: Option<Raw>,
    pub(crate) rows_out: Option<Raw>,
    pub(crate) inputs: Vec<Raw>,
    pub(crate) outputs: Vec<Raw>,
}

impl SpanFields {
    /// The fields of a span named `span_name`, none recorded yet.
    pub(crate) fn new(span_name: &'static str) -> Self {
        SpanFields {
            span_name,
            ..SpanFields::default()
        }
    }

    fn set(&mut self, field: &Field, value: impl FnOnce() -> Raw) {
        let name = field.name();
        let slot = match name {
            PIPELINE => &mut self.names[0],
            PROCESS => &mut self.names[1],
            STEP => &mut self.names[2],
            RUN_ID | CORRELATION_ID | ATTEMPT | LAST_ATTEMPT => {
                return self.set_run_field(name, value())
            }
            ROWS_IN | ROWS_OUT | INPUTS | OUTPUTS => return self.set_volume(name, value()),
            other => {
                if other.starts_with("etl.") {
                    self.unknown.push(other);
                }
                return;
            }
        };
        if slot.replace(value()).is_some() {
            self.note_repeated(name);
        }
    }

    /// A run field: out of line, as the volume fields.
    #[inline(never)]
    fn set_run_field(&mut self, name: &'static str, value: Raw) {
        let run = self.run.get_or_insert_with(Box::default);
        let slot = match name {
            RUN_ID => &mut run.run_id,
            CORRELATION_ID => &mut run.correlation_id,
            ATTEMPT => &mut run.attempt,
            _ => &mut run.last_attempt,
        };
        if slot.replace(value).is_some() {
            self.note_repeated(name);
        }
    }

    /// A volume field: out of line, so that spans giving none do not carry its code.
    #[cold]
    #[inline(never)]
    fn set_volume(&mut self, name: &'static str, value: Raw) {
        let volume = self.volume.get_or_insert_with(Box::default);
        let slot = match name {
            // Datasets add up: every value given is one more.
            INPUTS => return volume.inputs.push(value),
            OUTPUTS => return volume.outputs.push(value),
            ROWS_IN => &mut volume.rows_in,
            _ => &mut volume.rows_out,
        };
        if slot.replace(value).is_some() {
            self.note_repeated(name);
        }
    }

    fn note_repeated(&mut self, name: &'static str) {
        if !self.repeated.contains(&name) {
            self.repeated.push(name);
        }
    }

    /// The name given as the marker's value for `kind`, if it is usable text.
    pub(crate) fn name_for(&mut self, kind: EntityKind) -> Option<Raw> {
        self.names[rank(kind) as usize].take()
    }
}

impl Visit for SpanFields {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field, || Raw::Int(value.into()));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field, || Raw::Int(value.into()));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.set(field, || Raw::Int(value));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.set(field, || match i128::try_from(value) {
            Ok(v) => Raw::Int(v),
            Err(_) => Raw::Huge(value),
        });
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field, || Raw::Bool(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field, || Raw::Float(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let span_name = self.span_name;
        let is_marker = matches!(field.name(), PIPELINE | PROCESS | STEP);
        self.set(field, || {
            if is_marker && value == span_name && !value.trim().is_empty() {
                Raw::SpanName(span_name)
            } else {
                Raw::Text(clean(value))
            }
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field, || {
            Raw::Text(format_limited(format_args!("{value:?}")))
        });
    }
}

/// The error fields of an ERROR event.
#[derive(Debug, Default)]
pub(crate) struct ErrorFields {
    error: Option<String>,
    error_from_error_value: Option<(String, String)>,
    message: Option<String>,
    error_message: Option<String>,
    error_type: Option<String>,
}

impl ErrorFields {
    pub(crate) fn into_info(self) -> ErrorInfo {
        let (debug_error, display_error) = match self.error_from_error_value {
            Some((debug, display)) => (Some(debug), Some(display)),
            None => (None, None),
        };
        let error_message = self
            .error_message
            .or_else(|| display_error.clone())
            .or_else(|| self.error.as_deref().map(|e| first_paragraph(e).to_owned()))
            .or_else(|| self.message.clone())
            .unwrap_or_else(|| "error event without a message".to_owned());
        let error = debug_error
            .or(self.error)
            .or(self.message)
            .unwrap_or_else(|| error_message.clone());
        let error_type = self.error_type.or_else(|| type_from_debug(&error));
        ErrorInfo {
            error,
            error_type,
            error_message,
        }
    }
}

impl Visit for ErrorFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some(slot) = self.slot(field.name()) {
            *slot = Some(clean(value));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if field.name() == "error" || field.name() == "exception" {
            let mut display = format_limited(format_args!("{value}"));
            let mut source = value.source();
            while let Some(cause) = source {
                let _ = write!(display, ": {cause}");
                source = cause.source();
            }
            self.error_from_error_value =
                Some((format_limited(format_args!("{value:?}")), limit(display)));
        } else {
            self.record_debug(field, &format_args!("{value}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if let Some(slot) = self.slot(field.name()) {
            *slot = Some(format_limited(format_args!("{value:?}")));
        }
    }
}

impl ErrorFields {
    fn slot(&mut self, name: &str) -> Option<&mut Option<String>> {
        match name {
            "error" | "exception" => Some(&mut self.error),
            "message" => Some(&mut self.message),
            "error.message" | "exception.message" => Some(&mut self.error_message),
            "error.type" | "exception.type" => Some(&mut self.error_type),
            _ => None,
        }
    }
}

/// The type name at the start of a `Debug` rendering: `ParseIntError { kind: InvalidDigit }`
/// gives `ParseIntError`, `Io(Custom { .. })` gives `Io`. Text that does not look like a
/// `Debug` rendering (a sentence) gives `None`.
pub(crate) fn type_from_debug(text: &str) -> Option<String> {
    let ident_end = text
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .map_or(text.len(), |(i, _)| i);
    let ident = text[..ident_end].trim_end_matches(':');
    let rest = &text[ident_end..];
    let starts_upper = ident
        .rsplit("::")
        .next()
        .and_then(|last| last.chars().next())
        .is_some_and(|c| c.is_uppercase());
    let looks_like_debug =
        rest.is_empty() || rest.starts_with('(') || rest.starts_with(" {") || rest.starts_with('{');
    (starts_upper && looks_like_debug && !ident.is_empty())
        .then(|| ident.rsplit("::").next().unwrap_or(ident).to_owned())
}

/// The last path segment of a type name: `std::num::ParseIntError` → `ParseIntError`,
/// `my::Error<u8>` → `Error<u8>`.
pub(crate) fn short_type_name(full: &str) -> &str {
    let generic_start = full.find('<').unwrap_or(full.len());
    let path_end = full[..generic_start].rfind("::").map_or(0, |i| i + 2);
    &full[path_end..]
}

/// The short name of the concrete type behind the type name `full` (from
/// `std::any::type_name`): references and the smart pointers `Box`, `Rc` and `Arc` are looked
/// through; a trait object (`dyn core::error::Error + Send + Sync`) has no concrete type, and
/// gives `None` (its last word, `Sync`, is no type name).
pub(crate) fn concrete_type_name(full: &str) -> Option<&str> {
    let mut name = full.trim();
    loop {
        if let Some(rest) = name.strip_prefix('&') {
            name = rest.trim_start();
            name = name.strip_prefix("mut ").unwrap_or(name).trim_start();
            continue;
        }
        let pointer = ["alloc::boxed::Box<", "alloc::rc::Rc<", "alloc::sync::Arc<"]
            .iter()
            .find_map(|p| name.strip_prefix(p));
        match pointer.and_then(|inner| inner.strip_suffix('>')) {
            Some(inner) => name = inner.trim(),
            None => break,
        }
    }
    if name.starts_with("dyn ") || name.starts_with('(') || name.is_empty() {
        return None;
    }
    Some(short_type_name(name))
}

/// The first paragraph of `text`: what comes before its first blank line, trailing whitespace
/// cut. `text` itself when it has no blank line (or nothing before it). Error reports such as
/// `anyhow`'s and `eyre`'s `Debug` form put the message first and then, after a blank line, the
/// causes and a backtrace.
pub(crate) fn first_paragraph(text: &str) -> &str {
    let mut offset = 0;
    let mut seen_text = false;
    for line in text.split_inclusive('\n') {
        if line.trim().is_empty() {
            if seen_text {
                return text[..offset].trim_end();
            }
        } else {
            seen_text = true;
        }
        offset += line.len();
    }
    text
}

/// What a value whose `Debug` or `Display` panicked is recorded as (after what it wrote).
pub(crate) const FORMAT_PANICKED: &str = "<formatting panicked>";

/// Formats into a new string, stopping at [`MAX_FIELD_BYTES`], and cleans it.
///
/// The values are the program's: a `Debug` or `Display` that panics must not unwind through a
/// subscriber callback, so the panic is caught here and the value recorded as what it wrote
/// followed by [`FORMAT_PANICKED`].
pub(crate) fn format_limited(args: fmt::Arguments<'_>) -> String {
    let mut out = LimitedString::default();
    let formatted =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| out.write_fmt(args).is_ok()));
    if formatted.is_err() {
        out.text.push_str(FORMAT_PANICKED);
    }
    limit(out.text)
}

/// Owned copy of `text`, cut and cleaned.
pub(crate) fn clean(text: &str) -> String {
    if text.len() <= MAX_FIELD_BYTES && !text.contains('\0') {
        return text.to_owned();
    }
    limit(text.to_owned())
}

/// Replaces NUL characters with U+FFFD, which some stores (PostgreSQL) cannot hold, and cuts
/// at [`MAX_FIELD_BYTES`] (adding [`TRUNCATED_MARKER`]) — in that order, so that the
/// three-byte replacements cannot take the text past the limit.
pub(crate) fn limit(text: String) -> String {
    limit_to(text, MAX_FIELD_BYTES)
}

/// [`limit`] to `max` bytes (at most [`MAX_FIELD_BYTES`]), for a text that gets more added
/// after it.
pub(crate) fn limit_to(mut text: String, max: usize) -> String {
    let max = max.min(MAX_FIELD_BYTES);
    if text.contains('\0') {
        text = text.replace('\0', "\u{FFFD}");
    }
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str(TRUNCATED_MARKER);
    }
    text
}

/// A `fmt::Write` that stops growing a little past [`MAX_FIELD_BYTES`], so a huge `Debug`
/// rendering is not built in full only to be cut.
#[derive(Default)]
struct LimitedString {
    text: String,
}

impl fmt::Write for LimitedString {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = (MAX_FIELD_BYTES + 4).saturating_sub(self.text.len());
        if room == 0 {
            return Err(fmt::Error);
        }
        if s.len() <= room {
            self.text.push_str(s);
            Ok(())
        } else {
            let mut cut = room;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            self.text.push_str(&s[..cut]);
            Err(fmt::Error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_come_from_debug_renderings_only() {
        assert_eq!(
            type_from_debug("ParseIntError { kind: InvalidDigit }").as_deref(),
            Some("ParseIntError")
        );
        assert_eq!(type_from_debug("Io(Custom)").as_deref(), Some("Io"));
        assert_eq!(type_from_debug("NotFound").as_deref(), Some("NotFound"));
        assert_eq!(type_from_debug("my::Error(3)").as_deref(), Some("Error"));
        assert_eq!(type_from_debug("invalid digit found in string"), None);
        assert_eq!(type_from_debug("Invalid digit found"), None);
        assert_eq!(type_from_debug(""), None);
    }

    #[test]
    fn concrete_type_names_look_through_pointers_and_not_into_trait_objects() {
        fn name_of<E: ?Sized>() -> Option<&'static str> {
            concrete_type_name(std::any::type_name::<E>())
        }
        type Dyn = dyn std::error::Error + Send + Sync;
        assert_eq!(name_of::<std::num::ParseIntError>(), Some("ParseIntError"));
        assert_eq!(name_of::<&std::num::ParseIntError>(), Some("ParseIntError"));
        assert_eq!(
            name_of::<Box<std::io::Error>>(),
            Some("Error"),
            "std::io::Error"
        );
        assert_eq!(name_of::<std::sync::Arc<std::fmt::Error>>(), Some("Error"));
        assert_eq!(name_of::<Dyn>(), None);
        assert_eq!(name_of::<&Dyn>(), None);
        assert_eq!(name_of::<Box<Dyn>>(), None);
        assert_eq!(name_of::<dyn std::error::Error>(), None);
        assert_eq!(
            concrete_type_name("my::Error<alloc::string::String>"),
            Some("Error<alloc::string::String>")
        );
    }

    #[test]
    fn first_paragraphs_end_at_the_first_blank_line() {
        assert_eq!(
            first_paragraph("row 7 has no amount"),
            "row 7 has no amount"
        );
        assert_eq!(
            first_paragraph("loading orders\n\nCaused by:\n    row 7\n\nStack backtrace:\n   0: x"),
            "loading orders"
        );
        assert_eq!(first_paragraph("two\nlines\n  \nthen more"), "two\nlines");
        assert_eq!(first_paragraph("\n\nlate start"), "\n\nlate start");
        assert_eq!(first_paragraph("ends with\n\n"), "ends with");
        assert_eq!(first_paragraph("crlf\r\n\r\nrest"), "crlf");
        assert_eq!(first_paragraph(""), "");
    }

    #[test]
    fn short_type_names_drop_the_path() {
        assert_eq!(short_type_name("std::num::ParseIntError"), "ParseIntError");
        assert_eq!(short_type_name("a::Error<b::C>"), "Error<b::C>");
        assert_eq!(short_type_name("Plain"), "Plain");
    }

    #[test]
    fn long_and_nul_text_is_cut_and_cleaned() {
        let long = "é".repeat(MAX_FIELD_BYTES);
        let cut = clean(&long);
        assert!(cut.len() <= MAX_FIELD_BYTES + TRUNCATED_MARKER.len());
        assert!(cut.ends_with(TRUNCATED_MARKER));
        assert_eq!(clean("a\0b"), "a\u{FFFD}b");
        // NUL characters grow three times when replaced: still within the limit.
        let nuls = clean(&"\0".repeat(MAX_FIELD_BYTES));
        assert_eq!(nuls.len(), MAX_FIELD_BYTES / 3 * 3 + TRUNCATED_MARKER.len());
        assert!(nuls.ends_with(TRUNCATED_MARKER));
        let formatted = format_limited(format_args!("{}", "x".repeat(3 * MAX_FIELD_BYTES)));
        assert!(formatted.ends_with(TRUNCATED_MARKER));
    }
}
