//! [`RunStore`]: runs as indexed columns plus the whole record as JSON.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use slipway_core::{Result, RunId, RunRecord, RunStore};

use crate::error::StoreError;
use crate::sqlite_store::{decode, encode, read_all, snake_case, SqliteStore};

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
        })
        .await
    }

    async fn runs(&self) -> Result<Vec<RunRecord>> {
        self.with_conn(|conn| {
            read_all(conn, "SELECT record FROM runs ORDER BY created_at, id")
                .map_err(|source| StoreError::ReadRuns { source })?
                .iter()
                .map(|json| decode("run", json))
                .collect()
        })
        .await
    }
}
