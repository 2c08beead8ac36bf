//! [`BudgetStore`]: memory reservations against the state's one budget. A reservation reads
//! the total and writes its row in one `BEGIN IMMEDIATE` transaction, so two processes can't
//! both take the last of it.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use slipway_core::{budget_exhausted, BudgetStore, MemoryReservation, Result, Timestamp};

use crate::error::StoreError;
use crate::sqlite_store::SqliteStore;

/// The outcome of a reservation attempt.
enum Reserved {
    Yes,
    /// Bytes in use by others, and how many holders.
    Full {
        used: u64,
        holders: usize,
    },
}

#[async_trait]
impl BudgetStore for SqliteStore {
    async fn reserve_memory(&self, holder: &str, bytes: u64, limit: u64) -> Result<()> {
        let holder = holder.to_owned();
        let reserved = self
            .with_conn(move |conn| reserve(conn, &holder, bytes, limit))
            .await?;
        match reserved {
            Reserved::Yes => Ok(()),
            Reserved::Full { used, holders } => Err(budget_exhausted(bytes, used, limit, holders)),
        }
    }

    async fn release_memory(&self, holder: &str) -> Result<bool> {
        let holder = holder.to_owned();
        self.with_conn(move |conn| {
            conn.execute(
                "DELETE FROM memory_reservations WHERE holder = ?1",
                params![holder],
            )
            .map(|n| n > 0)
            .map_err(|source| StoreError::Budget { source })
        })
        .await
    }

    async fn memory_reservations(&self) -> Result<Vec<MemoryReservation>> {
        self.with_conn(|conn| {
            let fail = |source| StoreError::Budget { source };
            let mut statement = conn
                .prepare_cached(
                    "SELECT holder, bytes, reserved_at FROM memory_reservations ORDER BY holder",
                )
                .map_err(fail)?;
            let rows = statement
                .query_map([], |row| {
                    Ok(MemoryReservation {
                        holder: row.get(0)?,
                        bytes: row.get::<_, i64>(1)?.max(0) as u64,
                        reserved_at: Timestamp::from_unix_millis(row.get(2)?),
                    })
                })
                .map_err(fail)?;
            rows.collect::<rusqlite::Result<_>>().map_err(fail)
        })
        .await
    }
}

fn reserve(
    conn: &mut Connection,
    holder: &str,
    bytes: u64,
    limit: u64,
) -> Result<Reserved, StoreError> {
    let fail = |source| StoreError::Budget { source };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(fail)?;
    let (others, holders): (i64, i64) = tx
        .query_row(
            "SELECT COALESCE(SUM(bytes), 0), COUNT(*) FROM memory_reservations WHERE holder != ?1",
            params![holder],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(fail)?;
    let used = others.max(0) as u64;
    if used.saturating_add(bytes) > limit {
        return Ok(Reserved::Full {
            used,
            holders: holders.max(0) as usize,
        });
    }
    let existing: Option<i64> = tx
        .query_row(
            "SELECT bytes FROM memory_reservations WHERE holder = ?1",
            params![holder],
            |row| row.get(0),
        )
        .optional()
        .map_err(fail)?;
    let stored = i64::try_from(bytes).unwrap_or(i64::MAX);
    if existing.is_some() {
        tx.execute(
            "UPDATE memory_reservations SET bytes = ?2 WHERE holder = ?1",
            params![holder, stored],
        )
    } else {
        tx.execute(
            "INSERT INTO memory_reservations (holder, bytes, reserved_at) VALUES (?1, ?2, ?3)",
            params![holder, stored, Timestamp::now().unix_millis()],
        )
    }
    .map_err(fail)?;
    tx.commit().map_err(fail)?;
    Ok(Reserved::Yes)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use slipway_core::ErrorKind;

    use super::*;

    const GIB: u64 = 1 << 30;

    #[tokio::test]
    async fn reservations_stop_at_the_limit_and_a_holder_replaces_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in_dir(dir.path()).unwrap();
        store
            .reserve_memory("run:a", 3 * GIB, 4 * GIB)
            .await
            .unwrap();
        let error = store
            .reserve_memory("pool:b", 2 * GIB, 4 * GIB)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::CapacityExceeded);
        assert!(error.to_string().contains("3072 of 4096 MiB"), "{error}");
        // Replacing its own reservation counts only the new size.
        store
            .reserve_memory("run:a", 4 * GIB, 4 * GIB)
            .await
            .unwrap();
        assert!(store.release_memory("run:a").await.unwrap());
        assert!(!store.release_memory("run:a").await.unwrap());
        store
            .reserve_memory("pool:b", 2 * GIB, 4 * GIB)
            .await
            .unwrap();
        let held = store.memory_reservations().await.unwrap();
        assert_eq!(held.len(), 1);
        assert_eq!(
            (held[0].holder.as_str(), held[0].bytes),
            ("pool:b", 2 * GIB)
        );
    }

    #[test]
    fn two_processes_racing_for_the_last_gigabytes_never_overspend() {
        let dir = tempfile::tempdir().unwrap();
        // Two handles on one file, each with its own connection: as two processes are.
        let stores: Vec<Arc<SqliteStore>> = (0..2)
            .map(|_| Arc::new(SqliteStore::open_in_dir(dir.path()).unwrap()))
            .collect();
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let store = Arc::clone(&stores[i % 2]);
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    runtime
                        .block_on(store.reserve_memory(&format!("h{i}"), GIB, 5 * GIB))
                        .is_ok()
                })
            })
            .collect();
        let granted = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|ok| *ok)
            .count();
        assert_eq!(granted, 5);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let total: u64 = runtime
            .block_on(stores[0].memory_reservations())
            .unwrap()
            .iter()
            .map(|r| r.bytes)
            .sum();
        assert_eq!(total, 5 * GIB);
    }
}
