//! Printing: aligned tables for people (coloured only when wanted), JSON for scripts, and the
//! small formats both share (times, durations, trace links).

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};

use chrono::{DateTime, Utc};
use comfy_table::{
    presets, Attribute, Cell, CellAlignment, Color, ColumnConstraint, ContentArrangement, Table,
    Width,
};
use serde_json::{Map, Value};
use tracing_etl::{record::ErrorDetails, ExecutionRecord, RunStatus};

use crate::args::{ColorChoice, OutputArgs};

/// Narrower terminals get unwrapped lines.
const MIN_WRAP_WIDTH: u16 = 60;

/// The narrowest a wrapping column gets.
const MIN_PROSE_WIDTH: u16 = 40;

/// The only columns whose text wraps to fit the terminal.
const WRAPPING_COLUMNS: [&str; 2] = ["ERROR", "REASON"];

/// A trace link template: `{trace_id}` (required) and `{span_id}` are replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TraceUrl(String);

impl TraceUrl {
    pub(crate) fn parse(template: &str) -> Result<Self, String> {
        if template.contains("{trace_id}") {
            Ok(TraceUrl(template.to_owned()))
        } else {
            Err(format!(
                "{template:?} has no {{trace_id}} placeholder \
                 (e.g. http://localhost:16686/trace/{{trace_id}})"
            ))
        }
    }

    /// The link for a record, when it has a trace id.
    pub(crate) fn link(&self, trace_id: Option<&str>, span_id: Option<&str>) -> Option<String> {
        let trace_id = trace_id.filter(|t| !t.is_empty())?;
        Some(
            self.0
                .replace("{trace_id}", trace_id)
                .replace("{span_id}", span_id.unwrap_or("")),
        )
    }
}

/// Where a command's output goes: stdout is collected and written at the end, so that a closed
/// pipe (`tracing-etl runs | head`) is not an error; notes go to stderr at once.
#[derive(Debug)]
pub(crate) struct Ui {
    pub(crate) json: bool,
    colour: bool,
    trace_url: Option<TraceUrl>,
    out: String,
}

impl Ui {
    pub(crate) fn new(args: &OutputArgs) -> Self {
        let colour = match args.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        Ui {
            json: args.json,
            colour,
            trace_url: args.trace_url.clone(),
            out: String::new(),
        }
    }

    /// The trace link of a record, or `None` without a template or a trace id.
    pub(crate) fn trace_link(
        &self,
        trace_id: Option<&str>,
        span_id: Option<&str>,
    ) -> Option<String> {
        self.trace_url.as_ref()?.link(trace_id, span_id)
    }

    /// What to show for a record's trace: its link with a template, else its bare trace id.
    pub(crate) fn trace_text(
        &self,
        trace_id: Option<&str>,
        span_id: Option<&str>,
    ) -> Option<String> {
        match &self.trace_url {
            Some(url) => url.link(trace_id, span_id),
            None => trace_id.filter(|t| !t.is_empty()).map(str::to_owned),
        }
    }

    /// A table with this tool's look: no borders, a header, columns two spaces apart, wrapped to
    /// the terminal's width when there is one.
    pub(crate) fn table(&self, header: &[&str]) -> Table {
        let mut table = Table::new();
        table.load_preset(presets::NOTHING);
        // Wrap to the terminal, unless it reports no usable width (a pty without a size): a
        // table squeezed into nothing is worse than long lines.
        if table.width().is_some_and(|w| w >= MIN_WRAP_WIDTH) {
            table.set_content_arrangement(ContentArrangement::Dynamic);
        }
        if self.colour {
            table.enforce_styling();
        }
        table.set_header(
            header
                .iter()
                .map(|h| self.paint(Cell::new(h), None, true))
                .collect::<Vec<_>>(),
        );
        let columns = header.len();
        for (i, (column, name)) in table.column_iter_mut().zip(header).enumerate() {
            column.set_padding((0, if i + 1 == columns { 0 } else { 2 }));
            // Ids, names, times and links stay whole (for copying); only prose wraps.
            // Prose wraps, but not into a sliver: rather long lines than one word per line.
            column.set_constraint(if WRAPPING_COLUMNS.contains(name) {
                ColumnConstraint::LowerBoundary(Width::Fixed(MIN_PROSE_WIDTH))
            } else {
                ColumnConstraint::ContentWidth
            });
        }
        table
    }

    /// A right-aligned cell (numbers, durations).
    pub(crate) fn right(&self, text: impl ToString) -> Cell {
        Cell::new(text).set_alignment(CellAlignment::Right)
    }

    /// A status, coloured.
    pub(crate) fn status(&self, status: RunStatus) -> Cell {
        let colour = match status {
            RunStatus::Running => Color::Yellow,
            RunStatus::Success => Color::Green,
            RunStatus::Failed => Color::Red,
        };
        self.paint(Cell::new(status), Some(colour), false)
    }

    /// A cell in `colour` (and bold), when colouring.
    pub(crate) fn paint(&self, cell: Cell, colour: Option<Color>, bold: bool) -> Cell {
        if !self.colour {
            return cell;
        }
        let cell = match colour {
            Some(colour) => cell.fg(colour),
            None => cell,
        };
        if bold {
            cell.add_attribute(Attribute::Bold)
        } else {
            cell
        }
    }

    /// Text in `colour`, when colouring (for lines outside tables).
    pub(crate) fn paint_text(&self, text: &str, colour: Color) -> String {
        if !self.colour {
            return text.to_owned();
        }
        let code = match colour {
            Color::Red => 31,
            Color::Green => 32,
            Color::Yellow => 33,
            _ => 1,
        };
        format!("\x1b[{code};1m{text}\x1b[0m")
    }

    pub(crate) fn print_table(&mut self, table: &Table) {
        self.out.push_str(&table.trim_fmt());
        self.out.push('\n');
    }

    pub(crate) fn line(&mut self, text: impl std::fmt::Display) {
        let _ = writeln!(self.out, "{text}");
    }

    pub(crate) fn print_json(&mut self, value: &Value) {
        // Serialising a `Value` cannot fail.
        if let Ok(text) = serde_json::to_string_pretty(value) {
            self.out.push_str(&text);
            self.out.push('\n');
        }
    }

    /// A note for people, on stderr (never in JSON output's way).
    pub(crate) fn note(&self, text: impl std::fmt::Display) {
        let _ = writeln!(std::io::stderr(), "{text}");
    }

    /// Writes what was collected to stdout. A closed pipe is not an error.
    pub(crate) fn finish(self) -> std::io::Result<()> {
        let mut stdout = std::io::stdout().lock();
        match stdout
            .write_all(self.out.as_bytes())
            .and_then(|()| stdout.flush())
        {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    }
}

/// A record as a JSON object of its columns (as it serialises: the column names of its table),
/// with a `trace_url` when the record has a trace and a template was given. `kind` only when
/// `with_kind`: where records of several kinds are listed together.
pub(crate) fn record_json(
    ui: &Ui,
    record: &ExecutionRecord,
    with_kind: bool,
) -> Map<String, Value> {
    let mut object = match serde_json::to_value(record) {
        Ok(Value::Object(object)) => object,
        _ => Map::new(),
    };
    if !with_kind {
        object.remove("kind");
    }
    if let Some(link) = ui.trace_link(record.trace_id.as_deref(), record.span_id.as_deref()) {
        object.insert("trace_url".into(), Value::String(link));
    }
    object
}

/// `2026-11-28 03:12:45` (UTC).
pub(crate) fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A duration for people: `850ms`, `12.3s`, `4m 05s`, `2h 03m`, `3d 04h`; `-` when unknown.
pub(crate) fn duration_ms(ms: Option<u64>) -> String {
    match ms {
        Some(ms) => human_ms(ms),
        None => "-".to_owned(),
    }
}

pub(crate) fn human_ms(ms: u64) -> String {
    let s = ms / 1000;
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{}.{}s", s, (ms % 1000) / 100),
        60_000..3_600_000 => format!("{}m {:02}s", s / 60, s % 60),
        3_600_000..86_400_000 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// The time from `from` to `to` for people (never negative).
pub(crate) fn elapsed(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let ms = to.signed_duration_since(from).num_milliseconds().max(0);
    human_ms(u64::try_from(ms).unwrap_or(0))
}

/// First line of a text, for table cells; the full text is in `show` and in `--json`.
pub(crate) fn first_line(text: &str) -> String {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("").trim_end();
    if lines.next().is_some() {
        format!("{first} …")
    } else {
        first.to_owned()
    }
}

/// `Type: message`, or whichever of the two is known.
pub(crate) fn error_summary(error: &ErrorDetails) -> String {
    match (
        error.type_name.as_deref(),
        error.message.as_deref().map(first_line),
    ) {
        (Some(t), Some(m)) => format!("{t}: {m}"),
        (Some(t), None) => t.to_owned(),
        (None, Some(m)) => m,
        (None, None) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration_ms(None), "-");
        assert_eq!(human_ms(0), "0ms");
        assert_eq!(human_ms(999), "999ms");
        assert_eq!(human_ms(12_345), "12.3s");
        assert_eq!(human_ms(245_000), "4m 05s");
        assert_eq!(human_ms(7_380_000), "2h 03m");
        assert_eq!(human_ms(273_600_000), "3d 04h");
    }

    #[test]
    fn trace_links_need_a_trace_id() {
        assert!(TraceUrl::parse("https://jaeger/trace/").is_err());
        let url = TraceUrl::parse("https://j/trace/{trace_id}?uiFind={span_id}").unwrap();
        assert_eq!(
            url.link(Some("abc"), Some("12")).as_deref(),
            Some("https://j/trace/abc?uiFind=12")
        );
        assert_eq!(url.link(None, Some("12")), None);
        assert_eq!(url.link(Some(""), None), None);
    }
}
