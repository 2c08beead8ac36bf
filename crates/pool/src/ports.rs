//! [`PortAllocator`]: host ports leased in the store, lowest free first, passing over ports
//! something outside slipway holds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use slipway_core::prelude::*;
use slipway_core::{PortLeaseRequest, PortRange, Result};
use tokio::time::Instant;

/// How long a port found busy outside slipway is passed over before it is tried again.
const FOREIGN_PORT_TTL: Duration = Duration::from_secs(60);

/// Leases host ports from a range. The store's uniqueness guarantees no two holders — in this
/// process or another — get the same port; ports the engine could not bind because a foreign
/// process holds them are remembered and skipped for a while.
pub struct PortAllocator {
    store: Arc<dyn Store>,
    range: PortRange,
    foreign: Mutex<HashMap<u16, Instant>>,
}

impl PortAllocator {
    /// Allocates from `range`, leasing in `store`.
    pub fn new(store: Arc<dyn Store>, range: PortRange) -> Self {
        Self {
            store,
            range,
            foreign: Mutex::new(HashMap::new()),
        }
    }

    /// The range ports come from.
    pub fn range(&self) -> PortRange {
        self.range
    }

    fn foreign_ports(&self) -> Vec<u16> {
        let mut foreign = self.foreign.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        foreign.retain(|_, until| *until > now);
        foreign.keys().copied().collect()
    }

    /// Leases the lowest free port for `holder`.
    pub async fn lease(&self, holder: &str) -> Result<u16> {
        let request = PortLeaseRequest {
            range: self.range,
            holder: holder.to_owned(),
            skip: self.foreign_ports(),
        };
        Ok(self.store.lease_port(&request).await?.port)
    }

    /// Remembers that something outside slipway holds `port`, and gives up `holder`'s lease.
    pub async fn mark_foreign(&self, port: u16, holder: &str) -> Result<()> {
        self.foreign
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(port, Instant::now() + FOREIGN_PORT_TTL);
        tracing::info!(port, "host port is held outside slipway; passing over it");
        self.release(port, holder).await.map(drop)
    }

    /// Gives `holder`'s lease of `port` back and says whether it held one; a lease someone
    /// else holds now stays.
    pub async fn release(&self, port: u16, holder: &str) -> Result<bool> {
        self.store.release_port(port, holder).await
    }
}
