//! Crash recovery and orphan cleanup for runs.

use std::collections::BTreeSet;
use std::time::Duration;

use slipway_core::labels::Scope;
use slipway_core::{
    labels, AuditEvent, ContainerState, Error, LabelFilter, Result, Role, RunId, RunRecord,
    RunState, Timestamp,
};

use super::inner_daemon;
use super::manager::RUN_HOLDER_PREFIX;
use super::{audit_kind, RunManager};
use crate::sidecar::CACHE_KEY_LABEL;

/// How long another instance's run counts as live without a heartbeat.
const STALE_AFTER: Duration = Duration::from_secs(10 * 60);

/// What `clean` may remove.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanOptions {
    /// Report what would be removed, remove nothing.
    pub dry_run: bool,
    /// Also remove BuildKit state volumes no run has used for this long.
    pub volumes_unused_for: Option<Duration>,
    /// Also delete records of runs that ended this long ago, and audit entries this old
    /// (the audit chain stays verifiable from the first entry kept).
    pub records_older_than: Option<Duration>,
}

/// What `clean` removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CleanReport {
    /// Containers (sidecars and main containers) of no live run.
    pub containers: Vec<String>,
    /// Networks of no live run.
    pub networks: Vec<String>,
    /// Inner-daemon storage of runs that are over, and unused state volumes.
    pub volumes: Vec<String>,
    /// Run records deleted (not counted in a dry run).
    pub run_records: u64,
    /// Audit entries pruned (not counted in a dry run).
    pub audit_entries: u64,
}

impl RunManager {
    /// Finishes what a crash interrupted: every run of this instance that is not over and
    /// whose main container is not running has its resources removed and is marked failed
    /// (stopped, when its command ended with exit code 0). Returns the runs it settled.
    /// For start-up, when no creation of this instance can be in flight.
    pub async fn recover(&self) -> Result<Vec<RunId>> {
        self.recover_idle_for(Duration::ZERO).await
    }

    /// [`recover`](Self::recover), but runs still being created or stopped are left alone
    /// until their record has been idle for `grace`: another process of this instance may
    /// be working on them.
    pub async fn recover_idle_for(&self, grace: Duration) -> Result<Vec<RunId>> {
        let mut settled = Vec::new();
        for mut run in self.store.runs().await? {
            if run.owner != self.instance || run.state.is_terminal() {
                continue;
            }
            let in_flight = matches!(run.state, RunState::Creating | RunState::Stopping);
            // A creation or stop under way keeps its heartbeat fresh, even through a long
            // image pull or health wait.
            if in_flight && run.heartbeat_at.elapsed() < grace {
                continue;
            }
            let main = match &run.main_container_id {
                Some(id) if run.state == RunState::Running => {
                    match self.runtime.inspect_container(id).await {
                        // A recorded id that names something else is no sign of life.
                        Ok(info) if self.run_filter(&run.id).matches(&info.labels) => Some(info),
                        Ok(_) | Err(Error::NotFound { .. }) => None,
                        Err(e) => return Err(e),
                    }
                }
                _ => None,
            };
            // A paused main container is alive: whoever paused it may resume it.
            if main.as_ref().is_some_and(|info| info.state.is_alive()) {
                continue;
            }
            let previous = run.state;
            let clean_exit = main.as_ref().is_some_and(|info| {
                info.state == ContainerState::Exited && info.exit_code == Some(0)
            });
            run.state = if clean_exit {
                RunState::Stopped
            } else {
                RunState::Failed
            };
            if !clean_exit {
                run.error = Some(match previous {
                    RunState::Running => "the main container is gone or exited".to_owned(),
                    state => format!("interrupted while {state}; resources removed by recovery"),
                });
            }
            // Settled first, compare-and-set: if another process changed the run since it
            // was read, it is that process's to finish, and nothing is removed under it.
            match self.save(&mut run).await {
                Ok(()) => {}
                Err(Error::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
            self.remove_resources(&run).await?;
            let kind = if clean_exit {
                audit_kind::RUN_STOPPED
            } else {
                audit_kind::RUN_FAILED
            };
            let mut event = AuditEvent::new(kind).with_run(&run.id);
            if let Some(error) = &run.error {
                event = event.with_detail(error.clone());
            }
            self.audit(event).await;
            settled.push(run.id);
        }
        Ok(settled)
    }

    /// Removes this instance's run containers, sidecars, networks and inner-daemon volumes
    /// whose run is not live (not in the store, or over); with `volumes_unused_for`, also
    /// BuildKit state volumes unused for that long. Resources of live runs are never touched.
    pub async fn clean(&self, options: &CleanOptions) -> Result<CleanReport> {
        let runs = self.store.runs().await?;
        let live: BTreeSet<String> = runs
            .iter()
            .filter(|run| is_live(run, &self.instance))
            .map(|run| run.id.to_string())
            .collect();
        let orphaned = |labels: &slipway_core::Labels| {
            labels
                .get(labels::RUN_ID)
                .is_none_or(|run| !live.contains(run))
        };
        let mut report = CleanReport::default();

        for role in [Role::Run, Role::Buildkit] {
            let filter = self.instance_filter(role);
            for container in self.runtime.list_containers(&filter).await? {
                if !orphaned(&container.labels) {
                    continue;
                }
                if !options.dry_run && self.remove_container(&container.id).await? {
                    self.orphan_removed(&container.labels, "container_id", container.id.as_str())
                        .await;
                }
                report.containers.push(container.id.to_string());
            }
        }
        for network in self
            .network
            .list_networks(&self.instance_filter(Role::Run))
            .await?
        {
            if !orphaned(&network.labels) {
                continue;
            }
            if !options.dry_run {
                self.remove_network(&network.id).await?;
                self.orphan_removed(&network.labels, "network_id", network.id.as_str())
                    .await;
            }
            report.networks.push(network.name);
        }
        // The inner daemons' storage of runs that are over (their containers went above).
        for volume in self
            .runtime
            .list_volumes(&self.instance_filter(Role::Run))
            .await?
        {
            // Storage kept under a cache key is no run's: it stays for the next one.
            if volume.labels.contains_key(inner_daemon::DOCKER_CACHE_LABEL)
                || !orphaned(&volume.labels)
            {
                continue;
            }
            if !options.dry_run {
                match self.runtime.remove_volume(&volume.name).await {
                    Ok(()) | Err(Error::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
                self.orphan_removed(&volume.labels, "volume", &volume.name)
                    .await;
            }
            report.volumes.push(volume.name);
        }
        if !options.dry_run {
            // Locks of runs that are over or unknown.
            for lock in self.store.locks().await? {
                let Some(run) = lock.holder.strip_prefix(RUN_HOLDER_PREFIX) else {
                    continue;
                };
                if !live.contains(run) {
                    self.store.release_lock(&lock.name, &lock.holder).await?;
                }
            }
            // Reservations of runs that are over or unknown (a crash mid-create).
            for reservation in self.store.memory_reservations().await? {
                let Some(run) = reservation.holder.strip_prefix(RUN_HOLDER_PREFIX) else {
                    continue;
                };
                if !live.contains(run) {
                    self.store.release_memory(&reservation.holder).await?;
                }
            }
        }
        if let (Some(age), false) = (options.records_older_than, options.dry_run) {
            let before = Timestamp::from_unix_millis(
                Timestamp::now()
                    .unix_millis()
                    .saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX)),
            );
            report.run_records = self.store.prune_runs(before).await?;
            report.audit_entries = self.store.prune_audit(before).await?;
        }
        if let Some(unused_for) = options.volumes_unused_for {
            let unused = self
                .clean_volumes(&runs, unused_for, options.dry_run)
                .await?;
            report.volumes.extend(unused);
        }
        Ok(report)
    }

    async fn clean_volumes(
        &self,
        runs: &[RunRecord],
        unused_for: Duration,
        dry_run: bool,
    ) -> Result<Vec<String>> {
        let filter = self
            .instance_filter(Role::Buildkit)
            .with_key(CACHE_KEY_LABEL);
        let mut removed = Vec::new();
        for volume in self.runtime.list_volumes(&filter).await? {
            let users = runs
                .iter()
                .filter(|run| run.state_volume.as_deref() == Some(volume.name.as_str()));
            let in_use = users.clone().any(|run| is_live(run, &self.instance));
            let last_used = users.map(|run| run.updated_at).chain(volume.created).max();
            let idle = last_used.is_none_or(|at| at.elapsed() >= unused_for);
            if in_use || !idle {
                continue;
            }
            if !dry_run {
                match self.runtime.remove_volume(&volume.name).await {
                    Ok(()) | Err(Error::NotFound { .. }) => {}
                    // Still mounted by something: not unused after all.
                    Err(Error::Conflict(_)) => continue,
                    Err(e) => return Err(e),
                }
                self.orphan_removed(&volume.labels, "volume", &volume.name)
                    .await;
            }
            removed.push(volume.name);
        }
        Ok(removed)
    }

    fn instance_filter(&self, role: Role) -> LabelFilter {
        Scope::new(role, &self.instance).filter()
    }

    async fn orphan_removed(&self, labels: &slipway_core::Labels, resource: &str, id: &str) {
        let mut event = AuditEvent::new(audit_kind::ORPHAN_REMOVED).with_resource(resource, id);
        if let Some(run) = labels.get(labels::RUN_ID) {
            event = event.with_run(&RunId::new(run.clone()));
        }
        self.audit(event).await;
    }
}

/// A run whose resources must be left alone: not over, and owned by this instance or by
/// one that showed it is alive recently.
fn is_live(run: &RunRecord, instance: &slipway_core::InstanceId) -> bool {
    !run.state.is_terminal() && (run.owner == *instance || run.heartbeat_at.elapsed() < STALE_AFTER)
}
