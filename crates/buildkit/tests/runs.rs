//! Runs on the real engine: sidecars (a BuildKit stand-in, probed with `tcp`), privilege,
//! host runs, failures and crashes between steps, recovery, clean, foreign objects.

mod support;

use std::sync::Arc;
use std::time::Duration;

use slipway_buildkit::{audit_kind, CleanOptions, FailAction, HealthProbe, RunSpec, Step};
use slipway_core::prelude::*;
use slipway_core::{
    labels, AuditFilter, ContainerSpec, DockerMode, ErrorKind, NetworkSpec, PrivilegeProfile, Role,
    RunId, RunState,
};
use slipway_runtime::DockerRuntime;
use slipway_testkit::engine::TestEngine;

use support::*;

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
