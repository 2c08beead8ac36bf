//! `WarmPool` against core's in-memory `FakeRuntime` and `MemoryStore`, on paused tokio time:
//! refill, backoff, degraded state, capacity, health and concurrent claims, deterministically.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use slipway_core::prelude::*;
use slipway_core::{
    labels, ContainerId, ContainerSpec, ErrorKind, LabelFilter, Pool, PoolKey, PoolStatus,
    PortBinding, PortRange, Role,
};
use slipway_pool::{MemoryBudget, PoolConfig, PoolSettings, Reconciled, WarmPool};
use slipway_testkit::{FakeRuntime, MemoryStore};

const MEMORY: u64 = 64 << 20;

fn spec() -> ContainerSpec {
    ContainerSpec::new("busybox:1".parse().unwrap())
        .with_cmd(["tail", "-f", "/dev/null"])
        .with_port(PortBinding::loopback(3000, None))
        .with_memory_limit(MEMORY)
}

fn settings(containers: u64) -> PoolSettings {
    PoolSettings {
        budget: MemoryBudget::Fixed(containers * MEMORY),
        port_range: PortRange::new(10000, 10999).unwrap(),
        ..PoolSettings::default()
    }
}

struct Harness {
    fake: FakeRuntime,
    store: MemoryStore,
    pool: WarmPool,
    key: PoolKey,
}

/// Virtual time after which a test counts as hung.
const HUNG_AFTER: Duration = Duration::from_secs(24 * 3600);

/// On paused time, a call that never completes parks the test forever (nothing is left to
/// advance the clock): this timer makes it exit the test binary as failed instead.
fn fail_if_hung() {
    tokio::spawn(async {
        tokio::time::sleep(HUNG_AFTER).await;
        eprintln!("a test hung: a pool call never completed");
        std::process::exit(101);
    });
}

async fn harness_with(
    fake: FakeRuntime,
    store: MemoryStore,
    config: PoolConfig,
    settings: PoolSettings,
) -> Harness {
    fail_if_hung();
    let key = config.key();
    let pool = WarmPool::builder(Arc::new(fake.clone()), Arc::new(store.clone()))
        .with_pool(config)
        .with_settings(settings)
        .start()
        .await
        .unwrap();
    Harness {
        fake,
        store,
        pool,
        key,
    }
}

async fn harness(config: PoolConfig, budget: u64) -> Harness {
    harness_with(
        FakeRuntime::new().with_image("busybox:1"),
        MemoryStore::new("inst"),
        config,
        settings(budget),
    )
    .await
}

async fn status(pool: &WarmPool) -> PoolStatus {
    pool.status().await.unwrap().pools.remove(0)
}

/// Lets the pool's tasks run until `done` holds (virtual time, so this is instant).
async fn until(pool: &WarmPool, what: &str, done: impl Fn(&PoolStatus) -> bool) {
    for _ in 0..10_000 {
        if done(&status(pool).await) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("never reached: {what}; status {:?}", status(pool).await);
}

/// Lets the tasks run until `n` calls of `op` are held (bounded, like [`until`]).
async fn until_held(fake: &FakeRuntime, op: &str, n: usize) {
    for _ in 0..10_000 {
        if fake.held(op) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("never held {n} calls of {op}");
}

#[tokio::test(start_paused = true)]
async fn start_fills_the_pool_with_labelled_running_containers() {
    let h = harness(PoolConfig::new(spec()), 100).await;
    h.pool.fill(&h.key).await.unwrap();
    let ids = h.fake.container_ids();
    assert_eq!(ids.len(), 3);
    for id in &ids {
        let info = h.fake.inspect_container(id).await.unwrap();
        assert!(info.state.is_running());
        assert_eq!(info.labels[labels::ROLE], "pool");
        assert_eq!(info.labels[labels::POOL_KEY], h.key.as_str());
        assert_eq!(info.labels[labels::INSTANCE], "inst");
        let port = info.host_port(3000).unwrap();
        assert!((10000..10003).contains(&port), "{port}");
    }
    let s = status(&h.pool).await;
    assert_eq!((s.ready, s.creating, s.claimed, s.target), (3, 0, 0, 3));
}

#[tokio::test(start_paused = true)]
async fn a_warm_claim_does_not_create_anything_and_is_recorded() {
    let h = harness(PoolConfig::new(spec()), 100).await;
    h.pool.fill(&h.key).await.unwrap();
    let creates = h.fake.call_count("create_container");
    let lease = h.pool.claim(&h.key, "test-holder").await.unwrap();
    assert!(lease.warm);
    assert_eq!(
        h.fake.call_count("create_container"),
        creates,
        "a warm claim creates nothing"
    );
    assert!(
        h.fake.call_count("inspect_container") >= 1,
        "the container is checked before it is handed out"
    );
    assert_eq!(h.store.claims().await.unwrap(), vec![lease.clone()]);
    assert!(lease.host_port(3000).is_some());
    let s = status(&h.pool).await;
    assert_eq!((s.hits, s.misses, s.claimed), (1, 0, 1));
    assert!(s.claim_p50_ms.is_some());
}

#[tokio::test(start_paused = true)]
async fn a_fresh_claim_creates_even_with_ready_containers_and_leaves_them_ready() {
    let h = harness(PoolConfig::new(spec()), 100).await;
    h.pool.fill(&h.key).await.unwrap();
    let ready = status(&h.pool).await.ready;
    assert!(ready >= 1);
    let creates = h.fake.call_count("create_container");
    let lease = h.pool.claim_fresh(&h.key, "fresh-holder").await.unwrap();
    assert!(!lease.warm);
    assert_eq!(h.fake.call_count("create_container"), creates + 1);
    let s = status(&h.pool).await;
    assert_eq!((s.hits, s.misses, s.claimed), (0, 1, 1));
    assert_eq!(s.ready, ready, "the ready containers stay ready");
    assert_eq!(h.store.claims().await.unwrap(), vec![lease]);
}

#[tokio::test(start_paused = true)]
async fn an_empty_pool_serves_a_cold_create_counted_as_a_miss() {
    let h = harness(
        PoolConfig::new(spec()).with_target_size(0).with_min_size(0),
        100,
    )
    .await;
    let lease = h.pool.claim(&h.key, "test-holder").await.unwrap();
    assert!(!lease.warm);
    assert!(h
        .fake
        .inspect_container(&lease.container_id)
        .await
        .unwrap()
        .state
        .is_running());
    let s = status(&h.pool).await;
    assert_eq!((s.hits, s.misses), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn refill_keeps_at_most_max_creating_creations_in_flight() {
    let fake = FakeRuntime::new().with_image("busybox:1");
    fake.hold("start_container");
    let config = PoolConfig::new(spec())
        .with_target_size(5)
        .with_max_creating(2);
    let h = harness_with(fake, MemoryStore::new("inst"), config, settings(100)).await;
    for round in 0..3 {
        until(&h.pool, "two starts in flight", |s| {
            s.creating == 2 || s.ready + s.creating == 5
        })
        .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let held = h.fake.held("start_container");
        assert!(held <= 2, "round {round}: {held} starts at once");
        h.fake.release_held("start_container", held);
    }
    h.fake.unhold("start_container");
    h.pool.fill(&h.key).await.unwrap();
    assert_eq!(status(&h.pool).await.ready, 5);
}

#[tokio::test(start_paused = true)]
async fn below_min_refill_starts_at_once_above_it_after_the_refill_delay() {
    let config = PoolConfig::new(spec()).with_target_size(3).with_min_size(2);
    let h = harness(config, 100).await;
    h.pool.fill(&h.key).await.unwrap();
    let before = h.fake.call_count("create_container");

    h.pool.claim(&h.key, "test-holder").await.unwrap(); // 2 ready left: not urgent
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        h.fake.call_count("create_container"),
        before,
        "refill waits the delay"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    until(&h.pool, "refilled", |s| s.ready == 3).await;

    h.pool.claim(&h.key, "test-holder").await.unwrap();
    h.pool.claim(&h.key, "test-holder").await.unwrap(); // 1 ready left: below min, urgent
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert!(
        h.fake.call_count("create_container") > before + 1,
        "urgent refill does not wait"
    );
}

#[tokio::test(start_paused = true)]
async fn failures_back_off_exponentially_then_mark_the_pool_degraded() {
    // No image: every creation fails.
    let fake = FakeRuntime::new();
    let config = PoolConfig::new(spec()).with_max_creating(1);
    let h = harness_with(fake, MemoryStore::new("inst"), config, settings(100)).await;
    let started = tokio::time::Instant::now();
    let mut seen = Vec::new();
    while seen.len() < 6 {
        let calls = h.fake.call_count("create_container");
        if calls > seen.len() {
            seen.push(started.elapsed().as_millis());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Attempts at about 0, +250, +500, +1000, +2000, +4000 ms.
    let gaps: Vec<u128> = seen
        .windows(2)
        .map(|w| (w[1] - w[0] + 25) / 50 * 50)
        .collect();
    assert_eq!(gaps, [250, 500, 1000, 2000, 4000], "attempts at {seen:?}");
    let s = status(&h.pool).await;
    assert!(s.degraded);
    assert!(s
        .last_error
        .unwrap()
        .contains("image `busybox:1` not found"));
    // A minute later it still has not hot-looped.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(
        h.fake.call_count("create_container") <= 9,
        "{}",
        h.fake.call_count("create_container")
    );
    let err = h.pool.fill(&h.key).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
}

#[tokio::test(start_paused = true)]
async fn fill_gives_up_at_once_when_the_image_is_missing() {
    let h = harness_with(
        FakeRuntime::new(),
        MemoryStore::new("inst"),
        PoolConfig::new(spec()),
        settings(100),
    )
    .await;
    let started = tokio::time::Instant::now();
    let err = h.pool.fill(&h.key).await.unwrap_err();
    assert!(
        err.to_string().contains("image `busybox:1` not found"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_success_clears_the_degraded_state() {
    let fake = FakeRuntime::new();
    let config = PoolConfig::new(spec()).with_max_creating(1);
    let h = harness_with(
        fake.clone(),
        MemoryStore::new("inst"),
        config,
        settings(100),
    )
    .await;
    until(&h.pool, "degraded", |s| s.degraded).await;
    // The clone shares the pool's fake engine: the image appears for both.
    let _ = fake.clone().with_image("busybox:1");
    tokio::time::sleep(Duration::from_secs(31)).await;
    until(&h.pool, "healthy and full", |s| {
        !s.degraded && s.ready == 3 && s.last_error.is_none()
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn claims_beyond_the_memory_budget_fail_saying_what_is_used() {
    let h = harness(PoolConfig::new(spec()), 5).await;
    h.pool.fill(&h.key).await.unwrap();
    let mut leases = Vec::new();
    for _ in 0..5 {
        leases.push(h.pool.claim(&h.key, "test-holder").await.unwrap());
    }
    let err = h.pool.claim(&h.key, "test-holder").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CapacityExceeded);
    assert!(
        err.to_string()
            .contains("320 MiB of 320 MiB is in use by 5 containers (0 MiB free)"),
        "{err}"
    );
    // Refill can't go past the budget either.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(h.fake.container_ids().len(), 5);

    h.pool.release(&leases.pop().unwrap()).await.unwrap();
    until(&h.pool, "one refilled", |s| s.ready == 1).await;
    assert_eq!(h.fake.container_ids().len(), 5);
}

#[tokio::test(start_paused = true)]
async fn memory_another_process_reserved_in_the_store_counts_against_the_pool() {
    let config = PoolConfig::new(spec()).with_target_size(0).with_min_size(0);
    let h = harness(config, 5).await;
    // A run of another process holds four of the five containers' worth.
    h.store
        .reserve_memory("run:elsewhere", 4 * MEMORY, 5 * MEMORY)
        .await
        .unwrap();
    let first = h.pool.claim(&h.key, "test-holder").await.unwrap();
    let err = h.pool.claim(&h.key, "test-holder").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CapacityExceeded, "{err}");
    assert!(err.to_string().contains("reserved by 2"), "{err}");
    assert_eq!(
        h.fake.container_ids().len(),
        1,
        "nothing was created past it"
    );

    let holders = |reservations: Vec<slipway_core::MemoryReservation>| {
        reservations
            .into_iter()
            .map(|r| r.holder)
            .collect::<Vec<_>>()
    };
    let held = holders(h.store.memory_reservations().await.unwrap());
    assert_eq!(
        held,
        [
            format!("pool:{}", first.container_name),
            "run:elsewhere".to_owned()
        ]
    );
    h.pool.release(&first).await.unwrap();
    h.store.release_memory("run:elsewhere").await.unwrap();
    assert!(h.store.memory_reservations().await.unwrap().is_empty());
    let again = h.pool.claim(&h.key, "test-holder").await.unwrap();
    assert!(!again.warm);
}

#[tokio::test(start_paused = true)]
async fn two_hundred_concurrent_claims_on_a_budget_of_fifty() {
    let h = harness(PoolConfig::new(spec()), 50).await;
    h.pool.fill(&h.key).await.unwrap();
    let claims: Vec<_> = (0..200)
        .map(|_| {
            let (pool, key) = (h.pool.clone(), h.key.clone());
            tokio::spawn(async move { pool.claim(&key, "test-holder").await })
        })
        .collect();
    let mut leases = Vec::new();
    let mut refused = 0;
    for claim in claims {
        match claim.await.unwrap() {
            Ok(lease) => leases.push(lease),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::CapacityExceeded, "{e}");
                refused += 1;
            }
        }
    }
    assert_eq!((leases.len(), refused), (50, 150));
    let containers: BTreeSet<_> = leases.iter().map(|l| l.container_id.clone()).collect();
    let ports: BTreeSet<_> = leases.iter().map(|l| l.host_port(3000).unwrap()).collect();
    assert_eq!(
        (containers.len(), ports.len()),
        (50, 50),
        "nothing handed out twice"
    );
    let s = status(&h.pool).await;
    assert_eq!(s.hits + s.misses, 50);
    assert_eq!(s.hits, 3, "the three warm ones");

    for lease in &leases {
        h.pool.release(lease).await.unwrap();
    }
    until(&h.pool, "back at target", |s| {
        s.ready == 3 && s.claimed == 0
    })
    .await;
    assert_eq!(h.fake.container_ids().len(), 3);
    assert_eq!(h.store.port_leases().await.unwrap().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_ready_container_killed_behind_the_back_is_evicted_and_replaced() {
    let h = harness(PoolConfig::new(spec()), 100).await;
    h.pool.fill(&h.key).await.unwrap();
    let victim = h.fake.container_ids()[0].clone();
    h.fake.kill_behind_the_back(&victim, true);
    until(&h.pool, "replaced", |s| s.ready == 3).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    let ids = h.fake.container_ids();
    assert!(!ids.contains(&victim), "the dead container is removed");
    assert_eq!(ids.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_claim_never_returns_a_dead_container() {
    let h = harness(PoolConfig::new(spec()).with_target_size(2), 100).await;
    h.pool.fill(&h.key).await.unwrap();
    // Kill both without letting the event watcher run first.
    for id in h.fake.container_ids() {
        h.fake.kill_behind_the_back(&id, false);
    }
    let lease = h.pool.claim(&h.key, "test-holder").await.unwrap();
    assert!(h
        .fake
        .inspect_container(&lease.container_id)
        .await
        .unwrap()
        .state
        .is_running());
}

#[tokio::test(start_paused = true)]
async fn a_host_port_held_outside_slipway_is_passed_over() {
    let fake = FakeRuntime::new().with_image("busybox:1");
    fake.occupy_host_port(10000);
    let config = PoolConfig::new(spec()).with_target_size(1);
    let h = harness_with(fake, MemoryStore::new("inst"), config, settings(100)).await;
    h.pool.fill(&h.key).await.unwrap();
    let lease = h.pool.claim(&h.key, "test-holder").await.unwrap();
    assert_eq!(lease.host_port(3000), Some(10001));
    let leased: Vec<u16> = h
        .store
        .port_leases()
        .await
        .unwrap()
        .iter()
        .map(|l| l.port)
        .collect();
    assert!(
        !leased.contains(&10000),
        "the busy port's lease was given back: {leased:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_new_pool_over_the_same_store_adopts_ready_keeps_claimed_and_removes_strays() {
    let fake = FakeRuntime::new().with_image("busybox:1");
    let store = MemoryStore::new("inst");
    let first = harness_with(
        fake.clone(),
        store.clone(),
        PoolConfig::new(spec()),
        settings(100),
    )
    .await;
    first.pool.fill(&first.key).await.unwrap();
    let claimed = first.pool.claim(&first.key, "test-holder").await.unwrap();
    first.pool.fill(&first.key).await.unwrap();
    first.pool.shutdown(Duration::from_secs(5)).await.unwrap();
    drop(first);
    // A member of a pool that is no longer configured, and one that died meanwhile.
    let mut stray_spec = spec().with_env("OLD", "config");
    stray_spec.labels = slipway_core::labels::Scope::new(Role::Pool, &store.instance_id()).labels();
    stray_spec
        .labels
        .insert(labels::POOL_KEY.into(), "0000000000000000".into());
    let stray = slipway_core::run_container(&fake, &stray_spec)
        .await
        .unwrap();
    let ready_before: Vec<_> = fake
        .list_containers(&LabelFilter::managed().with(labels::ROLE, "pool"))
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .filter(|id| *id != claimed.container_id && *id != stray)
        .collect();
    fake.kill_behind_the_back(&ready_before[0], false);

    let settings = PoolSettings {
        refill: false,
        ..settings(100)
    };
    let second = harness_with(
        fake.clone(),
        store.clone(),
        PoolConfig::new(spec()),
        settings,
    )
    .await;
    let s = status(&second.pool).await;
    assert_eq!(
        (s.ready, s.claimed),
        (2, 1),
        "two live ready adopted, the claim kept"
    );
    assert_eq!(
        second.pool.reconciled(),
        Reconciled {
            adopted: 2,
            removed: 2,
            left: 0,
            forgotten_claims: 0,
            released_ports: 1,
            released_reservations: 1,
        },
        "the stray and the dead member removed, the dead one's port given back"
    );
    let ids = fake.container_ids();
    assert!(
        ids.contains(&claimed.container_id),
        "a claimed container is left alone"
    );
    assert!(
        !ids.contains(&stray) && !ids.contains(&ready_before[0]),
        "strays are removed"
    );
    let again = second.pool.claim(&second.key, "test-holder").await.unwrap();
    assert!(again.warm && again.container_id != claimed.container_id);
    second.pool.release(&claimed).await.unwrap();
    assert!(!fake.container_ids().contains(&claimed.container_id));
}

#[tokio::test(start_paused = true)]
async fn a_claim_whose_container_is_gone_is_forgotten_and_its_port_given_back() {
    let first = harness(PoolConfig::new(spec()), 100).await;
    first.pool.fill(&first.key).await.unwrap();
    let claimed = first.pool.claim(&first.key, "test-holder").await.unwrap();
    let port = claimed.host_port(3000).unwrap();
    first.pool.shutdown(Duration::from_secs(5)).await.unwrap();
    first.fake.remove_behind_the_back(&claimed.container_id);

    let second = harness_with(
        first.fake.clone(),
        first.store.clone(),
        PoolConfig::new(spec()),
        PoolSettings {
            refill: false,
            ..settings(100)
        },
    )
    .await;
    let reconciled = second.pool.reconciled();
    assert_eq!(
        (reconciled.forgotten_claims, reconciled.released_ports),
        (1, 1)
    );
    assert!(second.store.claims().await.unwrap().is_empty());
    assert!(
        !second
            .store
            .port_leases()
            .await
            .unwrap()
            .iter()
            .any(|lease| lease.port == port),
        "the gone claim's port is free again"
    );
}

/// A running, unclaimed member of a pool that this process does not configure, created by
/// `creator` (a `dev.slipway.creator` label value, or none).
async fn foreign_member(
    fake: &FakeRuntime,
    store: &MemoryStore,
    creator: Option<String>,
) -> ContainerId {
    let mut spec = spec().with_env("OTHER", "process");
    spec.labels = slipway_core::labels::Scope::new(Role::Pool, &store.instance_id())
        .with(labels::POOL_KEY, "1111111111111111")
        .labels();
    if let Some(creator) = creator {
        spec.labels.insert(labels::CREATOR.into(), creator);
    }
    slipway_core::run_container(fake, &spec).await.unwrap()
}

#[tokio::test]
async fn an_unconfigured_pool_s_container_is_reaped_only_when_its_creator_is_gone_or_it_is_old() {
    let fake = FakeRuntime::new().with_image("busybox:1");
    let store = MemoryStore::new("inst");
    let me = slipway_pool::Creator::current().unwrap().to_string();
    let live = foreign_member(&fake, &store, Some(me.clone())).await;
    // A pid that can't exist, on this boot: the process is gone.
    let boot = me.split_once('@').unwrap().1;
    let gone = foreign_member(&fake, &store, Some(format!("4194305.1@{boot}"))).await;
    let unknown = foreign_member(&fake, &store, None).await;
    let pool = harness_with(
        fake.clone(),
        store.clone(),
        PoolConfig::new(spec()),
        PoolSettings {
            refill: false,
            ..settings(100)
        },
    )
    .await;
    let ids = fake.container_ids();
    assert!(
        ids.contains(&live),
        "a live process's container is left alone"
    );
    assert!(!ids.contains(&gone), "a gone process's container is reaped");
    assert!(
        !ids.contains(&unknown),
        "a container without a creator is reaped"
    );
    let reconciled = pool.pool.reconciled();
    assert_eq!(
        (reconciled.adopted, reconciled.removed, reconciled.left),
        (0, 2, 1)
    );
    pool.pool.shutdown(Duration::from_secs(5)).await.unwrap();

    // Past the grace period, even a live creator's container goes.
    let _old = harness_with(
        fake.clone(),
        store,
        PoolConfig::new(spec()),
        PoolSettings {
            refill: false,
            stray_grace: Duration::ZERO,
            ..settings(100)
        },
    )
    .await;
    assert!(!fake.container_ids().contains(&live));
}

#[tokio::test(start_paused = true)]
async fn two_pools_sharing_a_store_never_hand_out_the_same_container() {
    let fake = FakeRuntime::new().with_image("busybox:1");
    let store = MemoryStore::new("inst");
    let a = harness_with(
        fake.clone(),
        store.clone(),
        PoolConfig::new(spec()),
        settings(100),
    )
    .await;
    a.pool.fill(&a.key).await.unwrap();
    // The second "process" adopts the same ready containers.
    let settings = PoolSettings {
        refill: false,
        ..settings(100)
    };
    let b = harness_with(
        fake.clone(),
        store.clone(),
        PoolConfig::new(spec()),
        settings,
    )
    .await;
    assert_eq!(status(&b.pool).await.ready, 3);
    let mut handed = Vec::new();
    for _ in 0..3 {
        let (x, y) = tokio::join!(
            a.pool.claim(&a.key, "test-holder"),
            b.pool.claim(&b.key, "test-holder")
        );
        handed.push(x.unwrap().container_id);
        handed.push(y.unwrap().container_id);
    }
    let distinct: BTreeSet<_> = handed.iter().collect();
    assert_eq!(distinct.len(), handed.len(), "{handed:?}");
}

#[tokio::test(start_paused = true)]
async fn drain_removes_ready_containers_and_fill_brings_them_back() {
    let h = harness(PoolConfig::new(spec()), 100).await;
    h.pool.fill(&h.key).await.unwrap();
    let lease = h.pool.claim(&h.key, "test-holder").await.unwrap();
    h.pool.fill(&h.key).await.unwrap();
    assert_eq!(h.pool.drain().await.unwrap(), 3);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        h.fake.container_ids(),
        vec![lease.container_id.clone()],
        "drained, not refilled, claim kept"
    );
    assert_eq!(h.store.port_leases().await.unwrap().len(), 1);
    h.pool.fill(&h.key).await.unwrap();
    assert_eq!(status(&h.pool).await.ready, 3);
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_the_background_tasks_in_time() {
    let h = harness(PoolConfig::new(spec()), 100).await;
    h.pool.fill(&h.key).await.unwrap();
    h.pool.shutdown(Duration::from_secs(1)).await.unwrap();
    let lease = h.pool.claim(&h.key, "test-holder").await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(status(&h.pool).await.ready, 2, "no refill after shutdown");
    h.pool.release(&lease).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn unknown_keys_and_bad_configs_are_refused() {
    let h = harness(PoolConfig::new(spec()), 100).await;
    let err = h
        .pool
        .claim(&PoolKey::from_hash("ffffffffffffffff"), "test-holder")
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "pool `ffffffffffffffff` not found");

    let store = Arc::new(MemoryStore::new("inst"));
    let runtime = Arc::new(FakeRuntime::new());
    let bad = PoolConfig::new(spec()).with_min_size(5);
    let err = WarmPool::builder(runtime.clone(), store.clone())
        .with_pool(bad)
        .start()
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    let twice = WarmPool::builder(runtime, store)
        .with_pool(PoolConfig::new(spec()))
        .with_pool(PoolConfig::new(spec()))
        .start()
        .await
        .err()
        .unwrap();
    assert!(twice.to_string().contains("same spec"), "{twice}");
}

#[tokio::test(start_paused = true)]
async fn a_claim_takes_over_a_creation_under_way_and_refill_replaces_it_meanwhile() {
    let fake = FakeRuntime::new().with_image("busybox:1");
    fake.hold("create_container");
    let config = PoolConfig::new(spec())
        .with_target_size(1)
        .with_max_creating(2);
    let h = harness_with(
        fake.clone(),
        MemoryStore::new("inst"),
        config,
        settings(100),
    )
    .await;
    until_held(&h.fake, "create_container", 1).await;
    let claim = tokio::spawn({
        let (pool, key) = (h.pool.clone(), h.key.clone());
        async move { pool.claim(&key, "test-holder").await }
    });
    // The claim waits for the creation already under way (promised to it), and refill starts
    // one more so the pool still reaches its target: two creations, no cold third.
    until_held(&h.fake, "create_container", 2).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(h.fake.held("create_container"), 2);
    h.fake.release_held("create_container", 1);
    let lease = claim.await.unwrap().unwrap();
    assert!(!lease.warm, "made for it, not taken from ready");
    h.fake.unhold("create_container");
    until(&h.pool, "refilled", |s| s.ready == 1).await;
    assert_eq!(h.fake.call_count("create_container"), 2);
    let s = status(&h.pool).await;
    assert_eq!((s.hits, s.misses, s.claimed), (0, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn claim_latency_is_reported_in_milliseconds() {
    let fake = FakeRuntime::new().with_image("busybox:1");
    let config = PoolConfig::new(spec()).with_target_size(0).with_min_size(0);
    let h = harness_with(
        fake.clone(),
        MemoryStore::new("inst"),
        config,
        settings(100),
    )
    .await;
    fake.hold("create_container");
    let claim = tokio::spawn({
        let (pool, key) = (h.pool.clone(), h.key.clone());
        async move { pool.claim(&key, "test-holder").await }
    });
    while fake.held("create_container") < 1 {
        tokio::task::yield_now().await;
    }
    // A cold claim that takes exactly 250 ms of (paused) time.
    tokio::time::advance(Duration::from_millis(250)).await;
    fake.unhold("create_container");
    claim.await.unwrap().unwrap();
    let s = status(&h.pool).await;
    assert_eq!(s.claim_p50_ms, Some(250.0), "{s:?}");
    assert_eq!(s.claim_p99_ms, Some(250.0));
}
