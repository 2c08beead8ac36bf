//! [`WarmPool`]: claims, releases, status, fill, drain and shutdown.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use slipway_core::prelude::*;
use slipway_core::{
    ContainerInfo, Error, ErrorKind, InstanceId, Lease, Pool, PoolConfig, PoolKey, PoolReport,
    Result, Timestamp,
};
use tokio::sync::{oneshot, watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::budget::Budget;
use crate::config::PoolSettings;
use crate::ports::PortAllocator;
use crate::state::{KeyState, Member, PoolState};

/// What the pool's tasks share.
pub(crate) struct Inner {
    pub(crate) runtime: Arc<dyn Runtime>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) ports: PortAllocator,
    pub(crate) settings: PoolSettings,
    pub(crate) instance: InstanceId,
    state: Mutex<PoolState>,
    /// Wakes the refill loop.
    pub(crate) wake: Notify,
    /// Bumped on every change that `fill` may be waiting for.
    changed: watch::Sender<u64>,
    pub(crate) cancel: CancellationToken,
}

/// Warm containers per [`PoolKey`], handed out by [`Pool::claim`] in about a millisecond and
/// refilled by a background task the pool owns. See the crate docs for the full behaviour.
#[derive(Clone)]
pub struct WarmPool {
    inner: Arc<Inner>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// Stops the background tasks when the last handle goes (they hold `inner`, not this).
    _stop_on_drop: Arc<StopOnDrop>,
}

struct StopOnDrop(CancellationToken);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Builds a [`WarmPool`]; finish with [`WarmPoolBuilder::start`].
pub struct WarmPoolBuilder {
    runtime: Arc<dyn Runtime>,
    store: Arc<dyn Store>,
    pools: Vec<PoolConfig>,
    settings: PoolSettings,
}

/// How a claim gets its container.
enum Source {
    Ready(Member),
    InFlight(oneshot::Receiver<Option<Member>>),
    Cold {
        spec: Box<slipway_core::ContainerSpec>,
        memory: u64,
    },
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

    async fn take_ready(&self, key: &PoolKey, member: Member) -> Result<Option<Member>> {
        if !self.inner.settings.verify_on_claim {
            return Ok(Some(member));
        }
        match self.inner.runtime.inspect_container(&member.id).await {
            Ok(ContainerInfo { state, .. }) if state.is_running() => Ok(Some(member)),
            Ok(_) | Err(Error::NotFound { .. }) => {
                tracing::info!(container = %member.id, "a ready container had died; evicting it");
                self.inner.evict(key, member).await;
                Ok(None)
            }
            Err(e) => {
                self.inner.return_ready(key, member);
                Err(e)
            }
        }
    }

    /// Records the hand-out; `Ok(None)` when another process already claimed the container.
    async fn hand_out(
        &self,
        key: &PoolKey,
        member: Member,
        warm: bool,
        holder: &str,
        started: Instant,
    ) -> Result<Option<Lease>> {
        let lease = Lease {
            key: key.clone(),
            container_id: member.id.clone(),
            container_name: member.name.clone(),
            ports: member.ports.clone(),
            memory_bytes: member.memory_bytes,
            warm,
            holder: holder.to_owned(),
            claimed_at: Timestamp::now(),
        };
        match self.inner.store.record_claim(&lease).await {
            Ok(()) => {}
            Err(Error::Conflict(_)) => {
                // Another slipway process handed it out first: it is theirs now.
                let mut state = self.inner.lock();
                state.budget.release(member.memory_bytes);
                return Ok(None);
            }
            Err(e) => {
                if warm {
                    self.inner.return_ready(key, member);
                } else {
                    self.inner.discard(member).await;
                }
                return Err(e);
            }
        }
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let mut state = self.inner.lock();
        state
            .claimed
            .insert(lease.container_id.clone(), lease.clone());
        if let Some(key_state) = state.keys.get_mut(key) {
            key_state.record_claim(warm, latency_ms);
            key_state.last_claim = Some(Instant::now());
        }
        drop(state);
        self.inner.wake.notify_one();
        self.inner.bump();
        Ok(Some(lease))
    }

    fn choose_source(&self, key: &PoolKey) -> Result<Source> {
        let mut state = self.inner.lock();
        let state = &mut *state;
        let key_state = state
            .keys
            .get_mut(key)
            .ok_or_else(|| Error::not_found(format!("pool `{key}`")))?;
        if let Some(member) = key_state.ready.pop_front() {
            return Ok(Source::Ready(member));
        }
        // A creation already under way finishes sooner than a new one would.
        if key_state.creating > key_state.promised {
            let (sender, receiver) = oneshot::channel();
            key_state.promised += 1;
            key_state.waiters.push_back(sender);
            return Ok(Source::InFlight(receiver));
        }
        state.budget.reserve(key_state.memory_bytes())?;
        Ok(Source::Cold {
            spec: Box::new(key_state.spec().clone()),
            memory: key_state.memory_bytes(),
        })
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
        let started = Instant::now();
        loop {
            let source = self.choose_source(key);
            self.inner.wake.notify_one();
            let (member, warm) = match source? {
                Source::Ready(member) => match self.take_ready(key, member).await? {
                    Some(member) => (member, true),
                    None => continue,
                },
                Source::InFlight(receiver) => match receiver.await {
                    Ok(Some(member)) => (member, false),
                    // That creation failed (or the pool stopped): try again from the top.
                    Ok(None) | Err(_) => continue,
                },
                Source::Cold { spec, memory } => match self.inner.create_member(key, &spec).await {
                    Ok(member) => (member, false),
                    Err(e) => {
                        self.inner.lock().budget.release(memory);
                        self.inner.bump();
                        return Err(e);
                    }
                },
            };
            if let Some(lease) = self.hand_out(key, member, warm, holder, started).await? {
                return Ok(lease);
            }
        }
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

impl WarmPoolBuilder {
    /// Adds a pool.
    pub fn with_pool(mut self, pool: PoolConfig) -> Self {
        self.pools.push(pool);
        self
    }

    /// Replaces the settings.
    pub fn with_settings(mut self, settings: PoolSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Validates the pools, resolves the memory budget from the engine, adopts or removes
    /// what an earlier run left (see the crate docs), and starts the background tasks.
    pub async fn start(self) -> Result<WarmPool> {
        let mut keys = BTreeMap::new();
        for pool in self.pools {
            pool.validate()?;
            let key = pool.key();
            if keys.insert(key.clone(), KeyState::new(pool)).is_some() {
                return Err(Error::invalid(
                    "pool config",
                    format!("two pools have the same spec (key {key})"),
                ));
            }
        }
        let total = self.runtime.info().await?.total_memory_bytes;
        let budget = Budget::new(self.settings.budget.resolve(total));
        let (changed, _) = watch::channel(0);
        let inner = Arc::new(Inner {
            ports: PortAllocator::new(Arc::clone(&self.store), self.settings.port_range),
            instance: self.store.instance_id(),
            runtime: self.runtime,
            store: self.store,
            settings: self.settings,
            state: Mutex::new(PoolState {
                keys,
                claimed: Default::default(),
                budget,
            }),
            wake: Notify::new(),
            changed,
            cancel: CancellationToken::new(),
        });
        inner.adopt().await?;
        let mut tasks = vec![tokio::spawn(crate::health::watch(Arc::clone(&inner)))];
        if inner.settings.refill {
            tasks.push(tokio::spawn(crate::refill::run(Arc::clone(&inner))));
        }
        inner.wake.notify_one();
        let stop = Arc::new(StopOnDrop(inner.cancel.clone()));
        Ok(WarmPool {
            inner,
            tasks: Arc::new(Mutex::new(tasks)),
            _stop_on_drop: stop,
        })
    }
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells waiters in `fill` to look again.
    pub(crate) fn bump(&self) {
        self.changed.send_modify(|generation| *generation += 1);
    }

    fn return_ready(&self, key: &PoolKey, member: Member) {
        if let Some(state) = self.lock().keys.get_mut(key) {
            state.ready.push_front(member);
        }
    }

    /// Removes a container that was never handed out, and gives its memory back.
    pub(crate) async fn discard(&self, member: Member) {
        if let Err(e) = self.destroy_member(&member).await {
            tracing::warn!(container = %member.id, error = %e, "failed to remove a pooled container");
        }
        self.lock().budget.release(member.memory_bytes);
        self.bump();
    }

    /// Drops a dead ready container and asks for a replacement.
    pub(crate) async fn evict(&self, key: &PoolKey, member: Member) {
        self.discard(member).await;
        if let Some(state) = self.lock().keys.get_mut(key) {
            state.last_claim = None;
        }
        self.wake.notify_one();
    }
}
