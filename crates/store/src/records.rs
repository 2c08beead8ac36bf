//! Environments, runs and build history: indexed columns plus the whole record as JSON, so
//! records can grow fields without a migration.

use rusqlite::{params, Connection, OptionalExtension};
use slipway_core::{BuildRecord, ContainerId, EnvironmentRecord, Lease, RunId, RunRecord};

use crate::error::StoreError;
use crate::sqlite_store::{decode, encode};

fn status_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub(crate) fn put_environment(
    conn: &Connection,
    record: &EnvironmentRecord,
) -> Result<(), StoreError> {
    let json = encode("environment", record)?;
    conn.execute(
        "INSERT INTO environments (id, container_id, status, created_at, updated_at, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO UPDATE SET container_id = ?2, status = ?3, updated_at = ?5, record = ?6",
        params![
            record.id,
            record.container_id.as_str(),
            status_text(&record.status),
            record.created_at.unix_millis(),
            record.updated_at.unix_millis(),
            json
        ],
    )
    .map(drop)
    .map_err(|source| StoreError::WriteEnvironment { id: record.id.clone(), source })
}

pub(crate) fn environment(
    conn: &Connection,
    id: &str,
) -> Result<Option<EnvironmentRecord>, StoreError> {
    let json: Option<String> = conn
        .query_row(
            "SELECT record FROM environments WHERE id = ?1",
            [id],
            |row| row.get(0),
        )
        .optional()
        .map_err(|source| StoreError::ReadEnvironments { source })?;
    json.map(|json| decode(&format!("environment {id}"), &json))
        .transpose()
}

pub(crate) fn environments(conn: &Connection) -> Result<Vec<EnvironmentRecord>, StoreError> {
    read_all(
        conn,
        "SELECT record FROM environments ORDER BY created_at, id",
    )
    .map_err(|source| StoreError::ReadEnvironments { source })?
    .iter()
    .map(|json| decode("environment", json))
    .collect()
}

pub(crate) fn delete_environment(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    conn.execute("DELETE FROM environments WHERE id = ?1", [id])
        .map(|n| n > 0)
        .map_err(|source| StoreError::DeleteEnvironment {
            id: id.to_owned(),
            source,
        })
}

pub(crate) fn put_run(conn: &Connection, record: &RunRecord) -> Result<(), StoreError> {
    let json = encode("run", record)?;
    conn.execute(
        "INSERT INTO runs (id, state, owner, heartbeat_at, created_at, updated_at, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET state = ?2, owner = ?3, heartbeat_at = ?4, updated_at = ?6, record = ?7",
        params![
            record.id.as_str(),
            status_text(&record.state),
            record.owner.as_str(),
            record.heartbeat_at.unix_millis(),
            record.created_at.unix_millis(),
            record.updated_at.unix_millis(),
            json
        ],
    )
    .map(drop)
    .map_err(|source| StoreError::WriteRun { id: record.id.to_string(), source })
}

pub(crate) fn run(conn: &Connection, id: &RunId) -> Result<Option<RunRecord>, StoreError> {
    let json: Option<String> = conn
        .query_row(
            "SELECT record FROM runs WHERE id = ?1",
            [id.as_str()],
            |row| row.get(0),
        )
        .optional()
        .map_err(|source| StoreError::ReadRuns { source })?;
    json.map(|json| decode(&format!("run {id}"), &json))
        .transpose()
}

pub(crate) fn runs(conn: &Connection) -> Result<Vec<RunRecord>, StoreError> {
    read_all(conn, "SELECT record FROM runs ORDER BY created_at, id")
        .map_err(|source| StoreError::ReadRuns { source })?
        .iter()
        .map(|json| decode("run", json))
        .collect()
}

pub(crate) fn record_claim(conn: &Connection, lease: &Lease) -> Result<(), StoreError> {
    let json = encode("claim", lease)?;
    conn.execute(
        "INSERT INTO pool_claims (container_id, pool_key, claimed_at, record) VALUES (?1, ?2, ?3, ?4)",
        params![lease.container_id.as_str(), lease.key.as_str(), lease.claimed_at.unix_millis(), json],
    )
    .map(drop)
    .map_err(|source| StoreError::WriteClaim { container: lease.container_id.to_string(), source })
}

pub(crate) fn claims(conn: &Connection) -> Result<Vec<Lease>, StoreError> {
    read_all(
        conn,
        "SELECT record FROM pool_claims ORDER BY claimed_at, container_id",
    )
    .map_err(|source| StoreError::ReadClaims { source })?
    .iter()
    .map(|json| decode("claim", json))
    .collect()
}

pub(crate) fn remove_claim(conn: &Connection, container: &ContainerId) -> Result<bool, StoreError> {
    conn.execute(
        "DELETE FROM pool_claims WHERE container_id = ?1",
        [container.as_str()],
    )
    .map(|n| n > 0)
    .map_err(|source| StoreError::WriteClaim {
        container: container.to_string(),
        source,
    })
}

pub(crate) fn record_build(conn: &Connection, record: &BuildRecord) -> Result<(), StoreError> {
    let json = encode("build", record)?;
    conn.execute(
        "INSERT INTO builds (id, service, started_at, status, record) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            record.id,
            record.service,
            record.started_at.unix_millis(),
            status_text(&record.status),
            json
        ],
    )
    .map(drop)
    .map_err(|source| StoreError::WriteBuild {
        id: record.id.clone(),
        source,
    })
}

pub(crate) fn builds(conn: &Connection, limit: usize) -> Result<Vec<BuildRecord>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut statement = conn
        .prepare("SELECT record FROM builds ORDER BY started_at DESC, id DESC LIMIT ?1")
        .map_err(|source| StoreError::ReadBuilds { source })?;
    let rows = statement
        .query_map([limit], |row| row.get::<_, String>(0))
        .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
        .map_err(|source| StoreError::ReadBuilds { source })?;
    rows.iter().map(|json| decode("build", json)).collect()
}

fn read_all(conn: &Connection, sql: &str) -> rusqlite::Result<Vec<String>> {
    let mut statement = conn.prepare_cached(sql)?;
    let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
    rows.collect()
}
