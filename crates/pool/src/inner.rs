//! [`Inner`]: what the pool's handle and its background tasks share.

use std::sync::{Arc, Mutex, MutexGuard};

use slipway_core::labels::Scope;
use slipway_core::prelude::*;
use slipway_core::{InstanceId, PoolKey, Role};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use crate::config::PoolSettings;
use crate::creator::Creator;
use crate::ports::PortAllocator;
use crate::state::{Member, PoolState};

/// What the pool's tasks share.
pub(crate) struct Inner {
    pub(crate) runtime: Arc<dyn Runtime>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) ports: PortAllocator,
    pub(crate) settings: PoolSettings,
    pub(crate) instance: InstanceId,
    /// This process, as recorded on the containers it creates.
    pub(crate) creator: Option<Creator>,
    pub(crate) state: Mutex<PoolState>,
    /// Wakes the refill loop.
    pub(crate) wake: Notify,
    /// Bumped on every change that `fill` may be waiting for.
    pub(crate) changed: watch::Sender<u64>,
    pub(crate) cancel: CancellationToken,
}

impl Inner {
    /// This state's pooled containers.
    pub(crate) fn scope(&self) -> Scope {
        Scope::new(Role::Pool, &self.instance)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells waiters in `fill` to look again.
    pub(crate) fn bump(&self) {
        self.changed.send_modify(|generation| *generation += 1);
    }

    pub(crate) fn return_ready(&self, key: &PoolKey, member: Member) {
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
