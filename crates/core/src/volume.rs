//! Named volumes.

use crate::labels::Labels;
use crate::names::ContainerName;
use crate::time::Timestamp;

/// A named volume to create if missing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VolumeSpec {
    /// The volume name (same rules as container names).
    pub name: ContainerName,
    /// Labels; an existing volume must carry slipway's `managed` label to be reused.
    pub labels: Labels,
}

/// What the engine reports about a volume.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VolumeInfo {
    /// The volume name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
    /// When it was created, if the engine says.
    pub created: Option<Timestamp>,
}
