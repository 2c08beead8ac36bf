//! `SqliteStore`: slipway's durable state in one SQLite file.
//!
//! It keeps environments, runs (written before each resource a run creates, so a crash can be
//! recovered from), host-port leases (a port is never leased twice, across threads and
//! processes), build history, and an append-only audit log in which each entry carries the
//! hash of the one before it; [`AuditLog::verify_audit`](slipway_core::AuditLog::verify_audit)
//! finds an edited, deleted or truncated entry.
//!
//! The file is in WAL mode; the schema is migrated on open and refuses to be opened by an
//! older slipway than the one that last migrated it.
//!
//! # Example
//!
//! ```no_run
//! use slipway_core::prelude::*;
//! use slipway_core::{AuditEvent, PortLeaseRequest, PortRange};
//! use slipway_store::SqliteStore;
//!
//! # async fn demo() -> slipway_core::Result<()> {
//! let store = SqliteStore::open_in_dir(std::path::Path::new(".slipway"))?;
//! let lease = store
//!     .lease_port(&PortLeaseRequest { range: PortRange::DEFAULT, holder: "env-1".into(), skip: vec![] })
//!     .await?;
//! store.append_audit(&AuditEvent::new("port_leased").with_detail(lease.port.to_string())).await?;
//! assert!(store.verify_audit().await?.is_intact());
//! # Ok(()) }
//! ```

mod audit;
mod budget;
mod builds;
mod claims;
mod environments;
mod error;
mod locks;
mod migrations;
mod ports;
mod runs;
mod sqlite_store;

pub use error::StoreError;
pub use migrations::SCHEMA_VERSION;
pub use sqlite_store::{SqliteStore, DATABASE_FILE};
