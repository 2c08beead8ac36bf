//! The [`Sidecar`] trait: a helper container started next to a run.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

use crate::container::ContainerSummary;
use crate::ids::{ContainerId, NetworkId, RunId};
use crate::Result;

/// A started sidecar and what the main container needs to use it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SidecarHandle {
    /// The run it belongs to.
    pub run_id: RunId,
    /// The sidecar container.
    pub container_id: ContainerId,
    /// The network it serves on.
    pub network_id: NetworkId,
    /// Environment for the main container, e.g. `BUILDKIT_HOST`.
    pub env: BTreeMap<String, String>,
}

/// A helper container for a run (BuildKit for `docker:dind`).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Sidecar: Send + Sync {
    /// Starts the sidecar for `run` on `network`.
    async fn start(&self, run: &RunId, network: &NetworkId) -> Result<SidecarHandle>;
    /// Waits until the sidecar serves, not merely runs.
    async fn wait_healthy(&self, handle: &SidecarHandle, timeout: Duration) -> Result<()>;
    /// Stops and removes the sidecar; stopping a gone one is not an error.
    async fn stop(&self, handle: &SidecarHandle) -> Result<()>;
    /// Sidecars whose run is not among `live`.
    async fn orphans(&self, live: &[RunId]) -> Result<Vec<ContainerSummary>>;
}
