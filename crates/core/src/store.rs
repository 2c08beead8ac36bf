//! slipway's durable state, as capability traits: [`EnvironmentStore`], [`RunStore`],
//! [`LeaseStore`], [`ClaimStore`], [`BudgetStore`], [`LockStore`], [`BuildStore`] and [`AuditLog`]. [`Store`] is all of them
//! plus the instance id.
//!
//! Implementations must be safe to share between threads and between processes using the
//! same state.

use async_trait::async_trait;

use crate::audit::{AuditEntry, AuditEvent, AuditFilter, AuditVerification};
use crate::ids::{ContainerId, InstanceId, RunId};
use crate::pool::Lease;
use crate::ports::{PortLease, PortLeaseRequest};
use crate::records::{BuildRecord, EnvironmentRecord, RunRecord};
use crate::time::Timestamp;
use crate::{Error, Result};

/// Development environments.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait EnvironmentStore: Send + Sync {
    /// Inserts or replaces an environment.
    async fn put_environment(&self, record: &EnvironmentRecord) -> Result<()>;
    /// One environment.
    async fn environment(&self, id: &str) -> Result<Option<EnvironmentRecord>>;
    /// Every environment, oldest first.
    async fn environments(&self) -> Result<Vec<EnvironmentRecord>>;
    /// Deletes an environment; whether it existed.
    async fn delete_environment(&self, id: &str) -> Result<bool>;
}

/// Runs with Docker inside.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Inserts or replaces a run.
    async fn put_run(&self, record: &RunRecord) -> Result<()>;
    /// One run.
    async fn run(&self, id: &RunId) -> Result<Option<RunRecord>>;
    /// Every run, oldest first.
    async fn runs(&self) -> Result<Vec<RunRecord>>;
    /// Replaces a run only if its stored `updated_at` is still `expected` (compare and set);
    /// whether it was replaced. Two processes settling one run can't both win.
    async fn update_run(&self, record: &RunRecord, expected: Timestamp) -> Result<bool>;
    /// Marks a run alive at `at` without changing the record otherwise (not its
    /// `updated_at`); whether the run exists.
    async fn heartbeat_run(&self, id: &RunId, at: Timestamp) -> Result<bool>;
    /// Deletes the records of runs that are over (stopped or failed) and last changed before
    /// `before`; how many went.
    async fn prune_runs(&self, before: Timestamp) -> Result<u64>;
}

/// Host-port leases. [`LeaseStore::lease_port`] is atomic: no port is ever leased twice.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Leases the lowest port of the range that is neither leased nor in `skip`;
    /// [`Error::CapacityExceeded`](crate::Error::CapacityExceeded) when none is left.
    async fn lease_port(&self, request: &PortLeaseRequest) -> Result<PortLease>;
    /// Releases `port` if `holder` holds it; whether a lease went. A lease of someone else
    /// (the port was released and leased again meanwhile) stays.
    async fn release_port(&self, port: u16, holder: &str) -> Result<bool>;
    /// Every lease, by port.
    async fn port_leases(&self) -> Result<Vec<PortLease>>;
}

/// Pooled containers handed out.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ClaimStore: Send + Sync {
    /// Records that a pooled container was handed out; [`Error::Conflict`](crate::Error::Conflict)
    /// if it already was (by this process or another), so no container is handed out twice.
    async fn record_claim(&self, lease: &Lease) -> Result<()>;
    /// Every container handed out and not yet given back.
    async fn claims(&self) -> Result<Vec<Lease>>;
    /// Forgets a claim; whether there was one.
    async fn remove_claim(&self, container: &ContainerId) -> Result<bool>;
}

/// Memory held against the one budget every process of a state shares: pooled containers,
/// environments and runs reserve their limits here before they are created, so two processes
/// can't both spend the last gigabyte.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait BudgetStore: Send + Sync {
    /// Reserves `bytes` for `holder` if everything reserved then stays within `limit`
    /// (atomically, across processes); a holder's earlier reservation is replaced.
    /// [`Error::CapacityExceeded`](crate::Error::CapacityExceeded) says what is in use.
    async fn reserve_memory(&self, holder: &str, bytes: u64, limit: u64) -> Result<()>;
    /// Releases `holder`'s reservation; whether there was one.
    async fn release_memory(&self, holder: &str) -> Result<bool>;
    /// Every reservation, by holder.
    async fn memory_reservations(&self) -> Result<Vec<MemoryReservation>>;
}

/// Named locks every process of a state sees: what only one live run may use at a time (an
/// inner daemon's storage kept under a cache key).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait LockStore: Send + Sync {
    /// Takes lock `name` for `holder` (again, if it holds it already);
    /// [`Error::Conflict`](crate::Error::Conflict) names the holder when another has it.
    async fn acquire_lock(&self, name: &str, holder: &str) -> Result<()>;
    /// Gives `holder`'s lock `name` back; whether it held it.
    async fn release_lock(&self, name: &str, holder: &str) -> Result<bool>;
    /// Every lock held, by name.
    async fn locks(&self) -> Result<Vec<HeldLock>>;
}

/// A lock and who holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HeldLock {
    /// What it locks.
    pub name: String,
    /// Who holds it: `run:<run id>`.
    pub holder: String,
    /// Since when.
    pub acquired_at: Timestamp,
}

/// Memory one holder has reserved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemoryReservation {
    /// Who holds it: `pool:<container name>` or `run:<run id>`.
    pub holder: String,
    /// How much.
    pub bytes: u64,
    /// Since when.
    pub reserved_at: Timestamp,
}

/// The error of a reservation that does not fit.
pub fn budget_exhausted(needed: u64, used: u64, limit: u64, holders: usize) -> Error {
    let mib = |bytes: u64| bytes >> 20;
    Error::CapacityExceeded(format!(
        "memory budget exhausted: {} MiB needed but {} of {} MiB is reserved by {holders} \
         containers and runs ({} MiB free); remove environments or runs, or raise the budget",
        mib(needed),
        mib(used),
        mib(limit),
        mib(limit.saturating_sub(used))
    ))
}

/// Build history.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait BuildStore: Send + Sync {
    /// Appends a build to the history.
    async fn record_build(&self, record: &BuildRecord) -> Result<()>;
    /// The newest `limit` builds, newest first.
    async fn builds(&self, limit: usize) -> Result<Vec<BuildRecord>>;
}

/// The append-only, hash-chained audit log.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends an event to the audit log, chained to the entry before it.
    async fn append_audit(&self, event: &AuditEvent) -> Result<AuditEntry>;
    /// Entries matching `filter`, oldest first.
    async fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>>;
    /// Recomputes the chain and reports the first tampered, missing or reordered entry.
    async fn verify_audit(&self) -> Result<AuditVerification>;
    /// Removes the entries older than `before` (never the newest), keeping the chain
    /// verifiable from the first one left; how many went. The pruning is itself appended.
    async fn prune_audit(&self, before: Timestamp) -> Result<u64>;
}

/// All of slipway's durable records, owned by one state (instance).
pub trait Store:
    EnvironmentStore
    + RunStore
    + LeaseStore
    + ClaimStore
    + BudgetStore
    + LockStore
    + BuildStore
    + AuditLog
{
    /// The id of this state; every engine object slipway creates carries it as a label.
    fn instance_id(&self) -> InstanceId;
}
