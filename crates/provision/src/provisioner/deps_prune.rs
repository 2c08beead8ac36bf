//! Pruning dependency stores: installs no running environment links and installed longer
//! ago than the caller's age go, and a store left empty goes with them.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use slipway_core::labels::{self, LabelFilter, Scope};
use slipway_core::{
    run_container, ContainerId, ContainerSpec, Error, ExecRequest, ImageRef, Mount, RemoveOptions,
    Result, Role, IDLE_COMMAND,
};

use super::phases::marker_path;
use super::{scripts, Provisioner, DEPENDENCY_STORE_LABEL};

/// Where the helper that prunes a store mounts it.
const STORE_DIR: &str = "/store";
/// Short execs of the prune.
const PRUNE_EXEC: Duration = Duration::from_secs(120);

/// One install [`Provisioner::prune_dependencies`] removed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PrunedDependencies {
    /// The store volume.
    pub volume: String,
    /// The lockfile fingerprint (or a partial copy an interrupted install left).
    pub entry: String,
}

/// An entry of a store as [`scripts::LIST_DEPS`] prints it.
#[derive(Debug, PartialEq, Eq)]
struct StoreEntry {
    name: String,
    age: Duration,
}

fn parse_entries(listing: &str) -> Vec<StoreEntry> {
    listing
        .lines()
        .filter_map(|line| {
            let (name, age) = line.rsplit_once(' ')?;
            Some(StoreEntry {
                name: name.to_owned(),
                age: Duration::from_secs(age.trim().parse().ok()?),
            })
        })
        .collect()
}

/// The entries to remove: installs older than `older_than` that nothing in `in_use` links,
/// and partial copies older than `older_than` and `partial_grace` (an install may still be
/// writing one).
fn doomed(
    entries: &[StoreEntry],
    in_use: &BTreeSet<String>,
    older_than: Duration,
    partial_grace: Duration,
) -> Vec<String> {
    entries
        .iter()
        .filter(|entry| {
            if entry.name.starts_with(".partial-") {
                entry.age >= older_than.max(partial_grace)
            } else {
                entry.age >= older_than && !in_use.contains(&entry.name)
            }
        })
        .map(|entry| entry.name.clone())
        .collect()
}

impl Provisioner {
    /// Removes from this state's dependency stores the installs that no running
    /// environment links and that were installed more than `older_than` ago, then the
    /// stores left empty that no container mounts. The stores are read and written from a
    /// short-lived container of `helper_image` (any image with a POSIX shell). Stopped
    /// environments don't hold an install: their next setup links (or installs) again.
    pub async fn prune_dependencies(
        &self,
        older_than: Duration,
        helper_image: &ImageRef,
    ) -> Result<Vec<PrunedDependencies>> {
        let ours = LabelFilter::managed().with(labels::INSTANCE, self.instance.as_str());
        let stores = self
            .runtime
            .list_volumes(&ours.clone().with(DEPENDENCY_STORE_LABEL, "true"))
            .await?;
        if stores.is_empty() {
            return Ok(Vec::new());
        }
        let in_use = self
            .linked_installs(ours.with_key(DEPENDENCY_STORE_LABEL))
            .await?;
        let mut pruned = Vec::new();
        for store in stores {
            let none = BTreeSet::new();
            let linked = in_use.get(&store.name).unwrap_or(&none);
            let (removed, empty) = self
                .prune_store(&store.name, linked, older_than, helper_image)
                .await
                .map_err(|e| e.context(format!("pruning the dependency store {}", store.name)))?;
            pruned.extend(removed.into_iter().map(|entry| PrunedDependencies {
                volume: store.name.clone(),
                entry,
            }));
            if empty {
                match self.runtime.remove_volume(&store.name).await {
                    // Mounted by a container (a stopped environment, an install under way).
                    Ok(()) | Err(Error::NotFound { .. } | Error::Conflict(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(pruned)
    }

    /// The installs running environments link, by store volume.
    async fn linked_installs(
        &self,
        filter: LabelFilter,
    ) -> Result<HashMap<String, BTreeSet<String>>> {
        let marker = marker_path(&self.config.deps_mount);
        let mut linked: HashMap<String, BTreeSet<String>> = HashMap::new();
        for container in self.runtime.list_containers(&filter).await? {
            let Some(store) = container.labels.get(DEPENDENCY_STORE_LABEL) else {
                continue;
            };
            if !container.state.is_alive() {
                continue;
            }
            let read =
                ExecRequest::new(["/bin/sh", "-c", scripts::READ_MARKER, "slipway", &marker])
                    .with_timeout(PRUNE_EXEC);
            match self.runtime.exec(&container.id, &read).await {
                Ok(outcome) => {
                    let hash = outcome.stdout_text().trim().to_owned();
                    if !hash.is_empty() {
                        linked.entry(store.clone()).or_default().insert(hash);
                    }
                }
                // Gone since the listing: it links nothing any more.
                Err(Error::NotFound { .. }) => {}
                Err(e) => {
                    return Err(e.context(format!("reading what container {} links", container.id)))
                }
            }
        }
        Ok(linked)
    }

    /// Prunes one store; returns what went and whether the store is empty now.
    async fn prune_store(
        &self,
        volume: &str,
        in_use: &BTreeSet<String>,
        older_than: Duration,
        helper_image: &ImageRef,
    ) -> Result<(Vec<String>, bool)> {
        let mut labels = self.config.labels.clone();
        labels.extend(Scope::new(Role::Build, &self.instance).labels());
        let spec = ContainerSpec::new(helper_image.clone())
            .with_cmd(IDLE_COMMAND)
            .with_init(true)
            .with_labels(labels)
            .with_mount(Mount::Volume {
                name: volume.to_owned(),
                target: STORE_DIR.to_owned(),
                read_only: false,
            });
        let helper = run_container(self.runtime.as_ref(), &spec).await?;
        let pruned = self.prune_in(&helper, in_use, older_than).await;
        let removed = self
            .runtime
            .remove_container(&helper, RemoveOptions::force())
            .await;
        let pruned = pruned?;
        removed?;
        Ok(pruned)
    }

    async fn prune_in(
        &self,
        helper: &ContainerId,
        in_use: &BTreeSet<String>,
        older_than: Duration,
    ) -> Result<(Vec<String>, bool)> {
        let run = |script: &str, args: Vec<String>| {
            let mut cmd = vec![
                "/bin/sh".to_owned(),
                "-c".to_owned(),
                script.to_owned(),
                "slipway".to_owned(),
                STORE_DIR.to_owned(),
            ];
            cmd.extend(args);
            let request = ExecRequest::new(cmd).with_timeout(PRUNE_EXEC);
            async move {
                let outcome = self.runtime.exec(helper, &request).await?;
                if !outcome.success() {
                    return Err(Error::backend(format!(
                        "the store helper exited with {:?}: {}",
                        outcome.exit_code,
                        outcome.stderr_text().trim()
                    )));
                }
                Ok(outcome.stdout_text())
            }
        };
        let entries = parse_entries(&run(scripts::LIST_DEPS, Vec::new()).await?);
        let doomed = doomed(
            &entries,
            in_use,
            older_than,
            self.config.install_timeout * 2,
        );
        if doomed.is_empty() {
            return Ok((Vec::new(), entries.is_empty()));
        }
        let removed: Vec<String> = run(scripts::REMOVE_DEPS, doomed)
            .await?
            .lines()
            .map(str::to_owned)
            .collect();
        Ok((removed.clone(), removed.len() == entries.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_old_unlinked_installs_and_stale_partials_go() {
        let entries = parse_entries(
            "aaa 7200\nbbb 7200\nccc 10\n.partial-ddd-12 7200\n.partial-eee-13 100000\nbad line\n",
        );
        assert_eq!(entries.len(), 5);
        let in_use = BTreeSet::from(["bbb".to_owned()]);
        let hour = Duration::from_secs(3600);
        assert_eq!(
            doomed(&entries, &in_use, hour, 3 * hour),
            ["aaa", ".partial-eee-13"]
        );
        assert_eq!(
            doomed(&entries, &in_use, Duration::ZERO, Duration::ZERO),
            ["aaa", "ccc", ".partial-ddd-12", ".partial-eee-13"]
        );
    }
}
