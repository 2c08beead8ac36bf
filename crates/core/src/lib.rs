//! The narrow core every slipway crate depends on: domain types, the traits that connect the
//! crates, the error kinds callers branch on, label names and validated names.
//!
//! This crate does no I/O. Adapters implement its traits:
//!
//! | trait | implemented by |
//! |---|---|
//! | [`Runtime`], [`Network`] | `slipway-runtime` (`DockerRuntime`, over bollard) |
//! | [`Store`] | `slipway-store` (`SqliteStore`) |
//! | [`Pool`] | `slipway-pool` (`WarmPool`) |
//! | [`RepoCache`] | `slipway-provision` (`GitRepoCache`) |
//! | [`Sidecar`] | `slipway-buildkit` (`BuildkitSidecar`) |
//!
//! The binaries hold them as `Arc<dyn Trait>`, so every subsystem can be tested alone with
//! the mocks and fakes of the `mock` feature.
//!
//! # Example
//!
//! ```
//! use slipway_core::{labels, ContainerSpec, ImageRef, InstanceId, PortBinding, Role};
//!
//! let image: ImageRef = "slipway/me-app:main".parse()?;
//! let spec = ContainerSpec::new(image)
//!     .with_labels(labels::managed(Role::Env, &InstanceId::new("a1b2")))
//!     .with_port(PortBinding::loopback(3000, Some(10000)))
//!     .with_memory_limit(512 << 20);
//! spec.validate()?;
//! # Ok::<(), slipway_core::Error>(())
//! ```
//!
//! # Features
//!
//! | feature | enables |
//! |---|---|
//! | `mock` | the [`mock`] module: mockall mocks of every trait and an in-memory `FakeRuntime` |

mod audit;
mod container;
mod engine;
mod error;
mod events;
mod exec;
mod ids;
mod image;
pub mod labels;
mod logs;
mod names;
mod network;
mod pool;
mod records;
mod repo;
mod runtime;
mod sidecar;
mod spec;
mod store;
mod time;
mod volume;

#[cfg(feature = "mock")]
pub mod mock;

pub use audit::{AuditEntry, AuditEvent, AuditFilter, AuditProblem, AuditVerification};
pub use container::{
    ContainerInfo, ContainerState, ContainerSummary, NetworkEndpoint, PublishedPort, RemoveOptions,
};
pub use engine::{EngineInfo, EngineVersion, RuntimeCapabilities};
pub use error::{BoxError, Error, ErrorKind, Result};
pub use events::{ContainerAction, ContainerEvent};
pub use exec::{
    ExecOutcome, ExecRequest, TtyInput, TtyRequest, TtySession, TtySize, DEFAULT_OUTPUT_LIMIT,
};
pub use ids::{ContainerId, ExecId, ImageId, InstanceId, NetworkId, RunId};
pub use image::{
    BuildOutcome, BuildRequest, CommitRequest, ImageInfo, PruneFilter, PruneReport,
    RegistryCredentials,
};
pub use labels::{LabelFilter, Labels, Role};
pub use logs::{LogLine, LogOptions, LogSource};
pub use names::{ContainerName, GitRef, ImageRef, RepoSlug};
pub use network::{Network, NetworkInfo, NetworkSpec};
pub use pool::{Lease, Pool, PoolConfig, PoolKey, PoolStatus, DEFAULT_POOL_MEMORY_BYTES};
pub use records::{
    BuildRecord, BuildStatus, DockerMode, EnvironmentRecord, EnvironmentStatus, PortLease,
    PortLeaseRequest, PortRange, RunRecord, RunState,
};
pub use repo::{CommitId, GitCredentials, MirrorInfo, RepoCache, TreeDiff};
pub use runtime::{run_container, Runtime};
pub use sidecar::{Sidecar, SidecarHandle};
pub use spec::{
    validate_env_key, CapabilityProfile, ContainerSpec, Mount, NetworkAttachment, PortBinding,
    PrivilegeProfile, Resources, MIN_MEMORY_BYTES,
};
pub use store::Store;
pub use time::Timestamp;
pub use volume::{VolumeInfo, VolumeSpec};
