use std::time::Duration;

use slipway_core::prelude::*;
use slipway_core::{
    run_container, CapabilityProfile, ContainerSpec, ContainerState, Error, ErrorKind, LabelFilter,
    PortBinding, PrivilegeProfile, RemoveOptions, Role,
};
use slipway_testkit::require_engine;

use crate::support::{http_get, sh};

#[tokio::test]
async fn a_container_goes_through_its_whole_lifecycle() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let spec = engine.sleeper("life");
    let id = runtime.create_container(&spec).await.unwrap();
    assert_eq!(
        runtime.inspect_container(&id).await.unwrap().state,
        ContainerState::Created
    );

    runtime.start_container(&id).await.unwrap();
    runtime.start_container(&id).await.unwrap(); // starting a running container is fine
    let info = runtime.inspect_container(&id).await.unwrap();
    assert_eq!(info.state, ContainerState::Running);
    assert_eq!(info.name, spec.name.as_ref().unwrap().as_str());
    assert_eq!(info.labels, spec.labels);
    assert!(info.started_at.is_some());

    let listed = runtime.list_containers(&engine.filter()).await.unwrap();
    assert_eq!(listed.iter().map(|c| &c.id).collect::<Vec<_>>(), [&id]);

    runtime
        .stop_container(&id, Duration::from_secs(1))
        .await
        .unwrap();
    runtime
        .stop_container(&id, Duration::from_secs(1))
        .await
        .unwrap(); // idempotent
    assert_eq!(
        runtime.inspect_container(&id).await.unwrap().state,
        ContainerState::Exited
    );

    runtime
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();
    let err = runtime.inspect_container(&id).await.unwrap_err();
    assert_eq!(err.to_string(), format!("container `{id}` not found"));
}

#[tokio::test]
async fn listing_by_labels_returns_only_matching_containers() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let pooled = engine
        .sleeper("pool")
        .with_labels(engine.labels(Role::Pool));
    let pooled = runtime.create_container(&pooled).await.unwrap();
    let env = runtime
        .create_container(&engine.sleeper("env"))
        .await
        .unwrap();

    let pools = runtime
        .list_containers(&engine.filter().with("dev.slipway.role", "pool"))
        .await
        .unwrap();
    assert_eq!(pools.iter().map(|c| &c.id).collect::<Vec<_>>(), [&pooled]);
    let all = runtime.list_containers(&engine.filter()).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().any(|c| c.id == env));
    let nobody = LabelFilter::managed().with("dev.slipway.test", "no-such-scope");
    assert!(runtime.list_containers(&nobody).await.unwrap().is_empty());
    engine.cleanup().await;
}

#[tokio::test]
async fn wait_returns_the_exit_code() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let spec = engine.sleeper("wait").with_cmd(["sh", "-c", "exit 3"]);
    let id = run_container(runtime, &spec).await.unwrap();
    assert_eq!(runtime.wait_container(&id).await.unwrap(), 3);
    let info = runtime.inspect_container(&id).await.unwrap();
    assert_eq!(
        (info.state, info.exit_code),
        (ContainerState::Exited, Some(3))
    );
    runtime
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_missing_image_is_not_found_naming_the_image() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let spec = ContainerSpec::new("slipway-test/does-not-exist:404".parse().unwrap())
        .with_labels(engine.labels(Role::Env));
    let err = engine.runtime().create_container(&spec).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        err.to_string(),
        "image `slipway-test/does-not-exist:404` not found"
    );
    assert!(engine
        .runtime()
        .list_containers(&engine.filter())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_duplicate_name_is_a_conflict_and_the_first_container_survives() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let spec = engine.sleeper("dup");
    let first = runtime.create_container(&spec).await.unwrap();
    let err = runtime.create_container(&spec).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(err.to_string().contains("already in use"), "{err}");
    runtime.inspect_container(&first).await.unwrap();
    runtime
        .remove_container(&first, RemoveOptions::force())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_memory_limit_shows_in_the_container_cgroup() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let limit = 96 * 1024 * 1024;
    let id = run_container(runtime, &engine.sleeper("mem").with_memory_limit(limit))
        .await
        .unwrap();
    assert_eq!(
        runtime
            .inspect_container(&id)
            .await
            .unwrap()
            .memory_limit_bytes,
        Some(limit)
    );
    // cgroup v1 and v2 name the file differently.
    let seen = sh(
        runtime,
        &id,
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max",
    )
    .await;
    assert_eq!(seen.trim(), limit.to_string());
    runtime
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_published_port_answers_from_the_host() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let spec = engine
        .sleeper("web")
        .with_cmd(["httpd", "-f", "-p", "3000", "-h", "/www"])
        .with_port(PortBinding::loopback(3000, None));
    let id = run_container(runtime, &spec).await.unwrap();
    let info = runtime.inspect_container(&id).await.unwrap();
    let port = info.host_port(3000).expect("port 3000 is published");
    assert!(
        info.ports.iter().all(|p| p.host_ip.is_loopback()),
        "{:?}",
        info.ports
    );
    let body = http_get(port, "/", Duration::from_secs(5)).await;
    assert_eq!(body, "slipway test page\n");
    runtime
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_busy_host_port_fails_the_start_and_leaves_no_container() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let spec = engine
        .sleeper("busy")
        .with_port(PortBinding::loopback(3000, Some(port)));
    let err = run_container(runtime, &spec).await.unwrap_err();
    assert!(
        matches!(err, Error::PortInUse { port: p } if p == port),
        "{err}"
    );
    assert!(runtime
        .list_containers(&engine.filter())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn privileged_is_either_granted_or_refused_without_leaving_a_container() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let spec = engine
        .sleeper("priv")
        .with_privilege(PrivilegeProfile::Privileged);
    match run_container(runtime, &spec).await {
        // Hosts with a full capability bounding set grant it.
        Ok(id) => {
            let caps = sh(runtime, &id, "grep CapEff /proc/self/status").await;
            assert!(
                caps.contains("0000003fffffffff") || caps.contains("000001ffffffffff"),
                "{caps}"
            );
            runtime
                .remove_container(&id, RemoveOptions::force())
                .await
                .unwrap();
        }
        Err(err) => {
            assert!(
                err.to_string().contains("failed to start container"),
                "{err}"
            );
            assert!(runtime
                .list_containers(&engine.filter())
                .await
                .unwrap()
                .is_empty());
        }
    }
}

#[tokio::test]
async fn the_near_privileged_profile_starts_with_every_other_capability() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let spec = engine
        .sleeper("caps")
        .with_privilege(PrivilegeProfile::Capabilities(
            CapabilityProfile::near_privileged(),
        ));
    let id = run_container(runtime, &spec).await.unwrap();
    // CAP_SYS_ADMIN (21) is there; CAP_SYS_RESOURCE (24) is not; /proc/kcore is not masked.
    let caps = sh(runtime, &id, "grep CapEff /proc/self/status | cut -f2").await;
    let caps = u64::from_str_radix(caps.trim(), 16).unwrap();
    assert_ne!(caps & (1 << 21), 0, "{caps:x}");
    assert_eq!(caps & (1 << 24), 0, "{caps:x}");
    sh(
        runtime,
        &id,
        "if mount | grep -q ' /proc/kcore '; then exit 1; fi",
    )
    .await;
    runtime
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();
}

#[tokio::test]
async fn invalid_specs_are_refused_before_reaching_the_engine() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let spec = engine.sleeper("bad").with_env("BAD=KEY", "x");
    let err = engine.runtime().create_container(&spec).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(engine
        .runtime()
        .list_containers(&engine.filter())
        .await
        .unwrap()
        .is_empty());
}
