//! Showing results: DataFrames as HTML tables, figures as inline SVG + PNG.
//!
//! In a notebook, a cell that ends with a [`Table`], a [`Figure`] or a `DataFrame` shows it
//! (evcxr calls [`NotebookDisplay::evcxr_display`] on the cell's last expression). Outside
//! a notebook the same values write files: [`Table::to_html`], and every figure is written
//! as `<name>.png` and `<name>.svg` into `out/figures` when it is rendered (SVG for the web
//! and HTML slides, PNG for PDF export and slide decks that do not take SVG).

//!
//! The rooms: `table` (a DataFrame as an HTML table), `words` (numbers and comparisons in
//! sentences), `figure` (one drawing as SVG and PNG), [`charts`] (the charts the lessons draw);
//! this file holds what turns rows into frames and what evcxr calls to show a value.

use std::io::Write as _;

use polars::prelude::DataFrame;

use crate::error::{Error, Result};

mod figure;
mod profile;
mod table;
mod words;
pub mod charts;

pub use figure::{Draw, DrawResult, Figure, register_fonts};
pub use profile::{ColumnProfile, profile};
pub(crate) use figure::write_file;
pub use table::{Table, TableExt};
pub(crate) use table::{escape, format_value, inline_html, plain_title};
pub use words::{compact_number, faster_or_slower, higher_or_lower, ratio_words, thousands};

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

/// A column by name, found by comparing names rather than through the frame's cached schema:
/// in a notebook the frame may come from an earlier cell, whose copy of Polars hashed the
/// schema with other seeds (see `analytics::features::fresh`).
fn column_named<'a>(df: &'a DataFrame, name: &str) -> Result<&'a polars::prelude::Column> {
    df.columns().iter().find(|c| c.name().as_str() == name).ok_or_else(|| {
        let names: Vec<&str> = df.columns().iter().map(|c| c.name().as_str()).collect();
        Error::NotFound(format!("no column `{name}` (columns: {})", names.join(", ")))
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

    use super::table::format_float;
    use std::path::Path;
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

