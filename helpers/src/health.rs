//! Health against alert thresholds: the rules of the Python original's monitoring chapter
//! (cache hit ratio under 70 %, queue depth over 10,000, connection pool over 80 % in use,
//! queries over 100 ms, error rate over 1 %), one of ours the original names without a threshold
//! (consumer lag over 1 s: the 95th percentile of the time from publish to delivery), and
//! [`judge`], which puts a value measured in
//! this run beside its rule. The measuring is the caller's (notebook 06 measures in its cells);
//! this module only holds the rules, so it depends on no service.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::frame_row;

/// Which side of the limit alerts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alerts {
    /// A value below the limit alerts (a hit ratio).
    Below,
    /// A value above the limit alerts (a depth, a time, a rate).
    Above,
}

/// One alert rule.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// What is measured, e.g. `cache hit ratio`.
    pub metric: &'static str,
    /// Its unit, e.g. `%`.
    pub unit: &'static str,
    /// The limit.
    pub limit: f64,
    /// Which side of it alerts.
    pub alerts: Alerts,
}

/// The original's thresholds, and ours for consumer lag (the original lists the metric
/// without a threshold).
pub const RULES: [Rule; 6] = [
    Rule { metric: "cache hit ratio", unit: "%", limit: 70.0, alerts: Alerts::Below },
    Rule { metric: "queue depth", unit: "messages", limit: 10_000.0, alerts: Alerts::Above },
    Rule { metric: "connection pool in use", unit: "%", limit: 80.0, alerts: Alerts::Above },
    Rule { metric: "slowest query", unit: "ms", limit: 100.0, alerts: Alerts::Above },
    Rule { metric: "error rate", unit: "%", limit: 1.0, alerts: Alerts::Above },
    Rule { metric: "consumer lag (p95)", unit: "ms", limit: 1_000.0, alerts: Alerts::Above },
];

/// A measured value beside its rule.
#[derive(Clone, Debug, Serialize)]
pub struct HealthRow {
    /// The rule's metric.
    pub metric: String,
    /// The value measured.
    pub value: f64,
    /// Its unit.
    pub unit: String,
    /// When the rule alerts, e.g. `< 70`.
    pub alert_when: String,
    /// `ok` or `ALERT`.
    pub status: String,
    /// How the value was measured.
    pub measured: String,
}
frame_row!(HealthRow { metric, value, unit, alert_when, status, measured });

/// `value` of `metric` (one of [`RULES`]) judged against its rule; `measured` says how it was
/// measured. A metric without a rule is refused, naming the ones there are.
pub fn judge(metric: &str, value: f64, measured: &str) -> Result<HealthRow> {
    let rule = RULES
        .iter()
        .find(|r| r.metric == metric)
        .ok_or_else(|| Error::InvalidInput(format!("no alert rule for `{metric}`; there are: {}", RULES.iter().map(|r| r.metric).collect::<Vec<_>>().join(", "))))?;
    let (alert, sign) = match rule.alerts {
        Alerts::Below => (value < rule.limit, "<"),
        Alerts::Above => (value > rule.limit, ">"),
    };
    Ok(HealthRow {
        metric: metric.into(),
        value: (value * 100.0).round() / 100.0,
        unit: rule.unit.into(),
        alert_when: format!("{sign} {}", crate::display::thousands(rule.limit as usize)),
        status: if alert { "ALERT" } else { "ok" }.into(),
        measured: measured.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_alerts_on_its_side_of_the_limit_only() {
        assert_eq!(judge("cache hit ratio", 69.9, "").unwrap().status, "ALERT");
        assert_eq!(judge("cache hit ratio", 70.0, "").unwrap().status, "ok");
        assert_eq!(judge("slowest query", 100.0, "").unwrap().status, "ok");
        assert_eq!(judge("slowest query", 100.5, "").unwrap().status, "ALERT");
        assert_eq!(judge("queue depth", 12_000.0, "").unwrap().alert_when, "> 10,000");
        let err = judge("disk", 1.0, "").unwrap_err().to_string();
        assert!(err.contains("`disk`") && err.contains("error rate"), "{err}");
    }
}
