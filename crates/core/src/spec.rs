//! What a container should be: the input to [`Containers::create_container`](crate::Containers::create_container).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use crate::labels::Labels;
use crate::names::{ContainerName, ImageRef};
use crate::{Error, Result};

/// Everything the engine needs to create a container.
///
/// Built with [`ContainerSpec::new`] and the `with_*` methods; [`ContainerSpec::validate`]
/// checks the parts the type system can't (env keys, absolute mount targets, limits).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContainerSpec {
    /// The image to run.
    pub image: ImageRef,
    /// The container name; the engine picks one when `None`.
    pub name: Option<ContainerName>,
    /// The command, replacing the image's `CMD`.
    pub cmd: Option<Vec<String>>,
    /// The entrypoint, replacing the image's `ENTRYPOINT`.
    pub entrypoint: Option<Vec<String>>,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// Labels (slipway's own plus any the caller adds).
    pub labels: Labels,
    /// Container ports and how they are published on the host.
    pub ports: Vec<PortBinding>,
    /// Volumes, bind mounts and tmpfs mounts.
    pub mounts: Vec<Mount>,
    /// Memory and CPU limits.
    pub resources: Resources,
    /// How much privilege the container gets.
    pub privilege: PrivilegeProfile,
    /// The network to join at creation, with its aliases.
    pub network: Option<NetworkAttachment>,
    /// The working directory.
    pub working_dir: Option<String>,
    /// The user (`uid[:gid]` or a name) the process runs as.
    pub user: Option<String>,
    /// Run an init process as PID 1 that reaps zombies and forwards signals.
    pub init: bool,
    /// Allocate a TTY for the main process.
    pub tty: bool,
    /// How much log the engine keeps of the main process (rotated files); `None` leaves
    /// the engine's default driver and its settings.
    pub logs: Option<LogLimits>,
    /// Processes may not gain privileges (setuid binaries, file capabilities). On by
    /// default; a privileged or capability profile turns it off, since gaining privileges
    /// is what those are for.
    pub no_new_privileges: bool,
}

impl ContainerSpec {
    /// A spec for `image` with engine defaults for everything else.
    pub fn new(image: ImageRef) -> Self {
        Self {
            image,
            name: None,
            cmd: None,
            entrypoint: None,
            env: BTreeMap::new(),
            labels: Labels::new(),
            ports: Vec::new(),
            mounts: Vec::new(),
            resources: Resources {
                pids_limit: Some(DEFAULT_PIDS_LIMIT),
                ..Resources::default()
            },
            privilege: PrivilegeProfile::Default,
            network: None,
            working_dir: None,
            user: None,
            init: false,
            tty: false,
            logs: Some(LogLimits::default()),
            no_new_privileges: true,
        }
    }

    /// Sets the container name.
    pub fn with_name(mut self, name: ContainerName) -> Self {
        self.name = Some(name);
        self
    }

    /// Sets the command.
    pub fn with_cmd<I, S>(mut self, cmd: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cmd = Some(cmd.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the entrypoint.
    pub fn with_entrypoint<I, S>(mut self, entrypoint: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.entrypoint = Some(entrypoint.into_iter().map(Into::into).collect());
        self
    }

    /// Adds an environment variable.
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Adds labels.
    pub fn with_labels(mut self, labels: Labels) -> Self {
        self.labels.extend(labels);
        self
    }

    /// Adds a port binding.
    pub fn with_port(mut self, port: PortBinding) -> Self {
        self.ports.push(port);
        self
    }

    /// Adds a mount.
    pub fn with_mount(mut self, mount: Mount) -> Self {
        self.mounts.push(mount);
        self
    }

    /// Sets the memory limit in bytes (swap is limited to the same amount).
    pub fn with_memory_limit(mut self, bytes: u64) -> Self {
        self.resources.memory_bytes = Some(bytes);
        self
    }

    /// Sets the CPU limit in billionths of a CPU.
    pub fn with_nano_cpus(mut self, nano_cpus: u64) -> Self {
        self.resources.nano_cpus = Some(nano_cpus);
        self
    }

    /// Sets the most processes the container may hold (`None`: the engine's default, which
    /// is no limit).
    pub fn with_pids_limit(mut self, limit: Option<u64>) -> Self {
        self.resources.pids_limit = limit;
        self
    }

    /// Sets how much log the engine keeps.
    pub fn with_log_limits(mut self, logs: Option<LogLimits>) -> Self {
        self.logs = logs;
        self
    }

    /// Sets the privilege profile; anything but the default also lets processes gain
    /// privileges (see [`ContainerSpec::no_new_privileges`]).
    pub fn with_privilege(mut self, privilege: PrivilegeProfile) -> Self {
        self.no_new_privileges = privilege == PrivilegeProfile::Default;
        self.privilege = privilege;
        self
    }

    /// Joins `network` at creation with `aliases`.
    pub fn with_network(mut self, network: impl Into<String>, aliases: Vec<String>) -> Self {
        self.network = Some(NetworkAttachment {
            network: network.into(),
            aliases,
        });
        self
    }

    /// Sets the working directory.
    pub fn with_working_dir(mut self, dir: impl Into<String>) -> Self {
        self.working_dir = Some(dir.into());
        self
    }

    /// Runs an init process as PID 1.
    pub fn with_init(mut self, init: bool) -> Self {
        self.init = init;
        self
    }

    /// Checks what the type system can't: env keys, mount targets, ports and limits.
    pub fn validate(&self) -> Result<()> {
        for key in self.env.keys() {
            validate_env_key(key)?;
        }
        for (key, value) in self.env.iter().chain(self.labels.iter()) {
            if key.contains('\0') || value.contains('\0') {
                return Err(Error::invalid(
                    "container spec",
                    format!("`{key}` contains a NUL byte"),
                ));
            }
        }
        for mount in &self.mounts {
            mount.validate()?;
        }
        for port in &self.ports {
            if port.container_port == 0 || port.host_port == Some(0) {
                return Err(Error::invalid(
                    "port binding",
                    "ports are 1-65535; leave the host port empty to let the engine choose",
                ));
            }
        }
        if self.resources.pids_limit == Some(0) {
            return Err(Error::invalid(
                "pids limit",
                "must be at least 1 (leave it unset for no limit)",
            ));
        }
        if let Some(logs) = &self.logs {
            logs.validate()?;
        }
        if let Some(memory) = self.resources.memory_bytes {
            if memory < MIN_MEMORY_BYTES {
                return Err(Error::invalid(
                    "memory limit",
                    format!("{memory} bytes is below the engine's minimum of 6 MiB"),
                ));
            }
        }
        Ok(())
    }
}

/// A command that keeps a container alive, idle, until it is put to use (pooled and
/// environment containers run it until their dev server starts).
pub const IDLE_COMMAND: [&str; 3] = ["tail", "-f", "/dev/null"];

/// The most processes a container holds unless told otherwise: plenty for a package
/// manager and a dev server, and a stop for a fork bomb.
pub const DEFAULT_PIDS_LIMIT: u64 = 1024;

/// How much of a container's output the engine keeps: rotated `json-file` logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct LogLimits {
    /// The size at which a log file is rotated.
    pub max_file_bytes: u64,
    /// How many files are kept (the current one included).
    pub max_files: u32,
}

impl Default for LogLimits {
    /// 10 MiB × 3 files.
    fn default() -> Self {
        Self {
            max_file_bytes: 10 << 20,
            max_files: 3,
        }
    }
}

impl LogLimits {
    /// The most bytes of log kept.
    pub fn max_bytes(&self) -> u64 {
        self.max_file_bytes
            .saturating_mul(u64::from(self.max_files))
    }

    fn validate(&self) -> Result<()> {
        if self.max_file_bytes < 4096 || self.max_files == 0 {
            return Err(Error::invalid(
                "log limits",
                "files of at least 4 KiB, and at least one file",
            ));
        }
        Ok(())
    }
}

/// The smallest memory limit the engine accepts.
pub const MIN_MEMORY_BYTES: u64 = 6 * 1024 * 1024;

/// Checks an environment variable name: a letter or `_`, then letters, digits or `_` (the
/// portable shell rule; anything else would be unreachable from `sh` in the container).
pub fn validate_env_key(key: &str) -> Result<()> {
    let mut chars = key.chars();
    let starts_well = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !starts_well || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Error::invalid(
            "environment variable",
            format!(
                "`{}` is not a valid name (a letter or `_`, then letters, digits or `_`)",
                key.escape_debug()
            ),
        ));
    }
    Ok(())
}

/// A container port and where it is published on the host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PortBinding {
    /// The port inside the container.
    pub container_port: u16,
    /// The host port; `None` lets the engine choose a free one.
    pub host_port: Option<u16>,
    /// The host address to bind; loopback unless told otherwise.
    pub host_ip: IpAddr,
}

impl PortBinding {
    /// Publishes `container_port` on `127.0.0.1:host_port`.
    pub fn loopback(container_port: u16, host_port: Option<u16>) -> Self {
        Self {
            container_port,
            host_port,
            host_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }
}

/// A filesystem mount.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Mount {
    /// A named volume.
    Volume {
        /// The volume name.
        name: String,
        /// The absolute path inside the container.
        target: String,
        /// Mount read-only.
        read_only: bool,
    },
    /// A host path.
    Bind {
        /// The absolute host path.
        source: String,
        /// The absolute path inside the container.
        target: String,
        /// Mount read-only.
        read_only: bool,
    },
    /// A volume of the container's own: created with it (holding what the image has at the
    /// target), labelled like it, removed with it. Files written there skip the storage
    /// driver's copy-on-write layer, which makes unpacking many files several times faster.
    Scratch {
        /// The absolute path inside the container.
        target: String,
    },
    /// An in-memory filesystem.
    Tmpfs {
        /// The absolute path inside the container.
        target: String,
        /// The size limit in bytes, if any.
        size_bytes: Option<u64>,
        /// Files in it may be executed (engines mount tmpfs `noexec` unless told).
        executable: bool,
    },
}

impl Mount {
    /// The path inside the container.
    pub fn target(&self) -> &str {
        match self {
            Mount::Volume { target, .. }
            | Mount::Bind { target, .. }
            | Mount::Scratch { target }
            | Mount::Tmpfs { target, .. } => target,
        }
    }

    fn validate(&self) -> Result<()> {
        let absolute = |path: &str, what: &str| {
            if path.starts_with('/') && !path.split('/').any(|c| c == "..") && !path.contains('\0')
            {
                Ok(())
            } else {
                Err(Error::invalid(
                    "mount",
                    format!(
                        "{what} `{}` must be an absolute path without `..`",
                        path.escape_debug()
                    ),
                ))
            }
        };
        absolute(self.target(), "target")?;
        match self {
            Mount::Bind { source, .. } => absolute(source, "source"),
            Mount::Volume { name, .. } => name
                .parse::<ContainerName>()
                .map(drop)
                .map_err(|e| Error::invalid("volume name", e.to_string())),
            Mount::Scratch { .. } | Mount::Tmpfs { .. } => Ok(()),
        }
    }
}

/// Resource limits.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Resources {
    /// The memory limit in bytes.
    pub memory_bytes: Option<u64>,
    /// The CPU limit in billionths of a CPU.
    pub nano_cpus: Option<u64>,
    /// The most processes and threads the container may hold.
    pub pids_limit: Option<u64>,
}

/// How much privilege a container gets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PrivilegeProfile {
    /// The engine's default (unprivileged) profile.
    #[default]
    Default,
    /// `--privileged`: every capability, every device, no seccomp or AppArmor.
    Privileged,
    /// An explicit set of capabilities and security options.
    Capabilities(CapabilityProfile),
}

/// Capabilities and security options granted instead of `--privileged`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct CapabilityProfile {
    /// Capabilities to add (`ALL` for all).
    pub cap_add: Vec<String>,
    /// Capabilities to drop.
    pub cap_drop: Vec<String>,
    /// Security options, e.g. `seccomp=unconfined`.
    pub security_opt: Vec<String>,
    /// Clear the engine's masked and read-only paths (as `--privileged` does).
    pub unmask_paths: bool,
    /// Device cgroup rules, e.g. `a *:* rwm`.
    pub device_cgroup_rules: Vec<String>,
}

impl CapabilityProfile {
    /// The closest profile to `--privileged` that starts on hosts whose bounding set lacks
    /// `CAP_SYS_RESOURCE`: every capability but that one, no seccomp, AppArmor or SELinux
    /// labels, no masked paths, access to every device.
    pub fn near_privileged() -> Self {
        Self {
            cap_add: vec!["ALL".into()],
            cap_drop: vec!["SYS_RESOURCE".into()],
            security_opt: vec![
                "seccomp=unconfined".into(),
                "apparmor=unconfined".into(),
                "label=disable".into(),
            ],
            unmask_paths: true,
            device_cgroup_rules: vec!["a *:* rwm".into()],
        }
    }
}

/// A network to join at creation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct NetworkAttachment {
    /// The network's name or id.
    pub network: String,
    /// Names other containers on the network resolve to this one.
    pub aliases: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ContainerSpec {
        ContainerSpec::new("busybox:1".parse().unwrap())
    }

    #[test]
    fn a_plain_spec_is_valid() {
        let spec = spec()
            .with_cmd(["sleep", "60"])
            .with_env("A", "1")
            .with_port(PortBinding::loopback(3000, Some(10000)))
            .with_mount(Mount::Volume {
                name: "me-app-node_modules".into(),
                target: "/app/node_modules".into(),
                read_only: false,
            })
            .with_memory_limit(512 * 1024 * 1024);
        spec.validate().unwrap();
    }

    #[test]
    fn rejects_bad_env_keys_mounts_ports_and_limits() {
        let cases = [
            spec().with_env("A=B", "1"),
            spec().with_env("", "1"),
            spec().with_env("1ST", "1"),
            spec().with_env("MY-VAR", "1"),
            spec().with_env("A B", "1"),
            spec().with_mount(Mount::Tmpfs {
                target: "relative".into(),
                size_bytes: None,
                executable: false,
            }),
            spec().with_mount(Mount::Bind {
                source: "/etc/../root".into(),
                target: "/x".into(),
                read_only: true,
            }),
            spec().with_mount(Mount::Volume {
                name: "../evil".into(),
                target: "/x".into(),
                read_only: false,
            }),
            spec().with_port(PortBinding::loopback(0, None)),
            spec().with_memory_limit(1024),
        ];
        for case in cases {
            let err = case.validate().unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Invalid, "{err}");
        }
    }

    #[test]
    fn portable_env_keys_are_accepted() {
        for key in ["PATH", "_private", "NODE_ENV", "a1_B2"] {
            validate_env_key(key).unwrap();
        }
    }

    #[test]
    fn near_privileged_drops_only_sys_resource() {
        let profile = CapabilityProfile::near_privileged();
        assert_eq!(profile.cap_add, ["ALL"]);
        assert_eq!(profile.cap_drop, ["SYS_RESOURCE"]);
        assert!(profile.unmask_paths);
    }
}
