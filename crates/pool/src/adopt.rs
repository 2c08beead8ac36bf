//! Start-up reconciliation: the engine says what exists, the store says what is handed out.
//! Running members of configured pools are adopted as ready; claimed containers are left
//! alone; any other pooled container of this instance is removed only when its creator is
//! gone or it is older than the grace period (an unconfigured key alone is no reason: it may
//! be another live process's); leases and claims whose container is gone are forgotten.

use std::collections::HashSet;

use slipway_core::{
    labels, ContainerId, ContainerSummary, Error, PoolKey, PublishedPort, RemoveOptions, Result,
};

use crate::creator::Creator;
use crate::inner::Inner;
use crate::members::{holder, HOLDER_PREFIX};
use crate::state::Member;

/// What a starting pool found of an earlier run and did with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Reconciled {
    /// Running members of configured pools taken on as ready.
    pub adopted: usize,
    /// Unclaimed containers removed (stopped, creator gone, or past the grace period).
    pub removed: usize,
    /// Unclaimed containers left alone: a live process may still be using them.
    pub left: usize,
    /// Claims forgotten because their container is gone.
    pub forgotten_claims: usize,
    /// Port leases released because their pooled container is gone.
    pub released_ports: usize,
    /// Memory reservations released because their pooled container is gone.
    pub released_reservations: usize,
}

impl Inner {
    pub(crate) async fn adopt(&self) -> Result<Reconciled> {
        let mut report = Reconciled::default();
        let existing = self.runtime.list_containers(&self.scope().filter()).await?;
        let existing_ids: HashSet<ContainerId> = existing.iter().map(|c| c.id.clone()).collect();

        for lease in self.store.claims().await? {
            if existing_ids.contains(&lease.container_id) {
                // It exists and holds its memory, budget or not.
                self.store
                    .reserve_memory(&holder(&lease.container_name), lease.memory_bytes, u64::MAX)
                    .await?;
                let mut state = self.lock();
                state.budget.occupy(lease.memory_bytes);
                state.claimed.insert(lease.container_id.clone(), lease);
            } else {
                tracing::info!(container = %lease.container_id, "forgetting the claim of a container that is gone");
                self.store.remove_claim(&lease.container_id).await?;
                report.forgotten_claims += 1;
                let holder = holder(&lease.container_name);
                for port in lease.ports.iter().map(|p| p.host_port) {
                    if self.ports.release(port, &holder).await? {
                        report.released_ports += 1;
                    }
                }
            }
        }

        let mut kept_names = HashSet::new();
        for container in existing {
            let name = container.names.first().cloned().unwrap_or_default();
            if self.lock().claimed.contains_key(&container.id) {
                kept_names.insert(name);
                continue;
            }
            let key = container
                .labels
                .get(labels::POOL_KEY)
                .map(|k| PoolKey::from_hash(k.clone()));
            // Whether it still runs is asked of the engine again: the listing may be stale.
            if let Some(key) = key {
                if self.try_adopt(&key, &container.id, &name).await? {
                    kept_names.insert(name);
                    report.adopted += 1;
                    continue;
                }
            }
            if !self.may_reap(&container) {
                kept_names.insert(name);
                report.left += 1;
                continue;
            }
            match self
                .runtime
                .remove_container(&container.id, RemoveOptions::force())
                .await
            {
                Ok(()) | Err(Error::NotFound { .. }) => report.removed += 1,
                Err(e) => return Err(e),
            }
        }

        // Memory of pooled containers that no longer exist.
        for reservation in self.store.memory_reservations().await? {
            let Some(name) = reservation.holder.strip_prefix(HOLDER_PREFIX) else {
                continue;
            };
            if !kept_names.contains(name) && self.store.release_memory(&reservation.holder).await? {
                report.released_reservations += 1;
            }
        }

        // Leases of pooled containers that no longer exist (a crash between lease and create).
        for lease in self.store.port_leases().await? {
            let Some(name) = lease.holder.strip_prefix(HOLDER_PREFIX) else {
                continue;
            };
            if !kept_names.contains(name) && self.ports.release(lease.port, &lease.holder).await? {
                report.released_ports += 1;
            }
        }
        tracing::info!(?report, "reconciled the pool with what the engine holds");
        Ok(report)
    }

    /// Whether an unclaimed container that this pool can't adopt may be removed: it is not
    /// running (no pool hands one out), its creator is gone (or unknown), or it has outlived
    /// the grace period.
    fn may_reap(&self, container: &ContainerSummary) -> bool {
        if !container.state.is_running() {
            return true;
        }
        let creator_alive = container
            .labels
            .get(labels::CREATOR)
            .and_then(|label| label.parse::<Creator>().ok())
            .is_some_and(|creator| creator.is_alive());
        !creator_alive || container.created.elapsed() >= self.settings.stray_grace
    }

    /// Adopts a running container as ready if its pool is configured, its ports are leased to
    /// it and the budget has room.
    async fn try_adopt(&self, key: &PoolKey, id: &ContainerId, name: &str) -> Result<bool> {
        let Some(memory) = self.lock().keys.get(key).map(|pool| pool.memory_bytes()) else {
            return Ok(false);
        };
        let info = match self.runtime.inspect_container(id).await {
            Ok(info) if info.state.is_running() => info,
            Ok(_) | Err(Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        let leased: HashSet<u16> = self
            .store
            .port_leases()
            .await?
            .into_iter()
            .filter(|lease| lease.holder == holder(name))
            .map(|lease| lease.port)
            .collect();
        let ports: Vec<PublishedPort> = info.ports.clone();
        if !ports.iter().all(|p| leased.contains(&p.host_port)) {
            return Ok(false);
        }
        // It exists and holds its memory (a state from before reservations has no row yet).
        self.store
            .reserve_memory(&holder(name), memory, u64::MAX)
            .await?;
        let mut state = self.lock();
        let state = &mut *state;
        let Some(pool) = state.keys.get_mut(key) else {
            return Ok(false);
        };
        if state.budget.reserve(memory).is_err() {
            return Ok(false);
        }
        pool.ready.push_back(Member {
            id: id.clone(),
            name: name.to_owned(),
            ports,
            memory_bytes: memory,
        });
        Ok(true)
    }
}
