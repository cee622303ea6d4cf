//! Printing: aligned tables for people (coloured only when wanted), JSON for scripts, and the
//! small formats both share (times, durations, trace links).

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};

use chrono::{DateTime, Utc};
use comfy_table::{presets, Color, ColumnConstraint, ContentArrangement, Width};
use serde_json::{Map, Value};
use tracing_etl::{record::ErrorDetails, ExecutionRecord, RunStatus};

use crate::args::{ColorChoice, OutputArgs};
use crate::escape::{pretty_json, Escaped};
pub(crate) use crate::table::{Cell, Table};

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
    /// stdout was closed (`| head`): what is still printed is dropped.
    closed: bool,
}

/// Output collected beyond this many bytes is written out by [`Ui::write_out`].
const OUT_CHUNK: usize = 64 * 1024;

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
            closed: false,
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
        let mut inner = comfy_table::Table::new();
        inner.load_preset(presets::NOTHING);
        // Wrap to the terminal, unless it reports no usable width (a pty without a size): a
        // table squeezed into nothing is worse than long lines.
        if inner.width().is_some_and(|w| w >= MIN_WRAP_WIDTH) {
            inner.set_content_arrangement(ContentArrangement::Dynamic);
        }
        if self.colour {
            inner.enforce_styling();
        }
        let cells = header.iter().map(|h| Cell::new(*h).bold()).collect();
        let mut table = Table::new(inner, cells, self.colour);
        let columns = header.len();
        for (i, (column, name)) in table.columns_mut().zip(header).enumerate() {
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
        Cell::new(text.to_string()).right()
    }

    /// A status, coloured.
    pub(crate) fn status(&self, status: RunStatus) -> Cell {
        Cell::new(status.to_string()).colour(status_colour(status))
    }

    /// A cell in `colour` (and bold), when colouring.
    pub(crate) fn paint(&self, cell: Cell, colour: Option<Color>, bold: bool) -> Cell {
        let cell = match colour {
            Some(colour) => cell.colour(colour),
            None => cell,
        };
        if bold {
            cell.bold()
        } else {
            cell
        }
    }

    /// A line that starts with `text` in `colour` (when colouring); [`Line::then`] adds more.
    pub(crate) fn paint_text(&self, text: impl Into<String>, colour: Color) -> Line {
        Line(vec![(text.into(), Some(colour))])
    }

    pub(crate) fn print_table(&mut self, table: &Table) {
        self.out.push_str(&table.render());
        self.out.push('\n');
    }

    /// A line of output, its text [escaped](crate::escape).
    pub(crate) fn line(&mut self, line: impl Into<Line>) {
        for (text, colour) in line.into().0 {
            match colour.filter(|_| self.colour) {
                Some(colour) => {
                    let _ = write!(self.out, "\x1b[{};1m{}\x1b[0m", sgr(colour), Escaped(text));
                }
                None => {
                    let _ = write!(self.out, "{}", Escaped(text));
                }
            }
        }
        self.out.push('\n');
    }

    pub(crate) fn print_json(&mut self, value: &Value) {
        self.out.push_str(&pretty_json(value));
        self.out.push('\n');
    }

    /// A line of text already made safe to print as it is: JSON made by
    /// [`compact_json`](crate::escape::compact_json) (or JSON punctuation around it), or a
    /// page whose control characters are character references.
    pub(crate) fn json_line(&mut self, json: &str) {
        self.out.push_str(json);
        self.out.push('\n');
    }

    /// What was collected for stdout, taken (for output that goes elsewhere than stdout).
    #[cfg_attr(not(feature = "web"), allow(dead_code))]
    pub(crate) fn take_output(&mut self) -> String {
        std::mem::take(&mut self.out)
    }

    /// A note for people, on stderr (never in JSON output's way).
    pub(crate) fn note(&self, text: impl std::fmt::Display) {
        stderr_line(text);
    }

    /// For long output printed as it is read: writes what was collected to stdout once it
    /// passes a chunk. Returns `Ok(false)` once stdout is closed (a reader that stopped, as
    /// `| head` does): the command can stop reading.
    pub(crate) fn write_out(&mut self) -> std::io::Result<bool> {
        if self.out.len() >= OUT_CHUNK {
            self.write_collected()?;
        }
        Ok(!self.closed)
    }

    /// For a visitor printing as it reads: [`write_out`](Self::write_out), and whether to go on
    /// reading (not once stdout is closed, nor after an error, which goes into `failure`).
    pub(crate) fn keep_writing(
        &mut self,
        failure: &mut Option<std::io::Error>,
    ) -> std::ops::ControlFlow<()> {
        match self.write_out() {
            Ok(true) => std::ops::ControlFlow::Continue(()),
            Ok(false) => std::ops::ControlFlow::Break(()),
            Err(e) => {
                *failure = Some(e);
                std::ops::ControlFlow::Break(())
            }
        }
    }

    /// Writes what was collected to stdout and forgets it. A closed pipe is not an error: it
    /// marks the output closed.
    fn write_collected(&mut self) -> std::io::Result<()> {
        let out = std::mem::take(&mut self.out);
        if self.closed {
            return Ok(());
        }
        let mut stdout = std::io::stdout().lock();
        match stdout
            .write_all(out.as_bytes())
            .and_then(|()| stdout.flush())
        {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other,
        }
    }

    /// Writes what was collected to stdout. A closed pipe is not an error.
    pub(crate) fn finish(mut self) -> std::io::Result<()> {
        self.write_collected()
    }
}

/// A line of output: pieces of text, each plain or in a colour.
#[derive(Debug, Default)]
pub(crate) struct Line(Vec<(String, Option<Color>)>);

impl Line {
    /// The line with `text` (plain) added at its end.
    pub(crate) fn then(mut self, text: impl Into<String>) -> Self {
        self.0.push((text.into(), None));
        self
    }

    /// The line with `text` in `colour` (when colouring) added at its end.
    pub(crate) fn then_painted(mut self, text: impl Into<String>, colour: Color) -> Self {
        self.0.push((text.into(), Some(colour)));
        self
    }
}

impl From<String> for Line {
    fn from(text: String) -> Self {
        Line(vec![(text, None)])
    }
}

impl From<&str> for Line {
    fn from(text: &str) -> Self {
        Line::from(text.to_owned())
    }
}

/// One line on stderr, its text [escaped](crate::escape): notes, warnings and errors.
pub(crate) fn stderr_line(text: impl std::fmt::Display) {
    let _ = writeln!(std::io::stderr(), "{}", Escaped(text));
}

/// The SGR code of a colour outside tables.
fn sgr(colour: Color) -> u8 {
    match colour {
        Color::Red => 31,
        Color::Green => 32,
        Color::Yellow => 33,
        Color::Magenta => 35,
        _ => 1,
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

/// A row count for people: `1,204,330`; `-` when not given.
pub(crate) fn rows(n: Option<u64>) -> String {
    let Some(n) = n else {
        return "-".to_owned();
    };
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(d);
    }
    out
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

/// An error in a table cell shows at most this many characters of its type and message each.
const ERROR_CELL_CHARS: usize = 300;

/// `Type: message` (the first line of the message), or whichever of the two is known; each cut
/// to [`ERROR_CELL_CHARS`] characters (ending in `…` when cut).
pub(crate) fn error_summary(error: &ErrorDetails) -> String {
    let short = |text: &str| {
        let kept = cut(text, ERROR_CELL_CHARS);
        if kept.len() < text.len() {
            format!("{kept}…")
        } else {
            kept.to_owned()
        }
    };
    match (
        error.type_name.as_deref().map(short),
        error.message.as_deref().map(|m| first_line(&short(m))),
    ) {
        (Some(t), Some(m)) => format!("{t}: {m}"),
        (Some(t), None) => t,
        (None, Some(m)) => m,
        (None, None) => String::new(),
    }
}

/// The colour of a status: `cancelled` (and a status this build does not know) stands apart
/// from both success and failure.
pub(crate) fn status_colour(status: RunStatus) -> Color {
    match status {
        RunStatus::Running => Color::Yellow,
        RunStatus::Success => Color::Green,
        RunStatus::Failed => Color::Red,
        _ => Color::Magenta,
    }
}

/// The first `max_chars` characters of `text` (all of it when shorter).
pub(crate) fn cut(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((at, _)) => &text[..at],
        None => text,
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
