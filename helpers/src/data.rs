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

use chrono::{Duration as ChronoDuration, NaiveDate, NaiveDateTime};
use polars::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal, Normal, Poisson};
use serde::Serialize;

use crate::error::Result;

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

// (code, name, continent, share of users, cities: (name, lat, lon))
/// Code, name, continent, share of users, population, GDP per head, cities (name, region, lat, lon).
type CountrySpec = (&'static str, &'static str, &'static str, f64, i64, f64, &'static [(&'static str, &'static str, f64, f64)]);

const COUNTRIES: &[CountrySpec] = &[
    ("US", "United States", "North America", 0.24, 335_000_000, 81_700.0, &[("New York", "New York", 40.7128, -74.0060), ("Los Angeles", "California", 34.0522, -118.2437), ("Chicago", "Illinois", 41.8781, -87.6298), ("Houston", "Texas", 29.7604, -95.3698)]),
    ("GB", "United Kingdom", "Europe", 0.10, 68_300_000, 48_900.0, &[("London", "England", 51.5074, -0.1278), ("Manchester", "England", 53.4808, -2.2426), ("Edinburgh", "Scotland", 55.9533, -3.1883)]),
    ("DE", "Germany", "Europe", 0.10, 84_500_000, 52_700.0, &[("Berlin", "Berlin", 52.5200, 13.4050), ("Munich", "Bavaria", 48.1351, 11.5820), ("Hamburg", "Hamburg", 53.5511, 9.9937)]),
    ("FR", "France", "Europe", 0.08, 68_200_000, 44_500.0, &[("Paris", "Île-de-France", 48.8566, 2.3522), ("Lyon", "Auvergne-Rhône-Alpes", 45.7640, 4.8357), ("Marseille", "Provence-Alpes-Côte d'Azur", 43.2965, 5.3698)]),
    ("ES", "Spain", "Europe", 0.06, 48_400_000, 33_500.0, &[("Madrid", "Community of Madrid", 40.4168, -3.7038), ("Barcelona", "Catalonia", 41.3874, 2.1686)]),
    ("IT", "Italy", "Europe", 0.06, 58_900_000, 38_400.0, &[("Rome", "Lazio", 41.9028, 12.4964), ("Milan", "Lombardy", 45.4642, 9.1900)]),
    ("BR", "Brazil", "South America", 0.08, 216_400_000, 10_000.0, &[("São Paulo", "São Paulo", -23.5505, -46.6333), ("Rio de Janeiro", "Rio de Janeiro", -22.9068, -43.1729)]),
    ("IN", "India", "Asia", 0.12, 1_428_600_000, 2_500.0, &[("Mumbai", "Maharashtra", 19.0760, 72.8777), ("Bangalore", "Karnataka", 12.9716, 77.5946), ("Delhi", "Delhi", 28.7041, 77.1025)]),
    ("JP", "Japan", "Asia", 0.06, 124_500_000, 33_800.0, &[("Tokyo", "Tokyo", 35.6762, 139.6503), ("Osaka", "Osaka", 34.6937, 135.5023)]),
    ("AU", "Australia", "Oceania", 0.04, 26_600_000, 64_700.0, &[("Sydney", "New South Wales", -33.8688, 151.2093), ("Melbourne", "Victoria", -37.8136, 144.9631)]),
    ("CA", "Canada", "North America", 0.04, 40_100_000, 53_400.0, &[("Toronto", "Ontario", 43.6532, -79.3832), ("Vancouver", "British Columbia", 49.2827, -123.1207)]),
    ("NG", "Nigeria", "Africa", 0.02, 223_800_000, 1_600.0, &[("Lagos", "Lagos", 6.5244, 3.3792)]),
];

const FIRST_NAMES: &[&str] = &[
    "Ada", "Alan", "Amara", "Ana", "Aiko", "Ben", "Carla", "Chen", "Dev", "Diego", "Elena", "Emma", "Farid",
    "Grace", "Hana", "Ivan", "Jonas", "Julia", "Kenji", "Lena", "Liam", "Lucia", "Maya", "Mateo", "Nia",
    "Noah", "Olga", "Omar", "Priya", "Rafael", "Sara", "Sofia", "Tariq", "Tom", "Uma", "Vera", "Wei", "Yusuf",
    "Zara", "Zoe",
];
const LAST_NAMES: &[&str] = &[
    "Adeyemi", "Bauer", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hoffmann", "Ito", "Jones", "Kumar",
    "Lopez", "Martin", "Müller", "Nakamura", "O'Brien", "Patel", "Quinn", "Rossi", "Santos", "Schmidt", "Silva",
    "Smith", "Tanaka", "Taylor", "Ueda", "Varga", "Wagner", "Williams", "Xu", "Yamamoto", "Zhang",
];
const STREETS: &[&str] = &[
    "High Street", "Station Road", "Main Street", "Park Avenue", "Church Lane", "Market Square", "River Road",
    "Hill View", "Garden Row", "Mill Lane", "Oak Avenue", "Bridge Street", "Harbour Way", "King Street",
];
const PRODUCT_WORDS: &[&[&str]] = &[
    &["Headphones", "Laptop", "Phone", "Charger", "Speaker", "Monitor", "Keyboard", "Camera"],
    &["Novel", "Cookbook", "Atlas", "Biography", "Poetry", "Guide", "Comic", "Textbook"],
    &["Jacket", "T-Shirt", "Jeans", "Sneakers", "Scarf", "Hoodie", "Dress", "Boots"],
    &["Lamp", "Chair", "Kettle", "Rug", "Pan", "Shelf", "Pillow", "Clock"],
    &["Racket", "Yoga Mat", "Bottle", "Football", "Helmet", "Gloves", "Bike Light", "Tent"],
    &["Serum", "Shampoo", "Perfume", "Lotion", "Lipstick", "Soap", "Brush", "Mask"],
    &["Puzzle", "Blocks", "Doll", "Board Game", "Kite", "Robot", "Train Set", "Plush"],
    &["Coffee", "Tea", "Olive Oil", "Chocolate", "Pasta", "Honey", "Spices", "Granola"],
];
const ADJECTIVES: &[&str] = &["Classic", "Pro", "Eco", "Compact", "Deluxe", "Smart", "Everyday", "Premium", "Mini", "Ultra"];
// (min, max) unit price per category, same order as CATEGORIES.
const PRICE_RANGES: &[(f64, f64)] =
    &[(25.0, 900.0), (6.0, 45.0), (12.0, 180.0), (10.0, 250.0), (8.0, 300.0), (5.0, 90.0), (7.0, 120.0), (2.0, 30.0)];

/// Mean number of events in one session (a login, 1 + Poisson(1.5) views, maybe a cart and
/// a purchase), used to turn an expected event count into an expected session count.
const MEAN_EVENTS_PER_SESSION: f64 = 4.0;

// Independent random streams, so adding a draw in one place does not shift the others.
const STREAM_PRODUCTS: u64 = 1;
const STREAM_USERS: u64 = 2;
const STREAM_CALIBRATION: u64 = 3;

fn rng_for(seed: u64, stream: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    rng.set_stream(index);
    rng
}

/// Latent traits and lifetime of one user, drawn before any behaviour.
struct Latent {
    engagement: f64,
    spend: f64,
    verified: bool,
    registered_at: NaiveDateTime,
    hazard: f64,
    churned_at: Option<NaiveDateTime>,
    active_days: f64,
}

fn draw_latent(rng: &mut ChaCha8Rng, cfg: &WorldConfig) -> Latent {
    let engagement = LogNormal::new(0.0, 0.6).expect("valid").sample(rng);
    let spend = LogNormal::new(0.0, 0.5).expect("valid").sample(rng);
    let verified = rng.random_bool(0.7);
    let as_of = cfg.as_of.and_hms_opt(23, 59, 59).expect("valid time");
    // Growth: more sign-ups recently (density rises linearly towards as_of).
    let age_days = cfg.history_days as f64 * (1.0 - rng.random::<f64>().sqrt());
    let registered_at = as_of - seconds(age_days * 86_400.0);
    let hazard = cfg.churn_base_hazard / engagement * if verified { 1.0 } else { 1.8 };
    let lifetime_days = Exp::new(hazard).expect("positive hazard").sample(rng);
    let (churned_at, active_days) = if lifetime_days < age_days {
        (Some(registered_at + seconds(lifetime_days * 86_400.0)), lifetime_days)
    } else {
        (None, age_days)
    };
    Latent { engagement, spend, verified, registered_at, hazard, churned_at, active_days }
}

fn seconds(s: f64) -> ChronoDuration {
    ChronoDuration::seconds(s.round() as i64)
}

/// Expected events per unit of `engagement × active_days`, estimated on a fixed sample so it
/// depends on the configuration but not on the number of users.
fn events_per_engaged_day(cfg: &WorldConfig) -> f64 {
    let mut rng = rng_for(cfg.seed, STREAM_CALIBRATION, 0);
    let n = 4096;
    let mean: f64 = (0..n)
        .map(|_| {
            let l = draw_latent(&mut rng, cfg);
            l.engagement * l.active_days
        })
        .sum::<f64>()
        / n as f64;
    if mean > 0.0 { cfg.events_per_user / mean } else { 0.0 }
}

fn probability_of_cart(spend: f64) -> f64 {
    (0.3 * spend).min(0.9)
}

const PURCHASE_AFTER_CART: f64 = 0.6;

impl World {
    /// Generates the world described by `cfg`. 1,000 users take milliseconds; 100,000 users
    /// with a million events take a few seconds in a release build.
    ///
    /// ```
    /// use helpers::data::{World, WorldConfig};
    /// let a = World::generate(&WorldConfig::with_users(50));
    /// let b = World::generate(&WorldConfig::with_users(50));
    /// assert_eq!(a.events, b.events);
    /// ```
    pub fn generate(cfg: &WorldConfig) -> World {
        let mut countries = Vec::new();
        let mut cities = Vec::new();
        for (i, (code, name, continent, _, population, gdp_per_capita, city_specs)) in COUNTRIES.iter().enumerate() {
            let country_id = i as i64 + 1;
            countries.push(Country {
                id: country_id,
                code: code.to_string(),
                name: name.to_string(),
                continent: continent.to_string(),
                population: *population,
                gdp_per_capita: *gdp_per_capita,
            });
            for (city, region, lat, lon) in city_specs.iter() {
                cities.push(City { id: cities.len() as i64 + 1, country_id, name: city.to_string(), region: region.to_string(), lat: *lat, lon: *lon });
            }
        }

        let products = generate_products(cfg);
        // Popularity: a few products sell a lot (Zipf-like weights, fixed by the seed).
        let popularity: Vec<f64> = (0..products.len()).map(|i| 1.0 / (1.0 + i as f64).powf(0.8)).collect();
        let by_category: Vec<Vec<usize>> = (0..CATEGORIES.len())
            .map(|c| products.iter().enumerate().filter(|(_, p)| p.category == CATEGORIES[c]).map(|(i, _)| i).collect())
            .collect();
        let rate = events_per_engaged_day(cfg);
        let as_of_end = cfg.as_of.and_hms_opt(23, 59, 59).expect("valid time");

        let mut addresses = Vec::with_capacity(cfg.users);
        let mut users = Vec::with_capacity(cfg.users);
        let mut truth = Vec::with_capacity(cfg.users);
        let mut events = Vec::with_capacity((cfg.users as f64 * cfg.events_per_user * 1.1) as usize);
        let mut orders = Vec::new();
        let mut next_session = 1i64;

        for u in 0..cfg.users {
            let user_id = u as i64 + 1;
            let mut rng = rng_for(cfg.seed, STREAM_USERS, u as u64);
            let latent = draw_latent(&mut rng, cfg);

            // Where they live.
            let country = pick_weighted(&mut rng, COUNTRIES.iter().map(|c| c.3));
            let country_cities: Vec<&City> = cities.iter().filter(|c| c.country_id == country as i64 + 1).collect();
            let city = country_cities[rng.random_range(0..country_cities.len())];
            let (lat, lon) = jitter(&mut rng, city.lat, city.lon, 0.05);
            addresses.push(Address {
                id: user_id,
                city_id: city.id,
                street: format!("{} {}", rng.random_range(1..250), STREETS[rng.random_range(0..STREETS.len())]),
                postal_code: format!("{}-{:05}", COUNTRIES[country].0, rng.random_range(0..100_000)),
                lat,
                lon,
            });

            let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
            let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
            let handle: String = format!("{first}.{last}").to_lowercase().chars().filter(|c| c.is_alphanumeric() || *c == '.').collect();
            let username = format!("{handle}{user_id}");
            let email = format!("{username}@example.com");
            let favourite = rng.random_range(0..CATEGORIES.len());

            // Sessions between registration and churn (or as_of).
            let end = latent.churned_at.unwrap_or(as_of_end);
            let expected_events = rate * latent.engagement * latent.active_days;
            let expected_sessions = expected_events / MEAN_EVENTS_PER_SESSION;
            let sessions = if expected_sessions > 0.0 {
                Poisson::new(expected_sessions).expect("positive mean").sample(&mut rng) as usize
            } else {
                0
            };
            let span = (end - latent.registered_at).num_seconds().max(1) as f64;
            let mut starts: Vec<NaiveDateTime> =
                (0..sessions).map(|_| latent.registered_at + seconds(rng.random::<f64>() * span)).collect();
            starts.sort();

            let mut logins = 0i64;
            let mut last_active = latent.registered_at;
            for start in starts {
                let session_id = next_session;
                next_session += 1;
                // 5 % of sessions happen while travelling, in another city.
                let (slat, slon) = if rng.random_bool(0.05) {
                    let other = &cities[rng.random_range(0..cities.len())];
                    jitter(&mut rng, other.lat, other.lon, 0.05)
                } else {
                    jitter(&mut rng, lat, lon, 0.01)
                };
                let mut t = start;
                let push = |kind: EventKind, product: Option<i64>, t: NaiveDateTime, events: &mut Vec<Event>| {
                    events.push(Event {
                        id: events.len() as i64 + 1,
                        user_id,
                        session_id,
                        kind,
                        product_id: product,
                        at: t,
                        lat: slat,
                        lon: slon,
                    });
                };
                push(EventKind::Login, None, t, &mut events);
                logins += 1;
                let views = 1 + Poisson::new(1.5).expect("valid").sample(&mut rng) as usize;
                let mut viewed = 0usize;
                for _ in 0..views {
                    t += seconds(rng.random_range(5.0..180.0));
                    viewed = if rng.random_bool(0.5) && !by_category[favourite].is_empty() {
                        by_category[favourite][rng.random_range(0..by_category[favourite].len())]
                    } else {
                        pick_weighted(&mut rng, popularity.iter().copied())
                    };
                    push(EventKind::View, Some(products[viewed].id), t, &mut events);
                }
                if rng.random_bool(probability_of_cart(latent.spend)) {
                    t += seconds(rng.random_range(10.0..300.0));
                    push(EventKind::Cart, Some(products[viewed].id), t, &mut events);
                    if rng.random_bool(PURCHASE_AFTER_CART) {
                        t += seconds(rng.random_range(30.0..600.0));
                        push(EventKind::Purchase, Some(products[viewed].id), t, &mut events);
                        let quantity = 1 + Poisson::new(0.3 * latent.spend).expect("valid").sample(&mut rng) as i64;
                        let unit_price = products[viewed].price;
                        orders.push(Order {
                            id: orders.len() as i64 + 1,
                            user_id,
                            product_id: products[viewed].id,
                            quantity,
                            unit_price,
                            total: (quantity as f64 * unit_price * 100.0).round() / 100.0,
                            ordered_at: t,
                            status: if rng.random_bool(0.03) { "refunded" } else { "completed" }.to_string(),
                        });
                    }
                }
                last_active = last_active.max(t);
            }

            let noise = Normal::new(0.0, 8.0).expect("valid").sample(&mut rng);
            users.push(User {
                id: user_id,
                username,
                email,
                first_name: first.to_string(),
                last_name: last.to_string(),
                address_id: user_id,
                registered_at: latent.registered_at,
                profile_score: (50.0 + 15.0 * latent.engagement.ln() + if latent.verified { 10.0 } else { -5.0 } + noise)
                    .clamp(0.0, 100.0)
                    .round(),
                verified: latent.verified,
                last_active_at: last_active,
                login_count: logins,
            });
            let sessions_per_month = rate * latent.engagement * 30.0 / MEAN_EVENTS_PER_SESSION;
            let mean_price = products.iter().map(|p| p.price).sum::<f64>() / products.len().max(1) as f64;
            truth.push(UserTruth {
                user_id,
                engagement: latent.engagement,
                spend: latent.spend,
                churn_hazard: latent.hazard,
                churned: latent.churned_at.is_some(),
                churned_at: latent.churned_at,
                monthly_value: sessions_per_month
                    * probability_of_cart(latent.spend)
                    * PURCHASE_AFTER_CART
                    * (1.0 + 0.3 * latent.spend)
                    * mean_price,
            });
        }

        World { config: cfg.clone(), countries, cities, addresses, users, truth, products, orders, events }
    }

    /// One row per table with its row count: a quick look at the world's size.
    pub fn summary(&self) -> Result<DataFrame> {
        let names = ["countries", "cities", "addresses", "users", "products", "orders", "events"];
        let counts = [
            self.countries.len(),
            self.cities.len(),
            self.addresses.len(),
            self.users.len(),
            self.products.len(),
            self.orders.len(),
            self.events.len(),
        ];
        Ok(DataFrame::new_infer_height(vec![
            Column::new("table".into(), names),
            Column::new("rows".into(), counts.iter().map(|&c| c as u64).collect::<Vec<_>>()),
        ])?)
    }

    /// The name of the country `user` lives in.
    pub fn country_of(&self, user: &User) -> &str {
        let city = &self.cities[(self.addresses[(user.address_id - 1) as usize].city_id - 1) as usize];
        &self.countries[(city.country_id - 1) as usize].name
    }

    /// Where each user lives: `user_id`, `city`, `country` (code), `continent`, `lat`, `lon`.
    /// The join users → addresses → cities → countries, done once here.
    pub fn user_locations(&self) -> Result<DataFrame> {
        let city_of = |u: &User| &self.cities[(self.addresses[(u.address_id - 1) as usize].city_id - 1) as usize];
        let country_of = |u: &User| &self.countries[(city_of(u).country_id - 1) as usize];
        let u = &self.users;
        Ok(DataFrame::new_infer_height(vec![
            Column::new("user_id".into(), u.iter().map(|x| x.id).collect::<Vec<_>>()),
            Column::new("city".into(), u.iter().map(|x| city_of(x).name.as_str()).collect::<Vec<_>>()),
            Column::new("country".into(), u.iter().map(|x| country_of(x).code.as_str()).collect::<Vec<_>>()),
            Column::new("continent".into(), u.iter().map(|x| country_of(x).continent.as_str()).collect::<Vec<_>>()),
            Column::new("lat".into(), u.iter().map(|x| self.addresses[(x.address_id - 1) as usize].lat).collect::<Vec<_>>()),
            Column::new("lon".into(), u.iter().map(|x| self.addresses[(x.address_id - 1) as usize].lon).collect::<Vec<_>>()),
        ])?)
    }

    /// Countries as a DataFrame.
    pub fn countries_frame(&self) -> Result<DataFrame> {
        let c = &self.countries;
        Ok(DataFrame::new_infer_height(vec![
            Column::new("id".into(), c.iter().map(|x| x.id).collect::<Vec<_>>()),
            Column::new("code".into(), c.iter().map(|x| x.code.as_str()).collect::<Vec<_>>()),
            Column::new("name".into(), c.iter().map(|x| x.name.as_str()).collect::<Vec<_>>()),
            Column::new("continent".into(), c.iter().map(|x| x.continent.as_str()).collect::<Vec<_>>()),
        ])?)
    }

    /// Cities as a DataFrame.
    pub fn cities_frame(&self) -> Result<DataFrame> {
        let c = &self.cities;
        Ok(DataFrame::new_infer_height(vec![
            Column::new("id".into(), c.iter().map(|x| x.id).collect::<Vec<_>>()),
            Column::new("country_id".into(), c.iter().map(|x| x.country_id).collect::<Vec<_>>()),
            Column::new("name".into(), c.iter().map(|x| x.name.as_str()).collect::<Vec<_>>()),
            Column::new("lat".into(), c.iter().map(|x| x.lat).collect::<Vec<_>>()),
            Column::new("lon".into(), c.iter().map(|x| x.lon).collect::<Vec<_>>()),
        ])?)
    }

    /// Addresses as a DataFrame.
    pub fn addresses_frame(&self) -> Result<DataFrame> {
        let a = &self.addresses;
        Ok(DataFrame::new_infer_height(vec![
            Column::new("id".into(), a.iter().map(|x| x.id).collect::<Vec<_>>()),
            Column::new("city_id".into(), a.iter().map(|x| x.city_id).collect::<Vec<_>>()),
            Column::new("street".into(), a.iter().map(|x| x.street.as_str()).collect::<Vec<_>>()),
            Column::new("postal_code".into(), a.iter().map(|x| x.postal_code.as_str()).collect::<Vec<_>>()),
            Column::new("lat".into(), a.iter().map(|x| x.lat).collect::<Vec<_>>()),
            Column::new("lon".into(), a.iter().map(|x| x.lon).collect::<Vec<_>>()),
        ])?)
    }

    /// Users as a DataFrame (what the application stores; no latent traits).
    pub fn users_frame(&self) -> Result<DataFrame> {
        let u = &self.users;
        Ok(DataFrame::new_infer_height(vec![
            Column::new("id".into(), u.iter().map(|x| x.id).collect::<Vec<_>>()),
            Column::new("username".into(), u.iter().map(|x| x.username.as_str()).collect::<Vec<_>>()),
            Column::new("email".into(), u.iter().map(|x| x.email.as_str()).collect::<Vec<_>>()),
            Column::new("first_name".into(), u.iter().map(|x| x.first_name.as_str()).collect::<Vec<_>>()),
            Column::new("last_name".into(), u.iter().map(|x| x.last_name.as_str()).collect::<Vec<_>>()),
            Column::new("address_id".into(), u.iter().map(|x| x.address_id).collect::<Vec<_>>()),
            Column::new("registered_at".into(), u.iter().map(|x| x.registered_at).collect::<Vec<_>>()),
            Column::new("profile_score".into(), u.iter().map(|x| x.profile_score).collect::<Vec<_>>()),
            Column::new("verified".into(), u.iter().map(|x| x.verified).collect::<Vec<_>>()),
            Column::new("last_active_at".into(), u.iter().map(|x| x.last_active_at).collect::<Vec<_>>()),
            Column::new("login_count".into(), u.iter().map(|x| x.login_count).collect::<Vec<_>>()),
        ])?)
    }

    /// The planted truth per user as a DataFrame.
    pub fn truth_frame(&self) -> Result<DataFrame> {
        let t = &self.truth;
        Ok(DataFrame::new_infer_height(vec![
            Column::new("user_id".into(), t.iter().map(|x| x.user_id).collect::<Vec<_>>()),
            Column::new("engagement".into(), t.iter().map(|x| x.engagement).collect::<Vec<_>>()),
            Column::new("spend".into(), t.iter().map(|x| x.spend).collect::<Vec<_>>()),
            Column::new("churn_hazard".into(), t.iter().map(|x| x.churn_hazard).collect::<Vec<_>>()),
            Column::new("churned".into(), t.iter().map(|x| x.churned).collect::<Vec<_>>()),
            Column::new("churned_at".into(), t.iter().map(|x| x.churned_at).collect::<Vec<_>>()),
            Column::new("monthly_value".into(), t.iter().map(|x| x.monthly_value).collect::<Vec<_>>()),
        ])?)
    }

    /// Products as a DataFrame.
    pub fn products_frame(&self) -> Result<DataFrame> {
        let p = &self.products;
        Ok(DataFrame::new_infer_height(vec![
            Column::new("id".into(), p.iter().map(|x| x.id).collect::<Vec<_>>()),
            Column::new("name".into(), p.iter().map(|x| x.name.as_str()).collect::<Vec<_>>()),
            Column::new("category".into(), p.iter().map(|x| x.category.as_str()).collect::<Vec<_>>()),
            Column::new("price".into(), p.iter().map(|x| x.price).collect::<Vec<_>>()),
        ])?)
    }

    /// Orders as a DataFrame.
    pub fn orders_frame(&self) -> Result<DataFrame> {
        let o = &self.orders;
        Ok(DataFrame::new_infer_height(vec![
            Column::new("id".into(), o.iter().map(|x| x.id).collect::<Vec<_>>()),
            Column::new("user_id".into(), o.iter().map(|x| x.user_id).collect::<Vec<_>>()),
            Column::new("product_id".into(), o.iter().map(|x| x.product_id).collect::<Vec<_>>()),
            Column::new("quantity".into(), o.iter().map(|x| x.quantity).collect::<Vec<_>>()),
            Column::new("unit_price".into(), o.iter().map(|x| x.unit_price).collect::<Vec<_>>()),
            Column::new("total".into(), o.iter().map(|x| x.total).collect::<Vec<_>>()),
            Column::new("ordered_at".into(), o.iter().map(|x| x.ordered_at).collect::<Vec<_>>()),
            Column::new("status".into(), o.iter().map(|x| x.status.as_str()).collect::<Vec<_>>()),
        ])?)
    }

    /// Events as a DataFrame.
    pub fn events_frame(&self) -> Result<DataFrame> {
        let e = &self.events;
        Ok(DataFrame::new_infer_height(vec![
            Column::new("id".into(), e.iter().map(|x| x.id).collect::<Vec<_>>()),
            Column::new("user_id".into(), e.iter().map(|x| x.user_id).collect::<Vec<_>>()),
            Column::new("session_id".into(), e.iter().map(|x| x.session_id).collect::<Vec<_>>()),
            Column::new("kind".into(), e.iter().map(|x| x.kind.as_str()).collect::<Vec<_>>()),
            Column::new("product_id".into(), e.iter().map(|x| x.product_id).collect::<Vec<_>>()),
            Column::new("at".into(), e.iter().map(|x| x.at).collect::<Vec<_>>()),
            Column::new("lat".into(), e.iter().map(|x| x.lat).collect::<Vec<_>>()),
            Column::new("lon".into(), e.iter().map(|x| x.lon).collect::<Vec<_>>()),
        ])?)
    }
}

fn generate_products(cfg: &WorldConfig) -> Vec<Product> {
    let mut rng = rng_for(cfg.seed, STREAM_PRODUCTS, 0);
    (0..cfg.products)
        .map(|i| {
            let c = i % CATEGORIES.len();
            let words = PRODUCT_WORDS[c];
            let (lo, hi) = PRICE_RANGES[c];
            // Log-uniform prices: many cheap items, a few expensive ones.
            let price = (lo.ln() + rng.random::<f64>() * (hi.ln() - lo.ln())).exp();
            Product {
                id: i as i64 + 1,
                name: format!(
                    "{} {} {}",
                    ADJECTIVES[rng.random_range(0..ADJECTIVES.len())],
                    words[rng.random_range(0..words.len())],
                    i + 1
                ),
                category: CATEGORIES[c].to_string(),
                price: ((price * 100.0).round() - 1.0).max(1.0) / 100.0,
            }
        })
        .collect()
}

fn pick_weighted(rng: &mut ChaCha8Rng, weights: impl Iterator<Item = f64> + Clone) -> usize {
    let total: f64 = weights.clone().sum();
    let mut x = rng.random::<f64>() * total;
    let mut last = 0;
    for (i, w) in weights.enumerate() {
        if x < w {
            return i;
        }
        x -= w;
        last = i;
    }
    last
}

fn jitter(rng: &mut ChaCha8Rng, lat: f64, lon: f64, degrees: f64) -> (f64, f64) {
    let round6 = |v: f64| (v * 1e6).round() / 1e6;
    (
        round6(lat + rng.random_range(-degrees..degrees)),
        round6(lon + rng.random_range(-degrees..degrees)),
    )
}

/// The original course's churn heuristic, in one place: a logistic function of the days
/// without activity, 50 % at 60 days, `1 / (1 + exp(-(days - 60) / 15))`. Lesson 03 caches it
/// as a user's churn score; module 5 uses it as the baseline its model must beat.
pub fn recency_churn_score(days_inactive: f64) -> f64 {
    1.0 / (1.0 + (-(days_inactive - 60.0) / 15.0).exp())
}

#[cfg(test)]
mod tests {
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
