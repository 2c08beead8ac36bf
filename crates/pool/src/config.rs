//! How the pool as a whole behaves ([`PoolConfig`](slipway_core::PoolConfig), one pool's
//! spec and sizes, lives in core).

use std::time::Duration;

use slipway_core::PortRange;

use crate::budget::MemoryBudget;

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
    /// At start, an unclaimed pooled container whose pool is not configured is removed once
    /// its creator process is gone, or once it is this old whoever created it.
    pub stray_grace: Duration,
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
            stray_grace: Duration::from_secs(10 * 60),
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
