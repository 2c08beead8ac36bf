//! [`ClaimStore`]: pooled containers handed out; the primary key makes a second hand-out of
//! one container impossible, across threads and processes.

use async_trait::async_trait;
use rusqlite::params;
use slipway_core::{ClaimStore, ContainerId, Lease, Result};

use crate::error::StoreError;
use crate::sqlite_store::{decode, encode, read_all, SqliteStore};

#[async_trait]
impl ClaimStore for SqliteStore {
    async fn record_claim(&self, lease: &Lease) -> Result<()> {
        let lease = lease.clone();
        self.with_conn(move |conn| {
            let json = encode("claim", &lease)?;
            conn.execute(
                "INSERT INTO pool_claims (container_id, pool_key, claimed_at, record) VALUES (?1, ?2, ?3, ?4)",
                params![
                    lease.container_id.as_str(),
                    lease.key.as_str(),
                    lease.claimed_at.unix_millis(),
                    json
                ],
            )
            .map(drop)
            .map_err(|source| StoreError::WriteClaim {
                container: lease.container_id.to_string(),
                source,
            })
        })
        .await
    }

    async fn claims(&self) -> Result<Vec<Lease>> {
        self.with_conn(|conn| {
            read_all(
                conn,
                "SELECT record FROM pool_claims ORDER BY claimed_at, container_id",
            )
            .map_err(|source| StoreError::ReadClaims { source })?
            .iter()
            .map(|json| decode("claim", json))
            .collect()
        })
        .await
    }

    async fn remove_claim(&self, container: &ContainerId) -> Result<bool> {
        let container = container.clone();
        self.with_conn(move |conn| {
            conn.execute(
                "DELETE FROM pool_claims WHERE container_id = ?1",
                [container.as_str()],
            )
            .map(|n| n > 0)
            .map_err(|source| StoreError::WriteClaim {
                container: container.to_string(),
                source,
            })
        })
        .await
    }
}
