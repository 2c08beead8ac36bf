//! Runs on the real engine, with a BuildKit stand-in image built by the tests (busybox httpd
//! on port 1234, probed with `tcp`).

use std::sync::Arc;
use std::time::Duration;

use slipway_buildkit::{
    audit_kind, inner_daemon, BuildkitConfig, BuildkitSidecar, CleanOptions, FailAction,
    HealthProbe, RunManager, RunSpec, Step,
};
use slipway_core::prelude::*;
use slipway_core::{
    labels, AuditFilter, CapabilityProfile, ContainerSpec, DockerMode, ErrorKind, ExecRequest,
    Labels, NetworkSpec, PrivilegeProfile, Role, RunId, RunRecord, RunState,
};
use slipway_runtime::DockerRuntime;
use slipway_store::SqliteStore;
use slipway_testkit::engine::{Need, TestEngine, TEST_LABEL};

struct Stack {
    engine: TestEngine,
    manager: RunManager,
    store: Arc<SqliteStore>,
    _dir: tempfile::TempDir,
}

fn test_labels(engine: &TestEngine) -> Labels {
    Labels::from([(TEST_LABEL.to_owned(), engine.scope().to_owned())])
}

async fn stack_with(
    runtime: Option<Arc<DockerRuntime>>,
    adjust: impl FnOnce(&mut BuildkitConfig),
) -> Option<Stack> {
    stack_for(&[], runtime, adjust).await
}

async fn stack_with_needs(needs: &[Need]) -> Option<Stack> {
    stack_for(needs, None, |_| {}).await
}

async fn stack_for(
    needs: &[Need],
    runtime: Option<Arc<DockerRuntime>>,
    adjust: impl FnOnce(&mut BuildkitConfig),
) -> Option<Stack> {
    let engine = TestEngine::connect_with(needs).await?;
    let runtime = runtime.unwrap_or_else(|| engine.shared());
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open_in_dir(dir.path()).unwrap());
    let mut config = BuildkitConfig {
        image: engine.buildkit_standin().await,
        probe: HealthProbe::Tcp,
        cache_key: format!("test-{}", engine.scope()),
        privilege: PrivilegeProfile::Default,
        labels: test_labels(&engine),
        ..BuildkitConfig::default()
    };
    adjust(&mut config);
    let sidecar = BuildkitSidecar::new(runtime.clone(), store.instance_id(), config).unwrap();
    let manager = RunManager::new(
        runtime.clone(),
        runtime,
        store.clone(),
        Arc::new(sidecar),
        store.instance_id(),
    )
    .with_labels(test_labels(&engine));
    Some(Stack {
        engine,
        manager,
        store,
        _dir: dir,
    })
}

async fn stack() -> Option<Stack> {
    stack_with(None, |_| {}).await
}

/// A dind run of busybox, which brings no daemon: these tests are about the sidecar and the
/// network (`inner_daemon.rs` runs a real one).
fn dind(stack: &Stack) -> RunSpec {
    RunSpec::new(stack.engine.busybox())
        .with_docker(DockerMode::Dind)
        .with_inner_daemon(false)
        .with_command(["sleep", "3600"])
        .with_privilege(PrivilegeProfile::Capabilities(
            CapabilityProfile::near_privileged(),
        ))
        .with_env("GREETING", "hello")
}

async fn sh(stack: &Stack, container: &slipway_core::ContainerId, script: &str) -> (i64, String) {
    sh_within(stack, container, script, Duration::from_secs(10)).await
}

async fn sh_within(
    stack: &Stack,
    container: &slipway_core::ContainerId,
    script: &str,
    limit: Duration,
) -> (i64, String) {
    let out = stack
        .engine
        .runtime()
        .exec(container, &ExecRequest::shell(script).with_timeout(limit))
        .await
        .unwrap();
    (
        out.exit_code.unwrap_or(-1),
        format!("{}{}", out.stdout_text(), out.stderr_text()),
    )
}

/// This test's containers and networks carrying `run`'s label.
async fn leftovers(stack: &Stack, run: &RunId) -> (usize, usize) {
    let filter = stack.engine.filter().with(labels::RUN_ID, run.to_string());
    let runtime = stack.engine.runtime();
    (
        runtime.list_containers(&filter).await.unwrap().len(),
        runtime.list_networks(&filter).await.unwrap().len(),
    )
}

async fn audit_kinds(stack: &Stack, run: &RunId) -> Vec<String> {
    let filter = AuditFilter {
        run_id: Some(run.clone()),
        ..AuditFilter::default()
    };
    stack
        .store
        .audit_entries(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.event.kind)
        .collect()
}

#[tokio::test]
async fn a_dind_run_gets_a_healthy_sidecar_by_name_and_stop_leaves_only_the_state_volume() {
    let Some(stack) = stack().await else {
        return;
    };
    let run = stack.manager.create(dind(&stack)).await.unwrap();
    assert_eq!(run.state, RunState::Running);
    let main = run.main_container_id.clone().unwrap();
    let sidecar = run.sidecar_id.clone().unwrap();

    let (code, env) = sh(&stack, &main, "env").await;
    assert_eq!(code, 0);
    for expected in [
        "BUILDKIT_HOST=tcp://buildkit:1234",
        "SLIPWAY_DOCKER_DIND=1",
        "DOCKER_HOST=unix:///var/run/docker.sock",
        "GREETING=hello",
    ] {
        assert!(env.contains(expected), "{expected} missing from:\n{env}");
    }
    // `buildkit` resolves to this run's sidecar: it serves its own /etc/hostname.
    let (code, answered) = sh(&stack, &main, "wget -q -O - http://buildkit:1234/hostname").await;
    assert_eq!(code, 0, "{answered}");
    assert_eq!(
        answered.trim().len(),
        12,
        "a container's short id: {answered}"
    );
    assert!(sidecar.as_str().starts_with(answered.trim()), "{answered}");

    let kinds = audit_kinds(&stack, &run.id).await;
    assert_eq!(
        kinds,
        [
            audit_kind::RUN_CREATED,
            audit_kind::DOCKER_NETWORK_CREATED,
            audit_kind::BUILDKIT_SIDECAR_STARTED,
            audit_kind::BUILDKIT_SIDECAR_HEALTHY
        ]
    );

    let stopped = stack.manager.stop(&run.id).await.unwrap();
    assert_eq!(stopped.state, RunState::Stopped);
    assert_eq!(leftovers(&stack, &run.id).await, (0, 0));
    let volume = run.state_volume.clone().unwrap();
    let volumes = stack
        .engine
        .runtime()
        .list_volumes(&stack.engine.filter())
        .await
        .unwrap();
    assert!(
        volumes.iter().any(|v| v.name == volume),
        "the state volume stays"
    );
    // Idempotent.
    assert_eq!(
        stack.manager.stop(&run.id).await.unwrap().state,
        RunState::Stopped
    );
    let kinds = audit_kinds(&stack, &run.id).await;
    assert_eq!(
        &kinds[4..],
        [
            audit_kind::BUILDKIT_SIDECAR_STOPPED,
            audit_kind::RUN_STOPPED
        ]
    );
    assert!(stack.store.verify_audit().await.unwrap().is_intact());
}

#[tokio::test]
async fn a_privileged_run_works_where_the_engine_allows_it_and_fails_leaving_nothing_where_not() {
    let Some(stack) = stack().await else {
        return;
    };
    // Whether this engine starts privileged containers at all (these machines refuse them:
    // CAP_SYS_RESOURCE is missing from the host's bounding set; real hosts allow them).
    let probe = stack
        .engine
        .sleeper("privileged-probe")
        .with_privilege(PrivilegeProfile::Privileged);
    let allowed = match slipway_core::run_container(stack.engine.runtime(), &probe).await {
        Ok(id) => {
            stack
                .engine
                .runtime()
                .remove_container(&id, slipway_core::RemoveOptions::force())
                .await
                .unwrap();
            true
        }
        Err(_) => false,
    };
    let spec = dind(&stack).with_privilege(PrivilegeProfile::Privileged);
    let outcome = stack.manager.create(spec).await;
    let run = stack.manager.list().await.unwrap().remove(0);
    if allowed {
        // The engine allows them: the run works and stops cleanly.
        let created = outcome.expect("a privileged run starts where privileged containers do");
        assert_eq!(created.state, RunState::Running);
        stack.manager.stop(&run.id).await.unwrap();
        assert_eq!(
            audit_kinds(&stack, &run.id).await.last().unwrap(),
            audit_kind::RUN_STOPPED
        );
    } else {
        // It refuses them: the run fails saying what to use instead, and leaves nothing.
        let error = outcome.expect_err("privileged containers don't start on this engine");
        assert_eq!(error.run_id(), Some(&run.id));
        let text = slipway_core::Error::from(error).to_string();
        assert!(
            text.contains("privileged") && text.contains("caps"),
            "{text}"
        );
        assert_eq!(run.state, RunState::Failed);
        assert_eq!(
            audit_kinds(&stack, &run.id).await.last().unwrap(),
            audit_kind::RUN_FAILED
        );
    }
    assert_eq!(leftovers(&stack, &run.id).await, (0, 0));
}

#[tokio::test]
async fn a_runtime_without_privilege_refuses_up_front() {
    let Some(engine) = TestEngine::connect().await else {
        return;
    };
    let restricted = Arc::new(
        DockerRuntime::builder(slipway_testkit::engine::test_endpoint())
            .with_privileged_allowed(false)
            .bootstrap()
            .await
            .unwrap(),
    );
    drop(engine);
    let Some(stack) = stack_with(Some(restricted), |_| {}).await else {
        return;
    };
    let spec = dind(&stack).with_privilege(PrivilegeProfile::Privileged);
    let error = stack.manager.create(spec).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Invalid);
    assert!(error.to_string().contains("caps"), "{error}");
    assert!(stack.manager.list().await.unwrap().is_empty());
    let entries = stack
        .store
        .audit_entries(&AuditFilter::default())
        .await
        .unwrap();
    assert_eq!(entries.last().unwrap().event.kind, audit_kind::RUN_FAILED);
}

#[tokio::test]
async fn a_host_run_gets_the_engine_socket_and_is_audited_as_host_root() {
    let Some(stack) = stack().await else {
        return;
    };
    let spec = RunSpec::new(stack.engine.busybox())
        .with_docker(DockerMode::Host)
        .with_command(["sleep", "3600"]);
    let run = stack.manager.create(spec).await.unwrap();
    let main = run.main_container_id.clone().unwrap();
    let (code, out) = sh(
        &stack,
        &main,
        "test -S /var/run/docker.sock && echo $DOCKER_HOST",
    )
    .await;
    assert_eq!((code, out.trim()), (0, "unix:///var/run/docker.sock"));
    let entries = stack
        .store
        .audit_entries(&AuditFilter {
            run_id: Some(run.id.clone()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert!(entries[0]
        .event
        .detail
        .as_deref()
        .unwrap()
        .contains("host-root"));
    stack.manager.stop(&run.id).await.unwrap();
    assert_eq!(leftovers(&stack, &run.id).await, (0, 0));
}

#[tokio::test]
async fn a_failure_or_a_crash_between_any_two_steps_leaves_nothing_after_recover() {
    let Some(stack) = stack().await else {
        return;
    };
    for step in Step::ALL {
        stack.manager.set_failpoint(step, FailAction::Error);
        stack.manager.create(dind(&stack)).await.unwrap_err();
        let run = stack.manager.list().await.unwrap().remove(0);
        assert_eq!(run.state, RunState::Failed, "{step:?}");
        assert_eq!(
            leftovers(&stack, &run.id).await,
            (0, 0),
            "error after {step:?}"
        );

        stack.manager.set_failpoint(step, FailAction::Crash);
        stack.manager.create(dind(&stack)).await.unwrap_err();
        let run = stack.manager.list().await.unwrap().remove(0);
        assert_eq!(run.state, RunState::Creating, "{step:?}");
        assert_eq!(stack.manager.recover().await.unwrap(), vec![run.id.clone()]);
        assert_eq!(
            leftovers(&stack, &run.id).await,
            (0, 0),
            "crash after {step:?}"
        );
        let recovered = stack.manager.get(&run.id).await.unwrap();
        assert_eq!(recovered.state, RunState::Failed);
        assert!(recovered.error.unwrap().contains("interrupted"));
    }
}

#[tokio::test]
async fn recover_keeps_live_runs_and_settles_dead_ones() {
    let Some(stack) = stack().await else {
        return;
    };
    let live = stack.manager.create(dind(&stack)).await.unwrap();
    let dead = stack.manager.create(dind(&stack)).await.unwrap();
    stack
        .engine
        .runtime()
        .remove_container(
            dead.main_container_id.as_ref().unwrap(),
            slipway_core::RemoveOptions::force(),
        )
        .await
        .unwrap();
    assert_eq!(
        stack.manager.recover().await.unwrap(),
        vec![dead.id.clone()]
    );
    assert_eq!(leftovers(&stack, &dead.id).await, (0, 0));
    assert_eq!(leftovers(&stack, &live.id).await, (2, 1));
    stack.manager.stop(&live.id).await.unwrap();
}

#[tokio::test]
async fn clean_removes_orphans_and_never_touches_a_live_run() {
    let Some(stack) = stack().await else {
        return;
    };
    let live = stack.manager.create(dind(&stack)).await.unwrap();
    // A sidecar, a network and an inner daemon's volume of a run the store has never heard
    // of.
    let orphan_run = &format!("orphan-{}", stack.engine.scope());
    let mut orphan_labels = test_labels(&stack.engine);
    orphan_labels
        .extend(slipway_core::labels::Scope::new(Role::Run, &stack.store.instance_id()).labels());
    orphan_labels.insert(labels::RUN_ID.into(), orphan_run.into());
    let runtime = stack.engine.runtime();
    runtime
        .create_network(&NetworkSpec {
            name: format!("slipway-{orphan_run}").parse().unwrap(),
            labels: orphan_labels.clone(),
            internal: false,
            isolated: false,
        })
        .await
        .unwrap();
    let orphan_volume = format!("slipway-run-{orphan_run}-docker");
    runtime
        .ensure_volume(&slipway_core::VolumeSpec {
            name: orphan_volume.parse().unwrap(),
            labels: orphan_labels.clone(),
        })
        .await
        .unwrap();
    orphan_labels.extend(
        slipway_core::labels::Scope::new(Role::Buildkit, &stack.store.instance_id()).labels(),
    );
    slipway_core::run_container(
        runtime,
        &ContainerSpec::new(stack.engine.busybox())
            .with_name(format!("slipway-buildkit-{orphan_run}").parse().unwrap())
            .with_labels(orphan_labels)
            .with_cmd(["sleep", "3600"]),
    )
    .await
    .unwrap();

    let dry = stack
        .manager
        .clean(&CleanOptions {
            dry_run: true,
            ..CleanOptions::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (dry.containers.len(), dry.networks.len()),
        (1, 1),
        "{dry:?}"
    );
    assert_eq!(dry.volumes, std::slice::from_ref(&orphan_volume), "{dry:?}");
    assert_eq!(leftovers(&stack, &RunId::new(orphan_run)).await, (1, 1));

    let report = stack.manager.clean(&CleanOptions::default()).await.unwrap();
    assert_eq!(report, dry);
    assert_eq!(leftovers(&stack, &RunId::new(orphan_run)).await, (0, 0));
    assert_eq!(
        leftovers(&stack, &live.id).await,
        (2, 1),
        "the live run is untouched"
    );
    assert!(run_volumes(&stack, &RunId::new(orphan_run))
        .await
        .is_empty());
    assert_eq!(
        audit_kinds(&stack, &RunId::new(orphan_run)).await,
        [
            audit_kind::ORPHAN_REMOVED,
            audit_kind::ORPHAN_REMOVED,
            audit_kind::ORPHAN_REMOVED
        ]
    );

    // Its state volume is in use by nothing live once the run stops.
    stack.manager.stop(&live.id).await.unwrap();
    let volumes = stack
        .manager
        .clean(&CleanOptions {
            dry_run: false,
            volumes_unused_for: Some(Duration::ZERO),
            ..CleanOptions::default()
        })
        .await
        .unwrap()
        .volumes;
    assert_eq!(volumes, [live.state_volume.unwrap()]);
}

#[tokio::test]
async fn two_dind_runs_in_parallel_stay_isolated() {
    let Some(stack) = stack().await else {
        return;
    };
    let (a, b) = tokio::join!(
        stack.manager.create(dind(&stack)),
        stack.manager.create(dind(&stack))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.network_id, b.network_id);
    // One cache key, two live runs: never one BuildKit state volume for both.
    let first_slot = format!("slipway-buildkit-state-test-{}", stack.engine.scope());
    let mut state_volumes = [
        a.state_volume.clone().unwrap(),
        b.state_volume.clone().unwrap(),
    ];
    state_volumes.sort();
    assert_eq!(
        state_volumes,
        [first_slot.clone(), format!("{first_slot}-2")]
    );
    let main_a = a.main_container_id.clone().unwrap();
    let (code, answered) = sh(
        &stack,
        &main_a,
        "wget -q -O - http://buildkit:1234/hostname",
    )
    .await;
    assert_eq!(code, 0, "{answered}");
    assert_eq!(
        answered.trim().len(),
        12,
        "a container's short id: {answered}"
    );
    assert!(a
        .sidecar_id
        .as_ref()
        .unwrap()
        .as_str()
        .starts_with(answered.trim()));
    // Run b's sidecar, by its name, from run a: the name does not resolve on a's network.
    // (`timeout`, not wget's own -T: busybox's wget -T crashes.)
    let other = format!(
        "timeout 3 wget -q -O - http://slipway-buildkit-{}:1234/hostname",
        b.id
    );
    let (code, answered) = sh(&stack, &main_a, &other).await;
    assert_ne!(code, 0, "run b's sidecar answered run a: {answered}");
    assert_ne!(
        code, 139,
        "wget crashed instead of failing to connect: {answered}"
    );
    let b_sidecar = b.sidecar_id.as_ref().unwrap().as_str();
    assert!(!answered.contains(&b_sidecar[..12]), "{answered}");
    for run in [a, b] {
        stack.manager.stop(&run.id).await.unwrap();
        assert_eq!(leftovers(&stack, &run.id).await, (0, 0));
    }
}

#[tokio::test]
async fn an_unhealthy_sidecar_times_out_with_its_last_output() {
    let Some(stack) = stack_with(None, |config| {
        config.probe = HealthProbe::Grpc;
        config.health_timeout = Duration::from_secs(2);
    })
    .await
    else {
        return;
    };
    let error = stack.manager.create(dind(&stack)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    let run_id = error.run_id().cloned().expect("the run was recorded");
    let text = slipway_core::Error::from(error).to_string();
    assert!(text.contains("stand-in listening on 1234"), "{text}");
    assert!(
        text.contains(&format!("run {run_id} did not become healthy")),
        "{text}"
    );
    let run = stack.manager.list().await.unwrap().remove(0);
    assert_eq!(leftovers(&stack, &run.id).await, (0, 0));
}

#[tokio::test]
async fn a_missing_sidecar_image_that_cannot_be_pulled_says_what_to_do() {
    let Some(stack) = stack_with(None, |config| {
        config.image = "127.0.0.1:9/slipway/no-such-buildkit:1".parse().unwrap();
    })
    .await
    else {
        return;
    };
    let error = stack.manager.create(dind(&stack)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    let text = slipway_core::Error::from(error).to_string();
    assert!(
        text.contains("failed to pull the BuildKit image 127.0.0.1:9/slipway/no-such-buildkit:1")
            && text.contains("set buildkit.image"),
        "{text}"
    );
    let run = stack.manager.list().await.unwrap().remove(0);
    assert_eq!(leftovers(&stack, &run.id).await, (0, 0));
}

/// Asserts that `ids` (foreign containers) still exist.
async fn still_there(stack: &Stack, ids: &[&slipway_core::ContainerId], after: &str) {
    for id in ids {
        assert!(
            stack.engine.runtime().inspect_container(id).await.is_ok(),
            "a foreign container was removed by {after}"
        );
    }
}

#[tokio::test]
async fn foreign_containers_named_like_a_run_or_prefixed_like_its_ids_survive_stop_recover_and_clean(
) {
    let Some(stack) = stack().await else {
        return;
    };
    let runtime = stack.engine.runtime();
    // A user's containers: no slipway label at all (only the test's, for its cleanup).
    let foreign = |prefix: &str| {
        ContainerSpec::new(stack.engine.busybox())
            .with_name(stack.engine.unique_name(prefix))
            .with_labels(test_labels(&stack.engine))
            .with_cmd(["sleep", "3600"])
    };
    let named_spec = foreign("named");
    let named_name = named_spec.name.clone().unwrap();
    let named = slipway_core::run_container(runtime, &named_spec)
        .await
        .unwrap();
    let prefixed = slipway_core::run_container(runtime, &foreign("prefixed"))
        .await
        .unwrap();
    let prefix = &prefixed.as_str()[..12];

    // A run named like the user's container, and one named by an id prefix of the other,
    // with an image that does not exist: both fail after being recorded.
    let mut failed = Vec::new();
    for name in [named_name.to_string(), prefix.to_owned()] {
        let spec = RunSpec::new("slipway-test/missing:1".parse().unwrap())
            .with_name(name.parse().unwrap())
            .with_command(["true"]);
        let error = stack.manager.create(spec).await.unwrap_err();
        failed.push(error.run_id().cloned().expect("the run was recorded"));
    }
    // And a record an older slipway wrote, holding names where engine ids belong.
    let mut legacy = stack.manager.get(&failed[0]).await.unwrap();
    legacy.id = RunId::new(format!("legacy{}", &stack.engine.scope()[..6]));
    legacy.state = RunState::Running;
    legacy.main_container_id = Some(slipway_core::ContainerId::new(named_name.to_string()));
    legacy.sidecar_id = Some(slipway_core::ContainerId::new(prefix));
    stack.store.put_run(&legacy).await.unwrap();
    failed.push(legacy.id.clone());

    for run in &failed {
        stack.manager.stop(run).await.unwrap();
    }
    still_there(&stack, &[&named, &prefixed], "stop").await;
    stack.store.put_run(&legacy).await.unwrap();
    stack.manager.recover().await.unwrap();
    still_there(&stack, &[&named, &prefixed], "recover").await;
    stack
        .manager
        .clean(&CleanOptions {
            dry_run: false,
            volumes_unused_for: Some(Duration::ZERO),
            ..CleanOptions::default()
        })
        .await
        .unwrap();
    still_there(&stack, &[&named, &prefixed], "clean").await;
}

#[tokio::test]
async fn a_paused_run_is_alive_to_recovery() {
    let Some(stack) = stack().await else {
        return;
    };
    let spec = RunSpec::new(stack.engine.busybox()).with_command(["sleep", "3600"]);
    let run = stack.manager.create(spec).await.unwrap();
    let main = run.main_container_id.clone().unwrap();
    let docker = stack.engine.runtime().bollard();
    docker.pause_container(main.as_str()).await.unwrap();

    assert!(stack.manager.recover().await.unwrap().is_empty());
    assert_eq!(
        stack.manager.get(&run.id).await.unwrap().state,
        RunState::Running
    );
    docker.unpause_container(main.as_str()).await.unwrap();
    stack.manager.stop(&run.id).await.unwrap();
}

/// A dind run of the dind test image whose daemon slipway starts.
fn real_dind(stack: &Stack) -> RunSpec {
    RunSpec::new(stack.engine.dind())
        .with_docker(DockerMode::Dind)
        .with_command(["sleep", "3600"])
        .with_privilege(PrivilegeProfile::Capabilities(
            CapabilityProfile::near_privileged(),
        ))
}

/// A script that builds `tag` `FROM scratch` with the inner daemon and prints its id.
fn build_scratch_image(tag: &str) -> String {
    format!(
        "mkdir -p /b && cd /b && echo x >f && printf 'FROM scratch\\nCOPY f /f\\n' >Dockerfile \
         && docker build -q -t {tag} . >/dev/null && docker images -q {tag}"
    )
}

/// This run's volumes (the inner daemon's storage).
async fn run_volumes(stack: &Stack, run: &RunId) -> Vec<String> {
    let filter = stack.engine.filter().with(labels::RUN_ID, run.to_string());
    let volumes = stack.engine.runtime().list_volumes(&filter).await.unwrap();
    volumes.into_iter().map(|v| v.name.to_string()).collect()
}

#[tokio::test]
async fn two_dind_runs_each_get_their_own_inner_daemon_and_storage() {
    let Some(stack) = stack_with_needs(&[Need::DindImage]).await else {
        return;
    };
    let (a, b) = tokio::join!(
        stack.manager.create(real_dind(&stack)),
        stack.manager.create(real_dind(&stack))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let (a_main, b_main) = (
        a.main_container_id.clone().unwrap(),
        b.main_container_id.clone().unwrap(),
    );
    // The command sees the inner daemon, on overlay2, with none of the host's containers.
    let (code, driver) = sh(&stack, &a_main, "docker info --format '{{.Driver}}'").await;
    assert_eq!((code, driver.trim()), (0, "overlay2"), "{driver}");
    let (code, listed) = sh(&stack, &a_main, "docker ps -aq | wc -l").await;
    assert_eq!((code, listed.trim()), (0, "0"), "{listed}");
    let (code, built) = sh(&stack, &a_main, &build_scratch_image("only-in-a:1")).await;
    assert_eq!(code, 0, "{built}");
    assert!(!built.trim().is_empty());
    let (code, seen) = sh(&stack, &b_main, "docker images -q only-in-a:1").await;
    assert_eq!((code, seen.trim()), (0, ""), "run b sees run a's image");

    let (a_volumes, b_volumes) = (
        run_volumes(&stack, &a.id).await,
        run_volumes(&stack, &b.id).await,
    );
    assert_eq!(a_volumes.len(), 1, "{a_volumes:?}");
    assert_eq!(b_volumes.len(), 1, "{b_volumes:?}");
    assert_ne!(a_volumes, b_volumes);
    for run in [&a, &b] {
        stack.manager.stop(&run.id).await.unwrap();
        assert_eq!(leftovers(&stack, &run.id).await, (0, 0));
        assert!(
            run_volumes(&stack, &run.id).await.is_empty(),
            "stop removes the storage"
        );
    }
}

#[tokio::test]
async fn a_loaded_image_runs_inside_before_the_command_starts() {
    let Some(stack) = stack_with_needs(&[Need::DindImage]).await else {
        return;
    };
    // The command itself runs the loaded image: it must be there when the command starts.
    let spec = real_dind(&stack)
        .with_loaded_image(stack.engine.busybox())
        .with_command([
            "sh",
            "-c",
            "docker run --rm slipway-test/busybox:1 echo inner-hello >/tmp/out 2>&1; sleep 3600",
        ]);
    let run = stack.manager.create(spec).await.unwrap();
    let main = run.main_container_id.clone().unwrap();
    let mut said = String::new();
    for _ in 0..100 {
        said = sh(&stack, &main, "cat /tmp/out 2>/dev/null").await.1;
        if !said.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(said.trim(), "inner-hello");
    stack.manager.stop(&run.id).await.unwrap();
    assert_eq!(leftovers(&stack, &run.id).await, (0, 0));
}

#[tokio::test]
async fn a_daemon_that_cannot_start_fails_the_run_with_what_it_said_and_leaves_nothing() {
    let Some(stack) = stack_with_needs(&[Need::DindImage]).await else {
        return;
    };
    // busybox brings no dockerd.
    let mut no_dockerd = real_dind(&stack).with_loaded_image(stack.engine.busybox());
    no_dockerd.image = stack.engine.busybox();
    // Without the capability profile the cgroups can't be mounted read-write.
    let unprivileged = RunSpec::new(stack.engine.dind())
        .with_docker(DockerMode::Dind)
        .with_command(["true"])
        .with_privilege(PrivilegeProfile::Default)
        .with_sidecar(slipway_buildkit::SidecarOverrides {
            privilege: Some(PrivilegeProfile::Default),
            ..Default::default()
        });
    for (spec, expected) in [
        (no_dockerd, "has no dockerd"),
        (unprivileged, "could not mount the cgroup"),
    ] {
        let error = stack.manager.create(spec).await.unwrap_err();
        let run = error.run_id().cloned().expect("the run was recorded");
        let chain = error_chain(&error);
        assert!(chain.contains(expected), "{chain}");
        assert_eq!(leftovers(&stack, &run).await, (0, 0), "{chain}");
        assert!(run_volumes(&stack, &run).await.is_empty());
        assert_eq!(
            stack.store.run(&run).await.unwrap().unwrap().state,
            RunState::Failed
        );
    }
}

/// An error with its sources, one per line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!("\n{cause}"));
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn storage_kept_under_a_cache_key_serves_the_next_run_and_one_live_run_at_a_time() {
    let Some(stack) = stack_with_needs(&[Need::DindImage]).await else {
        return;
    };
    let key = format!("test-{}", stack.engine.scope());
    let first = stack
        .manager
        .create(real_dind(&stack).with_docker_cache(key.clone()))
        .await
        .unwrap();
    let main = first.main_container_id.clone().unwrap();
    let (code, built) = sh(&stack, &main, &build_scratch_image("kept:1")).await;
    assert_eq!(code, 0, "{built}");

    // While the first run lives, its storage is locked: a second run with the key is refused
    // and leaves nothing.
    let refused = stack
        .manager
        .create(real_dind(&stack).with_docker_cache(key.clone()))
        .await
        .unwrap_err();
    assert_eq!(
        refused.kind(),
        ErrorKind::Conflict,
        "{}",
        error_chain(&refused)
    );
    let refused_run = refused.run_id().cloned().unwrap();
    assert_eq!(leftovers(&stack, &refused_run).await, (0, 0));

    stack.manager.stop(&first.id).await.unwrap();
    let second = stack
        .manager
        .create(real_dind(&stack).with_docker_cache(key.clone()))
        .await
        .unwrap();
    let main = second.main_container_id.clone().unwrap();
    let (code, seen) = sh(&stack, &main, "docker images -q kept:1").await;
    assert_eq!(code, 0, "{seen}");
    assert_eq!(
        seen.trim(),
        built.trim(),
        "the next run finds what the first built"
    );
    stack.manager.stop(&second.id).await.unwrap();
    // The kept storage outlives both runs and a clean; no lock is left.
    stack.manager.clean(&CleanOptions::default()).await.unwrap();
    let kept = stack
        .engine
        .runtime()
        .list_volumes(
            &stack
                .engine
                .filter()
                .with(inner_daemon::DOCKER_CACHE_LABEL, key),
        )
        .await
        .unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(stack.store.locks().await.unwrap().is_empty());
}

/// A stack whose sidecars are a real BuildKit (the one in the dind image's dockerd, see
/// `TestEngine::embedded_buildkit`) probed with `grpc` from inside the run's network.
async fn real_buildkit_stack(needs: &[Need]) -> Option<Stack> {
    let engine = TestEngine::connect_with(needs).await?;
    let image = engine.embedded_buildkit().await;
    stack_for(needs, None, |config| {
        config.image = image;
        config.probe = HealthProbe::Grpc;
        config.privilege = PrivilegeProfile::Capabilities(CapabilityProfile::near_privileged());
        config.health_timeout = Duration::from_secs(60);
    })
    .await
}

/// How many build cache records the BuildKit in `sidecar` holds.
async fn build_cache_records(stack: &Stack, sidecar: &slipway_core::ContainerId) -> String {
    let (code, df) = sh(
        stack,
        sidecar,
        "docker system df --format '{{.Type}}={{.TotalCount}}' | grep '^Build Cache='",
    )
    .await;
    assert_eq!(code, 0, "{df}");
    df.trim().trim_start_matches("Build Cache=").to_owned()
}

/// `docker build` in `run` goes through buildx to the run's own sidecar: its build cache
/// was empty and is not after the build.
async fn assert_docker_build_uses_the_sidecar(stack: &Stack, run: &RunRecord) {
    let main = run.main_container_id.clone().unwrap();
    let (code, inspected) = sh(stack, &main, "docker buildx inspect").await;
    assert_eq!(code, 0, "{inspected}");
    let fields: Vec<String> = inspected
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    for expected in [
        "Name: slipway",
        "Driver: remote",
        "Endpoint: tcp://buildkit:1234",
    ] {
        assert!(
            fields.iter().any(|f| f == expected),
            "{expected}:\n{inspected}"
        );
    }
    let sidecar = run.sidecar_id.clone().unwrap();
    assert_eq!(build_cache_records(stack, &sidecar).await, "0");
    let build =
        "mkdir -p /b && cd /b && echo x >f && printf 'FROM scratch\\nCOPY f /f\\n' >Dockerfile \
                 && docker build --progress plain . 2>&1";
    let (code, built) = sh_within(stack, &main, build, Duration::from_secs(60)).await;
    assert_eq!(code, 0, "{built}");
    assert_ne!(build_cache_records(stack, &sidecar).await, "0", "{built}");
}

#[tokio::test]
async fn real_buildkit_sidecars_pass_the_grpc_probe_and_take_docker_build() {
    let Some(stack) = real_buildkit_stack(&[Need::DindImage]).await else {
        return;
    };
    // Two live runs of one cache key: each BuildKit gets its own state (a shared one would
    // be locked by the first and the second sidecar would never answer).
    let (a, b) = tokio::join!(
        stack.manager.create(real_dind(&stack)),
        stack.manager.create(real_dind(&stack))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.state_volume, b.state_volume);
    assert_docker_build_uses_the_sidecar(&stack, &a).await;
    // Run a's build is not in run b's sidecar.
    assert_eq!(
        build_cache_records(&stack, b.sidecar_id.as_ref().unwrap()).await,
        "0"
    );
    for run in [&a, &b] {
        stack.manager.stop(&run.id).await.unwrap();
        assert_eq!(leftovers(&stack, &run.id).await, (0, 0));
    }
}

#[tokio::test]
async fn a_dind_run_on_a_remote_engine_gets_a_healthy_sidecar_and_builds_in_it() {
    // The remote engine's container addresses are in its own network namespace: the probe
    // must run from inside the run's network, through the engine's API (here over TLS).
    let Some(stack) = real_buildkit_stack(&[Need::RemoteEngine, Need::DindImage]).await else {
        return;
    };
    let run = stack.manager.create(real_dind(&stack)).await.unwrap();
    // From here, the healthy sidecar's own address does not answer as BuildKit: a probe
    // from the slipway process could never have passed.
    let sidecar = stack
        .engine
        .runtime()
        .inspect_container(run.sidecar_id.as_ref().unwrap())
        .await
        .unwrap();
    let address = sidecar
        .networks
        .values()
        .find_map(|endpoint| endpoint.ip_address)
        .expect("the sidecar has an address on the run's network");
    let from_outside = HealthProbe::Grpc
        .check(
            std::net::SocketAddr::new(address, 1234),
            Duration::from_secs(2),
        )
        .await;
    assert!(
        from_outside.is_err(),
        "BuildKit at {address} answered the test process"
    );
    let main = run.main_container_id.clone().unwrap();
    let (code, driver) = sh(&stack, &main, "docker info --format '{{.Driver}}'").await;
    assert_eq!((code, driver.trim()), (0, "overlay2"), "{driver}");
    assert_docker_build_uses_the_sidecar(&stack, &run).await;
    stack.manager.stop(&run.id).await.unwrap();
    assert_eq!(leftovers(&stack, &run.id).await, (0, 0));
}
