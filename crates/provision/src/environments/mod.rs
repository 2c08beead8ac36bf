//! [`Environments`]: the life of a development environment — recorded, a container claimed
//! from the pool, set up from a repository, used (exec, logs), destroyed — shaped so that a
//! CLI verb and an API handler are each one call.

mod ready;
mod recover;
mod setup;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use futures_util::stream::BoxStream;
use slipway_core::prelude::*;
use slipway_core::{
    ContainerId, ContainerName, ContainerSpec, EnvironmentRecord, EnvironmentStatus, Error,
    ExecOutcome, ExecRequest, GitCredentials, ImageRef, LogLine, LogOptions, Pool, PoolConfig,
    PoolKey, PortBinding, RemoveOptions, RepoSlug, Result, Timestamp, DEFAULT_POOL_MEMORY_BYTES,
};

use crate::provisioner::Provisioner;

pub use ready::READY_LABEL;
pub use recover::RecoveryReport;
pub use setup::{EnvironmentEvent, EnvironmentEvents};

/// What environments are made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentSettings {
    /// The image for repos without a main image yet.
    pub base_image: ImageRef,
    /// Each environment's memory limit.
    pub memory_bytes: u64,
    /// Warm containers to keep per repo (of its main image, or of the base image).
    pub warm_per_repo: usize,
    /// Warm containers of the base image to keep for environments made without a repo (a
    /// server's creates are served from these).
    pub warm_base: usize,
    /// Credentials for fetches whose request brings none.
    pub credentials: Option<GitCredentials>,
    /// Repos kept with ready environments: their default branch set up from the main image,
    /// the dev server running, handed over by `up` in a fetch's time.
    pub ready_repos: Vec<RepoSlug>,
    /// Also keep ready environments for this many of the most recently set-up repos.
    pub ready_recent: usize,
    /// Ready environments per such repo.
    pub ready_per_repo: usize,
}

impl Default for EnvironmentSettings {
    /// `node:24-slim`, 512 MiB, no warm containers per repo or of the base image, no
    /// credentials, no ready environments (one per repo once repos are named).
    fn default() -> Self {
        Self {
            base_image: DEFAULT_BASE_IMAGE
                .parse()
                .expect("the default base image reference is valid"),
            memory_bytes: DEFAULT_POOL_MEMORY_BYTES,
            warm_per_repo: 0,
            warm_base: 0,
            credentials: None,
            ready_repos: Vec::new(),
            ready_recent: 0,
            ready_per_repo: 1,
        }
    }
}

/// How long a stopping environment's processes get before they are killed.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// The image environments start from until a repo has its main image.
pub const DEFAULT_BASE_IMAGE: &str = "node:24-slim";

/// A new environment: what [`Environments::create`] claims a container for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewEnvironment {
    /// A human-readable name (default: the repo, dashed, or the id).
    pub name: Option<String>,
    /// The repository it will serve: picks the repo's main image and dependency store.
    pub repo: Option<RepoSlug>,
    /// Another image than the repo's main image or the base image (served cold unless a
    /// pool of it is configured).
    pub image: Option<ImageRef>,
    /// Another memory limit than the settings'.
    pub memory_bytes: Option<u64>,
    /// Container ports to publish instead of the dev server's alone.
    pub ports: Vec<u16>,
    /// Take a fresh container even when a warm one matches.
    pub cold: bool,
    /// A named dependency store of this state's to mount instead of the repo's.
    pub volume: Option<ContainerName>,
    /// Metadata kept with the record.
    pub labels: std::collections::BTreeMap<String, String>,
    /// The creator's idempotency key, kept with the record.
    pub idempotency_key: Option<String>,
    /// Stop it after this many idle minutes (the caller decides what idle means).
    pub auto_stop_minutes: Option<u32>,
}

/// Creates, sets up, runs commands in and destroys environments.
pub struct Environments {
    runtime: Arc<dyn Runtime>,
    pool: Arc<dyn Pool>,
    store: Arc<dyn Store>,
    provisioner: Arc<Provisioner>,
    settings: EnvironmentSettings,
    /// Environments with a setup under way in this process (one at a time each).
    busy: Mutex<HashSet<String>>,
    /// Pools whose image and network were checked by this process: later creates of them
    /// are a claim and two record writes, no engine round trip.
    checked: Mutex<HashSet<PoolKey>>,
    /// One fill of ready environments at a time.
    filling: tokio::sync::Mutex<()>,
    /// One hand-over of a ready environment at a time (two requests never get the same).
    taking: tokio::sync::Mutex<()>,
    /// Wakes the keeper of ready environments when one was taken.
    ready_taken: tokio::sync::Notify,
    /// Ready environments taken by a create, whose first setup may find them current: the
    /// commit each runs, by id.
    taken: Mutex<std::collections::HashMap<String, String>>,
    /// Repos this process set up, the most recent first (for `ready_recent`).
    recent: Mutex<std::collections::VecDeque<RepoSlug>>,
}

impl Environments {
    /// Environments from `pool` containers, set up by `provisioner`, recorded in `store`.
    pub fn new(
        runtime: Arc<dyn Runtime>,
        pool: Arc<dyn Pool>,
        store: Arc<dyn Store>,
        provisioner: Arc<Provisioner>,
        settings: EnvironmentSettings,
    ) -> Self {
        Self {
            runtime,
            pool,
            store,
            provisioner,
            settings,
            busy: Mutex::new(HashSet::new()),
            checked: Mutex::new(HashSet::new()),
            filling: tokio::sync::Mutex::new(()),
            taking: tokio::sync::Mutex::new(()),
            ready_taken: tokio::sync::Notify::new(),
            taken: Mutex::new(std::collections::HashMap::new()),
            recent: Mutex::new(std::collections::VecDeque::new()),
        }
    }

    /// The pool environments made without a repo are served from, when the settings keep
    /// warm containers of the base image: a server registers it with its pool at start so
    /// the containers are adopted across restarts and warm before the first request.
    pub fn base_pool(
        provisioner: &Provisioner,
        settings: &EnvironmentSettings,
    ) -> Result<Option<PoolConfig>> {
        if settings.warm_base == 0 {
            return Ok(None);
        }
        let spec =
            provisioner.container_spec(None, settings.base_image.clone(), settings.memory_bytes)?;
        Ok(Some(
            PoolConfig::new(spec)
                .with_target_size(settings.warm_base)
                .with_min_size(1),
        ))
    }

    fn base_spec(&self) -> Result<ContainerSpec> {
        self.provisioner.container_spec(
            None,
            self.settings.base_image.clone(),
            self.settings.memory_bytes,
        )
    }

    /// Registers `spec`'s pool; the first time in this process, checks that its image
    /// exists and its network is there.
    async fn pool_key(&self, spec: &ContainerSpec, warm: usize) -> Result<PoolKey> {
        let config = PoolConfig::new(spec.clone())
            .with_target_size(warm)
            .with_min_size(warm.min(1));
        let key = config.key();
        let known = self
            .checked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key);
        if !known {
            if !self.runtime.image_exists(&spec.image).await? {
                return Err(Error::not_found(format!(
                    "image `{}` (build or load it, or configure another base image)",
                    spec.image
                )));
            }
            self.provisioner.ensure_environment_network().await?;
        }
        let key = self.pool.ensure_pool(config).await?;
        self.checked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone());
        Ok(key)
    }

    /// The settings.
    pub fn settings(&self) -> &EnvironmentSettings {
        &self.settings
    }

    /// The provisioner setups run through.
    pub fn provisioner(&self) -> &Provisioner {
        &self.provisioner
    }

    /// The dev server's URL on this host, once it has a port.
    pub fn url(record: &EnvironmentRecord) -> Option<String> {
        record
            .host_port
            .map(|port| format!("http://127.0.0.1:{port}"))
    }

    /// A ready environment of the repo when there is one and `new` asks for nothing it
    /// lacks (see [`Environments::fill_ready`]); else records a new environment, then claims
    /// its container: the record exists before the claim (a crash between the two leaves a
    /// record for recovery, not a lost container), and a failed claim removes it again. The
    /// image is checked before anything happens.
    pub async fn create(&self, new: NewEnvironment) -> Result<EnvironmentRecord> {
        if let Some(record) = self.take_ready(&new).await? {
            return Ok(record);
        }
        let memory = new.memory_bytes.unwrap_or(self.settings.memory_bytes);
        let (mut spec, warm) = match (&new.repo, &new.image) {
            (Some(repo), None) => {
                let image = self
                    .provisioner
                    .image_for(repo, &self.settings.base_image)
                    .await?;
                self.provisioner.ensure_dependency_volume(repo).await?;
                let spec = self.provisioner.container_spec(Some(repo), image, memory)?;
                (spec, self.settings.warm_per_repo)
            }
            (repo, image) => {
                let image = image.clone().unwrap_or(self.settings.base_image.clone());
                if let Some(repo) = repo {
                    self.provisioner.ensure_dependency_volume(repo).await?;
                }
                let spec = self
                    .provisioner
                    .container_spec(repo.as_ref(), image, memory)?;
                let warm = if repo.is_none() && spec == self.base_spec()? {
                    self.settings.warm_base
                } else {
                    0
                };
                (spec, warm)
            }
        };
        if !new.ports.is_empty() {
            spec.ports = new
                .ports
                .iter()
                .map(|port| PortBinding::loopback(*port, None))
                .collect();
        }
        if let Some(volume) = &new.volume {
            self.provisioner.ensure_named_volume(volume).await?;
            spec = self.provisioner.with_store(spec, volume.as_str());
        }
        let custom = !new.ports.is_empty() || new.volume.is_some();
        let warm = if custom { 0 } else { warm };
        let key = self.pool_key(&spec, warm).await?;

        let id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        let now = Timestamp::now();
        let mut record = EnvironmentRecord {
            name: new
                .name
                .clone()
                .or_else(|| new.repo.as_ref().map(RepoSlug::dashed))
                .unwrap_or_else(|| id.clone()),
            id,
            container_id: None,
            image: spec.image.clone(),
            pool_key: Some(key.to_string()),
            repo: new.repo.clone(),
            branch: None,
            host_port: None,
            memory_bytes: spec.resources.memory_bytes.unwrap_or_default(),
            status: EnvironmentStatus::Creating,
            error: None,
            created_at: now,
            updated_at: now,
            ports: Vec::new(),
            labels: new.labels.clone(),
            phases: Vec::new(),
            idempotency_key: new.idempotency_key.clone(),
            from_pool: false,
            auto_stop_minutes: new.auto_stop_minutes,
        };
        self.store.put_environment(&record).await?;
        let claimed = if new.cold {
            self.pool.claim_fresh(&key, &record.id).await
        } else {
            self.pool.claim(&key, &record.id).await
        };
        let lease = match claimed {
            Ok(lease) => lease,
            Err(error) => {
                self.forget(&record.id).await;
                return Err(error);
            }
        };
        record.container_id = Some(lease.container_id.clone());
        record.host_port = lease
            .host_port(self.provisioner.config().port)
            .or_else(|| lease.ports.first().map(|p| p.host_port));
        record.ports = lease.ports.clone();
        record.from_pool = lease.warm;
        record.memory_bytes = lease.memory_bytes;
        record.status = EnvironmentStatus::Created;
        record.updated_at = Timestamp::now();
        if let Err(error) = self.store.put_environment(&record).await {
            // Unrecorded, the container would be lost to `destroy`: give it back now.
            if let Err(release) = self.pool.release(&lease).await {
                tracing::warn!(container = %lease.container_id, error = %release, "failed to release an unrecorded claim");
            }
            self.forget(&record.id).await;
            return Err(error);
        }
        Ok(record)
    }

    /// One environment.
    pub async fn get(&self, id: &str) -> Result<EnvironmentRecord> {
        self.store
            .environment(id)
            .await?
            .ok_or_else(|| Error::not_found(format!("environment `{id}`")))
    }

    /// Every environment, oldest first (ready environments nobody took yet are not listed).
    pub async fn list(&self) -> Result<Vec<EnvironmentRecord>> {
        let mut records = self.store.environments().await?;
        records.retain(|record| !ready::is_ready(record));
        Ok(records)
    }

    /// The container of an environment.
    pub async fn container(&self, id: &str) -> Result<ContainerId> {
        self.get(id)
            .await?
            .container_id
            .ok_or_else(|| Error::not_found(format!("the container of environment `{id}`")))
    }

    /// Runs a command in an environment, in the app directory (`/` before the first setup)
    /// unless the request says otherwise; a timed-out command is killed with everything it
    /// started. A stopped environment is started first.
    pub async fn exec(&self, id: &str, mut request: ExecRequest) -> Result<ExecOutcome> {
        let record = self.wake(id).await?;
        let container = self.container(id).await?;
        if request.working_dir.is_none() {
            // The app directory exists once a setup copied a tree in.
            let set_up = record.branch.is_some();
            request.working_dir = Some(if set_up {
                self.provisioner.config().app_dir.clone()
            } else {
                "/".to_owned()
            });
        }
        self.runtime.exec(&container, &request).await
    }

    /// Stops an environment's container (it keeps its port and memory; [`Self::wake`]
    /// starts it again).
    pub async fn stop(&self, id: &str) -> Result<EnvironmentRecord> {
        let mut record = self.get(id).await?;
        let container = self.container(id).await?;
        self.runtime.stop_container(&container, STOP_GRACE).await?;
        record.status = EnvironmentStatus::Stopped;
        record.updated_at = Timestamp::now();
        self.store.put_environment(&record).await?;
        Ok(record)
    }

    /// Starts a stopped environment's container again; its dev server needs a new setup.
    /// Anything else is left as it is.
    pub async fn wake(&self, id: &str) -> Result<EnvironmentRecord> {
        let mut record = self.get(id).await?;
        if record.status != EnvironmentStatus::Stopped {
            return Ok(record);
        }
        let container = self.container(id).await?;
        self.runtime.start_container(&container).await?;
        record.status = EnvironmentStatus::Created;
        record.updated_at = Timestamp::now();
        self.store.put_environment(&record).await?;
        Ok(record)
    }

    /// An environment's output: the dev server's, as its container logs it.
    pub async fn logs(
        &self,
        id: &str,
        options: &LogOptions,
    ) -> Result<BoxStream<'static, Result<LogLine>>> {
        let container = self.container(id).await?;
        Ok(self.runtime.logs(&container, options))
    }

    /// Removes the environment's container and gives back its port and memory; the
    /// dependency store and main image stay for the repo's next environment (a main image
    /// a rebuild replaced while this environment ran from it goes with it).
    pub async fn destroy(&self, id: &str) -> Result<()> {
        let record = self.get(id).await?;
        if let Some(container) = &record.container_id {
            self.remove_container(container).await?;
        }
        self.store.delete_environment(id).await?;
        if let Some(repo) = &record.repo {
            if let Err(e) = self.provisioner.prune_replaced_main_images(repo).await {
                tracing::warn!(environment = %id, error = %e, "failed to remove replaced main images");
            }
        }
        Ok(())
    }

    /// Gives a claimed container back to the pool (which removes it), or removes an
    /// unclaimed one; a container already gone is fine.
    async fn remove_container(&self, container: &ContainerId) -> Result<()> {
        let claim = self
            .store
            .claims()
            .await?
            .into_iter()
            .find(|lease| &lease.container_id == container);
        match claim {
            Some(lease) => self.pool.release(&lease).await,
            None => match self
                .runtime
                .remove_container(container, RemoveOptions::force())
                .await
            {
                Ok(()) | Err(Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            },
        }
    }

    /// Deletes a record that never got (or lost) its container; failures are only logged,
    /// the caller is already returning an error of its own.
    async fn forget(&self, id: &str) {
        if let Err(e) = self.store.delete_environment(id).await {
            tracing::warn!(environment = %id, error = %e, "failed to delete an environment record");
        }
    }
}

#[cfg(test)]
mod tests;
