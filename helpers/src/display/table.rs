//! A DataFrame as a self-contained HTML table (and as text), and the little HTML helpers the
//! captions and figures share.

use std::path::Path;

use polars::prelude::{AnyValue, DataFrame};

use super::{DEFAULT_ROWS, NotebookDisplay, emit, thousands, write_file};
use crate::error::Result;

/// A DataFrame with a row limit and an optional caption, ready to show.
#[derive(Clone, Debug)]
pub struct Table {
    df: DataFrame,
    rows: usize,
    caption: Option<String>,
}

impl Table {
    /// Shows at most `rows` rows of `df`; the rest is counted ("… 990 more rows").
    pub fn new(df: DataFrame, rows: usize) -> Self {
        Table { df, rows, caption: None }
    }

    /// Adds a caption above the table.
    pub fn caption(mut self, caption: impl Into<String>) -> Self {
        self.caption = Some(caption.into());
        self
    }

    /// The table as a self-contained HTML `<table>` (inline styles, values escaped): column
    /// names with their dtypes in the header, at most the row limit, then a line that
    /// counts the rows left out.
    pub fn to_html(&self) -> String {
        let df = &self.df;
        let shown = df.height().min(self.rows);
        let mut html = String::from(
            "<table style=\"border-collapse:collapse;font-family:sans-serif;font-size:13px\">",
        );
        if let Some(caption) = &self.caption {
            html.push_str(&format!(
                "<caption style=\"text-align:left;font-weight:bold;padding:4px 0\">{}</caption>",
                inline_html(caption)
            ));
        }
        html.push_str("<thead><tr>");
        for column in df.columns() {
            html.push_str(&format!(
                "<th style=\"border-bottom:2px solid #444;padding:3px 8px;text-align:left\">{}<br><span style=\"font-weight:normal;color:#888;font-size:11px\">{}</span></th>",
                escape(column.name()),
                escape(&column.dtype().to_string())
            ));
        }
        html.push_str("</tr></thead><tbody>");
        for row in 0..shown {
            html.push_str("<tr>");
            for column in df.columns() {
                let value = column.get(row).map(|v| format_value(&v)).unwrap_or_default();
                let align = if column.dtype().is_primitive_numeric() { "right" } else { "left" };
                html.push_str(&format!(
                    "<td style=\"border-bottom:1px solid #ddd;padding:3px 8px;text-align:{align}\">{}</td>",
                    escape(&value)
                ));
            }
            html.push_str("</tr>");
        }
        if df.height() > shown {
            html.push_str(&format!(
                "<tr><td colspan=\"{}\" style=\"padding:3px 8px;color:#666\">… {} more rows</td></tr>",
                df.width().max(1),
                thousands(df.height() - shown)
            ));
        }
        html.push_str(&format!(
            "</tbody></table><div style=\"color:#666;font-size:11px;font-family:sans-serif\">{} rows × {} columns</div>",
            thousands(df.height()),
            df.width()
        ));
        html
    }

    /// The table as plain text, for terminals and logs.
    pub fn to_text(&self) -> String {
        let mut text = format!("{}", self.df.head(Some(self.rows)));
        if self.df.height() > self.rows {
            text.push_str(&format!("\n… {} more rows", thousands(self.df.height() - self.rows)));
        }
        text
    }

    /// Writes the HTML table to `path` (creating its folder).
    pub fn write_html(&self, path: impl AsRef<Path>) -> Result<()> {
        write_file(path.as_ref(), self.to_html().as_bytes())
    }
}

impl NotebookDisplay for Table {
    fn evcxr_display(&self) {
        emit("text/html", &self.to_html());
        emit("text/plain", &self.to_text());
    }
}

impl NotebookDisplay for DataFrame {
    fn evcxr_display(&self) {
        Table::new(self.clone(), DEFAULT_ROWS).evcxr_display();
    }
}

/// `df.show(20)`: a DataFrame as a [`Table`] with a row limit.
pub trait TableExt {
    /// Shows at most `rows` rows.
    fn show(&self, rows: usize) -> Table;
}

impl TableExt for DataFrame {
    fn show(&self, rows: usize) -> Table {
        Table::new(self.clone(), rows)
    }
}

pub(crate) fn format_value(v: &AnyValue) -> String {
    match v {
        AnyValue::Null => "null".into(),
        AnyValue::String(s) => s.to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        AnyValue::Float64(x) => format_float(*x),
        AnyValue::Float32(x) => format_float(*x as f64),
        other => other.to_string(),
    }
}

pub(super) fn format_float(x: f64) -> String {
    if x != 0.0 && (x.abs() >= 1e9 || x.abs() < 1e-3) {
        format!("{x:.3e}")
    } else {
        let s = format!("{x:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    }
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A line of text as HTML: escaped, with its Markdown code spans (`` `a.b` ``) as `<code>`.
/// An unpaired backtick stays as it is.
pub(crate) fn inline_html(s: &str) -> String {
    let mut out = String::new();
    let mut parts = s.split('`').peekable();
    let mut inside = false;
    while let Some(part) = parts.next() {
        if inside {
            if parts.peek().is_none() {
                out.push('`'); // the last span never closed
                out.push_str(&escape(part));
            } else {
                out.push_str(&format!("<code>{}</code>", escape(part)));
            }
        } else {
            out.push_str(&escape(part));
        }
        inside = !inside;
    }
    out
}

/// A title drawn into a figure: code spans lose their backticks (a picture has no monospace span).
pub(crate) fn plain_title(s: &str) -> String {
    s.replace('`', "")
}

