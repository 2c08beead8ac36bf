//! `WarmPool` on a real engine with a real SQLite store.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slipway_core::prelude::*;
use slipway_core::{ContainerSpec, ErrorKind, Pool, PoolKey, PoolStatus, PortBinding, Role};
use slipway_pool::{MemoryBudget, PoolConfig, PoolSettings, WarmPool};
use slipway_store::SqliteStore;
use slipway_testkit::engine::TestEngine;
use slipway_testkit::http::get;
use slipway_testkit::{free_port_range, require_engine};

const MEMORY: u64 = 16 << 20;

fn web_spec(engine: &TestEngine) -> ContainerSpec {
    ContainerSpec::new(engine.busybox())
        .with_labels(engine.labels(Role::Pool))
        .with_cmd(["httpd", "-f", "-p", "3000", "-h", "/www"])
        .with_port(PortBinding::loopback(3000, None))
        .with_memory_limit(MEMORY)
}

async fn start(
    engine: &TestEngine,
    store: &SqliteStore,
    config: PoolConfig,
    settings: PoolSettings,
) -> (WarmPool, PoolKey) {
    let key = config.key();
    let pool = WarmPool::builder(engine.shared(), Arc::new(store.clone()))
        .with_pool(config)
        .with_settings(settings)
        .start()
        .await
        .unwrap();
    (pool, key)
}

/// A budget of `containers` and a free block of host ports of the test's own.
fn settings(containers: u64) -> PoolSettings {
    PoolSettings {
        budget: MemoryBudget::Fixed(containers * MEMORY),
        port_range: free_port_range(200),
        ..PoolSettings::default()
    }
}

async fn status(pool: &WarmPool) -> PoolStatus {
    pool.status().await.unwrap().pools.remove(0)
}

async fn until(pool: &WarmPool, what: &str, done: impl Fn(&PoolStatus) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if done(&status(pool).await) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never reached: {what}; status {:?}", status(pool).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_from_a_filled_pool_is_warm_serves_and_is_replaced() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_in_dir(dir.path()).unwrap();
    let settings = settings(10);
    let range = settings.port_range;
    let (pool, key) = start(
        &engine,
        &store,
        PoolConfig::new(web_spec(&engine)).with_target_size(2),
        settings,
    )
    .await;
    pool.fill(&key).await.unwrap();

    // How fast a warm claim is, `slipway bench pool` measures; here: it is warm, not made.
    let lease = pool.claim(&key, "test-holder").await.unwrap();
    assert!(lease.warm);
    assert_eq!(
        (status(&pool).await.hits, status(&pool).await.misses),
        (1, 0)
    );
    let port = lease.host_port(3000).unwrap();
    assert!(range.contains(port), "{port} outside {range}");
    assert!(get(port).await.ends_with("slipway test page\n"));

    until(&pool, "refilled", |s| s.ready == 2).await;
    pool.release(&lease).await.unwrap();
    let err = engine
        .runtime()
        .inspect_container(&lease.container_id)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let leased: Vec<u16> = slipway_core::LeaseStore::port_leases(&store)
        .await
        .unwrap()
        .iter()
        .map(|l| l.port)
        .collect();
    assert!(!leased.contains(&port), "the port is given back");
    pool.drain().await.unwrap();
    pool.shutdown(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_killed_behind_the_pools_back_is_replaced() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_in_dir(dir.path()).unwrap();
    let (pool, key) = start(
        &engine,
        &store,
        PoolConfig::new(web_spec(&engine)).with_target_size(2),
        settings(10),
    )
    .await;
    pool.fill(&key).await.unwrap();
    let members = engine
        .runtime()
        .list_containers(&engine.filter())
        .await
        .unwrap();
    let victim = members[0].id.clone();
    engine
        .runtime()
        .bollard()
        .kill_container(
            victim.as_str(),
            None::<slipway_runtime::bollard::query_parameters::KillContainerOptions>,
        )
        .await
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now: Vec<_> = engine
            .runtime()
            .list_containers(&engine.filter())
            .await
            .unwrap();
        let running = now.iter().filter(|c| c.state.is_running()).count();
        if !now.iter().any(|c| c.id == victim) && running == 2 && status(&pool).await.ready == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the killed container was not replaced: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pool.drain().await.unwrap();
    pool.shutdown(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_pool_adopts_what_the_first_one_left() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_in_dir(dir.path()).unwrap();
    let config = PoolConfig::new(web_spec(&engine)).with_target_size(2);
    let settings = settings(10);
    let (first, key) = start(&engine, &store, config.clone(), settings.clone()).await;
    first.fill(&key).await.unwrap();
    let claimed = first.claim(&key, "test-holder").await.unwrap();
    first.fill(&key).await.unwrap();
    first.shutdown(Duration::from_secs(10)).await.unwrap();
    drop(first);
    let before: BTreeSet<_> = engine
        .runtime()
        .list_containers(&engine.filter())
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(before.len(), 3);

    // The same state directory opened again, as after a restart of the process.
    let reopened = SqliteStore::open_in_dir(dir.path()).unwrap();
    let (second, _) = start(&engine, &reopened, config, settings).await;
    let s = status(&second).await;
    assert_eq!((s.ready, s.claimed), (2, 1));
    let lease = second.claim(&key, "test-holder").await.unwrap();
    assert!(lease.warm && before.contains(&lease.container_id));
    assert!(get(lease.host_port(3000).unwrap())
        .await
        .ends_with("slipway test page\n"));
    second.release(&lease).await.unwrap();
    second.release(&claimed).await.unwrap();
    second.drain().await.unwrap();
    second.shutdown(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_held_by_another_process_is_skipped() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_in_dir(dir.path()).unwrap();
    let settings = settings(10);
    let first = settings.port_range.first;
    let holder = std::net::TcpListener::bind(("127.0.0.1", first))
        .expect("the first port of a free block is free");
    let config = PoolConfig::new(web_spec(&engine)).with_target_size(1);
    let (pool, key) = start(&engine, &store, config, settings).await;
    // One creation: its first lease can't be bound, so it takes the next port.
    pool.fill(&key).await.unwrap();
    let lease = pool.claim(&key, "test-holder").await.unwrap();
    assert!(lease.warm);
    assert_eq!(lease.host_port(3000), Some(first + 1));
    assert!(get(first + 1).await.ends_with("slipway test page\n"));
    drop(holder);
    pool.release(&lease).await.unwrap();
    pool.drain().await.unwrap();
    pool.shutdown(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_claims_against_a_budget_of_fifty() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_in_dir(dir.path()).unwrap();
    let mut spec = web_spec(&engine);
    spec.cmd = Some(vec!["tail".into(), "-f".into(), "/dev/null".into()]);
    let (pool, key) = start(&engine, &store, PoolConfig::new(spec), settings(50)).await;
    pool.fill(&key).await.unwrap();

    let claims: Vec<_> = (0..200)
        .map(|_| {
            let (pool, key) = (pool.clone(), key.clone());
            tokio::spawn(async move { pool.claim(&key, "test-holder").await })
        })
        .collect();
    let (mut leases, mut refused) = (Vec::new(), 0);
    for claim in claims {
        match claim.await.unwrap() {
            Ok(lease) => leases.push(lease),
            Err(e) if e.kind() == ErrorKind::CapacityExceeded => refused += 1,
            Err(e) => panic!("unexpected failure: {e:#}"),
        }
    }
    assert_eq!((leases.len(), refused), (50, 150));
    let s = status(&pool).await;
    assert_eq!((s.hits, s.misses), (3, 47));
    let ids: BTreeSet<_> = leases.iter().map(|l| l.container_id.clone()).collect();
    let ports: BTreeSet<_> = leases.iter().map(|l| l.host_port(3000).unwrap()).collect();
    assert_eq!(
        (ids.len(), ports.len()),
        (50, 50),
        "no container or port handed out twice"
    );
    assert_eq!(
        engine
            .runtime()
            .list_containers(&engine.filter())
            .await
            .unwrap()
            .len(),
        50
    );

    let releases: Vec<_> = leases
        .into_iter()
        .map(|lease| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.release(&lease).await })
        })
        .collect();
    for release in releases {
        release.await.unwrap().unwrap();
    }
    until(&pool, "refilled to target", |s| {
        s.ready == 3 && s.claimed == 0
    })
    .await;
    pool.drain().await.unwrap();
    pool.shutdown(Duration::from_secs(10)).await.unwrap();
}
