use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;

use slipway_core::prelude::*;
use slipway_core::{ErrorKind, PortLeaseRequest, PortRange};
use slipway_store::SqliteStore;

use crate::fresh_store;

fn request(first: u16, last: u16, holder: &str) -> PortLeaseRequest {
    PortLeaseRequest {
        range: PortRange::new(first, last).unwrap(),
        holder: holder.into(),
        skip: vec![],
    }
}

#[tokio::test]
async fn leases_take_the_lowest_free_port_and_reuse_released_ones() {
    let (store, _dir) = fresh_store();
    let a = store.lease_port(&request(10000, 10010, "a")).await.unwrap();
    let b = store.lease_port(&request(10000, 10010, "b")).await.unwrap();
    assert_eq!((a.port, b.port), (10000, 10001));
    assert!(store.release_port(10000, "a").await.unwrap());
    assert!(!store.release_port(10000, "a").await.unwrap());
    let c = store.lease_port(&request(10000, 10010, "c")).await.unwrap();
    assert_eq!(c.port, 10000, "a released port is reused");
    let leases: Vec<_> = store
        .port_leases()
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.port, l.holder))
        .collect();
    assert_eq!(leases, [(10000, "c".to_owned()), (10001, "b".to_owned())]);
}

#[tokio::test]
async fn a_lease_released_by_the_wrong_holder_stays_leased() {
    let (store, dir) = fresh_store();
    let stale = SqliteStore::open_in_dir(dir.path()).unwrap();
    let first = store
        .lease_port(&request(10000, 10000, "env-a"))
        .await
        .unwrap();
    assert!(store.release_port(first.port, "env-a").await.unwrap());
    let again = store
        .lease_port(&request(10000, 10000, "env-b"))
        .await
        .unwrap();
    assert_eq!(again.port, first.port);
    // env-a's process still thinks it holds the port and gives it back late.
    assert!(!stale.release_port(first.port, "env-a").await.unwrap());
    let leases = store.port_leases().await.unwrap();
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0].holder, "env-b");
    let err = store
        .lease_port(&request(10000, 10000, "env-c"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CapacityExceeded, "{err}");
}

#[tokio::test]
async fn ports_known_to_be_busy_are_skipped() {
    let (store, _dir) = fresh_store();
    let mut busy = request(10000, 10010, "a");
    busy.skip = vec![10000, 10001];
    assert_eq!(store.lease_port(&busy).await.unwrap().port, 10002);
}

#[tokio::test]
async fn a_full_range_is_capacity_exceeded_naming_it() {
    let (store, _dir) = fresh_store();
    store.lease_port(&request(10000, 10001, "a")).await.unwrap();
    store.lease_port(&request(10000, 10001, "b")).await.unwrap();
    let err = store
        .lease_port(&request(10000, 10001, "c"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CapacityExceeded);
    assert!(err.to_string().contains("10000-10001"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_leases_from_threads_and_connections_never_double_assign() {
    let (store, dir) = fresh_store();
    // A second connection to the same file competes with the first.
    let other = SqliteStore::open_in_dir(dir.path()).unwrap();
    let stores = [Arc::new(store), Arc::new(other)];
    let mut tasks = Vec::new();
    for worker in 0..16 {
        let store = Arc::clone(&stores[worker % 2]);
        tasks.push(tokio::spawn(async move {
            let mut ports = Vec::new();
            for _ in 0..25 {
                ports.push(
                    store
                        .lease_port(&request(20000, 29999, &format!("w{worker}")))
                        .await
                        .unwrap()
                        .port,
                );
            }
            ports
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let distinct: BTreeSet<_> = all.iter().copied().collect();
    assert_eq!(distinct.len(), 400, "a port was handed out twice");
    assert_eq!(distinct.first(), Some(&20000));
    assert_eq!(
        distinct.last(),
        Some(&20399),
        "lowest free first leaves no gaps"
    );
}

const CHILD_DB: &str = "SLIPWAY_STORE_TEST_CHILD_DB";
const CHILD_NAME: &str = "SLIPWAY_STORE_TEST_CHILD_NAME";

/// In a child process: lease 150 ports and append 50 audit entries, then exit.
fn child_work(db: &str, name: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(std::path::Path::new(db)).unwrap();
        for i in 0..150 {
            store
                .lease_port(&request(30000, 39999, name))
                .await
                .unwrap();
            if i % 3 == 0 {
                let event =
                    slipway_core::AuditEvent::new("port_leased").with_detail(format!("{name} {i}"));
                store.append_audit(&event).await.unwrap();
            }
        }
    });
}

#[test]
fn two_processes_on_one_file_never_share_a_port_and_keep_the_audit_chain_intact() {
    if let (Ok(db), Ok(name)) = (std::env::var(CHILD_DB), std::env::var(CHILD_NAME)) {
        child_work(&db, &name);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("slipway.db");
    // Both children open a file that does not exist yet: migrations race too.
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = ["left", "right"]
        .into_iter()
        .map(|name| {
            Command::new(&exe)
                .args(["--exact", "ports::two_processes_on_one_file_never_share_a_port_and_keep_the_audit_chain_intact", "--nocapture"])
                .env(CHILD_DB, &db)
                .env(CHILD_NAME, name)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success(), "a child process failed");
    }

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(&db).unwrap();
        let leases = store.port_leases().await.unwrap();
        assert_eq!(leases.len(), 300);
        let distinct: BTreeSet<_> = leases.iter().map(|l| l.port).collect();
        assert_eq!(distinct.len(), 300, "two processes got the same port");
        for name in ["left", "right"] {
            assert_eq!(leases.iter().filter(|l| l.holder == name).count(), 150);
        }
        let verification = store.verify_audit().await.unwrap();
        assert_eq!(verification.entries, 100);
        assert!(verification.is_intact(), "{verification:?}");
    });
}
