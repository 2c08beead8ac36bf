//! `SqliteStore` on real files: records, port leases under contention from threads and from
//! a second process, the audit chain against tampering.

mod audit;
mod ports;
mod records;

use slipway_store::SqliteStore;
use tempfile::TempDir;

/// A fresh store in its own directory (kept alive by the returned guard).
fn fresh_store() -> (SqliteStore, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_in_dir(dir.path()).unwrap();
    (store, dir)
}
