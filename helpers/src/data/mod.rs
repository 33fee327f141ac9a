//! The seeded synthetic world every module works on.
//!
//! Countries → cities (real coordinates) → addresses → users; products in categories;
//! sessions of events (logins, views, carts, purchases) with timestamps and locations; and
//! one order per purchase event. Same [`WorldConfig`] (seed included) = same world, on any
//! machine. Each user is drawn from a random stream of their own, so user 17 of a
//! 1,000-user world is user 17 of a 100,000-user world too.
//!
//! # The planted mechanism
//!
//! Behaviour follows latent traits kept in [`UserTruth`], so that later models can be
//! scored against a known answer:
//! - `engagement` ~ LogNormal(0, 0.6) scales how often a user comes back;
//! - `spend` ~ LogNormal(0, 0.5) scales how likely a session ends in a cart and a purchase,
//!   and how many items an order holds;
//! - churn: from registration, a user leaves after an exponential time with daily hazard
//!   `churn_hazard = base · engagement^-1 · (1.8 if not verified)`; a user who left before
//!   `as_of` is `churned`, has no events after `churned_at`, and their last activity shows it;
//! - `monthly_value` is the expected spend per active month implied by the traits (the
//!   lifetime-value truth).
//!
//! And in what is bought, for a recommender to find:
//! - **bought together**: every product has two companions, one of its own category and one of
//!   the next; once a user has bought something, 60 % of their views land on a companion of one
//!   of their purchases (and a view may become a cart and a purchase);
//! - **tastes by country**: each country favours two categories, and 60 % of its users take
//!   one of them as their favourite category (half of their other views);
//! - the rest of the views follow a Zipf-like popularity, the same everywhere.

//!
//! The rooms: this file holds the records and the configuration; `generate` draws a world
//! from a configuration; `frames` shows one as DataFrames.

use chrono::{NaiveDate, NaiveDateTime};
use serde::Serialize;

mod frames;
mod generate;

/// Size and shape of a synthetic world. Every field has a documented default.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorldConfig {
    /// Seed of every random draw. Default 42.
    pub seed: u64,
    /// Number of users. Default 1,000.
    pub users: usize,
    /// Number of products. Default 200.
    pub products: usize,
    /// Mean number of events per user over the whole history. Default 10.
    pub events_per_user: f64,
    /// How far back registrations go, in days before `as_of`. Default 730.
    pub history_days: u32,
    /// The day the world is observed ("today" for recency). Default 2025-12-31, fixed so
    /// that the data does not change with the calendar.
    pub as_of: NaiveDate,
    /// Daily churn hazard of an average, verified user. Default 0.0012 (about a third of
    /// users have churned by `as_of`).
    pub churn_base_hazard: f64,
}

impl Default for WorldConfig {
    fn default() -> Self {
        WorldConfig {
            seed: 42,
            users: 1_000,
            products: 200,
            events_per_user: 10.0,
            history_days: 730,
            as_of: NaiveDate::from_ymd_opt(2025, 12, 31).expect("valid date"),
            churn_base_hazard: 0.0012,
        }
    }
}

impl WorldConfig {
    /// The last second of `as_of`: the world's "now". Lessons that need "today" take it from
    /// here, never from what the database happens to hold (a row another notebook wrote today
    /// would make every seeded user look a year idle).
    pub fn now(&self) -> NaiveDateTime {
        self.as_of.and_hms_opt(23, 59, 59).expect("valid time")
    }

    /// The default world: 1,000 users, about 10,000 events. Generates in well under a second.
    pub fn small() -> Self {
        Self::default()
    }

    /// The default world with `users` users (events scale with it).
    pub fn with_users(users: usize) -> Self {
        WorldConfig { users, ..Self::default() }
    }

    /// The same world shape with another seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

/// A country.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Country {
    /// 1-based id.
    pub id: i64,
    /// ISO 3166-1 alpha-2 code.
    pub code: String,
    /// English name.
    pub name: String,
    /// Continent.
    pub continent: String,
    /// Inhabitants (rounded, about 2023).
    pub population: i64,
    /// Gross domestic product per inhabitant, US dollars (rounded, about 2023).
    pub gdp_per_capita: f64,
}

/// A city, with the coordinates of its centre.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct City {
    /// 1-based id.
    pub id: i64,
    /// The country it lies in.
    pub country_id: i64,
    /// English name.
    pub name: String,
    /// The region it lies in (state, province, nation).
    pub region: String,
    /// Latitude of the centre, degrees.
    pub lat: f64,
    /// Longitude of the centre, degrees.
    pub lon: f64,
}

/// A street address near a city centre. One per user.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Address {
    /// 1-based id.
    pub id: i64,
    /// The city it is in.
    pub city_id: i64,
    /// House number and street.
    pub street: String,
    /// Postal code.
    pub postal_code: String,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
}

/// A registered user, as the application sees them (no latent traits: see [`UserTruth`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct User {
    /// 1-based id.
    pub id: i64,
    /// Unique login name.
    pub username: String,
    /// Unique e-mail address.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Their address.
    pub address_id: i64,
    /// When they signed up.
    pub registered_at: NaiveDateTime,
    /// Profile completeness and quality, 0–100.
    pub profile_score: f64,
    /// Whether the e-mail address was verified.
    pub verified: bool,
    /// Time of their last event (their registration when they have none).
    pub last_active_at: NaiveDateTime,
    /// Number of logins.
    pub login_count: i64,
}

/// The latent traits behind a user's behaviour: the planted truth models are scored on.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UserTruth {
    /// The user.
    pub user_id: i64,
    /// How often they come back (1.0 = typical).
    pub engagement: f64,
    /// How readily they buy (1.0 = typical).
    pub spend: f64,
    /// Daily probability of leaving.
    pub churn_hazard: f64,
    /// Whether they left before `as_of`.
    pub churned: bool,
    /// When they left, if they did.
    pub churned_at: Option<NaiveDateTime>,
    /// Expected spend per active month implied by the traits.
    pub monthly_value: f64,
}

/// A product for sale.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Product {
    /// 1-based id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Category, one of [`CATEGORIES`].
    pub category: String,
    /// Unit price.
    pub price: f64,
}

/// An order: one per purchase event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Order {
    /// 1-based id.
    pub id: i64,
    /// Who bought.
    pub user_id: i64,
    /// What.
    pub product_id: i64,
    /// How many.
    pub quantity: i64,
    /// Price per unit at the time of the order.
    pub unit_price: f64,
    /// `quantity × unit_price`, rounded to cents.
    pub total: f64,
    /// When.
    pub ordered_at: NaiveDateTime,
    /// `completed`, or `refunded` for about 3 %.
    pub status: String,
}

/// What a user did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Signed in (starts a session).
    Login,
    /// Looked at a product.
    View,
    /// Put a product in the cart.
    Cart,
    /// Bought a product (there is an [`Order`] for it).
    Purchase,
}

impl EventKind {
    /// The kind as stored: `login`, `view`, `cart`, `purchase`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Login => "login",
            EventKind::View => "view",
            EventKind::Cart => "cart",
            EventKind::Purchase => "purchase",
        }
    }
}

/// One event with its time and place.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// 1-based id, in generation order (by user, then time).
    pub id: i64,
    /// Who.
    pub user_id: i64,
    /// The session it belongs to (unique across users).
    pub session_id: i64,
    /// What.
    pub kind: EventKind,
    /// The product, for views, carts and purchases.
    pub product_id: Option<i64>,
    /// When.
    pub at: NaiveDateTime,
    /// Where: latitude, degrees.
    pub lat: f64,
    /// Where: longitude, degrees.
    pub lon: f64,
}

/// Product categories.
pub const CATEGORIES: &[&str] =
    &["electronics", "books", "clothing", "home", "sports", "beauty", "toys", "grocery"];

/// A generated world. Build one with [`World::generate`].
#[derive(Clone, Debug)]
pub struct World {
    /// The configuration it was generated from.
    pub config: WorldConfig,
    /// Countries.
    pub countries: Vec<Country>,
    /// Cities.
    pub cities: Vec<City>,
    /// Addresses (one per user; `addresses[i]` belongs to `users[i]`).
    pub addresses: Vec<Address>,
    /// Users.
    pub users: Vec<User>,
    /// The planted truth per user (`truth[i]` belongs to `users[i]`).
    pub truth: Vec<UserTruth>,
    /// Products.
    pub products: Vec<Product>,
    /// Orders, by user then time.
    pub orders: Vec<Order>,
    /// Events, by user then time.
    pub events: Vec<Event>,
}


/// The original course's churn heuristic, in one place: a logistic function of the days
/// without activity, 50 % at 60 days, `1 / (1 + exp(-(days - 60) / 15))`. Lesson 03 caches it
/// as a user's churn score; module 5 uses it as the baseline its model must beat.
pub fn recency_churn_score(days_inactive: f64) -> f64 {
    1.0 / (1.0 + (-(days_inactive - 60.0) / 15.0).exp())
}

#[cfg(test)]
mod tests {
    use chrono::Duration as ChronoDuration;
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_world() {
        let cfg = WorldConfig::with_users(200);
        let (a, b) = (World::generate(&cfg), World::generate(&cfg));
        assert_eq!(a.users, b.users);
        assert_eq!(a.events, b.events);
        assert_eq!(a.orders, b.orders);
    }

    #[test]
    fn the_busiest_city_has_the_most_addresses() {
        let w = World::generate(&WorldConfig::with_users(500));
        let count = |id: i64| w.addresses.iter().filter(|a| a.city_id == id).count();
        let busiest = w.busiest_city();
        assert!(count(busiest.id) > 0);
        assert!(w.cities.iter().all(|c| count(c.id) < count(busiest.id) || (count(c.id) == count(busiest.id) && c.id >= busiest.id)), "{}", busiest.name);
    }

    #[test]
    fn another_seed_gives_another_world() {
        let a = World::generate(&WorldConfig::with_users(100));
        let b = World::generate(&WorldConfig::with_users(100).seed(7));
        assert_ne!(a.users, b.users);
    }

    #[test]
    fn a_user_is_the_same_whatever_the_size_of_the_world() {
        let small = World::generate(&WorldConfig::with_users(50));
        let large = World::generate(&WorldConfig::with_users(500));
        assert_eq!(small.users[..], large.users[..50]);
        assert_eq!(small.truth[..], large.truth[..50]);
    }

    #[test]
    fn usernames_and_emails_are_unique() {
        let w = World::generate(&WorldConfig::with_users(2_000));
        let names: std::collections::HashSet<_> = w.users.iter().map(|u| &u.username).collect();
        let emails: std::collections::HashSet<_> = w.users.iter().map(|u| &u.email).collect();
        assert_eq!(names.len(), 2_000);
        assert_eq!(emails.len(), 2_000);
    }

    #[test]
    fn every_purchase_event_has_exactly_one_order() {
        let w = World::generate(&WorldConfig::with_users(300));
        let purchases = w.events.iter().filter(|e| e.kind == EventKind::Purchase).count();
        assert_eq!(purchases, w.orders.len());
        assert!(purchases > 0);
        for o in &w.orders {
            assert!((o.total - o.quantity as f64 * o.unit_price).abs() < 0.01, "{o:?}");
        }
    }

    #[test]
    fn nothing_happens_after_churn_or_before_registration() {
        let w = World::generate(&WorldConfig::with_users(300));
        for e in &w.events {
            let u = &w.users[(e.user_id - 1) as usize];
            let t = &w.truth[(e.user_id - 1) as usize];
            assert!(e.at >= u.registered_at);
            if let Some(churned_at) = t.churned_at {
                // a session may run a few minutes past the moment of churn
                assert!(e.at <= churned_at + ChronoDuration::hours(1), "{e:?} after {churned_at}");
            }
        }
    }

    #[test]
    fn churned_users_have_been_inactive_longer_on_average() {
        let w = World::generate(&WorldConfig::with_users(3_000));
        let as_of = w.config.as_of.and_hms_opt(0, 0, 0).unwrap();
        let recency = |churned: bool| {
            let days: Vec<f64> = w
                .users
                .iter()
                .zip(&w.truth)
                .filter(|(_, t)| t.churned == churned)
                .map(|(u, _)| (as_of - u.last_active_at).num_days() as f64)
                .collect();
            days.iter().sum::<f64>() / days.len() as f64
        };
        let share = w.truth.iter().filter(|t| t.churned).count() as f64 / 3_000.0;
        assert!((0.15..0.6).contains(&share), "churned share {share}");
        assert!(recency(true) > 2.0 * recency(false), "{} vs {}", recency(true), recency(false));
    }

    #[test]
    fn events_per_user_is_close_to_the_configured_mean() {
        let w = World::generate(&WorldConfig::with_users(5_000));
        let mean = w.events.len() as f64 / 5_000.0;
        assert!((7.0..13.0).contains(&mean), "mean events per user {mean}");
    }

    #[test]
    fn frames_have_one_row_per_record() {
        let w = World::generate(&WorldConfig::with_users(100));
        assert_eq!(w.users_frame().unwrap().height(), 100);
        assert_eq!(w.events_frame().unwrap().height(), w.events.len());
        assert_eq!(w.orders_frame().unwrap().height(), w.orders.len());
        assert_eq!(w.cities_frame().unwrap().height(), w.cities.len());
        let locations = w.user_locations().unwrap();
        assert_eq!(locations.height(), 100);
        let first_city = locations.column("city").unwrap().str().unwrap().get(0).unwrap().to_string();
        let address = &w.addresses[0];
        assert_eq!(w.cities[(address.city_id - 1) as usize].name, first_city);
        let summary = w.summary().unwrap();
        assert_eq!(summary.height(), 7);
    }
}

