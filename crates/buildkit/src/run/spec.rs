//! [`RunSpec`]: what a run runs, and how it gets Docker.

use std::collections::BTreeMap;
use std::time::Duration;

use slipway_core::labels::{self, Scope};

use super::inner_daemon;
use crate::health::HealthProbe;
use slipway_core::{
    validate_env_key, ContainerName, ContainerSpec, DockerMode, Error, ImageRef, InstanceId,
    Labels, Mount, PrivilegeProfile, Result, Role, RunId,
};

/// Per-run changes to the configured BuildKit sidecar (`docker:dind` only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SidecarOverrides {
    /// Another sidecar image.
    pub image: Option<ImageRef>,
    /// Another health probe.
    pub probe: Option<HealthProbe>,
    /// Another privilege for the sidecar.
    pub privilege: Option<PrivilegeProfile>,
    /// Another health timeout.
    pub health_timeout: Option<Duration>,
    /// Replaces the sidecar's memory limit.
    pub memory_bytes: Option<u64>,
}

/// A run to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    /// The main container's image.
    pub image: ImageRef,
    /// Its command (the image's default when empty).
    pub command: Vec<String>,
    /// How it gets Docker.
    pub docker: DockerMode,
    /// Its environment (slipway adds `DOCKER_HOST` and, for dind, `BUILDKIT_HOST`).
    pub env: BTreeMap<String, String>,
    /// Extra mounts.
    pub mounts: Vec<Mount>,
    /// Its privilege; `None` means `privileged` for dind and the default otherwise.
    pub privilege: Option<PrivilegeProfile>,
    /// The main container's name (default `slipway-run-<id>`).
    pub name: Option<ContainerName>,
    /// Extra labels on the main container.
    pub labels: Labels,
    /// Changes to the configured sidecar for this run.
    pub sidecar: SidecarOverrides,
    /// The main container's memory limit in bytes.
    pub memory_bytes: u64,
    /// The most processes the main container may hold (a daemon inside runs its builds'
    /// processes under it too).
    pub pids_limit: u64,
    /// `docker:dind` only: slipway starts `dockerd` in the main container and runs the
    /// command once it answers (`true`, the default), or the image starts its own.
    pub inner_daemon: bool,
    /// `docker:dind` with slipway's daemon: images copied from the engine into the inner
    /// daemon before the command starts.
    pub load_images: Vec<ImageRef>,
    /// `docker:dind` with slipway's daemon: keep the inner daemon's storage (its images,
    /// build cache) under this key for the next run with it, one live run at a time; `None`:
    /// the run's own storage, removed with it.
    pub docker_cache: Option<String>,
}

/// A run's memory limit unless asked otherwise.
pub const DEFAULT_RUN_MEMORY_BYTES: u64 = 2 << 30;
/// A run's PIDs limit unless asked otherwise.
pub const DEFAULT_RUN_PIDS_LIMIT: u64 = 8192;

impl RunSpec {
    /// A run of `image` with no Docker access.
    pub fn new(image: ImageRef) -> Self {
        Self {
            image,
            command: Vec::new(),
            docker: DockerMode::None,
            env: BTreeMap::new(),
            mounts: Vec::new(),
            privilege: None,
            name: None,
            labels: Labels::new(),
            sidecar: SidecarOverrides::default(),
            memory_bytes: DEFAULT_RUN_MEMORY_BYTES,
            pids_limit: DEFAULT_RUN_PIDS_LIMIT,
            inner_daemon: true,
            load_images: Vec::new(),
            docker_cache: None,
        }
    }

    /// Keeps the inner daemon's storage under `key` across runs.
    pub fn with_docker_cache(mut self, key: impl Into<String>) -> Self {
        self.docker_cache = Some(key.into());
        self
    }

    /// Whether slipway starts the inner daemon (`false`: the image brings its own).
    pub fn with_inner_daemon(mut self, slipway_starts_it: bool) -> Self {
        self.inner_daemon = slipway_starts_it;
        self
    }

    /// Copies `image` from the engine into the inner daemon before the command starts.
    pub fn with_loaded_image(mut self, image: ImageRef) -> Self {
        self.load_images.push(image);
        self
    }

    /// Whether this run gets slipway's inner daemon.
    pub(crate) fn starts_inner_daemon(&self) -> bool {
        self.docker == DockerMode::Dind && self.inner_daemon
    }

    /// Sets the Docker mode.
    pub fn with_docker(mut self, docker: DockerMode) -> Self {
        self.docker = docker;
        self
    }

    /// Sets the command.
    pub fn with_command<I, S>(mut self, command: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.command = command.into_iter().map(Into::into).collect();
        self
    }

    /// Adds an environment variable.
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Sets the privilege profile.
    pub fn with_privilege(mut self, privilege: PrivilegeProfile) -> Self {
        self.privilege = Some(privilege);
        self
    }

    /// Names the main container.
    pub fn with_name(mut self, name: ContainerName) -> Self {
        self.name = Some(name);
        self
    }

    /// Sets the main container's memory limit.
    pub fn with_memory_limit(mut self, bytes: u64) -> Self {
        self.memory_bytes = bytes;
        self
    }

    /// Changes the configured sidecar for this run.
    pub fn with_sidecar(mut self, sidecar: SidecarOverrides) -> Self {
        self.sidecar = sidecar;
        self
    }

    /// Adds labels to the main container.
    pub fn with_labels(mut self, labels: Labels) -> Self {
        self.labels.extend(labels);
        self
    }

    /// Checks what can be checked before anything is created.
    pub fn validate(&self) -> Result<()> {
        for key in self.env.keys() {
            validate_env_key(key)?;
            if matches!(
                key.as_str(),
                "DOCKER_HOST"
                    | "BUILDKIT_HOST"
                    | "BUILDX_BUILDER"
                    | "SLIPWAY_DOCKER_DIND"
                    | inner_daemon::BUILDX_ENV
            ) && self.docker != DockerMode::None
            {
                return Err(Error::invalid(
                    "environment variable",
                    format!("{key} is set by slipway for docker:host and docker:dind runs"),
                ));
            }
        }
        if let Some(key) = &self.docker_cache {
            let valid = (1..=64).contains(&key.len())
                && key.starts_with(|c: char| c.is_ascii_alphanumeric())
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !valid {
                return Err(Error::invalid(
                    "docker cache key",
                    format!(
                        "`{}` must be 1-64 letters, digits, `_`, `.` or `-`, starting with a letter or digit",
                        key.escape_debug()
                    ),
                ));
            }
            if !self.starts_inner_daemon() {
                return Err(Error::invalid(
                    "docker cache key",
                    "keeps the storage of the daemon slipway starts in a docker:dind run; this run has none",
                ));
            }
        }
        if !self.load_images.is_empty() && !self.starts_inner_daemon() {
            return Err(Error::invalid(
                "loaded images",
                "images are loaded into the daemon slipway starts in a docker:dind run; this run has none",
            ));
        }
        if self.labels.keys().any(|k| k.starts_with("dev.slipway.")) {
            return Err(Error::invalid(
                "label",
                "labels under dev.slipway. are slipway's own",
            ));
        }
        Ok(())
    }

    /// The privilege the main container gets.
    pub fn effective_privilege(&self) -> PrivilegeProfile {
        self.privilege.clone().unwrap_or(match self.docker {
            DockerMode::Dind => PrivilegeProfile::Privileged,
            _ => PrivilegeProfile::Default,
        })
    }

    /// The main container, before the mode adds its mounts, env and network.
    pub(crate) fn container_spec(
        &self,
        run: &RunId,
        instance: &InstanceId,
        privilege: PrivilegeProfile,
    ) -> ContainerSpec {
        let name = self.name.clone().unwrap_or_else(|| {
            format!("slipway-run-{run}")
                .parse()
                .expect("run ids make valid names")
        });
        let mut spec = ContainerSpec::new(self.image.clone())
            .with_name(name)
            .with_labels(run_labels(run, instance, &self.labels))
            .with_privilege(privilege)
            .with_memory_limit(self.memory_bytes)
            .with_pids_limit(Some(self.pids_limit));
        if !self.command.is_empty() {
            spec.cmd = Some(self.command.clone());
        }
        spec.mounts.clone_from(&self.mounts);
        spec
    }
}

/// The main container and network of `run`.
pub(crate) fn run_scope(run: &RunId, instance: &InstanceId) -> Scope {
    Scope::new(Role::Run, instance).with(labels::RUN_ID, run.as_str())
}

/// Labels every container of a run carries.
pub(crate) fn run_labels(run: &RunId, instance: &InstanceId, extra: &Labels) -> Labels {
    let mut labels = extra.clone();
    labels.extend(run_scope(run, instance).labels());
    labels
}
#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RunSpec {
        RunSpec::new("busybox:1".parse().unwrap())
    }

    #[test]
    fn dind_defaults_to_privileged_and_others_to_the_default() {
        assert_eq!(
            spec().with_docker(DockerMode::Dind).effective_privilege(),
            PrivilegeProfile::Privileged
        );
        assert_eq!(
            spec().with_docker(DockerMode::Host).effective_privilege(),
            PrivilegeProfile::Default
        );
    }

    #[test]
    fn slipway_owned_env_and_labels_are_refused() {
        let cases = [
            spec()
                .with_docker(DockerMode::Dind)
                .with_env("BUILDKIT_HOST", "tcp://elsewhere:1"),
            spec().with_env("1BAD", "x"),
            spec().with_labels(Labels::from([(
                "dev.slipway.managed".into(),
                "true".into(),
            )])),
        ];
        for case in cases {
            assert_eq!(
                case.validate().unwrap_err().kind(),
                slipway_core::ErrorKind::Invalid
            );
        }
        spec()
            .with_env("DOCKER_HOST", "tcp://x:1")
            .validate()
            .unwrap();
    }
}
