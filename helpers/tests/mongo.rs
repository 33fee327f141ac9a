//! Module 2 against the real MongoDB-compatible server at MONGODB_URI (the scripts start
//! SecantusDB when none runs). Every test works in a database of its own, dropped after.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use helpers::data::{EventKind, World, WorldConfig};
use helpers::mongo::docs::{EventDoc, EventMeta, Geo, GeoPoint, UserProfile, bson_date};
use helpers::mongo::{self, Mongo, events, explain, export, schema, users};
use helpers::{Error, Settings};
use bson::doc;
use polars::prelude::DataType;

/// A fresh database named after the test, with the schema declared. Drop it with `done`.
async fn fresh(test: &str) -> Mongo {
    let m = Mongo::connect(&common::settings().mongodb_uri, Some(&format!("m8test_{test}"))).await.unwrap();
    m.drop_database().await.unwrap();
    schema::ensure(&m).await.unwrap();
    m
}

async fn done(m: Mongo) {
    m.drop_database().await.unwrap();
    m.close().await;
}

async fn loaded(test: &str, users: usize) -> (Mongo, World) {
    let m = fresh(test).await;
    let world = World::generate(&WorldConfig::with_users(users));
    let report = mongo::docs::load_world(&m, &world).await.unwrap();
    assert_eq!((report.profiles, report.events), (world.users.len() as u64, world.events.len() as u64));
    (m, world)
}

fn constraint(err: Error) -> (String, String) {
    match err {
        Error::Constraint { store, rule, detail } => {
            assert_eq!(store, "MongoDB");
            (rule, detail)
        }
        other => panic!("expected a constraint error, got {other}"),
    }
}

#[tokio::test]
async fn the_schema_is_declared_idempotently_with_every_index_and_validator() {
    let m = fresh("schema").await;
    let ts = schema::ensure(&m).await.unwrap(); // a second time: nothing changes, nothing fails
    let (collections, indexes) = schema::describe(&m).await.unwrap();
    let kind = |c: &str| collections.iter().find(|r| r.collection == c).map(|r| r.kind.clone());
    assert_eq!(kind(schema::METRICS).as_deref() == Some("timeseries"), ts.supported, "{ts:?} / {collections:?}");
    assert!(!ts.note.is_empty());
    let required = collections.iter().find(|r| r.collection == schema::USERS).unwrap().required.clone();
    assert_eq!(required, "username, email, created_at");
    let index = |name: &str| indexes.iter().find(|i| i.name == name).unwrap_or_else(|| panic!("no index {name}: {indexes:?}"));
    assert!(index("username_unique").unique && index("email_unique").unique);
    assert_eq!(index("user_time").keys, r#"{"user_id":1,"timestamp":-1}"#);
    assert_eq!(index("location_2dsphere").keys, r#"{"geo.location":"2dsphere"}"#);
    assert_eq!(index("last_seen_ttl").ttl_seconds, Some(schema::SESSION_TTL_SECONDS as i64));
    done(m).await;
}

#[tokio::test]
async fn pipelines_agree_with_the_world_they_were_loaded_from() {
    let (m, world) = loaded("pipelines", 300).await;

    let distribution = events::event_distribution(&m).await.unwrap();
    for kind in [EventKind::Login, EventKind::View, EventKind::Cart, EventKind::Purchase] {
        let expected = world.events.iter().filter(|e| e.kind == kind).count() as i64;
        let got = distribution.iter().find(|r| r.event_type == kind.as_str()).map_or(0, |r| r.count);
        assert_eq!(got, expected, "{kind:?}");
    }
    assert!(distribution.windows(2).all(|w| w[0].count >= w[1].count), "sorted by count");
    assert!((distribution.iter().map(|r| r.share).sum::<f64>() - 1.0).abs() < 1e-9);

    let category: HashMap<i64, &str> = world.products.iter().map(|p| (p.id, p.category.as_str())).collect();
    let mut revenue: HashMap<&str, (i64, f64)> = HashMap::new();
    for o in &world.orders {
        let r = revenue.entry(category[&o.product_id]).or_default();
        r.0 += 1;
        r.1 += o.total;
    }
    let sales = events::purchase_analytics(&m).await.unwrap();
    assert_eq!(sales.len(), revenue.len());
    for s in &sales {
        let (n, total) = revenue[s.category.as_str()];
        assert_eq!(s.purchases, n, "{}", s.category);
        assert!((s.revenue - total).abs() < 0.011, "{}: {} vs {total}", s.category, s.revenue);
        assert!((s.average - total / n as f64).abs() < 0.011);
    }

    // The busiest users of the last 90 days, computed here from the world.
    let end = world.config.as_of.succ_opt().unwrap().and_hms_opt(0, 0, 0).unwrap();
    let start = end - chrono::Duration::days(90);
    let mut per_user: HashMap<i64, i64> = HashMap::new();
    for e in world.events.iter().filter(|e| e.at >= start && e.at < end) {
        *per_user.entry(e.user_id).or_default() += 1;
    }
    let mut expected: Vec<(i64, i64)> = per_user.into_iter().map(|(u, n)| (-n, u)).collect();
    expected.sort();
    let activity = events::user_activity(&m, start, end, 5).await.unwrap();
    let got: Vec<(i64, i64)> = activity.iter().map(|a| (-a.events, a.user_id)).collect();
    assert_eq!(got, expected.into_iter().take(5).collect::<Vec<_>>());
    assert!(activity.iter().all(|a| a.first >= start && a.last < end && a.first <= a.last && a.sessions >= 1));

    let cohorts = events::cohort_metrics(&m).await.unwrap();
    let users_with_events = world.events.iter().map(|e| e.user_id).collect::<std::collections::HashSet<_>>().len() as i64;
    assert_eq!(cohorts.iter().filter(|c| c.age == 0).map(|c| c.size).sum::<i64>(), users_with_events);
    assert!(cohorts.iter().all(|c| c.active <= c.size && (0.0..=1.0).contains(&c.retention)));
    assert!(cohorts.iter().filter(|c| c.age == 0).all(|c| c.retention == 1.0));

    let interests = events::interest_counts(&m).await.unwrap();
    let expected: usize = mongo::docs::profiles_from_world(&world).iter().map(|p| p.profile.interests.len()).sum();
    assert_eq!(interests.iter().map(|i| i.users).sum::<i64>(), expected as i64);
    done(m).await;
}

fn haversine_m(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let a = ((p2 - p1) / 2.0).sin().powi(2) + p1.cos() * p2.cos() * ((lon2 - lon1).to_radians() / 2.0).sin().powi(2);
    2.0 * 6_378_100.0 * a.sqrt().asin()
}

#[tokio::test]
async fn geo_near_returns_the_nearest_events_in_order_within_the_radius() {
    let (m, world) = loaded("geo", 300).await;
    let city = &world.cities[0];
    let radius = 20_000.0;
    let near = events::events_near(&m, city.lon, city.lat, radius, 10_000).await.unwrap();
    let inside = world.events.iter().filter(|e| haversine_m(city.lon, city.lat, e.lon, e.lat) <= radius).count();
    assert!(!near.is_empty());
    // Boundary cases may differ by the earth radius used; nothing else may.
    assert!(near.len().abs_diff(inside) <= inside / 100 + 1, "{} vs {inside}", near.len());
    assert!(near.windows(2).all(|w| w[0].distance_m <= w[1].distance_m), "nearest first");
    assert!(near.iter().all(|n| n.distance_m <= radius + 0.1));
    let limited = events::events_near(&m, city.lon, city.lat, radius, 3).await.unwrap();
    assert_eq!(limited, near[..3].to_vec());
    done(m).await;
}

#[tokio::test]
async fn invalid_documents_and_duplicates_are_refused_with_the_servers_reason_and_nothing_is_kept() {
    let m = fresh("validation").await;
    users::insert_user(&m, &UserProfile::new(1, "ada_l", "ada@example.com", &["books"])).await.unwrap();

    let (rule, detail) = constraint(users::insert_user(&m, &UserProfile::new(2, "bob", "not-an-address", &[])).await.unwrap_err());
    assert_eq!(rule, "document failed validation");
    assert!(detail.contains("email") && detail.contains("not-an-address"), "{detail}");

    let (rule, detail) = constraint(users::insert_user(&m, &UserProfile::new(3, "ada_l", "other@example.com", &[])).await.unwrap_err());
    assert_eq!(rule, "duplicate value for unique index username_unique");
    assert!(detail.contains("ada_l"), "{detail}");
    assert_eq!(users::count(&m).await.unwrap(), 1, "neither refused document was stored");

    // An update is validated too: the score stays as it was.
    let (_, detail) = constraint(users::update_metrics(&m, "ada_l", 42.0, 1).await.unwrap_err());
    assert!(detail.contains("engagement_score"), "{detail}");
    let ada = users::by_username(&m, "ada_l").await.unwrap().unwrap();
    assert_eq!((ada.metrics.engagement_score, ada.metrics.logins), (0.0, 0));
    let outcome = users::update_metrics(&m, "ada_l", 7.5, 3).await.unwrap();
    assert_eq!((outcome.matched, outcome.modified), (1, 1));
    let ada = users::by_username(&m, "ada_l").await.unwrap().unwrap();
    assert_eq!((ada.metrics.engagement_score, ada.metrics.logins), (7.5, 3));
    assert_eq!(users::update_metrics(&m, "nobody", 1.0, 1).await.unwrap().matched, 0);

    // An event of an unknown type, and one whose point is not a point.
    let event = |kind: &str, coordinates: Vec<f64>| {
        let mut doc = bson::to_document(&EventDoc {
            user_id: 1,
            event_type: kind.into(),
            timestamp: bson::DateTime::now(),
            session_id: None,
            metadata: EventMeta::default(),
            geo: Some(Geo { country: "X".into(), city: "Y".into(), location: GeoPoint::new(0.0, 0.0) }),
        })
        .unwrap();
        doc.get_document_mut("geo").unwrap().get_document_mut("location").unwrap().insert("coordinates", coordinates);
        doc
    };
    let report = users::bulk_insert(&m, schema::EVENTS, &[event("teleport", vec![1.0, 2.0]), event("login", vec![1.0]), event("login", vec![1.0, 2.0])])
        .await
        .unwrap();
    assert_eq!((report.attempted, report.inserted), (3, 1));
    assert_eq!(report.failed.iter().map(|f| f.index).collect::<Vec<_>>(), [0, 1]);
    assert!(report.failed[0].detail.contains("event_type"), "{:?}", report.failed[0]);
    assert!(report.failed[1].detail.contains("coordinates"), "{:?}", report.failed[1]);
    done(m).await;
}

#[tokio::test]
async fn an_unordered_bulk_insert_stores_the_good_documents_and_names_each_bad_one() {
    let m = fresh("bulk").await;
    users::insert_user(&m, &UserProfile::new(1, "taken", "taken@example.com", &[])).await.unwrap();
    let batch = vec![
        UserProfile::new(10, "good_one", "one@example.com", &["books"]),
        UserProfile::new(11, "x", "short@example.com", &[]),           // username too short
        UserProfile::new(12, "good_two", "two@example.com", &["toys"]),
        UserProfile::new(13, "taken", "dup@example.com", &[]),         // username exists
        UserProfile::new(14, "no_at", "no-at-sign", &[]),              // not an e-mail
        UserProfile::new(15, "good_three", "three@example.com", &[]),
        UserProfile::new(16, "good_one", "again@example.com", &[]),    // duplicate inside the batch
    ];
    let report = users::bulk_insert(&m, schema::USERS, &batch).await.unwrap();
    assert_eq!((report.attempted, report.inserted), (7, 3));
    let failed: Vec<(i64, i64)> = report.failed.iter().map(|f| (f.index, f.code)).collect();
    assert_eq!(failed, [(1, 121), (3, 11000), (4, 121), (6, 11000)]);
    assert!(report.failed[0].detail.contains("username"), "{:?}", report.failed[0]);
    assert!(report.failed[2].detail.contains("email"), "{:?}", report.failed[2]);
    assert_eq!(users::count(&m).await.unwrap(), 4);
    for name in ["good_one", "good_two", "good_three"] {
        assert!(users::by_username(&m, name).await.unwrap().is_some(), "{name} stored");
    }
    assert_eq!(users::by_username(&m, "good_one").await.unwrap().unwrap().user_id, 10, "the first good_one won");
    done(m).await;
}

#[tokio::test]
async fn user_input_cannot_inject_query_operators() {
    let (m, world) = loaded("injection", 50).await;
    for input in [r#"{"$ne": null}"#, r#"{"$gt": ""}"#, r#"{"$regex": ".*"}"#] {
        assert!(users::by_username(&m, input).await.unwrap().is_none(), "{input}");
        let demo = users::injection_demo(&m, input).await.unwrap();
        assert_eq!(demo.bound_as_string, 0, "{input}");
        assert_eq!(demo.parsed_into_filter, Some(world.users.len() as u64), "{input}: pasting JSON into the filter matches everyone");
    }
    let real = &world.users[3].username;
    assert_eq!(users::by_username(&m, real).await.unwrap().unwrap().user_id, world.users[3].id);
    let interested = users::find_by_interest(&m, "books", 1000).await.unwrap();
    assert!(!interested.is_empty() && interested.iter().all(|p| p.profile.interests.iter().any(|i| i == "books")));
    assert!(interested.windows(2).all(|w| w[0].metrics.engagement_score >= w[1].metrics.engagement_score));
    done(m).await;
}

#[tokio::test]
async fn explain_shows_the_index_scan_examining_only_the_users_events() {
    let (m, world) = loaded("explain", 200).await;
    let user = world.users[7].id;
    let expected = world.events.iter().filter(|e| e.user_id == user).count() as i64;
    let plans = explain::index_vs_scan(&m, user).await.unwrap();
    let (with, scan) = (&plans[0], &plans[1]);
    assert_eq!(with.index.as_deref(), Some("user_time"), "{with:?}");
    assert!(with.stages.contains("IXSCAN"), "{with:?}");
    assert_eq!((with.returned, with.docs_examined, with.keys_examined), (expected, expected, expected));
    assert!(scan.stages.contains("COLLSCAN") && scan.index.is_none(), "{scan:?}");
    assert_eq!((scan.returned, scan.docs_examined), (expected, world.events.len() as i64));
    done(m).await;
}

#[tokio::test]
async fn query_and_pipeline_results_export_to_typed_frames_and_csv() {
    let (m, world) = loaded("export", 100).await;
    let df = export::find_frame(&m, schema::EVENTS, doc! { "event_type": "purchase" }, 10_000).await.unwrap();
    assert_eq!(df.height(), world.orders.len());
    let dtype = |c: &str| df.column(c).unwrap_or_else(|_| panic!("no column {c}: {:?}", df.get_column_names())).dtype().clone();
    assert_eq!(dtype("user_id"), DataType::Int64);
    assert_eq!(dtype("metadata.price"), DataType::Float64);
    assert!(matches!(dtype("timestamp"), DataType::Datetime(_, _)));
    assert_eq!(dtype("geo.location.coordinates"), DataType::String);
    assert_eq!(dtype("geo.city"), DataType::String);

    let mut sales = export::aggregate_frame(&m, &mongo::pipelines::purchases_by_category()).await.unwrap();
    assert_eq!(sales.get_column_names(), ["_id", "purchases", "units", "revenue", "average", "buyers"]);
    let path = std::env::temp_dir().join(format!("m8test-export-{}.csv", std::process::id()));
    export::write_csv(&mut sales, &path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(text.lines().count(), sales.height() + 1);
    assert!(text.starts_with("_id,purchases,units,revenue,average,buyers\n"));
    done(m).await;
}

#[tokio::test]
async fn an_event_logged_by_hand_is_counted_by_the_pipelines() {
    let m = fresh("log_event").await;
    let at = chrono::NaiveDate::from_ymd_opt(2025, 6, 1).unwrap().and_hms_opt(12, 0, 0).unwrap();
    for (i, kind) in ["login", "view", "purchase"].into_iter().enumerate() {
        let event = EventDoc {
            user_id: 42,
            event_type: kind.into(),
            timestamp: bson_date(at + chrono::Duration::minutes(i as i64)),
            session_id: Some(7),
            metadata: EventMeta { price: (kind == "purchase").then_some(19.99), category: Some("books".into()), product_id: Some(3), quantity: Some(1) },
            geo: Some(Geo { country: "Ukraine".into(), city: "Kyiv".into(), location: GeoPoint::new(30.52, 50.45) }),
        };
        events::log_event(&m, &event).await.unwrap();
    }
    let activity = events::user_activity(&m, at, at + chrono::Duration::hours(1), 10).await.unwrap();
    assert_eq!(activity.len(), 1);
    assert_eq!((activity[0].user_id, activity[0].events, activity[0].sessions, activity[0].purchases), (42, 3, 1, 1));
    let near = events::events_near(&m, 30.5234, 50.4501, 1_000.0, 10).await.unwrap();
    assert_eq!(near.len(), 3);
    assert!(near.iter().all(|n| n.city == "Kyiv" && n.distance_m > 100.0 && n.distance_m < 1_000.0), "{near:?}");
    done(m).await;
}

#[tokio::test]
async fn the_server_expires_a_stale_session_by_its_ttl_index_and_keeps_a_fresh_one() {
    let m = fresh("ttl").await;
    let now = bson::DateTime::now();
    let stale = bson::DateTime::from_millis(now.timestamp_millis() - (schema::SESSION_TTL_SECONDS as i64 + 60) * 1000);
    let sessions = m.collection::<bson::Document>(schema::SESSIONS);
    sessions
        .insert_many(vec![doc! { "session_id": "stale", "user_id": 1, "last_seen": stale }, doc! { "session_id": "fresh", "user_id": 2, "last_seen": now }])
        .await
        .unwrap();
    // Nothing in the client deletes: the server's TTL monitor does, on its next pass (every
    // second on the servers the scripts start; see scripts/secantusd.py). The bound is generous:
    // this file's other tests load worlds into the same single-process server at the same time,
    // and a CI run saw the pass come later than 10 s under that load.
    let gone = schema::wait_until_gone(&m, schema::SESSIONS, doc! { "session_id": "stale" }, Duration::from_secs(90)).await.unwrap();
    assert!(gone.is_some(), "the stale session was still there after 90 s: is the server's TTL monitor (ttlMonitorSleepSecs) slower than that?");
    assert_eq!(sessions.count_documents(doc! { "session_id": "fresh" }).await.unwrap(), 1, "a session seen just now must stay");
    // The wait is bounded: a document that stays is reported as still there, in about the bound.
    let started = Instant::now();
    let kept = schema::wait_until_gone(&m, schema::SESSIONS, doc! { "session_id": "fresh" }, Duration::from_millis(300)).await.unwrap();
    assert_eq!(kept, None);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    done(m).await;
}

#[tokio::test]
async fn an_unreachable_server_is_named_masked_and_bounded() {
    let dead: Settings = common::dead_settings();
    let started = Instant::now();
    let err = Mongo::open(&dead).await.unwrap_err();
    assert!(started.elapsed() < mongo::SERVER_SELECTION_TIMEOUT + Duration::from_secs(3), "{:?}", started.elapsed());
    let text = err.to_string();
    assert!(matches!(err, Error::Unreachable { service: "MongoDB", .. }), "{text}");
    assert!(text.contains("127.0.0.1:1") && text.contains("MONGODB_URI") && text.contains("services.sh"), "{text}");
    assert!(!text.contains("mongo-secret-2"), "{text}");
}

/// A bulk load into a database that is not the module's and holds documents it did not write
/// refuses and drops nothing; `load_world_replacing` (what `M8_ALLOW_RESET=1` allows) replaces
/// them, and from then on the collections are the module's.
#[tokio::test]
async fn a_bulk_load_refuses_to_drop_documents_it_did_not_write_unless_allowed() {
    let m = Mongo::connect(&common::settings().mongodb_uri, Some("m8test_foreign")).await.unwrap();
    m.drop_database().await.unwrap();
    m.collection::<bson::Document>(schema::USERS).insert_one(doc! { "username": "their_user" }).await.unwrap();
    let world = World::generate(&WorldConfig::with_users(30));

    let err = mongo::docs::load_world(&m, &world).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::WouldDestroy { action: "bulk-load", .. }), "{text}");
    assert!(text.contains("m8test_foreign") && text.contains("1 document ") && text.contains("M8_ALLOW_RESET=1"), "{text}");
    let theirs = m.collection::<bson::Document>(schema::USERS).count_documents(doc! {}).await.unwrap();
    assert_eq!(theirs, 1, "their document must still be there");

    let report = mongo::docs::load_world_replacing(&m, &world).await.unwrap();
    assert_eq!(report.profiles, world.users.len() as u64);
    // The module's collections now: loading again needs no permission.
    let again = mongo::docs::load_world(&m, &world).await.unwrap();
    assert_eq!(again.profiles, world.users.len() as u64);
    done(m).await;
}

/// `uri` with its database replaced by `db` (user, hosts and options kept).
fn with_database(uri: &str, db: &str) -> String {
    let (scheme, rest) = uri.split_once("://").expect("a URI");
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let options = tail.split_once('?').map(|(_, o)| format!("?{o}")).unwrap_or_default();
    format!("{scheme}://{authority}/{db}{options}")
}

/// Notebook 02's exercises: another right pipeline (a different stage order and names in
/// another case are not asked about) is right; a near miss says what differs; a stage the
/// server refuses is a verdict quoting it.
#[test]
fn exercise_checks_accept_any_right_pipeline_and_explain_wrong_ones() {
    let mut settings = common::settings();
    settings.mongodb_uri = helpers::ServiceUrl::new(with_database(settings.mongodb_uri.expose(), "module8_extest"));
    let m = mongo::SyncMongo::new(&settings);
    m.load_world(&World::generate(&WorldConfig::with_users(300))).unwrap();

    // 02.1: the same answer with the $sort's tie-break and the accumulators' order changed.
    let right = vec![
        doc! { "$match": { "event_type": "purchase" } },
        doc! { "$group": { "_id": "$geo.country", "revenue": { "$sum": "$metadata.price" }, "purchases": { "$count": {} } } },
        doc! { "$sort": { "revenue": -1, "_id": 1 } },
    ];
    let v = m.check_exercise("02.1", right.clone()).unwrap();
    assert!(v.correct, "{v}");
    // A near miss with the right rows: units summed instead of the price.
    let mut sums_units = right.clone();
    sums_units[1] = doc! { "$group": { "_id": "$geo.country", "revenue": { "$sum": "$metadata.quantity" }, "purchases": { "$count": {} } } };
    let v = m.check_exercise("02.1", sums_units).unwrap();
    assert!(!v.correct && v.feedback.contains("differ"), "{v}");
    let v = m.check_exercise("02.1", right[..2].to_vec()).unwrap();
    assert!(!v.correct, "unsorted is not the asked order: {v}");

    // 02.2: $size fails on profiles without interests unless guarded; a guarded one is right.
    let v = m
        .check_exercise("02.2", vec![
            doc! { "$project": { "n": { "$cond": [{ "$isArray": "$profile.interests" }, { "$size": "$profile.interests" }, 0] } } },
            doc! { "$group": { "_id": "$n", "users": { "$sum": 1 } } },
            doc! { "$sort": { "_id": 1 } },
        ])
        .unwrap();
    assert!(v.correct, "{v}");
    let v = m.check_exercise("02.2", vec![doc! { "$group": { "_id": "$profile.interests", "users": { "$sum": 1 } } }]).unwrap();
    assert!(!v.correct, "{v}");

    let v = m.check_exercise("02.1", vec![doc! { "$nosuchstage": {} }]).unwrap();
    assert!(!v.correct && v.feedback.starts_with("MongoDB refused your answer"), "{v}");
    assert!(matches!(m.check_exercise("02.7", vec![]), Err(Error::NotFound(_))));
    helpers::run(async {
        let db = Mongo::connect(&settings.mongodb_uri, Some("module8_extest")).await.unwrap();
        db.drop_database().await.unwrap();
        db.close().await;
    });
}

/// Notebook 02's exercise checks run the learner's pipeline read-only and bounded: a `$out` or
/// `$merge` anywhere (top level, in a `$facet`, in a `$lookup`'s pipeline) is refused and writes
/// nothing; a runaway pipeline stops at 5 s (`maxTimeMS`); more than 10,000 documents are cut and
/// said so; a right answer is still right afterwards.
#[test]
fn exercise_checks_run_the_pipeline_read_only_and_bounded() {
    let mut settings = common::settings();
    settings.mongodb_uri = helpers::ServiceUrl::new(with_database(settings.mongodb_uri.expose(), "module8_sbtest"));
    let m = mongo::SyncMongo::new(&settings);
    m.load_world(&World::generate(&WorldConfig::with_users(300))).unwrap();
    let collections = || {
        helpers::run(async {
            let db = Mongo::connect(&settings.mongodb_uri, None).await.unwrap();
            let mut names = db.database().list_collection_names().await.unwrap();
            names.sort();
            db.close().await;
            names
        })
    };
    let counts = || (m.count("events", doc! {}).unwrap(), m.count("user_profiles", doc! {}).unwrap());
    let (before_names, before) = (collections(), counts());
    assert!(before.0 > 0 && before.1 == 300, "{before:?}");

    let purchases = doc! { "$match": { "event_type": "purchase" } };
    for (pipeline, stage) in [
        (vec![purchases.clone(), doc! { "$out": "sb_copy" }], "$out"),
        (vec![doc! { "$merge": { "into": "user_profiles" } }], "$merge"),
        (vec![doc! { "$facet": { "a": [{ "$match": {} }], "b": [{ "$merge": { "into": "sb_facet" } }] } }], "$merge"),
        (vec![purchases.clone(), doc! { "$lookup": { "from": "events", "as": "e", "pipeline": [{ "$out": "sb_lookup" }] } }], "$out"),
    ] {
        let v = m.check_exercise("02.1", pipeline.clone()).unwrap();
        assert!(!v.correct && v.feedback.contains(&format!("`{stage}` stage")) && v.feedback.contains("an answer only reads"), "{pipeline:?}: {v}");
    }
    assert_eq!((collections(), counts()), (before_names.clone(), before), "a writing pipeline changed the database");

    let started = Instant::now();
    let runaway = vec![
        doc! { "$lookup": { "from": "events", "pipeline": [], "as": "a" } },
        doc! { "$unwind": "$a" },
        doc! { "$lookup": { "from": "events", "pipeline": [], "as": "b" } },
        doc! { "$unwind": "$b" },
        doc! { "$group": { "_id": "$geo.country", "purchases": { "$sum": 1 }, "revenue": { "$sum": "$b.metadata.price" } } },
    ];
    let v = m.check_exercise("02.1", runaway).unwrap();
    let took = started.elapsed();
    assert!(!v.correct && v.feedback.contains("ran past 5 s"), "{v}");
    assert!(took < Duration::from_secs(15), "stopped after {took:?}");

    let exploded = vec![doc! { "$project": { "x": { "$range": [0, 50] } } }, doc! { "$unwind": "$x" }];
    let v = m.check_exercise("02.2", exploded).unwrap();
    assert!(!v.correct && v.feedback.contains("more than 10,000 documents"), "{v}");

    let right = vec![
        doc! { "$group": { "_id": { "$size": { "$ifNull": ["$profile.interests", []] } }, "users": { "$sum": 1 } } },
        doc! { "$sort": { "_id": 1 } },
    ];
    assert!(m.check_exercise("02.2", right).unwrap().correct);
    assert_eq!((collections(), counts()), (before_names, before));
    helpers::run(async {
        let db = Mongo::connect(&settings.mongodb_uri, None).await.unwrap();
        db.drop_database().await.unwrap();
        db.close().await;
    });
}

/// A typed frame holds exactly the named fields, typed as named: the events of a loaded world
/// come back one row each, a product id only where the event is about a product, the country
/// from the nested `geo`, and a field named with the wrong type is all nulls, not an error.
#[tokio::test]
async fn typed_frames_hold_the_named_fields_with_their_types_and_nulls_where_documents_differ() {
    use helpers::mongo::typed::{FieldType, find_typed};
    let (m, world) = loaded("typed", 120).await;
    let schema = [
        ("user_id", FieldType::Int),
        ("event_type", FieldType::Text),
        ("timestamp", FieldType::DateTime),
        ("metadata.product_id", FieldType::Int),
        ("geo.country", FieldType::Text),
        ("event_type", FieldType::Float),
    ];
    let df = find_typed(&m, schema::EVENTS, doc! {}, &schema[..5], 0).await.unwrap();
    assert_eq!(df.height(), world.events.len());
    assert_eq!(df.get_column_names(), ["user_id", "event_type", "timestamp", "metadata.product_id", "geo.country"]);
    assert_eq!(*df.column("user_id").unwrap().dtype(), DataType::Int64);
    assert!(matches!(df.column("timestamp").unwrap().dtype(), DataType::Datetime(..)));
    let with_product = world.events.iter().filter(|e| e.product_id.is_some()).count();
    assert_eq!(df.column("metadata.product_id").unwrap().null_count(), world.events.len() - with_product);
    assert_eq!(df.column("geo.country").unwrap().null_count(), 0);
    let ids: i64 = df.column("user_id").unwrap().i64().unwrap().into_no_null_iter().sum();
    assert_eq!(ids, world.events.iter().map(|e| e.user_id).sum::<i64>());
    // A filter and a limit; a field asked for as the wrong type is nulls.
    let wrong = find_typed(&m, schema::EVENTS, doc! { "event_type": "purchase" }, &schema[5..], 7).await.unwrap();
    assert_eq!((wrong.height(), wrong.column("event_type").unwrap().null_count()), (7, 7));
    assert!(matches!(find_typed(&m, schema::EVENTS, doc! {}, &[], 0).await, Err(Error::Invalid { .. })));
    done(m).await;
}

/// Sampling a database names every collection with its size and each field with its types and
/// how often it is there: profiles always have a username (a string), events a nested country.
#[tokio::test]
async fn sampled_fields_name_each_collections_fields_types_and_presence() {
    let (m, world) = loaded("sampled", 80).await;
    let fields = mongo::explore::sample_fields(&m, &[], 50).await.unwrap();
    let only = mongo::explore::sample_fields(&m, &[schema::USERS], 10).await.unwrap();
    assert!(!only.is_empty() && only.iter().all(|f| f.collection == schema::USERS), "{only:?}");
    let find = |c: &str, f: &str| fields.iter().find(|s| s.collection == c && s.field == f).unwrap_or_else(|| panic!("no {c}.{f}: {fields:?}"));
    let username = find(schema::USERS, "username");
    assert_eq!((username.types.as_str(), username.present, username.documents), ("string 100%", 1.0, world.users.len() as i64));
    let country = find(schema::EVENTS, "geo.country");
    assert!(country.types.starts_with("string") && country.present > 0.9, "{country:?}");
    let product = find(schema::EVENTS, "metadata.product_id");
    assert!(product.present < 1.0 && product.types.contains("long"), "{product:?}");
    done(m).await;
}
