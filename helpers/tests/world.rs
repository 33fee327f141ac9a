//! The synthetic world at scale, and its determinism across runs.

use std::collections::HashSet;

use helpers::data::{EventKind, World, WorldConfig};

#[test]
fn a_hundred_thousand_users_make_about_a_million_events() {
    let world = World::generate(&WorldConfig { users: 100_000, ..WorldConfig::default() });
    assert_eq!(world.users.len(), 100_000);
    assert!((800_000..1_200_000).contains(&world.events.len()), "{} events", world.events.len());
    let ids: HashSet<i64> = world.events.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), world.events.len(), "event ids are unique");
    let purchases = world.events.iter().filter(|e| e.kind == EventKind::Purchase).count();
    assert_eq!(purchases, world.orders.len());
    let events = world.events_frame().unwrap();
    assert_eq!(events.height(), world.events.len());
}

#[test]
fn the_world_does_not_depend_on_when_or_where_it_is_generated() {
    // A fingerprint of fixed values: if it changes, every notebook's numbers change.
    let world = World::generate(&WorldConfig::with_users(1_000));
    let again = World::generate(&WorldConfig::with_users(1_000));
    assert_eq!(world.users, again.users);
    assert_eq!(world.events.len(), again.events.len());
    let first = &world.users[0];
    assert_eq!(first.id, 1);
    assert!(first.email.ends_with("@example.com") && first.email.starts_with(&first.username));
    assert!(world.users.iter().all(|u| u.registered_at.date() <= world.config.as_of));
    assert!(world.events.iter().all(|e| e.at.date() <= world.config.as_of));
}

#[test]
fn every_event_location_is_on_the_globe() {
    let world = World::generate(&WorldConfig::with_users(2_000));
    assert!(world.events.iter().all(|e| (-90.0..=90.0).contains(&e.lat) && (-180.0..=180.0).contains(&e.lon)));
    assert!(world.events.iter().filter(|e| e.kind != EventKind::Login).all(|e| e.product_id.is_some()));
    assert!(world.events.iter().filter(|e| e.kind == EventKind::Login).all(|e| e.product_id.is_none()));
}
