//! Indexes made visible: `explain` of one query with its index and with a forced
//! collection scan (`hint: {$natural: 1}`), with the documents each examined.

use std::time::Instant;

use bson::{Bson, Document, doc};
use serde::Serialize;

use super::{Mongo, schema};
use crate::error::{Error, Result};

/// What the server did to answer one query.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExplainSummary {
    /// Which run this is (`with index`, `collection scan`).
    pub plan: String,
    /// The winning plan's stages, outermost first, e.g. `FETCH ← IXSCAN`.
    pub stages: String,
    /// The index used, if any.
    pub index: Option<String>,
    /// Index keys examined.
    pub keys_examined: i64,
    /// Documents examined.
    pub docs_examined: i64,
    /// Documents returned.
    pub returned: i64,
    /// The server's own execution time, ms.
    pub server_ms: i64,
    /// The whole `explain` round trip as this client measured it, ms.
    pub round_trip_ms: f64,
}
crate::frame_row!(ExplainSummary { plan, stages, index, keys_examined, docs_examined, returned, server_ms, round_trip_ms });

/// Which plan [`explain_find`] asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// The one the server chooses (an index when one fits).
    Chosen,
    /// A collection scan, forced with `hint: {$natural: 1}`.
    Scan,
}

/// Explains `find(filter)` on `collection` with `executionStats`, with the plan the server
/// chooses or a forced collection scan.
pub async fn explain_find(m: &Mongo, collection: &str, filter: Document, plan: Plan) -> Result<ExplainSummary> {
    let mut find = doc! { "find": collection, "filter": filter };
    if plan == Plan::Scan {
        find.insert("hint", doc! { "$natural": 1 });
    }
    let started = Instant::now();
    let out = m
        .database()
        .run_command(doc! { "explain": find, "verbosity": "executionStats" })
        .await
        .map_err(|e| m.error(e))?;
    let round_trip_ms = started.elapsed().as_secs_f64() * 1e3;
    let winning = out
        .get_document("queryPlanner")
        .and_then(|q| q.get_document("winningPlan"))
        .map_err(|_| Error::Codec { what: "the server's explain output".into(), reason: "it has no queryPlanner.winningPlan".into() })?;
    let (stages, index) = walk(winning);
    let stats = out.get_document("executionStats").ok();
    let number = |key: &str| stats.and_then(|s| s.get(key)).and_then(as_i64).unwrap_or(0);
    Ok(ExplainSummary {
        plan: if plan == Plan::Scan { "collection scan" } else { "with index" }.into(),
        stages: stages.join(" ← "),
        index,
        keys_examined: number("totalKeysExamined"),
        docs_examined: number("totalDocsExamined"),
        returned: number("nReturned"),
        server_ms: number("executionTimeMillis"),
        round_trip_ms,
    })
}

/// Stages from the outermost in, and the first index named on the way.
fn walk(plan: &Document) -> (Vec<String>, Option<String>) {
    let mut stages = Vec::new();
    let mut index = None;
    let mut node = Some(plan);
    while let Some(n) = node {
        // Newer servers wrap the plan as { queryPlan: { … }, slotBasedPlan: … }.
        let n = n.get_document("queryPlan").unwrap_or(n);
        if let Ok(stage) = n.get_str("stage") {
            stages.push(stage.to_string());
        }
        if index.is_none() {
            index = n.get_str("indexName").ok().map(str::to_string);
        }
        node = n.get_document("inputStage").ok();
    }
    (stages, index)
}

fn as_i64(b: &Bson) -> Option<i64> {
    match b {
        Bson::Int32(v) => Some(*v as i64),
        Bson::Int64(v) => Some(*v),
        Bson::Double(v) => Some(*v as i64),
        _ => None,
    }
}

/// One user's events, explained both ways: through the `(user_id, timestamp)` index and by
/// scanning the whole collection. Both return the same documents.
pub async fn index_vs_scan(m: &Mongo, user_id: i64) -> Result<Vec<ExplainSummary>> {
    let filter = doc! { "user_id": user_id };
    Ok(vec![
        explain_find(m, schema::EVENTS, filter.clone(), Plan::Chosen).await?,
        explain_find(m, schema::EVENTS, filter, Plan::Scan).await?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_is_read_from_the_outermost_stage_in() {
        let plan = doc! { "stage": "FETCH", "inputStage": { "stage": "IXSCAN", "indexName": "user_time" } };
        assert_eq!(walk(&plan), (vec!["FETCH".to_string(), "IXSCAN".to_string()], Some("user_time".to_string())));
        let wrapped = doc! { "queryPlan": { "stage": "COLLSCAN" } };
        assert_eq!(walk(&wrapped), (vec!["COLLSCAN".to_string()], None));
    }
}
