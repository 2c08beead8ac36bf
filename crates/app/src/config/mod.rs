//! Configuration: the libraries' defaults, then the config file, then environment variables
//! (read through a lookup closure), then flags ([`Overrides`]).
//!
//! | setting | flag | environment | file (`slipway.toml`) | default |
//! |---|---|---|---|---|
//! | engine address | `--host` | `DOCKER_HOST` | `engine.host` | `unix:///var/run/docker.sock` |
//! | TLS | — | `DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH` | `engine.tls_verify`, `engine.cert_path` | off, `~/.docker` |
//! | plain TCP allowed | `--allow-insecure-tcp` | `SLIPWAY_ALLOW_INSECURE_TCP=1` | `engine.allow_insecure_tcp` | no |
//! | connect / request timeout | — | — | `engine.connect_timeout_ms`, `engine.request_timeout_secs` | 2000 ms, 120 s |
//! | state directory | `--state-dir` | `SLIPWAY_STATE_DIR` | `state_dir` | `./.slipway` |
//! | git credentials | — | `SLIPWAY_GIT_TOKEN`, `SLIPWAY_GIT_USERNAME` | — | none, `x-access-token` |
//! | base (default) image | — | `SLIPWAY_DEFAULT_IMAGE` | `provision.base_image` | `node:24-slim` |
//! | warm base containers | — | `SLIPWAY_POOL_SIZE` | `provision.warm_base` | 0 |
//! | ready environments | — | — | `provision.ready_repos`, `ready_recent`, `ready_per_repo` | none, 0, 1 |
//! | repo URL template | — | `SLIPWAY_REPO_URL_TEMPLATE` | `provision.url_template` | `https://github.com/{owner}/{repo}.git` |
//! | host ports | — | `SLIPWAY_PORT_RANGE` | `pool.port_range` | `10000-20000` |
//! | API listen address | `--listen` | `SLIPWAY_LISTEN` | `server.listen` | `127.0.0.1:8080` |
//! | API secrets | — | `SLIPWAY_API_SECRET` (comma-separated) | `server.api_secrets_file` | `<state>/api-secrets` |
//!
//! The file is `--config PATH`, else `$SLIPWAY_CONFIG`, else `./slipway.toml` when present.
//! A file found only because it lies in the current directory (a cloned repository may
//! carry one) must not be writable by others and may not say where the engine, the state or
//! the git remotes are: those keys need the file named explicitly.

mod file;
mod sections;
mod server;

use std::path::{Path, PathBuf};

use slipway_core::{Error, Result};

pub use sections::{EngineConfig, PoolsConfig, PrivilegeChoice, ProvisionSetup, RunsConfig};
pub use server::{ServerConfig, API_SECRETS_FILE, DEFAULT_LISTEN, MIN_SECRET_LEN};

/// The state directory unless configured.
pub const DEFAULT_STATE_DIR: &str = ".slipway";
/// The config file looked for in the current directory.
pub const LOCAL_CONFIG_FILE: &str = "slipway.toml";

/// Flags, which override everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--host`.
    pub host: Option<String>,
    /// `--state-dir`.
    pub state_dir: Option<PathBuf>,
    /// `--allow-insecure-tcp`.
    pub allow_insecure_tcp: bool,
}

/// Everything slipway needs to know, resolved once.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
    /// Where the state lives.
    pub state_dir: PathBuf,
    /// The engine.
    pub engine: EngineConfig,
    /// The warm pools.
    pub pools: PoolsConfig,
    /// Environments.
    pub provision: ProvisionSetup,
    /// Runs with Docker inside.
    pub runs: RunsConfig,
    /// The API server.
    pub server: ServerConfig,
}

impl Config {
    /// Resolves the configuration; `env` reads one environment variable.
    pub fn load(overrides: &Overrides, env: &dyn Fn(&str) -> Option<String>) -> Result<Self> {
        let var = |key: &str| env(key).filter(|v| !v.is_empty());
        let (path, explicit) = match overrides
            .config
            .clone()
            .or_else(|| var("SLIPWAY_CONFIG").map(PathBuf::from))
        {
            Some(path) => (Some(path), true),
            None => (
                Some(PathBuf::from(LOCAL_CONFIG_FILE)).filter(|p| p.exists()),
                false,
            ),
        };
        let file = match &path {
            Some(path) => {
                let file = file::read(path)?;
                if !explicit {
                    check_local_file(path, &file)?;
                }
                file
            }
            None => file::FileConfig::default(),
        };
        let engine = EngineConfig::resolve(&file.engine, overrides, &var)?;
        let state_dir = overrides
            .state_dir
            .clone()
            .or_else(|| var("SLIPWAY_STATE_DIR").map(PathBuf::from))
            .or(file.state_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
        Ok(Config {
            file: path,
            engine,
            pools: PoolsConfig::resolve(file.pool, file.pools, &var)?,
            provision: ProvisionSetup::resolve(file.provision, &var)?,
            runs: RunsConfig::resolve(file.buildkit)?,
            server: ServerConfig::resolve(file.server, &state_dir, &var)?,
            state_dir,
        })
    }
}

/// A file found in the current directory may describe pools and environments, but not where
/// the engine, the state or the git remotes are, and only if nobody else can write it.
fn check_local_file(path: &Path, file: &file::FileConfig) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let refuse = |reason: String| {
        Err(Error::invalid(
            "config file",
            format!(
                "{} (found in the current directory) {reason}; pass it with --config (or \
                 SLIPWAY_CONFIG) to trust it",
                path.display()
            ),
        ))
    };
    let mode = std::fs::metadata(path)
        .map_err(|e| Error::invalid("config file", format!("{}: {e}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o022 != 0 {
        return refuse(format!("is writable by others (mode {:o})", mode & 0o777));
    }
    let engine = &file.engine;
    let says_where = [
        ("engine.host", engine.host.is_some()),
        ("engine.cert_path", engine.cert_path.is_some()),
        ("engine.tls_verify", engine.tls_verify.is_some()),
        (
            "engine.allow_insecure_tcp",
            engine.allow_insecure_tcp.is_some(),
        ),
        ("state_dir", file.state_dir.is_some()),
        (
            "server.api_secrets_file",
            file.server.api_secrets_file.is_some(),
        ),
        (
            "provision.url_template",
            file.provision.url_template.is_some(),
        ),
    ];
    match says_where.iter().find(|(_, set)| *set) {
        Some((key, _)) => refuse(format!("sets `{key}`")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
