use slipway_core::prelude::*;
use slipway_core::{AuditEvent, AuditFilter, RunId};
use slipway_store::SqliteStore;

use crate::fresh_store;

async fn filled(n: usize) -> (SqliteStore, tempfile::TempDir) {
    let (store, dir) = fresh_store();
    for i in 0..n {
        let run = RunId::new(if i % 2 == 0 { "r-even" } else { "r-odd" });
        let event = AuditEvent::new(if i == 0 {
            "run_created"
        } else {
            "buildkit_sidecar_started"
        })
        .with_run(&run)
        .with_resource("container_id", format!("c{i}"));
        store.append_audit(&event).await.unwrap();
    }
    (store, dir)
}

/// The chain's hash function, restated independently of the store's code.
fn rehash(prev: &str, seq: u64, at: i64, event_json: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(format!("{prev}\n{seq}\n{at}\n{event_json}").as_bytes());
    hex::encode(hasher.finalize())
}

fn tamper(store: &SqliteStore, sql: &str) {
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    let changed = conn.execute(sql, []).unwrap();
    assert!(
        changed > 0,
        "the tampering statement changed nothing: {sql}"
    );
}

#[tokio::test]
async fn entries_chain_and_verify() {
    let (store, _dir) = filled(6).await;
    let entries = store.audit_entries(&AuditFilter::default()).await.unwrap();
    assert_eq!(
        entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    assert!(entries[0].prev_hash.chars().all(|c| c == '0'));
    for pair in entries.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    let verification = store.verify_audit().await.unwrap();
    assert!(verification.is_intact());
    assert_eq!(verification.entries, 6);
}

#[tokio::test]
async fn filters_select_by_run_kind_and_limit() {
    let (store, _dir) = filled(6).await;
    let odd = AuditFilter {
        run_id: Some(RunId::new("r-odd")),
        ..AuditFilter::default()
    };
    assert_eq!(
        store
            .audit_entries(&odd)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>(),
        [2, 4, 6]
    );
    let created = AuditFilter {
        kind: Some("run_created".into()),
        ..AuditFilter::default()
    };
    assert_eq!(store.audit_entries(&created).await.unwrap().len(), 1);
    let newest = AuditFilter {
        limit: Some(2),
        ..AuditFilter::default()
    };
    assert_eq!(
        store
            .audit_entries(&newest)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>(),
        [5, 6]
    );
}

#[tokio::test]
async fn an_edited_event_is_detected_at_its_entry() {
    let (store, _dir) = filled(5).await;
    tamper(
        &store,
        "UPDATE audit_log SET event = replace(event, 'c2', 'cX') WHERE seq = 3",
    );
    let problem = store.verify_audit().await.unwrap().problem.unwrap();
    assert_eq!(problem.seq, 3);
    assert!(problem.reason.contains("modified"), "{problem:?}");
}

#[tokio::test]
async fn a_rehashed_entry_breaks_the_link_to_the_next() {
    let (store, _dir) = filled(5).await;
    // Give entry 2 a new event and a matching hash: entry 3 still points at the old hash.
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    let (at, prev): (i64, String) = conn
        .query_row(
            "SELECT at, prev_hash FROM audit_log WHERE seq = 2",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let forged_event = r#"{"kind":"buildkit_sidecar_started","run_id":"r-odd","resources":{"container_id":"forged"},"detail":null}"#;
    let forged_hash = rehash(&prev, 2, at, forged_event);
    conn.execute(
        "UPDATE audit_log SET event = ?1, hash = ?2 WHERE seq = 2",
        [forged_event, &forged_hash],
    )
    .unwrap();
    let problem = store.verify_audit().await.unwrap().problem.unwrap();
    assert_eq!(problem.seq, 3, "{problem:?}");
    assert!(problem.reason.contains("chain"), "{problem:?}");
}

#[tokio::test]
async fn a_changed_index_column_is_detected() {
    let (store, _dir) = filled(3).await;
    tamper(
        &store,
        "UPDATE audit_log SET run_id = 'someone-else' WHERE seq = 2",
    );
    let problem = store.verify_audit().await.unwrap().problem.unwrap();
    assert_eq!(problem.seq, 2);
}

#[tokio::test]
async fn a_deleted_entry_in_the_middle_is_detected() {
    let (store, _dir) = filled(5).await;
    tamper(&store, "DELETE FROM audit_log WHERE seq = 3");
    let problem = store.verify_audit().await.unwrap().problem.unwrap();
    assert_eq!(problem.seq, 3);
    assert!(problem.reason.contains("missing"), "{problem:?}");
}

#[tokio::test]
async fn deleting_the_newest_entries_is_detected() {
    let (store, _dir) = filled(5).await;
    tamper(&store, "DELETE FROM audit_log WHERE seq >= 4");
    let problem = store.verify_audit().await.unwrap().problem.unwrap();
    assert_eq!(problem.seq, 4);
    assert!(problem.reason.contains("truncated"), "{problem:?}");
}

#[tokio::test]
async fn the_log_goes_on_after_verification() {
    let (store, _dir) = filled(2).await;
    assert!(store.verify_audit().await.unwrap().is_intact());
    let entry = store
        .append_audit(&AuditEvent::new("orphan_removed"))
        .await
        .unwrap();
    assert_eq!(entry.seq, 3);
    assert!(store.verify_audit().await.unwrap().is_intact());
}

#[tokio::test]
async fn pruning_keeps_the_rest_verifiable_and_a_later_gap_still_shows() {
    let (store, _dir) = filled(6).await;
    tamper(
        &store,
        "UPDATE audit_log SET at = at - 86400000 WHERE seq <= 4",
    );
    // The old entries' stored times moved, so their hashes no longer match: recompute them
    // as a log written a day ago would have them.
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    let mut prev = "0".repeat(64);
    for seq in 1..=6u64 {
        let (at, event): (i64, String) = conn
            .query_row(
                "SELECT at, event FROM audit_log WHERE seq = ?1",
                [seq],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let hash = rehash(&prev, seq, at, &event);
        conn.execute(
            "UPDATE audit_log SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            rusqlite::params![prev, hash, seq],
        )
        .unwrap();
        conn.execute(
            "UPDATE audit_head SET hash = ?1 WHERE seq = ?2",
            rusqlite::params![hash, seq],
        )
        .unwrap();
        prev = hash;
    }
    assert!(store.verify_audit().await.unwrap().is_intact());

    let an_hour_ago = slipway_core::Timestamp::from_unix_millis(
        slipway_core::Timestamp::now().unix_millis() - 3_600_000,
    );
    assert_eq!(store.prune_audit(an_hour_ago).await.unwrap(), 4);
    let left: Vec<u64> = store
        .audit_entries(&AuditFilter::default())
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(left, [5, 6, 7], "the pruning itself is entry 7");
    let verification = store.verify_audit().await.unwrap();
    assert!(verification.is_intact(), "{verification:?}");
    assert_eq!(verification.entries, 3);

    // Removing an entry by hand is still caught.
    tamper(&store, "DELETE FROM audit_log WHERE seq = 5");
    let problem = store.verify_audit().await.unwrap().problem.unwrap();
    assert_eq!(problem.seq, 5, "{problem:?}");
}
