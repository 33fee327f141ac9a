//! Exercises with a check: a learner's answer is compared with the helpers' own answer, and
//! the check says **right** or **what differs** — the shape, the number of rows, which column
//! holds a wrong value — never the answer itself.
//!
//! Each notebook ends with a few exercises. The learner writes the concept in the cell (a SQL
//! query, an aggregation pipeline, a handler, a formula) and calls the module's check, e.g.
//! [`sql::SyncDb::check_exercise`](crate::sql::SyncDb::check_exercise); the checks all end in
//! [`compare_frames`] or [`compare_number`] and return a [`Verdict`], shown as one line.

use std::collections::HashMap;
use std::fmt;

use polars::prelude::{AnyValue, DataFrame};

use crate::display::{NotebookDisplay, emit};

/// Relative tolerance for numbers (floating-point sums differ in their last digits between
/// databases and summation orders).
pub const REL_TOLERANCE: f64 = 1e-6;

/// The result of a check: right, or not yet with a hint that does not give the answer away.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// Which exercise, e.g. `01.1`.
    pub exercise: String,
    /// Whether the answer matches.
    pub correct: bool,
    /// What matched, or what differs.
    pub feedback: String,
}

impl Verdict {
    /// A right answer.
    pub fn right(exercise: &str, feedback: impl Into<String>) -> Verdict {
        Verdict { exercise: exercise.to_string(), correct: true, feedback: feedback.into() }
    }

    /// An answer that does not match yet.
    pub fn not_yet(exercise: &str, feedback: impl Into<String>) -> Verdict {
        Verdict { exercise: exercise.to_string(), correct: false, feedback: feedback.into() }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.correct { "✅ right" } else { "❌ not yet" };
        write!(f, "Exercise {} — {mark}: {}", self.exercise, self.feedback)
    }
}

impl NotebookDisplay for Verdict {
    fn evcxr_display(&self) {
        let (mark, colour) = if self.correct { ("✅ right", "#1a7f37") } else { ("❌ not yet", "#b35900") };
        emit(
            "text/html",
            &format!(
                "<p><b>Exercise {}</b> — <b style=\"color:{colour}\">{mark}</b>: {}</p>",
                crate::display::inline_html(&self.exercise),
                crate::display::inline_html(&self.feedback)
            ),
        );
        emit("text/plain", &self.to_string());
    }
}

/// One cell, normalised for comparing: numbers (any width, integer or float) as `f64`,
/// everything else as its text.
#[derive(Clone, Debug)]
enum Cell {
    Null,
    Number(f64),
    Text(String),
}

impl Cell {
    fn of(v: &AnyValue) -> Cell {
        match v {
            AnyValue::Null => Cell::Null,
            AnyValue::Boolean(b) => Cell::Number(if *b { 1.0 } else { 0.0 }),
            AnyValue::String(s) => Cell::Text(s.to_string()),
            AnyValue::StringOwned(s) => Cell::Text(s.to_string()),
            other => match other.extract::<f64>() {
                Some(x) if other.is_primitive_numeric() => Cell::Number(x),
                _ => Cell::Text(other.to_string()),
            },
        }
    }

    fn matches(&self, other: &Cell) -> bool {
        match (self, other) {
            (Cell::Null, Cell::Null) => true,
            (Cell::Number(a), Cell::Number(b)) => close(*a, *b),
            (Cell::Text(a), Cell::Text(b)) => a == b,
            _ => false,
        }
    }

    /// A key for sorting rows when their order does not matter (numbers rounded so that
    /// values within the tolerance sort alike).
    fn sort_key(&self) -> String {
        match self {
            Cell::Null => "0".into(),
            Cell::Number(x) => format!("1{:+.6e}", x),
            Cell::Text(s) => format!("2{s}"),
        }
    }
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= REL_TOLERANCE * a.abs().max(b.abs()) + 1e-9
}

fn rows(df: &DataFrame, columns: &[String]) -> Vec<Vec<Cell>> {
    let cols: Vec<_> = columns.iter().map(|c| df.column(c).expect("column listed by the frame")).collect();
    (0..df.height())
        .map(|i| cols.iter().map(|c| c.get(i).map(|v| Cell::of(&v)).unwrap_or(Cell::Null)).collect())
        .collect()
}

fn sorted(mut rows: Vec<Vec<Cell>>) -> Vec<Vec<Cell>> {
    rows.sort_by_cached_key(|r| r.iter().map(Cell::sort_key).collect::<Vec<_>>());
    rows
}

fn same_rows(a: &[Vec<Cell>], b: &[Vec<Cell>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.iter().zip(y).all(|(p, q)| p.matches(q)))
}

/// How far what a learner typed may go when a check runs it: a SQL statement
/// (`sql::sandbox`) or an aggregation pipeline (`mongo::sandbox`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// How long it may run. Default 5 s.
    pub timeout: std::time::Duration,
    /// How many rows (documents, for MongoDB) are read back. Default 10,000.
    pub max_rows: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { timeout: std::time::Duration::from_secs(5), max_rows: 10_000 }
    }
}

/// Whether the order of an answer's rows is part of the question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowOrder {
    /// The rows must come in the expected order (the question says "most … first").
    Matters,
    /// Any order of the right rows is right.
    Any,
}

/// Compares the learner's frame with the expected one. Columns are matched **by name**
/// (case does not matter; their order does not either); numbers match within
/// [`REL_TOLERANCE`] whatever their type (an integer count equals a float count). With
/// [`RowOrder::Matters`], the rows must come in the expected order too, and a right set of rows
/// in another order is told as such.
///
/// The feedback names the expected columns (the exercise's text names them anyway), the
/// direction of a wrong row count, and the first column holding a wrong value — never a value
/// of the answer.
pub fn compare_frames(exercise: &str, yours: &DataFrame, expected: &DataFrame, order: RowOrder) -> Verdict {
    let ordered = order == RowOrder::Matters;
    let expected_names: Vec<String> = expected.get_column_names().iter().map(|n| n.to_string()).collect();
    let your_names: HashMap<String, String> =
        yours.get_column_names().iter().map(|n| (n.to_lowercase(), n.to_string())).collect();
    let missing: Vec<&String> = expected_names.iter().filter(|n| !your_names.contains_key(&n.to_lowercase())).collect();
    if !missing.is_empty() || your_names.len() != expected_names.len() {
        let extra = your_names.len() as i64 - (expected_names.len() - missing.len()) as i64;
        let mut hint = format!("the answer has the columns {}", quoted(&expected_names));
        if !missing.is_empty() {
            hint.push_str(&format!("; yours has no {}", quoted(&missing)));
        }
        if extra > 0 {
            hint.push_str(&format!("; yours has {extra} more"));
        }
        return Verdict::not_yet(exercise, format!("{hint} (name each column as the exercise asks)."));
    }
    let yours_in_order: Vec<String> = expected_names.iter().map(|n| your_names[&n.to_lowercase()].clone()).collect();
    let (mine, theirs) = (rows(yours, &yours_in_order), rows(expected, &expected_names));
    if mine.len() != theirs.len() {
        let (more, fewer) = (mine.len() > theirs.len(), mine.len() < theirs.len());
        let which = if more { "fewer" } else if fewer { "more" } else { "as many" };
        return Verdict::not_yet(
            exercise,
            format!("your answer has {} row{}; the answer has {which}.", mine.len(), if mine.len() == 1 { "" } else { "s" }),
        );
    }
    let (mine_sorted, theirs_sorted) = (sorted(mine.clone()), sorted(theirs.clone()));
    let same_set = same_rows(&mine_sorted, &theirs_sorted);
    if ordered && same_set && !same_rows(&mine, &theirs) {
        return Verdict::not_yet(exercise, "the rows are right, but not in the asked order (check ORDER BY / $sort).");
    }
    if same_set {
        return Verdict::right(
            exercise,
            format!("all {} rows and {} columns match.", theirs.len(), expected_names.len()),
        );
    }
    // Which column goes wrong first, over the rows in a comparable order.
    let (a, b) = if ordered { (&mine, &theirs) } else { (&mine_sorted, &theirs_sorted) };
    let mut wrong_rows = 0;
    let mut first_column: Option<usize> = None;
    for (x, y) in a.iter().zip(b.iter()) {
        if let Some(j) = x.iter().zip(y).position(|(p, q)| !p.matches(q)) {
            wrong_rows += 1;
            first_column = Some(first_column.map_or(j, |k: usize| k.min(j)));
        }
    }
    let column = first_column.map(|j| expected_names[j].clone()).unwrap_or_default();
    Verdict::not_yet(
        exercise,
        format!("the shape is right ({} rows × {} columns), but {wrong_rows} row{} differ — the first wrong values are in `{column}`.",
            theirs.len(), expected_names.len(), if wrong_rows == 1 { "" } else { "s" }),
    )
}

/// Compares a number the learner computed with the expected one (within `rel_tolerance`,
/// relative). The feedback says too high or too low, not by how much.
pub fn compare_number(exercise: &str, what: &str, yours: f64, expected: f64, rel_tolerance: f64) -> Verdict {
    if !yours.is_finite() {
        return Verdict::not_yet(exercise, format!("your {what} is {yours}, not a number."));
    }
    if (yours - expected).abs() <= rel_tolerance * expected.abs().max(1e-12) {
        Verdict::right(exercise, format!("your {what} matches."))
    } else {
        let dir = if yours > expected { "too high" } else { "too low" };
        Verdict::not_yet(exercise, format!("your {what} is {dir}."))
    }
}

/// A verdict for an answer that could not even run (a SQL error, a refused pipeline): the
/// learner sees what the service said, as a hint rather than a failed cell.
pub fn refused(exercise: &str, service: &str, error: &dyn fmt::Display) -> Verdict {
    Verdict::not_yet(exercise, format!("{service} refused your answer: {error}"))
}

fn quoted(names: impl IntoIterator<Item = impl fmt::Display>) -> String {
    names.into_iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    fn expected() -> DataFrame {
        df!("city" => ["Berlin", "Lyon", "Oslo"], "orders" => [12i64, 7, 3]).unwrap()
    }

    #[test]
    fn the_same_rows_in_any_order_and_any_case_of_names_are_right() {
        let yours = df!("ORDERS" => [7.0f64, 3.0, 12.0], "City" => ["Lyon", "Oslo", "Berlin"]).unwrap();
        let v = compare_frames("t", &yours, &expected(), RowOrder::Any);
        assert!(v.correct, "{v}");
        assert_eq!(v.feedback, "all 3 rows and 2 columns match.");
    }

    #[test]
    fn order_matters_only_when_asked_and_is_named_as_the_problem() {
        let yours = df!("city" => ["Lyon", "Berlin", "Oslo"], "orders" => [7i64, 12, 3]).unwrap();
        assert!(compare_frames("t", &yours, &expected(), RowOrder::Any).correct);
        let v = compare_frames("t", &yours, &expected(), RowOrder::Matters);
        assert!(!v.correct);
        assert!(v.feedback.contains("not in the asked order"), "{v}");
    }

    #[test]
    fn a_missing_column_is_named_without_values() {
        let yours = df!("city" => ["Berlin", "Lyon", "Oslo"], "n" => [12i64, 7, 3]).unwrap();
        let v = compare_frames("t", &yours, &expected(), RowOrder::Any);
        assert!(!v.correct);
        assert!(v.feedback.contains("yours has no `orders`"), "{v}");
        assert!(!v.feedback.contains("12"), "gives a value away: {v}");
    }

    #[test]
    fn a_wrong_row_count_says_more_or_fewer() {
        let yours = df!("city" => ["Berlin"], "orders" => [12i64]).unwrap();
        let v = compare_frames("t", &yours, &expected(), RowOrder::Any);
        assert_eq!(v.feedback, "your answer has 1 row; the answer has more.");
        let many = df!("city" => ["a", "b", "c", "d"], "orders" => [1i64, 2, 3, 4]).unwrap();
        assert!(compare_frames("t", &many, &expected(), RowOrder::Any).feedback.ends_with("the answer has fewer."));
    }

    #[test]
    fn a_wrong_value_names_its_column_but_not_the_value() {
        let yours = df!("city" => ["Berlin", "Lyon", "Oslo"], "orders" => [12i64, 8, 3]).unwrap();
        let v = compare_frames("t", &yours, &expected(), RowOrder::Matters);
        assert!(!v.correct);
        assert!(v.feedback.contains("1 row differ") && v.feedback.contains("`orders`"), "{v}");
        assert!(!v.feedback.contains('7'), "gives a value away: {v}");
    }

    #[test]
    fn numbers_match_within_the_tolerance_and_say_the_direction_otherwise() {
        assert!(compare_number("t", "precision", 0.5 + 1e-9, 0.5, 1e-6).correct);
        assert_eq!(compare_number("t", "precision", 0.6, 0.5, 1e-6).feedback, "your precision is too high.");
        assert_eq!(compare_number("t", "recall", 0.4, 0.5, 1e-6).feedback, "your recall is too low.");
        assert!(!compare_number("t", "recall", f64::NAN, 0.5, 1e-6).correct);
    }
}
