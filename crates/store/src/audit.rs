//! The audit log: append-only, each entry hashed together with the previous entry's hash.
//!
//! `hash = sha256(prev_hash "\n" seq "\n" at "\n" event_json)`, over the exact JSON stored.
//! A separate head row (seq and hash of the newest entry), written in the same transaction,
//! makes deleting the newest entries detectable as well as editing or removing older ones.
//! Pruning old entries records the last one removed as the anchor the chain now starts from.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};
use slipway_core::{
    AuditEntry, AuditEvent, AuditFilter, AuditLog, AuditProblem, AuditVerification, Result, RunId,
    Timestamp,
};

use crate::error::StoreError;
use crate::sqlite_store::{decode, encode, SqliteStore};

/// The previous hash of the first entry.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub(crate) fn entry_hash(prev_hash: &str, seq: u64, at: Timestamp, event_json: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(format!("\n{seq}\n{}\n", at.unix_millis()).as_bytes());
    hasher.update(event_json.as_bytes());
    hex::encode(hasher.finalize())
}

/// Where the chain starts: after the last pruned entry, or at the beginning.
fn anchor(conn: &Connection) -> rusqlite::Result<(u64, String)> {
    Ok(conn
        .query_row(
            "SELECT seq, hash FROM audit_anchor WHERE id = 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?
        .unwrap_or((0, GENESIS.to_owned())))
}

fn head(conn: &Connection) -> rusqlite::Result<Option<(u64, String)>> {
    conn.query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |row| {
        Ok((row.get(0)?, row.get(1)?))
    })
    .optional()
}

#[async_trait]
impl AuditLog for SqliteStore {
    async fn append_audit(&self, event: &AuditEvent) -> Result<AuditEntry> {
        let event = event.clone();
        self.with_conn(move |conn| append(conn, &event)).await
    }

    async fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let filter = filter.clone();
        self.with_conn(move |conn| entries(conn, &filter)).await
    }

    async fn verify_audit(&self) -> Result<AuditVerification> {
        self.with_conn(|conn| verify(conn)).await
    }

    async fn prune_audit(&self, before: Timestamp) -> Result<u64> {
        let pruned = self.with_conn(move |conn| prune(conn, before)).await?;
        if pruned > 0 {
            let event = AuditEvent::new("audit.pruned").with_detail(format!(
                "{pruned} entries from before unix time {} removed",
                before.unix_seconds()
            ));
            self.append_audit(&event).await?;
        }
        Ok(pruned)
    }
}

fn prune(conn: &mut Connection, before: Timestamp) -> Result<u64, StoreError> {
    let fail = |source| StoreError::AppendAudit { source };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(fail)?;
    let Some((head_seq, _)) = head(&tx).map_err(fail)? else {
        return Ok(0);
    };
    let last: Option<(u64, String)> = tx
        .query_row(
            "SELECT seq, hash FROM audit_log WHERE at < ?1 AND seq < ?2 ORDER BY seq DESC LIMIT 1",
            params![before.unix_millis(), head_seq],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(fail)?;
    let Some((seq, hash)) = last else {
        return Ok(0);
    };
    let removed = tx
        .execute("DELETE FROM audit_log WHERE seq <= ?1", params![seq])
        .map_err(fail)?;
    tx.execute(
        "INSERT INTO audit_anchor (id, seq, hash) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET seq = ?1, hash = ?2",
        params![seq, hash],
    )
    .map_err(fail)?;
    tx.commit().map_err(fail)?;
    Ok(removed as u64)
}

fn append(conn: &mut Connection, event: &AuditEvent) -> Result<AuditEntry, StoreError> {
    let event_json = encode("audit event", event)?;
    let fail = |source| StoreError::AppendAudit { source };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(fail)?;
    let (last_seq, prev_hash) = head(&tx).map_err(fail)?.unwrap_or((0, GENESIS.to_owned()));
    let seq = last_seq + 1;
    let at = Timestamp::now();
    let hash = entry_hash(&prev_hash, seq, at, &event_json);
    tx.execute(
        "INSERT INTO audit_log (seq, at, kind, run_id, event, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            seq,
            at.unix_millis(),
            event.kind,
            event.run_id.as_ref().map(RunId::as_str),
            event_json,
            prev_hash,
            hash
        ],
    )
    .map_err(fail)?;
    tx.execute(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET seq = ?1, hash = ?2",
        params![seq, hash],
    )
    .map_err(fail)?;
    tx.commit().map_err(fail)?;
    Ok(AuditEntry {
        seq,
        at,
        event: event.clone(),
        prev_hash,
        hash,
    })
}

/// A stored row, exactly as on disk.
struct Row {
    seq: u64,
    at: Timestamp,
    kind: String,
    run_id: Option<String>,
    event_json: String,
    prev_hash: String,
    hash: String,
}

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        seq: row.get(0)?,
        at: Timestamp::from_unix_millis(row.get(1)?),
        kind: row.get(2)?,
        run_id: row.get(3)?,
        event_json: row.get(4)?,
        prev_hash: row.get(5)?,
        hash: row.get(6)?,
    })
}

fn rows(conn: &Connection, filter: &AuditFilter) -> rusqlite::Result<Vec<Row>> {
    let limit = filter
        .limit
        .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
    // Newest `limit` matching entries, returned oldest first.
    let mut statement = conn.prepare_cached(
        "SELECT seq, at, kind, run_id, event, prev_hash, hash FROM (
            SELECT * FROM audit_log
            WHERE (?1 IS NULL OR run_id = ?1) AND (?2 IS NULL OR kind = ?2)
            ORDER BY seq DESC LIMIT ?3
         ) ORDER BY seq",
    )?;
    let mapped = statement.query_map(
        params![
            filter.run_id.as_ref().map(RunId::as_str),
            filter.kind,
            limit
        ],
        read_row,
    )?;
    mapped.collect()
}

fn entries(conn: &Connection, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
    let rows = rows(conn, filter).map_err(|source| StoreError::ReadAudit { source })?;
    rows.into_iter()
        .map(|row| {
            Ok(AuditEntry {
                seq: row.seq,
                at: row.at,
                event: decode(&format!("audit entry {}", row.seq), &row.event_json)?,
                prev_hash: row.prev_hash,
                hash: row.hash,
            })
        })
        .collect()
}

/// What is wrong with `row`, given the entry before it; `None` when it is intact.
fn check(row: &Row, expected_seq: u64, expected_prev: &str) -> Option<AuditProblem> {
    let problem = |seq, reason: &str| {
        Some(AuditProblem {
            seq,
            reason: reason.to_owned(),
        })
    };
    if row.seq != expected_seq {
        return problem(expected_seq, &format!("entry {expected_seq} is missing"));
    }
    if row.prev_hash != expected_prev {
        return problem(row.seq, "does not chain to the entry before it");
    }
    if entry_hash(&row.prev_hash, row.seq, row.at, &row.event_json) != row.hash {
        return problem(row.seq, "its contents do not match its hash (modified)");
    }
    let event: Option<AuditEvent> = serde_json::from_str(&row.event_json).ok();
    let consistent = event.is_some_and(|e| {
        e.kind == row.kind && e.run_id.as_ref().map(RunId::as_str) == row.run_id.as_deref()
    });
    if !consistent {
        return problem(
            row.seq,
            "its indexed kind or run differ from its event (modified)",
        );
    }
    None
}

/// Walks the whole log in order (streaming, not loading it) and reports the first break.
fn verify(conn: &Connection) -> Result<AuditVerification, StoreError> {
    let fail = |source| StoreError::ReadAudit { source };
    let head = head(conn).map_err(fail)?;
    let (start_seq, start_hash) = anchor(conn).map_err(fail)?;
    let mut statement = conn
        .prepare("SELECT seq, at, kind, run_id, event, prev_hash, hash FROM audit_log ORDER BY seq")
        .map_err(fail)?;
    let mut checked = 0u64;
    let mut last: Option<(u64, String)> = (start_seq > 0).then(|| (start_seq, start_hash.clone()));
    for row in statement.query_map([], read_row).map_err(fail)? {
        let row = row.map_err(fail)?;
        let expected_prev = last.as_ref().map_or(GENESIS, |(_, hash)| hash.as_str());
        if let Some(problem) = check(&row, start_seq + checked + 1, expected_prev) {
            return Ok(AuditVerification {
                entries: checked,
                problem: Some(problem),
            });
        }
        checked += 1;
        last = Some((row.seq, row.hash));
    }
    if head != last {
        let seq = last.as_ref().map_or(1, |(seq, _)| seq + 1);
        let reason = match head {
            Some((head_seq, _)) if head_seq > start_seq + checked => {
                format!("entries {seq} to {head_seq} are missing (the log was truncated)")
            }
            _ => "the log's head does not match its newest entry".to_owned(),
        };
        return Ok(AuditVerification {
            entries: checked,
            problem: Some(AuditProblem { seq, reason }),
        });
    }
    Ok(AuditVerification {
        entries: checked,
        problem: None,
    })
}
