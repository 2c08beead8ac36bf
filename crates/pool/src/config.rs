//! What a pool holds and how it behaves.

use std::time::Duration;

use slipway_core::{ContainerSpec, Error, PoolKey, PortRange, Result};

use crate::budget::MemoryBudget;

/// The memory limit a pooled container gets when its spec sets none.
pub const DEFAULT_MEMORY_BYTES: u64 = 512 << 20;

/// One pool: the spec its containers are created from and how many to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// The template. Its name is ignored (each container gets its own); each port binding's
    /// host port is ignored too: host ports come from the pool's [`PortRange`].
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
            spec.resources.memory_bytes = Some(DEFAULT_MEMORY_BYTES);
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
            .unwrap_or(DEFAULT_MEMORY_BYTES)
    }

    pub(crate) fn validate(&self) -> Result<()> {
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
            Some(reason) => Err(Error::invalid("pool config", reason)),
            None => Ok(()),
        }
    }
}

/// How the pool as a whole behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSettings {
    /// The memory budget all pooled and handed-out containers share.
    pub budget: MemoryBudget,
    /// Host ports for published container ports (default 10000–20000).
    pub port_range: PortRange,
    /// The first wait after a failed refill; doubles per consecutive failure.
    pub backoff_base: Duration,
    /// The longest wait between refill attempts.
    pub backoff_max: Duration,
    /// After this many consecutive failures a pool is reported degraded.
    pub degrade_after: u32,
    /// After a claim that leaves at least `min_size` ready, refill waits this long so a burst
    /// of claims is not slowed by creations competing for the engine.
    pub refill_delay: Duration,
    /// Inspect a ready container before handing it out (never hand out a dead one).
    pub verify_on_claim: bool,
    /// Keep pools filled in the background (off for one-shot tools that only look or drain).
    pub refill: bool,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            budget: MemoryBudget::default(),
            port_range: PortRange::DEFAULT,
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            degrade_after: 5,
            refill_delay: Duration::from_millis(100),
            verify_on_claim: true,
            refill: true,
        }
    }
}

impl PoolSettings {
    /// The wait before the next refill attempt after `failures` consecutive failures.
    pub(crate) fn backoff(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
        self.backoff_base
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> PoolConfig {
        PoolConfig::new(ContainerSpec::new("busybox:1".parse().unwrap()))
    }

    #[test]
    fn defaults_follow_the_design() {
        let config = config();
        assert_eq!(
            (config.target_size, config.min_size, config.max_creating),
            (3, 1, 2)
        );
        assert_eq!(config.memory_bytes(), 512 << 20);
        config.validate().unwrap();
    }

    #[test]
    fn inconsistent_sizes_are_invalid() {
        assert!(config().with_min_size(4).validate().is_err());
        assert!(config().with_max_creating(0).validate().is_err());
        assert!(config()
            .with_target_size(5000)
            .with_min_size(1)
            .validate()
            .is_err());
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let settings = PoolSettings::default();
        let waits: Vec<_> = (1..=9).map(|n| settings.backoff(n).as_millis()).collect();
        assert_eq!(
            waits,
            [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]
        );
    }
}
