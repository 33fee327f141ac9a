//! Notebook 02's exercises: the learner writes the aggregation pipeline, and
//! [`SyncMongo::check_exercise`] runs it and the helpers' own pipeline on the same collection
//! and compares the documents as frames ([`exercise::compare_frames`]).

use bson::{Document, doc};

use super::SyncMongo;
use super::export;
use super::sandbox::{Limits, Outcome};
use crate::error::{Error, Result};
use crate::exercise::{self, RowOrder, Verdict};

/// One exercise: its id, the collection it reads, whether the order of the documents is part
/// of the question, and the helpers' answer.
struct Exercise {
    id: &'static str,
    collection: &'static str,
    order: RowOrder,
    answer: fn() -> Vec<Document>,
}

const EXERCISES: &[Exercise] = &[
    // 02.1 — On `events`: purchases per country — `_id` the country (`geo.country`),
    // `purchases` (how many), `revenue` (sum of `metadata.price`); highest revenue first.
    Exercise {
        id: "02.1",
        collection: "events",
        order: RowOrder::Matters,
        answer: || {
            vec![
                doc! { "$match": { "event_type": "purchase" } },
                doc! { "$group": { "_id": "$geo.country", "purchases": { "$sum": 1 }, "revenue": { "$sum": "$metadata.price" } } },
                doc! { "$sort": { "revenue": -1, "_id": 1 } },
            ]
        },
    },
    // 02.2 — On `user_profiles`: how many users have each number of interests — `_id` the
    // number of interests, `users`; fewest interests first.
    Exercise {
        id: "02.2",
        collection: "user_profiles",
        order: RowOrder::Matters,
        answer: || {
            vec![
                doc! { "$group": { "_id": { "$size": { "$ifNull": ["$profile.interests", []] } }, "users": { "$sum": 1 } } },
                doc! { "$sort": { "_id": 1 } },
            ]
        },
    },
];

/// The ids of notebook 02's exercises.
pub fn ids() -> Vec<&'static str> {
    EXERCISES.iter().map(|e| e.id).collect()
}

impl SyncMongo {
    /// Checks the learner's `pipeline` for exercise `id` (`"02.1"`, …) on the exercise's
    /// collection against the helpers' answer. The pipeline runs read-only and bounded
    /// ([`sandbox::read_only`]): a `$out` or `$merge` stage anywhere is refused before it is
    /// sent, the server stops it at 5 s (`maxTimeMS`), and at most 10,000 documents are read.
    /// A pipeline that would write, runs away, returns too much or is refused is a verdict
    /// that says so; an error is only the helpers' own pipeline failing (the server is down).
    pub fn check_exercise(&self, id: &str, pipeline: Vec<Document>) -> Result<Verdict> {
        let ex = EXERCISES
            .iter()
            .find(|e| e.id == id)
            .ok_or_else(|| Error::NotFound(format!("there is no exercise {id} in notebook 02 (there are {})", ids().join(", "))))?;
        let expected = self.aggregate(ex.collection, (ex.answer)())?;
        let limits = Limits::default();
        Ok(match self.read_only(ex.collection, pipeline, limits)? {
            Outcome::Documents(docs) => match export::documents_to_frame(&docs) {
                Ok(yours) => exercise::compare_frames(id, &yours, &expected, ex.order),
                Err(e) => exercise::refused(id, "MongoDB", &e),
            },
            Outcome::Writes(stage) => Verdict::not_yet(
                id,
                format!("your pipeline has a `{stage}` stage, which writes its result into a collection — an answer only reads, so it was not run and nothing changed."),
            ),
            Outcome::TimedOut(after) => Verdict::not_yet(
                id,
                format!("your pipeline ran past {} s and was stopped; a `$lookup` or `$unwind` without a `$match` first multiplies the documents.", after.as_secs()),
            ),
            Outcome::TooManyDocuments(n) => Verdict::not_yet(
                id,
                format!("your pipeline returned more than {} documents and was stopped; the answer has {} — check the `$match` and the `$group`.", crate::display::thousands(n), expected.height()),
            ),
            Outcome::Refused(said) => exercise::refused(id, "MongoDB", &said),
        })
    }
}
