//! The UserManager: insert a user, bulk insert users, find users by interest, update a
//! user's metrics — and lookups that user input cannot turn into operators.

use bson::{Bson, Document, doc};
use mongodb::error::ErrorKind;
use serde::Serialize;

use super::docs::UserProfile;
use super::{Mongo, broken_rule, schema};
use crate::error::{Error, Result};

/// Inserts one profile. A profile that breaks the validator or reuses a username or e-mail
/// is refused with [`Error::Constraint`] naming the rule; nothing is stored.
pub async fn insert_user(m: &Mongo, user: &UserProfile) -> Result<()> {
    m.collection::<UserProfile>(schema::USERS).insert_one(user).await.map_err(|e| m.error(e))?;
    Ok(())
}

/// One document an unordered bulk insert refused.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BulkFailure {
    /// Its position in the batch (0-based).
    pub index: i64,
    /// The server's error code (121 validation, 11000 duplicate key).
    pub code: i64,
    /// The rule it broke, in words.
    pub rule: String,
    /// The server's detail: which fields, which key.
    pub detail: String,
}
crate::frame_row!(BulkFailure { index, code, rule, detail });

/// What an unordered bulk insert did with every document of the batch.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BulkReport {
    /// Documents sent.
    pub attempted: usize,
    /// Documents stored.
    pub inserted: usize,
    /// Documents refused, each with its index and reason.
    pub failed: Vec<BulkFailure>,
}

/// Inserts `docs` into `collection` unordered: the good documents are stored even when some
/// are refused, and the report says exactly which were refused and why
/// (`inserted + failed.len() == attempted`). Only a failure that is not about the documents
/// (the server is unreachable, …) is an `Err`.
pub async fn bulk_insert<T: Serialize + Send + Sync>(m: &Mongo, collection: &str, docs: &[T]) -> Result<BulkReport> {
    let attempted = docs.len();
    if attempted == 0 {
        return Ok(BulkReport { attempted, inserted: 0, failed: Vec::new() });
    }
    match m.collection::<T>(collection).insert_many(docs).ordered(false).await {
        Ok(done) => Ok(BulkReport { attempted, inserted: done.inserted_ids.len(), failed: Vec::new() }),
        Err(e) => {
            let ErrorKind::InsertMany(many) = e.kind.as_ref() else { return Err(m.error(e)) };
            if many.write_concern_error.is_some() {
                return Err(m.error(e));
            }
            let mut failed: Vec<BulkFailure> = many
                .write_errors
                .iter()
                .flatten()
                .map(|w| {
                    let (rule, detail) = broken_rule(w.code, &w.message, w.details.as_ref()).unwrap_or_else(|| (w.message.clone(), String::new()));
                    BulkFailure { index: w.index as i64, code: w.code as i64, rule, detail }
                })
                .collect();
            failed.sort_by_key(|f| f.index);
            Ok(BulkReport { attempted, inserted: attempted - failed.len(), failed })
        }
    }
}

/// Profiles with `interest` among their interests, most engaged first.
pub async fn find_by_interest(m: &Mongo, interest: &str, limit: i64) -> Result<Vec<UserProfile>> {
    let cursor = m
        .collection::<UserProfile>(schema::USERS)
        .find(doc! { "profile.interests": interest })
        .sort(doc! { "metrics.engagement_score": -1, "user_id": 1 })
        .limit(limit)
        .await
        .map_err(|e| m.error(e))?;
    m.drain(cursor).await
}

/// The profile with this username. The name is always compared as a string: input such as
/// `{"$ne": null}` is a (non-existent) username, never a query operator.
pub async fn by_username(m: &Mongo, username: &str) -> Result<Option<UserProfile>> {
    m.collection::<UserProfile>(schema::USERS).find_one(doc! { "username": username }).await.map_err(|e| m.error(e))
}

/// How many profiles there are.
pub async fn count(m: &Mongo) -> Result<u64> {
    m.collection::<Document>(schema::USERS).count_documents(doc! {}).await.map_err(|e| m.error(e))
}

/// What an update matched and changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct UpdateOutcome {
    /// Documents the filter matched.
    pub matched: u64,
    /// Documents changed.
    pub modified: u64,
}

/// Sets a user's engagement score and adds `new_logins` to their login count, in one atomic
/// update (`$set`, `$inc`, `$currentDate`). The validator still applies: a score outside
/// 0–10 is refused with [`Error::Constraint`] and the document is unchanged.
pub async fn update_metrics(m: &Mongo, username: &str, engagement_score: f64, new_logins: i64) -> Result<UpdateOutcome> {
    if !engagement_score.is_finite() {
        return Err(Error::Invalid { field: "engagement_score".into(), reason: format!("engagement score must be a number, got {engagement_score}") });
    }
    let done = m
        .collection::<Document>(schema::USERS)
        .update_one(
            doc! { "username": username },
            doc! {
                "$set": { "metrics.engagement_score": engagement_score },
                "$inc": { "metrics.logins": new_logins },
                "$currentDate": { "metrics.updated_at": true },
            },
        )
        .await
        .map_err(|e| m.error(e))?;
    Ok(UpdateOutcome { matched: done.matched_count, modified: done.modified_count })
}

/// The operator-injection lesson for one piece of user input.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InjectionOutcome {
    /// What the user typed as their username.
    pub input: String,
    /// Profiles matched when the input is bound as a string value (what [`by_username`] does).
    pub bound_as_string: u64,
    /// Profiles matched when the input is parsed as JSON and pasted into the filter — the
    /// mistake to avoid (`None` when it is not JSON, so nothing could be injected).
    pub parsed_into_filter: Option<u64>,
}
crate::frame_row!(InjectionOutcome { input, bound_as_string, parsed_into_filter });

/// Counts what `input` matches as a username both ways: bound as a string (safe), and
/// parsed as JSON into the filter (how operator injection happens). Read-only.
pub async fn injection_demo(m: &Mongo, input: &str) -> Result<InjectionOutcome> {
    let users = m.collection::<Document>(schema::USERS);
    let bound = users.count_documents(doc! { "username": input }).await.map_err(|e| m.error(e))?;
    let parsed = match serde_json::from_str::<serde_json::Value>(input) {
        Ok(value) => {
            let value: Bson = bson::to_bson(&value).map_err(|e| Error::Codec { what: "a value for MongoDB".into(), reason: e.to_string() })?;
            Some(users.count_documents(doc! { "username": value }).await.map_err(|e| m.error(e))?)
        }
        Err(_) => None,
    };
    Ok(InjectionOutcome { input: input.to_string(), bound_as_string: bound, parsed_into_filter: parsed })
}

/// One write of the bad-input lesson and what the server did with it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WriteAttempt {
    /// What was tried.
    pub attempt: String,
    /// `stored`, `updated`, or the error the helpers returned.
    pub outcome: String,
}
crate::frame_row!(WriteAttempt { attempt, outcome });

const DEMO_PREFIX: &str = "demo_";

async fn remove_demo_users(m: &Mongo) -> Result<()> {
    m.collection::<Document>(schema::USERS)
        .delete_many(doc! { "username": { "$regex": format!("^{DEMO_PREFIX}") } })
        .await
        .map_err(|e| m.error(e))?;
    Ok(())
}

/// The bad-input lesson: a valid profile, then writes the validator or a unique index
/// refuses (bad e-mail, short username, duplicate username, a score outside 0–10), each with
/// the error it produced. Works on `demo_…` users only and removes them afterwards.
pub async fn bad_writes_demo(m: &Mongo) -> Result<Vec<WriteAttempt>> {
    remove_demo_users(m).await?;
    let outcome = |r: Result<()>| match r {
        Ok(()) => "stored".to_string(),
        Err(e) => e.to_string(),
    };
    let mut out = Vec::new();
    let valid = UserProfile::new(900_001, "demo_ada", "ada@example.com", &["books", "electronics"]);
    out.push(WriteAttempt { attempt: "a valid profile (demo_ada)".into(), outcome: outcome(insert_user(m, &valid).await) });
    let bad_email = UserProfile::new(900_002, "demo_bob", "bob-at-example", &[]);
    out.push(WriteAttempt { attempt: "e-mail `bob-at-example`".into(), outcome: outcome(insert_user(m, &bad_email).await) });
    let short = UserProfile::new(900_003, "de", "de@example.com", &[]);
    out.push(WriteAttempt { attempt: "username `de` (too short)".into(), outcome: outcome(insert_user(m, &short).await) });
    let duplicate = UserProfile::new(900_004, "demo_ada", "other@example.com", &[]);
    out.push(WriteAttempt { attempt: "username `demo_ada` again".into(), outcome: outcome(insert_user(m, &duplicate).await) });
    let score = update_metrics(m, "demo_ada", 42.0, 1).await.map(|u| format!("updated (matched {}, modified {})", u.matched, u.modified));
    out.push(WriteAttempt { attempt: "engagement score 42 for demo_ada".into(), outcome: score.unwrap_or_else(|e| e.to_string()) });
    let fine = update_metrics(m, "demo_ada", 8.5, 1).await.map(|u| format!("updated (matched {}, modified {})", u.matched, u.modified));
    out.push(WriteAttempt { attempt: "engagement score 8.5 for demo_ada".into(), outcome: fine.unwrap_or_else(|e| e.to_string()) });
    let stored = m.collection::<Document>(schema::USERS).count_documents(doc! { "username": { "$regex": format!("^{DEMO_PREFIX}") } }).await.map_err(|e| m.error(e))?;
    out.push(WriteAttempt { attempt: "demo profiles stored after all of the above".into(), outcome: stored.to_string() });
    remove_demo_users(m).await?;
    Ok(out)
}

/// The unordered-bulk lesson: seven `demo_…` profiles, three of them bad in different ways
/// and one a duplicate within the batch. Returns the report; removes the demo profiles.
pub async fn bulk_demo(m: &Mongo) -> Result<BulkReport> {
    remove_demo_users(m).await?;
    let batch = [
        UserProfile::new(900_010, "demo_one", "one@example.com", &["books"]),
        UserProfile::new(900_011, "x", "x@example.com", &[]),
        UserProfile::new(900_012, "demo_two", "two@example.com", &["toys"]),
        UserProfile::new(900_013, "demo_bad_mail", "no-at-sign", &[]),
        UserProfile::new(900_014, "demo_three", "three@example.com", &[]),
        UserProfile::new(900_015, "demo_one", "again@example.com", &[]),
        UserProfile::new(900_016, "demo four", "four@example.com", &[]),
    ];
    let report = bulk_insert(m, schema::USERS, &batch).await?;
    remove_demo_users(m).await?;
    Ok(report)
}
