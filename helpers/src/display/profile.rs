//! A column profile of any DataFrame, one row per column: what `describe` gives in pandas and
//! in Polars' Python API — count, mean, standard deviation, minimum, quartiles, maximum — with
//! the nulls, the distinct values and the most frequent ones beside, for every type.

use std::collections::HashMap;

use polars::prelude::{AnyValue, DataFrame, DataType};

use crate::error::Result;
use crate::frame_row;

/// One column of a frame, profiled.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnProfile {
    /// The column.
    pub column: String,
    /// Its Polars type.
    pub dtype: String,
    /// Values that are not null.
    pub count: i64,
    /// Nulls.
    pub nulls: i64,
    /// Distinct values (nulls not counted).
    pub distinct: i64,
    /// Mean (numbers only).
    pub mean: Option<f64>,
    /// Sample standard deviation (numbers only; n − 1 in the denominator, as pandas).
    pub std: Option<f64>,
    /// Smallest (numbers only).
    pub min: Option<f64>,
    /// First quartile (numbers only; linear interpolation, as pandas and NumPy).
    pub q25: Option<f64>,
    /// Median (numbers only).
    pub median: Option<f64>,
    /// Third quartile (numbers only).
    pub q75: Option<f64>,
    /// Largest (numbers only).
    pub max: Option<f64>,
    /// The three most frequent values with their counts, most frequent first (ties: smaller
    /// value first): `value (count)`.
    pub top: String,
}
frame_row!(ColumnProfile { column, dtype, count, nulls, distinct, mean, std, min, q25, median, q75, max, top });

/// Profiles every column of `df` (see [`ColumnProfile`]).
///
/// ```
/// use helpers::prelude::*;
/// let df = helpers::polars::df!("x" => [1.0, 2.0, 3.0, 4.0], "city" => ["Oslo", "Lima", "Oslo", "Pune"])?;
/// let p = helpers::display::profile(&df)?;
/// assert_eq!((p[0].mean, p[0].median, p[1].distinct), (Some(2.5), Some(2.5), 3));
/// assert_eq!(p[1].top, "Oslo (2), Lima (1), Pune (1)");
/// # Ok::<(), helpers::Error>(())
/// ```
pub fn profile(df: &DataFrame) -> Result<Vec<ColumnProfile>> {
    let mut out = Vec::with_capacity(df.width());
    for column in df.columns() {
        let series = column.as_materialized_series();
        let nulls = series.null_count();
        let mut counts: HashMap<String, i64> = HashMap::new();
        for v in series.iter() {
            if !matches!(v, AnyValue::Null) {
                *counts.entry(shown(&v)).or_default() += 1;
            }
        }
        let mut top: Vec<(&String, &i64)> = counts.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let top = top.iter().take(3).map(|(v, n)| format!("{v} ({n})")).collect::<Vec<_>>().join(", ");
        let numbers: Option<Vec<f64>> = series.dtype().is_primitive_numeric().then(|| {
            let floats = series.cast(&DataType::Float64).ok();
            floats.and_then(|f| f.f64().ok().map(|c| c.iter().flatten().filter(|x| x.is_finite()).collect())).unwrap_or_default()
        });
        let stats = numbers.as_deref().map(Stats::of).unwrap_or_default();
        out.push(ColumnProfile {
            column: column.name().to_string(),
            dtype: series.dtype().to_string(),
            count: (series.len() - nulls) as i64,
            nulls: nulls as i64,
            distinct: counts.len() as i64,
            mean: stats.mean,
            std: stats.std,
            min: stats.min,
            q25: stats.q25,
            median: stats.median,
            q75: stats.q75,
            max: stats.max,
            top,
        });
    }
    Ok(out)
}

/// A value as the profile shows it: text without quotes, the rest as Polars prints it.
fn shown(v: &AnyValue) -> String {
    match v {
        AnyValue::String(s) => s.to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        other => other.to_string(),
    }
}

#[derive(Default)]
struct Stats {
    mean: Option<f64>,
    std: Option<f64>,
    min: Option<f64>,
    q25: Option<f64>,
    median: Option<f64>,
    q75: Option<f64>,
    max: Option<f64>,
}

impl Stats {
    fn of(values: &[f64]) -> Stats {
        if values.is_empty() {
            return Stats::default();
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let std = (v.len() > 1).then(|| (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
        // Linear interpolation between the closest ranks (pandas' and NumPy's default).
        let q = |p: f64| {
            let at = p * (n - 1.0);
            let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
            v[lo] + (v[hi] - v[lo]) * (at - lo as f64)
        };
        Stats { mean: Some(mean), std, min: v.first().copied(), q25: Some(q(0.25)), median: Some(q(0.5)), q75: Some(q(0.75)), max: v.last().copied() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::{Column, NamedFrom, Series};

    #[test]
    fn numbers_get_pandas_statistics_and_every_column_its_nulls_distinct_values_and_top() {
        let df = DataFrame::new_infer_height(vec![
            Column::new("n".into(), [Some(1i64), Some(2), None, Some(4), Some(10)]),
            Column::new("ok".into(), [Some(true), Some(true), None, Some(false), Some(true)]),
            Series::new("empty".into(), [None::<f64>; 5]).into(),
        ])
        .unwrap();
        let p = profile(&df).unwrap();
        let n = &p[0];
        assert_eq!((n.count, n.nulls, n.distinct), (4, 1, 4));
        assert_eq!((n.min, n.max, n.mean), (Some(1.0), Some(10.0), Some(4.25)));
        // pandas: Series([1, 2, 4, 10]).describe() → 25% 1.75, 50% 3.0, 75% 5.5, std 4.031129
        assert_eq!((n.q25, n.median, n.q75), (Some(1.75), Some(3.0), Some(5.5)));
        assert!((n.std.unwrap() - 4.031129).abs() < 1e-6, "{:?}", n.std);
        let ok = &p[1];
        assert_eq!((ok.count, ok.distinct, ok.mean, ok.top.as_str()), (4, 2, None, "true (3), false (1)"));
        let empty = &p[2];
        assert_eq!((empty.count, empty.nulls, empty.distinct, empty.mean, empty.top.as_str()), (0, 5, 0, None, ""));
    }
}
