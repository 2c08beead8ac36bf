//! `GET /health`: served from a snapshot a background probe refreshes every second, so a
//! load balancer's checks never reach the engine or the store.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use slipway_app::Services;

use crate::state::ApiState;

/// How often the probe looks.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// How long one look at the engine may take before it counts as unreachable.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// What the probe saw last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Whether the engine answered the last ping.
    pub reachable: bool,
    /// Its version, from the last look that reached it.
    pub version: Option<String>,
    /// Environments recorded.
    pub container_count: usize,
    /// Warm containers ready, over every pool.
    pub pool_ready: usize,
    /// Warm containers wanted, over every pool.
    pub pool_target: usize,
}

/// The latest snapshot, shared between the probe and the handler.
#[derive(Debug, Clone, Default)]
pub struct Health {
    snapshot: Arc<RwLock<Snapshot>>,
}

impl Health {
    /// The latest snapshot.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether the engine answered the last look.
    pub fn engine_reachable(&self) -> bool {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .reachable
    }

    /// Looks once: the engine (ping, version), the store, the pools.
    pub async fn refresh(&self, services: &Services) {
        let mut next = self.snapshot();
        let version = match services.runtime() {
            Ok(runtime) => tokio::time::timeout(PING_TIMEOUT, runtime.version())
                .await
                .ok()
                .and_then(Result::ok),
            Err(_) => None,
        };
        next.reachable = version.is_some();
        if let Some(version) = version {
            next.version = Some(version.version);
        }
        if let Ok(records) = services.store().environments().await {
            next.container_count = records.len();
        }
        if let Ok(report) = services.pool_report().await {
            next.pool_ready = report.pools.iter().map(|p| p.ready).sum();
            next.pool_target = report.pools.iter().map(|p| p.target).sum();
        }
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = next;
    }

    /// Refreshes every [`PROBE_INTERVAL`] until the services are dropped.
    pub fn spawn_probe(&self, services: std::sync::Weak<Services>) {
        let health = self.clone();
        tokio::spawn(async move {
            loop {
                let Some(services) = services.upgrade() else {
                    return;
                };
                health.refresh(&services).await;
                drop(services);
                tokio::time::sleep(PROBE_INTERVAL).await;
            }
        });
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HealthBody {
    status: &'static str,
    container_count: usize,
    uptime: u64,
    engine: EngineBody,
    pool: PoolBody,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct EngineBody {
    reachable: bool,
    version: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PoolBody {
    ready: usize,
    target: usize,
}

#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, body = HealthBody), (status = 503, body = HealthBody, description = "the engine is unreachable")))]
/// `GET /health` (no auth): 200 `ok`, or 503 `degraded` while the engine is unreachable.
pub async fn health(State(state): State<ApiState>) -> Response {
    let snapshot = state.health().snapshot();
    let status = if snapshot.reachable {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = HealthBody {
        status: if snapshot.reachable { "ok" } else { "degraded" },
        container_count: snapshot.container_count,
        uptime: state.started().elapsed().as_secs(),
        engine: EngineBody {
            reachable: snapshot.reachable,
            version: snapshot.version,
        },
        pool: PoolBody {
            ready: snapshot.pool_ready,
            target: snapshot.pool_target,
        },
    };
    (status, axum::Json(body)).into_response()
}
