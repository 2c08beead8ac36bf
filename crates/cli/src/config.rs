//! Configuration: defaults, then the config file, then environment variables, then flags.
//!
//! | setting | flag | environment | file (`slipway.toml`) | default |
//! |---|---|---|---|---|
//! | engine address | `--host` | `DOCKER_HOST` | `engine.host` | `unix:///var/run/docker.sock` |
//! | TLS | — | `DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH` | `engine.tls_verify`, `engine.cert_path` | off, `~/.docker` |
//! | plain TCP allowed | `--allow-insecure-tcp` | `SLIPWAY_ALLOW_INSECURE_TCP=1` | `engine.allow_insecure_tcp` | no |
//! | connect timeout | — | — | `engine.connect_timeout_ms` | 2000 |
//! | request timeout | — | — | `engine.request_timeout_secs` | 120 |
//! | state directory | `--state-dir` | `SLIPWAY_STATE_DIR` | `state_dir` | `./.slipway` |
//!
//! The file is `--config PATH`, else `SLIPWAY_CONFIG`, else `./slipway.toml` when present.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;
use slipway_runtime::{Endpoint, TlsFiles};

/// The file's shape; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    state_dir: Option<PathBuf>,
    #[serde(default)]
    engine: FileEngine,
    #[serde(default)]
    pool: FilePoolSettings,
    #[serde(default)]
    pools: Vec<PoolDefinition>,
    #[serde(default)]
    provision: FileProvision,
    #[serde(default)]
    buildkit: FileBuildkit,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBuildkit {
    image: Option<String>,
    probe: Option<String>,
    privilege: Option<String>,
    health_timeout_secs: Option<u64>,
    cache_key: Option<String>,
    run_image: Option<String>,
}

/// How runs with Docker inside are made.
#[derive(Debug, Clone)]
pub(crate) struct RunSetup {
    /// The BuildKit sidecar (its privilege is the run's).
    pub(crate) buildkit: slipway_buildkit::BuildkitConfig,
    /// The privilege of dind runs and their sidecars.
    pub(crate) privilege: Privilege,
    /// The main container's image when `--image` is not given.
    pub(crate) run_image: slipway_core::ImageRef,
}

/// `privileged` or the near-privileged capability profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Privilege {
    /// `--privileged`.
    Privileged,
    /// Every capability but `SYS_RESOURCE`, no seccomp/AppArmor, every device.
    Caps,
}

impl Privilege {
    pub(crate) fn profile(self) -> slipway_core::PrivilegeProfile {
        match self {
            Privilege::Privileged => slipway_core::PrivilegeProfile::Privileged,
            Privilege::Caps => slipway_core::PrivilegeProfile::Capabilities(
                slipway_core::CapabilityProfile::near_privileged(),
            ),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileProvision {
    base_image: Option<String>,
    url_template: Option<String>,
    install_command: Option<String>,
    start_command: Option<String>,
    port: Option<u16>,
    memory_mb: Option<u64>,
    ready_timeout_secs: Option<u64>,
    warm_per_repo: Option<usize>,
    /// Extra labels on the containers, volumes and images of environments.
    #[serde(default)]
    labels: std::collections::BTreeMap<String, String>,
}

/// How environments are provisioned.
#[derive(Debug, Clone)]
pub(crate) struct ProvisionSetup {
    pub(crate) base_image: slipway_core::ImageRef,
    pub(crate) url_template: String,
    pub(crate) config: slipway_provision::ProvisionConfig,
    pub(crate) memory_bytes: u64,
    pub(crate) warm_per_repo: usize,
    /// From `SLIPWAY_GIT_TOKEN` (and `SLIPWAY_GIT_USERNAME`, default `x-access-token`).
    pub(crate) credentials: Option<slipway_core::GitCredentials>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePoolSettings {
    memory_budget_mb: Option<u64>,
    memory_headroom_mb: Option<u64>,
    port_range: Option<String>,
}

/// One `[[pools]]` entry: the containers a pool keeps warm.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct PoolDefinition {
    pub(crate) image: String,
    #[serde(default = "default_pool_cmd")]
    pub(crate) cmd: Vec<String>,
    #[serde(default = "default_pool_ports")]
    pub(crate) ports: Vec<u16>,
    #[serde(default = "default_pool_memory")]
    pub(crate) memory_mb: u64,
    #[serde(default = "default_target")]
    pub(crate) target: usize,
    #[serde(default = "default_min")]
    pub(crate) min: usize,
    #[serde(default = "default_max_creating")]
    pub(crate) max_creating: usize,
    #[serde(default)]
    pub(crate) env: std::collections::BTreeMap<String, String>,
    /// Extra labels (slipway's own are always added).
    #[serde(default)]
    pub(crate) labels: std::collections::BTreeMap<String, String>,
}

fn default_pool_cmd() -> Vec<String> {
    ["tail", "-f", "/dev/null"].map(String::from).to_vec()
}
fn default_pool_ports() -> Vec<u16> {
    vec![3000]
}
fn default_pool_memory() -> u64 {
    512
}
fn default_target() -> usize {
    3
}
fn default_min() -> usize {
    1
}
fn default_max_creating() -> usize {
    2
}

impl PoolDefinition {
    /// The pool used when the config defines none: the seed's dev-environment defaults.
    pub(crate) fn default_pool() -> Self {
        Self {
            image: "node:24-slim".into(),
            cmd: default_pool_cmd(),
            ports: default_pool_ports(),
            memory_mb: default_pool_memory(),
            target: default_target(),
            min: default_min(),
            max_creating: default_max_creating(),
            env: Default::default(),
            labels: Default::default(),
        }
    }
}

/// Pool-wide settings.
#[derive(Debug, Clone)]
pub(crate) struct PoolSetup {
    pub(crate) budget: slipway_pool::MemoryBudget,
    pub(crate) port_range: slipway_core::PortRange,
    pub(crate) pools: Vec<PoolDefinition>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEngine {
    host: Option<String>,
    tls_verify: Option<bool>,
    cert_path: Option<PathBuf>,
    allow_insecure_tcp: Option<bool>,
    connect_timeout_ms: Option<u64>,
    request_timeout_secs: Option<u64>,
}

/// Flags that override everything else.
#[derive(Debug, Default, Clone)]
pub(crate) struct Overrides {
    pub(crate) config: Option<PathBuf>,
    pub(crate) host: Option<String>,
    pub(crate) state_dir: Option<PathBuf>,
    pub(crate) allow_insecure_tcp: bool,
}

/// How to reach the engine.
#[derive(Debug, Clone)]
pub(crate) struct EngineSettings {
    pub(crate) endpoint: Endpoint,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
}

/// Everything the commands need to know, resolved once.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) engine: EngineSettings,
    pub(crate) state_dir: PathBuf,
    pub(crate) pool: PoolSetup,
    pub(crate) provision: ProvisionSetup,
    pub(crate) runs: RunSetup,
}

impl Config {
    /// Resolves the configuration; `env` reads one environment variable.
    pub(crate) fn load(
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        let env_nonempty = |key: &str| env(key).filter(|v| !v.is_empty());
        let file_path = overrides
            .config
            .clone()
            .or_else(|| env_nonempty("SLIPWAY_CONFIG").map(PathBuf::from))
            .or_else(|| Some(PathBuf::from("slipway.toml")).filter(|p| p.exists()));
        let file = match &file_path {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };

        let host = overrides
            .host
            .clone()
            .or_else(|| env_nonempty("DOCKER_HOST"))
            .or(file.engine.host.clone());
        let tls_verify =
            env_nonempty("DOCKER_TLS_VERIFY").is_some() || file.engine.tls_verify.unwrap_or(false);
        let cert_dir = env_nonempty("DOCKER_CERT_PATH")
            .map(PathBuf::from)
            .or(file.engine.cert_path.clone())
            .or_else(|| env_nonempty("HOME").map(|home| PathBuf::from(home).join(".docker")));
        let tls = match (tls_verify, cert_dir) {
            (false, _) => None,
            (true, Some(dir)) => Some(TlsFiles::in_dir(dir)),
            (true, None) => {
                bail!("TLS is on but no certificate directory is known; set DOCKER_CERT_PATH")
            }
        };
        let endpoint = match host {
            Some(host) => Endpoint::parse(&host, tls)?,
            None => Endpoint::local(),
        };
        let allow_insecure = overrides.allow_insecure_tcp
            || env_nonempty("SLIPWAY_ALLOW_INSECURE_TCP").is_some_and(|v| v == "1" || v == "true")
            || file.engine.allow_insecure_tcp.unwrap_or(false);
        if endpoint.is_insecure() && !allow_insecure {
            bail!(
                "{endpoint} is plain TCP: anyone who can reach it is root on that host. Use ssh://, \
                 or TLS (DOCKER_TLS_VERIFY=1 with certificates in DOCKER_CERT_PATH), or pass \
                 --allow-insecure-tcp if this is a trusted direct link"
            );
        }
        let state_dir = overrides
            .state_dir
            .clone()
            .or_else(|| env_nonempty("SLIPWAY_STATE_DIR").map(PathBuf::from))
            .or(file.state_dir)
            .unwrap_or_else(|| PathBuf::from(".slipway"));
        let pool = pool_setup(file.pool, file.pools)?;
        let credentials =
            env_nonempty("SLIPWAY_GIT_TOKEN").map(|secret| slipway_core::GitCredentials {
                username: env_nonempty("SLIPWAY_GIT_USERNAME")
                    .unwrap_or_else(|| "x-access-token".to_owned()),
                secret,
            });
        let provision = provision_setup(file.provision, credentials)?;
        let runs = run_setup(file.buildkit)?;
        Ok(Config {
            runs,
            pool,
            provision,
            engine: EngineSettings {
                endpoint,
                connect_timeout: Duration::from_millis(
                    file.engine.connect_timeout_ms.unwrap_or(2000),
                ),
                request_timeout: Duration::from_secs(
                    file.engine.request_timeout_secs.unwrap_or(120),
                ),
            },
            state_dir,
        })
    }
}

fn pool_setup(settings: FilePoolSettings, pools: Vec<PoolDefinition>) -> anyhow::Result<PoolSetup> {
    const MIB: u64 = 1 << 20;
    let budget = match (settings.memory_budget_mb, settings.memory_headroom_mb) {
        (Some(budget), _) => slipway_pool::MemoryBudget::Fixed(budget * MIB),
        (None, headroom) => {
            slipway_pool::MemoryBudget::EngineTotalMinus(headroom.unwrap_or(2048) * MIB)
        }
    };
    let port_range = match settings.port_range {
        Some(text) => parse_port_range(&text).context("invalid pool.port_range")?,
        None => slipway_core::PortRange::DEFAULT,
    };
    let pools = if pools.is_empty() {
        vec![PoolDefinition::default_pool()]
    } else {
        pools
    };
    Ok(PoolSetup {
        budget,
        port_range,
        pools,
    })
}

fn provision_setup(
    file: FileProvision,
    credentials: Option<slipway_core::GitCredentials>,
) -> anyhow::Result<ProvisionSetup> {
    let defaults = slipway_provision::ProvisionConfig::default();
    let base_image = file.base_image.unwrap_or_else(|| "node:24-slim".to_owned());
    let config = slipway_provision::ProvisionConfig {
        install_command: file.install_command,
        start_command: file.start_command.unwrap_or(defaults.start_command.clone()),
        port: file.port.unwrap_or(defaults.port),
        ready_timeout: file
            .ready_timeout_secs
            .map_or(defaults.ready_timeout, Duration::from_secs),
        labels: file.labels.into_iter().collect(),
        ..defaults
    };
    Ok(ProvisionSetup {
        base_image: base_image
            .parse()
            .with_context(|| format!("invalid provision.base_image `{base_image}`"))?,
        url_template: file
            .url_template
            .unwrap_or_else(|| slipway_provision::DEFAULT_URL_TEMPLATE.to_owned()),
        config,
        memory_bytes: file.memory_mb.unwrap_or(512) << 20,
        warm_per_repo: file.warm_per_repo.unwrap_or(0),
        credentials,
    })
}

fn run_setup(file: FileBuildkit) -> anyhow::Result<RunSetup> {
    let defaults = slipway_buildkit::BuildkitConfig::default();
    let privilege = match file.privilege.as_deref() {
        None | Some("privileged") => Privilege::Privileged,
        Some("caps") => Privilege::Caps,
        Some(other) => {
            anyhow::bail!("invalid buildkit.privilege `{other}`: use `privileged` or `caps`")
        }
    };
    let image = match file.image {
        Some(image) => image
            .parse()
            .with_context(|| format!("invalid buildkit.image `{image}`"))?,
        None => defaults.image.clone(),
    };
    let probe = match file.probe {
        Some(probe) => probe.parse().context("invalid buildkit.probe")?,
        None => defaults.probe,
    };
    let run_image = file
        .run_image
        .unwrap_or_else(|| "docker:28-dind".to_owned());
    let buildkit = slipway_buildkit::BuildkitConfig {
        image,
        probe,
        health_timeout: file
            .health_timeout_secs
            .map_or(defaults.health_timeout, Duration::from_secs),
        cache_key: file.cache_key.unwrap_or(defaults.cache_key.clone()),
        privilege: privilege.profile(),
        ..defaults
    };
    buildkit
        .state_volume()
        .context("invalid buildkit.cache_key")?;
    Ok(RunSetup {
        buildkit,
        privilege,
        run_image: run_image
            .parse()
            .with_context(|| format!("invalid buildkit.run_image `{run_image}`"))?,
    })
}

/// Parses `FIRST-LAST`.
pub(crate) fn parse_port_range(text: &str) -> anyhow::Result<slipway_core::PortRange> {
    let (first, last) = text
        .split_once('-')
        .context("expected FIRST-LAST, e.g. 10000-20000")?;
    let port = |p: &str| {
        p.trim()
            .parse::<u16>()
            .with_context(|| format!("`{p}` is not a port (1-65535)"))
    };
    Ok(slipway_core::PortRange::new(port(first)?, port(last)?)?)
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

impl EngineSettings {
    /// Connects to the engine (ping and version negotiation within the connect timeout).
    pub(crate) async fn connect(&self) -> slipway_core::Result<slipway_runtime::DockerRuntime> {
        slipway_runtime::DockerRuntime::builder(self.endpoint.clone())
            .with_connect_timeout(self.connect_timeout)
            .with_request_timeout(self.request_timeout)
            .bootstrap()
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key| map.get(key).cloned()
    }

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slipway.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn defaults_to_the_local_socket_and_dot_slipway() {
        let config = Config::load(&Overrides::default(), &env(&[])).unwrap();
        assert_eq!(config.engine.endpoint, Endpoint::local());
        assert_eq!(config.state_dir, PathBuf::from(".slipway"));
        assert_eq!(config.engine.connect_timeout, Duration::from_secs(2));
    }

    #[test]
    fn flags_beat_environment_beats_file() {
        let (_dir, path) = file("state_dir = \"/from-file\"\n[engine]\nhost = \"unix:///file.sock\"\nconnect_timeout_ms = 500\n");
        let overrides = Overrides {
            config: Some(path.clone()),
            ..Overrides::default()
        };
        let from_file = Config::load(&overrides, &env(&[])).unwrap();
        assert_eq!(from_file.engine.endpoint.to_string(), "unix:///file.sock");
        assert_eq!(from_file.state_dir, PathBuf::from("/from-file"));
        assert_eq!(from_file.engine.connect_timeout, Duration::from_millis(500));

        let vars = env(&[
            ("DOCKER_HOST", "unix:///env.sock"),
            ("SLIPWAY_STATE_DIR", "/from-env"),
        ]);
        let from_env = Config::load(&overrides, &vars).unwrap();
        assert_eq!(from_env.engine.endpoint.to_string(), "unix:///env.sock");
        assert_eq!(from_env.state_dir, PathBuf::from("/from-env"));

        let flags = Overrides {
            host: Some("unix:///flag.sock".into()),
            state_dir: Some("/from-flag".into()),
            ..overrides
        };
        let from_flags = Config::load(&flags, &vars).unwrap();
        assert_eq!(from_flags.engine.endpoint.to_string(), "unix:///flag.sock");
        assert_eq!(from_flags.state_dir, PathBuf::from("/from-flag"));
    }

    #[test]
    fn plain_tcp_needs_an_explicit_opt_in() {
        let vars = env(&[("DOCKER_HOST", "tcp://192.168.100.2:2375")]);
        let err = Config::load(&Overrides::default(), &vars)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--allow-insecure-tcp"), "{err}");
        let allowed = Overrides {
            allow_insecure_tcp: true,
            ..Overrides::default()
        };
        assert!(Config::load(&allowed, &vars)
            .unwrap()
            .engine
            .endpoint
            .is_insecure());
        let tls = env(&[
            ("DOCKER_HOST", "tcp://build:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", "/c"),
        ]);
        assert!(!Config::load(&Overrides::default(), &tls)
            .unwrap()
            .engine
            .endpoint
            .is_insecure());
    }

    #[test]
    fn pools_default_to_the_dev_environment_seed_and_can_be_configured() {
        let config = Config::load(&Overrides::default(), &env(&[])).unwrap();
        assert_eq!(config.pool.pools, vec![PoolDefinition::default_pool()]);
        assert_eq!(
            config.pool.budget,
            slipway_pool::MemoryBudget::EngineTotalMinus(2 << 30)
        );
        assert_eq!(config.pool.port_range, slipway_core::PortRange::DEFAULT);

        let (_dir, path) = file(
            "[pool]\nmemory_budget_mb = 4096\nport_range = \"11000-11999\"\n\n\
             [[pools]]\nimage = \"busybox:1\"\nports = [8080]\nmemory_mb = 64\ntarget = 5\n",
        );
        let config = Config::load(
            &Overrides {
                config: Some(path),
                ..Overrides::default()
            },
            &env(&[]),
        )
        .unwrap();
        assert_eq!(
            config.pool.budget,
            slipway_pool::MemoryBudget::Fixed(4 << 30)
        );
        assert_eq!(config.pool.port_range.to_string(), "11000-11999");
        let pool = &config.pool.pools[0];
        assert_eq!(
            (
                pool.image.as_str(),
                pool.ports.as_slice(),
                pool.memory_mb,
                pool.target,
                pool.min
            ),
            ("busybox:1", &[8080][..], 64, 5, 1)
        );
    }

    #[test]
    fn the_readme_examples_are_valid_configuration() {
        let readme = include_str!("../../../README.md");
        let blocks: Vec<&str> = readme
            .split("```toml\n")
            .skip(1)
            .filter_map(|block| block.split("```").next())
            .collect();
        assert!(blocks.len() >= 2, "the README shows the config file");
        for text in blocks {
            let (_dir, path) = file(text);
            let overrides = Overrides {
                config: Some(path),
                ..Overrides::default()
            };
            if let Err(e) = Config::load(&overrides, &env(&[])) {
                panic!("{e:#}\n{text}");
            }
        }
    }

    #[test]
    fn provisioning_reads_its_section_and_the_token_from_the_environment() {
        let config = Config::load(&Overrides::default(), &env(&[])).unwrap();
        assert_eq!(config.provision.base_image.as_str(), "node:24-slim");
        assert_eq!(config.provision.config.start_command, "npm run dev");
        assert!(config.provision.credentials.is_none());

        let (_dir, path) = file("[provision]\nbase_image = \"slipway-test/node:1\"\nstart_command = \"npm start\"\nport = 8080\n");
        let vars = env(&[("SLIPWAY_GIT_TOKEN", "tok")]);
        let config = Config::load(
            &Overrides {
                config: Some(path),
                ..Overrides::default()
            },
            &vars,
        )
        .unwrap();
        assert_eq!(config.provision.base_image.as_str(), "slipway-test/node:1");
        assert_eq!(
            (
                config.provision.config.start_command.as_str(),
                config.provision.config.port
            ),
            ("npm start", 8080)
        );
        let credentials = config.provision.credentials.unwrap();
        assert_eq!(
            (credentials.username.as_str(), credentials.secret.as_str()),
            ("x-access-token", "tok")
        );
    }

    #[test]
    fn unknown_keys_and_bad_hosts_are_clear_errors() {
        let (_dir, path) = file("[engine]\nhots = \"typo\"\n");
        let overrides = Overrides {
            config: Some(path),
            ..Overrides::default()
        };
        let err = format!("{:#}", Config::load(&overrides, &env(&[])).unwrap_err());
        assert!(
            err.contains("invalid config file") && err.contains("hots"),
            "{err}"
        );

        let bad = Overrides {
            host: Some("docker.sock".into()),
            ..Overrides::default()
        };
        let err = Config::load(&bad, &env(&[])).unwrap_err().to_string();
        assert!(err.contains("expected unix:///path"), "{err}");
    }
}
