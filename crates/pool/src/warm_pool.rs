//! [`WarmPool`]: the pool's handle; releases, status, fill, drain and shutdown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use slipway_core::prelude::*;
use slipway_core::{Error, ErrorKind, Lease, Pool, PoolConfig, PoolKey, PoolReport, Result};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::adopt::Reconciled;
use crate::builder::WarmPoolBuilder;
use crate::config::PoolSettings;
use crate::inner::Inner;
use crate::state::{KeyState, Member};

/// Warm containers per [`PoolKey`], handed out by [`Pool::claim`] in about a millisecond and
/// refilled by a background task the pool owns. See the crate docs for the full behaviour.
#[derive(Clone)]
pub struct WarmPool {
    pub(crate) inner: Arc<Inner>,
    pub(crate) reconciled: Reconciled,
    pub(crate) tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// Stops the background tasks when the last handle goes (they hold `inner`, not this).
    pub(crate) _stop_on_drop: Arc<StopOnDrop>,
}

pub(crate) struct StopOnDrop(pub(crate) CancellationToken);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl WarmPool {
    /// Starts configuring a pool over `runtime` and `store`.
    pub fn builder(runtime: Arc<dyn Runtime>, store: Arc<dyn Store>) -> WarmPoolBuilder {
        WarmPoolBuilder {
            runtime,
            store,
            pools: Vec::new(),
            settings: PoolSettings::default(),
        }
    }

    /// What this pool found of an earlier run when it started, and what it did with it.
    pub fn reconciled(&self) -> Reconciled {
        self.reconciled
    }

    /// The keys of the configured pools, in order.
    pub fn keys(&self) -> Vec<PoolKey> {
        self.inner.lock().keys.keys().cloned().collect()
    }

    /// The memory budget and how much of it is in use, in bytes.
    pub fn memory(&self) -> (u64, u64) {
        let state = self.inner.lock();
        (state.budget.used(), state.budget.limit())
    }

    /// Stops the background tasks, waiting at most `timeout`; containers stay for the next
    /// start to adopt.
    pub async fn shutdown(&self, timeout: Duration) -> Result<()> {
        self.inner.cancel.cancel();
        let tasks: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        let aborts: Vec<_> = tasks.iter().map(JoinHandle::abort_handle).collect();
        let joined = tokio::time::timeout(timeout, futures_util::future::join_all(tasks)).await;
        if joined.is_err() {
            aborts.iter().for_each(tokio::task::AbortHandle::abort);
            return Err(Error::Timeout {
                operation: "stopping the pool's background tasks".into(),
                after: timeout,
            });
        }
        Ok(())
    }
}

#[async_trait]
impl Pool for WarmPool {
    async fn ensure_pool(&self, config: PoolConfig) -> Result<PoolKey> {
        config.validate()?;
        let key = config.key();
        let added = {
            let mut state = self.inner.lock();
            let absent = !state.keys.contains_key(&key);
            if absent {
                state.keys.insert(key.clone(), KeyState::new(config));
            }
            absent
        };
        if added {
            self.inner.wake.notify_one();
        }
        Ok(key)
    }

    async fn claim(&self, key: &PoolKey, holder: &str) -> Result<Lease> {
        self.claim_for(key, holder, false).await
    }

    async fn claim_fresh(&self, key: &PoolKey, holder: &str) -> Result<Lease> {
        self.claim_for(key, holder, true).await
    }

    async fn release(&self, lease: &Lease) -> Result<()> {
        let member = Member {
            id: lease.container_id.clone(),
            name: lease.container_name.clone(),
            ports: lease.ports.clone(),
            memory_bytes: lease.memory_bytes,
        };
        self.inner.destroy_member(&member).await?;
        self.inner.store.remove_claim(&lease.container_id).await?;
        let mut state = self.inner.lock();
        if state.claimed.remove(&lease.container_id).is_some() {
            state.budget.release(lease.memory_bytes);
        }
        drop(state);
        self.inner.wake.notify_one();
        self.inner.bump();
        Ok(())
    }

    async fn status(&self) -> Result<PoolReport> {
        let state = self.inner.lock();
        Ok(PoolReport {
            memory_used_bytes: state.budget.used(),
            memory_budget_bytes: state.budget.limit(),
            pools: state.status(),
        })
    }

    async fn fill(&self, key: &PoolKey) -> Result<()> {
        let mut changes = self.inner.changed.subscribe();
        if let Some(state) = self.inner.lock().keys.get_mut(key) {
            state.paused = false;
            // An explicit fill tries now, whatever the backoff says.
            state.retry_at = None;
        }
        self.inner.wake.notify_one();
        loop {
            {
                let state = self.inner.lock();
                let key_state = state
                    .keys
                    .get(key)
                    .ok_or_else(|| Error::not_found(format!("pool `{key}`")))?;
                let target = key_state.config.target_size;
                if key_state.ready.len() >= target {
                    return Ok(());
                }
                // Retrying does not bring back a missing image or fix a bad spec.
                let permanent = matches!(
                    key_state.last_error_kind,
                    Some(ErrorKind::NotFound | ErrorKind::Invalid)
                );
                if key_state.degraded || permanent {
                    return Err(Error::Unavailable {
                        endpoint: format!("pool `{key}`"),
                        reason: key_state
                            .last_error
                            .clone()
                            .unwrap_or_else(|| "refill keeps failing".into()),
                    });
                }
                let short = target - key_state.ready.len();
                if key_state.creating < short && !state.budget.fits(key_state.memory_bytes()) {
                    return Err(Error::CapacityExceeded(format!(
                        "pool `{key}` can't reach {target} ready containers: the memory budget is full"
                    )));
                }
            }
            if changes.changed().await.is_err() {
                return Err(Error::Unavailable {
                    endpoint: format!("pool `{key}`"),
                    reason: "the pool is shut down".into(),
                });
            }
        }
    }

    async fn drain(&self) -> Result<usize> {
        let drained: Vec<Member> = {
            let mut state = self.inner.lock();
            let state = &mut *state;
            let mut drained = Vec::new();
            for key_state in state.keys.values_mut() {
                key_state.paused = true;
                drained.extend(key_state.ready.drain(..));
            }
            for member in &drained {
                state.budget.release(member.memory_bytes);
            }
            drained
        };
        let mut first_error = None;
        for member in &drained {
            if let Err(e) = self.inner.destroy_member(member).await {
                first_error.get_or_insert(e);
            }
        }
        self.inner.bump();
        match first_error {
            Some(e) => Err(e),
            None => Ok(drained.len()),
        }
    }
}
