//! Creating a run: the intent record first, then network, sidecar and main container, each
//! announced in the store before it exists and undone in reverse when a later step fails.

use slipway_core::{
    run_container, AuditEvent, ContainerId, DockerMode, Error, NetworkId, NetworkSpec,
    PrivilegeProfile, Result, RunId, RunRecord, RunState, Sidecar, SidecarHandle, Timestamp,
};

use super::error::RunError;
use super::failpoint::{Interrupt, Step};
use super::inner_daemon;
use super::manager::memory_holder;
use super::spec::{run_scope, RunSpec};
use super::{audit_kind, RunManager, DOCKER_SOCKET};
use crate::health::HealthProbe;
use crate::sidecar::{BuildkitSidecar, MAX_STATE_SLOTS};

impl RunManager {
    /// Creates a run and returns its record (state `running`). On failure everything created
    /// so far is removed, the run is recorded as failed and the first error is returned; it
    /// names the run ([`RunError::run_id`]) unless the run was refused before being recorded.
    pub async fn create(&self, spec: RunSpec) -> Result<RunRecord, RunError> {
        spec.validate().map_err(RunError::Refused)?;
        let privilege = spec.effective_privilege();
        let sidecar = self.sidecar.with_overrides(&spec.sidecar);
        if let Err(refused) = self.check_capabilities(&spec, &privilege, &sidecar) {
            self.audit(
                AuditEvent::new(audit_kind::RUN_FAILED)
                    .with_resource("image", spec.image.as_str())
                    .with_detail(refused.to_string()),
            )
            .await;
            return Err(RunError::Refused(refused));
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
        self.store
            .put_run(&record)
            .await
            .map_err(|source| RunError::Record {
                run: id.clone(),
                source,
            })?;
        self.audit(
            AuditEvent::new(audit_kind::RUN_CREATED)
                .with_run(&id)
                .with_resource("image", spec.image.as_str())
                .with_detail(access_detail(spec.docker, &privilege)),
        )
        .await;

        let mut created = Created::default();
        let steps = Steps {
            spec: &spec,
            sidecar: &sidecar,
        };
        let heartbeat = Heartbeat::start(self.store.clone(), id.clone());
        let outcome = self
            .create_steps(&steps, privilege, &mut record, &mut created)
            .await;
        drop(heartbeat);
        match outcome {
            Ok(()) => Ok(record),
            Err(Interrupt::Crashed(error)) => Err(error),
            Err(Interrupt::Failed(error)) => {
                self.undo(&sidecar, &created).await;
                self.release_memory(&id).await;
                self.release_locks(&id).await;
                record.state = RunState::Failed;
                record.error = Some(error.to_string());
                match self.save(&mut record).await {
                    // Another process settled it already.
                    Ok(()) | Err(Error::Conflict(_)) => {}
                    Err(e) => {
                        tracing::warn!(run = %id, error = %e, "failed to record a failed run");
                    }
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

    fn check_capabilities(
        &self,
        spec: &RunSpec,
        privilege: &PrivilegeProfile,
        sidecar: &BuildkitSidecar,
    ) -> Result<()> {
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
                && sidecar.config().privilege == PrivilegeProfile::Privileged);
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
        steps: &Steps<'_>,
        privilege: PrivilegeProfile,
        record: &mut RunRecord,
        created: &mut Created,
    ) -> std::result::Result<(), Interrupt> {
        let (spec, id) = (steps.spec, record.id.clone());
        self.failpoints.check(Step::Recorded, &id)?;
        if let Some(limit) = self.memory_budget {
            let sidecar = match spec.docker {
                DockerMode::Dind => steps.sidecar.config().memory_bytes,
                _ => 0,
            };
            let bytes = spec.memory_bytes.saturating_add(sidecar);
            self.store
                .reserve_memory(&memory_holder(&id), bytes, limit)
                .await
                .map_err(|source| RunError::Reserve {
                    run: id.clone(),
                    source,
                })?;
        }
        let mut env = spec.env.clone();
        let mut starting_sidecar = None;
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
                let (sidecar, handle) = self.start_sidecar(steps.sidecar, record, created).await?;
                if !spec.starts_inner_daemon() {
                    // The command starts with the container: the sidecar must serve first.
                    self.sidecar_healthy(&sidecar, &handle).await?;
                }
                starting_sidecar = Some((sidecar, handle.clone()));
                env.extend(handle.env.clone());
                env.insert("SLIPWAY_DOCKER_DIND".into(), "1".into());
                env.insert("DOCKER_HOST".into(), format!("unix://{DOCKER_SOCKET}"));
                container.network = Some(slipway_core::NetworkAttachment {
                    network: handle.network_id.to_string(),
                    aliases: Vec::new(),
                });
                if spec.starts_inner_daemon() {
                    let volume = self
                        .create_docker_volume(&id, spec.docker_cache.as_deref(), created)
                        .await?;
                    container.mounts.push(slipway_core::Mount::Volume {
                        name: volume,
                        target: inner_daemon::DATA_ROOT.to_owned(),
                        read_only: false,
                    });
                    if steps.sidecar.config().probe == HealthProbe::Grpc {
                        env.insert(inner_daemon::BUILDX_ENV.into(), "1".into());
                        env.insert("BUILDX_BUILDER".into(), inner_daemon::BUILDX_BUILDER.into());
                    }
                    let (entrypoint, cmd) = inner_daemon::wrap(&spec.command);
                    container.entrypoint = Some(entrypoint);
                    container.cmd = Some(cmd);
                }
            }
        }
        container.env = env;

        let hint = if container.privilege == PrivilegeProfile::Privileged {
            "; if this engine refuses privileged containers, use the capability profile (privilege `caps`)"
        } else {
            ""
        };
        let main = run_container(self.runtime.as_ref(), &container)
            .await
            .map_err(|source| RunError::StartMain {
                run: id.clone(),
                hint,
                source,
            })?;
        created.main = Some(main.clone());
        record.main_container_id = Some(main.clone());
        self.save_step(record).await?;
        self.failpoints.check(Step::MainStarted, &id)?;
        if spec.starts_inner_daemon() {
            // The inner daemon boots while the sidecar becomes healthy; the command waits
            // for both.
            let sidecar_healthy = async {
                match &starting_sidecar {
                    Some((sidecar, handle)) => self.sidecar_healthy(sidecar, handle).await,
                    None => Ok(()),
                }
            };
            let inner_ready = async {
                self.inner_daemon_ready(spec, &id, &main)
                    .await
                    .map_err(Interrupt::from)
            };
            tokio::try_join!(sidecar_healthy, inner_ready)?;
            inner_daemon::go(self.runtime.as_ref(), &main)
                .await
                .map_err(|source| RunError::InnerDaemon {
                    run: id.clone(),
                    source,
                })?;
        }
        record.state = RunState::Running;
        self.save_step(record).await?;
        Ok(())
    }

    async fn start_sidecar(
        &self,
        sidecar: &BuildkitSidecar,
        record: &mut RunRecord,
        created: &mut Created,
    ) -> std::result::Result<(BuildkitSidecar, SidecarHandle), Interrupt> {
        let id = record.id.clone();
        let run = || id.clone();
        let network_name = format!("slipway-{id}");
        let mut network_labels = self.labels.clone();
        network_labels.extend(run_scope(&id, &self.instance).labels());
        let network = self
            .network
            .create_network(&NetworkSpec {
                name: network_name
                    .parse()
                    .expect("run ids make valid network names"),
                labels: network_labels,
                internal: false,
                isolated: false,
            })
            .await
            .map_err(|source| RunError::CreateNetwork {
                run: run(),
                name: network_name.clone(),
                source,
            })?;
        created.network = Some(network.clone());
        record.network_id = Some(network.clone());
        self.save_step(record).await?;
        self.audit(
            AuditEvent::new(audit_kind::DOCKER_NETWORK_CREATED)
                .with_run(&id)
                .with_resource("network_id", network.as_str())
                .with_resource("network_name", &network_name),
        )
        .await;
        self.failpoints.check(Step::NetworkCreated, &id)?;

        sidecar
            .ensure_image()
            .await
            .map_err(|source| RunError::SidecarImage {
                run: run(),
                image: sidecar.config().image.to_string(),
                source,
            })?;
        let (claimed, volume) = self
            .claim_state_volume(sidecar, &id)
            .await
            .map_err(|source| RunError::StateVolume { run: run(), source })?;
        let sidecar = &claimed;
        record.state_volume = Some(volume);
        self.save_step(record).await?;
        let handle = sidecar
            .start(&id, &network)
            .await
            .map_err(|source| RunError::StartSidecar { run: run(), source })?;
        created.sidecar = Some(handle.clone());
        record.sidecar_id = Some(handle.container_id.clone());
        self.save_step(record).await?;
        self.audit(
            AuditEvent::new(audit_kind::BUILDKIT_SIDECAR_STARTED)
                .with_run(&id)
                .with_resource("container_id", handle.container_id.as_str())
                .with_resource("image", sidecar.config().image.as_str())
                .with_resource(
                    "state_volume",
                    record.state_volume.as_deref().unwrap_or_default(),
                ),
        )
        .await;
        self.failpoints.check(Step::SidecarStarted, &id)?;
        Ok((claimed, handle))
    }

    /// Waits until the sidecar passes its probe.
    async fn sidecar_healthy(
        &self,
        sidecar: &BuildkitSidecar,
        handle: &SidecarHandle,
    ) -> std::result::Result<(), Interrupt> {
        let id = &handle.run_id;
        sidecar
            .wait_healthy(handle, sidecar.config().health_timeout)
            .await
            .map_err(|source| RunError::SidecarUnhealthy {
                run: id.clone(),
                source,
            })?;
        self.audit(
            AuditEvent::new(audit_kind::BUILDKIT_SIDECAR_HEALTHY)
                .with_run(id)
                .with_resource("container_id", handle.container_id.as_str())
                .with_detail(format!("{} probe", sidecar.config().probe)),
        )
        .await;
        self.failpoints.check(Step::SidecarHealthy, id)?;
        Ok(())
    }

    /// The first of the cache key's BuildKit state volumes no live run holds, locked for
    /// this run until it ends (BuildKit locks its state directory: a second sidecar on the
    /// same volume would never become healthy), and the sidecar that mounts it.
    async fn claim_state_volume(
        &self,
        sidecar: &BuildkitSidecar,
        id: &RunId,
    ) -> Result<(BuildkitSidecar, String)> {
        let holder = memory_holder(id);
        for slot in 1..=MAX_STATE_SLOTS {
            let candidate = sidecar.in_state_slot(slot);
            let name = candidate.state_volume()?.to_string();
            match self.store.acquire_lock(&name, &holder).await {
                Ok(()) => {}
                Err(Error::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
            match candidate.ensure_state_volume().await {
                Ok(volume) => return Ok((candidate, volume)),
                // A volume of that name that is not this key's (its labels differ).
                Err(Error::Conflict(_)) => {
                    let _ = self.store.release_lock(&name, &holder).await;
                }
                Err(e) => {
                    let _ = self.store.release_lock(&name, &holder).await;
                    return Err(e);
                }
            }
        }
        Err(Error::Conflict(format!(
            "all {MAX_STATE_SLOTS} BuildKit state volumes of cache key `{}` are in use by live runs; \
             wait until one ends or use another cache key",
            sidecar.config().cache_key
        )))
    }

    /// The volume for the inner daemon's storage: the run's own (it carries the run's labels,
    /// so the run's teardown removes it), or the one kept under `cache_key`, locked for this
    /// run until it ends.
    async fn create_docker_volume(
        &self,
        id: &RunId,
        cache_key: Option<&str>,
        created: &mut Created,
    ) -> std::result::Result<String, RunError> {
        let failed = |source| RunError::DockerVolume {
            run: id.clone(),
            source,
        };
        let mut labels = self.labels.clone();
        let name = match cache_key {
            None => {
                labels.extend(run_scope(id, &self.instance).labels());
                format!("slipway-run-{id}-docker")
            }
            Some(key) => {
                labels.extend(
                    slipway_core::labels::Scope::new(slipway_core::Role::Run, &self.instance)
                        .with(inner_daemon::DOCKER_CACHE_LABEL, key)
                        .labels(),
                );
                let name = format!("slipway-dind-{}-{key}", self.instance);
                self.store
                    .acquire_lock(&name, &memory_holder(id))
                    .await
                    .map_err(failed)?;
                name
            }
        };
        let spec = slipway_core::VolumeSpec {
            name: name.parse().map_err(failed)?,
            labels,
        };
        let volume = self.runtime.ensure_volume(&spec).await.map_err(failed)?;
        if cache_key.is_none() {
            created.docker_volume = Some(volume.name.to_string());
        }
        Ok(volume.name.to_string())
    }

    /// Waits until the inner daemon answers and loads the images the run asked for; the
    /// command starts at [`inner_daemon::go`].
    async fn inner_daemon_ready(
        &self,
        spec: &RunSpec,
        id: &RunId,
        main: &ContainerId,
    ) -> std::result::Result<(), RunError> {
        let failed = |source| RunError::InnerDaemon {
            run: id.clone(),
            source,
        };
        let started = std::time::Instant::now();
        let runtime = self.runtime.as_ref();
        inner_daemon::wait_ready(runtime, main)
            .await
            .map_err(failed)?;
        let ready_in = started.elapsed();
        inner_daemon::load_images(runtime, main, &spec.load_images)
            .await
            .map_err(failed)?;
        tracing::debug!(run = %id, ready_ms = ready_in.as_millis() as u64, "the inner daemon answers");
        Ok(())
    }

    /// Saves a step's record; a failure to do so fails the run.
    async fn save_step(&self, record: &mut RunRecord) -> std::result::Result<(), RunError> {
        self.save(record).await.map_err(|source| RunError::Record {
            run: record.id.clone(),
            source,
        })
    }

    async fn undo(&self, sidecar: &BuildkitSidecar, created: &Created) {
        if let Some(main) = &created.main {
            if let Err(e) = self.remove_container(main).await {
                tracing::warn!(container = %main, error = %e, "failed to remove a run's main container");
            }
        }
        if let Some(handle) = &created.sidecar {
            if let Err(e) = sidecar.stop(handle).await {
                tracing::warn!(container = %handle.container_id, error = %e, "failed to remove a BuildKit sidecar");
            }
        }
        if let Some(network) = &created.network {
            if let Err(e) = self.remove_network(network).await {
                tracing::warn!(network = %network, error = %e, "failed to remove a run's network");
            }
        }
        if let Some(volume) = &created.docker_volume {
            if let Err(e) = self.runtime.remove_volume(volume).await {
                tracing::warn!(volume = %volume, error = %e, "failed to remove a run's inner-daemon volume");
            }
        }
    }
}

/// How often a creation under way says it is alive; recovery leaves a run alone while its
/// heartbeat is fresher than its grace.
const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Keeps a run's heartbeat fresh until dropped.
struct Heartbeat(tokio::task::JoinHandle<()>);

impl Heartbeat {
    fn start(store: std::sync::Arc<dyn slipway_core::Store>, run: RunId) -> Self {
        Self(tokio::spawn(async move {
            let mut every = tokio::time::interval(HEARTBEAT_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                if let Err(e) = store.heartbeat_run(&run, Timestamp::now()).await {
                    tracing::warn!(%run, error = %e, "failed to record a run's heartbeat");
                }
            }
        }))
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What one creation works from: the spec and the sidecar with the run's overrides.
struct Steps<'a> {
    spec: &'a RunSpec,
    sidecar: &'a BuildkitSidecar,
}

/// What a run's creation made so far, undone in reverse on failure.
#[derive(Default)]
struct Created {
    network: Option<NetworkId>,
    sidecar: Option<SidecarHandle>,
    main: Option<ContainerId>,
    /// The run's own inner-daemon volume (a kept one stays; only its lock is released).
    docker_volume: Option<String>,
}

/// The audit detail of a run's Docker access. The host's socket is root on the host, and so
/// is a privileged (or near-privileged) container: a dind run is audited as host-root too.
fn access_detail(mode: DockerMode, privilege: &PrivilegeProfile) -> String {
    let elevated = match privilege {
        PrivilegeProfile::Default => None,
        PrivilegeProfile::Privileged => Some("privileged"),
        PrivilegeProfile::Capabilities(_) => Some("near-privileged capabilities"),
    };
    match (mode, elevated) {
        (DockerMode::Host, _) => {
            "docker:host — a host-root run: the host engine's socket is mounted".to_owned()
        }
        (DockerMode::Dind, Some(how)) => format!(
            "docker:dind — a host-root run: own daemon in a {how} container, with a BuildKit sidecar"
        ),
        (DockerMode::Dind, None) => "docker:dind — own daemon with a BuildKit sidecar".to_owned(),
        (DockerMode::None, Some(how)) => format!("a host-root run: a {how} container"),
        (DockerMode::None, None) => "no Docker access".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use slipway_core::prelude::*;
    use slipway_core::{ErrorKind, InstanceId};
    use slipway_testkit::{FakeRuntime, MemoryStore};

    use super::*;
    use crate::{BuildkitConfig, BuildkitSidecar};

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
        assert_eq!(error.kind(), ErrorKind::Conflict, "{error}");
        let run = &store.runs().await.unwrap()[0];
        assert_eq!(error.run_id(), Some(&run.id));
        assert!(
            error.to_string().starts_with(&format!(
                "failed to create the network slipway-{} of run",
                run.id
            )),
            "{error}"
        );
        assert_eq!(run.state, RunState::Failed);
        assert!(runtime.container_ids().is_empty());
        assert!(runtime.network_names().is_empty());
    }

    #[tokio::test]
    async fn a_run_beyond_the_shared_memory_budget_is_refused_and_a_stopped_one_gives_it_back() {
        const GIB: u64 = 1 << 30;
        let runtime = Arc::new(FakeRuntime::new().with_image("busybox:1"));
        let store = Arc::new(MemoryStore::new("test"));
        let manager = manager(runtime.clone(), store.clone()).with_memory_budget(3 * GIB);
        // A pooled container of another process holds one gigabyte.
        store
            .reserve_memory("pool:elsewhere", GIB, 3 * GIB)
            .await
            .unwrap();
        let spec = || {
            RunSpec::new("busybox:1".parse().unwrap())
                .with_command(["sleep", "60"])
                .with_memory_limit(2 * GIB)
        };
        let run = manager.create(spec()).await.unwrap();

        let error = manager.create(spec()).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::CapacityExceeded, "{error}");
        assert!(matches!(error, RunError::Reserve { .. }), "{error}");
        assert_eq!(runtime.container_ids().len(), 1, "nothing created past it");
        let refused = store.run(error.run_id().unwrap()).await.unwrap().unwrap();
        assert_eq!(refused.state, RunState::Failed);

        manager.stop(&run.id).await.unwrap();
        let held: Vec<String> = store
            .memory_reservations()
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.holder)
            .collect();
        assert_eq!(held, ["pool:elsewhere"]);
        manager.create(spec()).await.unwrap();
    }

    #[tokio::test]
    async fn a_dind_run_reserves_its_sidecar_too() {
        const GIB: u64 = 1 << 30;
        let runtime = Arc::new(FakeRuntime::new());
        let store = Arc::new(MemoryStore::new("test"));
        let manager = manager(runtime.clone(), store.clone()).with_memory_budget(2 * GIB);
        let spec = RunSpec::new("busybox:1".parse().unwrap())
            .with_docker(DockerMode::Dind)
            .with_privilege(PrivilegeProfile::Default)
            .with_memory_limit(GIB + 1);
        // 1 GiB + 1 byte for the main container, 1 GiB for the sidecar: over by one byte.
        let error = manager.create(spec).await.unwrap_err();
        assert!(matches!(error, RunError::Reserve { .. }), "{error}");
        assert!(runtime.network_names().is_empty());
    }

    #[test]
    fn host_and_privileged_dind_runs_are_audited_as_host_root() {
        let caps =
            PrivilegeProfile::Capabilities(slipway_core::CapabilityProfile::near_privileged());
        for (mode, privilege) in [
            (DockerMode::Host, PrivilegeProfile::Default),
            (DockerMode::Dind, PrivilegeProfile::Privileged),
            (DockerMode::Dind, caps),
            (DockerMode::None, PrivilegeProfile::Privileged),
        ] {
            assert!(
                access_detail(mode, &privilege).contains("host-root"),
                "{mode:?} {privilege:?}"
            );
        }
        for mode in [DockerMode::Dind, DockerMode::None] {
            assert!(!access_detail(mode, &PrivilegeProfile::Default).contains("host-root"));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn recovery_leaves_a_creation_alone_while_its_heartbeat_is_fresh() {
        let runtime = Arc::new(FakeRuntime::new().with_image("busybox:1"));
        runtime.hold("create_container");
        let store = Arc::new(MemoryStore::new("test"));
        let manager = Arc::new(manager(runtime.clone(), store.clone()));
        let creating = tokio::spawn({
            let manager = Arc::clone(&manager);
            async move {
                manager
                    .create(RunSpec::new("busybox:1".parse().unwrap()).with_command(["sleep", "9"]))
                    .await
            }
        });
        while runtime.held("create_container") == 0 {
            tokio::task::yield_now().await;
        }
        // Ten minutes in one step (a slow pull, say): far past the grace, yet alive.
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert!(manager
            .recover_idle_for(Duration::from_secs(120))
            .await
            .unwrap()
            .is_empty());
        runtime.unhold("create_container");
        let run = creating.await.unwrap().unwrap();
        assert_eq!(run.state, RunState::Running);
    }

    #[tokio::test(start_paused = true)]
    async fn a_creation_that_recovery_settled_meanwhile_stops_and_removes_what_it_made() {
        let runtime = Arc::new(FakeRuntime::new().with_image("busybox:1"));
        runtime.hold("create_container");
        let store = Arc::new(MemoryStore::new("test"));
        let manager = Arc::new(manager(runtime.clone(), store.clone()));
        let creating = tokio::spawn({
            let manager = Arc::clone(&manager);
            async move {
                manager
                    .create(RunSpec::new("busybox:1".parse().unwrap()).with_command(["sleep", "9"]))
                    .await
            }
        });
        while runtime.held("create_container") == 0 {
            tokio::task::yield_now().await;
        }
        // Another process, with no grace, takes the run for dead and settles it.
        let settled = manager.recover_idle_for(Duration::ZERO).await.unwrap();
        assert_eq!(settled.len(), 1);
        runtime.unhold("create_container");
        let error = creating.await.unwrap().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Conflict, "{error}");
        assert!(
            runtime.container_ids().is_empty(),
            "the late container is removed"
        );
        let record = store.run(&settled[0]).await.unwrap().unwrap();
        assert_eq!(record.state, RunState::Failed);
        let error = record.error.unwrap_or_default();
        assert!(
            error.contains("interrupted while creating"),
            "recovery's account stands: {error}"
        );
    }
}
