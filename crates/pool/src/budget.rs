//! Capacity admission by memory: every pooled or handed-out container counts its memory
//! limit against one budget, and nothing is created beyond it.

use slipway_core::Error;

const MIB: f64 = (1u64 << 20) as f64;
const GIB: f64 = (1u64 << 30) as f64;

/// Where the memory budget comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryBudget {
    /// The engine's total memory minus this much headroom for the host (default: 2 GiB).
    EngineTotalMinus(u64),
    /// A fixed number of bytes.
    Fixed(u64),
}

impl Default for MemoryBudget {
    fn default() -> Self {
        MemoryBudget::EngineTotalMinus(2 << 30)
    }
}

impl MemoryBudget {
    /// The budget in bytes on an engine with `total` bytes of memory.
    pub fn resolve(self, total: u64) -> u64 {
        match self {
            MemoryBudget::EngineTotalMinus(headroom) => total.saturating_sub(headroom),
            MemoryBudget::Fixed(bytes) => bytes,
        }
    }
}

/// Bytes in use against a limit.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    limit: u64,
    used: u64,
    containers: usize,
}

pub(crate) fn human(bytes: u64) -> String {
    let bytes = bytes as f64;
    if bytes >= GIB {
        format!("{:.1} GiB", bytes / GIB)
    } else {
        format!("{:.0} MiB", bytes / MIB)
    }
}

impl Budget {
    pub(crate) fn new(limit: u64) -> Self {
        Self {
            limit,
            used: 0,
            containers: 0,
        }
    }

    /// Takes `bytes` from the budget, or says how much is used and free.
    pub(crate) fn reserve(&mut self, bytes: u64) -> Result<(), Error> {
        if self.used.saturating_add(bytes) > self.limit {
            return Err(Error::CapacityExceeded(format!(
                "memory budget exhausted: a container needs {} but {} of {} is in use by {} containers ({} free)",
                human(bytes),
                human(self.used),
                human(self.limit),
                self.containers,
                human(self.limit.saturating_sub(self.used))
            )));
        }
        self.used += bytes;
        self.containers += 1;
        Ok(())
    }

    /// Counts `bytes` that are in use already (a container found at start-up), even past the
    /// limit: admission then refuses new work until enough is released.
    pub(crate) fn occupy(&mut self, bytes: u64) {
        self.used = self.used.saturating_add(bytes);
        self.containers += 1;
    }

    /// Gives `bytes` back.
    pub(crate) fn release(&mut self, bytes: u64) {
        self.used = self.used.saturating_sub(bytes);
        self.containers = self.containers.saturating_sub(1);
    }

    /// Whether `bytes` more would fit.
    pub(crate) fn fits(&self, bytes: u64) -> bool {
        self.used.saturating_add(bytes) <= self.limit
    }

    pub(crate) fn used(&self) -> u64 {
        self.used
    }

    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use slipway_core::ErrorKind;

    use super::*;

    #[test]
    fn the_seed_capacity_table_holds_for_a_16_gib_host() {
        let limit = MemoryBudget::default().resolve(16 << 30);
        for (per, expected) in [(512u64 << 20, 28), (1 << 30, 14), (2 << 30, 7)] {
            let mut budget = Budget::new(limit);
            let mut fitted = 0;
            while budget.reserve(per).is_ok() {
                fitted += 1;
            }
            assert_eq!(fitted, expected, "{} per container", human(per));
        }
    }

    #[test]
    fn an_exhausted_budget_says_what_is_used_and_free() {
        let mut budget = Budget::new(1 << 30);
        budget.reserve(768 << 20).unwrap();
        let err = budget.reserve(512 << 20).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::CapacityExceeded);
        assert_eq!(
            err.to_string(),
            "capacity exceeded: memory budget exhausted: a container needs 512 MiB but 768 MiB of 1.0 GiB \
             is in use by 1 containers (256 MiB free)"
        );
        budget.release(768 << 20);
        budget.reserve(512 << 20).unwrap();
    }
}
