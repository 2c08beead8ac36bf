//! [`Provisioner`]: a repository at a branch, turned into a running dev server inside a
//! container, in phases (cloning → installing → starting → ready).

mod deps_prune;
mod install;
mod launch;
mod naming;
mod phases;
mod request;
mod scripts;
mod setup_error;

use std::sync::Arc;
use std::time::Duration;

use slipway_core::labels::{self, Scope};
use slipway_core::prelude::*;
use slipway_core::{
    ensure_network, CommitId, ContainerId, ContainerName, ContainerSpec, Error, GitCredentials,
    ImageRef, InstanceId, Labels, Mount, NetworkAttachment, NetworkSpec, PortBinding, PruneFilter,
    RepoCache, RepoSlug, RepoSource, Result, Role, Timestamp, VolumeInfo, VolumeSpec, IDLE_COMMAND,
};

pub use deps_prune::PrunedDependencies;
pub use install::{command_for, lockfile_hash, LOCKFILES};
pub use request::{EnvValue, EventSink, Phase, SetupEvent, SetupOutcome, SetupRequest};
pub use setup_error::SetupError;

/// What a repo's main image tag holds.
pub(crate) enum MainImage {
    /// An image this state committed for the repo.
    Ours(ImageRef),
    /// Something else: a user's image, or another state's.
    Foreign(ImageRef),
    /// Nothing.
    Absent,
}

/// Image label: the commit a main image holds.
pub const COMMIT_LABEL: &str = "dev.slipway.commit";
/// Image label: the image a main image was built on (its rebuilds start there again).
pub const BASE_IMAGE_LABEL: &str = "dev.slipway.base-image";
/// Image label: the lockfile fingerprint a main image was installed from.
pub const LOCKFILE_LABEL: &str = "dev.slipway.lockfile-hash";
/// The file in an environment's dependency directory recording which lockfile its
/// dependencies were installed from.
pub const MARKER_FILE: &str = ".slipway-lockfile";
/// Volume label: the volume is a repo's dependency store. On a container: the name of the
/// store it mounts (the installer of its setups mounts the same one, writable).
pub const DEPENDENCY_STORE_LABEL: &str = "dev.slipway.dependency-store";

/// Where an environment's app directory lives when its image doesn't hold the tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AppStorage {
    /// A tmpfs of up to half the environment's memory, counted against its limit and emptied
    /// when the container stops (the next setup copies the tree again). Unpacking a tree
    /// there costs what the copy costs, not what the disk charges for thousands of new files.
    #[default]
    Memory,
    /// A volume of the container's own, on disk, removed with it: for trees too big to keep
    /// in memory.
    Volume,
}

impl std::str::FromStr for AppStorage {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "memory" => Ok(AppStorage::Memory),
            "volume" => Ok(AppStorage::Volume),
            other => Err(Error::invalid(
                "app storage",
                format!("`{}` is not `memory` or `volume`", other.escape_debug()),
            )),
        }
    }
}

/// How setups are done. Binaries fill this from their configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionConfig {
    /// Where the tree goes in the container (default `/app`).
    pub app_dir: String,
    /// Where the app directory lives in containers whose image doesn't hold the tree.
    pub app_storage: AppStorage,
    /// The environment's own dependency directory (default `/app/node_modules`): links
    /// into the store's install for the lockfile, or an install of its own.
    pub deps_mount: String,
    /// Where a repo's dependency store is mounted, read-only (default
    /// `/opt/slipway/deps`): one complete install per lockfile fingerprint, made in an
    /// installer container, never written by an environment.
    pub deps_store: String,
    /// Name of a repo's dependency store volume (default `{owner}-{repo}-{hash}-deps`;
    /// `{hash}` keeps slugs that read alike apart).
    pub volume_template: String,
    /// Name of a repo's main image (default `slipway/{owner}-{repo}-{hash}:main`).
    pub image_template: String,
    /// Replaces the lockfile-detected install command for every repo.
    pub install_command: Option<String>,
    /// The dev-server command (default `npm run dev`).
    pub start_command: String,
    /// Runs `npm run NAME` and `npm start` as npm would — the script from `package.json`
    /// with `node_modules/.bin` on `PATH` and npm's lifecycle variables — without starting
    /// npm itself (default on; hooks or arguments always go through npm).
    pub direct_npm_scripts: bool,
    /// The container port the dev server listens on (default 3000).
    pub port: u16,
    /// How long an install may run (default 15 minutes).
    pub install_timeout: Duration,
    /// How long the dev server may take to listen (default 60 s).
    pub ready_timeout: Duration,
    /// Extra labels for the containers, volumes and images of environments.
    pub labels: Labels,
    /// Puts environments on a network of this state's where containers can't reach each
    /// other (default on): one environment can't call another's dev server.
    pub isolate: bool,
}

impl Default for ProvisionConfig {
    fn default() -> Self {
        Self {
            app_dir: "/app".into(),
            app_storage: AppStorage::default(),
            deps_mount: "/app/node_modules".into(),
            deps_store: "/opt/slipway/deps".into(),
            volume_template: "{owner}-{repo}-{hash}-deps".into(),
            image_template: "slipway/{owner}-{repo}-{hash}:main".into(),
            install_command: None,
            start_command: "npm run dev".into(),
            direct_npm_scripts: true,
            port: 3000,
            install_timeout: Duration::from_secs(15 * 60),
            ready_timeout: Duration::from_secs(60),
            labels: Labels::new(),
            isolate: true,
        }
    }
}

/// Runs setups inside containers, from a [`RepoCache`], on a [`Runtime`].
pub struct Provisioner {
    pub(crate) runtime: Arc<dyn Runtime>,
    pub(crate) cache: Arc<dyn RepoCache>,
    pub(crate) instance: InstanceId,
    pub(crate) config: ProvisionConfig,
}

impl Provisioner {
    /// A provisioner creating objects owned by `instance`.
    pub fn new(
        runtime: Arc<dyn Runtime>,
        cache: Arc<dyn RepoCache>,
        instance: InstanceId,
        config: ProvisionConfig,
    ) -> Result<Self> {
        for path in [&config.app_dir, &config.deps_mount, &config.deps_store] {
            if !path.starts_with('/') || path.contains("..") {
                return Err(Error::invalid(
                    "provision config",
                    format!("`{path}` must be an absolute path without `..`"),
                ));
            }
        }
        if config.start_command.trim().is_empty() {
            return Err(Error::invalid(
                "provision config",
                "the start command is empty",
            ));
        }
        Ok(Self {
            runtime,
            cache,
            instance,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ProvisionConfig {
        &self.config
    }

    pub(crate) fn labels(&self, role: Role, repo: &RepoSlug) -> Labels {
        let mut labels = self.config.labels.clone();
        labels.extend(
            Scope::new(role, &self.instance)
                .with(labels::REPO, repo.as_str())
                .labels(),
        );
        labels
    }

    /// The network environments join: this state's, inter-container traffic off.
    pub fn environment_network(&self) -> NetworkSpec {
        NetworkSpec {
            name: format!("slipway-envs-{}", self.instance)
                .parse()
                .expect("instance ids make valid network names"),
            labels: {
                let mut labels = self.config.labels.clone();
                labels.extend(Scope::new(Role::Env, &self.instance).labels());
                labels
            },
            internal: false,
            isolated: true,
        }
    }

    /// Creates the environments' network if it is missing (when isolation is on).
    pub async fn ensure_environment_network(&self) -> Result<()> {
        if self.config.isolate {
            ensure_network(self.runtime.as_ref(), &self.environment_network()).await?;
        }
        Ok(())
    }

    /// The dependency store of `repo`: one volume per repo holding one install per
    /// lockfile fingerprint.
    pub fn dependency_volume(&self, repo: &RepoSlug) -> Result<VolumeSpec> {
        let mut labels = self.labels(Role::Env, repo);
        labels.insert(DEPENDENCY_STORE_LABEL.to_owned(), "true".to_owned());
        Ok(VolumeSpec {
            name: naming::volume_name(&self.config.volume_template, repo)?,
            labels,
        })
    }

    /// Creates the dependency store on first use (every branch of the repo shares it).
    pub async fn ensure_dependency_volume(&self, repo: &RepoSlug) -> Result<VolumeInfo> {
        self.runtime
            .ensure_volume(&self.dependency_volume(repo)?)
            .await
    }

    /// A dependency store a caller named instead of the repo's: this state's, created on
    /// first use; one of the same name that isn't this state's own is refused.
    pub async fn ensure_named_volume(&self, name: &ContainerName) -> Result<VolumeInfo> {
        let mut labels = self.config.labels.clone();
        labels.extend(Scope::new(Role::Env, &self.instance).labels());
        labels.insert(DEPENDENCY_STORE_LABEL.to_owned(), "true".to_owned());
        self.runtime
            .ensure_volume(&VolumeSpec {
                name: name.clone(),
                labels,
            })
            .await
    }

    /// The reference of `repo`'s prebuilt main image.
    pub fn main_image(&self, repo: &RepoSlug) -> Result<ImageRef> {
        naming::main_image(&self.config.image_template, repo)
    }

    /// Whether `repo`'s main image tag exists and holds an image this state committed for
    /// that repo (managed, role `build`, this instance, the repo). A tag that a user or
    /// another state put there is neither started from nor overwritten.
    pub(crate) async fn main_image_state(&self, repo: &RepoSlug) -> Result<MainImage> {
        let main = self.main_image(repo)?;
        match self.runtime.inspect_image(&main).await {
            Ok(info) => {
                let ours = Scope::new(Role::Build, &self.instance)
                    .with(labels::REPO, repo.as_str())
                    .owns(&info.labels);
                Ok(if ours {
                    MainImage::Ours(main)
                } else {
                    MainImage::Foreign(main)
                })
            }
            Err(Error::NotFound { .. }) => Ok(MainImage::Absent),
            Err(e) => Err(e),
        }
    }

    /// Whether `repo` has a main image of this state's.
    pub async fn has_main_image(&self, repo: &RepoSlug) -> Result<bool> {
        Ok(matches!(
            self.main_image_state(repo).await?,
            MainImage::Ours(_)
        ))
    }

    /// Fetches `repo` from its configured remote and returns the commit its default branch
    /// is at (a fetch with nothing new is a few milliseconds).
    pub async fn default_head(
        &self,
        repo: &RepoSlug,
        credentials: Option<GitCredentials>,
    ) -> Result<CommitId> {
        let source = RepoSource::new(repo.clone());
        self.cache.ensure(&source, credentials).await?;
        let branch = self.cache.default_branch(&source).await?;
        self.cache.resolve(&source, &branch).await
    }

    /// Removes `repo`'s main images that a rebuild untagged and no container runs from any
    /// more (one still in use stays until its environment goes).
    pub async fn prune_replaced_main_images(&self, repo: &RepoSlug) -> Result<()> {
        let filter = PruneFilter {
            labels: Scope::new(Role::Build, &self.instance)
                .with(labels::REPO, repo.as_str())
                .filter(),
            older_than: None,
            untagged_only: true,
        };
        self.runtime.prune_images(&filter).await.map(|_| ())
    }

    /// The image an environment of `repo` starts from: its main image if there is one of
    /// this state's, else `base_image`.
    pub async fn image_for(&self, repo: &RepoSlug, base_image: &ImageRef) -> Result<ImageRef> {
        match self.main_image_state(repo).await? {
            MainImage::Ours(main) => return Ok(main),
            MainImage::Foreign(main) => {
                tracing::warn!(image = %main, "the main image tag holds an image slipway did not commit for this repo; starting from the base image");
            }
            MainImage::Absent => {}
        }
        if !self.runtime.image_exists(base_image).await? {
            return Err(Error::not_found(format!(
                "image `{base_image}` (build or load it, or configure another base image)"
            )));
        }
        Ok(base_image.clone())
    }

    /// The container an environment needs: `image`, idle until set up, the dev port
    /// published and, for a `repo`, its dependency store mounted read-only. The app directory is
    /// kept as [`ProvisionConfig::app_storage`] says, outside the storage driver's layer
    /// (where unpacking thousands of files is slowest) — except in the repo's main image,
    /// which holds the tree in its layers already.
    pub fn container_spec(
        &self,
        repo: Option<&RepoSlug>,
        image: ImageRef,
        memory_bytes: u64,
    ) -> Result<ContainerSpec> {
        let main_image = match repo {
            Some(repo) => Some(self.main_image(repo)?),
            None => None,
        };
        let app_in_image = main_image.as_ref() == Some(&image);
        let mut spec = ContainerSpec::new(image)
            .with_cmd(IDLE_COMMAND)
            .with_init(true)
            .with_port(PortBinding::loopback(self.config.port, None))
            .with_memory_limit(memory_bytes)
            .with_labels(self.config.labels.clone());
        if self.config.isolate {
            spec.network = Some(NetworkAttachment {
                network: self.environment_network().name.to_string(),
                aliases: Vec::new(),
            });
        }
        if !app_in_image {
            let target = self.config.app_dir.clone();
            spec = spec.with_mount(match self.config.app_storage {
                AppStorage::Memory => Mount::Tmpfs {
                    target,
                    size_bytes: (memory_bytes > 0).then_some(memory_bytes / 2),
                    // A tree's scripts run from it.
                    executable: true,
                },
                AppStorage::Volume => Mount::Scratch { target },
            });
        }
        if let Some(repo) = repo {
            let volume = self.dependency_volume(repo)?;
            spec = self.with_store(spec, volume.name.as_str());
            spec.labels
                .insert(labels::REPO.to_owned(), repo.to_string());
        }
        Ok(spec)
    }

    /// `spec` with the dependency store `volume` mounted read-only (instead of any other
    /// store) and named in its labels.
    pub fn with_store(&self, mut spec: ContainerSpec, volume: &str) -> ContainerSpec {
        let target = self.config.deps_store.clone();
        spec.mounts
            .retain(|mount| !matches!(mount, Mount::Volume { target: t, .. } if *t == target));
        spec.labels
            .insert(DEPENDENCY_STORE_LABEL.to_owned(), volume.to_owned());
        spec.with_mount(Mount::Volume {
            name: volume.to_owned(),
            target,
            read_only: true,
        })
    }

    /// Sets up `request` in `container` (which must run and have the dependency store
    /// mounted), reporting each phase to `events`. On failure an [`Phase::Error`] event
    /// carries the message and the first error is returned; the container is left as it is
    /// so its logs can be read.
    pub async fn setup(
        &self,
        container: &ContainerId,
        request: &SetupRequest,
        events: Option<&EventSink>,
    ) -> Result<SetupOutcome, SetupError> {
        request.validate().map_err(SetupError::Invalid)?;
        let mut run = phases::SetupRun::new(self, container, request, events);
        match run.execute().await {
            Ok(outcome) => Ok(outcome),
            Err(error) => {
                let error = run.redacted(error);
                run.emit(
                    Phase::Error,
                    false,
                    None,
                    Vec::new(),
                    Some(error.to_string()),
                );
                Err(error)
            }
        }
    }
}

/// Sends an event (a gone receiver is fine).
pub(crate) fn send(events: Option<&EventSink>, event: SetupEvent) {
    if let Some(sink) = events {
        let _ = sink.send(event);
    }
}

/// An event now.
pub(crate) fn event(
    phase: Phase,
    started: bool,
    duration: Option<Duration>,
    log: Vec<String>,
    message: Option<String>,
) -> SetupEvent {
    SetupEvent {
        phase,
        started,
        duration_ms: duration.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        log,
        message,
        at: Timestamp::now(),
    }
}

#[cfg(test)]
pub(crate) mod tests;
