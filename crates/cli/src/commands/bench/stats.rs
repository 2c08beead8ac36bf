//! Latency samples and their percentiles.

use std::time::Duration;

use serde::Serialize;

/// Durations of one operation, in milliseconds.
#[derive(Debug, Default, Clone)]
pub(crate) struct Samples(Vec<f64>);

impl Samples {
    pub(crate) fn push(&mut self, duration: Duration) {
        self.0.push(duration.as_secs_f64() * 1000.0);
    }

    /// The nearest-rank percentile `p` (0–100), or 0 with no samples.
    pub(crate) fn percentile(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// One operation measured both ways.
#[derive(Debug, Serialize)]
pub(crate) struct Comparison {
    pub(crate) slipway_p50_ms: f64,
    pub(crate) slipway_p99_ms: f64,
    pub(crate) raw_p50_ms: f64,
    pub(crate) raw_p99_ms: f64,
    /// slipway's p50 over raw's: 1.00 means no overhead.
    pub(crate) ratio_p50: f64,
    pub(crate) ratio_p99: f64,
}

impl Comparison {
    pub(crate) fn of(slipway: &Samples, raw: &Samples) -> Self {
        let ratio = |a: f64, b: f64| if b > 0.0 { round(a / b, 3) } else { 0.0 };
        let (s50, s99, r50, r99) = (
            slipway.percentile(50.0),
            slipway.percentile(99.0),
            raw.percentile(50.0),
            raw.percentile(99.0),
        );
        Self {
            slipway_p50_ms: round(s50, 2),
            slipway_p99_ms: round(s99, 2),
            raw_p50_ms: round(r50, 2),
            raw_p99_ms: round(r99, 2),
            ratio_p50: ratio(s50, r50),
            ratio_p99: ratio(s99, r99),
        }
    }
}

pub(crate) fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(values: &[u64]) -> Samples {
        let mut s = Samples::default();
        for v in values {
            s.push(Duration::from_millis(*v));
        }
        s
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let s = samples(&[5, 1, 4, 2, 3]);
        assert_eq!(s.percentile(50.0), 3.0);
        assert_eq!(s.percentile(99.0), 5.0);
        assert_eq!(s.percentile(0.0), 1.0);
        assert_eq!(Samples::default().percentile(50.0), 0.0);
    }

    #[test]
    fn comparisons_report_ratios() {
        let c = Comparison::of(&samples(&[11, 11, 11]), &samples(&[10, 10, 10]));
        assert_eq!(c.ratio_p50, 1.1);
        assert_eq!(c.raw_p50_ms, 10.0);
    }
}
