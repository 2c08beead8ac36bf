//! The shape of `slipway.toml`: every field optional, unknown keys refused. Values are
//! checked and merged onto the libraries' defaults in [`super`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use slipway_core::{Error, Result};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    pub(crate) state_dir: Option<PathBuf>,
    #[serde(default)]
    pub(crate) engine: FileEngine,
    #[serde(default)]
    pub(crate) pool: FilePoolSettings,
    #[serde(default)]
    pub(crate) pools: Vec<FilePool>,
    #[serde(default)]
    pub(crate) provision: FileProvision,
    #[serde(default)]
    pub(crate) buildkit: FileBuildkit,
    #[serde(default)]
    pub(crate) server: FileServer,
}

/// `[server]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileServer {
    pub(crate) listen: Option<String>,
    pub(crate) api_secrets_file: Option<PathBuf>,
    pub(crate) callback_timeout_secs: Option<u64>,
    pub(crate) callback_attempts: Option<u32>,
    pub(crate) log_buffer_lines: Option<usize>,
    pub(crate) terminal_grace_secs: Option<u64>,
}

/// `[engine]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileEngine {
    pub(crate) host: Option<String>,
    pub(crate) tls_verify: Option<bool>,
    pub(crate) cert_path: Option<PathBuf>,
    pub(crate) allow_insecure_tcp: Option<bool>,
    pub(crate) connect_timeout_ms: Option<u64>,
    pub(crate) request_timeout_secs: Option<u64>,
}

/// `[pool]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FilePoolSettings {
    pub(crate) memory_budget_mb: Option<u64>,
    pub(crate) memory_headroom_mb: Option<u64>,
    pub(crate) port_range: Option<String>,
}

/// One `[[pools]]` entry.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FilePool {
    pub(crate) image: Option<String>,
    pub(crate) cmd: Option<Vec<String>>,
    pub(crate) ports: Option<Vec<u16>>,
    pub(crate) memory_mb: Option<u64>,
    pub(crate) target: Option<usize>,
    pub(crate) min: Option<usize>,
    pub(crate) max_creating: Option<usize>,
    #[serde(default)]
    pub(crate) env: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) labels: BTreeMap<String, String>,
}

/// `[provision]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileProvision {
    pub(crate) base_image: Option<String>,
    pub(crate) url_template: Option<String>,
    pub(crate) install_command: Option<String>,
    pub(crate) start_command: Option<String>,
    pub(crate) direct_npm_scripts: Option<bool>,
    pub(crate) app_storage: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) memory_mb: Option<u64>,
    pub(crate) ready_timeout_secs: Option<u64>,
    pub(crate) warm_per_repo: Option<usize>,
    pub(crate) warm_base: Option<usize>,
    pub(crate) ready_repos: Option<Vec<String>>,
    pub(crate) ready_recent: Option<usize>,
    pub(crate) ready_per_repo: Option<usize>,
    pub(crate) isolate: Option<bool>,
    #[serde(default)]
    pub(crate) labels: BTreeMap<String, String>,
}

/// `[buildkit]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileBuildkit {
    pub(crate) image: Option<String>,
    pub(crate) probe: Option<String>,
    pub(crate) privilege: Option<String>,
    pub(crate) health_timeout_secs: Option<u64>,
    pub(crate) cache_key: Option<String>,
    pub(crate) run_image: Option<String>,
    pub(crate) memory_mb: Option<u64>,
    pub(crate) pids_limit: Option<u64>,
    pub(crate) run_memory_mb: Option<u64>,
    pub(crate) run_pids_limit: Option<u64>,
    #[serde(default)]
    pub(crate) labels: BTreeMap<String, String>,
}

/// Reads and parses the file; a missing file, bad TOML or an unknown key is `Invalid`.
pub(crate) fn read(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::invalid(
            "config file",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map_or(1, |span| text[..span.start].lines().count().max(1));
        Error::invalid(
            "config file",
            format!("{} line {line}: {}", path.display(), e.message().trim()),
        )
    })
}
