//! Networks: the [`Network`] trait and its types.

use async_trait::async_trait;

use crate::ids::{ContainerId, NetworkId};
use crate::labels::{LabelFilter, Labels};
use crate::names::ContainerName;
use crate::{Error, Result};

/// A user-defined bridge network to create.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NetworkSpec {
    /// The network name (same rules as container names; must be unused).
    pub name: ContainerName,
    /// Labels.
    pub labels: Labels,
    /// Without a route to the outside world.
    pub internal: bool,
    /// Containers on it can't reach each other (inter-container traffic off); each still
    /// reaches the outside world and its published ports still answer.
    pub isolated: bool,
}

/// Returns the id of the network `spec` names, creating it when missing. An existing one is
/// used only when it carries every `dev.slipway.*` label of the spec with the same value:
/// someone else's network of that name is refused, not joined.
pub async fn ensure_network(network: &dyn Network, spec: &NetworkSpec) -> Result<NetworkId> {
    let by_name = NetworkId::new(spec.name.as_str());
    for _ in 0..2 {
        match network.inspect_network(&by_name).await {
            Ok(info) => {
                let ours = spec.labels.iter().all(|(key, value)| {
                    !key.starts_with("dev.slipway.")
                        || key == crate::labels::SCHEMA
                        || info.labels.get(key) == Some(value)
                });
                if !ours {
                    return Err(Error::Conflict(format!(
                        "network `{}` exists but is not this state's; remove or rename it",
                        spec.name
                    )));
                }
                return Ok(info.id);
            }
            Err(Error::NotFound { .. }) => match network.create_network(spec).await {
                Ok(id) => return Ok(id),
                // Another process created it meanwhile: look again.
                Err(Error::Conflict(_)) => continue,
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
    Err(Error::Conflict(format!(
        "network `{}` keeps appearing and disappearing",
        spec.name
    )))
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
