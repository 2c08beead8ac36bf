//! `POST /api/maintenance/prune` against the real engine: only this state's stopped
//! containers that nothing holds, and only those old enough, go.

mod support;

use slipway_core::labels::{Role, Scope};
use slipway_core::prelude::*;
use slipway_core::{ContainerId, ContainerSpec};
use slipway_testkit::engine::BUSYBOX_IMAGE;
use slipway_testkit::{require_engine, TestEngine};
use support::{call, container_of, create, router, Fixture, SECRET};

async fn stopped(engine: &TestEngine, labels: slipway_core::Labels) -> ContainerId {
    let mut all = engine.scope_labels();
    all.extend(labels);
    engine
        .runtime()
        .create_container(
            &ContainerSpec::new(BUSYBOX_IMAGE.parse().unwrap())
                .with_cmd(["true"])
                .with_labels(all),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn prune_removes_only_this_states_stopped_unheld_containers_old_enough() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let fixture = Fixture::new(Some(&engine), BUSYBOX_IMAGE, 0);
    let state = fixture.open().await;
    let router = router(&state);
    let id = create(&router, "kept").await;
    let instance = state.services().store().instance_id();

    let ours = stopped(&engine, Scope::new(Role::Env, &instance).labels()).await;
    let other_state = stopped(
        &engine,
        Scope::new(Role::Env, &slipway_core::InstanceId::new("someone-else")).labels(),
    )
    .await;
    let foreign = stopped(&engine, Default::default()).await;

    // Too new for an hour's cutoff: nothing goes.
    let answer = call(
        &router,
        "POST",
        "/api/maintenance/prune",
        Some(SECRET),
        Some(r#"{"olderThanHours":1}"#),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body["containers"].as_array().unwrap().len(),
        0,
        "{}",
        answer.body
    );

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let answer = call(
        &router,
        "POST",
        "/api/maintenance/prune",
        Some(SECRET),
        Some(r#"{"olderThanHours":0}"#),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let removed: Vec<&str> = answer.body["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(removed, [ours.as_str()], "{}", answer.body);
    assert!(engine.runtime().inspect_container(&ours).await.is_err());
    for kept in [&other_state, &foreign] {
        assert!(engine.runtime().inspect_container(kept).await.is_ok());
    }
    let environment = call(
        &router,
        "GET",
        &format!("/api/containers/{id}"),
        Some(SECRET),
        None,
    )
    .await;
    assert_eq!(environment.status, 200);
    let container = container_of(&state, &id).await;
    assert!(engine.runtime().inspect_container(&container).await.is_ok());
    assert_eq!(
        call(
            &router,
            "DELETE",
            &format!("/api/containers/{id}"),
            Some(SECRET),
            None
        )
        .await
        .status,
        204
    );
}
