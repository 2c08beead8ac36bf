//! [`RunManager`]: what runs are made with, and lookups of their records.

use std::sync::Arc;

use slipway_core::prelude::*;
use slipway_core::{AuditEvent, Error, InstanceId, Labels, Result, RunId, RunRecord, Timestamp};

use super::failpoint::Failpoints;
#[cfg(feature = "failpoints")]
use super::failpoint::{FailAction, Step};
use crate::sidecar::BuildkitSidecar;

/// Creates, stops, lists, recovers and cleans runs.
pub struct RunManager {
    pub(super) runtime: Arc<dyn Runtime>,
    pub(super) network: Arc<dyn Network>,
    pub(super) store: Arc<dyn Store>,
    pub(super) sidecar: Arc<BuildkitSidecar>,
    pub(super) instance: InstanceId,
    pub(super) labels: Labels,
    pub(super) failpoints: Failpoints,
    /// The state's memory budget, shared through the store with every other process.
    pub(super) memory_budget: Option<u64>,
}

impl RunManager {
    /// A manager over one engine and one store; resources are labelled as `instance`'s.
    pub fn new(
        runtime: Arc<dyn Runtime>,
        network: Arc<dyn Network>,
        store: Arc<dyn Store>,
        sidecar: Arc<BuildkitSidecar>,
        instance: InstanceId,
    ) -> Self {
        Self {
            runtime,
            network,
            store,
            sidecar,
            instance,
            labels: Labels::new(),
            failpoints: Failpoints::default(),
            memory_budget: None,
        }
    }

    /// Reserves each run's memory (main container plus sidecar) against `limit`, the budget
    /// the state's pool and environments share through the store; a run that does not fit
    /// fails before anything is created.
    pub fn with_memory_budget(mut self, limit: u64) -> Self {
        self.memory_budget = Some(limit);
        self
    }

    /// Extra labels on every network and main container this manager creates.
    pub fn with_labels(mut self, labels: Labels) -> Self {
        self.labels = labels;
        self
    }

    /// Interrupts creation at `step` (test-only).
    #[cfg(feature = "failpoints")]
    pub fn set_failpoint(&self, step: Step, action: FailAction) {
        self.failpoints.set(step, action);
    }

    /// The runs in the store, newest first.
    pub async fn list(&self) -> Result<Vec<RunRecord>> {
        let mut runs = self.store.runs().await?;
        runs.sort_by_key(|run| std::cmp::Reverse(run.created_at));
        Ok(runs)
    }

    /// One run.
    pub async fn get(&self, id: &RunId) -> Result<RunRecord> {
        self.store
            .run(id)
            .await?
            .ok_or_else(|| Error::not_found(format!("run {id}")))
    }

    /// Writes `record` if nobody changed it since it was read (or last saved), else
    /// `Conflict`: another process stopped or recovered the run meanwhile.
    pub(super) async fn save(&self, record: &mut RunRecord) -> Result<()> {
        let expected = record.updated_at;
        record.updated_at = Timestamp::now_after(expected);
        record.heartbeat_at = record.updated_at;
        if self.store.update_run(record, expected).await? {
            return Ok(());
        }
        // Still the version this process read: a later save can't pass for a fresh one.
        record.updated_at = expected;
        Err(Error::Conflict(format!(
            "run {} was changed by another slipway process meanwhile (stopped or recovered)",
            record.id
        )))
    }

    /// Gives back `run`'s memory reservation (there may be none).
    pub(super) async fn release_memory(&self, run: &RunId) {
        if let Err(e) = self.store.release_memory(&memory_holder(run)).await {
            tracing::warn!(%run, error = %e, "failed to release a run's memory reservation");
        }
    }

    /// Gives back what `run` locked (a kept inner-daemon storage).
    pub(super) async fn release_locks(&self, run: &RunId) {
        let holder = memory_holder(run);
        let held = match self.store.locks().await {
            Ok(locks) => locks,
            Err(e) => {
                tracing::warn!(%run, error = %e, "failed to list a run's locks");
                return;
            }
        };
        for lock in held.into_iter().filter(|l| l.holder == holder) {
            if let Err(e) = self.store.release_lock(&lock.name, &holder).await {
                tracing::warn!(%run, lock = %lock.name, error = %e, "failed to release a run's lock");
            }
        }
    }

    pub(super) async fn audit(&self, event: AuditEvent) {
        if let Err(e) = self.store.append_audit(&event).await {
            tracing::warn!(kind = %event.kind, error = %e, "failed to append to the audit log");
        }
    }
}

/// A run's memory reservation is held as `run:<id>`.
pub(super) fn memory_holder(run: &RunId) -> String {
    format!("{RUN_HOLDER_PREFIX}{run}")
}

/// The prefix of runs' memory reservations.
pub(super) const RUN_HOLDER_PREFIX: &str = "run:";
