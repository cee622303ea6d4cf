//! The tables of the tool: cells hold plain text, and their text is [escaped](crate::escape)
//! when the table is laid out, so that whatever a history holds cannot reach the terminal as
//! control characters; colour and alignment are the table's own.

use comfy_table::{Attribute, CellAlignment, Color};

use crate::escape::escape;

/// One cell: its text (as recorded) and how it looks.
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    text: String,
    colour: Option<Color>,
    bold: bool,
    right: bool,
}

impl Cell {
    pub(crate) fn new(text: impl Into<String>) -> Self {
        Cell {
            text: text.into(),
            colour: None,
            bold: false,
            right: false,
        }
    }

    /// In `colour`, when the table is coloured.
    pub(crate) fn colour(mut self, colour: Color) -> Self {
        self.colour = Some(colour);
        self
    }

    /// Bold, when the table is coloured.
    pub(crate) fn bold(mut self) -> Self {
        self.bold = true;
        self
    }

    /// Aligned right (numbers, durations).
    pub(crate) fn right(mut self) -> Self {
        self.right = true;
        self
    }

    /// The cell to lay out: its text escaped, styled only when `colour`.
    fn laid_out(&self, colour: bool) -> comfy_table::Cell {
        let mut cell = comfy_table::Cell::new(escape(&self.text));
        if self.right {
            cell = cell.set_alignment(CellAlignment::Right);
        }
        if colour {
            if let Some(c) = self.colour {
                cell = cell.fg(c);
            }
            if self.bold {
                cell = cell.add_attribute(Attribute::Bold);
            }
        }
        cell
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell::new(text)
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell::new(text)
    }
}

impl From<&String> for Cell {
    fn from(text: &String) -> Self {
        Cell::new(text.as_str())
    }
}

/// A table being filled: rows of [`Cell`]s under a header.
#[derive(Debug)]
pub(crate) struct Table {
    inner: comfy_table::Table,
    colour: bool,
}

impl Table {
    /// Wraps a table already set up (preset, widths, constraints) with its header.
    pub(crate) fn new(mut inner: comfy_table::Table, header: Vec<Cell>, colour: bool) -> Self {
        inner.set_header(
            header
                .iter()
                .map(|c| c.laid_out(colour))
                .collect::<Vec<_>>(),
        );
        Table { inner, colour }
    }

    /// The table's comfy-table form, to set up columns.
    pub(crate) fn columns_mut(&mut self) -> impl Iterator<Item = &mut comfy_table::Column> {
        self.inner.column_iter_mut()
    }

    pub(crate) fn add_row(&mut self, row: Vec<Cell>) {
        let colour = self.colour;
        self.inner
            .add_row(row.iter().map(|c| c.laid_out(colour)).collect::<Vec<_>>());
    }

    /// The table as text, trailing spaces trimmed.
    pub(crate) fn render(&self) -> String {
        self.inner.trim_fmt()
    }
}
