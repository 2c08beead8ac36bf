//! What the engine reports happening to containers, for watchers such as the pool's health
//! check.

use crate::ids::ContainerId;
use crate::labels::Labels;
use crate::time::Timestamp;

/// A lifecycle change of a container.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerAction {
    /// It started.
    Start,
    /// Its main process ended (any reason).
    Die,
    /// The kernel's OOM killer hit it.
    Oom,
    /// It was removed.
    Destroy,
    /// Anything else, by the engine's name.
    Other(String),
}

impl ContainerAction {
    /// Parses the engine's action name (`die`, `oom`, `destroy`, `start`, …).
    pub fn from_engine(action: &str) -> Self {
        match action {
            "start" => Self::Start,
            "die" => Self::Die,
            "oom" => Self::Oom,
            "destroy" => Self::Destroy,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Whether the container is no longer running (or no longer exists) after this.
    pub fn ends_it(&self) -> bool {
        matches!(self, Self::Die | Self::Oom | Self::Destroy)
    }
}

/// One event about one container.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContainerEvent {
    /// The container.
    pub id: ContainerId,
    /// What happened.
    pub action: ContainerAction,
    /// Its labels (as the engine attaches them to events).
    pub labels: Labels,
    /// The exit code, for `die`.
    pub exit_code: Option<i64>,
    /// When it happened.
    pub at: Timestamp,
}
