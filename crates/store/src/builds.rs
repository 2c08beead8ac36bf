//! [`BuildStore`]: the history of image builds, newest first.

use async_trait::async_trait;
use rusqlite::params;
use slipway_core::{BuildRecord, BuildStore, Result};

use crate::error::StoreError;
use crate::sqlite_store::{decode, encode, snake_case, SqliteStore};

#[async_trait]
impl BuildStore for SqliteStore {
    async fn record_build(&self, record: &BuildRecord) -> Result<()> {
        let record = record.clone();
        self.with_conn(move |conn| {
            let json = encode("build", &record)?;
            conn.execute(
                "INSERT INTO builds (id, service, started_at, status, record) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    record.id,
                    record.service,
                    record.started_at.unix_millis(),
                    snake_case(&record.status),
                    json
                ],
            )
            .map(drop)
            .map_err(|source| StoreError::WriteBuild {
                id: record.id.clone(),
                source,
            })
        })
        .await
    }

    async fn builds(&self, limit: usize) -> Result<Vec<BuildRecord>> {
        self.with_conn(move |conn| {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let mut statement = conn
                .prepare("SELECT record FROM builds ORDER BY started_at DESC, id DESC LIMIT ?1")
                .map_err(|source| StoreError::ReadBuilds { source })?;
            let rows = statement
                .query_map([limit], |row| row.get::<_, String>(0))
                .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                .map_err(|source| StoreError::ReadBuilds { source })?;
            rows.iter().map(|json| decode("build", json)).collect()
        })
        .await
    }
}
