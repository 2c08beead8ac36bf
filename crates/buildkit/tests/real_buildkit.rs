//! Runs whose sidecar is a real BuildKit (the dind image's embedded one, see
//! `TestEngine::embedded_buildkit`), probed with `grpc` from inside the run's network: on the
//! local engine and on the remote one, where the sidecar's address is out of reach.

mod support;

use std::time::Duration;

use slipway_buildkit::HealthProbe;
use slipway_core::prelude::*;
use slipway_core::{CapabilityProfile, PrivilegeProfile, RunRecord};
use slipway_testkit::engine::{Need, TestEngine};

use support::*;

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
    let build = format!("{SCRATCH_CONTEXT} && docker build --progress plain . 2>&1");
    let (code, built) = sh_within(stack, &main, &build, Duration::from_secs(60)).await;
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
    // from the slipway process could never have passed. (The testbed's remote engine takes
    // its addresses from pools the local engine doesn't use, so the address can't be a local
    // container's too.)
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
        "BuildKit at {address} answered the test process (a local container with that address?)"
    );
    let main = run.main_container_id.clone().unwrap();
    let (code, driver) = sh(&stack, &main, "docker info --format '{{.Driver}}'").await;
    assert_eq!((code, driver.trim()), (0, "overlay2"), "{driver}");
    assert_docker_build_uses_the_sidecar(&stack, &run).await;
    stack.manager.stop(&run.id).await.unwrap();
    assert_eq!(leftovers(&stack, &run.id).await, (0, 0));
}
