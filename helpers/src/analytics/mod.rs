//! Module 5: the analytics model — features, segments, churn and lifetime value with linfa,
//! recommendations, insights; trained and evaluated on the synthetic world, whose planted
//! mechanism makes quality measurable.
//!
//! | where | what |
//! |---|---|
//! | [`features`] | per-user features with Polars (lazy) from users, orders and events, cut at an observation date; labels from the days after it |
//! | [`churn`] | seeded train/test split, scaler, logistic regression (Newton–Cholesky, checked against linfa-logistic), accuracy / precision / recall / AUC / confusion matrix / ROC / calibration, the original heuristic as baseline |
//! | [`value`] | 12-month lifetime value by linear regression (linfa-linear) against the planted truth, MAE / RMSE, the original estimate as baseline; days to next purchase |
//! | [`segments`] | DORMANT / VIP / AT_RISK / ACTIVE with documented thresholds; per-segment profiles and insight sentences |
//! | [`recommend`] | co-purchase ("bought X, also bought Y") plus segment popularity, relevance scores, hit rate on later purchases |
//! | [`scaling`] | how the feature pipeline, the churn fit and the scoring grow with the number of users (log-log slope) |
//! | [`manager`] | (features `cache`, `sql`, `mongo`, `queue`) the model manager with predictions cached in Redis, and the integrated request flow with per-step timings |
//! | this file | [`Study`]: the whole lesson in one call — load → features → split → fit → evaluate |

pub mod churn;
pub mod features;
#[cfg(all(feature = "cache", feature = "sql", feature = "mongo", feature = "queue"))]
pub mod manager;
pub mod recommend;
pub mod scaling;
pub mod segments;
pub mod value;

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;

pub use features::{Tables, Window};
pub use segments::{Segment, SegmentRules};

use crate::data::World;
use crate::display::column_f64;
use crate::error::Result;
use crate::frame_row;

/// Settings of a [`Study`]. Defaults: 90-day horizon, 30 % test split, seed 7, VIP from the
/// 95th percentile of spend, 5 recommendations.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct StudyConfig {
    /// Days after the cutoff the labels look at (default 90).
    pub horizon_days: i64,
    /// Share of users held out for testing (default 0.3).
    pub test_share: f64,
    /// Seed of the split (default 7).
    pub seed: u64,
    /// Spend quantile from which a user is VIP (default 0.95).
    pub vip_quantile: f64,
    /// Recommendations per user (default 5).
    pub k: usize,
}

impl Default for StudyConfig {
    fn default() -> Self {
        StudyConfig { horizon_days: 90, test_share: 0.3, seed: 7, vip_quantile: 0.95, k: 5 }
    }
}

/// How long each step of the study took.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepTime {
    /// The step.
    pub step: String,
    /// Milliseconds.
    pub ms: f64,
}
frame_row!(StepTime { step, ms });

/// One user's scores, for the per-user table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UserScore {
    /// The user.
    pub user_id: i64,
    /// Their segment.
    pub segment: String,
    /// Predicted churn probability.
    pub churn_probability: f64,
    /// Predicted 12-month value.
    pub predicted_ltv: f64,
    /// Planted 12-month value.
    pub true_ltv: f64,
    /// Estimated days to the next purchase (NaN without orders).
    pub next_purchase_days: f64,
    /// Whether they churned in the horizon.
    pub churned: bool,
    /// Whether they were in the test split.
    pub test: bool,
}
frame_row!(UserScore { user_id, segment, churn_probability, predicted_ltv, true_ltv, next_purchase_days, churned, test });

/// Everything the lesson measures, as plain data.
#[derive(Clone, Debug)]
pub struct Study {
    /// The features frame (one row per user).
    pub features: polars::prelude::DataFrame,
    /// Churn: the model and the baseline on the test split.
    pub churn: Vec<churn::Evaluation>,
    /// ROC curves on the test split: (name, points).
    pub roc: Vec<(String, Vec<(f64, f64)>)>,
    /// Calibration of the model on the test split.
    pub calibration: Vec<churn::CalibrationBin>,
    /// The model's feature weights.
    pub weights: Vec<churn::Weight>,
    /// The churn model's version.
    pub model_version: String,
    /// LTV on the test split: the regression (trained on observed spend) and the baseline,
    /// against the planted truth (rows 0, 1) and against the observed spend (rows 2, 3).
    pub ltv: Vec<value::RegressionScore>,
    /// Days to next purchase against what happened.
    pub next_purchase: value::RegressionScore,
    /// The thresholds used.
    pub rules: SegmentRules,
    /// Per-segment profiles with insights.
    pub segments: Vec<segments::SegmentProfile>,
    /// Hit rates of the recommender and the baseline.
    pub hit_rates: Vec<recommend::HitRate>,
    /// Per-user scores.
    pub users: Vec<UserScore>,
    /// Timings.
    pub timings: Vec<StepTime>,
    /// Users in the tables that the world does not know (left out: no planted truth).
    pub users_not_in_world: usize,
}

impl Study {
    /// Runs the lesson on a world: features from its tables, churn and LTV models, segments,
    /// recommendations, each scored on the held-out users or the later purchases.
    pub fn run(world: &World, config: StudyConfig) -> Result<Study> {
        let tables = Tables::from_world(world)?;
        Study::run_on(world, &tables, config)
    }

    /// As [`Study::run`], with the tables given (e.g. loaded from the services); the world
    /// supplies only the planted truth that LTV is scored against. Users the world does not
    /// know (added by hand in earlier lessons) have no truth and are left out, and counted.
    pub fn run_on(world: &World, tables: &Tables, config: StudyConfig) -> Result<Study> {
        use polars::prelude::{IntoLazy, col, lit};
        let tables = &tables.fresh()?;
        let known = world.users.len() as i64;
        let users = tables.users.clone().lazy().filter(col("id").gt_eq(lit(1i64)).and(col("id").lt_eq(lit(known)))).collect()?;
        let users_not_in_world = tables.users.height() - users.height();
        let tables = &Tables { users, orders: tables.orders.clone(), events: tables.events.clone() };
        let mut timings = Vec::new();
        let mut clock = Instant::now();
        let mut lap = |step: &str, timings: &mut Vec<StepTime>| {
            timings.push(StepTime { step: step.into(), ms: clock.elapsed().as_secs_f64() * 1e3 });
            clock = Instant::now();
        };
        let window = Window::before_as_of(world, config.horizon_days);
        let df = features::user_features(tables, window)?;
        let x = features::matrix(&df)?;
        let ids: Vec<i64> = column_f64(&df, "user_id")?.iter().map(|v| *v as i64).collect();
        let churned: Vec<bool> = column_f64(&df, "churned")?.iter().map(|v| *v > 0.5).collect();
        let recency = column_f64(&df, "recency_days")?;
        let spend = column_f64(&df, "monetary")?;
        lap("features (Polars, lazy)", &mut timings);

        let split = churn::split(ids.len(), config.test_share, config.seed)?;
        let pick = |v: &[bool], rows: &[usize]| rows.iter().map(|i| v[*i]).collect::<Vec<_>>();
        let pickf = |v: &[f64], rows: &[usize]| rows.iter().map(|i| v[*i]).collect::<Vec<_>>();
        let model = churn::ChurnModel::fit(&churn::take_rows(&x, &split.train), &pick(&churned, &split.train), config.seed)?;
        lap("fit churn model (Newton–Cholesky)", &mut timings);
        let p_all = model.predict_proba(&x);
        let (p_test, y_test) = (pickf(&p_all, &split.test), pick(&churned, &split.test));
        let base_test = churn::baseline_proba(&pickf(&recency, &split.test));
        let churn_eval = vec![churn::evaluate("logistic regression", &p_test, &y_test, 0.5), churn::evaluate("recency heuristic (original)", &base_test, &y_test, 0.5)];
        let roc = vec![("logistic regression".to_string(), churn::roc(&p_test, &y_test)), ("recency heuristic".to_string(), churn::roc(&base_test, &y_test))];
        let calibration = churn::calibration(&p_test, &y_test, 10);
        lap("score churn", &mut timings);

        // Trained on what a system can observe; scored against that and the planted truth.
        let truth = value::ltv_truth(world, &ids, window.cutoff)?;
        let observed = value::observed_ltv(&column_f64(&df, "future_spend")?, window.horizon_days);
        let ltv_model = value::LtvModel::fit(&churn::take_rows(&x, &split.train), &pickf(&observed, &split.train))?;
        let ltv_all = ltv_model.predict(&x);
        let base_ltv = value::ltv_baseline(&column_f64(&df, "avg_order_value")?, &column_f64(&df, "frequency")?, &column_f64(&df, "tenure_days")?);
        let (t_test, o_test) = (pickf(&truth, &split.test), pickf(&observed, &split.test));
        let (model_test, base_test) = (pickf(&ltv_all, &split.test), pickf(&base_ltv, &split.test));
        let ltv = vec![
            value::score("linear regression vs planted truth", &model_test, &t_test),
            value::score("spend rate × 12 (original) vs planted truth", &base_test, &t_test),
            value::score("linear regression vs observed spend", &model_test, &o_test),
            value::score("spend rate × 12 (original) vs observed spend", &base_test, &o_test),
        ];
        let next = value::next_purchase_days(&column_f64(&df, "days_between_orders")?, &recency, &column_f64(&df, "frequency")?);
        let next_col = df.column("days_to_next_order")?.cast(&polars::prelude::DataType::Float64)?;
        let next_ca = next_col.f64()?;
        let actual_next: Vec<f64> = (0..next_ca.len()).map(|i| next_ca.get(i).unwrap_or(f64::NAN)).collect();
        let next_purchase = value::score("days to next purchase (gap − recency)", &next, &actual_next);
        lap("fit and score LTV (linfa-linear)", &mut timings);

        let rules = SegmentRules::from_spend(&spend, config.vip_quantile);
        let segs: Vec<Segment> = (0..ids.len()).map(|i| rules.assign(recency[i], spend[i], p_all[i])).collect();
        let profiles = segments::profiles(&segs, &spend, &p_all, &churned, &ltv_all);
        let segment_of: HashMap<i64, Segment> = ids.iter().copied().zip(segs.iter().copied()).collect();
        lap("segments and insights", &mut timings);

        let (before, after) = purchases_around(tables, window)?;
        let rec = recommend::Recommender::fit(&before, &segment_of);
        let hit_rates = recommend::hit_rates(&rec, &after, &segment_of, config.k);
        lap("recommendations and hit rate", &mut timings);

        let test_rows: std::collections::HashSet<usize> = split.test.iter().copied().collect();
        let users = (0..ids.len())
            .map(|i| UserScore {
                user_id: ids[i],
                segment: segs[i].as_str().into(),
                churn_probability: p_all[i],
                predicted_ltv: ltv_all[i],
                true_ltv: truth[i],
                next_purchase_days: next[i],
                churned: churned[i],
                test: test_rows.contains(&i),
            })
            .collect();
        Ok(Study {
            features: df,
            churn: churn_eval,
            roc,
            calibration,
            weights: model.weights(),
            model_version: model.version.clone(),
            ltv,
            next_purchase,
            rules,
            segments: profiles,
            hit_rates,
            users,
            timings,
            users_not_in_world,
        })
    }
}

/// Completed purchases `(user_id, product_id)` up to the cutoff, and within the horizon after.
pub fn purchases_around(tables: &Tables, window: Window) -> Result<(Vec<(i64, i64)>, Vec<(i64, i64)>)> {
    use polars::prelude::*;
    let cutoff = window.cutoff.and_utc().timestamp_millis();
    let end = (window.cutoff + chrono::TimeDelta::days(window.horizon_days)).and_utc().timestamp_millis();
    let df = features::fresh(&tables.orders)?
        .lazy()
        .filter(col("status").eq(lit("completed")))
        .select([col("user_id").cast(DataType::Int64), col("product_id").cast(DataType::Int64), col("ordered_at").dt().timestamp(TimeUnit::Milliseconds).alias("t")])
        .collect()?;
    let (u, p, t) = (df.column("user_id")?.i64()?, df.column("product_id")?.i64()?, df.column("t")?.i64()?);
    let (mut before, mut after) = (Vec::new(), Vec::new());
    for i in 0..df.height() {
        if let (Some(u), Some(p), Some(t)) = (u.get(i), p.get(i), t.get(i)) {
            if t <= cutoff {
                before.push((u, p));
            } else if t <= end {
                after.push((u, p));
            }
        }
    }
    Ok((before, after))
}

/// The notebook's service-bound futures must be `Send` ([`crate::run`] needs it). This only
/// has to compile.
#[cfg(all(feature = "cache", feature = "sql", feature = "mongo", feature = "queue"))]
#[allow(dead_code)]
fn lesson_futures_are_send(s: &crate::config::Settings, m: &manager::ModelManager, w: &crate::data::WorldConfig) {
    fn send<T: Send>(_: T) {}
    send(manager::demo(s, m, w, 1));
}
