//! [`RunManager`]: runs with Docker inside. `docker:host` mounts the engine's socket;
//! `docker:dind` gets a private network, a health-checked BuildKit sidecar on it and a
//! privileged main container. Every resource is announced in the store before it is
//! created, so [`RunManager::recover`] can finish what a crash interrupted.
mod cleanup;
mod create;
mod error;
mod failpoint;
mod follow;
pub mod inner_daemon;
mod manager;
mod spec;
mod teardown;

pub use cleanup::{CleanOptions, CleanReport};
pub use error::RunError;
pub use failpoint::{FailAction, Step};
pub use manager::RunManager;
pub use spec::{RunSpec, SidecarOverrides, DEFAULT_RUN_MEMORY_BYTES, DEFAULT_RUN_PIDS_LIMIT};

/// Audit event kinds written by runs.
pub mod audit_kind {
    /// A run was recorded (before anything is created).
    pub const RUN_CREATED: &str = "run_created";
    /// A run's private network was created.
    pub const DOCKER_NETWORK_CREATED: &str = "docker_network_created";
    /// The BuildKit sidecar container started.
    pub const BUILDKIT_SIDECAR_STARTED: &str = "buildkit_sidecar_started";
    /// The BuildKit sidecar passed its health probe.
    pub const BUILDKIT_SIDECAR_HEALTHY: &str = "buildkit_sidecar_healthy";
    /// The BuildKit sidecar was removed.
    pub const BUILDKIT_SIDECAR_STOPPED: &str = "buildkit_sidecar_stopped";
    /// A run was stopped and its resources removed.
    pub const RUN_STOPPED: &str = "run_stopped";
    /// A run failed (while being created, or found dead by recovery).
    pub const RUN_FAILED: &str = "run_failed";
    /// A resource of no live run was removed by `clean`.
    pub const ORPHAN_REMOVED: &str = "orphan_removed";
}

/// Where a host engine's socket is mounted and what `DOCKER_HOST` says inside runs.
pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";
