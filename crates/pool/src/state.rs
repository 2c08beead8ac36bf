//! The pool's bookkeeping, guarded by one mutex that is never held across an `.await`.

use std::collections::{BTreeMap, HashMap, VecDeque};

use slipway_core::{
    ContainerId, ContainerSpec, ErrorKind, Lease, PoolConfig, PoolKey, PoolStatus, PublishedPort,
};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::budget::Budget;

/// How many claim latencies each key remembers for its percentiles.
const LATENCY_WINDOW: usize = 1024;

/// A running pooled container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) id: ContainerId,
    pub(crate) name: String,
    pub(crate) ports: Vec<PublishedPort>,
    pub(crate) memory_bytes: u64,
}

/// What a claim waiting for an in-flight creation receives: the container, or `None` when
/// that creation failed and the claim should try again by itself.
pub(crate) type Delivery = oneshot::Sender<Option<Member>>;

/// One pool.
pub(crate) struct KeyState {
    pub(crate) config: PoolConfig,
    pub(crate) ready: VecDeque<Member>,
    /// Creations in flight (refill or cold claims' own creations are not counted here).
    pub(crate) creating: usize,
    /// In-flight creations already promised to waiting claims (`promised <= creating`).
    pub(crate) promised: usize,
    pub(crate) waiters: VecDeque<Delivery>,
    pub(crate) failures: u32,
    pub(crate) degraded: bool,
    pub(crate) last_error: Option<String>,
    /// The kind of the last error, to tell retryable failures from permanent ones.
    pub(crate) last_error_kind: Option<ErrorKind>,
    pub(crate) retry_at: Option<Instant>,
    pub(crate) last_claim: Option<Instant>,
    /// Set by `drain`, cleared by `fill`: no automatic refill meanwhile.
    pub(crate) paused: bool,
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    latencies_ms: VecDeque<f64>,
}

impl KeyState {
    pub(crate) fn new(config: PoolConfig) -> Self {
        Self {
            config,
            ready: VecDeque::new(),
            creating: 0,
            promised: 0,
            waiters: VecDeque::new(),
            failures: 0,
            degraded: false,
            last_error: None,
            last_error_kind: None,
            retry_at: None,
            last_claim: None,
            paused: false,
            hits: 0,
            misses: 0,
            latencies_ms: VecDeque::new(),
        }
    }

    pub(crate) fn spec(&self) -> &ContainerSpec {
        &self.config.spec
    }

    pub(crate) fn memory_bytes(&self) -> u64 {
        self.config.memory_bytes()
    }

    /// Records a served claim.
    pub(crate) fn record_claim(&mut self, warm: bool, latency_ms: f64) {
        if warm {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        if self.latencies_ms.len() == LATENCY_WINDOW {
            self.latencies_ms.pop_front();
        }
        self.latencies_ms.push_back(latency_ms);
    }

    fn percentile(&self, p: f64) -> Option<f64> {
        if self.latencies_ms.is_empty() {
            return None;
        }
        let mut sorted: Vec<f64> = self.latencies_ms.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        Some(sorted[rank.clamp(1, sorted.len()) - 1])
    }

    /// Hands a freshly created container to the first claim waiting for one, or keeps it
    /// ready. Returns the container back when nobody wants it and the pool is paused.
    pub(crate) fn deliver(&mut self, mut member: Member) -> Option<Member> {
        self.creating = self.creating.saturating_sub(1);
        while let Some(waiter) = self.waiters.pop_front() {
            self.promised = self.promised.saturating_sub(1);
            match waiter.send(Some(member)) {
                Ok(()) => return None,
                // That claim gave up; offer the container to the next one.
                Err(Some(returned)) => member = returned,
                Err(None) => return None,
            }
        }
        if self.paused {
            return Some(member);
        }
        self.ready.push_back(member);
        None
    }

    /// An in-flight creation failed: one promised claim must now fend for itself.
    pub(crate) fn creation_failed(&mut self) {
        self.creating = self.creating.saturating_sub(1);
        if self.promised > self.creating {
            self.promised -= 1;
            if let Some(waiter) = self.waiters.pop_front() {
                let _ = waiter.send(None);
            }
        }
    }
}

/// Everything the pool knows, under one lock.
pub(crate) struct PoolState {
    pub(crate) keys: BTreeMap<PoolKey, KeyState>,
    /// Containers handed out and not given back, by id.
    pub(crate) claimed: HashMap<ContainerId, Lease>,
    pub(crate) budget: Budget,
}

impl PoolState {
    pub(crate) fn status(&self) -> Vec<PoolStatus> {
        self.keys
            .iter()
            .map(|(key, state)| PoolStatus {
                key: key.clone(),
                image: state.spec().image.clone(),
                ready: state.ready.len(),
                creating: state.creating,
                claimed: self
                    .claimed
                    .values()
                    .filter(|lease| &lease.key == key)
                    .count(),
                target: state.config.target_size,
                degraded: state.degraded,
                last_error: state.last_error.clone(),
                hits: state.hits,
                misses: state.misses,
                claim_p50_ms: state.percentile(50.0),
                claim_p99_ms: state.percentile(99.0),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(n: u8) -> Member {
        Member {
            id: ContainerId::new(format!("c{n}")),
            name: format!("m{n}"),
            ports: vec![],
            memory_bytes: 1,
        }
    }

    fn state() -> KeyState {
        KeyState::new(PoolConfig::new(ContainerSpec::new(
            "busybox:1".parse().unwrap(),
        )))
    }

    #[test]
    fn a_delivery_goes_to_the_first_live_waiter_then_to_ready() {
        let mut state = state();
        state.creating = 2;
        state.promised = 2;
        let (gone, dropped) = oneshot::channel();
        drop(dropped);
        let (live, mut receiver) = oneshot::channel();
        state.waiters.extend([gone, live]);
        assert_eq!(state.deliver(member(1)), None);
        assert_eq!(receiver.try_recv().unwrap(), Some(member(1)));
        assert_eq!((state.creating, state.promised), (1, 0));
        assert_eq!(state.deliver(member(2)), None);
        assert_eq!(state.ready.len(), 1);
    }

    #[test]
    fn a_failed_creation_releases_one_promised_waiter() {
        let mut state = state();
        state.creating = 1;
        state.promised = 1;
        let (waiter, mut receiver) = oneshot::channel();
        state.waiters.push_back(waiter);
        state.creation_failed();
        assert_eq!(receiver.try_recv().unwrap(), None);
        assert_eq!((state.creating, state.promised), (0, 0));
    }

    #[test]
    fn a_paused_pool_hands_back_what_nobody_waits_for() {
        let mut state = state();
        state.paused = true;
        state.creating = 1;
        assert_eq!(state.deliver(member(1)), Some(member(1)));
        assert!(state.ready.is_empty());
    }

    #[test]
    fn percentiles_cover_recent_claims() {
        let mut state = state();
        for ms in 1..=100 {
            state.record_claim(ms % 2 == 0, f64::from(ms));
        }
        assert_eq!(state.percentile(50.0), Some(50.0));
        assert_eq!(state.percentile(99.0), Some(99.0));
        assert_eq!((state.hits, state.misses), (50, 50));
    }
}
