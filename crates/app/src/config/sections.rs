//! The resolved sections of the configuration, each starting from its library's defaults.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use slipway_buildkit::{
    BuildkitConfig, DEFAULT_RUN_IMAGE, DEFAULT_RUN_MEMORY_BYTES, DEFAULT_RUN_PIDS_LIMIT,
};
use slipway_core::{
    CapabilityProfile, ContainerSpec, Error, GitCredentials, ImageRef, PoolConfig, PortBinding,
    PrivilegeProfile, Result, Secret, IDLE_COMMAND,
};
use slipway_pool::{MemoryBudget, PoolSettings};
use slipway_provision::{EnvironmentSettings, ProvisionConfig, DEFAULT_URL_TEMPLATE};
use slipway_runtime::{DockerRuntime, Endpoint, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT};

use super::file::{FileBuildkit, FileEngine, FilePool, FilePoolSettings, FileProvision};
use super::Overrides;

const MIB: u64 = 1 << 20;

/// How to reach the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where it is.
    pub endpoint: Endpoint,
    /// How long connecting and the first ping may take.
    pub connect_timeout: Duration,
    /// How long one request may wait for the engine's response headers.
    pub request_timeout: Duration,
}

impl EngineConfig {
    /// The address and TLS files resolve the way the docker CLI resolves them (through the
    /// runtime's [`Endpoint::from_docker_env`]), with the file's values under the variables'
    /// and `--host` over both. Plain TCP is refused unless allowed: anyone who reaches it is
    /// root on that host.
    pub(super) fn resolve(
        file: &FileEngine,
        overrides: &Overrides,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let layered = |key: &str| -> Option<String> {
            match key {
                "DOCKER_HOST" => overrides
                    .host
                    .clone()
                    .or_else(|| var(key))
                    .or_else(|| file.host.clone()),
                "DOCKER_TLS_VERIFY" => {
                    var(key).or_else(|| file.tls_verify.filter(|on| *on).map(|_| "1".into()))
                }
                "DOCKER_CERT_PATH" => {
                    var(key).or_else(|| file.cert_path.as_ref().map(|p| p.display().to_string()))
                }
                _ => var(key),
            }
        };
        let endpoint = Endpoint::from_docker_env(layered)?;
        let allow_insecure = overrides.allow_insecure_tcp
            || var("SLIPWAY_ALLOW_INSECURE_TCP").is_some_and(|v| v == "1" || v == "true")
            || file.allow_insecure_tcp.unwrap_or(false);
        if endpoint.is_insecure() && !allow_insecure {
            return Err(Error::invalid(
                "engine endpoint",
                format!(
                    "{endpoint} is plain TCP: anyone who can reach it is root on that host. Use \
                     ssh://, or TLS (DOCKER_TLS_VERIFY=1 with certificates in DOCKER_CERT_PATH), \
                     or pass --allow-insecure-tcp if this is a trusted direct link"
                ),
            ));
        }
        Ok(Self {
            endpoint,
            connect_timeout: file
                .connect_timeout_ms
                .map_or(DEFAULT_CONNECT_TIMEOUT, Duration::from_millis),
            request_timeout: file
                .request_timeout_secs
                .map_or(DEFAULT_REQUEST_TIMEOUT, Duration::from_secs),
        })
    }

    /// Connects (ping and version negotiation within the connect timeout).
    pub async fn connect(&self) -> Result<DockerRuntime> {
        DockerRuntime::builder(self.endpoint.clone())
            .with_connect_timeout(self.connect_timeout)
            .with_request_timeout(self.request_timeout)
            .bootstrap()
            .await
    }
}

/// The warm pools.
#[derive(Debug, Clone)]
pub struct PoolsConfig {
    /// Budget and host ports (the rest are the pool library's defaults).
    pub settings: PoolSettings,
    /// The configured pools (one default pool when the file has none).
    pub pools: Vec<PoolConfig>,
    /// Whether the file listed `[[pools]]` (else `pools` is the one default pool).
    pub configured: bool,
}

impl PoolsConfig {
    pub(super) fn resolve(
        settings: FilePoolSettings,
        pools: Vec<FilePool>,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let defaults = PoolSettings::default();
        let budget = match (settings.memory_budget_mb, settings.memory_headroom_mb) {
            (Some(budget), _) => MemoryBudget::Fixed(megabytes("pool.memory_budget_mb", budget)?),
            (None, Some(headroom)) => {
                MemoryBudget::EngineTotalMinus(megabytes("pool.memory_headroom_mb", headroom)?)
            }
            (None, None) => defaults.budget,
        };
        let port_range = match var("SLIPWAY_PORT_RANGE").or(settings.port_range) {
            Some(text) => text
                .parse()
                .map_err(|e: Error| e.context("invalid pool.port_range (SLIPWAY_PORT_RANGE)"))?,
            None => defaults.port_range,
        };
        let configured = !pools.is_empty();
        let pools = if configured {
            pools
        } else {
            vec![FilePool::default()]
        };
        Ok(Self {
            configured,
            settings: PoolSettings {
                budget,
                port_range,
                ..defaults
            },
            pools: pools.into_iter().map(pool_config).collect::<Result<_>>()?,
        })
    }

    /// The pools with every image replaced by `image` (`slipway pool … --image`).
    pub fn with_image(mut self, image: &ImageRef) -> Self {
        for pool in &mut self.pools {
            pool.spec.image = image.clone();
        }
        self
    }
}

/// A `[[pools]]` entry over the defaults: the environments' base image, idle, the dev port,
/// the pool library's sizes.
fn pool_config(file: FilePool) -> Result<PoolConfig> {
    let environment = EnvironmentSettings::default();
    let image = match file.image {
        Some(image) => image
            .parse()
            .map_err(|e: Error| e.context(format!("invalid image `{image}` in [[pools]]")))?,
        None => environment.base_image,
    };
    let ports = file
        .ports
        .unwrap_or_else(|| vec![ProvisionConfig::default().port]);
    let mut spec = ContainerSpec::new(image)
        .with_cmd(
            file.cmd
                .unwrap_or_else(|| IDLE_COMMAND.map(String::from).to_vec()),
        )
        .with_init(true)
        .with_labels(extra_labels("[[pools]]", file.labels)?);
    for port in ports {
        spec = spec.with_port(PortBinding::loopback(port, None));
    }
    for (key, value) in file.env {
        spec = spec.with_env(key, value);
    }
    if let Some(memory) = file.memory_mb {
        spec = spec.with_memory_limit(megabytes("[[pools]] memory_mb", memory)?);
    }
    let mut pool = PoolConfig::new(spec);
    pool.target_size = file.target.unwrap_or(pool.target_size);
    pool.min_size = file.min.unwrap_or(pool.min_size);
    pool.max_creating = file.max_creating.unwrap_or(pool.max_creating);
    pool.validate()?;
    Ok(pool)
}

/// How environments are provisioned.
#[derive(Debug, Clone)]
pub struct ProvisionSetup {
    /// Where repositories are fetched from: `{owner}` and `{repo}` are replaced.
    pub url_template: String,
    /// How setups are done.
    pub config: ProvisionConfig,
    /// What environments are made of (credentials from `SLIPWAY_GIT_TOKEN`).
    pub environments: EnvironmentSettings,
}

impl ProvisionSetup {
    pub(super) fn resolve(
        file: FileProvision,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let config_defaults = ProvisionConfig::default();
        let environment_defaults = EnvironmentSettings::default();
        let base_image = match var("SLIPWAY_DEFAULT_IMAGE").or(file.base_image) {
            Some(image) => image.parse().map_err(|e: Error| {
                e.context(format!(
                    "invalid provision.base_image (SLIPWAY_DEFAULT_IMAGE) `{image}`"
                ))
            })?,
            None => environment_defaults.base_image,
        };
        let warm_base = match var("SLIPWAY_POOL_SIZE") {
            Some(text) => text.parse().map_err(|_| {
                Error::invalid(
                    "SLIPWAY_POOL_SIZE",
                    format!("`{}` is not a count", text.escape_debug()),
                )
            })?,
            None => file.warm_base.unwrap_or(environment_defaults.warm_base),
        };
        let memory_bytes = match file.memory_mb {
            Some(mb) => megabytes("provision.memory_mb", mb)?,
            None => environment_defaults.memory_bytes,
        };
        let credentials = var("SLIPWAY_GIT_TOKEN").map(|secret| GitCredentials {
            username: var("SLIPWAY_GIT_USERNAME").unwrap_or_else(|| "x-access-token".to_owned()),
            secret: Secret::new(secret),
        });
        Ok(Self {
            url_template: var("SLIPWAY_REPO_URL_TEMPLATE")
                .or(file.url_template)
                .unwrap_or_else(|| DEFAULT_URL_TEMPLATE.to_owned()),
            config: ProvisionConfig {
                install_command: file.install_command,
                start_command: file
                    .start_command
                    .unwrap_or(config_defaults.start_command.clone()),
                direct_npm_scripts: file
                    .direct_npm_scripts
                    .unwrap_or(config_defaults.direct_npm_scripts),
                app_storage: match file.app_storage {
                    Some(text) => text
                        .parse()
                        .map_err(|e: Error| e.context("invalid provision.app_storage"))?,
                    None => config_defaults.app_storage,
                },
                port: file.port.unwrap_or(config_defaults.port),
                ready_timeout: file
                    .ready_timeout_secs
                    .map_or(config_defaults.ready_timeout, Duration::from_secs),
                labels: extra_labels("provision", file.labels)?,
                isolate: file.isolate.unwrap_or(config_defaults.isolate),
                ..config_defaults
            },
            environments: EnvironmentSettings {
                base_image,
                memory_bytes,
                warm_per_repo: file
                    .warm_per_repo
                    .unwrap_or(environment_defaults.warm_per_repo),
                warm_base,
                credentials,
                ready_repos: match file.ready_repos {
                    Some(repos) => repos
                        .iter()
                        .map(|repo| repo.parse())
                        .collect::<Result<_>>()
                        .map_err(|e| e.context("invalid provision.ready_repos"))?,
                    None => environment_defaults.ready_repos,
                },
                ready_recent: file
                    .ready_recent
                    .unwrap_or(environment_defaults.ready_recent),
                ready_per_repo: match file.ready_per_repo {
                    Some(0) => {
                        return Err(Error::invalid(
                            "provision.ready_per_repo",
                            "must be at least 1 (leave ready_repos empty and ready_recent at 0 for none)",
                        ))
                    }
                    Some(count) => count,
                    None => environment_defaults.ready_per_repo,
                },
            },
        })
    }

    /// The repo cache's directory inside a state directory.
    pub fn repo_cache_dir(state_dir: &std::path::Path) -> PathBuf {
        state_dir.join("repo-cache")
    }
}

/// `privileged` or the near-privileged capability profile, as users write them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivilegeChoice {
    /// `--privileged`.
    Privileged,
    /// Every capability but `SYS_RESOURCE`, no seccomp/AppArmor, every device.
    Caps,
}

impl PrivilegeChoice {
    /// The profile containers get.
    pub fn profile(self) -> PrivilegeProfile {
        match self {
            PrivilegeChoice::Privileged => PrivilegeProfile::Privileged,
            PrivilegeChoice::Caps => {
                PrivilegeProfile::Capabilities(CapabilityProfile::near_privileged())
            }
        }
    }

    /// The name users write.
    pub fn as_str(self) -> &'static str {
        match self {
            PrivilegeChoice::Privileged => "privileged",
            PrivilegeChoice::Caps => "caps",
        }
    }
}

impl fmt::Display for PrivilegeChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PrivilegeChoice {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "privileged" => Ok(PrivilegeChoice::Privileged),
            "caps" => Ok(PrivilegeChoice::Caps),
            other => Err(Error::invalid(
                "privilege",
                format!("`{}` is not `privileged` or `caps`", other.escape_debug()),
            )),
        }
    }
}

/// How runs with Docker inside are made.
#[derive(Debug, Clone)]
pub struct RunsConfig {
    /// The BuildKit sidecar (its privilege is the runs').
    pub buildkit: BuildkitConfig,
    /// The privilege of dind runs and their sidecars.
    pub privilege: PrivilegeChoice,
    /// The main container's image when a run names none.
    pub run_image: ImageRef,
    /// Extra labels on every container, network and volume of runs.
    pub labels: slipway_core::Labels,
    /// A run's main container's memory limit, when the run asks for none.
    pub run_memory_bytes: u64,
    /// A run's main container's PIDs limit.
    pub run_pids_limit: u64,
}

impl RunsConfig {
    pub(super) fn resolve(file: FileBuildkit) -> Result<Self> {
        let defaults = BuildkitConfig::default();
        let privilege = match file.privilege {
            Some(text) => text
                .parse()
                .map_err(|e: Error| e.context("invalid buildkit.privilege"))?,
            None => PrivilegeChoice::Privileged,
        };
        let image = match file.image {
            Some(image) => image
                .parse()
                .map_err(|e: Error| e.context(format!("invalid buildkit.image `{image}`")))?,
            None => defaults.image.clone(),
        };
        let probe = match file.probe {
            Some(probe) => probe
                .parse()
                .map_err(|e: Error| e.context("invalid buildkit.probe"))?,
            None => defaults.probe,
        };
        let run_image = file
            .run_image
            .unwrap_or_else(|| DEFAULT_RUN_IMAGE.to_owned());
        let labels = extra_labels("buildkit", file.labels)?;
        let buildkit = BuildkitConfig {
            image,
            probe,
            health_timeout: file
                .health_timeout_secs
                .map_or(defaults.health_timeout, Duration::from_secs),
            cache_key: file.cache_key.unwrap_or(defaults.cache_key.clone()),
            privilege: privilege.profile(),
            labels: labels.clone(),
            memory_bytes: match file.memory_mb {
                Some(mb) => megabytes("buildkit.memory_mb", mb)?,
                None => defaults.memory_bytes,
            },
            pids_limit: pids_limit("buildkit.pids_limit", file.pids_limit)?
                .unwrap_or(defaults.pids_limit),
            ..defaults
        };
        buildkit
            .state_volume()
            .map_err(|e| e.context("invalid buildkit.cache_key"))?;
        Ok(Self {
            buildkit,
            privilege,
            run_image: run_image.parse().map_err(|e: Error| {
                e.context(format!("invalid buildkit.run_image `{run_image}`"))
            })?,
            labels,
            run_memory_bytes: match file.run_memory_mb {
                Some(mb) => megabytes("buildkit.run_memory_mb", mb)?,
                None => DEFAULT_RUN_MEMORY_BYTES,
            },
            run_pids_limit: pids_limit("buildkit.run_pids_limit", file.run_pids_limit)?
                .unwrap_or(DEFAULT_RUN_PIDS_LIMIT),
        })
    }
}

/// A PIDs limit from the file: at least 1.
fn pids_limit(what: &str, limit: Option<u64>) -> Result<Option<u64>> {
    match limit {
        Some(0) => Err(Error::invalid(what, "must be at least 1")),
        other => Ok(other),
    }
}

/// Extra labels from `section` of the file, refusing the ones slipway sets itself.
fn extra_labels(
    section: &str,
    labels: std::collections::BTreeMap<String, String>,
) -> Result<slipway_core::Labels> {
    match labels
        .keys()
        .find(|key| slipway_core::labels::is_reserved(key))
    {
        Some(key) => Err(Error::invalid(
            format!("{section}.labels"),
            format!("`{key}` is one of slipway's own labels"),
        )),
        None => Ok(labels.into_iter().collect()),
    }
}

/// Mebibytes to bytes, refusing sizes that overflow.
fn megabytes(what: &str, mb: u64) -> Result<u64> {
    mb.checked_mul(MIB).ok_or_else(|| {
        Error::invalid(
            what,
            format!("{mb} MiB is more than this machine can count"),
        )
    })
}
