//! Analytics in SQL: where users are, how registration cohorts behave, who spends most.

use chrono::{Duration, NaiveDateTime};

use super::{Db, on_pool};
use crate::error::Result;
use crate::frame_row;

/// Users per country with their share of all users.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct CountryShare {
    /// Country name.
    pub country: String,
    /// ISO code.
    pub code: String,
    /// Users living there.
    pub users: i64,
    /// Percentage of all users with an address.
    pub share_pct: f64,
}
frame_row!(CountryShare { country, code, users, share_pct });

/// The user distribution by country, most users first (a window function computes the
/// share in the same statement).
pub async fn distribution_by_country(db: &Db) -> Result<Vec<CountryShare>> {
    const SQL: &str = r#"
        SELECT co.name AS country, co.code, COUNT(u.id) AS users,
               CAST(100.0 * COUNT(u.id) / SUM(COUNT(u.id)) OVER () AS DOUBLE PRECISION) AS share_pct
        FROM users u
        JOIN addresses a ON a.id = u.address_id
        JOIN cities ci ON ci.id = a.city_id
        JOIN countries co ON co.id = ci.country_id
        GROUP BY co.id, co.name, co.code
        ORDER BY users DESC, country"#;
    on_pool!(db, |p| sqlx::query_as(SQL).fetch_all(p).await)
}

/// One registration cohort (the month users signed up in) and how it is doing.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct Cohort {
    /// `YYYY-MM` of registration.
    pub cohort: String,
    /// Users who registered that month.
    pub users: i64,
    /// Mean profile score.
    pub avg_profile_score: f64,
    /// Mean logins per user.
    pub avg_logins: f64,
    /// Users active within the window before `as_of`.
    pub active: i64,
    /// `active` as a percentage of `users`: the cohort's retention.
    pub active_pct: f64,
    /// Completed orders.
    pub orders: i64,
    /// Revenue of completed orders.
    pub revenue: f64,
    /// Revenue per registered user.
    pub revenue_per_user: f64,
}
frame_row!(Cohort { cohort, users, avg_profile_score, avg_logins, active, active_pct, orders, revenue, revenue_per_user });

/// The latest `last_active_at` of any user: "now" for data that stops at a fixed date.
pub async fn latest_activity(db: &Db) -> Result<Option<NaiveDateTime>> {
    on_pool!(db, |p| sqlx::query_scalar("SELECT MAX(last_active_at) FROM users").fetch_one(p).await)
}

/// Metrics per registration month, oldest first. A user counts as active when their last
/// activity is within `active_days` before `as_of` (`None`: the latest activity in the
/// data, see [`latest_activity`]).
pub async fn cohorts(db: &Db, as_of: Option<NaiveDateTime>, active_days: i64) -> Result<Vec<Cohort>> {
    const SQL: &str = r#"
        SELECT substr(CAST(u.registered_at AS TEXT), 1, 7) AS cohort,
               COUNT(*) AS users,
               CAST(AVG(u.profile_score) AS DOUBLE PRECISION) AS avg_profile_score,
               CAST(AVG(u.login_count) AS DOUBLE PRECISION) AS avg_logins,
               CAST(SUM(CASE WHEN u.last_active_at >= $1 THEN 1 ELSE 0 END) AS BIGINT) AS active,
               CAST(100.0 * SUM(CASE WHEN u.last_active_at >= $1 THEN 1 ELSE 0 END) / COUNT(*) AS DOUBLE PRECISION) AS active_pct,
               CAST(COALESCE(SUM(o.orders), 0) AS BIGINT) AS orders,
               CAST(COALESCE(SUM(o.revenue), 0) AS DOUBLE PRECISION) AS revenue,
               CAST(COALESCE(SUM(o.revenue), 0) / COUNT(*) AS DOUBLE PRECISION) AS revenue_per_user
        FROM users u
        LEFT JOIN (
            SELECT user_id, COUNT(*) AS orders, SUM(total) AS revenue
            FROM orders WHERE status = 'completed' GROUP BY user_id
        ) o ON o.user_id = u.id
        GROUP BY cohort
        ORDER BY cohort"#;
    let as_of = match as_of {
        Some(t) => t,
        None => match latest_activity(db).await? {
            Some(t) => t,
            None => return Ok(Vec::new()),
        },
    };
    let since = as_of - Duration::days(active_days);
    on_pool!(db, |p| sqlx::query_as(SQL).bind(since).fetch_all(p).await)
}

/// A user whose completed orders add up to a lot.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct HighValueUser {
    /// User id.
    pub user_id: i64,
    /// Login name.
    pub username: String,
    /// Where they live (none without an address).
    pub country: Option<String>,
    /// Completed orders.
    pub orders: i64,
    /// Their total.
    pub revenue: f64,
    /// Mean order total.
    pub avg_order: f64,
    /// The latest order.
    pub last_order_at: NaiveDateTime,
}
frame_row!(HighValueUser { user_id, username, country, orders, revenue, avg_order, last_order_at });

/// Users whose completed orders total at least `min_revenue`, biggest spenders first, at
/// most `limit` of them.
pub async fn high_value_users(db: &Db, min_revenue: f64, limit: usize) -> Result<Vec<HighValueUser>> {
    const SQL: &str = r#"
        SELECT u.id AS user_id, u.username, co.name AS country,
               COUNT(o.id) AS orders,
               CAST(SUM(o.total) AS DOUBLE PRECISION) AS revenue,
               CAST(AVG(o.total) AS DOUBLE PRECISION) AS avg_order,
               MAX(o.ordered_at) AS last_order_at
        FROM users u
        JOIN orders o ON o.user_id = u.id AND o.status = 'completed'
        LEFT JOIN addresses a ON a.id = u.address_id
        LEFT JOIN cities ci ON ci.id = a.city_id
        LEFT JOIN countries co ON co.id = ci.country_id
        GROUP BY u.id, u.username, co.name
        HAVING SUM(o.total) >= $1
        ORDER BY revenue DESC, u.id
        LIMIT $2"#;
    on_pool!(db, |p| sqlx::query_as(SQL).bind(min_revenue).bind(limit as i64).fetch_all(p).await)
}

/// Completed orders and revenue of one calendar day.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct DailyRevenue {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Completed orders that day.
    pub orders: i64,
    /// Their revenue.
    pub revenue: f64,
}
frame_row!(DailyRevenue { day, orders, revenue });

/// Completed orders and revenue per day for the `days` days up to and including `last_day`
/// (`YYYY-MM-DD`), oldest first; days without orders are left out.
pub async fn daily_revenue(db: &Db, last_day: chrono::NaiveDate, days: i64) -> Result<Vec<DailyRevenue>> {
    const SQL: &str = r#"
        SELECT substr(CAST(ordered_at AS TEXT), 1, 10) AS day,
               COUNT(*) AS orders,
               CAST(SUM(total) AS DOUBLE PRECISION) AS revenue
        FROM orders
        WHERE status = 'completed' AND ordered_at >= $1 AND ordered_at < $2
        GROUP BY day
        ORDER BY day"#;
    let end = (last_day + Duration::days(1)).and_hms_opt(0, 0, 0).expect("midnight exists");
    let start = end - Duration::days(days);
    on_pool!(db, |p| sqlx::query_as(SQL).bind(start).bind(end).fetch_all(p).await)
}

/// A product suggested to a user, with how many of their compatriots bought it.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct ProductPick {
    /// Product id.
    pub product_id: i64,
    /// Name.
    pub name: String,
    /// Category.
    pub category: String,
    /// Completed orders of it by users in the same country.
    pub buyers: i64,
}
frame_row!(ProductPick { product_id, name, category, buyers });

/// The products most bought (completed orders) by users living in the same country as
/// `user_id`, excluding what the user bought already: a simple, popular-nearby recommender.
/// Where the compatriots bought fewer than `limit` products (a country without orders yet),
/// the most bought products overall fill the list (their `buyers`, compatriots only, is 0): a
/// new user always gets recommendations.
pub async fn popular_in_users_country(db: &Db, user_id: i64, limit: usize) -> Result<Vec<ProductPick>> {
    const SQL: &str = r#"
        WITH home AS (
            SELECT ci.country_id FROM users u
            JOIN addresses a ON a.id = u.address_id
            JOIN cities ci ON ci.id = a.city_id
            WHERE u.id = $1
        )
        SELECT p.id AS product_id, p.name, p.category,
               CAST(SUM(CASE WHEN ci.country_id = (SELECT country_id FROM home) THEN 1 ELSE 0 END) AS BIGINT) AS buyers
        FROM orders o
        JOIN products p ON p.id = o.product_id
        JOIN users u ON u.id = o.user_id
        JOIN addresses a ON a.id = u.address_id
        JOIN cities ci ON ci.id = a.city_id
        WHERE o.status = 'completed'
          AND p.id NOT IN (SELECT product_id FROM orders WHERE user_id = $1)
        GROUP BY p.id, p.name, p.category
        ORDER BY buyers DESC, COUNT(*) DESC, p.id
        LIMIT $2"#;
    on_pool!(db, |p| sqlx::query_as(SQL).bind(user_id).bind(limit as i64).fetch_all(p).await)
}

/// The products of `category` with the most completed orders since `since`, most first: the
/// original's "trending items" (an aggregate over every order of the category — the kind of
/// answer worth caching for a few minutes).
pub async fn trending_in_category(db: &Db, category: &str, since: NaiveDateTime, limit: usize) -> Result<Vec<ProductPick>> {
    const SQL: &str = r#"
        SELECT p.id AS product_id, p.name, p.category, COUNT(*) AS buyers
        FROM orders o
        JOIN products p ON p.id = o.product_id
        WHERE p.category = $1 AND o.status = 'completed' AND o.ordered_at >= $2
        GROUP BY p.id, p.name, p.category
        ORDER BY buyers DESC, p.id
        LIMIT $3"#;
    on_pool!(db, |p| sqlx::query_as(SQL).bind(category).bind(since).bind(limit as i64).fetch_all(p).await)
}

/// One product with its sales: what a product page shows.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct ProductDetails {
    /// Product id.
    pub product_id: i64,
    /// Name.
    pub name: String,
    /// Category.
    pub category: String,
    /// List price.
    pub price: f64,
    /// Completed orders of it.
    pub orders: i64,
    /// Revenue of those orders.
    pub revenue: f64,
}
frame_row!(ProductDetails { product_id, name, category, price, orders, revenue });

/// Product `id` with its completed orders and revenue, if it exists: the original's "product
/// details".
pub async fn product_details(db: &Db, id: i64) -> Result<Option<ProductDetails>> {
    const SQL: &str = r#"
        SELECT p.id AS product_id, p.name, p.category, p.price,
               COUNT(o.id) AS orders, CAST(COALESCE(SUM(o.total), 0) AS DOUBLE PRECISION) AS revenue
        FROM products p
        LEFT JOIN orders o ON o.product_id = p.id AND o.status = 'completed'
        WHERE p.id = $1
        GROUP BY p.id, p.name, p.category, p.price"#;
    on_pool!(db, |p| sqlx::query_as(SQL).bind(id).fetch_optional(p).await)
}
