//! `GET /metrics` (behind auth): Prometheus text — the pools, create latency, setups by phase
//! and outcome, HTTP requests by route and status, open terminals and log streams, and
//! whether the engine answers.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::state::ApiState;

/// Histogram bucket bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0, 120.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter()) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// What the server counts.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    creates: Mutex<BTreeMap<&'static str, Histogram>>,
    phases: Mutex<BTreeMap<String, Histogram>>,
    setups: Mutex<BTreeMap<&'static str, u64>>,
    log_streams: AtomicI64,
}

impl Metrics {
    pub(crate) fn request(&self, method: &str, route: &str, status: u16) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
    }

    /// A create answered in `seconds`, from the pool or not.
    pub(crate) fn create(&self, from_pool: bool, seconds: f64) {
        let result = if from_pool { "hit" } else { "miss" };
        self.creates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(result)
            .or_default()
            .observe(seconds);
    }

    /// A setup phase took `seconds`.
    pub(crate) fn phase(&self, phase: &str, seconds: f64) {
        self.phases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(phase.to_owned())
            .or_default()
            .observe(seconds);
    }

    /// A setup ended `ready` or `error`.
    pub(crate) fn setup(&self, outcome: &'static str) {
        *self
            .setups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(outcome)
            .or_default() += 1;
    }

    /// A log stream opened (`+1`) or closed (`-1`).
    pub(crate) fn log_stream(&self, delta: i64) {
        self.log_streams.fetch_add(delta, Ordering::Relaxed);
    }
}

/// Escapes a label value.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, content_type = "text/plain", description = "Prometheus text"), (status = 401, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
/// `GET /metrics`.
pub(crate) async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
    let mut out = String::new();
    let m = state.metrics();
    let health = state.health().snapshot();
    out.push_str("# TYPE slipway_engine_up gauge\n");
    let _ = writeln!(out, "slipway_engine_up {}", u8::from(health.reachable));
    if let Ok(report) = state.services().pool_report().await {
        out.push_str("# TYPE slipway_pool_ready gauge\n# TYPE slipway_pool_target gauge\n# TYPE slipway_pool_claims_total counter\n");
        for pool in &report.pools {
            let labels = format!(
                "key=\"{}\",image=\"{}\"",
                pool.key,
                label(pool.image.as_ref())
            );
            let _ = writeln!(out, "slipway_pool_ready{{{labels}}} {}", pool.ready);
            let _ = writeln!(out, "slipway_pool_target{{{labels}}} {}", pool.target);
            let _ = writeln!(
                out,
                "slipway_pool_claims_total{{{labels},result=\"hit\"}} {}",
                pool.hits
            );
            let _ = writeln!(
                out,
                "slipway_pool_claims_total{{{labels},result=\"miss\"}} {}",
                pool.misses
            );
        }
        out.push_str("# TYPE slipway_memory_used_bytes gauge\n");
        let _ = writeln!(
            out,
            "slipway_memory_used_bytes {}",
            report.memory_used_bytes
        );
        let _ = writeln!(
            out,
            "slipway_memory_budget_bytes {}",
            report.memory_budget_bytes
        );
    }
    out.push_str("# TYPE slipway_create_seconds histogram\n");
    for (result, histogram) in m.creates.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        histogram.render(
            &mut out,
            "slipway_create_seconds",
            &format!("result=\"{result}\""),
        );
    }
    out.push_str("# TYPE slipway_setup_phase_seconds histogram\n");
    for (phase, histogram) in m.phases.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        histogram.render(
            &mut out,
            "slipway_setup_phase_seconds",
            &format!("phase=\"{}\"", label(phase)),
        );
    }
    out.push_str("# TYPE slipway_setups_total counter\n");
    for (outcome, count) in m.setups.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        let _ = writeln!(out, "slipway_setups_total{{outcome=\"{outcome}\"}} {count}");
    }
    out.push_str("# TYPE slipway_http_requests_total counter\n");
    for ((method, route, status), count) in
        m.requests.lock().unwrap_or_else(|e| e.into_inner()).iter()
    {
        let _ = writeln!(
            out,
            "slipway_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {count}",
            label(route)
        );
    }
    out.push_str("# TYPE slipway_terminals_open gauge\n");
    let _ = writeln!(out, "slipway_terminals_open {}", state.terminals().count());
    out.push_str("# TYPE slipway_log_streams_open gauge\n");
    let _ = writeln!(
        out,
        "slipway_log_streams_open {}",
        m.log_streams.load(Ordering::Relaxed)
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_into_every_bucket_at_or_above_the_value() {
        let mut h = Histogram::default();
        h.observe(0.003);
        h.observe(2.0);
        let mut out = String::new();
        h.render(&mut out, "x", "a=\"b\"");
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.0025\"} 0"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.005\"} 1"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"5\"} 2"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"+Inf\"} 2"), "{out}");
        assert!(out.contains("x_count{a=\"b\"} 2"), "{out}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
