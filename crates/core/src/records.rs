//! Durable records kept by the [`Store`](crate::Store).

use crate::ids::{ContainerId, InstanceId, NetworkId, RunId};
use crate::names::{GitRef, ImageRef, RepoSlug};
use crate::time::Timestamp;
use crate::{Error, Result};

/// Where an environment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvironmentStatus {
    /// The container is being created or claimed.
    Creating,
    /// The repository is being copied in.
    Cloning,
    /// Dependencies are being installed.
    Installing,
    /// The dev server is starting.
    Starting,
    /// The dev server answers.
    Ready,
    /// A step failed; see the record's `error`.
    Error,
}

/// A development environment: a container handed to a user, and what it runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EnvironmentRecord {
    /// slipway's id for the environment.
    pub id: String,
    /// A human-readable name.
    pub name: String,
    /// The container it runs in.
    pub container_id: ContainerId,
    /// The image the container was created from.
    pub image: ImageRef,
    /// The pool key, when the container came from a pool.
    pub pool_key: Option<String>,
    /// The repository it serves.
    pub repo: Option<RepoSlug>,
    /// The branch it serves.
    pub branch: Option<GitRef>,
    /// The host port of its dev server.
    pub host_port: Option<u16>,
    /// Its memory limit in bytes.
    pub memory_bytes: u64,
    /// Where it is in its life.
    pub status: EnvironmentStatus,
    /// Why it failed, when `status` is `Error`.
    pub error: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// How a run gets Docker inside.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum DockerMode {
    /// No Docker access.
    #[default]
    None,
    /// The host engine's socket is mounted (host root).
    Host,
    /// The run has its own daemon and a BuildKit sidecar.
    Dind,
}

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Resources are being created (an intent record).
    Creating,
    /// The main container runs.
    Running,
    /// Resources are being removed.
    Stopping,
    /// Stopped and cleaned up.
    Stopped,
    /// A step failed or the run was lost; see the record's `error`.
    Failed,
}

impl RunState {
    /// Whether the run is over.
    pub fn is_terminal(self) -> bool {
        matches!(self, RunState::Stopped | RunState::Failed)
    }
}

/// A run with Docker inside; written *before* each resource is created so a crash can be
/// recovered from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunRecord {
    /// The run id.
    pub id: RunId,
    /// A human-readable name.
    pub name: Option<String>,
    /// How the run gets Docker.
    pub mode: DockerMode,
    /// The main container's image.
    pub image: ImageRef,
    /// Where the run is in its life.
    pub state: RunState,
    /// The run's private network (dind).
    pub network_id: Option<NetworkId>,
    /// The BuildKit sidecar (dind).
    pub sidecar_id: Option<ContainerId>,
    /// The main container.
    pub main_container_id: Option<ContainerId>,
    /// The BuildKit state volume (dind).
    pub state_volume: Option<String>,
    /// The slipway instance that owns the run.
    pub owner: InstanceId,
    /// When the owner last showed it is alive.
    pub heartbeat_at: Timestamp,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// Why it failed.
    pub error: Option<String>,
}

/// An inclusive range of host ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PortRange {
    /// The first port.
    pub first: u16,
    /// The last port.
    pub last: u16,
}

impl PortRange {
    /// slipway's default range for dev servers, 10000–20000.
    pub const DEFAULT: PortRange = PortRange {
        first: 10000,
        last: 20000,
    };

    /// A range `first..=last`; [`Error::Invalid`] when empty or starting at 0.
    pub fn new(first: u16, last: u16) -> Result<Self> {
        if first == 0 || first > last {
            return Err(Error::invalid(
                "port range",
                format!(
                    "{first}-{last} is empty or starts at 0; expected 1 <= first <= last <= 65535"
                ),
            ));
        }
        Ok(Self { first, last })
    }

    /// Whether `port` lies in the range.
    pub fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }

    /// How many ports it holds.
    pub fn len(&self) -> usize {
        usize::from(self.last - self.first) + 1
    }

    /// Always false: a range holds at least one port.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// A request for the lowest free host port of a range.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortLeaseRequest {
    /// Where to look.
    pub range: PortRange,
    /// Who holds the lease (an environment or container id).
    pub holder: String,
    /// Ports known to be busy outside slipway, to pass over.
    pub skip: Vec<u16>,
}

/// A host port leased to a holder; the store never leases a port twice.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortLease {
    /// The host port.
    pub port: u16,
    /// Who holds it.
    pub holder: String,
    /// Since when.
    pub leased_at: Timestamp,
}

/// How a build ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildStatus {
    /// Built (and pushed, if asked).
    Succeeded,
    /// Failed; see the record's `error`.
    Failed,
}

/// One image build, for build history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BuildRecord {
    /// slipway's id for the build.
    pub id: String,
    /// The service built.
    pub service: String,
    /// The image produced.
    pub image: ImageRef,
    /// The engine that built it.
    pub engine: String,
    /// When it started.
    pub started_at: Timestamp,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// How it ended.
    pub status: BuildStatus,
    /// Whether the image was pushed.
    pub pushed: bool,
    /// Why it failed.
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_must_be_non_empty_and_start_above_zero() {
        assert!(PortRange::new(0, 10).is_err());
        assert!(PortRange::new(20, 10).is_err());
        let range = PortRange::new(10000, 10002).unwrap();
        assert_eq!(range.len(), 3);
        assert!(range.contains(10002) && !range.contains(10003));
        assert_eq!(PortRange::DEFAULT.to_string(), "10000-20000");
    }
}
