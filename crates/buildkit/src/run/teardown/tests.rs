//! Teardown without Docker: what a stop removes, and what it must leave alone.

use std::sync::Arc;

use slipway_core::labels::{self, Scope};
use slipway_core::prelude::*;
use slipway_core::{
    run_container, AuditFilter, ContainerId, ContainerSpec, DockerMode, ErrorKind, InstanceId,
    NetworkId, NetworkSpec, Role, RunId, RunRecord, RunState, Timestamp,
};
use slipway_testkit::{FakeRuntime, MemoryStore};

use crate::run::{audit_kind, RunManager};
use crate::{BuildkitConfig, BuildkitSidecar};

const RUN: &str = "r0000000001";

fn manager(fake: &FakeRuntime, store: &MemoryStore) -> RunManager {
    let instance = InstanceId::new("inst");
    let sidecar = BuildkitSidecar::new(
        Arc::new(fake.clone()),
        instance.clone(),
        BuildkitConfig::default(),
    )
    .unwrap();
    RunManager::new(
        Arc::new(fake.clone()),
        Arc::new(fake.clone()),
        Arc::new(store.clone()),
        Arc::new(sidecar),
        instance,
    )
}

fn run_labels(role: Role, instance: &str, run: &str) -> slipway_core::Labels {
    Scope::new(role, &InstanceId::new(instance))
        .with(labels::RUN_ID, run)
        .labels()
}

async fn container(fake: &FakeRuntime, name: &str, labels: slipway_core::Labels) -> ContainerId {
    let spec = ContainerSpec::new("busybox:1".parse().unwrap())
        .with_name(name.parse().unwrap())
        .with_labels(labels);
    run_container(fake, &spec).await.unwrap()
}

async fn network(fake: &FakeRuntime, name: &str, labels: slipway_core::Labels) -> NetworkId {
    fake.create_network(&NetworkSpec {
        name: name.parse().unwrap(),
        labels,
        internal: false,
        isolated: false,
    })
    .await
    .unwrap()
}

fn record(
    main: Option<ContainerId>,
    sidecar: Option<ContainerId>,
    network: Option<NetworkId>,
) -> RunRecord {
    let now = Timestamp::now();
    RunRecord {
        id: RunId::new(RUN),
        name: None,
        mode: DockerMode::Dind,
        image: "busybox:1".parse().unwrap(),
        state: RunState::Running,
        network_id: network,
        sidecar_id: sidecar,
        main_container_id: main,
        state_volume: None,
        owner: InstanceId::new("inst"),
        heartbeat_at: now,
        created_at: now,
        updated_at: now,
        error: None,
    }
}

async fn audit_kinds(store: &MemoryStore) -> Vec<String> {
    store
        .audit_entries(&AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event.kind)
        .collect()
}

#[tokio::test]
async fn stop_removes_the_run_s_containers_and_network_and_audits_the_sidecar() {
    let fake = FakeRuntime::new().with_image("busybox:1");
    let store = MemoryStore::new("inst");
    let main = container(&fake, "main", run_labels(Role::Run, "inst", RUN)).await;
    let sidecar = container(&fake, "sidecar", run_labels(Role::Buildkit, "inst", RUN)).await;
    // Created just before a crash, so never recorded: found by its labels.
    let unrecorded = container(&fake, "late", run_labels(Role::Run, "inst", RUN)).await;
    let net = network(&fake, "net", run_labels(Role::Run, "inst", RUN)).await;
    store
        .put_run(&record(Some(main), Some(sidecar.clone()), Some(net)))
        .await
        .unwrap();

    let stopped = manager(&fake, &store).stop(&RunId::new(RUN)).await.unwrap();
    assert_eq!(stopped.state, RunState::Stopped);
    assert!(
        fake.container_ids().is_empty(),
        "{:?}",
        fake.container_ids()
    );
    assert!(fake.network_names().is_empty());
    assert!(!fake.container_ids().contains(&unrecorded));
    assert_eq!(
        audit_kinds(&store).await,
        [
            audit_kind::BUILDKIT_SIDECAR_STOPPED,
            audit_kind::RUN_STOPPED
        ]
    );
    let entries = store.audit_entries(&AuditFilter::default()).await.unwrap();
    assert_eq!(
        entries[0].event.resources.get("container_id"),
        Some(&sidecar.to_string()),
        "the sidecar is told apart from the main container by its role"
    );
    let removed: Vec<String> = fake
        .calls()
        .into_iter()
        .filter(|call| call.op == "remove_container")
        .map(|call| call.target)
        .collect();
    assert_eq!(
        removed.last(),
        Some(&sidecar.to_string()),
        "the sidecar goes after the main containers"
    );
    // Stopping it again changes nothing.
    let again = manager(&fake, &store).stop(&RunId::new(RUN)).await.unwrap();
    assert_eq!(again.state, RunState::Stopped);
    assert_eq!(audit_kinds(&store).await.len(), 2);
}

#[tokio::test]
async fn a_recorded_name_of_something_foreign_is_inspected_and_left_alone() {
    let fake = FakeRuntime::new().with_image("busybox:1");
    let store = MemoryStore::new("inst");
    // A user's container and network, named like the run's would be; an older slipway
    // stored such names where ids belong.
    let victim = container(&fake, "slipway-run-victim", Default::default()).await;
    network(&fake, "slipway-victim", Default::default()).await;
    // And one of another state with the same run id.
    let theirs = container(&fake, "theirs", run_labels(Role::Run, "other", RUN)).await;
    let mut legacy = record(
        Some(ContainerId::new("slipway-run-victim")),
        Some(theirs.clone()),
        Some(NetworkId::new("slipway-victim")),
    );
    legacy.state = RunState::Failed;
    store.put_run(&legacy).await.unwrap();

    let stopped = manager(&fake, &store).stop(&RunId::new(RUN)).await.unwrap();
    assert_eq!(stopped.state, RunState::Failed, "a failed run stays failed");
    assert!(fake.container_ids().contains(&victim));
    assert!(fake.container_ids().contains(&theirs));
    assert!(fake.network_names().contains(&"slipway-victim".to_owned()));
    assert_eq!(fake.call_count("remove_container"), 0);
    assert_eq!(fake.call_count("remove_network"), 0);
}

#[tokio::test]
async fn the_first_failure_is_kept_and_everything_else_still_removed() {
    let fake = FakeRuntime::new().with_image("busybox:1");
    let store = MemoryStore::new("inst");
    let main = container(&fake, "main", run_labels(Role::Run, "inst", RUN)).await;
    let sidecar = container(&fake, "sidecar", run_labels(Role::Buildkit, "inst", RUN)).await;
    let net = network(&fake, "net", run_labels(Role::Run, "inst", RUN)).await;
    store
        .put_run(&record(
            Some(main.clone()),
            Some(sidecar.clone()),
            Some(net),
        ))
        .await
        .unwrap();
    fake.fail_op("remove_container", ErrorKind::Unavailable, 1);

    let error = manager(&fake, &store)
        .stop(&RunId::new(RUN))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert_eq!(
        fake.container_ids(),
        [main],
        "only the failed removal is left"
    );
    assert!(fake.network_names().is_empty());
    let record = store.run(&RunId::new(RUN)).await.unwrap().unwrap();
    assert_eq!(record.state, RunState::Stopping, "a retry finishes it");
    let retried = manager(&fake, &store).stop(&RunId::new(RUN)).await.unwrap();
    assert_eq!(retried.state, RunState::Stopped);
    assert!(fake.container_ids().is_empty());
}

async fn run_with_a_network(fake: &FakeRuntime, store: &MemoryStore) {
    let net = network(fake, "net", run_labels(Role::Run, "inst", RUN)).await;
    store.put_run(&record(None, None, Some(net))).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_network_with_endpoints_still_attached_is_retried_twenty_times() {
    let fake = FakeRuntime::new().with_image("busybox:1");
    let store = MemoryStore::new("inst");
    run_with_a_network(&fake, &store).await;
    fake.fail_op("remove_network", ErrorKind::Conflict, 20);

    let stopped = manager(&fake, &store).stop(&RunId::new(RUN)).await.unwrap();
    assert_eq!(stopped.state, RunState::Stopped);
    assert!(fake.network_names().is_empty());
    assert_eq!(fake.call_count("remove_network"), 21);
}

#[tokio::test(start_paused = true)]
async fn a_network_that_stays_busy_fails_the_stop_after_twenty_retries() {
    let fake = FakeRuntime::new().with_image("busybox:1");
    let store = MemoryStore::new("inst");
    run_with_a_network(&fake, &store).await;
    fake.fail_op("remove_network", ErrorKind::Conflict, 21);

    let error = manager(&fake, &store)
        .stop(&RunId::new(RUN))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Conflict);
    assert_eq!(fake.call_count("remove_network"), 21);
    assert_eq!(fake.network_names().len(), 1, "left for a retry");
}
