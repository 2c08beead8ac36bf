//! [`RunManager`]: runs with Docker inside. `docker:host` mounts the engine's socket;
//! `docker:dind` gets a private network, a health-checked BuildKit sidecar on it and a
//! privileged main container. Every resource is announced in the store before it is
//! created, so [`RunManager::recover`] can finish what a crash interrupted.

mod cleanup;
mod failpoint;
mod spec;

use std::sync::Arc;
use std::time::Duration;

use slipway_core::labels::{self, Scope};
use slipway_core::prelude::*;
use slipway_core::{
    run_container, AuditEvent, ContainerId, DockerMode, Error, InstanceId, LabelFilter, Labels,
    NetworkId, NetworkSpec, PrivilegeProfile, RemoveOptions, Result, Role, RunId, RunRecord,
    RunState, Sidecar, SidecarHandle, Timestamp,
};

pub use cleanup::{CleanOptions, CleanReport};
pub use failpoint::{FailAction, Step};
pub use spec::RunSpec;

use crate::sidecar::BuildkitSidecar;
use failpoint::{Failpoints, Interrupt};

/// Audit event kinds written by runs.
pub mod audit_kind {
    /// A run was recorded (before anything is created).
    pub const RUN_CREATED: &str = "run_created";
    /// A run's private network was created.
    pub const DOCKER_NETWORK_CREATED: &str = "docker_network_created";
    /// The BuildKit sidecar container started.
    pub const BUILDKIT_SIDECAR_STARTED: &str = "buildkit_sidecar_started";
    /// The BuildKit sidecar passed its health probe.
    pub const BUILDKIT_SIDECAR_HEALTHY: &str = "buildkit_sidecar_healthy";
    /// The BuildKit sidecar was removed.
    pub const BUILDKIT_SIDECAR_STOPPED: &str = "buildkit_sidecar_stopped";
    /// A run was stopped and its resources removed.
    pub const RUN_STOPPED: &str = "run_stopped";
    /// A run failed (while being created, or found dead by recovery).
    pub const RUN_FAILED: &str = "run_failed";
    /// A resource of no live run was removed by `clean`.
    pub const ORPHAN_REMOVED: &str = "orphan_removed";
}

/// Where a host engine's socket is mounted and what `DOCKER_HOST` says inside runs.
pub const DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// Creates, stops, lists, recovers and cleans runs.
pub struct RunManager {
    runtime: Arc<dyn Runtime>,
    network: Arc<dyn Network>,
    store: Arc<dyn Store>,
    sidecar: Arc<BuildkitSidecar>,
    instance: InstanceId,
    labels: Labels,
    failpoints: Failpoints,
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
        }
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

    /// Creates a run and returns its record (state `running`). On failure everything created
    /// so far is removed, the run is recorded as failed and the first error is returned.
    pub async fn create(&self, spec: RunSpec) -> Result<RunRecord> {
        spec.validate()?;
        let privilege = spec.effective_privilege();
        if let Err(refused) = self.check_capabilities(&spec, &privilege) {
            self.audit(
                AuditEvent::new(audit_kind::RUN_FAILED)
                    .with_resource("image", spec.image.as_str())
                    .with_detail(refused.to_string()),
            )
            .await;
            return Err(refused);
        }

        let now = Timestamp::now();
        let id = RunId::new(uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
        let mut record = RunRecord {
            id: id.clone(),
            name: spec.name.as_ref().map(ToString::to_string),
            mode: spec.docker,
            image: spec.image.clone(),
            state: RunState::Creating,
            network_id: None,
            sidecar_id: None,
            main_container_id: None,
            state_volume: None,
            owner: self.instance.clone(),
            heartbeat_at: now,
            created_at: now,
            updated_at: now,
            error: None,
        };
        self.store.put_run(&record).await?;
        let detail = match spec.docker {
            DockerMode::Host => {
                "docker:host — a host-root run: the host engine's socket is mounted"
            }
            DockerMode::Dind => "docker:dind — own daemon with a BuildKit sidecar",
            DockerMode::None => "no Docker access",
        };
        self.audit(
            AuditEvent::new(audit_kind::RUN_CREATED)
                .with_run(&id)
                .with_resource("image", spec.image.as_str())
                .with_detail(detail),
        )
        .await;

        let mut created = Created::default();
        match self
            .create_steps(&spec, privilege, &mut record, &mut created)
            .await
        {
            Ok(()) => Ok(record),
            Err(Interrupt::Crashed(error)) => Err(error),
            Err(Interrupt::Failed(error)) => {
                self.undo(&created).await;
                record.state = RunState::Failed;
                record.error = Some(error.to_string());
                record.updated_at = Timestamp::now();
                if let Err(e) = self.store.put_run(&record).await {
                    tracing::warn!(run = %id, error = %e, "failed to record a failed run");
                }
                self.audit(
                    AuditEvent::new(audit_kind::RUN_FAILED)
                        .with_run(&id)
                        .with_detail(error.to_string()),
                )
                .await;
                Err(error)
            }
        }
    }

    fn check_capabilities(&self, spec: &RunSpec, privilege: &PrivilegeProfile) -> Result<()> {
        let capabilities = self.runtime.capabilities();
        match spec.docker {
            DockerMode::Host if capabilities.host_socket.is_none() => {
                return Err(Error::invalid(
                    "docker mode",
                    "docker:host needs the engine's socket on this host, but slipway's engine is remote; use docker:dind",
                ));
            }
            DockerMode::Dind if !capabilities.sidecars => {
                return Err(Error::invalid(
                    "docker mode",
                    "this runtime can't run sidecar containers on private networks, which docker:dind needs",
                ));
            }
            _ => {}
        }
        let wants_privileged = *privilege == PrivilegeProfile::Privileged
            || (spec.docker == DockerMode::Dind
                && self.sidecar.config().privilege == PrivilegeProfile::Privileged);
        if wants_privileged && !capabilities.privileged {
            return Err(Error::invalid(
                "privilege",
                "this runtime does not allow privileged containers; use the capability profile (privilege `caps`)",
            ));
        }
        Ok(())
    }

    async fn create_steps(
        &self,
        spec: &RunSpec,
        privilege: PrivilegeProfile,
        record: &mut RunRecord,
        created: &mut Created,
    ) -> std::result::Result<(), Interrupt> {
        let id = record.id.clone();
        self.failpoints.check(Step::Recorded)?;
        let mut env = spec.env.clone();
        let mut container = spec.container_spec(&id, &self.instance, privilege);
        container.labels.extend(self.labels.clone());
        match spec.docker {
            DockerMode::None => {}
            DockerMode::Host => {
                let socket = self
                    .runtime
                    .capabilities()
                    .host_socket
                    .expect("checked before the run was recorded");
                container.mounts.push(slipway_core::Mount::Bind {
                    source: socket,
                    target: DOCKER_SOCKET.into(),
                    read_only: false,
                });
                env.insert("DOCKER_HOST".into(), format!("unix://{DOCKER_SOCKET}"));
            }
            DockerMode::Dind => {
                let handle = self.start_sidecar(record, created).await?;
                env.extend(handle.env.clone());
                env.insert("SLIPWAY_DOCKER_DIND".into(), "1".into());
                env.insert("DOCKER_HOST".into(), format!("unix://{DOCKER_SOCKET}"));
                container.network = Some(slipway_core::NetworkAttachment {
                    network: handle.network_id.to_string(),
                    aliases: Vec::new(),
                });
            }
        }
        container.env = env;

        // Intent: the main container's name, before it exists.
        let name = container
            .name
            .as_ref()
            .map(ToString::to_string)
            .expect("run containers are always named");
        record.main_container_id = Some(ContainerId::new(name));
        self.save(record).await?;
        let main = run_container(self.runtime.as_ref(), &container)
            .await
            .map_err(|e| main_start_error(e, &container.privilege))?;
        created.main = Some(main.clone());
        record.main_container_id = Some(main);
        self.failpoints.check(Step::MainStarted)?;
        record.state = RunState::Running;
        self.save(record).await?;
        Ok(())
    }

    async fn start_sidecar(
        &self,
        record: &mut RunRecord,
        created: &mut Created,
    ) -> std::result::Result<SidecarHandle, Interrupt> {
        let id = record.id.clone();
        let network_name = format!("slipway-{id}");
        record.network_id = Some(NetworkId::new(network_name.clone()));
        self.save(record).await?;
        let mut network_labels = self.labels.clone();
        network_labels.extend(run_scope(&id, &self.instance).labels());
        let network = self
            .network
            .create_network(&NetworkSpec {
                name: network_name.parse()?,
                labels: network_labels,
                internal: false,
            })
            .await
            .map_err(|e| {
                Error::backend(format!(
                    "failed to create Docker network for buildkit sidecar: {e}"
                ))
            })?;
        created.network = Some(network.clone());
        record.network_id = Some(network.clone());
        self.save(record).await?;
        self.audit(
            AuditEvent::new(audit_kind::DOCKER_NETWORK_CREATED)
                .with_run(&id)
                .with_resource("network_id", network.as_str())
                .with_resource("network_name", &network_name),
        )
        .await;
        self.failpoints.check(Step::NetworkCreated)?;

        self.sidecar.ensure_image().await?;
        record.state_volume = Some(self.sidecar.ensure_state_volume().await?);
        record.sidecar_id = Some(ContainerId::new(crate::sidecar::sidecar_name(&id)));
        self.save(record).await?;
        let handle = self.sidecar.start(&id, &network).await?;
        created.sidecar = Some(handle.clone());
        record.sidecar_id = Some(handle.container_id.clone());
        self.save(record).await?;
        self.audit(
            AuditEvent::new(audit_kind::BUILDKIT_SIDECAR_STARTED)
                .with_run(&id)
                .with_resource("container_id", handle.container_id.as_str())
                .with_resource("image", self.sidecar.config().image.as_str())
                .with_resource(
                    "state_volume",
                    record.state_volume.as_deref().unwrap_or_default(),
                ),
        )
        .await;
        self.failpoints.check(Step::SidecarStarted)?;

        self.sidecar
            .wait_healthy(&handle, self.sidecar.config().health_timeout)
            .await?;
        self.audit(
            AuditEvent::new(audit_kind::BUILDKIT_SIDECAR_HEALTHY)
                .with_run(&id)
                .with_resource("container_id", handle.container_id.as_str())
                .with_detail(format!("{} probe", self.sidecar.config().probe)),
        )
        .await;
        self.failpoints.check(Step::SidecarHealthy)?;
        Ok(handle)
    }

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
    async fn remove_resources(&self, record: &RunRecord) -> Result<()> {
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
    async fn remove_container(&self, id: &ContainerId) -> Result<bool> {
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
    async fn remove_network(&self, id: &NetworkId) -> Result<()> {
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

    async fn undo(&self, created: &Created) {
        if let Some(main) = &created.main {
            if let Err(e) = self.remove_container(main).await {
                tracing::warn!(container = %main, error = %e, "failed to remove a run's main container");
            }
        }
        if let Some(handle) = &created.sidecar {
            if let Err(e) = self.sidecar.stop(handle).await {
                tracing::warn!(container = %handle.container_id, error = %e, "failed to remove a BuildKit sidecar");
            }
        }
        if let Some(network) = &created.network {
            if let Err(e) = self.remove_network(network).await {
                tracing::warn!(network = %network, error = %e, "failed to remove a run's network");
            }
        }
    }

    async fn save(&self, record: &mut RunRecord) -> Result<()> {
        record.updated_at = Timestamp::now();
        record.heartbeat_at = record.updated_at;
        self.store.put_run(record).await
    }

    async fn audit(&self, event: AuditEvent) {
        if let Err(e) = self.store.append_audit(&event).await {
            tracing::warn!(kind = %event.kind, error = %e, "failed to append to the audit log");
        }
    }
}

/// What a run's creation made so far, undone in reverse on failure.
#[derive(Default)]
struct Created {
    network: Option<NetworkId>,
    sidecar: Option<SidecarHandle>,
    main: Option<ContainerId>,
}

fn main_start_error(error: Error, privilege: &PrivilegeProfile) -> Error {
    if *privilege == PrivilegeProfile::Privileged {
        Error::backend(format!(
            "failed to start the run's privileged main container: {error}; if this engine refuses privileged containers, use the capability profile (privilege `caps`)"
        ))
    } else {
        error
    }
}

/// The main container and network of `run`.
pub(crate) fn run_scope(run: &RunId, instance: &InstanceId) -> Scope {
    Scope::new(Role::Run, instance).with(labels::RUN_ID, run.as_str())
}

/// Labels every container of a run carries.
pub(crate) fn run_labels(run: &RunId, instance: &InstanceId, extra: &Labels) -> Labels {
    let mut labels = extra.clone();
    labels.extend(run_scope(run, instance).labels());
    labels
}

#[cfg(test)]
mod tests {
    use slipway_core::ErrorKind;
    use slipway_testkit::{FakeRuntime, MemoryStore};

    use super::*;
    use crate::BuildkitConfig;

    fn manager(runtime: Arc<FakeRuntime>, store: Arc<MemoryStore>) -> RunManager {
        let instance = InstanceId::new("test");
        let sidecar =
            BuildkitSidecar::new(runtime.clone(), instance.clone(), BuildkitConfig::default())
                .unwrap();
        RunManager::new(runtime.clone(), runtime, store, Arc::new(sidecar), instance)
    }

    #[tokio::test]
    async fn docker_host_on_a_remote_engine_is_refused_before_anything_happens() {
        let runtime = Arc::new(FakeRuntime::new());
        let store = Arc::new(MemoryStore::new("test"));
        let manager = manager(runtime.clone(), store.clone());
        let spec = RunSpec::new("busybox:1".parse().unwrap()).with_docker(DockerMode::Host);
        let error = manager.create(spec).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Invalid);
        assert!(error.to_string().contains("remote"), "{error}");
        assert!(store.runs().await.unwrap().is_empty());
        assert!(runtime.calls().is_empty(), "{:?}", runtime.calls());
    }

    #[tokio::test]
    async fn a_failed_network_says_what_failed_and_leaves_nothing() {
        let runtime = Arc::new(FakeRuntime::new());
        runtime.fail_op("create_network", ErrorKind::Conflict, 1);
        let store = Arc::new(MemoryStore::new("test"));
        let manager = manager(runtime.clone(), store.clone());
        let spec = RunSpec::new("busybox:1".parse().unwrap())
            .with_docker(DockerMode::Dind)
            .with_privilege(PrivilegeProfile::Default);
        let error = manager.create(spec).await.unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("failed to create Docker network for buildkit sidecar: "),
            "{error}"
        );
        let run = &store.runs().await.unwrap()[0];
        assert_eq!(run.state, RunState::Failed);
        assert!(runtime.container_ids().is_empty());
        assert!(runtime.network_names().is_empty());
    }
}
