//! [`SqliteStore`]: one SQLite file in WAL mode, shared safely by threads and processes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;
use slipway_core::{InstanceId, Result, Store};

use crate::error::StoreError;
use crate::migrations::{self, SCHEMA_VERSION};

/// The database's file name inside a state directory.
pub const DATABASE_FILE: &str = "slipway.db";

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// slipway's [`Store`](slipway_core::Store) on SQLite.
///
/// One connection per `SqliteStore`, used from a blocking thread so async callers never stall
/// the runtime. Writes that read first (port leases, audit appends) run in `BEGIN IMMEDIATE`
/// transactions, so two processes on the same file serialise instead of racing.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    instance: InstanceId,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) `<state_dir>/slipway.db` and migrates it. A state
    /// directory this creates is readable by its owner only (0700), as is the database (0600).
    pub fn open_in_dir(state_dir: &Path) -> Result<Self> {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(state_dir)
            .map_err(|e| {
                slipway_core::Error::invalid(
                    "state directory",
                    format!("cannot create {}: {e}", state_dir.display()),
                )
            })?;
        Self::open(&state_dir.join(DATABASE_FILE))
    }

    /// Opens (creating if needed) the database at `path` and migrates it to the current schema.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_at_version(path, SCHEMA_VERSION).map_err(StoreError::into_core)
    }

    pub(crate) fn open_at_version(path: &Path, version: u32) -> Result<Self, StoreError> {
        let open_error = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_error)?;
        restrict_to_owner(path).map_err(|source| StoreError::Permissions {
            path: path.to_owned(),
            source,
        })?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;",
        )
        .map_err(open_error)?;
        migrations::migrate_to(&mut conn, version)?;
        let instance = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'instance_id'",
                [],
                |row| row.get::<_, String>(0),
            )
            .map_err(|source| StoreError::ReadInstance { source })?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            instance: InstanceId::new(instance),
            path: path.to_owned(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` with the connection on a blocking thread.
    pub(crate) async fn with_conn<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let joined = tokio::task::spawn_blocking(move || {
            // A panic in another call must not take the store down with it.
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&mut guard)
        })
        .await;
        match joined {
            Ok(result) => result.map_err(StoreError::into_core),
            Err(source) => Err(StoreError::Worker { source }.into_core()),
        }
    }
}

impl Store for SqliteStore {
    fn instance_id(&self) -> InstanceId {
        self.instance.clone()
    }
}

/// Makes the database file readable and writable by its owner only (SQLite gives its WAL
/// and shared-memory files the database's mode).
fn restrict_to_owner(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Serialises a record for its `record` column.
pub(crate) fn encode<T: serde::Serialize>(what: &str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|source| StoreError::Encode {
        what: what.to_owned(),
        source,
    })
}

/// Reads a record back from its `record` column.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    what: &str,
    json: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|source| StoreError::Decode {
        what: what.to_owned(),
        source,
    })
}

/// An enum's serialized name (`running`, `succeeded`, …) for an indexed column.
pub(crate) fn snake_case<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The first column of every row of `sql`.
pub(crate) fn read_all(conn: &Connection, sql: &str) -> rusqlite::Result<Vec<String>> {
    let mut statement = conn.prepare_cached(sql)?;
    let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use slipway_core::prelude::*;
    use slipway_core::{AuditEvent, PortLeaseRequest, PortRange};

    use super::*;

    #[tokio::test]
    async fn a_version_one_database_with_data_migrates_and_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DATABASE_FILE);
        let old = SqliteStore::open_at_version(&path, 1).unwrap();
        let instance = old.instance_id();
        // Version 1 had no audit head; the log and leases are written as version 1 wrote them.
        let lease = PortLeaseRequest {
            range: PortRange::DEFAULT,
            holder: "env-1".into(),
            skip: vec![],
        };
        old.lease_port(&lease).await.unwrap();
        // An environment as version 1 wrote it: a container id that could not be missing.
        old.with_conn(|conn| {
            let record = r#"{"id":"e1","name":"me-app","container_id":"c1","image":"node:1","pool_key":null,"repo":"me/app","branch":"main","host_port":10000,"memory_bytes":536870912,"status":"ready","error":null,"created_at":1,"updated_at":2}"#;
            conn.execute(
                "INSERT INTO environments (id, container_id, status, created_at, updated_at, record)
                 VALUES ('e1', 'c1', 'ready', 1, 2, ?1)",
                [record],
            )
            .map(drop)
            .map_err(|source| StoreError::WriteEnvironment { id: "e1".into(), source })
        })
        .await
        .unwrap();
        old.with_conn(|conn| {
            let event = r#"{"kind":"run_created","run_id":null,"resources":{},"detail":null}"#;
            let at = slipway_core::Timestamp::from_unix_millis(1_700_000_000_000);
            let hash = crate::audit::entry_hash(crate::audit::GENESIS, 1, at, event);
            conn.execute(
                "INSERT INTO audit_log (seq, at, kind, run_id, event, prev_hash, hash)
                 VALUES (1, ?1, 'run_created', NULL, ?2, ?3, ?4)",
                rusqlite::params![at.unix_millis(), event, crate::audit::GENESIS, hash],
            )
            .map(drop)
            .map_err(|source| StoreError::AppendAudit { source })
        })
        .await
        .unwrap();
        drop(old);

        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.instance_id(), instance);
        assert_eq!(store.port_leases().await.unwrap().len(), 1);
        let environment = store.environment("e1").await.unwrap().unwrap();
        assert_eq!(environment.container_id.unwrap().as_str(), "c1");
        // Migration 2 seeded the head from the existing log, so the chain verifies and goes on.
        assert!(store.verify_audit().await.unwrap().is_intact());
        assert_eq!(
            store
                .append_audit(&AuditEvent::new("run_stopped"))
                .await
                .unwrap()
                .seq,
            2
        );
        assert!(store.verify_audit().await.unwrap().is_intact());
        let version: u32 = store
            .with_conn(|conn| {
                conn.query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
                    .map_err(|source| StoreError::ReadInstance { source })
            })
            .await
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }

    #[tokio::test]
    async fn a_new_state_directory_and_its_database_are_the_owner_s_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("nested/state");
        let store = SqliteStore::open_in_dir(&state).unwrap();
        store.append_audit(&AuditEvent::new("x")).await.unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state), 0o700);
        assert_eq!(mode(&state.join(DATABASE_FILE)), 0o600);
        assert_eq!(mode(&state.join(format!("{DATABASE_FILE}-wal"))) & 0o077, 0);
    }

    #[tokio::test]
    async fn a_database_from_a_newer_slipway_is_refused_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DATABASE_FILE);
        let store = SqliteStore::open(&path).unwrap();
        store
            .with_conn(|conn| {
                conn.execute("INSERT INTO schema_version (version) VALUES (99)", [])
                    .map(drop)
                    .map_err(|source| StoreError::Migrate {
                        version: 99,
                        source,
                    })
            })
            .await
            .unwrap();
        drop(store);
        let err = SqliteStore::open(&path).unwrap_err();
        assert_eq!(err.kind(), slipway_core::ErrorKind::Invalid);
        assert!(err.to_string().contains("upgrade slipway"), "{err}");
    }
}
