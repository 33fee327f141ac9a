//! Latency distributions: percentiles of measured samples.

use crate::frame_row;

/// The distribution of one case's latencies, in microseconds.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Latency {
    /// What was measured.
    pub case: String,
    /// How many samples.
    pub samples: i64,
    /// Median.
    pub p50_us: f64,
    /// 95th percentile.
    pub p95_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Mean.
    pub mean_us: f64,
    /// Slowest.
    pub max_us: f64,
}
frame_row!(Latency { case, samples, p50_us, p95_us, p99_us, mean_us, max_us });

/// The median of the first of `latencies` whose case starts with `case_prefix` (NaN when none
/// does: a case left out of the run is never given a number).
pub fn median_of(latencies: &[Latency], case_prefix: &str) -> f64 {
    latencies.iter().find(|l| l.case.starts_with(case_prefix)).map_or(f64::NAN, |l| l.p50_us)
}

/// The `q`-quantile (0–1) of sorted `v`, nearest-rank.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Summarises `samples` (µs) as p50/p95/p99/mean/max.
pub fn summarize(case: &str, mut samples: Vec<f64>) -> Latency {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    Latency {
        case: case.to_string(),
        samples: n as i64,
        p50_us: quantile(&samples, 0.50),
        p95_us: quantile(&samples, 0.95),
        p99_us: quantile(&samples, 0.99),
        mean_us: if n == 0 { f64::NAN } else { samples.iter().sum::<f64>() / n as f64 },
        max_us: samples.last().copied().unwrap_or(f64::NAN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let l = summarize("x", (1..=100).rev().map(f64::from).collect());
        assert_eq!((l.p50_us, l.p95_us, l.p99_us, l.max_us, l.samples), (50.0, 95.0, 99.0, 100.0, 100));
        assert!((l.mean_us - 50.5).abs() < 1e-12);
        assert!(summarize("empty", vec![]).p50_us.is_nan());
    }

    #[test]
    fn the_median_of_a_case_is_found_by_its_prefix_and_a_missing_case_has_none() {
        let cases = [summarize("moka hit (in process)", vec![1.0, 2.0, 3.0]), summarize("Redis GET hit", vec![40.0])];
        assert_eq!(median_of(&cases, "moka"), 2.0);
        assert_eq!(median_of(&cases, "Redis GET"), 40.0);
        assert!(median_of(&cases, "SQL").is_nan());
    }
}
