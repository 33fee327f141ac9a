//! Recommendations: "bought X, also bought Y" from co-purchases, backed by what the user's
//! segment buys most; judged by the hit rate on purchases made after the cutoff.
//!
//! Relevance of product `y` for a user who bought `X₁…Xₙ`: `Σᵢ cooc(Xᵢ, y) / √(n(Xᵢ)·n(y))`
//! (cosine similarity of buyer sets), plus 0.01 × the product's share of its segment's
//! purchases, so segment popularity only breaks ties and fills in for users without history.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::segments::Segment;
use crate::frame_row;

/// Who bought what, before the cutoff.
#[derive(Clone, Debug, Default)]
pub struct Recommender {
    bought: HashMap<i64, HashSet<i64>>,
    buyers: HashMap<i64, usize>,
    cooc: HashMap<(i64, i64), usize>,
    segment_popular: HashMap<Segment, Vec<(i64, f64)>>,
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
    /// Why: `co-purchase` or `segment`.
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
        let mut buyers: HashMap<i64, usize> = HashMap::new();
        let mut cooc: HashMap<(i64, i64), usize> = HashMap::new();
        let mut per_segment: HashMap<Segment, HashMap<i64, usize>> = HashMap::new();
        for (u, items) in &bought {
            let seg = segment_of.get(u).copied().unwrap_or(Segment::Active);
            for a in items {
                *buyers.entry(*a).or_default() += 1;
                *per_segment.entry(seg).or_default().entry(*a).or_default() += 1;
                for b in items {
                    if a != b {
                        *cooc.entry((*a, *b)).or_default() += 1;
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
        Recommender { bought, buyers, cooc, segment_popular }
    }

    /// The `k` most relevant products `user_id` has not bought, best first.
    pub fn recommend(&self, user_id: i64, segment: Segment, k: usize) -> Vec<Recommendation> {
        let owned = self.bought.get(&user_id).cloned().unwrap_or_default();
        let mut score: HashMap<i64, (f64, bool)> = HashMap::new();
        for x in &owned {
            let nx = *self.buyers.get(x).unwrap_or(&1) as f64;
            for ((a, b), c) in self.cooc.iter().filter(|((a, _), _)| a == x) {
                let _ = a;
                if owned.contains(b) {
                    continue;
                }
                let ny = *self.buyers.get(b).unwrap_or(&1) as f64;
                let e = score.entry(*b).or_insert((0.0, true));
                e.0 += *c as f64 / (nx * ny).sqrt();
            }
        }
        if let Some(popular) = self.segment_popular.get(&segment).or_else(|| self.segment_popular.get(&Segment::Active)) {
            for (p, share) in popular.iter().take(50) {
                if !owned.contains(p) {
                    score.entry(*p).or_insert((0.0, false)).0 += 0.01 * share;
                }
            }
        }
        let mut ranked: Vec<(i64, f64, bool)> = score.into_iter().map(|(p, (s, co))| (p, s, co)).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked
            .into_iter()
            .take(k)
            .enumerate()
            .map(|(i, (p, s, co))| Recommendation { user_id, rank: i as i64 + 1, product_id: p, score: s, source: if co { "co-purchase".into() } else { "segment".into() } })
            .collect()
    }

    /// The most popular products overall (the baseline), best first.
    pub fn popular(&self, k: usize) -> Vec<i64> {
        let mut v: Vec<(i64, usize)> = self.buyers.iter().map(|(p, n)| (*p, *n)).collect();
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

/// Hit rates at `k` of the recommender and of "most popular overall", on `later` purchases.
pub fn hit_rates(rec: &Recommender, later: &[(i64, i64)], segment_of: &HashMap<i64, Segment>, k: usize) -> Vec<HitRate> {
    let mut future: HashMap<i64, HashSet<i64>> = HashMap::new();
    for (u, p) in later {
        future.entry(*u).or_default().insert(*p);
    }
    let popular = rec.popular(k + 50);
    let (mut hits, mut pop_hits) = (0usize, 0usize);
    for (u, bought_later) in &future {
        let seg = segment_of.get(u).copied().unwrap_or(Segment::Active);
        if rec.recommend(*u, seg, k).iter().any(|r| bought_later.contains(&r.product_id)) {
            hits += 1;
        }
        let owned = rec.bought.get(u);
        if popular.iter().filter(|p| owned.is_none_or(|o| !o.contains(p))).take(k).any(|p| bought_later.contains(p)) {
            pop_hits += 1;
        }
    }
    let n = future.len().max(1) as f64;
    vec![
        HitRate { recommender: "co-purchase + segment".into(), k: k as i64, users: future.len() as i64, hit_rate: hits as f64 / n },
        HitRate { recommender: "most popular (baseline)".into(), k: k as i64, users: future.len() as i64, hit_rate: pop_hits as f64 / n },
    ]
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
    fn hit_rate_counts_users_with_a_later_purchase_among_the_recommendations() {
        let r = Recommender::fit(&[(1, 10), (1, 20), (2, 10), (2, 20), (3, 10), (4, 30)], &HashMap::new());
        let h = hit_rates(&r, &[(3, 20), (4, 99)], &HashMap::new(), 1);
        assert_eq!((h[0].users, h[0].hit_rate), (2, 0.5));
    }
}
