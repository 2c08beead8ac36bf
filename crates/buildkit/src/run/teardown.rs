//! Stopping a run: whatever carries its labels (managed, this instance, its run id), by the
//! full ids the engine lists — and nothing else. A record that held a name or an id prefix,
//! which the engine resolves to anything called that, can't make teardown touch a foreign
//! object.

use std::collections::BTreeSet;
use std::time::Duration;

use slipway_core::labels;
use slipway_core::{
    AuditEvent, ContainerId, Error, LabelFilter, NetworkId, RemoveOptions, Result, Role, RunId,
    RunRecord, RunState,
};

use super::{audit_kind, RunManager};

/// What a run's teardown found to remove, by the engine's full ids.
#[derive(Default)]
struct Owned {
    mains: BTreeSet<ContainerId>,
    sidecars: BTreeSet<ContainerId>,
    networks: BTreeSet<NetworkId>,
    /// The inner daemon's storage (the BuildKit state volume is not the run's: it stays).
    volumes: BTreeSet<String>,
}

impl RunManager {
    /// Stops a run: the main container, then the sidecar, then the network, then the inner
    /// daemon's storage. Stopping a stopped run changes nothing; the BuildKit state volume
    /// stays.
    pub async fn stop(&self, id: &RunId) -> Result<RunRecord> {
        let mut record = self.get(id).await?;
        if record.state == RunState::Stopped {
            return Ok(record);
        }
        let failed = record.state == RunState::Failed;
        record.state = RunState::Stopping;
        self.save(&mut record).await?;
        self.remove_resources(&record).await?;
        record.state = if failed {
            RunState::Failed
        } else {
            RunState::Stopped
        };
        self.save(&mut record).await?;
        self.audit(AuditEvent::new(audit_kind::RUN_STOPPED).with_run(id))
            .await;
        Ok(record)
    }

    /// Removes everything of `record` that is this run's: the recorded objects whose labels
    /// say so, and whatever else carries its run label. Gone objects are not errors; the
    /// first real error is kept.
    pub(super) async fn remove_resources(&self, record: &RunRecord) -> Result<()> {
        let owned = self.owned_objects(record).await?;
        let mut first_error = None;
        let mut keep = |result: Result<()>| {
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        };
        for main in &owned.mains {
            keep(self.remove_container(main).await.map(drop));
        }
        for sidecar in &owned.sidecars {
            match self.remove_container(sidecar).await {
                Ok(true) => {
                    self.audit(
                        AuditEvent::new(audit_kind::BUILDKIT_SIDECAR_STOPPED)
                            .with_run(&record.id)
                            .with_resource("container_id", sidecar.as_str()),
                    )
                    .await;
                }
                Ok(false) => {}
                Err(e) => keep(Err(e)),
            }
        }
        for network in &owned.networks {
            keep(self.remove_network(network).await);
        }
        for volume in &owned.volumes {
            match self.runtime.remove_volume(volume).await {
                Ok(()) | Err(Error::NotFound { .. }) => {}
                Err(e) => keep(Err(e)),
            }
        }
        if first_error.is_none() {
            self.release_memory(&record.id).await;
            self.release_locks(&record.id).await;
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The run's objects by full engine id: every container and network carrying its labels.
    /// Recorded ids are not authority: one that held a name or an id prefix could name
    /// anything, so what the labels don't confirm is left alone.
    async fn owned_objects(&self, record: &RunRecord) -> Result<Owned> {
        let filter = self.run_filter(&record.id);
        let mut owned = Owned::default();
        for container in self.runtime.list_containers(&filter).await? {
            let role = container.labels.get(labels::ROLE).cloned();
            if role.as_deref() == Some(Role::Buildkit.as_str()) {
                owned.sidecars.insert(container.id);
            } else {
                owned.mains.insert(container.id);
            }
        }
        owned.networks.extend(
            self.network
                .list_networks(&filter)
                .await?
                .into_iter()
                .map(|n| n.id),
        );
        owned.volumes.extend(
            self.runtime
                .list_volumes(&filter)
                .await?
                .into_iter()
                .map(|v| v.name.to_string()),
        );
        Ok(owned)
    }

    /// Every object of `run` (main container, sidecar, network), whatever its role.
    pub(super) fn run_filter(&self, run: &RunId) -> LabelFilter {
        LabelFilter::managed()
            .with(labels::INSTANCE, self.instance.to_string())
            .with(labels::RUN_ID, run.to_string())
    }

    /// Removes a container; `false` when it was already gone.
    pub(super) async fn remove_container(&self, id: &ContainerId) -> Result<bool> {
        match self
            .runtime
            .remove_container(id, RemoveOptions::force())
            .await
        {
            Ok(()) => Ok(true),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes a network, retrying briefly while endpoints are still attached.
    pub(super) async fn remove_network(&self, id: &NetworkId) -> Result<()> {
        let mut attempt = 0;
        loop {
            match self.network.remove_network(id).await {
                Ok(()) | Err(Error::NotFound { .. }) => return Ok(()),
                Err(Error::Conflict(_)) if attempt < 20 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests;
