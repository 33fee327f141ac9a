//! Every aggregation pipeline of the lesson as a small named function built with `doc!`.
//!
//! A [`Pipeline`] carries its stages, the collection it runs on, and the SQL that computes
//! the same thing over the tables of module 1, so the notebook can show them side by side.
//! [`events`](super::events) runs them into typed rows; [`export`](super::export) runs any
//! of them into a DataFrame.

use chrono::NaiveDateTime;
use bson::{Bson, Document, doc};

use super::docs::bson_date;
use super::schema;

/// An aggregation pipeline with its name, collection and SQL equivalent.
#[derive(Clone, Debug, PartialEq)]
pub struct Pipeline {
    /// Short name, used for figures and bench rows.
    pub name: &'static str,
    /// The collection it runs on.
    pub collection: &'static str,
    /// The stages, in order.
    pub stages: Vec<Document>,
    /// The same question in SQL over module 1's tables (`users`, `orders`, …; events would be
    /// an `events` table with the same fields).
    pub sql: &'static str,
}

impl Pipeline {
    /// The stages as pretty-printed (relaxed extended) JSON, as `mongosh` would take them.
    pub fn json(&self) -> String {
        let stages: Vec<serde_json::Value> = self.stages.iter().map(|d| Bson::Document(d.clone()).into_relaxed_extjson()).collect();
        serde_json::to_string_pretty(&stages).unwrap_or_default()
    }

    /// The pipeline and its SQL side by side, as an HTML table (for notebooks and slides).
    pub fn to_html(&self) -> String {
        use crate::display::escape;
        let pre = "style=\"margin:0;font-size:12px;line-height:1.3\"";
        let cell = "style=\"vertical-align:top;padding:4px 12px;border-right:1px solid #ddd;text-align:left\"";
        format!(
            "<table style=\"border-collapse:collapse;font-family:sans-serif;font-size:13px\"><caption style=\"text-align:left;font-weight:bold;padding:4px 0\">{name} on <code>{coll}</code></caption>\
             <thead><tr><th {cell}>MongoDB aggregation pipeline</th><th {cell}>The same in SQL</th></tr></thead>\
             <tbody><tr><td {cell}><pre {pre}>{json}</pre></td><td {cell}><pre {pre}>{sql}</pre></td></tr></tbody></table>",
            name = escape(self.name),
            coll = escape(self.collection),
            json = escape(&self.json()),
            sql = escape(self.sql),
        )
    }
}

impl crate::display::NotebookDisplay for Pipeline {
    fn evcxr_display(&self) {
        crate::display::emit("text/html", &self.to_html());
        crate::display::emit("text/plain", &format!("{} on {}:\n{}\n\nSQL:\n{}", self.name, self.collection, self.json(), self.sql));
    }
}

/// Events per type, most frequent first: `$group` + `$sort`.
pub fn event_distribution() -> Pipeline {
    Pipeline {
        name: "event_distribution",
        collection: schema::EVENTS,
        stages: vec![
            doc! { "$group": { "_id": "$event_type", "count": { "$sum": 1 } } },
            doc! { "$sort": { "count": -1, "_id": 1 } },
        ],
        sql: "SELECT event_type, COUNT(*) AS count\nFROM events\nGROUP BY event_type\nORDER BY count DESC, event_type;",
    }
}

/// The most active users in `[start, end)`: `$match` → `$group` → `$sort` → `$limit`.
pub fn user_activity(start: NaiveDateTime, end: NaiveDateTime, limit: i64) -> Pipeline {
    Pipeline {
        name: "user_activity",
        collection: schema::EVENTS,
        stages: vec![
            doc! { "$match": { "timestamp": { "$gte": bson_date(start), "$lt": bson_date(end) } } },
            doc! { "$group": {
                "_id": "$user_id",
                "events": { "$sum": 1 },
                "sessions": { "$addToSet": "$session_id" },
                "purchases": { "$sum": { "$cond": [{ "$eq": ["$event_type", "purchase"] }, 1, 0] } },
                "first": { "$min": "$timestamp" },
                "last": { "$max": "$timestamp" },
            } },
            doc! { "$project": { "events": 1, "sessions": { "$size": "$sessions" }, "purchases": 1, "first": 1, "last": 1 } },
            doc! { "$sort": { "events": -1, "_id": 1 } },
            doc! { "$limit": limit },
        ],
        sql: "SELECT user_id, COUNT(*) AS events, COUNT(DISTINCT session_id) AS sessions,\n       \
              SUM(CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END) AS purchases,\n       \
              MIN(timestamp) AS first, MAX(timestamp) AS last\nFROM events\nWHERE timestamp >= $1 AND timestamp < $2\n\
              GROUP BY user_id\nORDER BY events DESC, user_id\nLIMIT $3;",
    }
}

/// Purchases per category: count, units, revenue, average order value.
pub fn purchases_by_category() -> Pipeline {
    Pipeline {
        name: "purchases_by_category",
        collection: schema::EVENTS,
        stages: vec![
            doc! { "$match": { "event_type": "purchase" } },
            doc! { "$group": {
                "_id": "$metadata.category",
                "purchases": { "$sum": 1 },
                "units": { "$sum": "$metadata.quantity" },
                "revenue": { "$sum": "$metadata.price" },
                "average": { "$avg": "$metadata.price" },
                "buyers": { "$addToSet": "$user_id" },
            } },
            doc! { "$project": {
                "purchases": 1, "units": 1,
                "revenue": { "$round": ["$revenue", 2] },
                "average": { "$round": ["$average", 2] },
                "buyers": { "$size": "$buyers" },
            } },
            doc! { "$sort": { "revenue": -1 } },
        ],
        sql: "SELECT p.category, COUNT(*) AS purchases, SUM(o.quantity) AS units,\n       \
              ROUND(SUM(o.total), 2) AS revenue, ROUND(AVG(o.total), 2) AS average,\n       \
              COUNT(DISTINCT o.user_id) AS buyers\nFROM orders o JOIN products p ON p.id = o.product_id\n\
              GROUP BY p.category\nORDER BY revenue DESC;",
    }
}

/// Events within `max_meters` of a point, nearest first, with their distance: `$geoNear`
/// (it must be the first stage and uses the 2dsphere index).
pub fn events_near(lon: f64, lat: f64, max_meters: f64, limit: i64) -> Pipeline {
    Pipeline {
        name: "events_near",
        collection: schema::EVENTS,
        stages: vec![
            doc! { "$geoNear": {
                "near": { "type": "Point", "coordinates": [lon, lat] },
                "distanceField": "distance_m",
                "maxDistance": max_meters,
                "spherical": true,
                "key": "geo.location",
            } },
            doc! { "$limit": limit },
            doc! { "$project": {
                "_id": 0, "user_id": 1, "event_type": 1, "timestamp": 1,
                "city": "$geo.city", "country": "$geo.country",
                "lon": { "$arrayElemAt": ["$geo.location.coordinates", 0] },
                "lat": { "$arrayElemAt": ["$geo.location.coordinates", 1] },
                "distance_m": { "$round": ["$distance_m", 1] },
            } },
        ],
        sql: "-- PostGIS:\nSELECT user_id, event_type, timestamp, city, country, ST_X(location::geometry) AS lon, ST_Y(location::geometry) AS lat,\n       \
              ST_Distance(location, ST_MakePoint($1, $2)::geography) AS distance_m\nFROM events\n\
              WHERE ST_DWithin(location, ST_MakePoint($1, $2)::geography, $3)\nORDER BY distance_m\nLIMIT $4;",
    }
}

/// Monthly activity cohorts: users grouped by the month of their first event, counted in
/// every later month they were active. `$group` → `$unwind` → `$project` (`$dateTrunc`,
/// `$dateDiff`) → `$group` → `$sort`.
pub fn cohorts() -> Pipeline {
    Pipeline {
        name: "cohorts",
        collection: schema::EVENTS,
        stages: vec![
            doc! { "$group": {
                "_id": "$user_id",
                "first": { "$min": "$timestamp" },
                "months": { "$addToSet": { "$dateTrunc": { "date": "$timestamp", "unit": "month" } } },
            } },
            doc! { "$unwind": "$months" },
            doc! { "$project": {
                "cohort": { "$dateTrunc": { "date": "$first", "unit": "month" } },
                "month": "$months",
            } },
            doc! { "$project": {
                "cohort": 1,
                "age": { "$dateDiff": { "startDate": "$cohort", "endDate": "$month", "unit": "month" } },
            } },
            doc! { "$group": { "_id": { "cohort": "$cohort", "age": "$age" }, "users": { "$sum": 1 } } },
            doc! { "$sort": { "_id.cohort": 1, "_id.age": 1 } },
        ],
        sql: "WITH firsts AS (SELECT user_id, DATE_TRUNC('month', MIN(timestamp)) AS cohort FROM events GROUP BY user_id),\n     \
              active AS (SELECT DISTINCT user_id, DATE_TRUNC('month', timestamp) AS month FROM events)\n\
              SELECT f.cohort, (EXTRACT(YEAR FROM AGE(a.month, f.cohort)) * 12 + EXTRACT(MONTH FROM AGE(a.month, f.cohort))) AS age,\n       \
              COUNT(*) AS users\nFROM firsts f JOIN active a USING (user_id)\nGROUP BY 1, 2\nORDER BY 1, 2;",
    }
}

/// How many profiles share each interest: `$unwind` an array, then `$group`.
pub fn interest_counts() -> Pipeline {
    Pipeline {
        name: "interest_counts",
        collection: schema::USERS,
        stages: vec![
            doc! { "$unwind": "$profile.interests" },
            doc! { "$group": {
                "_id": "$profile.interests",
                "users": { "$sum": 1 },
                "engagement": { "$avg": "$metrics.engagement_score" },
            } },
            doc! { "$project": { "users": 1, "engagement": { "$round": ["$engagement", 2] } } },
            doc! { "$sort": { "users": -1, "_id": 1 } },
        ],
        sql: "SELECT i.interest, COUNT(*) AS users, ROUND(AVG(u.engagement_score), 2) AS engagement\n\
              FROM user_interests i JOIN users u ON u.id = i.user_id\nGROUP BY i.interest\nORDER BY users DESC, i.interest;",
    }
}

/// Every pipeline of the lesson (the bench times each).
pub fn all(start: NaiveDateTime, end: NaiveDateTime) -> Vec<Pipeline> {
    vec![
        event_distribution(),
        user_activity(start, end, 10),
        purchases_by_category(),
        events_near(13.405, 52.52, 10_000.0, 50),
        cohorts(),
        interest_counts(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geo_near_comes_first_and_every_pipeline_prints_as_json() {
        assert!(events_near(0.0, 0.0, 1.0, 1).stages[0].contains_key("$geoNear"));
        let t = NaiveDateTime::default();
        for p in all(t, t) {
            let json: serde_json::Value = serde_json::from_str(&p.json()).unwrap();
            assert_eq!(json.as_array().map(Vec::len), Some(p.stages.len()), "{}", p.name);
            assert!(p.sql.contains("SELECT"), "{}", p.name);
        }
    }
}
