//! [`PoolView`]: the pools as a process that does not own the state sees them — counted from
//! the engine's labels and the store's claims, never created, claimed, refilled or reaped.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use slipway_core::labels::{self, Scope};
use slipway_core::prelude::*;
use slipway_core::{
    Error, ImageRef, Lease, Pool, PoolConfig, PoolKey, PoolReport, PoolStatus, Result, Role,
};
use slipway_pool::PoolSettings;

/// A read-only [`Pool`]: `status` reports what exists; `claim`, `release`, `fill` and
/// `drain` are refused (they belong to the owner of the state).
pub struct PoolView {
    runtime: Arc<dyn Runtime>,
    store: Arc<dyn Store>,
    settings: PoolSettings,
    pools: Mutex<Vec<PoolConfig>>,
    owner_hint: String,
}

impl PoolView {
    /// A view of `store`'s pools on `runtime`; `pools` are the configured ones (reported
    /// even when empty) and `owner_hint` says who may change them.
    pub fn new(
        runtime: Arc<dyn Runtime>,
        store: Arc<dyn Store>,
        settings: PoolSettings,
        pools: Vec<PoolConfig>,
        owner_hint: impl Into<String>,
    ) -> Self {
        Self {
            runtime,
            store,
            settings,
            pools: Mutex::new(pools),
            owner_hint: owner_hint.into(),
        }
    }

    fn refuse(&self, what: &str) -> Error {
        Error::Conflict(format!(
            "this process only reads the pools, it can't {what}: {}",
            self.owner_hint
        ))
    }

    fn configured(&self) -> Vec<PoolConfig> {
        self.pools.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl Pool for PoolView {
    async fn ensure_pool(&self, config: PoolConfig) -> Result<PoolKey> {
        config.validate()?;
        let key = config.key();
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        if pools.iter().all(|pool| pool.key() != key) {
            pools.push(config);
        }
        Ok(key)
    }

    async fn claim(&self, _key: &PoolKey, _holder: &str) -> Result<Lease> {
        Err(self.refuse("hand out a container"))
    }

    async fn claim_fresh(&self, _key: &PoolKey, _holder: &str) -> Result<Lease> {
        Err(self.refuse("create a container"))
    }

    async fn release(&self, _lease: &Lease) -> Result<()> {
        Err(self.refuse("give a container back"))
    }

    async fn status(&self) -> Result<PoolReport> {
        let instance = self.store.instance_id();
        let members = self
            .runtime
            .list_containers(&Scope::new(Role::Pool, &instance).filter())
            .await?;
        let claims = self.store.claims().await?;
        let claimed: HashSet<&str> = claims.iter().map(|l| l.container_id.as_str()).collect();
        let configured = self.configured();
        let mut pools: BTreeMap<PoolKey, PoolStatus> = configured
            .iter()
            .map(|config| {
                let key = config.key();
                let status = empty(key.clone(), config.spec.image.clone(), config.target_size);
                (key, status)
            })
            .collect();
        let mut used = 0u64;
        for member in members
            .iter()
            .filter(|m| m.state.is_running() && !claimed.contains(m.id.as_str()))
        {
            let Some(key) = member.labels.get(labels::POOL_KEY) else {
                continue;
            };
            let key = PoolKey::from_hash(key.clone());
            let memory = match configured.iter().find(|c| c.key() == key) {
                Some(config) => config.memory_bytes(),
                None => self
                    .runtime
                    .inspect_container(&member.id)
                    .await
                    .ok()
                    .and_then(|info| info.memory_limit_bytes)
                    .unwrap_or_default(),
            };
            let entry = match pools.entry(key) {
                Entry::Occupied(entry) => entry.into_mut(),
                // A pool this process does not configure (another --image, a repo's pool).
                Entry::Vacant(entry) => {
                    let Ok(image) = member.image.parse() else {
                        continue;
                    };
                    let key = entry.key().clone();
                    entry.insert(empty(key, image, 0))
                }
            };
            used += memory;
            entry.ready += 1;
        }
        for lease in &claims {
            used += lease.memory_bytes;
            if let Some(entry) = pools.get_mut(&lease.key) {
                entry.claimed += 1;
            }
        }
        let total = self.runtime.info().await?.total_memory_bytes;
        Ok(PoolReport {
            memory_used_bytes: used,
            memory_budget_bytes: self.settings.budget.resolve(total),
            pools: pools.into_values().collect(),
        })
    }

    async fn fill(&self, _key: &PoolKey) -> Result<()> {
        Err(self.refuse("fill a pool"))
    }

    async fn drain(&self) -> Result<usize> {
        Err(self.refuse("drain the pools"))
    }
}

/// The status of a pool with nothing in it yet.
fn empty(key: PoolKey, image: ImageRef, target: usize) -> PoolStatus {
    PoolStatus {
        key,
        image,
        ready: 0,
        creating: 0,
        claimed: 0,
        target,
        degraded: false,
        last_error: None,
        hits: 0,
        misses: 0,
        claim_p50_ms: None,
        claim_p99_ms: None,
    }
}
