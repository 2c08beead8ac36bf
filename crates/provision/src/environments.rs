//! [`Environments`]: the life of a development environment — a container claimed from the
//! pool, set up from a repository, recorded in the store, and destroyed.

use std::sync::Arc;

use slipway_core::prelude::*;
use slipway_core::{
    ContainerId, EnvironmentRecord, EnvironmentStatus, Error, ImageRef, Pool, PoolConfig,
    RemoveOptions, Result, Timestamp,
};

use crate::provisioner::{EventSink, Phase, Provisioner, SetupEvent, SetupRequest};

/// What environments are made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentSettings {
    /// The image for repos without a main image yet.
    pub base_image: ImageRef,
    /// Each environment's memory limit.
    pub memory_bytes: u64,
    /// Warm containers to keep per repo (of its main image, or of the base image).
    pub warm_per_repo: usize,
}

/// Creates, lists and destroys environments.
pub struct Environments {
    runtime: Arc<dyn Runtime>,
    pool: Arc<dyn Pool>,
    store: Arc<dyn Store>,
    provisioner: Arc<Provisioner>,
    settings: EnvironmentSettings,
}

impl Environments {
    /// Environments from `pool` containers, set up by `provisioner`, recorded in `store`.
    pub fn new(
        runtime: Arc<dyn Runtime>,
        pool: Arc<dyn Pool>,
        store: Arc<dyn Store>,
        provisioner: Arc<Provisioner>,
        settings: EnvironmentSettings,
    ) -> Self {
        Self {
            runtime,
            pool,
            store,
            provisioner,
            settings,
        }
    }

    /// The dev server's URL on this host, once it has a port.
    pub fn url(record: &EnvironmentRecord) -> Option<String> {
        record
            .host_port
            .map(|port| format!("http://127.0.0.1:{port}"))
    }

    /// Claims a container for `request.repo`, records it, and sets it up. The record follows
    /// the phases; on failure it ends in `error` with the message, and the container stays
    /// for its logs until destroyed.
    pub async fn up(
        &self,
        request: SetupRequest,
        name: Option<String>,
        events: Option<EventSink>,
    ) -> Result<EnvironmentRecord> {
        request.validate()?;
        let repo = request.repo.clone();
        // The image first: a missing one must fail before anything is created.
        let image = self
            .provisioner
            .image_for(&repo, &self.settings.base_image)
            .await?;
        self.provisioner.ensure_dependency_volume(&repo).await?;
        let spec = self
            .provisioner
            .container_spec(&repo, image, self.settings.memory_bytes)?;
        let warm = self.settings.warm_per_repo;
        let key = self
            .pool
            .ensure_pool(
                PoolConfig::new(spec.clone())
                    .with_target_size(warm)
                    .with_min_size(warm.min(1)),
            )
            .await?;
        let id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        let lease = self.pool.claim(&key, &id).await?;
        let now = Timestamp::now();
        let mut record = EnvironmentRecord {
            id,
            name: name.unwrap_or_else(|| repo.dashed()),
            container_id: Some(lease.container_id.clone()),
            image: spec.image.clone(),
            pool_key: Some(key.to_string()),
            repo: Some(repo.clone()),
            branch: request.branch.clone(),
            host_port: lease.host_port(self.provisioner.config().port),
            memory_bytes: lease.memory_bytes,
            status: EnvironmentStatus::Creating,
            error: None,
            created_at: now,
            updated_at: now,
        };
        if let Err(error) = self.store.put_environment(&record).await {
            // Unrecorded, the container would be lost to `destroy`: give it back now.
            if let Err(release) = self.pool.release(&lease).await {
                tracing::warn!(container = %lease.container_id, error = %release, "failed to release an unrecorded claim");
            }
            return Err(error);
        }

        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<SetupEvent>();
        let store = Arc::clone(&self.store);
        let tracked = record.clone();
        // Follows the phases into the record and passes every event on.
        let follower = tokio::spawn(async move {
            let mut tracked = tracked;
            while let Some(event) = receiver.recv().await {
                let status = match event.phase {
                    Phase::Cloning => Some(EnvironmentStatus::Cloning),
                    Phase::Installing => Some(EnvironmentStatus::Installing),
                    Phase::Starting => Some(EnvironmentStatus::Starting),
                    _ => None,
                };
                if let Some(status) = status.filter(|_| event.started) {
                    tracked.status = status;
                    tracked.updated_at = Timestamp::now();
                    if let Err(e) = store.put_environment(&tracked).await {
                        tracing::warn!(environment = %tracked.id, error = %e, "failed to record a phase");
                    }
                }
                if let Some(events) = &events {
                    let _ = events.send(event);
                }
            }
        });
        let outcome = self
            .provisioner
            .setup(&lease.container_id, &request, Some(&sender))
            .await;
        drop(sender);
        let _ = follower.await;

        record.updated_at = Timestamp::now();
        match outcome {
            Ok(outcome) => {
                record.status = EnvironmentStatus::Ready;
                record.branch = Some(outcome.branch);
                self.store.put_environment(&record).await?;
                Ok(record)
            }
            Err(error) => {
                record.status = EnvironmentStatus::Error;
                record.error = Some(error.to_string());
                self.store.put_environment(&record).await?;
                Err(error)
            }
        }
    }

    /// One environment.
    pub async fn get(&self, id: &str) -> Result<EnvironmentRecord> {
        self.store
            .environment(id)
            .await?
            .ok_or_else(|| Error::not_found(format!("environment `{id}`")))
    }

    /// Every environment, oldest first.
    pub async fn list(&self) -> Result<Vec<EnvironmentRecord>> {
        self.store.environments().await
    }

    /// The container of an environment.
    pub async fn container(&self, id: &str) -> Result<ContainerId> {
        self.get(id)
            .await?
            .container_id
            .ok_or_else(|| Error::not_found(format!("the container of environment `{id}`")))
    }

    /// Removes the environment's container and gives back its port and memory; the
    /// dependency volume and main image stay for the repo's next environment.
    pub async fn destroy(&self, id: &str) -> Result<()> {
        let record = self.get(id).await?;
        let Some(container) = record.container_id else {
            self.store.delete_environment(id).await?;
            return Ok(());
        };
        let claim = self
            .store
            .claims()
            .await?
            .into_iter()
            .find(|lease| lease.container_id == container);
        match claim {
            Some(lease) => self.pool.release(&lease).await?,
            None => match self
                .runtime
                .remove_container(&container, RemoveOptions::force())
                .await
            {
                Ok(()) | Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            },
        }
        self.store.delete_environment(id).await?;
        Ok(())
    }
}
