//! Text from a run history is data, never terminal control: every character that could move the
//! cursor, rewrite the screen, set the clipboard, make a link or reorder what is shown is printed
//! as a visible escape instead.
//!
//! Escaped: the C0 controls (U+0000–U+001F, tab, newline and carriage return included, so that
//! one value cannot fake a line), DEL (U+007F), the C1 controls (U+0080–U+009F: U+009B is a CSI
//! to some terminals), the bidirectional marks, embeddings, overrides and isolates (U+061C,
//! U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) and the line and paragraph separators (U+2028,
//! U+2029). They print as `\t`, `\n`, `\r` or `\u{1b}` (Rust's notation, lower-case hex);
//! everything else, backslashes included, prints as it is.
//!
//! [`Escaped`] applies this to anything displayed; [`pretty_json`] and [`compact_json`] write
//! JSON whose strings carry those characters as `\uXXXX` escapes, which decode to the same text.

use std::fmt::{self, Write as _};

/// Whether `c` must not reach a terminal as it is.
pub(crate) fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// Writes `text` to `out` with every [unsafe](is_unsafe) character escaped.
fn write_escaped(out: &mut impl fmt::Write, text: &str) -> fmt::Result {
    let mut rest = text;
    while let Some((i, c)) = rest.char_indices().find(|&(_, c)| is_unsafe(c)) {
        out.write_str(&rest[..i])?;
        match c {
            '\t' => out.write_str("\\t")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            c => write!(out, "\\u{{{:x}}}", u32::from(c))?,
        }
        rest = &rest[i + c.len_utf8()..];
    }
    out.write_str(rest)
}

/// `text` with every [unsafe](is_unsafe) character escaped.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Writing into a `String` cannot fail.
    let _ = write_escaped(&mut out, text);
    out
}

/// Displays its value with every [unsafe](is_unsafe) character escaped.
pub(crate) struct Escaped<T>(pub(crate) T);

impl<T: fmt::Display> fmt::Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// Escapes what the value writes, piece by piece.
        struct Escaping<'a, 'b>(&'a mut fmt::Formatter<'b>);
        impl fmt::Write for Escaping<'_, '_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                write_escaped(self.0, s)
            }
        }
        write!(Escaping(f), "{}", self.0)
    }
}

/// `value` as pretty JSON (as `serde_json::to_string_pretty`), escaped as [`escape_json`]
/// escapes.
pub(crate) fn pretty_json(value: &serde_json::Value) -> String {
    escape_json(&format!("{value:#}"))
}

/// `value` as compact JSON on one line, escaped as [`escape_json`] escapes.
pub(crate) fn compact_json(value: &serde_json::Value) -> String {
    escape_json(&value.to_string())
}

/// `json` (as `serde_json` writes it) with the characters that JSON allows raw but a terminal
/// may obey written as `\uXXXX` escapes: DEL, the C1 controls, the bidi marks and the line
/// separators. `serde_json` escapes the C0 controls in strings itself, so what is left stands
/// in a string, where the escape decodes to the same text.
fn escape_json(json: &str) -> String {
    // Every unsafe character is in the Basic Multilingual Plane: one `\uXXXX`.
    replace_unsafe(json, |out, c| write!(out, "\\u{c:04x}"))
}

/// `text` with every [unsafe](is_unsafe) character other than newlines and tabs written by
/// `escape` (given its code point).
pub(crate) fn replace_unsafe(
    text: &str,
    escape: impl Fn(&mut String, u32) -> fmt::Result,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((i, c)) = rest
        .char_indices()
        .find(|&(_, c)| is_unsafe(c) && c != '\n' && c != '\t')
    {
        out.push_str(&rest[..i]);
        // Writing into a `String` cannot fail.
        let _ = escape(&mut out, u32::from(c));
        rest = &rest[i + c.len_utf8()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_print_as_escapes() {
        assert_eq!(
            escape("a\u{1b}[2J\tb\r\nc\u{7f}\u{9b}31m\u{202e}d\u{2066}"),
            "a\\u{1b}[2J\\tb\\r\\nc\\u{7f}\\u{9b}31m\\u{202e}d\\u{2066}"
        );
        assert_eq!(escape("C:\\path é 日本"), "C:\\path é 日本");
        assert_eq!(
            Escaped(format_args!("{}|{}", "x\u{7}", 1)).to_string(),
            "x\\u{7}|1"
        );
    }

    #[test]
    fn json_escapes_what_a_terminal_obeys_and_decodes_the_same() {
        let text = "a\u{1b}]52;c;eA==\u{7}b\u{7f}\u{9b}\u{202e}\u{2029}é";
        let value = serde_json::json!({ "k": [text] });
        let json = pretty_json(&value);
        assert!(!json.chars().any(|c| is_unsafe(c) && c != '\n'), "{json}");
        assert!(
            json.contains("\\u009b") && json.contains("\\u202e"),
            "{json}"
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&json).unwrap(),
            value
        );
        let escaped = |json: String| {
            json.replace('\u{7f}', "\\u007f")
                .replace('\u{9b}', "\\u009b")
                .replace('\u{202e}', "\\u202e")
                .replace('\u{2029}', "\\u2029")
        };
        assert_eq!(json, escaped(serde_json::to_string_pretty(&value).unwrap()));
        assert_eq!(
            compact_json(&value),
            escaped(serde_json::to_string(&value).unwrap())
        );
    }
}
