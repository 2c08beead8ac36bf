//! What the engine reports about containers.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::ids::{ContainerId, ImageId};
use crate::labels::Labels;
use crate::time::Timestamp;

/// The lifecycle state of a container as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerState {
    /// Created, never started.
    Created,
    /// Running.
    Running,
    /// Paused.
    Paused,
    /// Being restarted by its restart policy.
    Restarting,
    /// Being removed.
    Removing,
    /// Exited.
    Exited,
    /// Dead (could not be stopped or removed cleanly).
    Dead,
    /// A state this version of slipway does not know.
    Unknown,
}

impl ContainerState {
    /// Parses the engine's state string (`running`, `exited`, …).
    pub fn from_engine(state: &str) -> Self {
        match state {
            "created" => Self::Created,
            "running" => Self::Running,
            "paused" => Self::Paused,
            "restarting" => Self::Restarting,
            "removing" => Self::Removing,
            "exited" => Self::Exited,
            "dead" => Self::Dead,
            _ => Self::Unknown,
        }
    }

    /// Whether the container's process is running (not paused).
    pub fn is_running(self) -> bool {
        matches!(self, Self::Running)
    }

    /// Whether the container's process exists: running, paused, or being restarted.
    pub fn is_alive(self) -> bool {
        matches!(self, Self::Running | Self::Paused | Self::Restarting)
    }
}

/// A container port published on the host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PublishedPort {
    /// The port inside the container.
    pub container_port: u16,
    /// The host address it is bound to.
    pub host_ip: IpAddr,
    /// The host port.
    pub host_port: u16,
}

/// A container's attachment to a network.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NetworkEndpoint {
    /// The container's address on the network, if it has one.
    pub ip_address: Option<IpAddr>,
    /// Names other containers on the network resolve to this one.
    pub aliases: Vec<String>,
}

/// Full details of one container (`inspect`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContainerInfo {
    /// The engine's id.
    pub id: ContainerId,
    /// The name, without the engine's leading `/`.
    pub name: String,
    /// The image as given at creation.
    pub image: String,
    /// The id of the image the container runs.
    pub image_id: ImageId,
    /// Labels.
    pub labels: Labels,
    /// Lifecycle state.
    pub state: ContainerState,
    /// The exit code of the last run, when it has exited.
    pub exit_code: Option<i64>,
    /// Whether the kernel's OOM killer ended the last run.
    pub oom_killed: bool,
    /// When the container last started.
    pub started_at: Option<Timestamp>,
    /// Published ports.
    pub ports: Vec<PublishedPort>,
    /// Networks by name.
    pub networks: BTreeMap<String, NetworkEndpoint>,
    /// The memory limit in bytes, if one is set.
    pub memory_limit_bytes: Option<u64>,
}

impl ContainerInfo {
    /// The host port `container_port` is published on, if any.
    pub fn host_port(&self, container_port: u16) -> Option<u16> {
        self.ports
            .iter()
            .find(|p| p.container_port == container_port)
            .map(|p| p.host_port)
    }
}

/// One entry of a container listing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContainerSummary {
    /// The engine's id.
    pub id: ContainerId,
    /// Names, without the engine's leading `/`.
    pub names: Vec<String>,
    /// The image as given at creation.
    pub image: String,
    /// Labels.
    pub labels: Labels,
    /// Lifecycle state.
    pub state: ContainerState,
    /// When the container was created.
    pub created: Timestamp,
}

/// How to remove a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RemoveOptions {
    /// Kill it first if it is running.
    pub force: bool,
    /// Also remove its anonymous volumes.
    pub volumes: bool,
}

impl RemoveOptions {
    /// Kill if running, remove anonymous volumes: what cleanup wants.
    pub fn force() -> Self {
        Self {
            force: true,
            volumes: true,
        }
    }
}
