//! [`MemoryStore`]: the [`Store`] trait in memory, for other crates' unit tests.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use slipway_core::prelude::*;
use slipway_core::{
    budget_exhausted, AuditEntry, AuditEvent, AuditFilter, AuditProblem, AuditVerification,
    BuildRecord, ContainerId, EnvironmentRecord, Error, HeldLock, InstanceId, Lease,
    MemoryReservation, PortLease, PortLeaseRequest, Result, RunId, RunRecord, Timestamp,
};

/// An in-memory [`Store`] with the same rules as the SQLite one: a port or a claim is never
/// held twice, the audit log is chained (with a non-cryptographic hash: tests only).
/// Clones share the same state, like two connections to one file.
#[derive(Clone)]
pub struct MemoryStore {
    instance: InstanceId,
    state: Arc<Mutex<MemoryState>>,
}

#[derive(Default)]
struct MemoryState {
    environments: BTreeMap<String, EnvironmentRecord>,
    runs: BTreeMap<String, RunRecord>,
    ports: BTreeMap<u16, PortLease>,
    claims: BTreeMap<String, Lease>,
    builds: Vec<BuildRecord>,
    audit: Vec<AuditEntry>,
    memory: BTreeMap<String, MemoryReservation>,
    locks: BTreeMap<String, HeldLock>,
    /// The hash of the last pruned audit entry, where verification starts.
    audit_anchor: Option<String>,
}

impl MemoryStore {
    /// An empty store with instance id `instance`.
    pub fn new(instance: &str) -> Self {
        Self {
            instance: InstanceId::new(instance),
            state: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Overwrites the detail of audit entry `seq` behind the chain's back (for tests of
    /// verification).
    pub fn tamper_with_audit(&self, seq: u64, detail: &str) {
        if let Some(entry) = self.lock().audit.iter_mut().find(|e| e.seq == seq) {
            entry.event.detail = Some(detail.to_owned());
        }
    }
}

fn chain_hash(prev: &str, seq: u64, at: Timestamp, event: &AuditEvent) -> String {
    let text = format!("{prev}\n{seq}\n{}\n{event:?}", at.unix_millis());
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

impl Store for MemoryStore {
    fn instance_id(&self) -> InstanceId {
        self.instance.clone()
    }
}

#[async_trait]
impl EnvironmentStore for MemoryStore {
    async fn put_environment(&self, record: &EnvironmentRecord) -> Result<()> {
        self.lock()
            .environments
            .insert(record.id.clone(), record.clone());
        Ok(())
    }

    async fn environment(&self, id: &str) -> Result<Option<EnvironmentRecord>> {
        Ok(self.lock().environments.get(id).cloned())
    }

    async fn environments(&self) -> Result<Vec<EnvironmentRecord>> {
        let mut all: Vec<_> = self.lock().environments.values().cloned().collect();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(all)
    }

    async fn delete_environment(&self, id: &str) -> Result<bool> {
        Ok(self.lock().environments.remove(id).is_some())
    }
}

#[async_trait]
impl RunStore for MemoryStore {
    async fn put_run(&self, record: &RunRecord) -> Result<()> {
        self.lock()
            .runs
            .insert(record.id.to_string(), record.clone());
        Ok(())
    }

    async fn run(&self, id: &RunId) -> Result<Option<RunRecord>> {
        Ok(self.lock().runs.get(id.as_str()).cloned())
    }

    async fn runs(&self) -> Result<Vec<RunRecord>> {
        let mut all: Vec<_> = self.lock().runs.values().cloned().collect();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(all)
    }

    async fn update_run(&self, record: &RunRecord, expected: Timestamp) -> Result<bool> {
        let mut state = self.lock();
        match state.runs.get_mut(record.id.as_str()) {
            Some(stored) if stored.updated_at == expected => {
                *stored = record.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn prune_runs(&self, before: Timestamp) -> Result<u64> {
        let mut state = self.lock();
        let old = state.runs.len();
        state
            .runs
            .retain(|_, run| !(run.state.is_terminal() && run.updated_at < before));
        Ok((old - state.runs.len()) as u64)
    }

    async fn heartbeat_run(&self, id: &RunId, at: Timestamp) -> Result<bool> {
        let mut state = self.lock();
        match state.runs.get_mut(id.as_str()) {
            Some(stored) => {
                stored.heartbeat_at = stored.heartbeat_at.max(at);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

#[async_trait]
impl LeaseStore for MemoryStore {
    async fn lease_port(&self, request: &PortLeaseRequest) -> Result<PortLease> {
        let mut state = self.lock();
        let skip: BTreeSet<u16> = request.skip.iter().copied().collect();
        let range = request.range;
        let port = (range.first..=range.last)
            .find(|p| !state.ports.contains_key(p) && !skip.contains(p))
            .ok_or_else(|| {
                Error::CapacityExceeded(format!("every host port in {range} is leased or busy"))
            })?;
        let lease = PortLease {
            port,
            holder: request.holder.clone(),
            leased_at: Timestamp::now(),
        };
        state.ports.insert(port, lease.clone());
        Ok(lease)
    }

    async fn release_port(&self, port: u16, holder: &str) -> Result<bool> {
        let mut state = self.lock();
        let held = state.ports.get(&port).is_some_and(|l| l.holder == holder);
        if held {
            state.ports.remove(&port);
        }
        Ok(held)
    }

    async fn port_leases(&self) -> Result<Vec<PortLease>> {
        Ok(self.lock().ports.values().cloned().collect())
    }
}

#[async_trait]
impl BudgetStore for MemoryStore {
    async fn reserve_memory(&self, holder: &str, bytes: u64, limit: u64) -> Result<()> {
        let mut state = self.lock();
        let others = state.memory.values().filter(|r| r.holder != holder);
        let (used, holders) = others.fold((0u64, 0usize), |(sum, n), r| {
            (sum.saturating_add(r.bytes), n + 1)
        });
        if used.saturating_add(bytes) > limit {
            return Err(budget_exhausted(bytes, used, limit, holders));
        }
        let reserved_at = state
            .memory
            .get(holder)
            .map_or_else(Timestamp::now, |r| r.reserved_at);
        state.memory.insert(
            holder.to_owned(),
            MemoryReservation {
                holder: holder.to_owned(),
                bytes,
                reserved_at,
            },
        );
        Ok(())
    }

    async fn release_memory(&self, holder: &str) -> Result<bool> {
        Ok(self.lock().memory.remove(holder).is_some())
    }

    async fn memory_reservations(&self) -> Result<Vec<MemoryReservation>> {
        Ok(self.lock().memory.values().cloned().collect())
    }
}

#[async_trait]
impl LockStore for MemoryStore {
    async fn acquire_lock(&self, name: &str, holder: &str) -> Result<()> {
        let mut state = self.lock();
        match state.locks.get(name) {
            Some(held) if held.holder == holder => Ok(()),
            Some(held) => Err(Error::Conflict(format!(
                "`{name}` is in use by {}",
                held.holder
            ))),
            None => {
                state.locks.insert(
                    name.to_owned(),
                    HeldLock {
                        name: name.to_owned(),
                        holder: holder.to_owned(),
                        acquired_at: Timestamp::now(),
                    },
                );
                Ok(())
            }
        }
    }

    async fn release_lock(&self, name: &str, holder: &str) -> Result<bool> {
        let mut state = self.lock();
        if state
            .locks
            .get(name)
            .is_some_and(|held| held.holder == holder)
        {
            state.locks.remove(name);
            return Ok(true);
        }
        Ok(false)
    }

    async fn locks(&self) -> Result<Vec<HeldLock>> {
        Ok(self.lock().locks.values().cloned().collect())
    }
}

#[async_trait]
impl ClaimStore for MemoryStore {
    async fn record_claim(&self, lease: &Lease) -> Result<()> {
        let mut state = self.lock();
        if state.claims.contains_key(lease.container_id.as_str()) {
            return Err(Error::Conflict(format!(
                "container {} is already claimed",
                lease.container_id
            )));
        }
        state
            .claims
            .insert(lease.container_id.to_string(), lease.clone());
        Ok(())
    }

    async fn claims(&self) -> Result<Vec<Lease>> {
        Ok(self.lock().claims.values().cloned().collect())
    }

    async fn remove_claim(&self, container: &ContainerId) -> Result<bool> {
        Ok(self.lock().claims.remove(container.as_str()).is_some())
    }
}

#[async_trait]
impl BuildStore for MemoryStore {
    async fn record_build(&self, record: &BuildRecord) -> Result<()> {
        self.lock().builds.push(record.clone());
        Ok(())
    }

    async fn builds(&self, limit: usize) -> Result<Vec<BuildRecord>> {
        let mut all = self.lock().builds.clone();
        all.sort_by(|a, b| (b.started_at, &b.id).cmp(&(a.started_at, &a.id)));
        all.truncate(limit);
        Ok(all)
    }
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn append_audit(&self, event: &AuditEvent) -> Result<AuditEntry> {
        let mut state = self.lock();
        let prev_hash = state
            .audit
            .last()
            .map_or_else(|| "0".repeat(16), |e| e.hash.clone());
        let seq = state.audit.last().map_or(1, |e| e.seq + 1);
        let at = Timestamp::now();
        let hash = chain_hash(&prev_hash, seq, at, event);
        let entry = AuditEntry {
            seq,
            at,
            event: event.clone(),
            prev_hash,
            hash,
        };
        state.audit.push(entry.clone());
        Ok(entry)
    }

    async fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let state = self.lock();
        let mut matching: Vec<_> = state
            .audit
            .iter()
            .filter(|e| {
                filter
                    .run_id
                    .as_ref()
                    .is_none_or(|run| e.event.run_id.as_ref() == Some(run))
            })
            .filter(|e| {
                filter
                    .kind
                    .as_ref()
                    .is_none_or(|kind| &e.event.kind == kind)
            })
            .cloned()
            .collect();
        if let Some(limit) = filter.limit {
            let skip = matching.len().saturating_sub(limit);
            matching.drain(..skip);
        }
        Ok(matching)
    }

    async fn verify_audit(&self) -> Result<AuditVerification> {
        let state = self.lock();
        let mut prev = state.audit_anchor.clone().unwrap_or_else(|| "0".repeat(16));
        for entry in &state.audit {
            if entry.prev_hash != prev
                || chain_hash(&prev, entry.seq, entry.at, &entry.event) != entry.hash
            {
                return Ok(AuditVerification {
                    entries: entry.seq - 1,
                    problem: Some(AuditProblem {
                        seq: entry.seq,
                        reason: "modified".into(),
                    }),
                });
            }
            prev.clone_from(&entry.hash);
        }
        Ok(AuditVerification {
            entries: state.audit.len() as u64,
            problem: None,
        })
    }

    async fn prune_audit(&self, before: Timestamp) -> Result<u64> {
        let pruned = {
            let mut state = self.lock();
            let keep_from = state
                .audit
                .iter()
                .position(|e| e.at >= before)
                .unwrap_or(state.audit.len())
                .min(state.audit.len().saturating_sub(1));
            let removed: Vec<AuditEntry> = state.audit.drain(..keep_from).collect();
            if let Some(last) = removed.last() {
                state.audit_anchor = Some(last.hash.clone());
            }
            removed.len() as u64
        };
        if pruned > 0 {
            self.append_audit(&AuditEvent::new("audit.pruned")).await?;
        }
        Ok(pruned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_core::PortRange;

    #[tokio::test]
    async fn ports_and_claims_are_never_held_twice() {
        let store = MemoryStore::new("i");
        let request = PortLeaseRequest {
            range: PortRange::new(5, 6).unwrap(),
            holder: "a".into(),
            skip: vec![5],
        };
        assert_eq!(store.lease_port(&request).await.unwrap().port, 6);
        assert_eq!(
            store.lease_port(&request).await.unwrap_err().kind(),
            slipway_core::ErrorKind::CapacityExceeded
        );
    }

    #[tokio::test]
    async fn the_audit_chain_detects_tampering() {
        let store = MemoryStore::new("i");
        store.append_audit(&AuditEvent::new("a")).await.unwrap();
        store.append_audit(&AuditEvent::new("b")).await.unwrap();
        assert!(store.verify_audit().await.unwrap().is_intact());
        store.tamper_with_audit(1, "changed");
        assert_eq!(store.verify_audit().await.unwrap().problem.unwrap().seq, 1);
    }
}
