//! The [`Pool`] trait: warm containers handed out on request.

use async_trait::async_trait;

use crate::container::PublishedPort;
use crate::ids::ContainerId;
use crate::names::ImageRef;
use crate::pool_key::PoolKey;
use crate::spec::ContainerSpec;
use crate::time::Timestamp;
use crate::Result;

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
    /// Who it was handed to (an environment id), so recovery can tell a claim whose holder
    /// never got recorded.
    #[serde(default)]
    pub holder: String,
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
    /// The image its containers run.
    pub image: ImageRef,
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

/// Every pool's state and the memory budget they share.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PoolReport {
    /// Memory counted against the budget: pooled and handed-out containers.
    pub memory_used_bytes: u64,
    /// The budget.
    pub memory_budget_bytes: u64,
    /// Each pool, by key.
    pub pools: Vec<PoolStatus>,
}

/// Warm containers handed out on request and refilled in the background.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Pool: Send + Sync {
    /// Adds a pool if none with the same key exists yet; returns its key.
    async fn ensure_pool(&self, config: PoolConfig) -> Result<PoolKey>;
    /// Hands out a ready container of `key` to `holder`, or creates one if none is ready.
    async fn claim(&self, key: &PoolKey, holder: &str) -> Result<Lease>;
    /// Creates a container of `key` for `holder` even when ready ones wait (a caller that
    /// asked for a fresh one); counted as a miss.
    async fn claim_fresh(&self, key: &PoolKey, holder: &str) -> Result<Lease>;
    /// Gives a claimed container back; it is removed, never reused.
    async fn release(&self, lease: &Lease) -> Result<()>;
    /// Every pool's state and the memory budget.
    async fn status(&self) -> Result<PoolReport>;
    /// Creates containers until `key`'s pool reaches its target.
    async fn fill(&self, key: &PoolKey) -> Result<()>;
    /// Removes every unclaimed container; how many were removed.
    async fn drain(&self) -> Result<usize>;
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
