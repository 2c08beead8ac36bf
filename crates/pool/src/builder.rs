//! [`WarmPoolBuilder`]: pools and settings, then adoption of what an earlier run left and
//! the background tasks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use slipway_core::prelude::*;
use slipway_core::{Error, PoolConfig, Result};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use crate::budget::Budget;
use crate::config::PoolSettings;
use crate::creator::Creator;
use crate::inner::Inner;
use crate::ports::PortAllocator;
use crate::state::{KeyState, PoolState};
use crate::warm_pool::{StopOnDrop, WarmPool};

/// Builds a [`WarmPool`]; finish with [`WarmPoolBuilder::start`].
pub struct WarmPoolBuilder {
    pub(crate) runtime: Arc<dyn Runtime>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) pools: Vec<PoolConfig>,
    pub(crate) settings: PoolSettings,
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
            creator: Creator::current(),
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
        let reconciled = inner.adopt().await?;
        let mut tasks = vec![tokio::spawn(crate::health::watch(Arc::clone(&inner)))];
        if inner.settings.refill {
            tasks.push(tokio::spawn(crate::refill::run(Arc::clone(&inner))));
        }
        inner.wake.notify_one();
        let stop = Arc::new(StopOnDrop(inner.cancel.clone()));
        Ok(WarmPool {
            inner,
            reconciled,
            tasks: Arc::new(Mutex::new(tasks)),
            _stop_on_drop: stop,
        })
    }
}
