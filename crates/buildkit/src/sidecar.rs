//! [`BuildkitSidecar`]: core's [`Sidecar`] as a BuildKit daemon next to a `docker:dind` run,
//! reachable as `buildkit:1234` on the run's network, with a persistent state volume.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::StreamExt;
use slipway_core::labels::Scope;
use slipway_core::prelude::*;
use slipway_core::{
    labels, ContainerId, ContainerName, ContainerSpec, ContainerSummary, Error, ImageRef,
    InstanceId, Labels, LogOptions, Mount, NetworkAttachment, NetworkId, PrivilegeProfile,
    RemoveOptions, Result, Role, RunId, Sidecar, SidecarHandle, VolumeSpec,
};

use crate::health::HealthProbe;
use crate::run::SidecarOverrides;

/// The main container's image of a `docker:dind` run unless one is given.
pub const DEFAULT_RUN_IMAGE: &str = "docker:28-dind";
/// The pinned default BuildKit image (never `latest`).
pub const DEFAULT_BUILDKIT_IMAGE: &str = "moby/buildkit:v0.23.2";
/// The sidecar's name on the run's network.
pub const BUILDKIT_ALIAS: &str = "buildkit";
/// The port BuildKit listens on.
pub const BUILDKIT_PORT: u16 = 1234;
/// Label on state volumes: the cache key they hold.
pub const CACHE_KEY_LABEL: &str = "dev.slipway.buildkit-cache";
/// Label on a cache key's second and later state volumes: which one (2, 3, …).
pub const STATE_SLOT_LABEL: &str = "dev.slipway.buildkit-slot";
/// How many state volumes one cache key may have: one per concurrent run, since BuildKit
/// locks its state directory and two live runs must never share one.
pub const MAX_STATE_SLOTS: u32 = 16;

/// How BuildKit sidecars are run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildkitConfig {
    /// The sidecar image (default [`DEFAULT_BUILDKIT_IMAGE`]).
    pub image: ImageRef,
    /// Arguments to the image's entrypoint (default `--addr tcp://0.0.0.0:1234`).
    pub command: Vec<String>,
    /// How health is checked (default gRPC `ListWorkers`).
    pub probe: HealthProbe,
    /// How long the sidecar may take to become healthy (default 10 s).
    pub health_timeout: Duration,
    /// Which persistent state volume (`slipway-buildkit-state-<key>`) holds the build cache.
    pub cache_key: String,
    /// The sidecar's privilege (default `privileged`, as real BuildKit needs).
    pub privilege: PrivilegeProfile,
    /// Extra labels on the sidecar and its volume.
    pub labels: Labels,
    /// The sidecar's memory limit in bytes (default 1 GiB).
    pub memory_bytes: u64,
    /// The most processes the sidecar may hold (default 4096).
    pub pids_limit: u64,
}

/// A BuildKit sidecar's memory limit unless configured.
pub const DEFAULT_SIDECAR_MEMORY_BYTES: u64 = 1 << 30;
/// A BuildKit sidecar's PIDs limit unless configured.
pub const DEFAULT_SIDECAR_PIDS_LIMIT: u64 = 4096;

impl Default for BuildkitConfig {
    fn default() -> Self {
        Self {
            image: DEFAULT_BUILDKIT_IMAGE
                .parse()
                .expect("the default image reference is valid"),
            command: vec!["--addr".into(), format!("tcp://0.0.0.0:{BUILDKIT_PORT}")],
            probe: HealthProbe::Grpc,
            health_timeout: Duration::from_secs(10),
            cache_key: "default".into(),
            privilege: PrivilegeProfile::Privileged,
            labels: Labels::new(),
            memory_bytes: DEFAULT_SIDECAR_MEMORY_BYTES,
            pids_limit: DEFAULT_SIDECAR_PIDS_LIMIT,
        }
    }
}

impl BuildkitConfig {
    /// The state volume's name for this config's cache key (its first slot).
    pub fn state_volume(&self) -> Result<ContainerName> {
        self.state_volume_in_slot(1)
    }

    /// The name of the cache key's state volume in `slot` (1-based): the first is
    /// `slipway-buildkit-state-<key>`, later ones end in `-<slot>`.
    pub fn state_volume_in_slot(&self, slot: u32) -> Result<ContainerName> {
        match slot {
            1 => format!("slipway-buildkit-state-{}", self.cache_key).parse(),
            n => format!("slipway-buildkit-state-{}-{n}", self.cache_key).parse(),
        }
    }
}

/// The sidecar container's name for `run`.
pub fn sidecar_name(run: &RunId) -> String {
    format!("slipway-buildkit-{run}")
}

/// BuildKit sidecars on a [`Runtime`].
pub struct BuildkitSidecar {
    runtime: Arc<dyn Runtime>,
    instance: InstanceId,
    config: BuildkitConfig,
    /// Which of the cache key's state volumes the sidecar mounts (1-based).
    state_slot: u32,
}

impl BuildkitSidecar {
    /// Sidecars as `config` says, labelled as `instance`'s.
    pub fn new(
        runtime: Arc<dyn Runtime>,
        instance: InstanceId,
        config: BuildkitConfig,
    ) -> Result<Self> {
        config.state_volume()?;
        Ok(Self {
            runtime,
            instance,
            config,
            state_slot: 1,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &BuildkitConfig {
        &self.config
    }

    /// The same sidecars with a run's overrides applied.
    pub fn with_overrides(&self, overrides: &SidecarOverrides) -> Self {
        let mut config = self.config.clone();
        if let Some(image) = &overrides.image {
            config.image = image.clone();
        }
        if let Some(probe) = overrides.probe {
            config.probe = probe;
        }
        if let Some(privilege) = &overrides.privilege {
            config.privilege = privilege.clone();
        }
        if let Some(memory) = overrides.memory_bytes {
            config.memory_bytes = memory;
        }
        if let Some(timeout) = overrides.health_timeout {
            config.health_timeout = timeout;
        }
        Self {
            runtime: Arc::clone(&self.runtime),
            instance: self.instance.clone(),
            config,
            state_slot: self.state_slot,
        }
    }

    /// The same sidecars on the cache key's state volume in `slot` (see
    /// [`BuildkitConfig::state_volume_in_slot`]).
    pub fn in_state_slot(&self, slot: u32) -> Self {
        Self {
            runtime: Arc::clone(&self.runtime),
            instance: self.instance.clone(),
            config: self.config.clone(),
            state_slot: slot,
        }
    }

    /// The name of the state volume this sidecar mounts.
    pub fn state_volume(&self) -> Result<ContainerName> {
        self.config.state_volume_in_slot(self.state_slot)
    }

    fn labels(&self, run: &RunId) -> Labels {
        let mut labels = self.config.labels.clone();
        labels.extend(
            Scope::new(Role::Buildkit, &self.instance)
                .with(labels::RUN_ID, run.as_str())
                .labels(),
        );
        labels
    }

    /// Makes sure the sidecar image is on the engine, pulling it when it is not; a failed
    /// pull keeps its kind (an unreachable registry is `Unavailable`, a missing image
    /// `NotFound`).
    pub async fn ensure_image(&self) -> Result<()> {
        let image = &self.config.image;
        if self.runtime.image_exists(image).await? {
            return Ok(());
        }
        self.runtime.pull_image(image, None).await
    }

    /// Creates the persistent state volume if it is not there; returns its name.
    pub async fn ensure_state_volume(&self) -> Result<String> {
        let name = self.state_volume()?;
        let mut labels = self.config.labels.clone();
        let mut scope = Scope::new(Role::Buildkit, &self.instance)
            .with(CACHE_KEY_LABEL, self.config.cache_key.as_str());
        if self.state_slot > 1 {
            scope = scope.with(STATE_SLOT_LABEL, self.state_slot.to_string());
        }
        labels.extend(scope.labels());
        let volume = self
            .runtime
            .ensure_volume(&VolumeSpec { name, labels })
            .await?;
        Ok(volume.name.to_string())
    }

    async fn last_log_lines(&self, container: &ContainerId, count: usize) -> String {
        let options = LogOptions {
            follow: false,
            tail: Some(count),
            timestamps: false,
            ..LogOptions::default()
        };
        let lines: Vec<String> = self
            .runtime
            .logs(container, &options)
            .filter_map(|line| async move { line.ok().map(|l| l.line) })
            .collect()
            .await;
        if lines.is_empty() {
            "(no output)".to_owned()
        } else {
            lines.join("\n")
        }
    }
}

#[async_trait]
impl Sidecar for BuildkitSidecar {
    async fn start(&self, run: &RunId, network: &NetworkId) -> Result<SidecarHandle> {
        let volume = self.state_volume()?;
        let name: ContainerName = sidecar_name(run).parse()?;
        let mut spec = ContainerSpec::new(self.config.image.clone())
            .with_name(name)
            .with_labels(self.labels(run))
            .with_cmd(self.config.command.clone())
            .with_mount(Mount::Volume {
                name: volume.to_string(),
                target: "/var/lib/buildkit".into(),
                read_only: false,
            })
            .with_privilege(self.config.privilege.clone())
            .with_memory_limit(self.config.memory_bytes)
            .with_pids_limit(Some(self.config.pids_limit));
        spec.network = Some(NetworkAttachment {
            network: network.to_string(),
            aliases: vec![BUILDKIT_ALIAS.to_owned()],
        });
        let container_id = slipway_core::run_container(self.runtime.as_ref(), &spec).await?;
        Ok(SidecarHandle {
            run_id: run.clone(),
            container_id,
            network_id: network.clone(),
            env: BTreeMap::from([(
                "BUILDKIT_HOST".to_owned(),
                format!("tcp://{BUILDKIT_ALIAS}:{BUILDKIT_PORT}"),
            )]),
        })
    }

    async fn wait_healthy(&self, handle: &SidecarHandle, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let info = self.runtime.inspect_container(&handle.container_id).await?;
            if !info.state.is_running() {
                let logs = self.last_log_lines(&handle.container_id, 20).await;
                return Err(Error::backend(format!(
                    "the BuildKit sidecar exited (code {}); its last output:\n{logs}",
                    info.exit_code.unwrap_or_default()
                )));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let Err(last) = self
                .config
                .probe
                .check_in_container(
                    Arc::clone(&self.runtime),
                    &handle.container_id,
                    BUILDKIT_PORT,
                    left.min(Duration::from_secs(1)),
                )
                .await
            else {
                return Ok(());
            };
            if Instant::now() >= deadline {
                let logs = self.last_log_lines(&handle.container_id, 20).await;
                return Err(Error::Timeout {
                    operation: format!(
                        "the BuildKit sidecar to become healthy ({} probe: {last}); its last output:\n{logs}",
                        self.config.probe
                    ),
                    after: timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(25).min(left)).await;
        }
    }

    async fn stop(&self, handle: &SidecarHandle) -> Result<()> {
        match self
            .runtime
            .remove_container(&handle.container_id, RemoveOptions::force())
            .await
        {
            Ok(()) | Err(Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn orphans(&self, live: &[RunId]) -> Result<Vec<ContainerSummary>> {
        let filter = Scope::new(Role::Buildkit, &self.instance).filter();
        let sidecars = self.runtime.list_containers(&filter).await?;
        Ok(sidecars
            .into_iter()
            .filter(|c| {
                c.labels
                    .get(labels::RUN_ID)
                    .is_none_or(|run| !live.iter().any(|l| l.as_str() == run))
            })
            .collect())
    }
}
