//! Segmentation (DORMANT / VIP / AT_RISK / ACTIVE) with documented thresholds, and the
//! insights that follow from the measured segments.

use serde::Serialize;

use crate::frame_row;

/// A user segment. Rules apply in this order: the first that matches wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Segment {
    /// No activity for `dormant_days` or more.
    Dormant,
    /// Spend at or above the VIP threshold.
    Vip,
    /// Churn probability at or above `at_risk_probability`.
    AtRisk,
    /// Everyone else.
    Active,
}

impl Segment {
    /// All segments, in rule order.
    pub const ALL: [Segment; 4] = [Segment::Dormant, Segment::Vip, Segment::AtRisk, Segment::Active];

    /// The name as shown: `DORMANT`, `VIP`, `AT_RISK`, `ACTIVE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Segment::Dormant => "DORMANT",
            Segment::Vip => "VIP",
            Segment::AtRisk => "AT_RISK",
            Segment::Active => "ACTIVE",
        }
    }

    /// What to do about the segment.
    pub fn action(self) -> &'static str {
        match self {
            Segment::Dormant => "re-engagement campaign",
            Segment::Vip => "VIP perks and premium support",
            Segment::AtRisk => "retention offer",
            Segment::Active => "personalised recommendations",
        }
    }
}

/// Segmentation thresholds. Defaults: dormant after 90 days, VIP from the 95th percentile of
/// spend, at risk from a churn probability of 0.5.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SegmentRules {
    /// Days without activity that make a user dormant (default 90).
    pub dormant_days: f64,
    /// Spend at or above which a user is VIP (default: set from data by [`SegmentRules::from_spend`]).
    pub vip_spend: f64,
    /// Churn probability at or above which a user is at risk (default 0.5).
    pub at_risk_probability: f64,
}

impl SegmentRules {
    /// Default rules with the VIP line at the `quantile` (e.g. 0.95) of `spend`.
    pub fn from_spend(spend: &[f64], quantile: f64) -> SegmentRules {
        let mut s: Vec<f64> = spend.iter().copied().filter(|v| v.is_finite()).collect();
        s.sort_by(f64::total_cmp);
        let vip_spend = crate::latency::quantile(&s, quantile).max(f64::MIN_POSITIVE);
        SegmentRules { dormant_days: 90.0, vip_spend, at_risk_probability: 0.5 }
    }

    /// The segment of one user.
    pub fn assign(&self, recency_days: f64, spend: f64, churn_probability: f64) -> Segment {
        if recency_days >= self.dormant_days {
            Segment::Dormant
        } else if spend >= self.vip_spend {
            Segment::Vip
        } else if churn_probability >= self.at_risk_probability {
            Segment::AtRisk
        } else {
            Segment::Active
        }
    }
}

/// One segment's measured profile and the sentence it leads to.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SegmentProfile {
    /// Segment name.
    pub segment: String,
    /// Users in it.
    pub users: i64,
    /// Share of all users.
    pub share: f64,
    /// Mean spend before the cutoff.
    pub avg_spend: f64,
    /// Mean predicted churn probability.
    pub avg_churn_probability: f64,
    /// Share that really churned in the horizon.
    pub churned_share: f64,
    /// Mean predicted 12-month value.
    pub avg_predicted_ltv: f64,
    /// The suggested action, with the numbers.
    pub insight: String,
}
frame_row!(SegmentProfile { segment, users, share, avg_spend, avg_churn_probability, churned_share, avg_predicted_ltv, insight });

/// Profiles of every non-empty segment from per-user columns.
pub fn profiles(segments: &[Segment], spend: &[f64], churn_probability: &[f64], churned: &[bool], predicted_ltv: &[f64]) -> Vec<SegmentProfile> {
    let total = segments.len().max(1) as f64;
    Segment::ALL
        .iter()
        .filter_map(|seg| {
            let rows: Vec<usize> = (0..segments.len()).filter(|i| segments[*i] == *seg).collect();
            if rows.is_empty() {
                return None;
            }
            let n = rows.len() as f64;
            let mean = |v: &[f64]| rows.iter().map(|i| v[*i]).sum::<f64>() / n;
            let churned_share = rows.iter().filter(|i| churned[**i]).count() as f64 / n;
            let (avg_spend, avg_p, ltv) = (mean(spend), mean(churn_probability), mean(predicted_ltv));
            let insight = format!(
                "{} users ({:.0} %) are {}: mean churn risk {:.0} %, predicted 12-month value {:.0} each, {:.0} in all → {}.",
                rows.len(),
                100.0 * n / total,
                seg.as_str(),
                100.0 * avg_p,
                ltv,
                ltv * n,
                seg.action()
            );
            Some(SegmentProfile {
                segment: seg.as_str().into(),
                users: rows.len() as i64,
                share: n / total,
                avg_spend,
                avg_churn_probability: avg_p,
                churned_share,
                avg_predicted_ltv: ltv,
                insight,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_apply_in_order_on_constructed_users() {
        let r = SegmentRules { dormant_days: 90.0, vip_spend: 1_000.0, at_risk_probability: 0.5 };
        assert_eq!(r.assign(120.0, 5_000.0, 0.9), Segment::Dormant, "dormancy wins over spend");
        assert_eq!(r.assign(89.9, 1_000.0, 0.9), Segment::Vip);
        assert_eq!(r.assign(10.0, 999.0, 0.5), Segment::AtRisk);
        assert_eq!(r.assign(10.0, 999.0, 0.49), Segment::Active);
    }

    #[test]
    fn the_vip_line_is_the_spend_quantile() {
        let spend: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(SegmentRules::from_spend(&spend, 0.95).vip_spend, 95.0);
    }

    #[test]
    fn profiles_count_every_user_once_and_quote_their_numbers() {
        let segs = [Segment::Active, Segment::Vip, Segment::Active, Segment::Dormant];
        let p = profiles(&segs, &[10.0, 900.0, 30.0, 0.0], &[0.1, 0.2, 0.3, 0.9], &[false, false, true, true], &[100.0, 2000.0, 50.0, 0.0]);
        assert_eq!(p.iter().map(|s| s.users).sum::<i64>(), 4);
        let active = p.iter().find(|s| s.segment == "ACTIVE").unwrap();
        assert_eq!((active.users, active.avg_spend, active.churned_share), (2, 20.0, 0.5));
        assert!(active.insight.starts_with("2 users (50 %) are ACTIVE: mean churn risk 20 %"), "{}", active.insight);
    }
}
