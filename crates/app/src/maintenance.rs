//! Maintenance: pruning what slipway made and nobody uses any more. Only objects with this
//! state's labels are considered; containers an environment record or a claim still points
//! at are kept (they go with `destroy`), and runs have their own `clean`.

use std::collections::HashSet;
use std::time::Duration;

use slipway_core::labels::{self, LabelFilter, Role};
use slipway_core::{PruneFilter, RemoveOptions, Result, Timestamp};
use slipway_provision::PrunedDependencies;

use crate::Services;

/// What [`prune`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneOutcome {
    /// Stopped environment and pool containers, by id.
    pub containers: Vec<String>,
    /// Images (main images of repos) by reference or id.
    pub images: Vec<String>,
    /// Disk space the images freed, in bytes.
    pub reclaimed_bytes: u64,
    /// Installs removed from dependency stores (no running environment linked them).
    pub dependencies: Vec<PrunedDependencies>,
}

/// Removes this state's stopped environment and pool containers created more than
/// `older_than` ago that no record or claim holds, then its unused images that old, then
/// the dependency installs installed that long ago that no running environment links.
pub async fn prune(services: &Services, older_than: Duration) -> Result<PruneOutcome> {
    let runtime = services.runtime()?;
    let store = services.store();
    let instance = store.instance_id();
    let mut held: HashSet<String> = store
        .environments()
        .await?
        .into_iter()
        .filter_map(|record| record.container_id.map(|id| id.to_string()))
        .collect();
    held.extend(
        store
            .claims()
            .await?
            .into_iter()
            .map(|lease| lease.container_id.to_string()),
    );
    let cutoff =
        Timestamp::now().unix_millis() - i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX);
    let ours = LabelFilter::managed().with(labels::INSTANCE, instance.as_str());
    let mut outcome = PruneOutcome::default();
    for container in runtime.list_containers(&ours).await? {
        let role = container.labels.get(labels::ROLE).map(String::as_str);
        let prunable_role = role == Some(Role::Pool.as_str()) || role == Some(Role::Env.as_str());
        if !prunable_role
            || held.contains(container.id.as_str())
            || container.state.is_alive()
            || container.created.unix_millis() > cutoff
        {
            continue;
        }
        match runtime
            .remove_container(&container.id, RemoveOptions::force())
            .await
        {
            Ok(()) | Err(slipway_core::Error::NotFound { .. }) => {
                outcome.containers.push(container.id.to_string());
            }
            Err(e) => return Err(e.context(format!("removing container {}", container.id))),
        }
    }
    let images = runtime
        .prune_images(&PruneFilter {
            labels: ours,
            older_than: Some(older_than),
            untagged_only: false,
        })
        .await?;
    outcome.images = images.removed;
    outcome.reclaimed_bytes = images.reclaimed_bytes;
    let environments = services.environments()?;
    outcome.dependencies = environments
        .provisioner()
        .prune_dependencies(older_than, &environments.settings().base_image)
        .await?;
    Ok(outcome)
}
