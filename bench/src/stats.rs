//! Order statistics over repeated measurements.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Median and 95th percentile of a set of durations, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The median (p50), ms.
    pub p50_ms: f64,
    /// The 95th percentile, ms.
    pub p95_ms: f64,
    /// The 99th percentile, ms.
    pub p99_ms: f64,
    /// How many measurements.
    pub samples: usize,
}

impl Summary {
    /// Summarises `samples` (at least one).
    pub fn of(samples: &[Duration]) -> Summary {
        assert!(!samples.is_empty(), "no samples");
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        Summary {
            p50_ms: percentile(&ms, 50.0),
            p95_ms: percentile(&ms, 95.0),
            p99_ms: percentile(&ms, 99.0),
            samples: ms.len(),
        }
    }
}

/// The nearest-rank percentile of sorted values: the smallest value with at least `p`% of
/// the values at or below it (so p95 of 20 samples is the 19th, never an interpolation).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let sorted: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 50.0), 10.0);
        assert_eq!(percentile(&sorted, 95.0), 19.0);
        assert_eq!(percentile(&sorted, 99.0), 20.0);
        assert_eq!(percentile(&[7.0], 95.0), 7.0);
    }

    #[test]
    fn summary_sorts_its_input() {
        let samples = [3, 1, 2].map(Duration::from_millis);
        let summary = Summary::of(&samples);
        assert_eq!(summary.p50_ms, 2.0);
        assert_eq!(summary.p95_ms, 3.0);
        assert_eq!(summary.samples, 3);
    }
}
