//! Stopping a run: its recorded objects and whatever else carries its run label.

use std::time::Duration;

use slipway_core::labels;
use slipway_core::{
    AuditEvent, ContainerId, Error, LabelFilter, NetworkId, RemoveOptions, Result, Role, RunId,
    RunRecord, RunState, Timestamp,
};

use super::{audit_kind, RunManager};

impl RunManager {
    /// Stops a run: the main container, then the sidecar, then the network. Stopping a
    /// stopped run changes nothing; the BuildKit state volume stays.
    pub async fn stop(&self, id: &RunId) -> Result<RunRecord> {
        let mut record = self.get(id).await?;
        if record.state == RunState::Stopped {
            return Ok(record);
        }
        let failed = record.state == RunState::Failed;
        record.state = RunState::Stopping;
        record.updated_at = Timestamp::now();
        self.store.put_run(&record).await?;
        self.remove_resources(&record).await?;
        record.state = if failed {
            RunState::Failed
        } else {
            RunState::Stopped
        };
        record.updated_at = Timestamp::now();
        self.store.put_run(&record).await?;
        self.audit(AuditEvent::new(audit_kind::RUN_STOPPED).with_run(id))
            .await;
        Ok(record)
    }

    /// Removes everything of `record`: the recorded ids (or intended names), then whatever
    /// else carries its run label. Gone objects are not errors; the first real error is kept.
    pub(super) async fn remove_resources(&self, record: &RunRecord) -> Result<()> {
        let mut first_error = None;
        let mut keep = |result: Result<()>| {
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        };
        let by_label = self.labelled_containers(&record.id).await?;
        let mut mains: Vec<ContainerId> = record.main_container_id.iter().cloned().collect();
        let mut sidecars: Vec<ContainerId> = record.sidecar_id.iter().cloned().collect();
        for container in by_label {
            let role = container.labels.get(labels::ROLE).map(String::as_str);
            if role == Some(Role::Buildkit.as_str()) {
                sidecars.push(container.id);
            } else {
                mains.push(container.id);
            }
        }
        for main in mains {
            keep(self.remove_container(&main).await.map(|_| ()));
        }
        for sidecar in sidecars {
            match self.remove_container(&sidecar).await {
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
        let mut networks: Vec<NetworkId> = record.network_id.iter().cloned().collect();
        let filter = self.run_filter(&record.id);
        networks.extend(
            self.network
                .list_networks(&filter)
                .await?
                .into_iter()
                .map(|n| n.id),
        );
        for network in networks {
            keep(self.remove_network(&network).await);
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Every object of `run` (main container, sidecar, network), whatever its role.
    fn run_filter(&self, run: &RunId) -> LabelFilter {
        LabelFilter::managed()
            .with(labels::INSTANCE, self.instance.to_string())
            .with(labels::RUN_ID, run.to_string())
    }

    async fn labelled_containers(
        &self,
        run: &RunId,
    ) -> Result<Vec<slipway_core::ContainerSummary>> {
        self.runtime.list_containers(&self.run_filter(run)).await
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
