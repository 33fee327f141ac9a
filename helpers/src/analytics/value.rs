//! Lifetime value and days to the next purchase.
//!
//! LTV here is the expected spend over the next 12 months. The world plants it: a user spends
//! `monthly_value` per active month and leaves with daily hazard `h`, so the truth for a user
//! still active at the cutoff is `monthly_value · (1 − e^(−365h)) / (30h)` (and 0 for one who
//! has left). No real system knows that truth, so the linear regression (linfa-linear) learns
//! from what a system can observe — the spend in the label window after the cutoff, scaled to
//! 12 months ([`observed_ltv`]) — on the train split; the original's estimate — average order
//! value × orders per month × 12 — is the baseline. Both are scored by MAE and RMSE on the
//! test split, against the observed target and against the planted truth.

use linfa::prelude::*;
use linfa_linear::{FittedLinearRegression, LinearRegression};
use ndarray::{Array1, Array2};
use serde::Serialize;

use super::churn::{Linear, Scaler};
use crate::data::World;
use crate::error::{Error, Result};
use crate::frame_row;

/// The planted 12-month value of each user in `user_ids`, as of `cutoff`.
pub fn ltv_truth(world: &World, user_ids: &[i64], cutoff: chrono::NaiveDateTime) -> Result<Vec<f64>> {
    user_ids
        .iter()
        .map(|id| {
            let t = world.truth.get((*id - 1) as usize).filter(|t| t.user_id == *id).ok_or_else(|| Error::NotFound(format!("user {id} is not in the world")))?;
            if t.churned_at.is_some_and(|at| at <= cutoff) {
                return Ok(0.0);
            }
            let h = t.churn_hazard.max(1e-9);
            Ok(t.monthly_value * (1.0 - (-365.0 * h).exp()) / (30.0 * h))
        })
        .collect()
}

/// The target a real system can train LTV on: the completed spend it saw in the
/// `horizon_days` after the cutoff, scaled to 12 months. Noisy for one user (a few orders or
/// none), and too high for users who will leave later in the year — but observable.
pub fn observed_ltv(future_spend: &[f64], horizon_days: i64) -> Vec<f64> {
    let scale = 365.0 / horizon_days.max(1) as f64;
    future_spend.iter().map(|s| s * scale).collect()
}

/// The original's estimate: average order value × orders per 30 days of tenure × 12.
pub fn ltv_baseline(avg_order_value: &[f64], frequency: &[f64], tenure_days: &[f64]) -> Vec<f64> {
    avg_order_value.iter().zip(frequency).zip(tenure_days).map(|((a, f), t)| a * f / (t / 30.0).max(1.0) * 12.0).collect()
}

/// A fitted LTV regression.
#[derive(Clone, Debug)]
pub struct LtvModel {
    /// The regression on raw features (the scaler folded in), for scoring.
    raw: Linear,
    /// The 10th and 90th percentile of the training residuals (target − prediction): added to
    /// a prediction they give its 80 % interval.
    residual_band: (f64, f64),
}

impl LtvModel {
    /// Ordinary least squares on standardised features.
    pub fn fit(x: &Array2<f64>, y: &[f64]) -> Result<LtvModel> {
        if x.nrows() != y.len() || x.nrows() <= x.ncols() {
            return Err(Error::Model { model: "LTV model", reason: format!("{} rows and {} targets for {} features", x.nrows(), y.len(), x.ncols()) });
        }
        let scaler = Scaler::fit(x);
        let data = Dataset::new(scaler.transform(x), Array1::from(y.to_vec()));
        let model: FittedLinearRegression<f64> = LinearRegression::new().fit(&data).map_err(|e| Error::Model { model: "LTV model", reason: format!("did not fit: {e}") })?;
        let fitted = model.predict(data.records());
        let raw = scaler.fold(model.params(), model.intercept());
        let mut residuals: Vec<f64> = y.iter().zip(fitted.iter()).map(|(t, p)| t - p.max(0.0)).collect();
        residuals.sort_by(f64::total_cmp);
        let at = |q: f64| residuals[((residuals.len() - 1) as f64 * q).round() as usize];
        Ok(LtvModel { raw, residual_band: (at(0.1), at(0.9)) })
    }

    /// The 80 % interval around each prediction of [`predict`](Self::predict): the prediction
    /// plus the 10th and 90th percentile of the training residuals (never below 0). On data
    /// like the training data about 8 in 10 true values fall inside.
    pub fn interval(&self, predicted: f64) -> (f64, f64) {
        ((predicted + self.residual_band.0).max(0.0), (predicted + self.residual_band.1).max(0.0))
    }

    /// Predicted 12-month value (never below 0): one matrix–vector product over the raw
    /// features.
    pub fn predict(&self, x: &Array2<f64>) -> Vec<f64> {
        self.raw.scores(x).iter().map(|v| v.max(0.0)).collect()
    }
}

/// Regression error of one estimate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegressionScore {
    /// Which estimate.
    pub model: String,
    /// Rows judged.
    pub rows: i64,
    /// Mean absolute error.
    pub mae: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean of what it is scored against, for scale.
    pub mean_target: f64,
}
frame_row!(RegressionScore { model, rows, mae, rmse, mean_target });

/// MAE and RMSE of `predicted` against `truth` (rows where either is NaN are skipped).
pub fn score(model: &str, predicted: &[f64], truth: &[f64]) -> RegressionScore {
    let pairs: Vec<(f64, f64)> = predicted.iter().zip(truth).filter(|(p, t)| p.is_finite() && t.is_finite()).map(|(p, t)| (*p, *t)).collect();
    let n = pairs.len().max(1) as f64;
    RegressionScore {
        model: model.into(),
        rows: pairs.len() as i64,
        mae: pairs.iter().map(|(p, t)| (p - t).abs()).sum::<f64>() / n,
        rmse: (pairs.iter().map(|(p, t)| (p - t).powi(2)).sum::<f64>() / n).sqrt(),
        mean_target: pairs.iter().map(|(_, t)| t).sum::<f64>() / n,
    }
}

/// Days to the next purchase, estimated as the user's mean gap between orders minus the days
/// since their last activity (at least 0); users who never ordered get NaN.
pub fn next_purchase_days(days_between_orders: &[f64], recency_days: &[f64], frequency: &[f64]) -> Vec<f64> {
    days_between_orders
        .iter()
        .zip(recency_days)
        .zip(frequency)
        .map(|((gap, rec), f)| if *f < 1.0 { f64::NAN } else { (gap - rec).max(0.0) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_the_textbook_ones() {
        let s = score("m", &[1.0, 2.0, 4.0, f64::NAN], &[1.0, 3.0, 2.0, 5.0]);
        assert_eq!(s.rows, 3);
        assert!((s.mae - 1.0).abs() < 1e-12);
        assert!((s.rmse - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn scoring_on_raw_features_matches_linfa_on_scaled_ones() {
        // A planted linear rule on features of very different scales.
        let x = Array2::from_shape_fn((200, 3), |(i, j)| ((i * 7 + j * 13) % 29) as f64 * 10f64.powi(j as i32) + j as f64);
        let y: Vec<f64> = x.rows().into_iter().map(|r| 50.0 + 2.0 * r[0] + 0.3 * r[1] + 0.01 * r[2]).collect();
        let m = LtvModel::fit(&x, &y).unwrap();
        let scaler = Scaler::fit(&x);
        let reference = LinearRegression::new().fit(&Dataset::new(scaler.transform(&x), Array1::from(y.clone()))).unwrap();
        let theirs = reference.predict(&scaler.transform(&x));
        for ((mine, theirs), truth) in m.predict(&x).iter().zip(theirs.iter()).zip(&y) {
            assert!((mine - theirs.max(0.0)).abs() < 1e-7 && (mine - truth).abs() < 1e-6, "{mine} vs {theirs} (truth {truth})");
        }
    }

    #[test]
    fn the_ltv_interval_holds_about_eight_in_ten_training_values() {
        // A linear truth plus deterministic noise that the features cannot explain.
        let x = Array2::from_shape_fn((400, 2), |(r, c)| ((r * (c + 3)) % 23) as f64);
        let y: Vec<f64> = (0..400).map(|r| 100.0 + 5.0 * x[[r, 0]] + ((r * 37) % 41) as f64 - 20.0).collect();
        let m = LtvModel::fit(&x, &y).unwrap();
        let predicted = m.predict(&x);
        let inside = predicted.iter().zip(&y).filter(|(p, t)| {
            let (lo, hi) = m.interval(**p);
            lo <= **t && **t <= hi
        });
        let share = inside.count() as f64 / y.len() as f64;
        assert!((0.75..=0.85).contains(&share), "{share}");
        let (lo, hi) = m.interval(0.0);
        assert!(lo == 0.0 && hi >= 0.0, "never below 0: {lo} {hi}");
    }

    #[test]
    fn a_linear_model_recovers_a_linear_truth() {
        let x = Array2::from_shape_fn((50, 3), |(r, c)| ((r * (c + 2)) % 17) as f64);
        let y: Vec<f64> = (0..50).map(|r| 10.0 + 2.0 * x[[r, 0]] + 0.5 * x[[r, 2]]).collect();
        let m = LtvModel::fit(&x, &y).unwrap();
        let s = score("m", &m.predict(&x), &y);
        assert!(s.mae < 1e-6, "{s:?}");
    }

    #[test]
    fn the_baseline_is_spend_per_month_times_twelve() {
        assert_eq!(ltv_baseline(&[50.0], &[6.0], &[180.0]), vec![50.0 * 6.0 / 6.0 * 12.0]);
        assert_eq!(next_purchase_days(&[30.0, 30.0, 10.0], &[10.0, 40.0, 1.0], &[3.0, 3.0, 0.0])[..2], [20.0, 0.0]);
    }
}
