//! Provisioning: a git repository turned into a running dev server.
//!
//! - [`GitRepoCache`] keeps bare mirrors on the host (`RepoCache`): the first request clones,
//!   later ones fetch, concurrent ones share one fetch; credentials reach git only through a
//!   callback; a request's explicit remote gets a mirror of its own.
//! - [`Provisioner`] sets a repository up inside a running container, in phases — cloning
//!   (the tree, or only the delta from the repo's main image), installing (the lockfile's
//!   dependencies linked from the repo's read-only dependency store, installed there first
//!   by an installer container when the lockfile is new), starting (the dev server, until its port
//!   accepts) — and commits the repo's main image after a setup of its default branch.
//!   A failed step is a [`SetupError`] that keeps the kind of what failed.
//! - [`Environments`] is the life of an environment: recorded, a container claimed from the
//!   pool, set up, used (exec, logs), destroyed, and recovered after a crash.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use slipway_core::{prelude::*, ContainerSpec, InstanceId};
//! use slipway_provision::{GitRepoCache, ProvisionConfig, Provisioner, SetupRequest};
//! use slipway_runtime::{DockerRuntime, Endpoint};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = Arc::new(DockerRuntime::builder(Endpoint::local()).bootstrap().await?);
//! let cache = Arc::new(GitRepoCache::new(".slipway/repo-cache"));
//! let provisioner = Provisioner::new(runtime.clone(), cache, InstanceId::new("me"), ProvisionConfig::default())?;
//! let repo = "octo-org/hello-web".parse()?;
//! let spec = provisioner.container_spec(Some(&repo), "node:24-slim".parse()?, 512 << 20)?;
//! provisioner.ensure_dependency_volume(&repo).await?;
//! let container = slipway_core::run_container(runtime.as_ref(), &spec).await?;
//! let outcome = provisioner.setup(&container, &SetupRequest::new(repo), None).await?;
//! println!("{} at {} is ready", outcome.branch, outcome.commit);
//! # Ok(()) }
//! ```

mod environments;
mod error;
mod private_dir;
mod provisioner;
mod repo_cache;

pub use environments::{
    EnvironmentEvent, EnvironmentEvents, EnvironmentSettings, Environments, NewEnvironment,
    RecoveryReport, DEFAULT_BASE_IMAGE, READY_LABEL,
};
pub use error::GitError;
pub use provisioner::{
    command_for, lockfile_hash, AppStorage, EnvValue, EventSink, Phase, ProvisionConfig,
    Provisioner, PrunedDependencies, SetupError, SetupEvent, SetupOutcome, SetupRequest,
    BASE_IMAGE_LABEL, COMMIT_LABEL, DEPENDENCY_STORE_LABEL, LOCKFILES, LOCKFILE_LABEL, MARKER_FILE,
};
pub use repo_cache::{
    validate_remote_url, GitRepoCache, StopReason, DEFAULT_FETCH_TIMEOUT, DEFAULT_MAX_FETCH_BYTES,
    DEFAULT_URL_TEMPLATE,
};
