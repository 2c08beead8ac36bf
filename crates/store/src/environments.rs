//! [`EnvironmentStore`]: environments as indexed columns plus the whole record as JSON, so
//! records can grow fields without a migration.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use slipway_core::{EnvironmentRecord, EnvironmentStore, Result};

use crate::error::StoreError;
use crate::sqlite_store::{decode, encode, read_all, snake_case, SqliteStore};

#[async_trait]
impl EnvironmentStore for SqliteStore {
    async fn put_environment(&self, record: &EnvironmentRecord) -> Result<()> {
        let record = record.clone();
        self.with_conn(move |conn| {
            let json = encode("environment", &record)?;
            conn.execute(
                "INSERT INTO environments (id, container_id, status, created_at, updated_at, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (id) DO UPDATE SET container_id = ?2, status = ?3, updated_at = ?5, record = ?6",
                params![
                    record.id,
                    record.container_id.as_ref().map(|id| id.as_str()),
                    snake_case(&record.status),
                    record.created_at.unix_millis(),
                    record.updated_at.unix_millis(),
                    json
                ],
            )
            .map(drop)
            .map_err(|source| StoreError::WriteEnvironment {
                id: record.id.clone(),
                source,
            })
        })
        .await
    }

    async fn environment(&self, id: &str) -> Result<Option<EnvironmentRecord>> {
        let id = id.to_owned();
        self.with_conn(move |conn| {
            let json: Option<String> = conn
                .query_row(
                    "SELECT record FROM environments WHERE id = ?1",
                    [&id],
                    |row| row.get(0),
                )
                .optional()
                .map_err(|source| StoreError::ReadEnvironments { source })?;
            json.map(|json| decode(&format!("environment {id}"), &json))
                .transpose()
        })
        .await
    }

    async fn environments(&self) -> Result<Vec<EnvironmentRecord>> {
        self.with_conn(|conn| {
            read_all(
                conn,
                "SELECT record FROM environments ORDER BY created_at, id",
            )
            .map_err(|source| StoreError::ReadEnvironments { source })?
            .iter()
            .map(|json| decode("environment", json))
            .collect()
        })
        .await
    }

    async fn delete_environment(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.with_conn(move |conn| {
            conn.execute("DELETE FROM environments WHERE id = ?1", [&id])
                .map(|n| n > 0)
                .map_err(|source| StoreError::DeleteEnvironment { id, source })
        })
        .await
    }
}
