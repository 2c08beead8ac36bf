//! What an engine is and what it can do.

/// Versions the engine reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EngineVersion {
    /// The engine's release, e.g. `20.10.24`.
    pub version: String,
    /// The newest API version the engine speaks.
    pub api_version: String,
    /// The oldest API version the engine speaks.
    pub min_api_version: String,
    /// The API version this client negotiated.
    pub negotiated_api_version: String,
    /// The engine's OS, e.g. `linux`.
    pub os: String,
    /// The engine's architecture, e.g. `amd64`.
    pub arch: String,
    /// The kernel release.
    pub kernel_version: String,
}

/// Facts about the engine's host.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EngineInfo {
    /// The engine host's name.
    pub name: String,
    /// The engine's release.
    pub server_version: String,
    /// Memory the engine can hand out, in bytes.
    pub total_memory_bytes: u64,
    /// CPUs.
    pub cpus: u64,
    /// The storage driver, e.g. `overlay2`.
    pub storage_driver: String,
    /// The cgroup driver, e.g. `systemd`.
    pub cgroup_driver: String,
    /// The cgroup version, `1` or `2`.
    pub cgroup_version: String,
    /// The host operating system.
    pub operating_system: String,
    /// Containers currently running.
    pub containers_running: u64,
}

/// What a runtime can do, as far as can be known without trying.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RuntimeCapabilities {
    /// Whether privileged (or near-privileged) containers may be requested.
    pub privileged: bool,
    /// Whether sidecar containers on private networks are supported.
    pub sidecars: bool,
    /// The engine's socket on this host, when the engine is local and a socket can be mounted.
    pub host_socket: Option<String>,
}
