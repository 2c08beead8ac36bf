//! Environments without Docker: an in-memory engine, store and repo cache under a real pool.

use std::sync::Arc;
use std::time::Duration;

use slipway_core::prelude::*;
use slipway_core::{EnvironmentStatus, ErrorKind, InstanceId, Pool};
use slipway_pool::{PoolSettings, WarmPool};
use slipway_testkit::{FakeRepoCache, FakeRuntime, MemoryStore};

use super::*;
use crate::provisioner::tests::engine;
use crate::provisioner::{Phase, ProvisionConfig, SetupRequest};

const REPO: &str = "me/app";

struct Harness {
    fake: FakeRuntime,
    store: MemoryStore,
    pool: WarmPool,
    environments: Environments,
}

async fn harness_over(fake: FakeRuntime, store: MemoryStore) -> Harness {
    harness_with(fake, store, false, 0).await
}

async fn harness_with(
    fake: FakeRuntime,
    store: MemoryStore,
    refill: bool,
    warm_per_repo: usize,
) -> Harness {
    let cache = FakeRepoCache::new();
    cache.commit(REPO, "main", &[("server.js", "1")]);
    let provisioner = Provisioner::new(
        Arc::new(fake.clone()),
        Arc::new(cache),
        InstanceId::new("inst"),
        ProvisionConfig::default(),
    )
    .unwrap();
    let pool = WarmPool::builder(Arc::new(fake.clone()), Arc::new(store.clone()))
        .with_settings(PoolSettings {
            refill,
            ..PoolSettings::default()
        })
        .start()
        .await
        .unwrap();
    let environments = Environments::new(
        Arc::new(fake.clone()),
        Arc::new(pool.clone()),
        Arc::new(store.clone()),
        Arc::new(provisioner),
        EnvironmentSettings {
            base_image: "node:1".parse().unwrap(),
            warm_per_repo,
            ..EnvironmentSettings::default()
        },
    );
    Harness {
        fake,
        store,
        pool,
        environments,
    }
}

async fn harness() -> Harness {
    let (fake, _shell) = engine("node:1");
    harness_over(fake, MemoryStore::new("inst")).await
}

fn request() -> SetupRequest {
    SetupRequest::new(REPO.parse().unwrap())
}

#[tokio::test]
async fn the_record_follows_the_phases_and_every_event_names_the_environment() {
    let h = harness().await;
    let record = h
        .environments
        .create(NewEnvironment {
            name: None,
            repo: Some(REPO.parse().unwrap()),
            ..NewEnvironment::default()
        })
        .await
        .unwrap();
    assert_eq!(record.status, EnvironmentStatus::Created);
    assert!(record.container_id.is_some() && record.host_port.is_some());

    // Hold the setup at its first command: the record says cloning meanwhile.
    h.fake.hold("exec");
    let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
    let environments = Arc::new(h.environments);
    let setup = tokio::spawn({
        let environments = Arc::clone(&environments);
        let id = record.id.clone();
        async move { environments.setup(&id, request(), Some(sender)).await }
    });
    while h.fake.held("exec") == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let during = h.store.environment(&record.id).await.unwrap().unwrap();
    assert_eq!(during.status, EnvironmentStatus::Cloning);
    // A second setup of the same environment meanwhile is refused.
    let again = environments
        .setup(&record.id, request(), None)
        .await
        .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Conflict, "{again}");
    h.fake.unhold("exec");

    let ready = setup.await.unwrap().unwrap();
    assert_eq!(ready.status, EnvironmentStatus::Ready);
    assert_eq!(ready.branch.as_ref().map(|b| b.as_str()), Some("main"));
    assert_eq!(
        h.store.environment(&record.id).await.unwrap().unwrap(),
        ready
    );
    let mut phases = Vec::new();
    while let Ok(event) = events.try_recv() {
        assert_eq!(event.environment, record.id);
        if event.event.started {
            phases.push(event.event.phase);
        }
    }
    assert_eq!(phases, [Phase::Cloning, Phase::Installing, Phase::Starting]);
}

#[tokio::test]
async fn a_failed_claim_leaves_no_record_and_a_setup_of_another_repo_is_refused() {
    let h = harness().await;
    h.fake
        .fail_op("create_container", ErrorKind::Unavailable, 1);
    let new = NewEnvironment {
        name: None,
        repo: Some(REPO.parse().unwrap()),
        ..NewEnvironment::default()
    };
    let error = h.environments.create(new.clone()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert!(h.store.environments().await.unwrap().is_empty());

    let record = h.environments.create(new).await.unwrap();
    let other = SetupRequest::new("someone/else".parse().unwrap());
    let error = h
        .environments
        .setup(&record.id, other, None)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Invalid, "{error}");
    assert!(error.to_string().contains("was made for me/app"), "{error}");
}

#[tokio::test]
async fn recovery_settles_a_crash_between_claim_and_record_and_interrupted_setups() {
    let h = harness().await;
    // A record whose claim never happened (crash right after the record was written).
    let now = slipway_core::Timestamp::now();
    let orphan = EnvironmentRecord {
        id: "nocontainer".into(),
        name: "x".into(),
        container_id: None,
        image: "node:1".parse().unwrap(),
        pool_key: None,
        repo: None,
        branch: None,
        host_port: None,
        memory_bytes: 0,
        status: EnvironmentStatus::Creating,
        error: None,
        created_at: now,
        updated_at: now,
        ports: Vec::new(),
        labels: Default::default(),
        phases: Vec::new(),
        idempotency_key: None,
        from_pool: false,
        auto_stop_minutes: None,
    };
    h.store.put_environment(&orphan).await.unwrap();
    // A claim whose record never got its container (crash right after the claim).
    let key = h
        .pool
        .ensure_pool(slipway_core::PoolConfig::new(
            slipway_core::ContainerSpec::new("node:1".parse().unwrap())
                .with_port(slipway_core::PortBinding::loopback(3000, None)),
        ))
        .await
        .unwrap();
    let lost = h.pool.claim(&key, "ghost").await.unwrap();
    // A setup that was under way when its process died.
    let busy = h
        .environments
        .create(NewEnvironment {
            name: None,
            repo: Some(REPO.parse().unwrap()),
            ..NewEnvironment::default()
        })
        .await
        .unwrap();
    let mut installing = busy.clone();
    installing.status = EnvironmentStatus::Installing;
    h.store.put_environment(&installing).await.unwrap();
    h.pool.shutdown(Duration::from_secs(5)).await.unwrap();

    // The next owner.
    let next = harness_over(h.fake.clone(), h.store.clone()).await;
    let report = next.environments.recover().await.unwrap();
    assert_eq!(report.forgotten, ["nocontainer"]);
    assert_eq!(report.released, [lost.container_id.to_string()]);
    assert_eq!(report.interrupted, std::slice::from_ref(&busy.id));
    assert!(h.store.environment("nocontainer").await.unwrap().is_none());
    assert!(!h.fake.container_ids().contains(&lost.container_id));
    let leased: Vec<u16> = h
        .store
        .port_leases()
        .await
        .unwrap()
        .iter()
        .map(|l| l.port)
        .collect();
    assert!(
        !leased.contains(&lost.host_port(3000).unwrap()),
        "{leased:?}"
    );
    let settled = h.store.environment(&busy.id).await.unwrap().unwrap();
    assert_eq!(settled.status, EnvironmentStatus::Error);
    assert!(settled
        .error
        .unwrap()
        .contains("interrupted while installing"));
    // The interrupted environment keeps its container and port until it is destroyed.
    assert!(h
        .fake
        .container_ids()
        .contains(busy.container_id.as_ref().unwrap()));
    next.environments.destroy(&busy.id).await.unwrap();
    assert!(h.store.port_leases().await.unwrap().is_empty());
}

#[tokio::test]
async fn warm_per_repo_keeps_containers_of_the_repo_s_image_ready() {
    let (fake, _shell) = engine("node:1");
    let h = harness_with(fake, MemoryStore::new("inst"), true, 2).await;
    let record = h
        .environments
        .create(NewEnvironment {
            name: None,
            repo: Some(REPO.parse().unwrap()),
            ..NewEnvironment::default()
        })
        .await
        .unwrap();
    let key = slipway_core::PoolKey::from_hash(record.pool_key.clone().unwrap());
    h.pool.fill(&key).await.unwrap();
    let report = h.pool.status().await.unwrap();
    let repo_pool = report.pools.iter().find(|p| p.key == key).unwrap();
    assert_eq!(
        (repo_pool.target, repo_pool.ready, repo_pool.claimed),
        (2, 2, 1)
    );
    // The next environment of the repo is served warm.
    let next = h
        .environments
        .create(NewEnvironment {
            name: None,
            repo: Some(REPO.parse().unwrap()),
            ..NewEnvironment::default()
        })
        .await
        .unwrap();
    let report = h.pool.status().await.unwrap();
    let repo_pool = report.pools.iter().find(|p| p.key == key).unwrap();
    assert_eq!(repo_pool.hits, 1, "{repo_pool:?}");
    assert_ne!(next.container_id, record.container_id);
    h.pool.shutdown(Duration::from_secs(5)).await.unwrap();
}
