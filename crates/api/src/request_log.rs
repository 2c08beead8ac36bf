//! One log line per API request: a request id, the method, the path without its query
//! string (tokens may ride there), the status and the time taken.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// The header carrying the request id back to the caller.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Middleware: logs the request and tags the response with its id.
pub(crate) async fn log_request(
    State(state): State<crate::ApiState>,
    request: Request,
    next: Next,
) -> Response {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    // `path()` is the URI without its query.
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let mut response = next.run(request).await;
    let status = response.status().as_u16();
    state.metrics().request(method.as_str(), &route, status);
    let elapsed_us = started.elapsed().as_micros() as u64;
    if path == "/health" {
        tracing::debug!(request = id, %method, %path, status, elapsed_us, "request");
    } else {
        tracing::info!(request = id, %method, %path, status, elapsed_us, "request");
    }
    if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}
