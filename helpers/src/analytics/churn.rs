//! Churn: a logistic regression on standardised features, fitted by Newton's method on a train
//! split and judged on a test split against the original module's heuristic, a logistic
//! function of recency alone.

use linfa_linalg::cholesky::SolveC;
use ndarray::{Array1, Array2, ArrayView2, Axis, s};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::Serialize;

use super::features::FEATURES;
use crate::error::{Error, Result};
use crate::frame_row;

/// Indices of a seeded train / test split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// Rows to fit on.
    pub train: Vec<usize>,
    /// Rows to judge on.
    pub test: Vec<usize>,
}

/// Shuffles `0..n` with `seed` and puts `test_share` (0–1) of it into the test split.
pub fn split(n: usize, test_share: f64, seed: u64) -> Result<Split> {
    if !(0.0..1.0).contains(&test_share) || n < 4 {
        return Err(Error::InvalidInput(format!("cannot split {n} rows with a test share of {test_share} (needs ≥ 4 rows and 0 ≤ share < 1)")));
    }
    let mut rows: Vec<usize> = (0..n).collect();
    rows.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let test_len = ((n as f64) * test_share).round() as usize;
    let test = rows.split_off(n - test_len);
    Ok(Split { train: rows, test })
}

/// Centres and scales each column by the train split's mean and standard deviation.
#[derive(Clone, Debug, PartialEq)]
pub struct Scaler {
    mean: Array1<f64>,
    std: Array1<f64>,
}

impl Scaler {
    /// Learns the means and deviations of `x`'s columns (a constant column gets deviation 1).
    pub fn fit(x: &Array2<f64>) -> Scaler {
        let mean = x.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(x.ncols()));
        let std = x.std_axis(Axis(0), 0.0).mapv(|s| if s > 1e-12 { s } else { 1.0 });
        Scaler { mean, std }
    }

    /// `(x - mean) / std`.
    pub fn transform(&self, x: &Array2<f64>) -> Array2<f64> {
        (x - &self.mean) / &self.std
    }

    /// A linear function of the standardised features (`weights`, `intercept`) rewritten as
    /// the same function of the raw features: `w / std` and `b − Σ w·mean / std`. Scoring
    /// then reads each row once, with no scaled copy of the matrix.
    pub fn fold(&self, weights: &Array1<f64>, intercept: f64) -> Linear {
        let w = weights / &self.std;
        let b = intercept - (&w * &self.mean).sum();
        Linear { w, b }
    }
}

/// `x · w + b` on raw feature rows: a fitted model's scoring, as one matrix–vector product
/// over the contiguous feature matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    w: Array1<f64>,
    b: f64,
}

impl Linear {
    /// One score per row of `x`.
    pub fn scores(&self, x: &Array2<f64>) -> Array1<f64> {
        let mut z = x.dot(&self.w);
        z += self.b;
        z
    }
}

/// The logistic function, 1 / (1 + e^(−z)).
pub fn logistic(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// The churn fit stops once every component of the *mean* log-loss's gradient is this small
/// (scikit-learn's `tol`).
pub const GRADIENT_TOLERANCE_PER_ROW: f64 = 1e-4;

/// The L2 penalty on the coefficients (not on the intercept), on the summed log-loss.
pub const ALPHA: f64 = 0.01;

/// Newton steps before the fit gives up (the course's worlds take 4–6).
pub const MAX_NEWTON_STEPS: usize = 100;

/// The penalised log-loss at one point, with its gradient and Hessian.
struct Objective {
    loss: f64,
    gradient: Array1<f64>,
    hessian: Array2<f64>,
}

/// One pass over the rows of `xs` (standardised, one column per feature) at `beta`
/// (coefficients, then the intercept): with `u = [x, 1]`, `z = u·beta` and `μ = σ(z)`,
/// the loss `Σ log(1 + eᶻ) − y·z + α/2·|w|²`, its gradient `Σ (μ − y)·u + α·w` and its Hessian
/// `Σ μ(1 − μ)·u·uᵀ + α·I` (the intercept unpenalised).
fn objective(xs: ArrayView2<f64>, y: &[bool], beta: &Array1<f64>) -> Objective {
    let p = xs.ncols();
    let k = p + 1;
    let (w, b) = (beta.slice(s![..p]), beta[p]);
    let mut loss = 0.5 * ALPHA * w.dot(&w);
    let mut gradient = vec![0.0; k];
    // Lower triangle, row by row: the Hessian is symmetric.
    let mut hessian = vec![0.0; k * k];
    let mut u = vec![1.0; k];
    for (row, &yi) in xs.rows().into_iter().zip(y) {
        u[..p].iter_mut().zip(row).for_each(|(u, x)| *u = *x);
        let z = b + row.dot(&w);
        // log(1 + eᶻ) without overflow either way.
        loss += if z > 0.0 { z + (-z).exp().ln_1p() } else { z.exp().ln_1p() } - if yi { z } else { 0.0 };
        let mu = logistic(z);
        let (r, weight) = (mu - f64::from(u8::from(yi)), mu * (1.0 - mu));
        for a in 0..k {
            gradient[a] += r * u[a];
            let wa = weight * u[a];
            for (h, ub) in hessian[a * k..=a * k + a].iter_mut().zip(&u) {
                *h += wa * ub;
            }
        }
    }
    for a in 0..k {
        for c in 0..a {
            hessian[c * k + a] = hessian[a * k + c];
        }
        if a < p {
            gradient[a] += ALPHA * w[a];
            hessian[a * k + a] += ALPHA;
        }
    }
    Objective { loss, gradient: Array1::from(gradient), hessian: Array2::from_shape_vec((k, k), hessian).expect("k × k") }
}

/// A Newton step being taken: where it started, the loss there, the direction, the loss's
/// predicted fall along it (`g·d`), and the share of it tried.
struct Step {
    from: Array1<f64>,
    loss: f64,
    direction: Array1<f64>,
    fall: f64,
    share: f64,
}

/// Minimises [`objective`] by Newton's method — the solver scikit-learn calls `newton-cholesky`,
/// for many rows and few features: each step is one pass over the rows plus a (features + 1)²
/// system solved by Cholesky, and the steps converge quadratically, so 4–6 passes reach what a
/// first-order method (linfa-logistic's L-BFGS) takes dozens for. Returns the coefficients, the
/// intercept and the passes over the rows.
fn newton(xs: ArrayView2<f64>, y: &[bool]) -> Result<(Array1<f64>, f64, usize)> {
    let (n, p) = xs.dim();
    let mut beta = Array1::<f64>::zeros(p + 1);
    let mut step: Option<Step> = None;
    for pass in 1..=MAX_NEWTON_STEPS {
        let f = objective(xs, y, &beta);
        // The loss did not fall by enough of what the step predicted (Armijo): half as far.
        if let Some(s) = &mut step
            && f.loss > s.loss - 1e-4 * s.share * s.fall
        {
            s.share /= 2.0;
            beta = &s.from - &(&s.direction * s.share);
            continue;
        }
        // The Newton direction: the Hessian's system H·d = g, solved by Cholesky.
        let mut hessian = f.hessian;
        let direction = hessian
            .solvec(&f.gradient.view().insert_axis(Axis(1)).to_owned())
            .map_err(|e| Error::Model { model: "churn model", reason: format!("the Newton system has no Cholesky factor ({e}); are features non-finite?") })?
            .column(0)
            .to_owned();
        let next = &beta - &direction;
        let largest = f.gradient.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        if largest / n as f64 <= GRADIENT_TOLERANCE_PER_ROW {
            // Within tolerance: the last step costs a solve and no pass, and squares the error
            // left (a step this close to the minimum is not checked).
            return Ok((next.slice(s![..p]).to_owned(), next[p], pass));
        }
        let fall = f.gradient.dot(&direction);
        step = Some(Step { from: std::mem::replace(&mut beta, next), loss: f.loss, direction, fall, share: 1.0 });
    }
    Err(Error::Model { model: "churn model", reason: format!("no convergence in {MAX_NEWTON_STEPS} Newton steps (are the features finite and not constant?)") })
}

/// A fitted churn model: scaler, logistic regression, and the version it was fitted as.
#[derive(Clone, Debug)]
pub struct ChurnModel {
    /// The coefficients on the standardised scale, oriented towards churn (positive: more
    /// churn), for [`weights`](Self::weights).
    standardised: Array1<f64>,
    /// The same model on raw features, for scoring.
    raw: Linear,
    /// Newton steps the fit took, each one pass over the rows (a halved step counts again).
    pub steps: usize,
    /// Version string: `churn-logistic-<train rows>-<seed>`.
    pub version: String,
}

/// One feature's weight in the fitted model (on the standardised scale).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Weight {
    /// The feature.
    pub feature: String,
    /// Its coefficient: the change in log-odds of churn per standard deviation.
    pub weight: f64,
}
frame_row!(Weight { feature, weight });

impl ChurnModel {
    /// Fits on `x` (rows = users, columns = [`FEATURES`]) and labels `y` (true = churned), with
    /// a light L2 penalty ([`ALPHA`]), by Newton's method until every component of the mean
    /// log-loss's gradient is within [`GRADIENT_TOLERANCE_PER_ROW`].
    pub fn fit(x: &Array2<f64>, y: &[bool], seed: u64) -> Result<ChurnModel> {
        if x.nrows() != y.len() || x.nrows() == 0 {
            return Err(Error::Model { model: "churn model", reason: format!("{} feature rows but {} labels", x.nrows(), y.len()) });
        }
        let positives = y.iter().filter(|v| **v).count();
        if positives == 0 || positives == y.len() {
            return Err(Error::Model { model: "churn model", reason: format!("all {} labels are {}; need both classes", y.len(), positives > 0) });
        }
        if let Some(bad) = x.iter().position(|v| !v.is_finite()) {
            let (row, col) = (bad / x.ncols(), bad % x.ncols());
            let name = FEATURES.get(col).copied().unwrap_or("?");
            return Err(Error::Model { model: "churn model", reason: format!("row {row}, feature {col} ({name}) is {}", x[[row, col]]) });
        }
        let scaler = Scaler::fit(x);
        let (standardised, intercept, steps) = newton(scaler.transform(x).view(), y)?;
        let raw = scaler.fold(&standardised, intercept);
        Ok(ChurnModel { standardised, raw, steps, version: format!("churn-logistic-{}-{seed}", x.nrows()) })
    }

    /// Probability of churn for each row of `x`: one matrix–vector product over the raw
    /// features (the scaler is folded into the weights), then the logistic function.
    pub fn predict_proba(&self, x: &Array2<f64>) -> Vec<f64> {
        self.raw.scores(x).iter().map(|z| logistic(*z)).collect()
    }

    /// The coefficients, largest effect first.
    pub fn weights(&self) -> Vec<Weight> {
        let mut w: Vec<Weight> = FEATURES.iter().zip(self.standardised.iter()).map(|(f, w)| Weight { feature: f.to_string(), weight: *w }).collect();
        w.sort_by(|a, b| b.weight.abs().total_cmp(&a.weight.abs()));
        w
    }
}

/// The original module's heuristic ([`crate::data::recency_churn_score`]): churn probability
/// as a logistic function of recency, 50 % at 60 days without activity.
pub fn baseline_proba(recency_days: &[f64]) -> Vec<f64> {
    recency_days.iter().map(|&r| crate::data::recency_churn_score(r)).collect()
}

/// Classification quality at a threshold, and the threshold-free AUC.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    /// Which model.
    pub model: String,
    /// Rows judged.
    pub rows: i64,
    /// Share right at the threshold.
    pub accuracy: f64,
    /// Of those flagged, the share that churned.
    pub precision: f64,
    /// Of those who churned, the share flagged.
    pub recall: f64,
    /// Area under the ROC curve (0.5 = guessing).
    pub auc: f64,
    /// Churned and flagged.
    pub true_pos: i64,
    /// Stayed but flagged.
    pub false_pos: i64,
    /// Stayed, not flagged.
    pub true_neg: i64,
    /// Churned, not flagged.
    pub false_neg: i64,
}
frame_row!(Evaluation { model, rows, accuracy, precision, recall, auc, true_pos, false_pos, true_neg, false_neg });

/// Scores probabilities `p` against labels `y` at `threshold`.
pub fn evaluate(model: &str, p: &[f64], y: &[bool], threshold: f64) -> Evaluation {
    let (mut tp, mut fp, mut tn, mut fne) = (0i64, 0i64, 0i64, 0i64);
    for (pi, yi) in p.iter().zip(y) {
        match (*pi >= threshold, *yi) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, false) => tn += 1,
            (false, true) => fne += 1,
        }
    }
    let ratio = |a: i64, b: i64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    Evaluation {
        model: model.into(),
        rows: p.len() as i64,
        accuracy: ratio(tp + tn, tp + tn + fp + fne),
        precision: ratio(tp, tp + fp),
        recall: ratio(tp, tp + fne),
        auc: auc(p, y),
        true_pos: tp,
        false_pos: fp,
        true_neg: tn,
        false_neg: fne,
    }
}

/// AUC as the probability that a random churner scores above a random stayer (ties count
/// half): the Mann–Whitney statistic, from ranks.
pub fn auc(p: &[f64], y: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|a, b| p[*a].total_cmp(&p[*b]));
    // Average ranks over ties.
    let mut ranks = vec![0.0; p.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && p[order[j + 1]] == p[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            ranks[order[k]] = rank;
        }
        i = j + 1;
    }
    let pos = y.iter().filter(|v| **v).count() as f64;
    let neg = y.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return f64::NAN;
    }
    let rank_sum: f64 = ranks.iter().zip(y).filter(|(_, yi)| **yi).map(|(r, _)| r).sum();
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// The ROC curve: (false-positive rate, true-positive rate) as the threshold falls through
/// every distinct score, from (0, 0) to (1, 1).
pub fn roc(p: &[f64], y: &[bool]) -> Vec<(f64, f64)> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|a, b| p[*b].total_cmp(&p[*a]));
    let pos = y.iter().filter(|v| **v).count().max(1) as f64;
    let neg = (y.len() - y.iter().filter(|v| **v).count()).max(1) as f64;
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut out = vec![(0.0, 0.0)];
    for (k, &i) in order.iter().enumerate() {
        if y[i] { tp += 1.0 } else { fp += 1.0 }
        if k + 1 == order.len() || p[order[k + 1]] != p[i] {
            out.push((fp / neg, tp / pos));
        }
    }
    out
}

/// One bin of a calibration table: what the model said on average, and what happened.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CalibrationBin {
    /// Bin, e.g. `0.2–0.3`.
    pub bin: String,
    /// Rows in it.
    pub rows: i64,
    /// Mean predicted probability.
    pub predicted: f64,
    /// Observed churn rate.
    pub observed: f64,
}
frame_row!(CalibrationBin { bin, rows, predicted, observed });

/// Calibration in `bins` equal-width probability bins (empty bins left out).
pub fn calibration(p: &[f64], y: &[bool], bins: usize) -> Vec<CalibrationBin> {
    let bins = bins.max(1);
    let mut sums = vec![(0usize, 0.0, 0usize); bins];
    for (pi, yi) in p.iter().zip(y) {
        let b = ((pi * bins as f64) as usize).min(bins - 1);
        sums[b].0 += 1;
        sums[b].1 += pi;
        sums[b].2 += *yi as usize;
    }
    sums.iter()
        .enumerate()
        .filter(|(_, s)| s.0 > 0)
        .map(|(b, (n, ps, ys))| CalibrationBin {
            bin: format!("{:.1}–{:.1}", b as f64 / bins as f64, (b + 1) as f64 / bins as f64),
            rows: *n as i64,
            predicted: ps / *n as f64,
            observed: *ys as f64 / *n as f64,
        })
        .collect()
}

/// Rows `rows` of `x`.
pub fn take_rows(x: &Array2<f64>, rows: &[usize]) -> Array2<f64> {
    x.select(Axis(0), rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_is_one_for_a_perfect_ranking_and_a_half_for_ties() {
        let y = [false, false, true, true];
        assert_eq!(auc(&[0.1, 0.2, 0.8, 0.9], &y), 1.0);
        assert_eq!(auc(&[0.9, 0.8, 0.2, 0.1], &y), 0.0);
        assert_eq!(auc(&[0.5; 4], &y), 0.5);
        // Hand count: pairs (pos, neg) = (0.35 > 0.1 ✓, 0.35 < 0.4 ✗, 0.8 > both ✓✓) → 3/4.
        assert_eq!(auc(&[0.1, 0.4, 0.35, 0.8], &y), 0.75);
    }

    #[test]
    fn the_exercises_check_f1_and_top_decile_lift_against_hand_counts() {
        // 20 users: p falls with the index; the first two (the top decile) and users 5, 12
        // and 15 churned. At 0.5 (users 0–9 flagged): tp 3 (0, 1, 5), fp 7, fn 2 (12, 15).
        let p: Vec<f64> = (0..20).map(|i| 0.975 - 0.05 * i as f64).collect();
        let y: Vec<bool> = (0..20).map(|i| [0, 1, 5, 12, 15].contains(&i)).collect();
        let (precision, recall) = (3.0 / 10.0, 3.0 / 5.0);
        let f1 = 2.0 * precision * recall / (precision + recall);
        assert!(check_exercise("05.1", f1, &p, &y).unwrap().correct);
        assert_eq!(check_exercise("05.1", recall, &p, &y).unwrap().feedback, "your F1 score is too high.");
        // Top decile: users 0 and 1, both churned → rate 1.0; overall 5/20 → lift 4.
        assert!(check_exercise("05.2", 4.0, &p, &y).unwrap().correct);
        assert!(!check_exercise("05.2", 3.9, &p, &y).unwrap().correct);
        assert!(check_exercise("05.3", 1.0, &p, &y).is_err());
        assert!(check_exercise("05.1", 1.0, &p[..5], &y[..5]).is_err());
    }

    #[test]
    fn the_confusion_matrix_adds_up() {
        let e = evaluate("m", &[0.9, 0.6, 0.4, 0.2, 0.7], &[true, false, true, false, true], 0.5);
        assert_eq!((e.true_pos, e.false_pos, e.true_neg, e.false_neg), (2, 1, 1, 1));
        assert!((e.precision - 2.0 / 3.0).abs() < 1e-12 && (e.recall - 2.0 / 3.0).abs() < 1e-12 && (e.accuracy - 0.6).abs() < 1e-12);
    }

    #[test]
    fn roc_runs_from_origin_to_one_one() {
        let r = roc(&[0.9, 0.6, 0.4, 0.2], &[true, false, true, false]);
        assert_eq!(r.first(), Some(&(0.0, 0.0)));
        assert_eq!(r.last(), Some(&(1.0, 1.0)));
        assert!(r.windows(2).all(|w| w[1].0 >= w[0].0 && w[1].1 >= w[0].1));
    }

    #[test]
    fn the_baseline_is_one_half_at_sixty_days() {
        let p = baseline_proba(&[0.0, 60.0, 200.0]);
        assert!(p[0] < 0.02 && (p[1] - 0.5).abs() < 1e-12 && p[2] > 0.99);
    }

    #[test]
    fn a_split_is_seeded_disjoint_and_complete() {
        let s = split(100, 0.3, 7).unwrap();
        assert_eq!((s.train.len(), s.test.len()), (70, 30));
        let mut all: Vec<usize> = s.train.iter().chain(&s.test).copied().collect();
        all.sort();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_eq!(s, split(100, 0.3, 7).unwrap());
        assert!(split(100, 1.5, 7).is_err());
    }

    #[test]
    fn a_logistic_model_learns_a_planted_rule() {
        // y = 1 when the first feature is large; the others are noise.
        let n = 400;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        use rand::Rng;
        let x = Array2::from_shape_fn((n, FEATURES.len()), |_| rng.random::<f64>());
        let y: Vec<bool> = (0..n).map(|i| x[[i, 0]] > 0.5).collect();
        let m = ChurnModel::fit(&x, &y, 3).unwrap();
        let e = evaluate("m", &m.predict_proba(&x), &y, 0.5);
        assert!(e.auc > 0.97 && e.accuracy > 0.9, "{e:?}");
        assert_eq!(m.weights()[0].feature, FEATURES[0]);
        assert!(ChurnModel::fit(&x, &vec![true; n], 3).unwrap_err().to_string().contains("need both classes"));
    }

    #[test]
    fn the_newton_fit_reaches_linfas_optimum_whichever_class_is_larger() {
        use linfa::prelude::*;
        use linfa_logistic::{FittedLogisticRegression, LogisticRegression};
        let n = 600;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        use rand::Rng;
        let x = Array2::from_shape_fn((n, FEATURES.len()), |(_, j)| rng.random::<f64>() * (j as f64 + 1.0) * 10.0 + j as f64);
        // Churn is likelier with a high first feature but not decided by it, so the optimum is
        // finite; churners a minority, then a majority (linfa's positive class is the larger one,
        // so its model is turned round to compare in the second case).
        for cut in [0.75, 0.25] {
            let y: Vec<bool> = (0..n).map(|i| x[[i, 0]] / 10.0 + 0.3 * (rng.random::<f64>() - 0.5) > cut).collect();
            let m = ChurnModel::fit(&x, &y, 1).unwrap();
            assert!(m.steps <= 12, "cut {cut}: {} Newton steps", m.steps);
            let scaler = Scaler::fit(&x);
            let xs = scaler.transform(&x);
            // linfa's L-BFGS, run far past our tolerance: the optimum itself.
            let reference: FittedLogisticRegression<f64, bool> =
                LogisticRegression::default().alpha(ALPHA).max_iterations(2000).gradient_tolerance(1e-9 * n as f64).fit(&Dataset::new(xs.clone(), Array1::from(y.clone()))).unwrap();
            let churn_first = reference.labels().pos.class;
            let p_pos = reference.predict_probabilities(&xs);
            let p = m.predict_proba(&x);
            let worst = p.iter().zip(p_pos.iter()).map(|(mine, theirs)| (mine - if churn_first { *theirs } else { 1.0 - theirs }).abs()).fold(0.0, f64::max);
            assert!(worst < 1e-4, "cut {cut}: probabilities differ from linfa's by up to {worst}");
            // Its loss is no higher than the reference's (to rounding).
            let sign = if churn_first { 1.0 } else { -1.0 };
            let mut theirs = (reference.params() * sign).to_vec();
            theirs.push(reference.intercept() * sign);
            let mut ours = m.standardised.to_vec();
            ours.push(m.raw.b + (&m.raw.w * &scaler.mean).sum());
            let (ours, theirs) = (objective(xs.view(), &y, &Array1::from(ours)).loss, objective(xs.view(), &y, &Array1::from(theirs)).loss);
            assert!(ours <= theirs + 1e-6, "cut {cut}: loss {ours} vs linfa's {theirs}");
            assert!(auc(&p, &y) > 0.9, "cut {cut}");
            let first = m.weights().into_iter().find(|w| w.feature == FEATURES[0]).unwrap();
            assert!(first.weight > 0.0, "cut {cut}: a high first feature means churn, weight {}", first.weight);
        }
    }

    #[test]
    fn the_fit_names_a_non_finite_feature() {
        let mut x = Array2::from_shape_fn((20, FEATURES.len()), |(i, j)| (i * j) as f64);
        let y: Vec<bool> = (0..20).map(|i| i % 3 == 0).collect();
        x[[7, 2]] = f64::NAN;
        let e = ChurnModel::fit(&x, &y, 1).unwrap_err().to_string();
        assert!(e.contains("row 7") && e.contains(FEATURES[2]) && e.contains("NaN"), "{e}");
    }
}

/// Notebook 05's exercises, computed by the learner from the held-out split's probabilities
/// `p` and labels `y`, and checked here ([`exercise::compare_number`]):
///
/// - `05.1` — the model's **F1 score** at threshold 0.5 (flagged = `p ≥ 0.5`): the harmonic
///   mean of precision and recall;
/// - `05.2` — the **lift of the top decile**: the churn rate among the ⌊n/10⌋ users with the
///   highest `p`, divided by the churn rate of all n.
pub fn check_exercise(id: &str, yours: f64, p: &[f64], y: &[bool]) -> Result<crate::exercise::Verdict> {
    if p.len() != y.len() || p.len() < 10 {
        return Err(Error::InvalidInput(format!(
            "exercise {id} needs the held-out probabilities and labels, the same length and at least 10 (got {} and {})",
            p.len(),
            y.len()
        )));
    }
    let (what, expected) = match id {
        "05.1" => {
            let e = evaluate("model", p, y, 0.5);
            let f1 = if e.precision + e.recall == 0.0 { 0.0 } else { 2.0 * e.precision * e.recall / (e.precision + e.recall) };
            ("F1 score", f1)
        }
        "05.2" => {
            let mut order: Vec<usize> = (0..p.len()).collect();
            order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
            let top = p.len() / 10;
            let rate = |idx: &[usize]| idx.iter().filter(|&&i| y[i]).count() as f64 / idx.len() as f64;
            let overall = rate(&order);
            if overall == 0.0 {
                return Err(Error::Model { model: "exercise 05.2", reason: "nobody churned in these labels, so there is no lift".into() });
            }
            ("top-decile lift", rate(&order[..top]) / overall)
        }
        other => return Err(Error::NotFound(format!("there is no exercise {other} in notebook 05 (there are 05.1, 05.2)"))),
    };
    Ok(crate::exercise::compare_number(id, what, yours, expected, 1e-6))
}
