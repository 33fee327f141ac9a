//! Per-user features with Polars (lazy), from three tables: users, orders and events.
//!
//! The observation is cut at `cutoff`: features use only what happened up to it, and the
//! labels come from the `horizon` days after it, so a model is judged on a future it did not
//! see. With the world's defaults the cutoff is 90 days before `as_of`.
//!
//! | column | meaning |
//! |---|---|
//! | `recency_days` | days from the last event to the cutoff (tenure when there was none) |
//! | `frequency` | completed orders before the cutoff |
//! | `monetary` | their total spend |
//! | `avg_order_value` | `monetary / frequency` (0 without orders) |
//! | `engagement` | weighted events per 30 days of tenure: login 1, view 0.5, cart 2, purchase 3; capped at 10 |
//! | `events_90d` | events in the 90 days before the cutoff |
//! | `tenure_days` | days from sign-up to the cutoff |
//! | `verified` | 1 when the e-mail address is verified |
//! | `days_between_orders` | mean gap between orders (tenure when fewer than two) |
//! | `churned` (label) | 1 when the user had no event in the horizon |
//! | `future_spend` (label) | completed spend in the horizon |
//! | `days_to_next_order` (label) | days from the cutoff to the next order, null without one |

use chrono::{NaiveDateTime, TimeDelta};
use polars::prelude::*;

use crate::data::World;
use crate::error::{Error, Result};

/// The three tables features are made from, with the columns they need:
/// users `id, registered_at, verified`; orders `user_id, product_id, total, ordered_at,
/// status`; events `user_id, kind, at`.
#[derive(Clone, Debug)]
pub struct Tables {
    /// Users.
    pub users: DataFrame,
    /// Orders.
    pub orders: DataFrame,
    /// Events.
    pub events: DataFrame,
}

/// A copy of `df` whose schema is rebuilt by this copy of Polars.
///
/// evcxr compiles every notebook cell into its own library with its own copy of Polars, and a
/// frame remembers the schema (a hash map) the copy that built it made; looked up by a later
/// cell's copy, whose hashing is seeded differently, a column that is there is "not found".
/// Rebuilding the frame from its columns (cheap: they are shared, not copied) avoids that, so
/// every entry point here starts with it.
pub fn fresh(df: &DataFrame) -> Result<DataFrame> {
    Ok(DataFrame::new_infer_height(df.columns().to_vec())?)
}

impl Tables {
    /// The same tables, rebuilt by this copy of Polars (see [`fresh`]).
    pub fn fresh(&self) -> Result<Tables> {
        Ok(Tables { users: fresh(&self.users)?, orders: fresh(&self.orders)?, events: fresh(&self.events)? })
    }

    /// The same tables without the users `world` does not know (ids past its last user, which
    /// earlier lessons' demos added), and how many were left out: only the world's users have
    /// a planted truth to score against.
    pub fn known_to(&self, world: &World) -> Result<(Tables, usize)> {
        let fresh = self.fresh()?;
        let known = world.users.len() as i64;
        let users = fresh.users.clone().lazy().filter(col("id").gt_eq(lit(1i64)).and(col("id").lt_eq(lit(known)))).collect()?;
        let left_out = fresh.users.height() - users.height();
        Ok((Tables { users, orders: fresh.orders, events: fresh.events }, left_out))
    }

    /// The tables of a generated world.
    pub fn from_world(world: &World) -> Result<Tables> {
        Ok(Tables { users: world.users_frame()?, orders: world.orders_frame()?, events: world.events_frame()? })
    }
}

/// Where the observation is cut and how far the labels look ahead.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    /// Features use what happened up to here.
    pub cutoff: NaiveDateTime,
    /// Labels use the days after the cutoff up to `cutoff + horizon_days`.
    pub horizon_days: i64,
}

impl Window {
    /// Cut `horizon_days` before the world's `as_of` (its "today"), labels up to `as_of`.
    pub fn before_as_of(world: &World, horizon_days: i64) -> Window {
        let end = world.config.as_of.and_hms_opt(23, 59, 59).expect("valid time");
        Window { cutoff: end - TimeDelta::days(horizon_days), horizon_days }
    }
}

/// The feature columns the models use, in order.
pub const FEATURES: [&str; 9] =
    ["recency_days", "frequency", "monetary", "avg_order_value", "engagement", "events_90d", "tenure_days", "verified", "days_between_orders"];

fn ms(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_millis()
}

const DAY_MS: f64 = 86_400_000.0;

fn epoch_ms(name: &str) -> Expr {
    col(name).dt().timestamp(TimeUnit::Milliseconds)
}

/// One row per user registered before the cutoff: `user_id`, the [`FEATURES`] and the labels
/// (see the module docs). Lazy all the way; collected once.
pub fn user_features(tables: &Tables, window: Window) -> Result<DataFrame> {
    let tables = &tables.fresh()?;
    let cutoff = ms(window.cutoff);
    let end = ms(window.cutoff + TimeDelta::days(window.horizon_days));
    let check = |df: &DataFrame, table: &str, cols: &[&str]| -> Result<()> {
        for c in cols {
            if df.column(c).is_err() {
                return Err(Error::NotFound(format!("the {table} table has no `{c}` column (it needs {})", cols.join(", "))));
            }
        }
        Ok(())
    };
    check(&tables.users, "users", &["id", "registered_at", "verified"])?;
    check(&tables.orders, "orders", &["user_id", "total", "ordered_at", "status"])?;
    check(&tables.events, "events", &["user_id", "kind", "at"])?;

    let events = tables.events.clone().lazy().select([col("user_id"), col("kind"), epoch_ms("at").alias("t")]);
    let weight = when(col("kind").eq(lit("login")))
        .then(lit(1.0))
        .when(col("kind").eq(lit("view")))
        .then(lit(0.5))
        .when(col("kind").eq(lit("cart")))
        .then(lit(2.0))
        .otherwise(lit(3.0));
    let before = events
        .clone()
        .filter(col("t").lt_eq(lit(cutoff)))
        .group_by([col("user_id")])
        .agg([
            col("t").max().alias("last_event_t"),
            weight.sum().alias("weighted_events"),
            col("t").gt(lit(cutoff - 90 * DAY_MS as i64)).cast(DataType::Int64).sum().alias("events_90d"),
        ]);
    let after = events
        .filter(col("t").gt(lit(cutoff)).and(col("t").lt_eq(lit(end))))
        .group_by([col("user_id")])
        .agg([len().cast(DataType::Int64).alias("events_after")]);

    let orders = tables
        .orders
        .clone()
        .lazy()
        .filter(col("status").eq(lit("completed")))
        .select([col("user_id"), col("total"), epoch_ms("ordered_at").alias("t")]);
    let orders_before = orders
        .clone()
        .filter(col("t").lt_eq(lit(cutoff)))
        .group_by([col("user_id")])
        .agg([
            len().cast(DataType::Int64).alias("frequency"),
            col("total").sum().alias("monetary"),
            col("t").min().alias("first_order_t"),
            col("t").max().alias("last_order_t"),
        ]);
    let orders_after = orders
        .filter(col("t").gt(lit(cutoff)).and(col("t").lt_eq(lit(end))))
        .group_by([col("user_id")])
        .agg([col("total").sum().alias("future_spend"), col("t").min().alias("next_order_t")]);

    let users = tables
        .users
        .clone()
        .lazy()
        .select([col("id").alias("user_id"), epoch_ms("registered_at").alias("registered_t"), col("verified").cast(DataType::Float64).alias("verified")])
        .filter(col("registered_t").lt_eq(lit(cutoff)));

    let tenure = ((lit(cutoff) - col("registered_t")).cast(DataType::Float64) / lit(DAY_MS)).alias("tenure_days");
    let df = users
        .left_join(before, col("user_id"), col("user_id"))
        .left_join(after, col("user_id"), col("user_id"))
        .left_join(orders_before, col("user_id"), col("user_id"))
        .left_join(orders_after, col("user_id"), col("user_id"))
        .with_column(tenure)
        .with_columns([
            ((lit(cutoff) - col("last_event_t")).cast(DataType::Float64) / lit(DAY_MS)).fill_null(col("tenure_days")).alias("recency_days"),
            col("frequency").fill_null(lit(0i64)).cast(DataType::Float64).alias("frequency"),
            col("monetary").fill_null(lit(0.0)).alias("monetary"),
            (col("weighted_events").fill_null(lit(0.0)) / (col("tenure_days") / lit(30.0)).clip_min(lit(1.0))).clip_max(lit(10.0)).alias("engagement"),
            col("events_90d").fill_null(lit(0i64)).cast(DataType::Float64).alias("events_90d"),
            col("events_after").fill_null(lit(0i64)).eq(lit(0i64)).cast(DataType::Float64).alias("churned"),
            col("future_spend").fill_null(lit(0.0)).alias("future_spend"),
            ((col("next_order_t") - lit(cutoff)).cast(DataType::Float64) / lit(DAY_MS)).alias("days_to_next_order"),
        ])
        .with_columns([
            when(col("frequency").gt(lit(0.0))).then(col("monetary") / col("frequency")).otherwise(lit(0.0)).alias("avg_order_value"),
            when(col("frequency").gt(lit(1.0)))
                .then((col("last_order_t") - col("first_order_t")).cast(DataType::Float64) / lit(DAY_MS) / (col("frequency") - lit(1.0)))
                .otherwise(col("tenure_days"))
                .alias("days_between_orders"),
        ])
        .select([
            col("user_id"),
            col("recency_days"),
            col("frequency"),
            col("monetary"),
            col("avg_order_value"),
            col("engagement"),
            col("events_90d"),
            col("tenure_days"),
            col("verified"),
            col("days_between_orders"),
            col("churned"),
            col("future_spend"),
            col("days_to_next_order"),
        ])
        .sort(["user_id"], Default::default())
        .collect()?;
    Ok(df)
}

/// The population at a glance: mean recency, orders, spend, engagement, the largest spend
/// and the churn rate of a features frame.
pub fn summary(df: &DataFrame) -> Result<DataFrame> {
    Ok(fresh(df)?
        .lazy()
        .select([
            col("recency_days").mean().alias("recency_days (mean)"),
            col("frequency").mean().alias("orders (mean)"),
            col("monetary").mean().alias("spend (mean)"),
            col("monetary").max().alias("spend (max)"),
            col("engagement").mean().alias("engagement (mean)"),
            col("churned").mean().alias("churn rate"),
        ])
        .collect()?)
}

/// The feature matrix (rows = users, columns = [`FEATURES`]) of a features frame.
pub fn matrix(df: &DataFrame) -> Result<ndarray::Array2<f64>> {
    let columns: Vec<Vec<f64>> = FEATURES.iter().map(|c| crate::display::column_f64(df, c)).collect::<Result<_>>()?;
    let rows = df.height();
    Ok(ndarray::Array2::from_shape_fn((rows, FEATURES.len()), |(r, c)| columns[c][r]))
}
