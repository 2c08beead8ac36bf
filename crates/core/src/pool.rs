//! The [`Pool`] trait: warm containers handed out on request.

use std::fmt;

use async_trait::async_trait;

use crate::container::PublishedPort;
use crate::ids::ContainerId;
use crate::spec::{ContainerSpec, Mount, PrivilegeProfile};
use crate::time::Timestamp;
use crate::Result;

/// Identifies interchangeable containers: a hash of everything in a [`ContainerSpec`] that is
/// fixed at creation (image, exposed ports, limits, mounts, env, privilege) — not the name,
/// labels or host ports, which differ per container.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct PoolKey(String);

impl PoolKey {
    /// The key of containers created from `spec`.
    pub fn for_spec(spec: &ContainerSpec) -> Self {
        let mut canonical = String::new();
        let mut field = |name: &str, value: &dyn fmt::Debug| {
            canonical.push_str(&format!("{name}={value:?};"));
        };
        field("image", &spec.image.as_str());
        field("cmd", &spec.cmd);
        field("entrypoint", &spec.entrypoint);
        field("env", &spec.env);
        let mut ports: Vec<_> = spec
            .ports
            .iter()
            .map(|p| (p.container_port, p.host_ip))
            .collect();
        ports.sort();
        field("ports", &ports);
        let mut mounts: Vec<&Mount> = spec.mounts.iter().collect();
        mounts.sort_by(|a, b| a.target().cmp(b.target()));
        field("mounts", &mounts);
        field("resources", &spec.resources);
        field("privilege", &privilege_name(&spec.privilege));
        field("network", &spec.network);
        field("working_dir", &spec.working_dir);
        field("user", &spec.user);
        field("init", &spec.init);
        field("tty", &spec.tty);
        Self(format!("{:016x}", fnv1a(canonical.as_bytes())))
    }

    /// Wraps a key read back from a label or the store.
    pub fn from_hash(hash: impl Into<String>) -> Self {
        Self(hash.into())
    }

    /// The key as it appears in labels.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PoolKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn privilege_name(profile: &PrivilegeProfile) -> String {
    format!("{profile:?}")
}

/// 64-bit FNV-1a: stable across builds and platforms, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The memory limit a pooled container gets when its spec sets none.
pub const DEFAULT_POOL_MEMORY_BYTES: u64 = 512 << 20;

/// One pool: the spec its containers are created from and how many to keep.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PoolConfig {
    /// The template. Its name is ignored (each container gets its own); each port binding's
    /// host port is ignored too: host ports come from the pool's port range.
    pub spec: ContainerSpec,
    /// Ready containers to aim for (default 3).
    pub target_size: usize,
    /// Below this many ready, refill starts at once after a claim (default 1).
    pub min_size: usize,
    /// At most this many refill creations at a time (default 2).
    pub max_creating: usize,
}

impl PoolConfig {
    /// A pool of `spec` with the defaults 3 / 1 / 2 and, if the spec has none, a 512 MiB
    /// memory limit (capacity admission needs one).
    pub fn new(mut spec: ContainerSpec) -> Self {
        if spec.resources.memory_bytes.is_none() {
            spec.resources.memory_bytes = Some(DEFAULT_POOL_MEMORY_BYTES);
        }
        Self {
            spec,
            target_size: 3,
            min_size: 1,
            max_creating: 2,
        }
    }

    /// Sets how many ready containers to keep.
    pub fn with_target_size(mut self, target: usize) -> Self {
        self.target_size = target;
        self
    }

    /// Sets the urgent-refill threshold.
    pub fn with_min_size(mut self, min: usize) -> Self {
        self.min_size = min;
        self
    }

    /// Sets how many containers refill creates at once.
    pub fn with_max_creating(mut self, max: usize) -> Self {
        self.max_creating = max;
        self
    }

    /// The key claims use to ask for this pool's containers.
    pub fn key(&self) -> PoolKey {
        PoolKey::for_spec(&self.spec)
    }

    /// The memory each container counts against the budget.
    pub fn memory_bytes(&self) -> u64 {
        self.spec
            .resources
            .memory_bytes
            .unwrap_or(DEFAULT_POOL_MEMORY_BYTES)
    }

    /// Checks the spec and that the sizes are consistent.
    pub fn validate(&self) -> Result<()> {
        self.spec.validate()?;
        let problem = if self.min_size > self.target_size {
            Some(format!(
                "min_size {} is above target_size {}",
                self.min_size, self.target_size
            ))
        } else if self.max_creating == 0 {
            Some("max_creating must be at least 1".to_owned())
        } else if self.target_size > 1000 {
            Some(format!("target_size {} is above 1000", self.target_size))
        } else {
            None
        };
        match problem {
            Some(reason) => Err(crate::Error::invalid("pool config", reason)),
            None => Ok(()),
        }
    }
}

/// A container handed out by a pool.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Lease {
    /// The pool it came from.
    pub key: PoolKey,
    /// The container.
    pub container_id: ContainerId,
    /// The container's name.
    pub container_name: String,
    /// Its published ports.
    pub ports: Vec<PublishedPort>,
    /// Its memory limit, in bytes (what it counts against the memory budget).
    pub memory_bytes: u64,
    /// Whether it was warm (a hit) or created on demand (a miss).
    pub warm: bool,
    /// When it was handed out.
    pub claimed_at: Timestamp,
}

impl Lease {
    /// The host port `container_port` is published on.
    pub fn host_port(&self, container_port: u16) -> Option<u16> {
        self.ports
            .iter()
            .find(|p| p.container_port == container_port)
            .map(|p| p.host_port)
    }
}

/// A pool's state.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PoolStatus {
    /// The pool.
    pub key: PoolKey,
    /// Containers ready to hand out.
    pub ready: usize,
    /// Containers being created.
    pub creating: usize,
    /// Containers handed out and not yet released.
    pub claimed: usize,
    /// How many ready containers the pool aims for.
    pub target: usize,
    /// Whether refilling keeps failing.
    pub degraded: bool,
    /// The last refill error.
    pub last_error: Option<String>,
    /// Claims served warm.
    pub hits: u64,
    /// Claims served by a cold create.
    pub misses: u64,
    /// Claim latency, median, in milliseconds.
    pub claim_p50_ms: Option<f64>,
    /// Claim latency, 99th percentile, in milliseconds.
    pub claim_p99_ms: Option<f64>,
}

/// Warm containers handed out on request and refilled in the background.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Pool: Send + Sync {
    /// Adds a pool if none with the same key exists yet; returns its key.
    async fn ensure_pool(&self, config: PoolConfig) -> Result<PoolKey>;
    /// Hands out a ready container of `key`, or creates one if none is ready.
    async fn claim(&self, key: &PoolKey) -> Result<Lease>;
    /// Gives a claimed container back; it is removed, never reused.
    async fn release(&self, lease: &Lease) -> Result<()>;
    /// Every pool's state.
    async fn status(&self) -> Result<Vec<PoolStatus>>;
    /// Creates containers until `key`'s pool reaches its target.
    async fn fill(&self, key: &PoolKey) -> Result<()>;
    /// Removes every unclaimed container; how many were removed.
    async fn drain(&self) -> Result<usize>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::PortBinding;

    fn spec() -> ContainerSpec {
        ContainerSpec::new("node:1".parse().unwrap())
            .with_port(PortBinding::loopback(3000, None))
            .with_memory_limit(512 << 20)
    }

    #[test]
    fn key_ignores_names_labels_and_host_ports() {
        let a = spec().with_name("a1".parse().unwrap());
        let mut b = spec().with_name("b1".parse().unwrap());
        b.labels.insert("x".into(), "y".into());
        b.ports[0].host_port = Some(10001);
        assert_eq!(PoolKey::for_spec(&a), PoolKey::for_spec(&b));
    }

    #[test]
    fn key_changes_with_image_memory_env_and_mounts() {
        let base = PoolKey::for_spec(&spec());
        assert_ne!(base, PoolKey::for_spec(&spec().with_memory_limit(1 << 30)));
        assert_ne!(base, PoolKey::for_spec(&spec().with_env("A", "1")));
        let other_image = ContainerSpec {
            image: "node:2".parse().unwrap(),
            ..spec()
        };
        assert_ne!(base, PoolKey::for_spec(&other_image));
        let with_volume = spec().with_mount(Mount::Volume {
            name: "v1".into(),
            target: "/app/node_modules".into(),
            read_only: false,
        });
        assert_ne!(base, PoolKey::for_spec(&with_volume));
    }

    #[test]
    fn pool_configs_default_to_the_design_and_check_their_sizes() {
        let config = PoolConfig::new(ContainerSpec::new("busybox:1".parse().unwrap()));
        assert_eq!(
            (config.target_size, config.min_size, config.max_creating),
            (3, 1, 2)
        );
        assert_eq!(config.memory_bytes(), 512 << 20);
        config.validate().unwrap();
        assert!(config.clone().with_min_size(4).validate().is_err());
        assert!(config.clone().with_max_creating(0).validate().is_err());
        assert!(config.with_target_size(5000).validate().is_err());
    }

    #[test]
    fn key_is_stable_across_runs() {
        assert_eq!(PoolKey::for_spec(&spec()).as_str().len(), 16);
        assert_eq!(PoolKey::for_spec(&spec()), PoolKey::for_spec(&spec()));
    }
}
