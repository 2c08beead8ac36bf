use slipway_core::prelude::*;
use slipway_core::{
    BuildRecord, BuildStatus, ContainerId, DockerMode, EnvironmentRecord, EnvironmentStatus, RunId,
    RunRecord, RunState, Timestamp,
};
use slipway_store::SqliteStore;

use crate::fresh_store;

fn environment(id: &str, created: i64) -> EnvironmentRecord {
    EnvironmentRecord {
        id: id.into(),
        name: format!("env {id}"),
        container_id: Some(ContainerId::new(format!("c-{id}"))),
        image: "slipway/me-app:main".parse().unwrap(),
        pool_key: Some("0123456789abcdef".into()),
        repo: Some("me/app".parse().unwrap()),
        branch: Some("feature/x".parse().unwrap()),
        host_port: Some(10000),
        memory_bytes: 512 << 20,
        status: EnvironmentStatus::Cloning,
        error: None,
        created_at: Timestamp::from_unix_millis(created),
        updated_at: Timestamp::from_unix_millis(created),
        ports: Vec::new(),
        labels: Default::default(),
        phases: Vec::new(),
        idempotency_key: None,
        from_pool: false,
        auto_stop_minutes: None,
    }
}

#[tokio::test]
async fn environments_round_trip_update_and_delete() {
    let (store, _dir) = fresh_store();
    store.put_environment(&environment("b", 2)).await.unwrap();
    store.put_environment(&environment("a", 1)).await.unwrap();
    let mut ready = environment("b", 2);
    ready.status = EnvironmentStatus::Ready;
    ready.updated_at = Timestamp::from_unix_millis(5);
    store.put_environment(&ready).await.unwrap();

    assert_eq!(store.environment("b").await.unwrap(), Some(ready));
    let ids: Vec<_> = store
        .environments()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, ["a", "b"], "oldest first");
    assert!(store.delete_environment("a").await.unwrap());
    assert!(!store.delete_environment("a").await.unwrap());
    assert_eq!(store.environment("a").await.unwrap(), None);
}

#[tokio::test]
async fn runs_round_trip_with_every_resource_id() {
    let (store, _dir) = fresh_store();
    let mut run = RunRecord {
        id: RunId::new("r1"),
        name: Some("build".into()),
        mode: DockerMode::Dind,
        image: "slipway-test/busybox:1".parse().unwrap(),
        state: RunState::Creating,
        network_id: Some("n1".into()),
        sidecar_id: None,
        main_container_id: None,
        state_volume: Some("slipway-buildkit-default".into()),
        owner: store.instance_id(),
        heartbeat_at: Timestamp::now(),
        created_at: Timestamp::now(),
        updated_at: Timestamp::now(),
        error: None,
    };
    store.put_run(&run).await.unwrap();
    run.sidecar_id = Some(ContainerId::new("s1"));
    run.state = RunState::Running;
    store.put_run(&run).await.unwrap();
    assert_eq!(store.run(&run.id).await.unwrap(), Some(run.clone()));
    assert_eq!(store.runs().await.unwrap(), vec![run]);
    assert_eq!(store.run(&RunId::new("nope")).await.unwrap(), None);
}

#[tokio::test]
async fn run_updates_are_compare_and_set_and_heartbeats_leave_the_version_alone() {
    let (store, dir) = fresh_store();
    let other_process = SqliteStore::open_in_dir(dir.path()).unwrap();
    let read = RunRecord {
        id: RunId::new("r2"),
        name: None,
        mode: DockerMode::None,
        image: "slipway-test/busybox:1".parse().unwrap(),
        state: RunState::Creating,
        network_id: None,
        sidecar_id: None,
        main_container_id: None,
        state_volume: None,
        owner: store.instance_id(),
        heartbeat_at: Timestamp::from_unix_millis(1_000),
        created_at: Timestamp::from_unix_millis(1_000),
        updated_at: Timestamp::from_unix_millis(1_000),
        error: None,
    };
    store.put_run(&read).await.unwrap();

    // Both processes read version 1000; the first to write wins.
    let mut recovered = read.clone();
    recovered.state = RunState::Failed;
    recovered.updated_at = Timestamp::from_unix_millis(2_000);
    assert!(other_process
        .update_run(&recovered, read.updated_at)
        .await
        .unwrap());
    let mut running = read.clone();
    running.state = RunState::Running;
    running.updated_at = Timestamp::from_unix_millis(2_001);
    assert!(!store.update_run(&running, read.updated_at).await.unwrap());
    assert_eq!(
        store.run(&read.id).await.unwrap().unwrap().state,
        RunState::Failed
    );

    assert!(store
        .heartbeat_run(&read.id, Timestamp::from_unix_millis(9_000))
        .await
        .unwrap());
    let beat = other_process.run(&read.id).await.unwrap().unwrap();
    assert_eq!(beat.heartbeat_at, Timestamp::from_unix_millis(9_000));
    assert_eq!(
        beat.updated_at,
        Timestamp::from_unix_millis(2_000),
        "same version"
    );
    assert!(!store
        .heartbeat_run(&RunId::new("nope"), Timestamp::now())
        .await
        .unwrap());
}

#[tokio::test]
async fn a_container_can_be_claimed_only_once_until_its_claim_is_removed() {
    let (store, dir) = fresh_store();
    let other_process = SqliteStore::open_in_dir(dir.path()).unwrap();
    let lease = slipway_core::Lease {
        key: slipway_core::PoolKey::from_hash("0123456789abcdef"),
        container_id: ContainerId::new("c1"),
        container_name: "slipway-pool-1".into(),
        ports: vec![],
        memory_bytes: 64 << 20,
        warm: true,
        holder: "env-1".into(),
        claimed_at: Timestamp::now(),
    };
    store.record_claim(&lease).await.unwrap();
    let err = other_process.record_claim(&lease).await.unwrap_err();
    assert_eq!(err.kind(), slipway_core::ErrorKind::Conflict, "{err}");
    assert_eq!(other_process.claims().await.unwrap(), vec![lease.clone()]);
    assert!(store.remove_claim(&lease.container_id).await.unwrap());
    assert!(!store.remove_claim(&lease.container_id).await.unwrap());
    other_process.record_claim(&lease).await.unwrap();
}

#[tokio::test]
async fn builds_come_back_newest_first() {
    let (store, _dir) = fresh_store();
    for (i, status) in [
        BuildStatus::Succeeded,
        BuildStatus::Failed,
        BuildStatus::Succeeded,
    ]
    .into_iter()
    .enumerate()
    {
        store
            .record_build(&BuildRecord {
                id: format!("b{i}"),
                service: "api".into(),
                image: "127.0.0.1:5000/api:dev".parse().unwrap(),
                engine: "local".into(),
                started_at: Timestamp::from_unix_millis(1000 + i as i64),
                duration_ms: 10,
                status,
                pushed: status == BuildStatus::Succeeded,
                error: (status == BuildStatus::Failed).then(|| "exit 1".into()),
            })
            .await
            .unwrap();
    }
    let ids: Vec<_> = store
        .builds(2)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(ids, ["b2", "b1"]);
}

#[tokio::test]
async fn the_instance_id_is_stable_for_a_state_dir_and_differs_between_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let first = SqliteStore::open_in_dir(dir.path()).unwrap().instance_id();
    let again = SqliteStore::open_in_dir(dir.path()).unwrap().instance_id();
    assert_eq!(first, again);
    assert_eq!(first.as_str().len(), 16);
    let (other, _guard) = fresh_store();
    assert_ne!(other.instance_id(), first);
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slipway.db");
    std::fs::write(
        &path,
        b"this is not sqlite, just text that is long enough to look like a header",
    )
    .unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(err.to_string().contains("slipway.db"), "{err}");
}
