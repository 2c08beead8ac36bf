//! Schema migrations, recorded in `schema_version`. Each runs once, in its own
//! `BEGIN IMMEDIATE` transaction, so two processes opening a fresh file can't both apply it.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::error::StoreError;

/// The migrations, in order; a migration's version is its position plus one.
const MIGRATIONS: &[&str] = &[
    // 1: records, port leases and the audit log.
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO meta (key, value) VALUES ('instance_id', lower(hex(randomblob(8))));

    CREATE TABLE environments (
        id TEXT PRIMARY KEY,
        container_id TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        record TEXT NOT NULL
    );

    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        owner TEXT NOT NULL,
        heartbeat_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        record TEXT NOT NULL
    );

    CREATE TABLE port_leases (
        port INTEGER PRIMARY KEY CHECK (port BETWEEN 1 AND 65535),
        holder TEXT NOT NULL,
        leased_at INTEGER NOT NULL
    );

    CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        run_id TEXT,
        event TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE
    );
    CREATE INDEX audit_log_run ON audit_log (run_id);
    "#,
    // 2: build history, and the audit log's head kept apart from the log so that deleting
    // the newest entries is detected too.
    r#"
    CREATE TABLE builds (
        id TEXT PRIMARY KEY,
        service TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        status TEXT NOT NULL,
        record TEXT NOT NULL
    );
    CREATE INDEX builds_started ON builds (started_at);

    CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
    );
    INSERT INTO audit_head (id, seq, hash)
        SELECT 1, seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1;
    "#,
    // 3: pooled containers handed out; the primary key makes a second hand-out impossible.
    r#"
    CREATE TABLE pool_claims (
        container_id TEXT PRIMARY KEY,
        pool_key TEXT NOT NULL,
        claimed_at INTEGER NOT NULL,
        record TEXT NOT NULL
    );
    "#,
    // 4: an environment is recorded before its container is claimed, so it may have none yet.
    r#"
    CREATE TABLE environments_v4 (
        id TEXT PRIMARY KEY,
        container_id TEXT,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        record TEXT NOT NULL
    );
    INSERT INTO environments_v4 (id, container_id, status, created_at, updated_at, record)
        SELECT id, container_id, status, created_at, updated_at, record FROM environments;
    DROP TABLE environments;
    ALTER TABLE environments_v4 RENAME TO environments;
    "#,
    // 5: memory reserved against the state's one budget, by holder.
    r#"
    CREATE TABLE memory_reservations (
        holder TEXT PRIMARY KEY,
        bytes INTEGER NOT NULL,
        reserved_at INTEGER NOT NULL
    );
    "#,
    // 6: the last audit entry pruned, where verification of what is left starts.
    r#"
    CREATE TABLE audit_anchor (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
    );
    "#,
    // 7: named locks (an inner daemon's storage kept under a cache key, one live run at a time).
    r#"
    CREATE TABLE locks (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        acquired_at INTEGER NOT NULL
    );
    "#,
];

/// The schema version this build of slipway writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

fn current_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row("SELECT MAX(version) FROM schema_version", [], |row| {
        row.get::<_, Option<u32>>(0)
    })
    .optional()
    .map(|v| v.flatten().unwrap_or(0))
}

/// Applies every migration after the database's version, up to `target`.
pub(crate) fn migrate_to(conn: &mut Connection, target: u32) -> Result<u32, StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
            version INTEGER PRIMARY KEY,
            applied_at INTEGER NOT NULL DEFAULT (CAST(strftime('%s','now') AS INTEGER) * 1000)
        );",
    )
    .map_err(|source| StoreError::Migrate { version: 0, source })?;
    for (index, sql) in MIGRATIONS.iter().enumerate().take(target as usize) {
        let version = index as u32 + 1;
        let fail = |source| StoreError::Migrate { version, source };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        let found = current_version(&tx).map_err(fail)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        if found >= version {
            continue;
        }
        tx.execute_batch(sql).map_err(fail)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [version],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)?;
        tracing::info!(version, "applied state schema migration");
    }
    let found =
        current_version(conn).map_err(|source| StoreError::Migrate { version: 0, source })?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_idempotent_and_recorded() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(
            migrate_to(&mut conn, SCHEMA_VERSION).unwrap(),
            SCHEMA_VERSION
        );
        assert_eq!(
            migrate_to(&mut conn, SCHEMA_VERSION).unwrap(),
            SCHEMA_VERSION
        );
        let rows: u32 = conn
            .query_row("SELECT COUNT(*) FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, SCHEMA_VERSION);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, SCHEMA_VERSION).unwrap();
        conn.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [SCHEMA_VERSION + 5],
        )
        .unwrap();
        let err = migrate_to(&mut conn, SCHEMA_VERSION).unwrap_err();
        assert!(matches!(err, StoreError::SchemaTooNew { .. }), "{err}");
        assert!(err.to_string().contains("upgrade slipway"), "{err}");
    }
}
