//! Showing results: DataFrames as HTML tables, figures as inline SVG + PNG.
//!
//! In a notebook, a cell that ends with a [`Table`], a [`Figure`] or a `DataFrame` shows it
//! (evcxr calls [`NotebookDisplay::evcxr_display`] on the cell's last expression). Outside
//! a notebook the same values write files: [`Table::to_html`], and every figure is written
//! as `<name>.png` and `<name>.svg` into `out/figures` when it is rendered (SVG for the web
//! and HTML slides, PNG for PDF export and slide decks that do not take SVG).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Once;

use base64::Engine as _;
use plotters::coord::Shift;
use plotters::prelude::*;
use polars::prelude::{AnyValue, DataFrame};

use crate::config::Settings;
use crate::error::{Error, Result};

/// Typed rows (query results, records) that can become a DataFrame, one column per field.
///
/// Implemented with [`frame_row!`](crate::frame_row) for the row types of every module;
/// call it through [`ToFrame::to_frame`] on a slice or `Vec` of rows.
pub trait FrameRow: Sized {
    /// The rows as a DataFrame with one column per field, in field order.
    fn frame(rows: &[Self]) -> Result<DataFrame>;
}

/// `rows.to_frame()?`: a slice or `Vec` of typed rows as a Polars DataFrame.
pub trait ToFrame {
    /// Builds the DataFrame (column names are the field names).
    fn to_frame(&self) -> Result<DataFrame>;
}

impl<T: FrameRow> ToFrame for [T] {
    fn to_frame(&self) -> Result<DataFrame> {
        T::frame(self)
    }
}

impl<T: FrameRow> ToFrame for Vec<T> {
    fn to_frame(&self) -> Result<DataFrame> {
        T::frame(self)
    }
}

/// Implements [`FrameRow`] for a struct by listing the fields that become columns
/// (strings, numbers, booleans, dates and times, and `Option`s of those).
///
/// ```
/// use helpers::display::ToFrame;
/// #[derive(Clone)]
/// struct Row { name: String, n: i64 }
/// helpers::frame_row!(Row { name, n });
/// let df = vec![Row { name: "a".into(), n: 1 }].to_frame().unwrap();
/// assert_eq!(df.get_column_names(), ["name", "n"]);
/// ```
#[macro_export]
macro_rules! frame_row {
    ($ty:ty { $($field:ident),+ $(,)? }) => {
        impl $crate::display::FrameRow for $ty {
            fn frame(rows: &[Self]) -> $crate::Result<$crate::polars::prelude::DataFrame> {
                Ok($crate::polars::prelude::DataFrame::new_infer_height(vec![
                    $($crate::polars::prelude::Column::new(
                        stringify!($field).into(),
                        rows.iter().map(|r| r.$field.clone()).collect::<Vec<_>>(),
                    )),+
                ])?)
            }
        }
    };
}

/// Default number of rows a table shows.
pub const DEFAULT_ROWS: usize = 10;

/// Something a notebook cell can show. evcxr finds this method by ordinary method lookup,
/// so `use helpers::prelude::*;` is all a notebook needs.
pub trait NotebookDisplay {
    /// Prints the value as evcxr's rich-output blocks (HTML, images, plain text).
    fn evcxr_display(&self);
}

/// Plain values shown as evcxr shows them (`Debug`), in one compile instead of two: for a
/// cell's final expression evcxr first tries `(value).evcxr_display()` and, when the type has
/// no such method, compiles the cell again with a `Debug` print. With these impls in the
/// prelude the first try succeeds for the values lessons end cells with. (A blanket impl for
/// every `Debug` type would clash with the tables' and figures' own.)
macro_rules! debug_display {
    ($(<$($g:ident),*> $t:ty),* $(,)?) => {$(
        impl<$($g: std::fmt::Debug),*> NotebookDisplay for $t {
            fn evcxr_display(&self) {
                emit("text/plain", &format!("{self:?}"));
            }
        }
    )*};
}
debug_display!(
    <> i8, <> i16, <> i32, <> i64, <> i128, <> isize, <> u8, <> u16, <> u32, <> u64, <> u128, <> usize,
    <> f32, <> f64, <> bool, <> char, <> str, <> String, <> std::time::Duration,
    <T> Vec<T>, <T> Option<T>, <A, B> (A, B), <A, B, C> (A, B, C),
);

pub(crate) fn emit(mime: &str, content: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "EVCXR_BEGIN_CONTENT {mime}\n{content}\nEVCXR_END_CONTENT");
    let _ = out.flush();
}

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

fn format_value(v: &AnyValue) -> String {
    match v {
        AnyValue::Null => "null".into(),
        AnyValue::String(s) => s.to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        AnyValue::Float64(x) => format_float(*x),
        AnyValue::Float32(x) => format_float(*x as f64),
        other => other.to_string(),
    }
}

fn format_float(x: f64) -> String {
    if x != 0.0 && (x.abs() >= 1e9 || x.abs() < 1e-3) {
        format!("{x:.3e}")
    } else {
        let s = format!("{x:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    }
}

/// An axis label: `2k`, `50k`, `1.5M` for large values, up to three significant digits for
/// small ones (`0.25`, `12`), without a trailing `.0`.
pub fn compact_number(v: f64) -> String {
    let trim = |s: String| if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(format!("{:.1}", v / 1e6)))
    } else if a >= 1e4 || (a >= 1e3 && (v / 1e3).fract() == 0.0) {
        format!("{}k", trim(format!("{:.1}", v / 1e3)))
    } else if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else {
        let digits = (2 - a.log10().floor() as i32).max(0) as usize;
        trim(format!("{v:.digits$}"))
    }
}

/// How the time `this` compares with the time `other` (smaller is better), in words that hold
/// whichever way the run went: `3.2× faster`, `1.4× slower`, or `about as fast (within 10%)`.
/// The lessons' sentences print this instead of a fixed "faster" beside a ratio.
pub fn faster_or_slower(this: f64, other: f64) -> String {
    compare(other / this, "faster", "slower", "about as fast")
}

/// How the amount `this` compares with `other` (a rate, a count; larger is more): `3.2× higher`,
/// `1.4× lower`, or `about the same (within 10%)`.
pub fn higher_or_lower(this: f64, other: f64) -> String {
    compare(this / other, "higher", "lower", "about the same")
}

/// `this` against `other` in the words given: `ratio_words(30.0, 1.0, "longer", "shorter",
/// "about as long")` is `30× longer`; within 10% either way it is `about as long (within 10%)`.
pub fn ratio_words(this: f64, other: f64, more: &str, less: &str, same: &str) -> String {
    compare(this / other, more, less, same)
}

fn compare(ratio: f64, better: &str, worse: &str, same: &str) -> String {
    if !ratio.is_finite() || ratio <= 0.0 {
        return "not comparable in this run".to_string();
    }
    let digits = |r: f64| if r >= 10.0 { format!("{r:.0}") } else { format!("{r:.1}") };
    if (1.0 / 1.1..=1.1).contains(&ratio) {
        format!("{same} (within 10%)")
    } else if ratio > 1.0 {
        format!("{}× {better}", digits(ratio))
    } else {
        format!("{}× {worse}", digits(1.0 / ratio))
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
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

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    }
    std::fs::write(path, bytes).map_err(|e| Error::io("write", path, e))
}

/// A column by name, found by comparing names rather than through the frame's cached schema:
/// in a notebook the frame may come from an earlier cell, whose copy of Polars hashed the
/// schema with other seeds (see `analytics::features::fresh`).
fn column_named<'a>(df: &'a DataFrame, name: &str) -> Result<&'a polars::prelude::Column> {
    df.columns().iter().find(|c| c.name().as_str() == name).ok_or_else(|| {
        let names: Vec<&str> = df.columns().iter().map(|c| c.name().as_str()).collect();
        Error::InvalidInput(format!("no column `{name}` (columns: {})", names.join(", ")))
    })
}

/// Pairs of text as a two-column table, e.g. `("attempt", "what happened")` and one row per
/// attempt — for lessons that try several things and show what each did.
pub fn two_columns(names: (&str, &str), rows: &[(String, String)]) -> Result<DataFrame> {
    use polars::prelude::Column;
    Ok(DataFrame::new_infer_height(vec![
        Column::new(names.0.into(), rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>()),
        Column::new(names.1.into(), rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>()),
    ])?)
}

/// A column as `f64`s (numeric columns are cast; nulls are refused with the column's name).
pub fn column_f64(df: &DataFrame, name: &str) -> Result<Vec<f64>> {
    let column = column_named(df, name)?.cast(&polars::prelude::DataType::Float64)?;
    let floats = column.f64()?;
    let values: Option<Vec<f64>> = (0..floats.len()).map(|i| floats.get(i)).collect();
    values.ok_or_else(|| Error::InvalidInput(format!("column `{name}` has nulls")))
}

/// A column as text, whatever its type (`null` for missing values).
pub fn column_strings(df: &DataFrame, name: &str) -> Result<Vec<String>> {
    let column = column_named(df, name)?;
    Ok((0..column.len()).map(|i| column.get(i).map(|v| format_value(&v)).unwrap_or_default()).collect())
}

/// A rendered figure: the same drawing as SVG and as PNG, already written to disk.
#[derive(Clone, Debug)]
pub struct Figure {
    /// File stem, e.g. `users_by_country`.
    pub name: String,
    /// The SVG document.
    pub svg: String,
    /// The PNG file's bytes.
    pub png: Vec<u8>,
    /// Where the SVG was written.
    pub svg_path: PathBuf,
    /// Where the PNG was written.
    pub png_path: PathBuf,
}

/// Drawing code that works on any plotters backend, so one drawing gives both files.
pub trait Draw {
    /// Draws onto `area`.
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static;
}

/// What drawing code returns: plotters' errors convert into it with `?`.
pub type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

static FONTS: Once = Once::new();

/// Registers the embedded fonts (Ubuntu Light as sans-serif and serif, Hack as monospace)
/// with plotters, so text renders the same on every machine without fontconfig.
pub fn register_fonts() {
    FONTS.call_once(|| {
        use plotters::style::{FontStyle, register_font};
        for style in [FontStyle::Normal, FontStyle::Bold, FontStyle::Italic, FontStyle::Oblique] {
            let _ = register_font("sans-serif", style, epaint_default_fonts::UBUNTU_LIGHT);
            let _ = register_font("serif", style, epaint_default_fonts::UBUNTU_LIGHT);
            let _ = register_font("monospace", style, epaint_default_fonts::HACK_REGULAR);
        }
    });
}

impl Figure {
    /// Default size in pixels: 900 × 540 (5:3, fits a slide with a title).
    pub const SIZE: (u32, u32) = (900, 540);

    /// Draws `drawing` twice (SVG and PNG), writes `<name>.svg` and `<name>.png` into the
    /// figures folder (`M8_OUT_DIR/figures`, by default `out/figures`) and returns both.
    pub fn render(name: &str, size: (u32, u32), drawing: &impl Draw) -> Result<Figure> {
        let dir = Settings::from_env().map(|s| s.figures_dir()).unwrap_or_else(|_| Settings::default().figures_dir());
        Self::render_into(&dir, name, size, drawing)
    }

    /// [`Figure::render`] into a given folder.
    pub fn render_into(dir: &Path, name: &str, size: (u32, u32), drawing: &impl Draw) -> Result<Figure> {
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(Error::InvalidInput(format!("figure name `{name}` must be a plain file stem")));
        }
        register_fonts();
        let plot_err = |reason: String| Error::Plot { name: name.to_string(), reason };
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
            drawing.draw(&root).map_err(|e| plot_err(e.to_string()))?;
            root.present().map_err(|e| plot_err(e.to_string()))?;
        }
        let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
            drawing.draw(&root).map_err(|e| plot_err(e.to_string()))?;
            root.present().map_err(|e| plot_err(e.to_string()))?;
        }
        let png = encode_png(&rgb, size).map_err(|e| plot_err(format!("PNG encoding failed: {e}")))?;
        let svg_path = dir.join(format!("{name}.svg"));
        let png_path = dir.join(format!("{name}.png"));
        write_file(&svg_path, svg.as_bytes())?;
        write_file(&png_path, &png)?;
        Ok(Figure { name: name.to_string(), svg, png, svg_path, png_path })
    }
}

fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> std::result::Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(rgb)?;
    }
    Ok(out)
}

impl NotebookDisplay for Figure {
    fn evcxr_display(&self) {
        // Both in one bundle: front-ends pick SVG for the page, PNG for PDF export.
        emit("image/png", &base64::engine::general_purpose::STANDARD.encode(&self.png));
        emit("image/svg+xml", &self.svg);
    }
}

/// Ready-made charts for slides: bar, lines (linear or log scale), scatter, histogram.
pub mod charts {
    use super::*;

    /// Colours in series order (colour-blind-safe, from the Okabe–Ito palette).
    pub const PALETTE: [RGBColor; 7] = [
        RGBColor(0, 114, 178),
        RGBColor(230, 159, 0),
        RGBColor(0, 158, 115),
        RGBColor(204, 121, 167),
        RGBColor(86, 180, 233),
        RGBColor(213, 94, 0),
        RGBColor(240, 228, 66),
    ];

    /// The layout every chart shares: white background, title, margins, room for axis labels.
    fn frame<'a, 'b, DB: DrawingBackend>(
        area: &'a DrawingArea<DB, Shift>,
        title: &str,
        x_labels: u32,
        y_labels: u32,
    ) -> std::result::Result<ChartBuilder<'a, 'b, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
        area.fill(&WHITE)?;
        let mut builder = ChartBuilder::on(area);
        builder.caption(super::plain_title(title), ("sans-serif", 26)).margin(16).x_label_area_size(x_labels).y_label_area_size(y_labels);
        Ok(builder)
    }

    /// A vertical bar chart of labelled values.
    #[derive(Clone, Debug, Default)]
    pub struct Bar {
        /// Title above the chart.
        pub title: String,
        /// One label per bar.
        pub labels: Vec<String>,
        /// One value per bar.
        pub values: Vec<f64>,
        /// Axis descriptions: (x, y).
        pub axes: (String, String),
        /// Logarithmic y axis, for values spanning orders of magnitude (all must be positive).
        pub log_y: bool,
    }

    impl Bar {
        /// A bar chart titled `title`.
        pub fn new(title: impl Into<String>, labels: Vec<String>, values: Vec<f64>) -> Self {
            Bar { title: title.into(), labels, values, axes: Default::default(), log_y: false }
        }
        /// Uses a logarithmic y axis.
        pub fn log_y(mut self) -> Self {
            self.log_y = true;
            self
        }
        /// Bars from two columns of a DataFrame: labels from `label_column` (any type, shown
        /// as text), heights from `value_column` (any numeric type).
        pub fn from_frame(title: impl Into<String>, df: &DataFrame, label_column: &str, value_column: &str) -> Result<Self> {
            let labels = column_strings(df, label_column)?;
            let values = column_f64(df, value_column)?;
            Ok(Bar::new(title, labels, values).axes(label_column, value_column))
        }
        /// Sets the axis descriptions.
        pub fn axes(mut self, x: impl Into<String>, y: impl Into<String>) -> Self {
            self.axes = (x.into(), y.into());
            self
        }
        /// Renders it as `name` (SVG + PNG in the figures folder).
        pub fn render(&self, name: &str) -> Result<Figure> {
            if self.labels.len() != self.values.len() {
                return Err(Error::InvalidInput(format!(
                    "bar chart {name}: {} labels but {} values",
                    self.labels.len(),
                    self.values.len()
                )));
            }
            if self.log_y && self.values.iter().any(|v| *v <= 0.0 || !v.is_finite()) {
                return Err(Error::InvalidInput(format!("bar chart {name}: a log scale needs positive values")));
            }
            Figure::render(name, Figure::SIZE, self)
        }
    }

    impl Draw for Bar {
        fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
        where
            DB::ErrorType: 'static,
        {
            let top = self.values.iter().cloned().fold(0.0_f64, f64::max).max(1e-9) * 1.1;
            let n = self.values.len().max(1);
            let labels = self.labels.clone();
            // Long label lists (24 months, say) show every k-th label so they do not overlap.
            let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(1).max(1);
            let fit = (80 / longest).clamp(1, 30);
            let every = n.div_ceil(fit).max(1);
            let mut builder = frame(area, &self.title, 60, 70)?;
            macro_rules! finish {
                ($chart:expr, $floor:expr) => {{
                    let mut chart = $chart;
                    chart
                        .configure_mesh()
                        .disable_x_mesh()
                        .x_labels(n)
                        .x_label_formatter(&|v| match v {
                            SegmentValue::CenterOf(i) if i % every == 0 => labels.get(*i).cloned().unwrap_or_default(),
                            _ => String::new(),
                        })
                        .y_label_formatter(&|v| format_float(*v))
                        .x_desc(&self.axes.0)
                        .y_desc(&self.axes.1)
                        .label_style(("sans-serif", 15))
                        .axis_desc_style(("sans-serif", 17))
                        .draw()?;
                    chart.draw_series(self.values.iter().enumerate().map(|(i, v)| {
                        let mut bar = Rectangle::new(
                            [(SegmentValue::Exact(i), $floor), (SegmentValue::Exact(i + 1), *v)],
                            PALETTE[0].filled(),
                        );
                        bar.set_margin(0, 0, 6, 6);
                        bar
                    }))?;
                }};
            }
            // `0..n - 1` segmented gives exactly n slots (the range's end is a slot too).
            if self.log_y {
                let low = self.values.iter().cloned().filter(|v| *v > 0.0).fold(f64::MAX, f64::min).min(top) * 0.5;
                finish!(builder.build_cartesian_2d((0..n - 1).into_segmented(), (low..top * 2.0).log_scale())?, low);
            } else {
                finish!(builder.build_cartesian_2d((0..n - 1).into_segmented(), 0.0..top)?, 0.0);
            }
            Ok(())
        }
    }

    /// One or more lines over a numeric x axis, optionally with a logarithmic y axis.
    #[derive(Clone, Debug, Default)]
    pub struct Lines {
        /// Title above the chart.
        pub title: String,
        /// (legend label, points) per line.
        pub series: Vec<(String, Vec<(f64, f64)>)>,
        /// Axis descriptions: (x, y).
        pub axes: (String, String),
        /// Logarithmic y axis (values must be positive).
        pub log_y: bool,
        /// Logarithmic x axis (values must be positive).
        pub log_x: bool,
    }

    impl Lines {
        /// An empty line chart titled `title`.
        pub fn new(title: impl Into<String>) -> Self {
            Lines { title: title.into(), ..Default::default() }
        }
        /// Adds a line.
        pub fn series(mut self, label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
            self.series.push((label.into(), points));
            self
        }
        /// Sets the axis descriptions.
        pub fn axes(mut self, x: impl Into<String>, y: impl Into<String>) -> Self {
            self.axes = (x.into(), y.into());
            self
        }
        /// Uses a logarithmic y axis.
        pub fn log_y(mut self) -> Self {
            self.log_y = true;
            self
        }
        /// Uses a logarithmic x axis (for sizes like 10, 100, 1,000).
        pub fn log_x(mut self) -> Self {
            self.log_x = true;
            self
        }
        /// Renders it as `name` (SVG + PNG in the figures folder).
        pub fn render(&self, name: &str) -> Result<Figure> {
            if self.series.iter().all(|(_, p)| p.is_empty()) {
                return Err(Error::InvalidInput(format!("line chart {name} has no points")));
            }
            if self.log_y && self.series.iter().flat_map(|(_, p)| p).any(|(_, y)| *y <= 0.0) {
                return Err(Error::InvalidInput(format!("line chart {name}: a log scale needs positive values")));
            }
            if self.log_x && self.series.iter().flat_map(|(_, p)| p).any(|(x, _)| *x <= 0.0) {
                return Err(Error::InvalidInput(format!("line chart {name}: a log x axis needs positive values")));
            }
            Figure::render(name, Figure::SIZE, self)
        }

        fn bounds(&self) -> ((f64, f64), (f64, f64)) {
            let pts = self.series.iter().flat_map(|(_, p)| p.iter());
            let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
            for (x, y) in pts {
                x0 = x0.min(*x);
                x1 = x1.max(*x);
                y0 = y0.min(*y);
                y1 = y1.max(*y);
            }
            if x1 <= x0 {
                x1 = x0 + 1.0;
            }
            if y1 <= y0 {
                y1 = y0 + 1.0;
            }
            ((x0, x1), (y0, y1))
        }
    }

    impl Draw for Lines {
        fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
        where
            DB::ErrorType: 'static,
        {
            let ((x0, x1), (y0, y1)) = self.bounds();
            let mut builder = frame(area, &self.title, 50, 80)?;
            macro_rules! finish {
                ($chart:expr) => {{
                    let mut chart = $chart;
                    chart
                        .configure_mesh()
                        .x_desc(&self.axes.0)
                        .y_desc(&self.axes.1)
                        .x_labels(8)
                        .x_label_formatter(&|v| compact_number(*v))
                        .y_label_formatter(&|v| compact_number(*v))
                        .label_style(("sans-serif", 15))
                        .axis_desc_style(("sans-serif", 17))
                        .draw()?;
                    for (i, (label, points)) in self.series.iter().enumerate() {
                        let color = PALETTE[i % PALETTE.len()];
                        chart
                            .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(3)))?
                            .label(label.as_str())
                            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3)));
                        chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
                    }
                    if self.series.len() > 1 || self.series.iter().any(|(l, _)| !l.is_empty()) {
                        chart
                            .configure_series_labels()
                            .background_style(WHITE.mix(0.85))
                            .border_style(BLACK.mix(0.3))
                            .label_font(("sans-serif", 15))
                            .position(SeriesLabelPosition::UpperLeft)
                            .draw()?;
                    }
                }};
            }
            let pad = (y1 - y0) * 0.08;
            match (self.log_x, self.log_y) {
                (false, false) => finish!(builder.build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad))?),
                (false, true) => finish!(builder.build_cartesian_2d(x0..x1, (y0 * 0.8..y1 * 1.25).log_scale())?),
                (true, false) => finish!(builder.build_cartesian_2d((x0 * 0.8..x1 * 1.25).log_scale(), (y0 - pad)..(y1 + pad))?),
                (true, true) => finish!(builder.build_cartesian_2d((x0 * 0.8..x1 * 1.25).log_scale(), (y0 * 0.8..y1 * 1.25).log_scale())?),
            }
            Ok(())
        }
    }

    /// Points in groups (one colour per group), e.g. events on a longitude/latitude plane.
    #[derive(Clone, Debug, Default)]
    pub struct Scatter {
        /// Title above the chart.
        pub title: String,
        /// (legend label, points) per group.
        pub groups: Vec<(String, Vec<(f64, f64)>)>,
        /// Axis descriptions: (x, y).
        pub axes: (String, String),
        /// Fixed axis ranges ((x0, x1), (y0, y1)); fitted to the data when `None`.
        pub ranges: Option<((f64, f64), (f64, f64))>,
    }

    impl Scatter {
        /// An empty scatter plot titled `title`.
        pub fn new(title: impl Into<String>) -> Self {
            Scatter { title: title.into(), ..Default::default() }
        }
        /// Adds a group of points.
        pub fn group(mut self, label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
            self.groups.push((label.into(), points));
            self
        }
        /// Sets the axis descriptions.
        pub fn axes(mut self, x: impl Into<String>, y: impl Into<String>) -> Self {
            self.axes = (x.into(), y.into());
            self
        }
        /// Fixes the axis ranges.
        pub fn ranges(mut self, x: (f64, f64), y: (f64, f64)) -> Self {
            self.ranges = Some((x, y));
            self
        }
        /// Renders it as `name` (SVG + PNG in the figures folder).
        pub fn render(&self, name: &str) -> Result<Figure> {
            if self.groups.iter().all(|(_, p)| p.is_empty()) {
                return Err(Error::InvalidInput(format!("scatter plot {name} has no points")));
            }
            Figure::render(name, Figure::SIZE, self)
        }
    }

    impl Draw for Scatter {
        fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
        where
            DB::ErrorType: 'static,
        {
            let ((x0, x1), (y0, y1)) = self.ranges.unwrap_or_else(|| {
                Lines { series: self.groups.clone(), ..Default::default() }.bounds()
            });
            let mut chart = frame(area, &self.title, 50, 70)?.build_cartesian_2d(x0..x1, y0..y1)?;
            chart
                .configure_mesh()
                .x_desc(&self.axes.0)
                .y_desc(&self.axes.1)
                .label_style(("sans-serif", 15))
                .axis_desc_style(("sans-serif", 17))
                .draw()?;
            for (i, (label, points)) in self.groups.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                chart
                    .draw_series(points.iter().map(|p| Circle::new(*p, 3, color.mix(0.6).filled())))?
                    .label(label.as_str())
                    .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.filled()));
            }
            if self.groups.len() > 1 {
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK.mix(0.3))
                    .label_font(("sans-serif", 15))
                    .position(SeriesLabelPosition::LowerLeft)
                    .draw()?;
            }
            Ok(())
        }
    }

    /// Boxes and arrows on a grid: a system's architecture for a slide. Boxes sit at grid
    /// cells (`(column, row)`, fractions allowed), coloured by group; arrows join two boxes'
    /// edges and carry a label (say, how many messages took them in this run).
    #[derive(Clone, Debug, Default)]
    pub struct Diagram {
        /// Title above the drawing.
        pub title: String,
        /// Columns and rows of the grid.
        pub grid: (f64, f64),
        /// The boxes: id, label (`\n` breaks lines), cell, colour group.
        pub nodes: Vec<(String, String, (f64, f64), usize)>,
        /// The arrows: from id, to id, label, where the label sits along the arrow (0–1).
        pub edges: Vec<(String, String, String, f64)>,
    }

    impl Diagram {
        /// An empty diagram on a `columns` × `rows` grid.
        pub fn new(title: impl Into<String>, columns: f64, rows: f64) -> Self {
            Diagram { title: title.into(), grid: (columns, rows), ..Default::default() }
        }
        /// Adds a box.
        pub fn node(mut self, id: &str, label: impl Into<String>, at: (f64, f64), group: usize) -> Self {
            self.nodes.push((id.to_string(), label.into(), at, group));
            self
        }
        /// Adds an arrow between two boxes, its label half-way.
        pub fn edge(self, from: &str, to: &str, label: impl Into<String>) -> Self {
            self.edge_at(from, to, label, 0.5)
        }
        /// Adds an arrow with its label at fraction `at` of the way (away from a crossing).
        pub fn edge_at(mut self, from: &str, to: &str, label: impl Into<String>, at: f64) -> Self {
            self.edges.push((from.to_string(), to.to_string(), label.into(), at.clamp(0.0, 1.0)));
            self
        }
        /// Renders it as `name` (SVG + PNG in the figures folder, 1400 × 800). An arrow that
        /// names a box that does not exist is refused.
        pub fn render(&self, name: &str) -> Result<Figure> {
            for (from, to, _, _) in &self.edges {
                for id in [from, to] {
                    if !self.nodes.iter().any(|n| &n.0 == id) {
                        return Err(Error::InvalidInput(format!("diagram {name}: an arrow names box `{id}`, which is not in it")));
                    }
                }
            }
            Figure::render(name, (1400, 800), self)
        }
    }

    /// Where the segment from the centre of a `w` × `h` box at `c` towards `to` leaves the box.
    fn box_exit(c: (f64, f64), (w, h): (f64, f64), to: (f64, f64)) -> (f64, f64) {
        let (dx, dy) = (to.0 - c.0, to.1 - c.1);
        let tx = if dx.abs() > 1e-9 { (w / 2.0) / dx.abs() } else { f64::INFINITY };
        let ty = if dy.abs() > 1e-9 { (h / 2.0) / dy.abs() } else { f64::INFINITY };
        let t = tx.min(ty).min(1.0);
        (c.0 + dx * t, c.1 + dy * t)
    }

    impl Draw for Diagram {
        fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
        where
            DB::ErrorType: 'static,
        {
            area.fill(&WHITE)?;
            let (w, h) = area.dim_in_pixel();
            let title = ("sans-serif", 26).into_font().color(&BLACK).pos(plotters::style::text_anchor::Pos::new(plotters::style::text_anchor::HPos::Center, plotters::style::text_anchor::VPos::Top));
            area.draw(&Text::new(self.title.as_str(), (w as i32 / 2, 10), title))?;
            let top = 50.0;
            let cell = ((w as f64 - 20.0) / self.grid.0, (h as f64 - top - 10.0) / self.grid.1);
            let size = (cell.0 * 0.66, cell.1 * 0.62);
            let centre = |at: (f64, f64)| (10.0 + (at.0 + 0.5) * cell.0, top + (at.1 + 0.5) * cell.1);
            let find = |id: &str| self.nodes.iter().find(|n| n.0 == id).map(|n| centre(n.2));
            let px = |p: (f64, f64)| (p.0.round() as i32, p.1.round() as i32);
            let label_style = |size: u32| ("sans-serif", size).into_font().color(&BLACK).pos(plotters::style::text_anchor::Pos::new(plotters::style::text_anchor::HPos::Center, plotters::style::text_anchor::VPos::Center));
            let ink = BLACK.mix(0.65);
            for (from, to, label, at) in &self.edges {
                let (Some(a), Some(b)) = (find(from), find(to)) else { continue };
                let (start, end) = (box_exit(a, size, b), box_exit(b, size, a));
                area.draw(&PathElement::new(vec![px(start), px(end)], ink.stroke_width(2)))?;
                let (dx, dy) = (end.0 - start.0, end.1 - start.1);
                let len = (dx * dx + dy * dy).sqrt().max(1e-9);
                let (ux, uy) = (dx / len, dy / len);
                let back = (end.0 - ux * 12.0, end.1 - uy * 12.0);
                let head = vec![px(end), px((back.0 - uy * 6.0, back.1 + ux * 6.0)), px((back.0 + uy * 6.0, back.1 - ux * 6.0))];
                area.draw(&Polygon::new(head, ink.filled()))?;
                if !label.is_empty() {
                    let mid = (start.0 + (end.0 - start.0) * at, start.1 + (end.1 - start.1) * at);
                    let half = (label.chars().count() as f64 * 3.4 + 4.0, 9.0);
                    area.draw(&Rectangle::new([px((mid.0 - half.0, mid.1 - half.1)), px((mid.0 + half.0, mid.1 + half.1))], WHITE.filled()))?;
                    area.draw(&Text::new(label.as_str(), px(mid), label_style(13)))?;
                }
            }
            for (_, label, at, group) in &self.nodes {
                let c = centre(*at);
                let colour = PALETTE[group % PALETTE.len()];
                let corners = [px((c.0 - size.0 / 2.0, c.1 - size.1 / 2.0)), px((c.0 + size.0 / 2.0, c.1 + size.1 / 2.0))];
                area.draw(&Rectangle::new(corners, colour.mix(0.18).filled()))?;
                area.draw(&Rectangle::new(corners, colour.stroke_width(2)))?;
                let lines: Vec<&str> = label.lines().collect();
                for (i, line) in lines.iter().enumerate() {
                    let y = c.1 + (i as f64 - (lines.len() as f64 - 1.0) / 2.0) * 18.0;
                    area.draw(&Text::new(*line, px((c.0, y)), label_style(if i == 0 { 16 } else { 13 })))?;
                }
            }
            Ok(())
        }
    }

    /// A histogram of values in equal-width bins.
    #[derive(Clone, Debug, Default)]
    pub struct Histogram {
        /// Title above the chart.
        pub title: String,
        /// The values.
        pub values: Vec<f64>,
        /// Number of bins. Default 30.
        pub bins: usize,
        /// Axis descriptions: (x, y).
        pub axes: (String, String),
    }

    impl Histogram {
        /// A histogram of `values` in 30 bins.
        pub fn new(title: impl Into<String>, values: Vec<f64>) -> Self {
            Histogram { title: title.into(), values, bins: 30, axes: Default::default() }
        }
        /// Sets the number of bins.
        pub fn bins(mut self, bins: usize) -> Self {
            self.bins = bins.max(1);
            self
        }
        /// Sets the axis descriptions.
        pub fn axes(mut self, x: impl Into<String>, y: impl Into<String>) -> Self {
            self.axes = (x.into(), y.into());
            self
        }
        /// Bin edges and counts: `(lower edge, upper edge, count)` per bin.
        pub fn counts(&self) -> Vec<(f64, f64, usize)> {
            let finite: Vec<f64> = self.values.iter().copied().filter(|v| v.is_finite()).collect();
            if finite.is_empty() {
                return Vec::new();
            }
            let lo = finite.iter().cloned().fold(f64::MAX, f64::min);
            let hi = finite.iter().cloned().fold(f64::MIN, f64::max);
            let width = if hi > lo { (hi - lo) / self.bins as f64 } else { 1.0 };
            let mut counts = vec![0usize; self.bins];
            for v in finite {
                let i = (((v - lo) / width) as usize).min(self.bins - 1);
                counts[i] += 1;
            }
            counts.into_iter().enumerate().map(|(i, c)| (lo + i as f64 * width, lo + (i + 1) as f64 * width, c)).collect()
        }
        /// Renders it as `name` (SVG + PNG in the figures folder).
        pub fn render(&self, name: &str) -> Result<Figure> {
            if self.counts().is_empty() {
                return Err(Error::InvalidInput(format!("histogram {name} has no finite values")));
            }
            Figure::render(name, Figure::SIZE, self)
        }
    }

    impl Draw for Histogram {
        fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
        where
            DB::ErrorType: 'static,
        {
            let counts = self.counts();
            let (lo, hi) = (counts.first().map_or(0.0, |c| c.0), counts.last().map_or(1.0, |c| c.1));
            let top = counts.iter().map(|c| c.2).max().unwrap_or(1) as f64 * 1.1;
            let mut chart = frame(area, &self.title, 50, 70)?.build_cartesian_2d(lo..hi, 0.0..top)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .y_label_formatter(&|v| format_float(*v))
                .x_label_formatter(&|v| format_float(*v))
                .x_desc(&self.axes.0)
                .y_desc(&self.axes.1)
                .label_style(("sans-serif", 15))
                .axis_desc_style(("sans-serif", 17))
                .draw()?;
            chart.draw_series(counts.iter().map(|(a, b, c)| {
                Rectangle::new([(*a, 0.0), (*b, *c as f64)], PALETTE[0].mix(0.85).filled())
            }))?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn comparisons_say_the_outcome_the_numbers_show() {
        assert_eq!(super::faster_or_slower(1.0, 3.2), "3.2× faster");
        assert_eq!(super::faster_or_slower(0.5, 0.365), "1.4× slower");
        assert_eq!(super::faster_or_slower(2.0, 2.1), "about as fast (within 10%)");
        assert_eq!(super::faster_or_slower(1.0, 298.0), "298× faster");
        assert_eq!(super::higher_or_lower(3000.0, 1000.0), "3.0× higher");
        assert_eq!(super::higher_or_lower(800.0, 1000.0), "1.2× lower");
        assert_eq!(super::faster_or_slower(0.0, 1.0), "not comparable in this run");
        assert_eq!(super::ratio_words(30.0, 1.0, "longer", "shorter", "about as long"), "30× longer");
        assert_eq!(super::ratio_words(1.0, 4.0, "longer", "shorter", "about as long"), "4.0× shorter");
    }

    use super::*;
    use polars::prelude::*;

    #[test]
    fn axis_labels_are_short() {
        let labels: Vec<String> = [2_000.0, 10_000.0, 50_000.0, 1_500_000.0, 1_000.0, 1_500.0, 250.0, 12.0, 0.25, 0.1, 0.0125, 0.0, -3.5].iter().map(|v| compact_number(*v)).collect();
        assert_eq!(labels, ["2k", "10k", "50k", "1.5M", "1k", "1500", "250", "12", "0.25", "0.1", "0.0125", "0", "-3.5"]);
    }

    #[test]
    fn code_spans_become_code_elements_and_everything_else_is_escaped() {
        assert_eq!(inline_html("use `db.query(…)` on <users>"), "use <code>db.query(…)</code> on &lt;users&gt;");
        assert_eq!(inline_html("`a<b>` and `c`"), "<code>a&lt;b&gt;</code> and <code>c</code>");
        assert_eq!(inline_html("one ` alone"), "one ` alone");
        assert_eq!(plain_title("Hit rate of `get_or_compute`"), "Hit rate of get_or_compute");
    }

    fn frame(n: i64) -> DataFrame {
        df!("id" => (0..n).collect::<Vec<_>>(), "name" => (0..n).map(|i| format!("<b>{i}</b>")).collect::<Vec<_>>())
            .unwrap()
    }

    #[test]
    fn the_html_table_shows_dtypes_the_limit_and_what_is_left_out() {
        let html = frame(25).show(10).to_html();
        assert!(html.contains(">id<br>"), "{html}");
        assert!(html.contains("i64"));
        assert!(html.contains("str"));
        assert_eq!(html.matches("<tr>").count(), 1 + 10 + 1, "header + 10 rows + the 'more' row");
        assert!(html.contains("… 15 more rows"));
        assert!(html.contains("25 rows × 2 columns"));
    }

    #[test]
    fn cell_values_are_escaped() {
        let html = frame(1).show(5).to_html();
        assert!(html.contains("&lt;b&gt;0&lt;/b&gt;"));
        assert!(!html.contains("<b>0</b>"));
    }

    #[test]
    fn a_short_table_has_no_more_rows_line() {
        assert!(!frame(3).show(10).to_html().contains("more rows"));
    }

    #[test]
    fn numbers_are_shown_readably() {
        assert_eq!(format_float(2.5), "2.5");
        assert_eq!(format_float(3.0), "3");
        assert_eq!(format_float(0.0001234), "1.234e-4");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }

    #[test]
    fn a_chart_is_written_as_png_and_svg() {
        let dir = std::env::temp_dir().join(format!("helpers-fig-{}", std::process::id()));
        let bar = charts::Bar::new("Test", vec!["a".into(), "b".into()], vec![1.0, 3.0]).axes("x", "y");
        let fig = Figure::render_into(&dir, "bar_test", Figure::SIZE, &bar).unwrap();
        assert!(fig.png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(fig.svg.contains("<svg") && fig.svg.contains("Test"));
        assert_eq!(std::fs::read(&fig.png_path).unwrap(), fig.png);
        assert!(std::fs::read_to_string(&fig.svg_path).unwrap().contains("<svg"));
        // the PNG is not blank: text and bars drew dark pixels
        assert!(fig.png.len() > 5_000, "png is only {} bytes", fig.png.len());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_bar_chart_takes_its_bars_from_a_frame() {
        let df = df!("country" => ["DE", "FR"], "users" => [3u32, 5]).unwrap();
        let bar = charts::Bar::from_frame("t", &df, "country", "users").unwrap();
        assert_eq!(bar.labels, vec!["DE", "FR"]);
        assert_eq!(bar.values, vec![3.0, 5.0]);
        assert!(charts::Bar::from_frame("t", &df, "nope", "users").unwrap_err().to_string().contains("nope"));
    }

    #[test]
    fn a_bar_chart_with_mismatched_data_is_refused() {
        let err = charts::Bar::new("x", vec!["a".into()], vec![]).render("bad").unwrap_err();
        assert!(err.to_string().contains("1 labels but 0 values"), "{err}");
    }

    #[test]
    fn a_log_bar_chart_refuses_zero_and_draws_values_across_magnitudes() {
        let err = charts::Bar::new("t", vec!["a".into()], vec![0.0]).log_y().render("bad").unwrap_err();
        assert!(err.to_string().contains("positive"), "{err}");
        let bar = charts::Bar::new("t", vec!["fast".into(), "slow".into()], vec![0.05, 500.0]).log_y();
        let fig = Figure::render_into(&std::env::temp_dir().join("helpers-log-bar"), "logbar", Figure::SIZE, &bar).unwrap();
        assert!(fig.svg.contains("fast") && fig.svg.contains("slow"));
    }

    #[test]
    fn a_log_scale_refuses_zero() {
        let err = charts::Lines::new("t").series("s", vec![(1.0, 0.0)]).log_y().render("bad").unwrap_err();
        assert!(err.to_string().contains("positive"), "{err}");
    }

    #[test]
    fn a_log_x_axis_refuses_zero_and_draws_positive_sizes() {
        let err = charts::Lines::new("t").series("s", vec![(0.0, 1.0)]).log_x().render("bad").unwrap_err();
        assert!(err.to_string().contains("log x axis"), "{err}");
        let dir = std::env::temp_dir().join("helpers-log-x");
        let chart = charts::Lines::new("t").series("s", vec![(10.0, 1.0), (100.0, 10.0), (1000.0, 100.0)]).log_x().log_y();
        let fig = Figure::render_into(&dir, "loglog", Figure::SIZE, &chart).unwrap();
        let labels: Vec<&str> = fig.svg.lines().map(str::trim).filter(|l| !l.starts_with('<')).collect();
        assert!(labels.contains(&"1k"), "the x axis labels reach 1000, written short: {labels:?}");
        assert!(!labels.iter().any(|l| l.ends_with(".0")), "no long labels that run into each other: {labels:?}");
    }

    #[test]
    fn a_diagram_draws_its_boxes_and_labels_and_refuses_an_unknown_box() {
        let d = charts::Diagram::new("Flow", 3.0, 1.0).node("a", "API\nPostgreSQL", (0.0, 0.0), 0).node("b", "Queue", (2.0, 0.0), 1).edge("a", "b", "200 messages");
        let fig = Figure::render_into(&std::env::temp_dir().join("helpers-diagram"), "diagram", (1400, 800), &d).unwrap();
        for text in ["Flow", "API", "PostgreSQL", "Queue", "200 messages"] {
            assert!(fig.svg.contains(text), "{text} is drawn");
        }
        let err = d.edge("a", "nowhere", "").render("bad").unwrap_err();
        assert!(err.to_string().contains("`nowhere`"), "{err}");
    }

    #[test]
    fn histogram_counts_every_value_once() {
        let h = charts::Histogram::new("h", vec![0.0, 1.0, 2.0, 3.0, 10.0, f64::NAN]).bins(5);
        let counts = h.counts();
        assert_eq!(counts.len(), 5);
        assert_eq!(counts.iter().map(|c| c.2).sum::<usize>(), 5);
        assert_eq!(counts[4].2, 1);
    }

    #[test]
    fn a_figure_name_with_a_path_is_refused() {
        let err = Figure::render_into(Path::new("/tmp"), "../x", Figure::SIZE, &charts::Bar::default()).unwrap_err();
        assert!(err.to_string().contains("plain file stem"));
    }
}
