//! Runs with Docker inside.
//!
//! - [`RunManager`] creates runs in three modes: no Docker, `docker:host` (the engine's socket
//!   mounted, audited as a host-root run) and `docker:dind` (a private network
//!   `slipway-<run>`, a [`BuildkitSidecar`] reachable as `buildkit:1234` with a persistent
//!   state volume, a privileged main container with `BUILDKIT_HOST` set, audited as host-root
//!   as well). Each step is
//!   recorded in the store before it happens and undone if a later one fails.
//! - [`RunManager::recover`] settles runs a crash interrupted; [`RunManager::clean`]
//!   removes resources of runs that are not live.
//! - [`HealthProbe`]: BuildKit's gRPC `ListWorkers` (at least one worker), or a listening
//!   port for stand-in images, checked from inside the sidecar's network namespace through
//!   the engine (so remote engines work too).
//! - A failed creation is a [`RunError`]: the step that failed, the run it recorded, and the
//!   error underneath with its kind kept.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use slipway_buildkit::{BuildkitConfig, BuildkitSidecar, RunManager, RunSpec};
//! use slipway_core::{prelude::*, DockerMode};
//! use slipway_runtime::{DockerRuntime, Endpoint};
//! use slipway_store::SqliteStore;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = Arc::new(DockerRuntime::builder(Endpoint::local()).bootstrap().await?);
//! let store = Arc::new(SqliteStore::open_in_dir(std::path::Path::new(".slipway"))?);
//! let sidecar = BuildkitSidecar::new(runtime.clone(), store.instance_id(), BuildkitConfig::default())?;
//! let runs = RunManager::new(runtime.clone(), runtime, store.clone(), Arc::new(sidecar), store.instance_id());
//! let run = runs
//!     .create(RunSpec::new("docker:28-dind".parse()?).with_docker(DockerMode::Dind).with_command(["docker", "info"]))
//!     .await?;
//! println!("run {} exited with {}", run.id, runs.wait(&run.id).await?);
//! runs.stop(&run.id).await?;
//! # Ok(()) }
//! ```

mod health;
mod in_network;
mod run;
mod sidecar;

pub use health::{count_workers, HealthProbe};
pub use run::inner_daemon;
pub use run::{
    audit_kind, CleanOptions, CleanReport, FailAction, RunError, RunManager, RunSpec,
    SidecarOverrides, Step, DEFAULT_RUN_MEMORY_BYTES, DEFAULT_RUN_PIDS_LIMIT, DOCKER_SOCKET,
};
pub use sidecar::{
    sidecar_name, BuildkitConfig, BuildkitSidecar, BUILDKIT_ALIAS, BUILDKIT_PORT, CACHE_KEY_LABEL,
    DEFAULT_BUILDKIT_IMAGE, DEFAULT_RUN_IMAGE, DEFAULT_SIDECAR_MEMORY_BYTES,
    DEFAULT_SIDECAR_PIDS_LIMIT, MAX_STATE_SLOTS, STATE_SLOT_LABEL,
};
