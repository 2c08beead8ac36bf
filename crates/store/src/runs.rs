//! [`RunStore`]: runs as indexed columns plus the whole record as JSON.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use slipway_core::{Result, RunId, RunRecord, RunStore, Timestamp};

use crate::error::StoreError;
use crate::sqlite_store::{decode, encode, snake_case, SqliteStore};

#[async_trait]
impl RunStore for SqliteStore {
    async fn put_run(&self, record: &RunRecord) -> Result<()> {
        let record = record.clone();
        self.with_conn(move |conn| {
            let json = encode("run", &record)?;
            conn.execute(
                "INSERT INTO runs (id, state, owner, heartbeat_at, created_at, updated_at, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (id) DO UPDATE SET state = ?2, owner = ?3, heartbeat_at = ?4, updated_at = ?6, record = ?7",
                params![
                    record.id.as_str(),
                    snake_case(&record.state),
                    record.owner.as_str(),
                    record.heartbeat_at.unix_millis(),
                    record.created_at.unix_millis(),
                    record.updated_at.unix_millis(),
                    json
                ],
            )
            .map(drop)
            .map_err(|source| StoreError::WriteRun {
                id: record.id.to_string(),
                source,
            })
        })
        .await
    }

    async fn run(&self, id: &RunId) -> Result<Option<RunRecord>> {
        let id = id.clone();
        self.with_conn(move |conn| {
            let row: Option<(String, i64)> = conn
                .query_row(
                    "SELECT record, heartbeat_at FROM runs WHERE id = ?1",
                    [id.as_str()],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(|source| StoreError::ReadRuns { source })?;
            row.map(|(json, heartbeat)| with_heartbeat(&format!("run {id}"), &json, heartbeat))
                .transpose()
        })
        .await
    }

    async fn runs(&self) -> Result<Vec<RunRecord>> {
        self.with_conn(|conn| {
            let fail = |source| StoreError::ReadRuns { source };
            let mut statement = conn
                .prepare_cached("SELECT record, heartbeat_at FROM runs ORDER BY created_at, id")
                .map_err(fail)?;
            let rows = statement
                .query_map([], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })
                .map_err(fail)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(fail)?;
            rows.iter()
                .map(|(json, heartbeat)| with_heartbeat("run", json, *heartbeat))
                .collect()
        })
        .await
    }

    async fn update_run(&self, record: &RunRecord, expected: Timestamp) -> Result<bool> {
        let record = record.clone();
        self.with_conn(move |conn| {
            let json = encode("run", &record)?;
            conn.execute(
                "UPDATE runs SET state = ?2, owner = ?3, heartbeat_at = ?4, updated_at = ?5,
                 record = ?6 WHERE id = ?1 AND updated_at = ?7",
                params![
                    record.id.as_str(),
                    snake_case(&record.state),
                    record.owner.as_str(),
                    record.heartbeat_at.unix_millis(),
                    record.updated_at.unix_millis(),
                    json,
                    expected.unix_millis()
                ],
            )
            .map(|n| n > 0)
            .map_err(|source| StoreError::WriteRun {
                id: record.id.to_string(),
                source,
            })
        })
        .await
    }

    async fn prune_runs(&self, before: Timestamp) -> Result<u64> {
        self.with_conn(move |conn| {
            conn.execute(
                "DELETE FROM runs WHERE updated_at < ?1 AND state IN (?2, ?3)",
                params![before.unix_millis(), TERMINAL_STATES[0], TERMINAL_STATES[1]],
            )
            .map(|n| n as u64)
            .map_err(|source| StoreError::WriteRun {
                id: "(pruning)".into(),
                source,
            })
        })
        .await
    }

    async fn heartbeat_run(&self, id: &RunId, at: Timestamp) -> Result<bool> {
        let id = id.clone();
        self.with_conn(move |conn| {
            conn.execute(
                "UPDATE runs SET heartbeat_at = MAX(heartbeat_at, ?2) WHERE id = ?1",
                params![id.as_str(), at.unix_millis()],
            )
            .map(|n| n > 0)
            .map_err(|source| StoreError::WriteRun {
                id: id.to_string(),
                source,
            })
        })
        .await
    }
}

/// The states a run is over in, as stored.
const TERMINAL_STATES: [&str; 2] = ["stopped", "failed"];

/// A stored record with the heartbeat column, which moves without rewriting the record.
fn with_heartbeat(what: &str, json: &str, heartbeat: i64) -> Result<RunRecord, StoreError> {
    let mut record: RunRecord = decode(what, json)?;
    let column = Timestamp::from_unix_millis(heartbeat);
    if column > record.heartbeat_at {
        record.heartbeat_at = column;
    }
    Ok(record)
}
