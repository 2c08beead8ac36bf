//! slipwayd, the management API: dev environments from the warm pool over HTTP.
//!
//! [`app`] builds the router over an [`ApiState`]; the `slipwayd` binary opens the
//! services as the owner of the state, serves the router and reloads secrets on SIGHUP.
//!
//! - `GET /health` (no auth): engine, pool and container count, 503 while the engine is down.
//! - `GET|POST /api/containers`, `GET|DELETE /api/containers/{id}`,
//!   `POST /api/containers/{id}/setup` (signed callbacks), `POST /api/containers/{id}/exec`
//!   (killed with everything it started at its timeout), `POST /api/maintenance/prune`.
//!
//! Every `/api/*` route needs `Authorization: Bearer <secret>`; errors are
//! `{"error": {"code", "message"}}`.

pub mod auth;
pub mod callbacks;
mod container_keys;
mod containers;
pub mod error;
mod exec;
mod exec_stream;
pub mod health;
mod idle;
mod json;
mod log_hub;
mod logs;
mod maintenance;
mod metrics;
pub mod openapi;
mod private_file;
pub mod request_log;
mod setup;
mod state;
mod terminal;
mod tickets;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

pub use auth::Secrets;
pub use callbacks::{CallbackEvent, CallbackTarget, DELIVERY_HEADER, SIGNATURE_HEADER};
pub use error::ApiError;
pub use idle::IDLE_CHECK;
pub use json::MAX_BODY_BYTES;
pub use state::ApiState;

/// The routes behind bearer auth: everything under `/api`, and `/metrics` (listed for the
/// test that walks them).
pub const API_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/containers"),
    ("POST", "/api/containers"),
    ("GET", "/api/containers/0a1b2c3d"),
    ("DELETE", "/api/containers/0a1b2c3d"),
    ("POST", "/api/containers/0a1b2c3d/setup"),
    ("POST", "/api/containers/0a1b2c3d/exec"),
    ("GET", "/api/containers/0a1b2c3d/logs"),
    ("GET", "/api/containers/0a1b2c3d/terminal"),
    ("POST", "/api/containers/0a1b2c3d/tickets"),
    ("POST", "/api/maintenance/prune"),
    ("GET", "/metrics"),
    ("GET", "/api/openapi.json"),
];

/// The whole API over `state`.
pub fn app(state: ApiState) -> Router {
    let api = Router::new()
        .route(
            "/containers",
            get(containers::list).post(containers::create),
        )
        .route(
            "/containers/{id}",
            get(containers::get).delete(containers::destroy),
        )
        .route("/containers/{id}/setup", post(setup::setup))
        .route("/containers/{id}/exec", post(exec::exec))
        .route("/containers/{id}/logs", get(logs::logs))
        .route("/containers/{id}/terminal", get(terminal::terminal))
        .route("/containers/{id}/tickets", post(tickets::issue))
        .route("/maintenance/prune", post(maintenance::prune))
        .route("/openapi.json", get(openapi::openapi_json))
        .fallback(|| async { ApiError::not_found("route") });
    Router::new()
        .route("/health", get(health::health))
        .route("/metrics", get(metrics::metrics))
        .nest("/api", api)
        .merge(openapi::docs())
        .fallback(|| async { ApiError::not_found("route") })
        // Over the whole router, not the nested one: whatever path under `/api` a request
        // names, routed or not, it is refused without a valid token.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_bearer,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_log::log_request,
        ))
        .with_state(state)
}
