//! Provisioning: a git repository turned into a running dev server.

mod environments;
mod error;
mod provisioner;
mod repo_cache;

pub use environments::{
    EnvironmentEvent, EnvironmentEvents, EnvironmentSettings, Environments, NewEnvironment,
    RecoveryReport, DEFAULT_BASE_IMAGE,
};
pub use error::GitError;
pub use provisioner::{
    command_for, lockfile_hash, EnvValue, EventSink, Phase, ProvisionConfig, Provisioner,
    SetupError, SetupEvent, SetupOutcome, SetupRequest, COMMIT_LABEL, LOCKFILES, LOCKFILE_LABEL,
    MARKER_FILE,
};
pub use repo_cache::{validate_remote_url, GitRepoCache, DEFAULT_URL_TEMPLATE};
