//! Durable records kept by the [`Store`](crate::Store).

use crate::ids::{ContainerId, InstanceId, NetworkId, RunId};
use crate::names::{GitRef, ImageRef, RepoSlug};
use crate::time::Timestamp;

/// Where an environment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvironmentStatus {
    /// The container is being created or claimed.
    Creating,
    /// The container is claimed and idle: nothing is set up in it yet.
    Created,
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
    /// Stopped for being idle; the next setup or exec starts it again.
    Stopped,
}

impl EnvironmentStatus {
    /// The status as users see it: `creating`, `cloning`, …
    pub fn as_str(self) -> &'static str {
        match self {
            EnvironmentStatus::Creating => "creating",
            EnvironmentStatus::Created => "created",
            EnvironmentStatus::Cloning => "cloning",
            EnvironmentStatus::Installing => "installing",
            EnvironmentStatus::Starting => "starting",
            EnvironmentStatus::Ready => "ready",
            EnvironmentStatus::Error => "error",
            EnvironmentStatus::Stopped => "stopped",
        }
    }

    /// Whether a step is under way (the status will change without being asked to).
    pub fn is_in_progress(self) -> bool {
        matches!(
            self,
            EnvironmentStatus::Creating
                | EnvironmentStatus::Cloning
                | EnvironmentStatus::Installing
                | EnvironmentStatus::Starting
        )
    }
}

impl std::fmt::Display for EnvironmentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A development environment: a container handed to a user, and what it runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EnvironmentRecord {
    /// slipway's id for the environment.
    pub id: String,
    /// A human-readable name.
    pub name: String,
    /// The container it runs in; `None` until the claim is made (the record is written
    /// first, so a crash between the two leaves a record for recovery, not a lost container).
    pub container_id: Option<ContainerId>,
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
    /// Every published port of its container.
    #[serde(default)]
    pub ports: Vec<crate::PublishedPort>,
    /// Metadata its creator attached (never on the container: labels there would make every
    /// request a pool of its own).
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// The phases of its last setup, in order, with their timings.
    #[serde(default)]
    pub phases: Vec<PhaseTiming>,
    /// The key its creator sent to make a retried create return this environment.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Whether its container was warm in a pool when it was claimed.
    #[serde(default)]
    pub from_pool: bool,
    /// Stop it after this many minutes nobody used it (`None`: never).
    #[serde(default)]
    pub auto_stop_minutes: Option<u32>,
}

/// One phase of a setup: when it began and how long it took.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PhaseTiming {
    /// `cloning`, `installing`, `starting`, …
    pub phase: String,
    /// When it began.
    pub started_at: Timestamp,
    /// How long it took, once it ended.
    pub duration_ms: Option<u64>,
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

impl DockerMode {
    /// The mode as users write it: `none`, `host`, `dind`.
    pub fn as_str(self) -> &'static str {
        match self {
            DockerMode::None => "none",
            DockerMode::Host => "host",
            DockerMode::Dind => "dind",
        }
    }
}

impl std::fmt::Display for DockerMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
    /// The state as users see it: `creating`, `running`, …
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Creating => "creating",
            RunState::Running => "running",
            RunState::Stopping => "stopping",
            RunState::Stopped => "stopped",
            RunState::Failed => "failed",
        }
    }

    /// Whether the run is over.
    pub fn is_terminal(self) -> bool {
        matches!(self, RunState::Stopped | RunState::Failed)
    }
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
    fn user_facing_names_match_the_serialized_ones() {
        for status in [
            EnvironmentStatus::Creating,
            EnvironmentStatus::Created,
            EnvironmentStatus::Cloning,
            EnvironmentStatus::Installing,
            EnvironmentStatus::Starting,
            EnvironmentStatus::Ready,
            EnvironmentStatus::Error,
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        for state in [
            RunState::Creating,
            RunState::Running,
            RunState::Stopping,
            RunState::Stopped,
            RunState::Failed,
        ] {
            assert_eq!(serde_json::to_value(state).unwrap(), state.to_string());
        }
        for mode in [DockerMode::None, DockerMode::Host, DockerMode::Dind] {
            assert_eq!(serde_json::to_value(mode).unwrap(), mode.as_str());
        }
    }
}
