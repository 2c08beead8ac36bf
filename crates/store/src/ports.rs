//! [`LeaseStore`]: host-port leases. The port is the table's primary key, and a lease reads
//! and writes in one `BEGIN IMMEDIATE` transaction, so no two holders — threads or processes —
//! get one port. A release names the holder, so a stale releaser can't free a port that was
//! leased again to someone else.

use std::collections::BTreeSet;

use async_trait::async_trait;
use rusqlite::{params, Connection, TransactionBehavior};
use slipway_core::{Error, LeaseStore, PortLease, PortLeaseRequest, Result, Timestamp};

use crate::error::StoreError;
use crate::sqlite_store::SqliteStore;

/// The outcome of a lease attempt: a lease, or the range is full.
enum Leased {
    Port(PortLease),
    Exhausted,
}

#[async_trait]
impl LeaseStore for SqliteStore {
    async fn lease_port(&self, request: &PortLeaseRequest) -> Result<PortLease> {
        let request = request.clone();
        let range = request.range;
        match self.with_conn(move |conn| lease_port(conn, &request)).await? {
            Leased::Port(lease) => Ok(lease),
            Leased::Exhausted => Err(Error::CapacityExceeded(format!(
                "every host port in {range} is leased or busy; release environments or widen the range"
            ))),
        }
    }

    async fn release_port(&self, port: u16, holder: &str) -> Result<bool> {
        let holder = holder.to_owned();
        self.with_conn(move |conn| {
            conn.execute(
                "DELETE FROM port_leases WHERE port = ?1 AND holder = ?2",
                params![port, holder],
            )
            .map(|n| n > 0)
            .map_err(|source| StoreError::ReleasePort { port, source })
        })
        .await
    }

    async fn port_leases(&self) -> Result<Vec<PortLease>> {
        self.with_conn(|conn| port_leases(conn)).await
    }
}

fn lease_port(conn: &mut Connection, request: &PortLeaseRequest) -> Result<Leased, StoreError> {
    let range = request.range;
    let fail = |source| StoreError::LeasePort {
        range: range.to_string(),
        source,
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(fail)?;
    let taken: BTreeSet<u16> = {
        let mut statement = tx
            .prepare_cached("SELECT port FROM port_leases WHERE port BETWEEN ?1 AND ?2")
            .map_err(fail)?;
        let rows = statement
            .query_map(params![range.first, range.last], |row| row.get::<_, u16>(0))
            .map_err(fail)?;
        rows.collect::<rusqlite::Result<_>>().map_err(fail)?
    };
    let free = (range.first..=range.last)
        .find(|port| !taken.contains(port) && !request.skip.contains(port));
    let Some(port) = free else {
        return Ok(Leased::Exhausted);
    };
    let leased_at = Timestamp::now();
    tx.execute(
        "INSERT INTO port_leases (port, holder, leased_at) VALUES (?1, ?2, ?3)",
        params![port, request.holder, leased_at.unix_millis()],
    )
    .map_err(fail)?;
    tx.commit().map_err(fail)?;
    Ok(Leased::Port(PortLease {
        port,
        holder: request.holder.clone(),
        leased_at,
    }))
}

fn port_leases(conn: &Connection) -> Result<Vec<PortLease>, StoreError> {
    let fail = |source| StoreError::ReadLeases { source };
    let mut statement = conn
        .prepare_cached("SELECT port, holder, leased_at FROM port_leases ORDER BY port")
        .map_err(fail)?;
    let rows = statement
        .query_map([], |row| {
            Ok(PortLease {
                port: row.get(0)?,
                holder: row.get(1)?,
                leased_at: Timestamp::from_unix_millis(row.get(2)?),
            })
        })
        .map_err(fail)?;
    rows.collect::<rusqlite::Result<_>>().map_err(fail)
}
