//! Recommendations, judged on purchases made after the cutoff against plain popularity.
//!
//! Two recommenders, both fitted on the purchases before the cutoff:
//!
//! - **item–item** ("bought X, also bought Y"): relevance of product `y` for a user who bought
//!   `X₁…Xₙ` is `Σᵢ cooc(Xᵢ, y) / (√(n(Xᵢ)·n(y)) + SHRINK)` (the cosine similarity of buyer sets,
//!   shrunk so that one chance co-purchase of two rare products does not count as a pattern),
//!   plus 0.01 × the product's share of all purchases and 0.005 × its share of the segment's,
//!   so popularity only breaks ties and fills in for users without history;
//! - **user–user** (the original's "users like you"): the [`NEIGHBOURS`] users whose purchase
//!   sets are most like the user's (cosine), and what they bought, weighted by that similarity;
//!   popularity fills in the same way.
//!
//! [`hit_rates`] gives, for each and for the most popular products, the share of users who
//! bought at least one of their `k` recommendations after the cutoff.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::segments::Segment;
use crate::frame_row;

/// How many most similar users the user–user recommender draws on.
pub const NEIGHBOURS: usize = 30;

/// Added to the cosine's denominator: one chance co-purchase of two rarely bought products
/// would otherwise score as high as a pair bought together by many (a shrunk cosine).
pub const SHRINK: f64 = 5.0;

/// Who bought what, before the cutoff.
#[derive(Clone, Debug, Default)]
pub struct Recommender {
    bought: HashMap<i64, HashSet<i64>>,
    /// Each product's buyers.
    buyers_of: HashMap<i64, Vec<i64>>,
    /// For each product, the products bought by the same users, and by how many of them.
    cooc: HashMap<i64, HashMap<i64, usize>>,
    segment_popular: HashMap<Segment, Vec<(i64, f64)>>,
    /// Every product's share of all purchases, most first.
    overall_popular: Vec<(i64, f64)>,
}

/// One recommended product with its relevance score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recommendation {
    /// The user.
    pub user_id: i64,
    /// Rank (1 = best).
    pub rank: i64,
    /// The product.
    pub product_id: i64,
    /// Relevance (higher is better).
    pub score: f64,
    /// Why: `co-purchase`, `similar users` or `segment`.
    pub source: String,
}
frame_row!(Recommendation { user_id, rank, product_id, score, source });

impl Recommender {
    /// Learns from `(user_id, product_id)` purchases and each user's segment.
    pub fn fit(purchases: &[(i64, i64)], segment_of: &HashMap<i64, Segment>) -> Recommender {
        let mut bought: HashMap<i64, HashSet<i64>> = HashMap::new();
        for (u, p) in purchases {
            bought.entry(*u).or_default().insert(*p);
        }
        let mut buyers_of: HashMap<i64, Vec<i64>> = HashMap::new();
        let mut cooc: HashMap<i64, HashMap<i64, usize>> = HashMap::new();
        let mut per_segment: HashMap<Segment, HashMap<i64, usize>> = HashMap::new();
        let mut users: Vec<&i64> = bought.keys().collect();
        users.sort();
        for u in users {
            let items = &bought[u];
            let seg = segment_of.get(u).copied().unwrap_or(Segment::Active);
            for a in items {
                buyers_of.entry(*a).or_default().push(*u);
                *per_segment.entry(seg).or_default().entry(*a).or_default() += 1;
                for b in items {
                    if a != b {
                        *cooc.entry(*a).or_default().entry(*b).or_default() += 1;
                    }
                }
            }
        }
        let segment_popular = per_segment
            .into_iter()
            .map(|(seg, counts)| {
                let total = counts.values().sum::<usize>().max(1) as f64;
                let mut v: Vec<(i64, f64)> = counts.into_iter().map(|(p, c)| (p, c as f64 / total)).collect();
                v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                (seg, v)
            })
            .collect();
        let total = buyers_of.values().map(Vec::len).sum::<usize>().max(1) as f64;
        let mut overall_popular: Vec<(i64, f64)> = buyers_of.iter().map(|(p, b)| (*p, b.len() as f64 / total)).collect();
        overall_popular.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Recommender { bought, buyers_of, cooc, segment_popular, overall_popular }
    }

    fn buyers(&self, product: i64) -> f64 {
        self.buyers_of.get(&product).map_or(1, Vec::len).max(1) as f64
    }

    /// Item–item: the `k` most relevant products `user_id` has not bought, best first.
    pub fn recommend(&self, user_id: i64, segment: Segment, k: usize) -> Vec<Recommendation> {
        let owned = self.bought.get(&user_id).cloned().unwrap_or_default();
        let mut score: HashMap<i64, f64> = HashMap::new();
        for x in &owned {
            let nx = self.buyers(*x);
            for (y, c) in self.cooc.get(x).into_iter().flatten() {
                if !owned.contains(y) {
                    *score.entry(*y).or_default() += *c as f64 / ((nx * self.buyers(*y)).sqrt() + SHRINK);
                }
            }
        }
        self.ranked(user_id, &owned, score, segment, k, "co-purchase")
    }

    /// User–user: what the [`NEIGHBOURS`] users most like `user_id` bought (cosine of their
    /// purchase sets), weighted by that likeness; the `k` best that `user_id` has not bought.
    pub fn recommend_from_similar_users(&self, user_id: i64, segment: Segment, k: usize) -> Vec<Recommendation> {
        let owned = self.bought.get(&user_id).cloned().unwrap_or_default();
        let mut shared: HashMap<i64, usize> = HashMap::new();
        for x in &owned {
            for v in self.buyers_of.get(x).into_iter().flatten() {
                if *v != user_id {
                    *shared.entry(*v).or_default() += 1;
                }
            }
        }
        let mut similar: Vec<(i64, f64)> =
            shared.into_iter().map(|(v, n)| (v, n as f64 / ((owned.len() * self.bought[&v].len()) as f64).sqrt())).collect();
        similar.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut score: HashMap<i64, f64> = HashMap::new();
        for (v, sim) in similar.into_iter().take(NEIGHBOURS) {
            for y in &self.bought[&v] {
                if !owned.contains(y) {
                    *score.entry(*y).or_default() += sim;
                }
            }
        }
        self.ranked(user_id, &owned, score, segment, k, "similar users")
    }

    /// `score` plus the fill-in — the products' shares of all purchases, and half as much of
    /// their segment's — the best `k` first.
    fn ranked(&self, user_id: i64, owned: &HashSet<i64>, score: HashMap<i64, f64>, segment: Segment, k: usize, source: &str) -> Vec<Recommendation> {
        let mut score: HashMap<i64, (f64, bool)> = score.into_iter().map(|(p, s)| (p, (s, true))).collect();
        let segment_popular = self.segment_popular.get(&segment).or_else(|| self.segment_popular.get(&Segment::Active));
        for (popular, weight) in [(Some(&self.overall_popular), 0.01), (segment_popular, 0.005)] {
            for (p, share) in popular.into_iter().flatten().take(50) {
                if !owned.contains(p) {
                    score.entry(*p).or_insert((0.0, false)).0 += weight * share;
                }
            }
        }
        let mut ranked: Vec<(i64, f64, bool)> = score.into_iter().map(|(p, (s, own))| (p, s, own)).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked
            .into_iter()
            .take(k)
            .enumerate()
            .map(|(i, (p, s, own))| Recommendation { user_id, rank: i as i64 + 1, product_id: p, score: s, source: if own { source.into() } else { "segment".into() } })
            .collect()
    }

    /// The most popular products overall (the baseline), best first.
    pub fn popular(&self, k: usize) -> Vec<i64> {
        let mut v: Vec<(i64, usize)> = self.buyers_of.iter().map(|(p, b)| (*p, b.len())).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.into_iter().take(k).map(|(p, _)| p).collect()
    }
}

/// Hit rate of a recommender: the share of users (with purchases after the cutoff) for whom
/// at least one of the `k` recommendations was bought then.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HitRate {
    /// Which recommender.
    pub recommender: String,
    /// Recommendations per user.
    pub k: i64,
    /// Users judged.
    pub users: i64,
    /// Share with at least one hit.
    pub hit_rate: f64,
}
frame_row!(HitRate { recommender, k, users, hit_rate });

/// The name [`hit_rates`] gives each recommender, in its order.
pub const RECOMMENDERS: [&str; 3] = ["co-purchase + segment", "similar users + segment", "most popular (baseline)"];

/// Hit rates at `k` of item–item, of user–user and of "most popular overall" (each without
/// what the user already bought), on `later` purchases; in the order of [`RECOMMENDERS`].
pub fn hit_rates(rec: &Recommender, later: &[(i64, i64)], segment_of: &HashMap<i64, Segment>, k: usize) -> Vec<HitRate> {
    let mut future: HashMap<i64, HashSet<i64>> = HashMap::new();
    for (u, p) in later {
        future.entry(*u).or_default().insert(*p);
    }
    let popular = rec.popular(k + 50);
    let mut hits = [0usize; 3];
    for (u, bought_later) in &future {
        let seg = segment_of.get(u).copied().unwrap_or(Segment::Active);
        let hit = |recs: Vec<Recommendation>| recs.iter().any(|r| bought_later.contains(&r.product_id));
        hits[0] += hit(rec.recommend(*u, seg, k)) as usize;
        hits[1] += hit(rec.recommend_from_similar_users(*u, seg, k)) as usize;
        let owned = rec.bought.get(u);
        hits[2] += popular.iter().filter(|p| owned.is_none_or(|o| !o.contains(p))).take(k).any(|p| bought_later.contains(p)) as usize;
    }
    let n = future.len().max(1) as f64;
    RECOMMENDERS
        .iter()
        .zip(hits)
        .map(|(name, h)| HitRate { recommender: (*name).into(), k: k as i64, users: future.len() as i64, hit_rate: h as f64 / n })
        .collect()
}

/// One sentence per `k` in `hits` (rows of [`hit_rates`], one or more `k`): each recommender's
/// hit rate beside popularity's, and whether it beat it, tied or lost — whichever this run gave.
pub fn verdicts(hits: &[HitRate]) -> Vec<String> {
    hits.chunks(RECOMMENDERS.len())
        .filter(|rows| rows.len() == RECOMMENDERS.len())
        .map(|rows| {
            let popular = &rows[RECOMMENDERS.len() - 1];
            let each: Vec<String> = rows[..RECOMMENDERS.len() - 1]
                .iter()
                .map(|r| {
                    let outcome = if r.hit_rate > popular.hit_rate { "beats it" } else if r.hit_rate < popular.hit_rate { "loses to it" } else { "ties with it" };
                    format!("{} {:.1} % ({} — {outcome})", r.recommender, 100.0 * r.hit_rate, crate::display::higher_or_lower(r.hit_rate, popular.hit_rate))
                })
                .collect();
            format!("k = {}: popularity hits {:.1} % of {} users; {}.", popular.k, 100.0 * popular.hit_rate, popular.users, each.join("; "))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn co_purchases_rank_above_segment_fill_and_owned_items_are_skipped() {
        // Users 1–3 bought 10 and 20 together; user 4 bought 10 and 30; user 5 bought only 10.
        let purchases = [(1, 10), (1, 20), (2, 10), (2, 20), (3, 10), (3, 20), (4, 10), (4, 30), (5, 10), (6, 40), (7, 40), (8, 40)];
        let r = Recommender::fit(&purchases, &HashMap::new());
        let recs = r.recommend(5, Segment::Active, 3);
        assert_eq!(recs.iter().map(|r| r.product_id).collect::<Vec<_>>(), vec![20, 30, 40]);
        assert!(recs.windows(2).all(|w| w[0].score >= w[1].score), "scores are ordered: {recs:?}");
        assert_eq!((recs[0].source.as_str(), recs[2].source.as_str()), ("co-purchase", "segment"));
        assert!(r.recommend(1, Segment::Active, 5).iter().all(|x| x.product_id != 10 && x.product_id != 20));
    }

    #[test]
    fn similar_users_recommend_what_the_closest_of_them_bought() {
        // User 9 bought 1 and 2. Users 1–2 bought 1, 2 and 3 (very like 9); user 3 bought 2 and 4
        // (less like); user 4 bought 5 only (nothing shared).
        let purchases = [(9, 1), (9, 2), (1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3), (3, 2), (3, 4), (4, 5)];
        let r = Recommender::fit(&purchases, &HashMap::new());
        let recs = r.recommend_from_similar_users(9, Segment::Active, 3);
        assert_eq!(recs.iter().map(|r| r.product_id).collect::<Vec<_>>(), vec![3, 4, 5], "{recs:?}");
        assert_eq!((recs[0].source.as_str(), recs[1].source.as_str(), recs[2].source.as_str()), ("similar users", "similar users", "segment"));
        assert!(recs[0].score > recs[1].score);
        // Without history: segment favourites only.
        assert!(r.recommend_from_similar_users(77, Segment::Active, 2).iter().all(|x| x.source == "segment"));
    }

    #[test]
    fn hit_rate_counts_users_with_a_later_purchase_among_the_recommendations() {
        let r = Recommender::fit(&[(1, 10), (1, 20), (2, 10), (2, 20), (3, 10), (4, 30)], &HashMap::new());
        let h = hit_rates(&r, &[(3, 20), (4, 99)], &HashMap::new(), 1);
        assert_eq!(h.iter().map(|h| h.recommender.as_str()).collect::<Vec<_>>(), RECOMMENDERS);
        assert_eq!((h[0].users, h[0].hit_rate), (2, 0.5));
        assert_eq!(h[1].hit_rate, 0.5, "user 3's neighbours bought 20");
        // Popular: 10 (3 buyers); user 3 owns it, so 20 (2 buyers) is theirs — a hit.
        assert_eq!(h[2].hit_rate, 0.5);
        assert_eq!(verdicts(&h), ["k = 1: popularity hits 50.0 % of 2 users; co-purchase + segment 50.0 % (about the same (within 10%) — ties with it); similar users + segment 50.0 % (about the same (within 10%) — ties with it)."]);
        let better = [HitRate { hit_rate: 0.3, ..h[0].clone() }, HitRate { hit_rate: 0.1, ..h[1].clone() }, HitRate { hit_rate: 0.15, ..h[2].clone() }];
        let said = &verdicts(&better)[0];
        assert!(said.contains("co-purchase + segment 30.0 % (2.0× higher — beats it)") && said.contains("similar users + segment 10.0 % (1.5× lower — loses to it)"), "{said}");
    }
}
