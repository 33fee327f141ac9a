//! Drawing a world from its configuration: every user from a random stream of their own.

use chrono::Duration as ChronoDuration;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal, Normal, Poisson};

use super::*;

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
const STREAM_TASTES: u64 = 4;

/// The chance that a view, after a user's first purchase, lands on a companion of something
/// they bought ("bought together").
const COMPANION_VIEW: f64 = 0.6;
/// The chance that a user's favourite category is one of their country's two tastes.
const COUNTRY_TASTE: f64 = 0.6;

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
    /// The steps: the places ([`places`]) and the catalogue ([`generate_products`]), then for
    /// each user, from a random stream of their own, their latent traits ([`draw_latent`]),
    /// who and where they are ([`draw_person`]), their sessions until they churn or the world
    /// is observed ([`Shop::live`]: logins, views, carts, purchases), and the profile and
    /// ground truth those leave ([`profile_score`], [`monthly_value`]).
    ///
    /// ```
    /// use helpers::data::{World, WorldConfig};
    /// let a = World::generate(&WorldConfig::with_users(50));
    /// let b = World::generate(&WorldConfig::with_users(50));
    /// assert_eq!(a.events, b.events);
    /// ```
    pub fn generate(cfg: &WorldConfig) -> World {
        let (countries, cities) = places();
        let products = generate_products(cfg);
        let mut world = World {
            config: cfg.clone(),
            countries,
            cities,
            addresses: Vec::with_capacity(cfg.users),
            users: Vec::with_capacity(cfg.users),
            truth: Vec::with_capacity(cfg.users),
            products,
            orders: Vec::new(),
            events: Vec::with_capacity((cfg.users as f64 * cfg.events_per_user * 1.1) as usize),
        };
        let shop = Shop::new(cfg, &world.products, &world.cities);
        let mut next_session = 1i64;
        for u in 0..cfg.users {
            let user_id = u as i64 + 1;
            let mut rng = rng_for(cfg.seed, STREAM_USERS, u as u64);
            let latent = draw_latent(&mut rng, cfg);
            let person = draw_person(&mut rng, user_id, &world.cities, &shop.tastes);
            let (logins, last_active) = shop.live(&mut rng, user_id, &latent, &person, &mut next_session, &mut world.events, &mut world.orders);
            let noise = Normal::new(0.0, 8.0).expect("valid").sample(&mut rng);
            world.users.push(User {
                id: user_id,
                username: person.username,
                email: person.email,
                first_name: person.first_name.to_string(),
                last_name: person.last_name.to_string(),
                address_id: user_id,
                registered_at: latent.registered_at,
                profile_score: profile_score(&latent, noise),
                verified: latent.verified,
                last_active_at: last_active,
                login_count: logins,
            });
            world.addresses.push(person.address);
            world.truth.push(UserTruth {
                user_id,
                engagement: latent.engagement,
                spend: latent.spend,
                churn_hazard: latent.hazard,
                churned: latent.churned_at.is_some(),
                churned_at: latent.churned_at,
                monthly_value: monthly_value(&latent, shop.rate, shop.mean_price),
            });
        }
        world
    }
}

/// The countries and their cities, numbered in the order of [`COUNTRIES`].
fn places() -> (Vec<Country>, Vec<City>) {
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
    (countries, cities)
}

/// Who a user is and where they live.
struct Person {
    address: Address,
    first_name: &'static str,
    last_name: &'static str,
    username: String,
    email: String,
    /// Index into [`CATEGORIES`] of the category they look at most.
    favourite: usize,
}

/// A user's country (by its share of users), city, address, name and favourite category (one
/// of the country's two `tastes` with probability [`COUNTRY_TASTE`], else any).
fn draw_person(rng: &mut ChaCha8Rng, user_id: i64, cities: &[City], tastes: &[[usize; 2]]) -> Person {
    let country = pick_weighted(rng, COUNTRIES.iter().map(|c| c.3));
    let country_cities: Vec<&City> = cities.iter().filter(|c| c.country_id == country as i64 + 1).collect();
    let city = country_cities[rng.random_range(0..country_cities.len())];
    let (lat, lon) = jitter(rng, city.lat, city.lon, 0.05);
    let address = Address {
        id: user_id,
        city_id: city.id,
        street: format!("{} {}", rng.random_range(1..250), STREETS[rng.random_range(0..STREETS.len())]),
        postal_code: format!("{}-{:05}", COUNTRIES[country].0, rng.random_range(0..100_000)),
        lat,
        lon,
    };
    let first_name = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
    let last_name = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
    let handle: String = format!("{first_name}.{last_name}").to_lowercase().chars().filter(|c| c.is_alphanumeric() || *c == '.').collect();
    let username = format!("{handle}{user_id}");
    let email = format!("{username}@example.com");
    let favourite = if rng.random_bool(COUNTRY_TASTE) { tastes[country][rng.random_range(0..2)] } else { rng.random_range(0..CATEGORIES.len()) };
    Person { address, first_name, last_name, username, email, favourite }
}

/// The profile score a user's traits earn: engagement and verification, plus `noise`.
fn profile_score(latent: &Latent, noise: f64) -> f64 {
    (50.0 + 15.0 * latent.engagement.ln() + if latent.verified { 10.0 } else { -5.0 } + noise).clamp(0.0, 100.0).round()
}

/// A user's expected spend per month while active, from the same mechanisms that generate
/// their sessions and purchases (the ground truth an LTV model is measured against).
fn monthly_value(latent: &Latent, rate: f64, mean_price: f64) -> f64 {
    let sessions_per_month = rate * latent.engagement * 30.0 / MEAN_EVENTS_PER_SESSION;
    sessions_per_month * probability_of_cart(latent.spend) * PURCHASE_AFTER_CART * (1.0 + 0.3 * latent.spend) * mean_price
}

/// What a user's sessions draw on: the catalogue, which products sell most, each category's
/// products, which products are bought together, each country's tastes, and where travellers go.
struct Shop<'a> {
    products: &'a [Product],
    cities: &'a [City],
    /// Zipf-like weights: a few products sell a lot (fixed by the seed).
    popularity: Vec<f64>,
    /// Each category's products, by index into `products`.
    by_category: Vec<Vec<usize>>,
    /// Each product's two companions (indices): one of its own category, one of the next.
    companions: Vec<[usize; 2]>,
    /// Each country's two favoured categories (indices into [`CATEGORIES`]).
    tastes: Vec<[usize; 2]>,
    /// Expected events per unit of engagement × active day.
    rate: f64,
    /// The catalogue's mean price.
    mean_price: f64,
    /// The last moment of the day the world is observed.
    as_of_end: NaiveDateTime,
}

impl<'a> Shop<'a> {
    fn new(cfg: &WorldConfig, products: &'a [Product], cities: &'a [City]) -> Shop<'a> {
        let by_category: Vec<Vec<usize>> = (0..CATEGORIES.len())
            .map(|c| products.iter().enumerate().filter(|(_, p)| p.category == CATEGORIES[c]).map(|(i, _)| i).collect())
            .collect();
        let mut rng = rng_for(cfg.seed, STREAM_TASTES, 0);
        let category_of = |i: usize| CATEGORIES.iter().position(|c| *c == products[i].category).unwrap_or(0);
        let other_in = |c: usize, not: usize, rng: &mut ChaCha8Rng| {
            let pool: Vec<usize> = by_category[c % CATEGORIES.len()].iter().copied().filter(|j| *j != not).collect();
            if pool.is_empty() { (not + 1) % products.len().max(1) } else { pool[rng.random_range(0..pool.len())] }
        };
        let companions = (0..products.len()).map(|i| [other_in(category_of(i), i, &mut rng), other_in(category_of(i) + 1, i, &mut rng)]).collect();
        let tastes = (0..COUNTRIES.len())
            .map(|_| {
                let first = rng.random_range(0..CATEGORIES.len());
                [first, (first + 1 + rng.random_range(0..CATEGORIES.len() - 1)) % CATEGORIES.len()]
            })
            .collect();
        Shop {
            products,
            cities,
            popularity: (0..products.len()).map(|i| 1.0 / (1.0 + i as f64).powf(0.8)).collect(),
            by_category,
            companions,
            tastes,
            rate: events_per_engaged_day(cfg),
            mean_price: products.iter().map(|p| p.price).sum::<f64>() / products.len().max(1) as f64,
            as_of_end: cfg.as_of.and_hms_opt(23, 59, 59).expect("valid time"),
        }
    }

    /// A user's sessions between registration and churn (or the end of `as_of`), in time
    /// order: each a login, a few views (half of them in the favourite category), maybe a cart
    /// and a purchase (an order). Appends the events and orders; returns the logins and the
    /// last moment of activity.
    #[allow(clippy::too_many_arguments)]
    fn live(&self, rng: &mut ChaCha8Rng, user_id: i64, latent: &Latent, person: &Person, next_session: &mut i64, events: &mut Vec<Event>, orders: &mut Vec<Order>) -> (i64, NaiveDateTime) {
        let end = latent.churned_at.unwrap_or(self.as_of_end);
        let expected_events = self.rate * latent.engagement * latent.active_days;
        let expected_sessions = expected_events / MEAN_EVENTS_PER_SESSION;
        let sessions = if expected_sessions > 0.0 { Poisson::new(expected_sessions).expect("positive mean").sample(rng) as usize } else { 0 };
        let span = (end - latent.registered_at).num_seconds().max(1) as f64;
        let mut starts: Vec<NaiveDateTime> = (0..sessions).map(|_| latent.registered_at + seconds(rng.random::<f64>() * span)).collect();
        starts.sort();

        let (lat, lon) = (person.address.lat, person.address.lon);
        let mut bought: Vec<usize> = Vec::new();
        let mut logins = 0i64;
        let mut last_active = latent.registered_at;
        for start in starts {
            let session_id = *next_session;
            *next_session += 1;
            // 5 % of sessions happen while travelling, in another city.
            let (slat, slon) = if rng.random_bool(0.05) {
                let other = &self.cities[rng.random_range(0..self.cities.len())];
                jitter(rng, other.lat, other.lon, 0.05)
            } else {
                jitter(rng, lat, lon, 0.01)
            };
            let mut t = start;
            let push = |kind: EventKind, product: Option<i64>, t: NaiveDateTime, events: &mut Vec<Event>| {
                events.push(Event { id: events.len() as i64 + 1, user_id, session_id, kind, product_id: product, at: t, lat: slat, lon: slon });
            };
            push(EventKind::Login, None, t, events);
            logins += 1;
            let views = 1 + Poisson::new(1.5).expect("valid").sample(rng) as usize;
            let mut viewed = 0usize;
            for _ in 0..views {
                t += seconds(rng.random_range(5.0..180.0));
                viewed = self.view(rng, person.favourite, &bought);
                push(EventKind::View, Some(self.products[viewed].id), t, events);
            }
            if rng.random_bool(probability_of_cart(latent.spend)) {
                t += seconds(rng.random_range(10.0..300.0));
                push(EventKind::Cart, Some(self.products[viewed].id), t, events);
                if rng.random_bool(PURCHASE_AFTER_CART) {
                    t += seconds(rng.random_range(30.0..600.0));
                    push(EventKind::Purchase, Some(self.products[viewed].id), t, events);
                    orders.push(self.order(rng, orders.len() as i64 + 1, user_id, viewed, latent.spend, t));
                    bought.push(viewed);
                }
            }
            last_active = last_active.max(t);
        }
        (logins, last_active)
    }

    /// The product a view lands on: once the user has bought something, a companion of one of
    /// their purchases with probability [`COMPANION_VIEW`]; otherwise half the time one of the
    /// favourite category's, else one drawn by popularity.
    fn view(&self, rng: &mut ChaCha8Rng, favourite: usize, bought: &[usize]) -> usize {
        if !bought.is_empty() && rng.random_bool(COMPANION_VIEW) {
            return self.companions[bought[rng.random_range(0..bought.len())]][rng.random_range(0..2)];
        }
        let own = &self.by_category[favourite];
        if rng.random_bool(0.5) && !own.is_empty() { own[rng.random_range(0..own.len())] } else { pick_weighted(rng, self.popularity.iter().copied()) }
    }

    /// An order of the product at index `product` at time `t`: a quantity that grows with
    /// `spend`, 3 % refunded.
    fn order(&self, rng: &mut ChaCha8Rng, id: i64, user_id: i64, product: usize, spend: f64, t: NaiveDateTime) -> Order {
        let quantity = 1 + Poisson::new(0.3 * spend).expect("valid").sample(rng) as i64;
        let unit_price = self.products[product].price;
        Order {
            id,
            user_id,
            product_id: self.products[product].id,
            quantity,
            unit_price,
            total: (quantity as f64 * unit_price * 100.0).round() / 100.0,
            ordered_at: t,
            status: if rng.random_bool(0.03) { "refunded" } else { "completed" }.to_string(),
        }
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

