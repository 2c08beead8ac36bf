//! Networks: the [`Network`] trait and its types.

use async_trait::async_trait;

use crate::ids::{ContainerId, NetworkId};
use crate::labels::{LabelFilter, Labels};
use crate::names::ContainerName;
use crate::Result;

/// A user-defined bridge network to create.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NetworkSpec {
    /// The network name (same rules as container names; must be unused).
    pub name: ContainerName,
    /// Labels.
    pub labels: Labels,
    /// Without a route to the outside world.
    pub internal: bool,
}

/// What the engine reports about a network.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NetworkInfo {
    /// The engine's id.
    pub id: NetworkId,
    /// The name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
    /// Containers attached to it (only filled in by inspect).
    pub containers: Vec<ContainerId>,
}

/// Networks on one engine.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Network: Send + Sync {
    /// Creates a network; [`Error::Conflict`](crate::Error::Conflict) if the name is taken.
    async fn create_network(&self, spec: &NetworkSpec) -> Result<NetworkId>;
    /// Removes a network; [`Error::NotFound`](crate::Error::NotFound) if it does not exist.
    async fn remove_network(&self, network: &NetworkId) -> Result<()>;
    /// Attaches a container, resolvable by the other members under `aliases`.
    async fn connect(
        &self,
        network: &NetworkId,
        container: &ContainerId,
        aliases: &[String],
    ) -> Result<()>;
    /// Detaches a container.
    async fn disconnect(&self, network: &NetworkId, container: &ContainerId) -> Result<()>;
    /// Details of one network, with the containers attached to it.
    async fn inspect_network(&self, network: &NetworkId) -> Result<NetworkInfo>;
    /// Networks whose labels match `filter`.
    async fn list_networks(&self, filter: &LabelFilter) -> Result<Vec<NetworkInfo>>;
}
