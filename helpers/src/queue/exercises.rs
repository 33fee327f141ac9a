//! Notebook 04's exercise: the learner writes a consumer's handler (the decision for each
//! message), and [`SyncBroker::check_exercise`] runs it on a fixed batch of sign-ups through
//! the real consume loop — retries, back-off and dead-lettering included — and compares where
//! each message ended with where it should have.
//!
//! Exercise `04.1`: on the sign-up queue, **ack** a sign-up whose e-mail is valid
//! ([`validate::email`](crate::validate::email)), **reject** (dead-letter) one whose e-mail is
//! not, and treat a user whose name starts with `flaky` as a downstream service that fails
//! once: **retry** on the first attempt, ack on the next.

use std::collections::BTreeMap;
use std::time::Duration;

use super::consumer::{ConsumeLimits, Outcome, Received, RetryPolicy};
use super::message::{Message, UserData};
use super::SyncBroker;
use crate::error::{Error, Result};
use crate::exercise::Verdict;

/// Where a message should end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    /// Acked on its first delivery.
    Acked,
    /// Retried once, then acked.
    RetriedThenAcked,
    /// Dead-lettered.
    DeadLettered,
}

/// The batch: valid sign-ups, invalid e-mails, and flaky users.
fn batch() -> Vec<(Message, Fate)> {
    let signup = |name: &str, email: &str| {
        Message::UserData(UserData {
            username: name.to_string(),
            email: email.to_string(),
            registration_date: "2026-01-01T09:00:00Z".into(),
            country: None,
        })
    };
    let mut out = Vec::new();
    for i in 0..6 {
        out.push((signup(&format!("learner{i}"), &format!("learner{i}@example.com")), Fate::Acked));
    }
    for (i, bad) in ["no-at-sign.example.com", "two@@example.com", "trailing@dot."].iter().enumerate() {
        out.push((signup(&format!("typo{i}"), bad), Fate::DeadLettered));
    }
    for i in 0..3 {
        out.push((signup(&format!("flaky{i}"), &format!("flaky{i}@example.com")), Fate::RetriedThenAcked));
    }
    out
}

impl SyncBroker {
    /// Runs the learner's `handler` for exercise `04.1` on a fixed batch of sign-ups,
    /// published to the topology's sign-up queue (which must be empty: it says so otherwise)
    /// and consumed with 3 attempts and a 100 ms back-off. The verdict counts the messages
    /// that ended elsewhere than they should, per kind — not how to decide them.
    pub fn check_exercise(&self, id: &str, handler: &mut (dyn FnMut(&Received) -> Outcome + Send)) -> Result<Verdict> {
        if id != "04.1" {
            return Err(Error::NotFound(format!("there is no exercise {id} in notebook 04 (there is 04.1)")));
        }
        let queue = self.topology().user_data_queue();
        let waiting = self.depth(&queue)?;
        if waiting > 0 {
            return Err(Error::Lesson {
                lesson: "exercise 04.1",
                reason: format!("the queue `{queue}` already holds {waiting} message(s): consume them first, so that the check sees only its own"),
            });
        }
        let batch = batch();
        let messages: Vec<Message> = batch.iter().map(|(m, _)| m.clone()).collect();
        self.publish_each(&self.topology().data_processing(), "user.signup", &messages)?;
        // Every call: (username, attempt, outcome).
        let mut calls: Vec<(String, u32, Outcome)> = Vec::new();
        let policy = RetryPolicy { max_attempts: 3, base_delay: Duration::from_millis(100) };
        let limits = ConsumeLimits { max_messages: batch.len(), idle: Duration::from_secs(3), total: Duration::from_secs(30), prefetch: 20 };
        self.consume(&queue, limits, policy, &mut |r| {
            let outcome = handler(r);
            let name = match &r.message {
                Message::UserData(u) => u.username.clone(),
                other => other.type_name().to_string(),
            };
            calls.push((name, r.attempt, outcome.clone()));
            outcome
        })?;
        Ok(judge(&batch, &calls, policy.max_attempts))
    }
}

/// Compares each message's path through the handler with its expected fate.
fn judge(batch: &[(Message, Fate)], calls: &[(String, u32, Outcome)], max_attempts: u32) -> Verdict {
    let mut by_name: BTreeMap<&str, Vec<(u32, &Outcome)>> = BTreeMap::new();
    for (name, attempt, outcome) in calls {
        by_name.entry(name.as_str()).or_default().push((*attempt, outcome));
    }
    let mut wrong: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (message, fate) in batch {
        let Message::UserData(u) = message else { continue };
        let path = by_name.get(u.username.as_str()).cloned().unwrap_or_default();
        let ended = match path.last() {
            Some((_, Outcome::Ack)) if path.len() == 1 => Some(Fate::Acked),
            Some((_, Outcome::Ack)) if path.len() == 2 && matches!(path[0].1, Outcome::Retry(_)) => Some(Fate::RetriedThenAcked),
            Some((_, Outcome::Reject(_))) => Some(Fate::DeadLettered),
            Some((a, Outcome::Retry(_))) if *a >= max_attempts => Some(Fate::DeadLettered),
            _ => None,
        };
        if ended != Some(*fate) {
            let kind = match fate {
                Fate::Acked => "valid sign-up(s) not acked on the first delivery",
                Fate::DeadLettered => "sign-up(s) with an invalid e-mail not dead-lettered",
                Fate::RetriedThenAcked => "flaky sign-up(s) not retried once and then acked",
            };
            *wrong.entry(kind).or_default() += 1;
        }
    }
    if wrong.is_empty() {
        let retried = batch.iter().filter(|(_, f)| *f == Fate::RetriedThenAcked).count();
        let dead = batch.iter().filter(|(_, f)| *f == Fate::DeadLettered).count();
        Verdict::right(
            "04.1",
            format!("all {} messages ended where they should: {} acked ({retried} after one retry), {dead} dead-lettered.", batch.len(), batch.len() - dead),
        )
    } else {
        let parts: Vec<String> = wrong.iter().map(|(kind, n)| format!("{n} {kind}")).collect();
        Verdict::not_yet("04.1", format!("{}.", parts.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls_for(decide: impl Fn(&UserData, u32) -> Outcome) -> Vec<(String, u32, Outcome)> {
        // What the consume loop does with the outcomes: redeliver a retry until max attempts.
        let mut calls = Vec::new();
        for (m, _) in batch() {
            let Message::UserData(u) = m else { unreachable!() };
            for attempt in 1..=3 {
                let o = decide(&u, attempt);
                calls.push((u.username.clone(), attempt, o.clone()));
                if !matches!(o, Outcome::Retry(_)) {
                    break;
                }
            }
        }
        calls
    }

    #[test]
    fn the_right_decisions_pass_and_each_kind_of_mistake_is_counted() {
        let right = |u: &UserData, attempt: u32| {
            if u.username.starts_with("flaky") && attempt == 1 {
                Outcome::Retry("downstream".into())
            } else if crate::validate::email(&u.email).is_ok() {
                Outcome::Ack
            } else {
                Outcome::Reject("bad e-mail".into())
            }
        };
        let v = judge(&batch(), &calls_for(right), 3);
        assert!(v.correct, "{v}");
        let ack_all = judge(&batch(), &calls_for(|_, _| Outcome::Ack), 3);
        assert_eq!(ack_all.feedback, "3 flaky sign-up(s) not retried once and then acked; 3 sign-up(s) with an invalid e-mail not dead-lettered.");
        let retry_all = judge(&batch(), &calls_for(|_, _| Outcome::Retry("x".into())), 3);
        assert!(retry_all.feedback.contains("6 valid sign-up(s) not acked"), "{retry_all}");
    }
}
