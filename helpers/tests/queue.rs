//! Module 4 against the real RabbitMQ (AMQP_ADDR, default 127.0.0.1:5672). Every test declares
//! a topology of its own (`t<name>-<pid>-<nanos>.*`) and deletes it afterwards.

mod common;

use std::time::{Duration, Instant};

use helpers::Error;
use helpers::queue::consumer::Stop;
use helpers::queue::message::{self, Message, UserData};
use helpers::queue::{Broker, ConsumeLimits, Outcome, Received, RetryPolicy, Topology, consume, dlq, lessons, measure};
use lapin::types::{AMQPValue, FieldTable};

async fn broker(test: &str) -> Broker {
    Broker::connect(&common::settings().amqp_addr, Topology::unique(&format!("t{test}"))).await.expect("RabbitMQ must answer at AMQP_ADDR")
}

async fn done(b: Broker) {
    b.teardown().await.expect("the test topology can be deleted");
    b.close().await;
}

fn user(name: &str, email: &str) -> Message {
    Message::UserData(UserData { username: name.into(), email: email.into(), registration_date: "2026-01-01T00:00:00Z".into(), country: None })
}

fn quick(n: usize) -> ConsumeLimits {
    ConsumeLimits { max_messages: n, idle: Duration::from_secs(3), total: Duration::from_secs(30), prefetch: 20 }
}

#[tokio::test]
async fn routing_follows_the_exchange_types_and_unroutable_messages_come_back() {
    let b = broker("routing").await;
    let rows = lessons::routing(&b).await.unwrap();
    let reached = |key: &str| rows.iter().find(|r| r.routing_key == key).map(|r| (r.outcome.clone(), r.reached.clone())).unwrap();
    assert_eq!(reached("user.signup"), ("stored".into(), "user_data".into()));
    assert_eq!(reached("notification.email.welcome"), ("stored".into(), "notifications.email, notifications.audit".into()));
    assert_eq!(reached("notification.sms.alert"), ("stored".into(), "notifications.audit".into()));
    let (outcome, to) = reached("(none)");
    assert_eq!((outcome.as_str(), to.as_str()), ("stored", "analytics.store, analytics.metrics, analytics.alerts"));
    for unroutable in ["user.deleted", "billing.invoice"] {
        let (outcome, to) = reached(unroutable);
        assert!(outcome.starts_with("returned: NO_ROUTE"), "{unroutable}: {outcome}");
        assert_eq!(to, "—");
    }
    assert_eq!(b.queue_depth(&b.topology().user_data_queue()).await.unwrap(), 0, "purged afterwards");
    done(b).await;
}

#[tokio::test]
async fn typed_messages_arrive_whole_with_their_metadata() {
    let b = broker("typed").await;
    let published = b.publish_user_data_event("ada", "ada@example.com").await.unwrap();
    assert_eq!(published.outcome, "stored");
    b.publish_notification("ada@example.com", "Welcome!", "Hello!", "welcome").await.unwrap();
    b.publish_analytics_event("user_signup", 7, serde_json::json!({"plan": "pro"})).await.unwrap();

    let mut seen = Vec::new();
    let r = consume(&b, &b.topology().user_data_queue(), quick(1), RetryPolicy::default(), |r: &Received| {
        seen.push(r.clone());
        Outcome::Ack
    })
    .await
    .unwrap();
    assert_eq!((r.acked, r.stopped), (1, Stop::Count));
    assert_eq!(seen[0].message_id, published.message_id);
    assert_eq!(seen[0].attempt, 1);
    assert!(seen[0].latency_us.unwrap() >= 0.0);
    match &seen[0].message {
        Message::UserData(u) => assert_eq!((u.username.as_str(), u.email.as_str()), ("ada", "ada@example.com")),
        other => panic!("expected user data, got {other:?}"),
    }
    let mut events = Vec::new();
    for q in b.topology().analytics_queues() {
        consume(&b, &q, quick(1), RetryPolicy::default(), |r: &Received| {
            events.push(r.message.clone());
            Outcome::Ack
        })
        .await
        .unwrap();
    }
    assert_eq!(events.len(), 3, "the fanout gave every analytics queue its copy");
    assert!(events.iter().all(|e| matches!(e, Message::Analytics(a) if a.user_id == 7 && a.properties["plan"] == "pro")));
    done(b).await;
}

#[tokio::test]
async fn every_message_is_accounted_for_processed_or_dead_lettered_with_its_reason() {
    let b = broker("account").await;
    let t = b.topology().clone();
    let good = 40;
    for i in 0..good {
        b.publish(&t.data_processing(), "user.signup", &user(&format!("user{i}"), &format!("u{i}@example.com"))).await.unwrap();
    }
    // Bad input: not JSON, an unknown type, a known type with missing fields, an invalid e-mail.
    let raw = [
        (&b"{\"type\": \"user_data\", \"username\"}"[..], "user_data"),
        (&br#"{"type": "refund", "order": 1}"#[..], "refund"),
        (&br#"{"type": "user_data", "username": "x"}"#[..], "user_data"),
    ];
    for (body, kind) in raw {
        b.publish_raw(&t.data_processing(), "user.signup", body, message::properties(kind, 1, None)).await.unwrap();
    }
    b.publish(&t.data_processing(), "user.signup", &user("mallory", "mallory-at-example.com")).await.unwrap();
    let n = good + 4;

    let r = consume(&b, &t.user_data_queue(), quick(n), RetryPolicy::default(), |r: &Received| match &r.message {
        Message::UserData(u) => match helpers::validate::email(&u.email) {
            Ok(_) => Outcome::Ack,
            Err(e) => Outcome::Reject(e.to_string()),
        },
        _ => Outcome::Reject("not user data".into()),
    })
    .await
    .unwrap();
    assert_eq!(r.acked + r.dead_lettered, n, "processed + dead-lettered = published");
    assert_eq!((r.acked, r.dead_lettered, r.stopped), (good, 4, Stop::Count));
    let reasons: Vec<&str> = r.dead.iter().map(|d| d.reason.as_str()).collect();
    assert!(reasons[0].starts_with("malformed JSON"), "{reasons:?}");
    assert!(reasons[1].contains("unknown message type \"refund\""), "{reasons:?}");
    assert!(reasons[2].starts_with("invalid user_data message: missing field"), "{reasons:?}");
    assert!(reasons[3].contains("mallory-at-example.com") && reasons[3].contains("not an e-mail address"), "{reasons:?}");

    // The dead-letter queue holds exactly those four, reasons in their headers, and inspecting
    // them does not take them away.
    let letters = dlq::inspect(&b, 100).await.unwrap();
    assert_eq!(letters.len(), 4);
    assert!(letters.iter().all(|l| l.original_queue == t.user_data_queue() && l.attempts == 1));
    assert_eq!(letters.iter().map(|l| l.reason.as_str()).collect::<Vec<_>>(), reasons);
    assert_eq!(letters[1].kind, "refund");
    assert_eq!(b.queue_depth(&t.dead_letter_queue()).await.unwrap(), 4);
    assert_eq!(b.queue_depth(&t.user_data_queue()).await.unwrap(), 0);
    done(b).await;
}

#[tokio::test]
async fn poison_headers_and_a_message_at_the_frame_limit_end_dead_lettered_not_stuck() {
    use helpers::queue::message::{H_ATTEMPT, H_PUBLISHED_US, with_headers};
    use lapin::types::{AMQPValue, LongString};
    let b = broker("poison").await;
    let t = b.topology().clone();
    let body = serde_json::to_vec(&user("poison", "poison@example.com")).unwrap();
    // Forged numbers in the headers we read: no arithmetic on them may panic.
    for (attempt, published) in [(i64::MIN, i64::MIN), (i64::MAX, i64::MAX), (0, -1), (u32::MAX as i64 + 7, 0)] {
        let props = with_headers(&message::properties("user_data", 1, None), |h| {
            h.insert(H_ATTEMPT.into(), AMQPValue::LongLongInt(attempt));
            h.insert(H_PUBLISHED_US.into(), AMQPValue::LongLongInt(published));
        });
        b.publish_raw(&t.data_processing(), "user.signup", &body, props).await.unwrap();
    }
    // Headers that nearly fill the frame: the broker takes the message, but a dead-letter copy
    // with our headers added would not fit in one frame.
    let filler = "x".repeat(b.frame_max() as usize - 3_000);
    let props = with_headers(&message::properties("user_data", 1, None), |h| {
        h.insert("x-filler".into(), AMQPValue::LongString(LongString::from(filler.as_str())));
    });
    assert_eq!(b.publish_raw(&t.data_processing(), "user.signup", &body, props).await.unwrap(), helpers::queue::Routed::Stored);
    let reason = "r".repeat(5_000);
    let r = consume(&b, &t.user_data_queue(), quick(5), RetryPolicy::default(), |_: &Received| Outcome::Reject(reason.clone())).await.unwrap();
    assert_eq!((r.dead_lettered, r.stopped), (5, Stop::Count), "all five dead-lettered, the loop still running");
    let letters = dlq::inspect(&b, 10).await.unwrap();
    assert_eq!(letters.len(), 5, "all five in the dead-letter queue");
    let big = letters.iter().find(|l| l.reason.len() < reason.len()).expect("the big one carries a cut reason");
    assert!(big.reason.starts_with("rrr") && big.reason.len() > 100, "{}", big.reason.len());
    assert_eq!(b.queue_depth(&t.user_data_queue()).await.unwrap(), 0, "nothing stuck in the work queue");
    // The connection lives on.
    b.publish(&t.data_processing(), "user.signup", &user("after", "after@example.com")).await.unwrap();
    let r = consume(&b, &t.user_data_queue(), quick(1), RetryPolicy::default(), |_: &Received| Outcome::Ack).await.unwrap();
    assert_eq!(r.acked, 1);
    done(b).await;
}

#[tokio::test]
async fn retries_back_off_without_blocking_others_and_give_up_into_the_dlq() {
    let b = broker("retry").await;
    let policy = RetryPolicy { max_attempts: 3, base_delay: Duration::from_millis(300) };
    let (rows, report) = lessons::retry_timeline(&b, policy).await.unwrap();
    let attempts = |name: &str| rows.iter().filter(|r| r.message == name).map(|r| (r.attempt, r.at_ms)).collect::<Vec<_>>();
    assert_eq!(attempts("ok").len(), 1);
    assert_eq!(attempts("flaky").len(), 2);
    assert_eq!(attempts("flakier").len(), 3);
    assert_eq!(attempts("broken").len(), 3);
    assert_eq!((report.acked, report.retried, report.dead_lettered), (3, 5, 1));
    // Backoff: the second attempt comes ≥ 300 ms after the first, the third ≥ 600 ms after that.
    let f = attempts("flakier");
    assert!(f[1].1 - f[0].1 >= 290.0, "{f:?}");
    assert!(f[2].1 - f[1].1 >= 590.0, "{f:?}");
    // Not blocking: `ok` was processed before `flakier` came back for its second attempt.
    assert!(attempts("ok")[0].1 < f[1].1);
    let letters = dlq::inspect(&b, 10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].attempts, 3);
    assert!(letters[0].reason.starts_with("gave up after 3 attempts: service unavailable"), "{}", letters[0].reason);
    done(b).await;
}

#[tokio::test]
async fn dead_letters_can_be_replayed_once_the_cause_is_fixed() {
    let b = broker("replay").await;
    let t = b.topology().clone();
    for (name, email) in [("a1", "a1@example.com"), ("b2", "bad-address"), ("c3", "c3@example.com")] {
        b.publish(&t.data_processing(), "user.signup", &user(name, email)).await.unwrap();
    }
    // First consumer: a downstream outage makes it reject `a1` and `c3`; `b2` is invalid.
    consume(&b, &t.user_data_queue(), quick(3), RetryPolicy::default(), |r: &Received| match &r.message {
        Message::UserData(u) if u.email.contains('@') => Outcome::Reject("downstream outage".into()),
        _ => Outcome::Reject("invalid e-mail".into()),
    })
    .await
    .unwrap();
    assert_eq!(b.queue_depth(&t.dead_letter_queue()).await.unwrap(), 3);
    let report = dlq::replay(&b, 10, |l| l.reason == "downstream outage").await.unwrap();
    assert_eq!((report.replayed, report.kept), (2, 1));
    assert_eq!(b.queue_depth(&t.dead_letter_queue()).await.unwrap(), 1, "the invalid one stays");
    let mut names = Vec::new();
    let r = consume(&b, &t.user_data_queue(), quick(2), RetryPolicy::default(), |r: &Received| {
        if let Message::UserData(u) = &r.message {
            names.push((u.username.clone(), r.attempt));
        }
        Outcome::Ack
    })
    .await
    .unwrap();
    assert_eq!(r.acked, 2);
    names.sort();
    assert_eq!(names, vec![("a1".to_string(), 1), ("c3".to_string(), 1)], "replayed with a fresh attempt count");
    done(b).await;
}

#[tokio::test]
async fn the_priority_queue_hands_out_the_highest_priority_first() {
    let b = broker("priority").await;
    let rows = lessons::priority_order(&b, 20).await.unwrap();
    assert_eq!(rows.len(), 20);
    let priorities: Vec<i64> = rows.iter().map(|r| r.priority).collect();
    let mut sorted = priorities.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(priorities, sorted, "delivered in descending priority");
    assert_eq!(priorities[0], 9);
    done(b).await;
}

#[tokio::test]
async fn a_consume_loop_on_an_empty_queue_ends_at_its_idle_bound() {
    let b = broker("idle").await;
    let started = Instant::now();
    let limits = ConsumeLimits { max_messages: 10, idle: Duration::from_millis(300), total: Duration::from_secs(5), prefetch: 1 };
    let r = consume(&b, &b.topology().user_data_queue(), limits, RetryPolicy::default(), |_: &Received| Outcome::Ack).await.unwrap();
    assert_eq!((r.deliveries, r.stopped), (0, Stop::Idle));
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    done(b).await;
}

#[tokio::test]
async fn unacknowledged_messages_go_back_to_the_queue_when_a_loop_stops() {
    let b = broker("requeue").await;
    let t = b.topology().clone();
    for i in 0..10 {
        b.publish(&t.data_processing(), "user.data", &user(&format!("u{i}"), "u@example.com")).await.unwrap();
    }
    // Prefetch 10 pulls every message, but the loop stops after settling 3.
    let limits = ConsumeLimits { max_messages: 3, idle: Duration::from_secs(2), total: Duration::from_secs(10), prefetch: 10 };
    let r = consume(&b, &t.user_data_queue(), limits, RetryPolicy::default(), |_: &Received| Outcome::Ack).await.unwrap();
    assert_eq!(r.acked, 3);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(b.queue_depth(&t.user_data_queue()).await.unwrap(), 7, "nothing lost");
    done(b).await;
}

#[tokio::test]
async fn throughput_and_latency_are_measured_on_real_messages() {
    let b = broker("measure").await;
    let single = measure::publish_one_at_a_time(&b, 50).await.unwrap();
    let batched = measure::publish_batched(&b, 500, 100, helpers::queue::Cleanup::Remove).await.unwrap();
    assert_eq!((single.messages, batched.messages), (50, 500));
    assert!(single.per_second > 0.0 && batched.per_second > 0.0);
    let (rate, backlog) = measure::consume_backlog(&b, 300, 50).await.unwrap();
    assert_eq!((rate.messages, backlog.samples), (300, 300));
    assert!(backlog.p50_us > 0.0 && backlog.p99_us >= backlog.p50_us);
    let live = measure::live_latency(&b, 20).await.unwrap();
    assert_eq!(live.samples, 20);
    assert_eq!(b.queue_depth(&b.topology().user_data_queue()).await.unwrap(), 0);
    done(b).await;
}

#[tokio::test]
async fn an_unreachable_broker_is_named_with_the_url_masked_and_bounded() {
    let started = Instant::now();
    let err = Broker::open(&common::dead_settings()).await.err().expect("nothing listens on port 1");
    let text = err.to_string();
    assert!(matches!(err, Error::Unreachable { service: "RabbitMQ", .. }), "{text}");
    assert!(text.contains("guest:***@127.0.0.1:1") && !text.contains("amqp-secret-4"), "{text}");
    assert!(text.contains("scripts/services.sh up"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[cfg(feature = "mongo")]
#[tokio::test]
async fn the_signup_pipeline_stores_notifies_fans_out_and_dead_letters_bad_input() {
    use helpers::data::{World, WorldConfig};
    use helpers::mongo::{Mongo, users};
    use helpers::queue::pipeline;

    let b = broker("pipeline").await;
    let db = format!("m8test_pipeline_{}", std::process::id());
    let mongo = Mongo::connect(&common::settings().mongodb_uri, Some(&db)).await.expect("MongoDB must answer at MONGODB_URI");
    helpers::mongo::schema::ensure(&mongo).await.unwrap();
    let world = World::generate(&WorldConfig::with_users(50));
    let signups = pipeline::signups(&world, 20, "p");
    let report = pipeline::run_signups(&b, &mongo, &signups, helpers::queue::pipeline::BadInput::Included, helpers::queue::Cleanup::Keep).await.unwrap();

    assert_eq!(report.published, 23);
    assert_eq!(report.stored, 20);
    assert_eq!(report.stored + report.dead.len(), report.published, "stored + dead-lettered = published");
    assert_eq!(users::count(&mongo).await.unwrap(), 20);
    assert_eq!(report.analytics_stored, 20);
    let processed: Vec<i64> = report.stages.iter().map(|s| s.processed).collect();
    assert_eq!(processed, vec![20, 20, 20, 20, 20, 20]);
    assert_eq!(report.domains.values().sum::<i64>(), 20);
    assert_eq!(report.alerts.len(), 2, "every 10th sign-up uses a disposable domain: {:?}", report.alerts);
    let reasons: Vec<&str> = report.dead.iter().map(|d| d.reason.as_str()).collect();
    assert!(reasons[0].starts_with("malformed JSON"), "{reasons:?}");
    assert!(reasons[1].contains("refund_request"), "{reasons:?}");
    assert!(reasons[2].contains("mallory-at-example.com"), "{reasons:?}");

    // The same sign-ups again (a redelivery, say): the handler is idempotent, so they are
    // acknowledged without a second profile. A different address under a taken username is
    // refused with the unique index named — and still accounted for.
    let again = pipeline::run_signups(&b, &mongo, &signups[..3], helpers::queue::pipeline::BadInput::Left, helpers::queue::Cleanup::Keep).await.unwrap();
    assert_eq!((again.stored, again.dead.len()), (3, 0));
    assert_eq!(users::count(&mongo).await.unwrap(), 20);
    let mut thief = signups[0].clone();
    thief.email = "someone.else@example.com".into();
    let taken = pipeline::run_signups(&b, &mongo, &[thief], helpers::queue::pipeline::BadInput::Left, helpers::queue::Cleanup::Keep).await.unwrap();
    assert_eq!((taken.stored, taken.dead.len()), (0, 1));
    assert!(taken.dead[0].reason.contains("duplicate"), "{}", taken.dead[0].reason);

    mongo.drop_database().await.unwrap();
    done(b).await;
}

/// Notebook 04's exercise through the real consume loop: the right handler passes; a handler
/// that acks everything is told which kinds of message it got wrong; a queue that is not
/// empty is refused rather than judged.
#[test]
fn the_handler_exercise_runs_the_real_loop_and_judges_each_message() {
    let mq = helpers::queue::SyncBroker::new(&common::settings(), Topology::unique("tex"));
    mq.declare().unwrap();
    let v = mq
        .check_exercise("04.1", &mut |r: &Received| match &r.message {
            Message::UserData(u) if u.username.starts_with("flaky") && r.attempt == 1 => Outcome::Retry("downstream down".into()),
            Message::UserData(u) if helpers::validate::email(&u.email).is_ok() => Outcome::Ack,
            _ => Outcome::Reject("invalid e-mail".into()),
        })
        .unwrap();
    assert!(v.correct, "{v}");
    let v = mq.check_exercise("04.1", &mut |_: &Received| Outcome::Ack).unwrap();
    assert!(!v.correct, "{v}");
    assert!(v.feedback.contains("3 flaky") && v.feedback.contains("3 sign-up(s) with an invalid e-mail"), "{v}");
    mq.publish(&mq.topology().data_processing(), "user.signup", &user("leftover", "left@over.org")).unwrap();
    assert!(matches!(mq.check_exercise("04.1", &mut |_: &Received| Outcome::Ack), Err(Error::Lesson { reason: m, .. }) if m.contains("already holds 1")));
    assert!(matches!(mq.check_exercise("04.2", &mut |_: &Received| Outcome::Ack), Err(Error::NotFound(_))));
    mq.teardown().unwrap();
}

/// The whole architecture on the four real services: twenty visitors sign up and view
/// products, three bad requests are refused at the door. Every created user ends up in
/// PostgreSQL, cached in Redis, stored in MongoDB with recommendations, counted on the
/// dashboard — and the API answered each one before its background work was done.
#[cfg(all(feature = "sql", feature = "mongo", feature = "cache"))]
#[tokio::test]
async fn the_architecture_answers_at_once_and_every_service_gets_its_part() {
    use helpers::architecture::{self, bad_visitors, visitors};
    use helpers::cache::RedisCache;
    use helpers::data::{World, WorldConfig};
    use helpers::mongo::Mongo;
    use helpers::sql::{self, Db, users};

    let schema = format!("m8test_arch_{}", std::process::id());
    let db = Db::connect(&common::postgres_url(), Some(&schema)).await.expect("PostgreSQL must run for these tests");
    db.migrate().await.unwrap();
    let world = World::generate(&WorldConfig::with_users(200));
    sql::seed(&db, &world).await.unwrap();
    let mongo_db = format!("m8test_arch_{}", std::process::id());
    let mongo = Mongo::connect(&common::settings().mongodb_uri, Some(&mongo_db)).await.expect("MongoDB must answer at MONGODB_URI");
    helpers::mongo::schema::ensure(&mongo).await.unwrap();
    let cache = RedisCache::new(&common::settings().redis_url, &helpers::cache::run_namespace("tarch")).unwrap();
    let b = broker("arch").await;

    let mut people = visitors(&world, 20, "a");
    let views: usize = people.iter().map(|v| v.views.len()).sum();
    assert!(views > 0, "the world's users viewed products");
    people.extend(bad_visitors(&people[0].form));
    let r = architecture::run(&db, &mongo, &cache, &b, &people, helpers::queue::Cleanup::Keep).await.unwrap();

    let statuses: Vec<&str> = r.responses.iter().map(|x| x.status.split(':').next().unwrap()).collect();
    assert_eq!(statuses[..20], ["201 Created"; 20]);
    assert_eq!(statuses[20..], ["400 Bad Request", "400 Bad Request", "409 Conflict"], "{:?}", &r.responses[20..]);
    assert!(r.responses[20].status.contains("mallory-at-example.com"), "{}", r.responses[20].status);
    assert!(r.responses[22].status.contains("users_"), "the conflict names the unique constraint: {}", r.responses[22].status);
    assert_eq!(r.published, 20 + views, "one sign-up per user created, one event per view; nothing for a refused request");
    assert_eq!((r.users_in_sql, r.profiles_cached, r.recommendations_cached, r.profiles_with_recommendations), (20, 20, 20, 20));
    assert_eq!(r.analytics_stored, 20 + views);
    assert_eq!(r.sql_backend, "PostgreSQL", "the sentences and the figure name the database the run used");
    assert!(r.dead.is_empty(), "{:?}", r.dead);
    for s in &r.stages {
        assert_eq!(s.dead_lettered, 0, "{s:?}");
    }
    let count = |t: &str| r.dashboard.events.iter().find(|e| e.event_type == t).map_or(0, |e| e.events);
    assert_eq!((count("user_signup"), count("product_view")), (20, views as i64));
    assert!((19..=21).contains(&r.dashboard.unique_users), "HyperLogLog counts about 20 users: {}", r.dashboard.unique_users);
    assert!(!r.dashboard.trending.is_empty() && r.dashboard.trending.windows(2).all(|w| w[0].views >= w[1].views));
    for key in ["{dash}:events", "{dash}:users", "{dash}:trending"] {
        let left = cache.ttl(key).await.unwrap().unwrap_or_else(|| panic!("{key} never expires: an interrupted run would leave it for good"));
        assert!(left > Duration::ZERO && left <= helpers::queue::LESSON_EXPIRY, "{key}: {left:?}");
    }
    assert_eq!(r.alerts.len(), 2, "two of twenty use a throw-away domain: {:?}", r.alerts);
    // The point of the broker: each request was answered before its work was done.
    for x in &r.responses[..20] {
        let done = x.done_ms.expect("every created user got recommendations");
        assert!(x.accepted_ms < done, "{x:?}");
    }
    assert_eq!(r.responses[20..].iter().filter(|x| x.done_ms.is_some() || x.user_id.is_some()).count(), 0);
    // The conflict changed nothing: the first user is still who they were.
    let first = users::by_email(&db, &people[0].form.email.to_lowercase()).await.unwrap().unwrap();
    assert_eq!(first.first_name, people[0].form.first_name);
    let shown = r.first_user.as_deref().expect("the first user's profile and recommendations are cached");
    assert!(shown.contains(&people[0].form.username) && shown.contains("recommendations"), "{shown}");

    // The same run without `keep` leaves nothing behind in any service.
    let again = visitors(&world, 3, "b");
    let r2 = architecture::run(&db, &mongo, &cache, &b, &again, helpers::queue::Cleanup::Remove).await.unwrap();
    for x in &r2.responses {
        assert!(users::by_id(&db, x.user_id.unwrap()).await.unwrap().is_none());
    }
    // A run interrupted before its clean-up leaves its users behind; the next run of the same
    // visitors sweeps them first instead of refusing every sign-up as a conflict.
    let third = visitors(&world, 3, "c");
    architecture::run(&db, &mongo, &cache, &b, &third, helpers::queue::Cleanup::Keep).await.unwrap();
    let r3 = architecture::run(&db, &mongo, &cache, &b, &third, helpers::queue::Cleanup::Remove).await.unwrap();
    assert!(r3.responses.iter().all(|x| x.status.starts_with("201")), "{:?}", r3.responses);
    assert_eq!(r3.users_in_sql, 3);
    assert_eq!(cache.invalidate("*").await.unwrap(), 0, "no key is left under the run's namespace");

    mongo.drop_database().await.unwrap();
    db.close().await;
    let pg = Db::connect(&common::postgres_url(), None).await.unwrap();
    sql::query::execute(&pg, &format!("DROP SCHEMA {schema} CASCADE"), &[]).await.ok();
    done(b).await;
}

/// What the broker says to a declare of `queue` with `args` on a fresh channel of `b`:
/// `Ok(())` or the refusal's text.
async fn redeclare(b: &Broker, queue: &str, args: FieldTable) -> Result<(), String> {
    let ch = b.channel().await.unwrap();
    let opts = lapin::options::QueueDeclareOptions::durable();
    let out = ch.queue_declare(queue.into(), opts, args).await.map(|_| ()).map_err(|e| e.to_string());
    let _ = ch.close(200, "OK".into()).await;
    out
}

/// Queue arguments: `x-queue-version` when `version` is given, then `pairs`.
fn queue_args(version: Option<i32>, pairs: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    if let Some(v) = version {
        t.insert("x-queue-version".into(), AMQPValue::LongInt(v));
    }
    for (k, v) in pairs {
        t.insert((*k).into(), v.clone());
    }
    t
}

/// An AMQP long string argument.
fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(s.as_bytes().to_vec().into())
}

#[tokio::test]
async fn queues_are_declared_with_storage_version_2_and_an_existing_version_1_queue_is_kept() {
    // Two queues of the topology exist already: one declared as the helpers did before (no
    // version given: the broker's default, version 1 on RabbitMQ 3.10–3.12), one declared as
    // version 1 explicitly, which refuses a declare that gives no version.
    let other = broker("qvother").await;
    // (queues that last: the queues declared by hand above have no expiry to match)
    let topology = Topology::unique("tqv").expiring(None);
    let dead_letters = topology.dead_letter_queue();
    let email = topology.email_queue();
    let dlx = [("x-dead-letter-exchange", text(&topology.dlx()))];
    redeclare(&other, &dead_letters, queue_args(Some(1), &[])).await.expect("a version 1 queue can be declared");
    redeclare(&other, &email, queue_args(None, &dlx)).await.expect("a queue can be declared as the helpers did before");
    let ch = other.channel().await.unwrap();
    ch.confirm_select(Default::default()).await.unwrap();
    ch.basic_publish("".into(), dead_letters.as_str().into(), Default::default(), b"kept", Default::default()).await.unwrap().await.unwrap();
    let _ = ch.close(200, "OK".into()).await;

    let b = Broker::connect(&common::settings().amqp_addr, topology).await.expect("the topology is declared over a version 1 queue");
    assert_eq!(b.queue_depth(&dead_letters).await.unwrap(), 1, "the existing queue and its message are kept");
    let refused = redeclare(&b, &dead_letters, queue_args(Some(2), &[])).await.unwrap_err();
    assert!(refused.contains("x-queue-version"), "still version 1: {refused}");
    let refused = redeclare(&b, &email, queue_args(Some(2), &dlx)).await.unwrap_err();
    assert!(refused.contains("x-queue-version"), "the queue declared as before is kept as it was: {refused}");

    // Every queue it created is version 2: asking for version 1 is refused by that argument.
    let user_data = b.topology().user_data_queue();
    let refused = redeclare(&b, &user_data, queue_args(Some(1), &dlx)).await.unwrap_err();
    assert!(refused.contains("x-queue-version") && refused.contains('2'), "{refused}");
    redeclare(&b, &user_data, queue_args(Some(2), &dlx)).await.expect("the queue is version 2");
    let delay = b.delay_queue(&user_data, Duration::from_millis(250)).await.unwrap();
    let delay_args = [
        ("x-message-ttl", AMQPValue::LongLongInt(250)),
        ("x-dead-letter-exchange", text("")),
        ("x-dead-letter-routing-key", text(&user_data)),
        ("x-expires", AMQPValue::LongLongInt(60_250)),
    ];
    let refused = redeclare(&b, &delay, queue_args(Some(1), &delay_args)).await.unwrap_err();
    assert!(refused.contains("x-queue-version"), "a delay queue is version 2 too: {refused}");

    // Work goes through the version 2 queues as before.
    b.publish_user_data_event("ada", "ada@example.com").await.unwrap();
    let r = consume(&b, &user_data, quick(1), RetryPolicy::default(), |_: &Received| Outcome::Ack).await.unwrap();
    assert_eq!((r.acked, r.stopped), (1, Stop::Count));
    done(b).await;
    other.teardown().await.unwrap();
    other.close().await;
}

/// Whether the broker still has `queue` (`exists(…, true)`) or `exchange`: a passive declare on
/// a channel of its own (a missing one closes the channel with 404).
async fn exists(b: &Broker, name: &str, queue: bool) -> bool {
    let ch = b.channel().await.unwrap();
    let found = if queue {
        let opts = lapin::options::QueueDeclareOptions { passive: true, ..Default::default() };
        ch.queue_declare(name.into(), opts, FieldTable::default()).await.is_ok()
    } else {
        let opts = lapin::options::ExchangeDeclareOptions { passive: true, ..Default::default() };
        ch.exchange_declare(name.into(), lapin::ExchangeKind::Direct, opts, FieldTable::default()).await.is_ok()
    };
    let _ = ch.close(200, "OK".into()).await;
    found
}

#[tokio::test]
async fn a_runs_own_topology_leaves_nothing_behind_soon_after_its_last_use_without_a_teardown() {
    // A lesson cell interrupted halfway: its topology declared, messages in a queue, no teardown.
    let topology = Topology::unique("texp").expiring(Some(Duration::from_secs(2)));
    let b = Broker::connect(&common::settings().amqp_addr, topology.clone()).await.unwrap();
    b.topology().declare_architecture(&b).await.unwrap();
    b.publish_user_data_event("ada", "ada@example.com").await.unwrap();
    let observer = broker("expobserver").await;
    assert!(exists(&observer, &topology.user_data_queue(), true).await, "declared");
    b.close().await;
    let queues = [topology.user_data_queue(), topology.priority_queue(), topology.email_queue(), topology.audit_queue(),
        topology.dead_letter_queue(), topology.recommendations_queue(), topology.dashboard_queue()]
        .into_iter()
        .chain(topology.analytics_queues());
    let exchanges = [topology.data_processing(), topology.notifications(), topology.analytics(), topology.dlx()];
    let queues: Vec<String> = queues.collect();
    // Only the exchanges are polled: asking for a queue, even passively, counts as using it
    // and starts its expiry again. The exchanges go when their last queue has.
    let started = Instant::now();
    let mut left: Vec<String> = exchanges.to_vec();
    while !left.is_empty() && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut still = Vec::new();
        for x in left {
            if exists(&observer, &x, false).await {
                still.push(x);
            }
        }
        left = still;
    }
    let gone_after = started.elapsed();
    assert!(left.is_empty(), "exchanges still on the broker {gone_after:?} after the 2 s expiry: {left:?}");
    assert!(gone_after >= Duration::from_secs(1), "not before the expiry ({gone_after:?})");
    for q in &queues {
        assert!(!exists(&observer, q, true).await, "{q} is still there after {gone_after:?}");
    }
    done(observer).await;
}

/// A message the broker cannot take — headers over the connection's frame size (200 KB against
/// the default frame_max of 131,072 bytes), a body over the broker's max_message_size — is
/// refused at once with [`Error::TooLarge`] naming its size and the limit: no reconnect loop,
/// no "RabbitMQ is unreachable", and the connection goes on working.
#[tokio::test]
async fn a_message_too_large_for_a_frame_or_the_broker_is_refused_at_once_with_its_size() {
    use helpers::queue::message::with_headers;
    use lapin::types::LongString;
    let b = broker("toolarge").await;
    let t = b.topology().clone();
    let body = serde_json::to_vec(&user("big", "big@example.com")).unwrap();
    let filler = "h".repeat(200 * 1024);
    let props = with_headers(&message::properties("user_data", 1, None), |h| {
        h.insert("x-big".into(), AMQPValue::LongString(LongString::from(filler.as_str())));
    });
    let started = Instant::now();
    let err = b.publish_raw(&t.data_processing(), "user.signup", &body, props).await.unwrap_err();
    let took = started.elapsed();
    let text = err.to_string();
    match &err {
        Error::TooLarge { size, limit, .. } => {
            assert!(*size > 200 * 1024 && *limit == u64::from(b.frame_max()), "{text}");
            assert!(text.contains(&size.to_string()) && text.contains(&limit.to_string()) && text.contains("frame_max"), "{text}");
        }
        other => panic!("expected TooLarge, got {other}"),
    }
    assert!(!text.contains("unreachable"), "{text}");
    assert!(took < Duration::from_secs(1), "refused after {took:?}");
    assert_eq!(b.recoveries(), 0, "no reconnect for a message that cannot fit");

    let huge = vec![b'x'; helpers::queue::MAX_MESSAGE_SIZE as usize + 1];
    let err = b.publish_raw(&t.data_processing(), "user.signup", &huge, message::properties("user_data", 1, None)).await.unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit, .. } if limit == helpers::queue::MAX_MESSAGE_SIZE), "{err}");
    drop(huge);

    // Nothing of either reached the queue, and the connection lives on.
    assert_eq!(b.queue_depth(&t.user_data_queue()).await.unwrap(), 0);
    b.publish(&t.data_processing(), "user.signup", &user("after", "after@example.com")).await.unwrap();
    assert_eq!(b.queue_depth(&t.user_data_queue()).await.unwrap(), 1);
    assert_eq!(b.recoveries(), 0);
    done(b).await;
}
