//! The country repository: countries with their cities, and per-country statistics.

use polars::prelude::{Column, DataFrame};

use super::{Db, on_pool};
use crate::display::FrameRow;
use crate::error::Result;
use crate::frame_row;

/// A country and the names of its cities (eagerly loaded: one JOIN, grouped here).
#[derive(Clone, Debug, PartialEq)]
pub struct CountryWithCities {
    /// Country id.
    pub id: i64,
    /// ISO code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Continent.
    pub continent: String,
    /// City names, alphabetical.
    pub cities: Vec<String>,
}

impl FrameRow for CountryWithCities {
    /// Columns `code`, `name`, `continent`, `cities` (how many) and `city_names` (joined).
    fn frame(rows: &[Self]) -> Result<DataFrame> {
        Ok(DataFrame::new_infer_height(vec![
            Column::new("code".into(), rows.iter().map(|r| r.code.as_str()).collect::<Vec<_>>()),
            Column::new("name".into(), rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>()),
            Column::new("continent".into(), rows.iter().map(|r| r.continent.as_str()).collect::<Vec<_>>()),
            Column::new("cities".into(), rows.iter().map(|r| r.cities.len() as i64).collect::<Vec<_>>()),
            Column::new("city_names".into(), rows.iter().map(|r| r.cities.join(", ")).collect::<Vec<_>>()),
        ])?)
    }
}

#[derive(sqlx::FromRow)]
struct CountryCityRow {
    id: i64,
    code: String,
    name: String,
    continent: String,
    city: Option<String>,
}

/// Every country with its cities, by country name: one statement.
pub async fn with_cities(db: &Db) -> Result<Vec<CountryWithCities>> {
    const SQL: &str = r#"
        SELECT co.id, co.code, co.name, co.continent, ci.name AS city
        FROM countries co
        LEFT JOIN cities ci ON ci.country_id = co.id
        ORDER BY co.name, ci.name"#;
    let rows: Vec<CountryCityRow> = on_pool!(db, |p| sqlx::query_as(SQL).fetch_all(p).await)?;
    let mut out: Vec<CountryWithCities> = Vec::new();
    for r in rows {
        match out.last_mut() {
            Some(last) if last.id == r.id => last.cities.extend(r.city),
            _ => out.push(CountryWithCities { id: r.id, code: r.code, name: r.name, continent: r.continent, cities: r.city.into_iter().collect() }),
        }
    }
    Ok(out)
}

/// Users, verification, engagement and completed-order revenue of one country.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct CountryStats {
    /// Country name.
    pub country: String,
    /// ISO code.
    pub code: String,
    /// Continent.
    pub continent: String,
    /// Cities in the country.
    pub cities: i64,
    /// Users living there.
    pub users: i64,
    /// Of those, verified.
    pub verified: i64,
    /// Mean profile score (none without users).
    pub avg_profile_score: Option<f64>,
    /// Mean logins per user.
    pub avg_logins: Option<f64>,
    /// Completed orders of its users.
    pub orders: i64,
    /// Revenue of those orders.
    pub revenue: f64,
}
frame_row!(CountryStats { country, code, continent, cities, users, verified, avg_profile_score, avg_logins, orders, revenue });

/// One row per country (also those without users), most users first.
pub async fn statistics(db: &Db) -> Result<Vec<CountryStats>> {
    const SQL: &str = r#"
        SELECT co.name AS country, co.code, co.continent,
               (SELECT COUNT(*) FROM cities c2 WHERE c2.country_id = co.id) AS cities,
               COUNT(u.id) AS users,
               CAST(COALESCE(SUM(CASE WHEN u.verified THEN 1 ELSE 0 END), 0) AS BIGINT) AS verified,
               CAST(AVG(u.profile_score) AS DOUBLE PRECISION) AS avg_profile_score,
               CAST(AVG(u.login_count) AS DOUBLE PRECISION) AS avg_logins,
               CAST(COALESCE(SUM(o.orders), 0) AS BIGINT) AS orders,
               CAST(COALESCE(SUM(o.revenue), 0) AS DOUBLE PRECISION) AS revenue
        FROM countries co
        LEFT JOIN cities ci ON ci.country_id = co.id
        LEFT JOIN addresses a ON a.city_id = ci.id
        LEFT JOIN users u ON u.address_id = a.id
        LEFT JOIN (
            SELECT user_id, COUNT(*) AS orders, SUM(total) AS revenue
            FROM orders WHERE status = 'completed' GROUP BY user_id
        ) o ON o.user_id = u.id
        GROUP BY co.id, co.name, co.code, co.continent
        ORDER BY users DESC, country"#;
    on_pool!(db, |p| sqlx::query_as(SQL).fetch_all(p).await)
}
