//! How the analytics cost grows with the number of users: the feature pipeline, the churn fit
//! and the scoring, each timed on worlds of several sizes, and the slope of time against users
//! on a log-log scale (1 = linear, 2 = quadratic).
//!
//! Notebook 05 draws the figure for 2k, 10k and 50k users; `bench -- analytics` times 10k,
//! 100k and a million.

use std::time::Instant;

use serde::Serialize;

use super::{Tables, Window, churn, features, value};
use crate::data::{World, WorldConfig};
use crate::display::column_f64;
use crate::error::{Error, Result};
use crate::frame_row;

/// One world size, timed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScalePoint {
    /// Users in the world.
    pub users: i64,
    /// Users with features at the cutoff (the rows of the matrix).
    pub rows: i64,
    /// Events the feature pipeline read.
    pub events: i64,
    /// The feature pipeline (Polars lazy: filters, group-bys, joins), ms.
    pub features_ms: f64,
    /// Fitting the churn model on every row, ms.
    pub fit_ms: f64,
    /// The fitted model's AUC on the rows it was fitted on (a check that a faster fit is not a
    /// worse one).
    pub fit_auc: f64,
    /// Fitting the LTV regression on every row, ms.
    pub ltv_fit_ms: f64,
    /// Scoring every row for churn and LTV, ms (best of three).
    pub score_ms: f64,
    /// Scoring rate, users per second.
    pub scored_per_second: f64,
}
frame_row!(ScalePoint { users, rows, events, features_ms, fit_ms, fit_auc, ltv_fit_ms, score_ms, scored_per_second });

/// Generates a world of each size in `sizes` (users), then times the feature pipeline, the
/// churn fit and the scoring on it. Generating the world is not timed.
pub fn measure(sizes: &[usize]) -> Result<Vec<ScalePoint>> {
    sizes.iter().map(|&users| measure_world(&World::generate(&WorldConfig::with_users(users)))).collect()
}

/// [`measure`] on one world.
pub fn measure_world(world: &World) -> Result<ScalePoint> {
    let tables = Tables::from_world(world)?;
    let window = Window::before_as_of(world, 90);
    let started = Instant::now();
    let df = features::user_features(&tables, window)?;
    let features_ms = started.elapsed().as_secs_f64() * 1e3;
    let x = features::matrix(&df)?;
    let y: Vec<bool> = column_f64(&df, "churned")?.iter().map(|v| *v > 0.5).collect();
    let started = Instant::now();
    let model = churn::ChurnModel::fit(&x, &y, 7)?;
    let fit_ms = started.elapsed().as_secs_f64() * 1e3;
    let observed = value::observed_ltv(&column_f64(&df, "future_spend")?, window.horizon_days);
    let started = Instant::now();
    let ltv = value::LtvModel::fit(&x, &observed)?;
    let ltv_fit_ms = started.elapsed().as_secs_f64() * 1e3;
    let fit_auc = churn::auc(&model.predict_proba(&x), &y);
    let mut score_ms = f64::INFINITY;
    for _ in 0..3 {
        let started = Instant::now();
        let p = model.predict_proba(&x);
        let v = ltv.predict(&x);
        score_ms = score_ms.min(started.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box((p, v));
    }
    Ok(ScalePoint {
        users: world.users.len() as i64,
        rows: x.nrows() as i64,
        events: world.events.len() as i64,
        features_ms,
        fit_ms,
        fit_auc,
        ltv_fit_ms,
        score_ms,
        scored_per_second: x.nrows() as f64 / (score_ms / 1e3).max(1e-9),
    })
}

/// The least-squares slope of `ln(time)` against `ln(users)`: how time grows with size
/// (1.0 = in proportion, 2.0 = with the square). Needs two points or more with positive values.
pub fn slope(points: &[(f64, f64)]) -> Result<f64> {
    let logs: Vec<(f64, f64)> = points.iter().filter(|(x, y)| *x > 0.0 && *y > 0.0).map(|(x, y)| (x.ln(), y.ln())).collect();
    if logs.len() < 2 {
        return Err(Error::Model { model: "scaling slope", reason: format!("a slope needs two points with positive values, got {}", logs.len()) });
    }
    let n = logs.len() as f64;
    let (mx, my) = (logs.iter().map(|p| p.0).sum::<f64>() / n, logs.iter().map(|p| p.1).sum::<f64>() / n);
    let sxx: f64 = logs.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return Err(Error::Model { model: "scaling slope", reason: "a slope needs two different sizes".into() });
    }
    Ok(logs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx)
}

/// The three series of `points` as (users, ms) pairs: features, fit, score.
pub fn series(points: &[ScalePoint]) -> [(&'static str, Vec<(f64, f64)>); 3] {
    let s = |f: fn(&ScalePoint) -> f64| points.iter().map(|p| (p.users as f64, f(p))).collect::<Vec<_>>();
    [("feature pipeline", s(|p| p.features_ms)), ("churn fit", s(|p| p.fit_ms)), ("scoring", s(|p| p.score_ms))]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slope_of_a_power_law_is_its_exponent() {
        let linear: Vec<(f64, f64)> = [1e3, 1e4, 1e5].iter().map(|x| (*x, 3.0 * x)).collect();
        let square: Vec<(f64, f64)> = [1e3, 1e4, 1e5].iter().map(|x| (*x, 0.5 * x * x)).collect();
        assert!((slope(&linear).unwrap() - 1.0).abs() < 1e-12);
        assert!((slope(&square).unwrap() - 2.0).abs() < 1e-12);
        assert!(slope(&[(1e3, 1.0)]).unwrap_err().to_string().contains("two points"));
        assert!(slope(&[(1e3, 1.0), (1e3, 2.0)]).unwrap_err().to_string().contains("different sizes"));
    }

    #[test]
    fn a_bigger_world_has_more_rows_and_every_step_is_timed() {
        let points = measure(&[300, 1_200]).unwrap();
        assert_eq!(points.iter().map(|p| p.users).collect::<Vec<_>>(), vec![300, 1_200]);
        assert!(points[1].rows > points[0].rows && points[1].events > points[0].events);
        for p in &points {
            assert!(p.rows > 0 && p.rows <= p.users, "{p:?}");
            assert!(p.features_ms > 0.0 && p.fit_ms > 0.0 && p.ltv_fit_ms > 0.0 && p.score_ms > 0.0 && p.scored_per_second.is_finite(), "{p:?}");
            assert!(p.fit_auc > 0.6 && p.fit_auc <= 1.0, "the fitted model ranks churners first: {p:?}");
        }
        let [features, fit, score] = series(&points);
        assert_eq!((features.1.len(), fit.1.len(), score.1.len()), (2, 2, 2));
        assert_eq!(fit.1[1].0, 1_200.0);
    }
}
