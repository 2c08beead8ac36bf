//! Runs with Docker inside.
//!
//! - [`RunManager`] creates runs in three modes: no Docker, `docker:host` (the engine's socket
//!   mounted, audited as a host-root run) and `docker:dind` (a private network
//!   `slipway-<run>`, a [`BuildkitSidecar`] reachable as `buildkit:1234` with a persistent
//!   state volume, a privileged main container with `BUILDKIT_HOST` set). Each step is
//!   recorded in the store before it happens and undone if a later one fails.
//! - [`RunManager::recover`] settles runs a crash interrupted; [`RunManager::clean`]
//!   removes resources of runs that are not live.
//! - [`HealthProbe`]: BuildKit's gRPC `ListWorkers` (at least one worker), or a TCP connect
//!   for stand-in images.

mod health;
mod run;
mod sidecar;

pub use health::{count_workers, HealthProbe};
pub use run::{
    audit_kind, CleanOptions, CleanReport, FailAction, RunError, RunManager, RunSpec,
    SidecarOverrides, Step, DOCKER_SOCKET,
};
pub use sidecar::{
    sidecar_name, BuildkitConfig, BuildkitSidecar, BUILDKIT_ALIAS, BUILDKIT_PORT, CACHE_KEY_LABEL,
    DEFAULT_BUILDKIT_IMAGE, DEFAULT_RUN_IMAGE,
};
