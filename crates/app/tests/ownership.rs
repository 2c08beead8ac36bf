//! One owner per state directory, on a real engine: a second owner is refused while the
//! first holds the state, a reader changes nothing, and the next owner adopts what the first
//! one left instead of destroying it.

use std::collections::BTreeSet;
use std::time::Duration;

use slipway_app::{Access, Config, Holder, LockWait, Overrides, Ownership, Services};
use slipway_core::labels::Scope;
use slipway_core::prelude::*;
use slipway_core::{ErrorKind, Role};
use slipway_testkit::engine::{BUSYBOX_IMAGE, TEST_LABEL};
use slipway_testkit::{free_port_range, require_engine};

fn config(state: &std::path::Path, scope: &str) -> Config {
    let file = state.join("slipway.toml");
    let range = free_port_range(20);
    std::fs::write(
        &file,
        format!(
            "[pool]\nport_range = \"{range}\"\nmemory_budget_mb = 1024\n\n\
             [[pools]]\nimage = \"{BUSYBOX_IMAGE}\"\nmemory_mb = 16\ntarget = 2\n\
             labels = {{ \"{TEST_LABEL}\" = \"{scope}\" }}\n"
        ),
    )
    .unwrap();
    let overrides = Overrides {
        config: Some(file),
        state_dir: Some(state.join("state")),
        ..Overrides::default()
    };
    Config::load(&overrides, &|key| std::env::var(key).ok()).unwrap()
}

fn owner(command: &str, wait: LockWait) -> Access {
    Access::Own(Ownership {
        holder: Holder::current(command, false),
        wait,
        refill: true,
    })
}

#[tokio::test]
async fn one_owner_at_a_time_readers_change_nothing_and_the_next_owner_adopts() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), engine.scope());

    let first = Services::open(&config, owner("first owner", LockWait::Never))
        .await
        .unwrap();
    assert!(first.owns());
    let key = config.pools.pools[0].key();
    first.pool().unwrap().fill(&key).await.unwrap();
    let created: BTreeSet<_> = engine
        .runtime()
        .list_containers(&engine.filter())
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(created.len(), 2);

    // A second owner is refused, naming the first.
    let refused = Services::open(&config, owner("second owner", LockWait::Never))
        .await
        .err()
        .expect("the state is owned");
    assert_eq!(refused.kind(), ErrorKind::Conflict);
    assert!(refused.to_string().contains("first owner"), "{refused}");

    // A reader sees the pool, may not claim, and leaves everything as it was.
    let reader = Services::open(&config, Access::Read).await.unwrap();
    assert!(!reader.owns());
    let report = reader.pool_report().await.unwrap();
    assert_eq!(report.pools[0].ready, 2, "{report:?}");
    assert_eq!(report.memory_used_bytes, 32 << 20);
    let claim = reader
        .pool()
        .unwrap()
        .claim(&key, "reader")
        .await
        .unwrap_err();
    assert_eq!(claim.kind(), ErrorKind::Conflict);
    assert!(claim.to_string().contains("first owner"), "{claim}");
    reader.shutdown(Duration::from_secs(5)).await.unwrap();

    // The first owner goes; the next one adopts its containers, leases unchanged.
    let leases_before = first.store().port_leases().await.unwrap();
    first.shutdown(Duration::from_secs(10)).await.unwrap();
    let next = Services::open(&config, owner("next owner", LockWait::Never))
        .await
        .unwrap();
    let report = next.pool_report().await.unwrap();
    assert_eq!(report.pools[0].ready, 2, "{report:?}");
    let after: BTreeSet<_> = engine
        .runtime()
        .list_containers(&engine.filter())
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(after, created, "adopted, not replaced");
    let leases_after = next.store().port_leases().await.unwrap();
    assert_eq!(leases_after, leases_before);
    let ports: BTreeSet<u16> = leases_after.iter().map(|l| l.port).collect();
    assert_eq!(ports.len(), leases_after.len(), "no port leased twice");

    next.pool().unwrap().drain().await.unwrap();
    next.shutdown(Duration::from_secs(10)).await.unwrap();
    assert_eq!(engine.cleanup().await, 0, "drain removed everything");
}

#[tokio::test]
async fn nothing_of_another_instance_is_touched() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), engine.scope());
    let key = config.pools.pools[0].key();
    let other = slipway_core::InstanceId::new(format!("other-{}", engine.scope()));
    let scoped = |scope: slipway_core::labels::Scope| {
        let mut labels = scope.labels();
        labels.extend(engine.scope_labels());
        labels
    };
    let runtime = engine.runtime();
    // Another state's pooled container of the very pool this one configures, its run (main
    // container, sidecar, network) and its volumes.
    let run = slipway_core::labels::RUN_ID;
    let objects = [
        scoped(Scope::new(Role::Pool, &other).with(slipway_core::labels::POOL_KEY, key.as_str())),
        scoped(Scope::new(Role::Run, &other).with(run, "theirs")),
        scoped(Scope::new(Role::Buildkit, &other).with(run, "theirs")),
    ];
    let mut containers = Vec::new();
    for labels in objects {
        let spec = engine.sleeper("foreign").with_labels(labels);
        containers.push(slipway_core::run_container(runtime, &spec).await.unwrap());
    }
    let network = runtime
        .create_network(&slipway_core::NetworkSpec {
            name: engine.unique_name("foreign-net"),
            labels: scoped(Scope::new(Role::Run, &other).with(run, "theirs")),
            internal: false,
            isolated: false,
        })
        .await
        .unwrap();
    let volume = engine.unique_name("foreign-vol");
    runtime
        .ensure_volume(&slipway_core::VolumeSpec {
            name: volume.clone(),
            labels: scoped(
                Scope::new(Role::Buildkit, &other)
                    .with(slipway_buildkit::CACHE_KEY_LABEL, "theirs"),
            ),
        })
        .await
        .unwrap();

    // This state's owner starts (adoption, recovery), fills and drains its pool, and cleans
    // everything it may.
    let owner = Services::open(&config, self::owner("owner", LockWait::Never))
        .await
        .unwrap();
    owner.pool().unwrap().fill(&key).await.unwrap();
    owner.pool().unwrap().drain().await.unwrap();
    owner
        .runs()
        .unwrap()
        .clean(&slipway_buildkit::CleanOptions {
            dry_run: false,
            volumes_unused_for: Some(Duration::ZERO),
            ..slipway_buildkit::CleanOptions::default()
        })
        .await
        .unwrap();
    owner.environments().unwrap().recover().await.unwrap();
    owner.shutdown(Duration::from_secs(10)).await.unwrap();

    for id in &containers {
        let info = runtime.inspect_container(id).await.unwrap();
        assert!(info.state.is_running(), "{id} was stopped");
    }
    runtime.inspect_network(&network).await.unwrap();
    let volumes = runtime.list_volumes(&engine.filter()).await.unwrap();
    assert!(
        volumes.iter().any(|v| v.name == volume.as_str()),
        "{volumes:?}"
    );
}
