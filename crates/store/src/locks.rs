//! [`LockStore`]: named locks. Taking one inserts its row unless another holder's is there,
//! in one statement, so two processes can't both take it.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use slipway_core::{Error, HeldLock, LockStore, Result, Timestamp};

use crate::error::StoreError;
use crate::sqlite_store::SqliteStore;

#[async_trait]
impl LockStore for SqliteStore {
    async fn acquire_lock(&self, name: &str, holder: &str) -> Result<()> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        let (lock, wanted) = (name.clone(), holder.clone());
        let held_by = self
            .with_conn(move |conn| {
                let fail = |source| StoreError::Lock { source };
                conn.execute(
                    "INSERT INTO locks (name, holder, acquired_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT(name) DO NOTHING",
                    params![name, holder, Timestamp::now().unix_millis()],
                )
                .map_err(fail)?;
                conn.query_row(
                    "SELECT holder FROM locks WHERE name = ?1",
                    params![name],
                    |row| row.get::<_, String>(0),
                )
                .optional()
                .map_err(fail)
            })
            .await?;
        match held_by {
            Some(holder) if holder == wanted => Ok(()),
            Some(other) => Err(Error::Conflict(format!(
                "`{lock}` is in use by {other}; wait until it ends or use another cache key"
            ))),
            None => Err(Error::backend(format!(
                "lock `{lock}` vanished as it was taken"
            ))),
        }
    }

    async fn release_lock(&self, name: &str, holder: &str) -> Result<bool> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.with_conn(move |conn| {
            conn.execute(
                "DELETE FROM locks WHERE name = ?1 AND holder = ?2",
                params![name, holder],
            )
            .map(|n| n > 0)
            .map_err(|source| StoreError::Lock { source })
        })
        .await
    }

    async fn locks(&self) -> Result<Vec<HeldLock>> {
        self.with_conn(|conn| {
            let fail = |source| StoreError::Lock { source };
            let mut statement = conn
                .prepare_cached("SELECT name, holder, acquired_at FROM locks ORDER BY name")
                .map_err(fail)?;
            let rows = statement
                .query_map([], |row| {
                    Ok(HeldLock {
                        name: row.get(0)?,
                        holder: row.get(1)?,
                        acquired_at: Timestamp::from_unix_millis(row.get(2)?),
                    })
                })
                .map_err(fail)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(fail)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_at_a_time_and_only_the_holder_releases() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in_dir(dir.path()).unwrap();
        store.acquire_lock("volume-a", "run:1").await.unwrap();
        store.acquire_lock("volume-a", "run:1").await.unwrap();
        let taken = store.acquire_lock("volume-a", "run:2").await.unwrap_err();
        assert!(matches!(taken, Error::Conflict(_)), "{taken}");
        assert!(taken.to_string().contains("run:1"), "{taken}");
        store.acquire_lock("volume-b", "run:2").await.unwrap();
        assert!(!store.release_lock("volume-a", "run:2").await.unwrap());
        assert!(store.release_lock("volume-a", "run:1").await.unwrap());
        store.acquire_lock("volume-a", "run:2").await.unwrap();
        let held: Vec<_> = store
            .locks()
            .await
            .unwrap()
            .into_iter()
            .map(|l| (l.name, l.holder))
            .collect();
        assert_eq!(
            held,
            [
                ("volume-a".to_owned(), "run:2".to_owned()),
                ("volume-b".to_owned(), "run:2".to_owned())
            ]
        );
    }
}
