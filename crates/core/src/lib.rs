//! The narrow core every slipway crate depends on: domain types, the traits that connect the
//! crates, the error kinds callers branch on, label names and validated names.
//!
//! This crate does no I/O. Adapters implement its traits:
//!
//! | trait | implemented by |
//! |---|---|
//! | [`Runtime`] = [`Engine`] + [`Containers`] + [`Exec`] + [`Files`] + [`Images`] + [`ImageBuild`] + [`Volumes`] + [`Network`] | `slipway-runtime` (`DockerRuntime`, over bollard) |
//! | [`Store`] = [`EnvironmentStore`] + [`RunStore`] + [`LeaseStore`] + [`ClaimStore`] + [`BudgetStore`] + [`LockStore`] + [`BuildStore`] + [`AuditLog`] | `slipway-store` (`SqliteStore`) |
//! | [`Pool`] | `slipway-pool` (`WarmPool`) |
//! | [`RepoCache`] | `slipway-provision` (`GitRepoCache`) |
//! | [`Sidecar`] | `slipway-buildkit` (`BuildkitSidecar`) |
//!
//! The wide traits are supertraits of narrow capability traits, so a backend that has only
//! some capabilities (a build-only remote engine) implements only those, and a caller asks
//! for only what it uses. The binaries hold them as `Arc<dyn Trait>`, so every subsystem can
//! be tested alone with the mocks of the `mock` feature and the fakes of `slipway-testkit`.
//!
//! # Example
//!
//! ```
//! use slipway_core::{labels::Scope, ContainerSpec, ImageRef, InstanceId, PortBinding, Role};
//!
//! let image: ImageRef = "slipway/me-app:main".parse()?;
//! let spec = ContainerSpec::new(image)
//!     .with_labels(Scope::new(Role::Env, &InstanceId::new("a1b2")).labels())
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
//! | `mock` | the [`mock`] module: mockall mocks of every trait |

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
mod pool_key;
mod ports;
mod records;
mod repo;
mod runtime;
mod secret;
mod sidecar;
mod spec;
mod store;
mod time;
mod volume;

#[cfg(feature = "mock")]
pub mod mock;

/// Every capability trait, for callers holding a concrete type (`use slipway_core::prelude::*`
/// makes `runtime.exec(..)` work on a `DockerRuntime` as it does on a `dyn Runtime`).
pub mod prelude {
    pub use crate::network::Network;
    pub use crate::runtime::{
        Containers, Engine, Exec, Files, ImageBuild, Images, Runtime, Volumes,
    };
    pub use crate::store::{
        AuditLog, BudgetStore, BuildStore, ClaimStore, EnvironmentStore, LeaseStore, LockStore,
        RunStore, Store,
    };
}

pub use audit::{AuditEntry, AuditEvent, AuditFilter, AuditProblem, AuditVerification};
pub use container::{
    ContainerInfo, ContainerState, ContainerSummary, NetworkEndpoint, PublishedPort, RemoveOptions,
};
pub use engine::{EngineInfo, EngineVersion, RuntimeCapabilities};
pub use error::{BoxError, Error, ErrorKind, Result, ResultExt};
pub use events::{ContainerAction, ContainerEvent};
pub use exec::{
    ExecOutcome, ExecRequest, OutputTap, PipeRequest, PipeSession, TtyInput, TtyRequest,
    TtySession, TtySize, DEFAULT_OUTPUT_LIMIT,
};
pub use ids::{ContainerId, ExecId, ImageId, InstanceId, NetworkId, RunId};
pub use image::{
    BuildOutcome, BuildRequest, CommitRequest, ImageInfo, PruneFilter, PruneReport,
    RegistryCredentials,
};
pub use labels::{LabelFilter, Labels, Role};
pub use logs::{LogLine, LogOptions, LogSource};
pub use names::{ContainerName, GitRef, ImageRef, RemoteUrl, RepoSlug};
pub use network::{ensure_network, Network, NetworkInfo, NetworkSpec};
pub use pool::{Lease, Pool, PoolConfig, PoolReport, PoolStatus, DEFAULT_POOL_MEMORY_BYTES};
pub use pool_key::PoolKey;
pub use ports::{PortLease, PortLeaseRequest, PortRange};
pub use records::{
    BuildRecord, BuildStatus, DockerMode, EnvironmentRecord, EnvironmentStatus, PhaseTiming,
    RunRecord, RunState,
};
pub use repo::{CommitId, GitCredentials, MirrorInfo, RepoCache, RepoSource, TreeDiff};
pub use runtime::{
    run_container, Containers, Engine, Exec, Files, ImageBuild, Images, Runtime, Volumes,
};
pub use secret::{Redactor, Secret, MIN_REDACTABLE_LEN, REDACTED};
pub use sidecar::{Sidecar, SidecarHandle};
pub use spec::{
    validate_env_key, CapabilityProfile, ContainerSpec, LogLimits, Mount, NetworkAttachment,
    PortBinding, PrivilegeProfile, Resources, DEFAULT_PIDS_LIMIT, IDLE_COMMAND, MIN_MEMORY_BYTES,
};
pub use store::{
    budget_exhausted, AuditLog, BudgetStore, BuildStore, ClaimStore, EnvironmentStore, HeldLock,
    LeaseStore, LockStore, MemoryReservation, RunStore, Store,
};
pub use time::Timestamp;
pub use volume::{VolumeInfo, VolumeSpec};
