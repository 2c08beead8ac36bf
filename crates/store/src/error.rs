//! The store's own errors and their mapping onto core's kinds.

use std::path::PathBuf;

use rusqlite::ErrorCode;
use slipway_core::Error;

/// A failed store operation, with what it touched and the SQLite (or JSON) error as source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[allow(missing_docs)] // each variant's message says what it is
pub enum StoreError {
    #[error("failed to open the state database {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("failed to make {path} private to its owner")]
    Permissions {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to apply schema migration {version}")]
    Migrate {
        version: u32,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the state database has schema version {found}, newer than this slipway understands ({supported}); upgrade slipway")]
    SchemaTooNew { found: u32, supported: u32 },
    #[error("failed to read the instance id")]
    ReadInstance {
        #[source]
        source: rusqlite::Error,
    },
    #[error("failed to write environment {id}")]
    WriteEnvironment {
        id: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("failed to read environments")]
    ReadEnvironments {
        #[source]
        source: rusqlite::Error,
    },
    #[error("failed to delete environment {id}")]
    DeleteEnvironment {
        id: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("failed to write run {id}")]
    WriteRun {
        id: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("failed to read runs")]
    ReadRuns {
        #[source]
        source: rusqlite::Error,
    },
    #[error("failed to lease a port in {range}")]
    LeasePort {
        range: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("failed to read or change locks")]
    Lock {
        #[source]
        source: rusqlite::Error,
    },
    #[error("failed to read or change memory reservations")]
    Budget {
        #[source]
        source: rusqlite::Error,
    },
    #[error("failed to release port {port}")]
    ReleasePort {
        port: u16,
        #[source]
        source: rusqlite::Error,
    },
    #[error("failed to read port leases")]
    ReadLeases {
        #[source]
        source: rusqlite::Error,
    },
    #[error("failed to record the claim of container {container}")]
    WriteClaim {
        container: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("failed to read pool claims")]
    ReadClaims {
        #[source]
        source: rusqlite::Error,
    },
    #[error("failed to record build {id}")]
    WriteBuild {
        id: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("failed to read build history")]
    ReadBuilds {
        #[source]
        source: rusqlite::Error,
    },
    #[error("failed to append to the audit log")]
    AppendAudit {
        #[source]
        source: rusqlite::Error,
    },
    #[error("failed to read the audit log")]
    ReadAudit {
        #[source]
        source: rusqlite::Error,
    },
    #[error("failed to encode {what}")]
    Encode {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("failed to decode {what}; the state database may be corrupt")]
    Decode {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the store's worker thread failed")]
    Worker {
        #[source]
        source: tokio::task::JoinError,
    },
}

impl StoreError {
    fn sqlite(&self) -> Option<&rusqlite::Error> {
        std::error::Error::source(self).and_then(|s| s.downcast_ref::<rusqlite::Error>())
    }

    /// Maps onto core's kinds: a lock held too long by another process is `Unavailable`, a
    /// broken uniqueness rule `Conflict`, a too-new schema `Invalid`; the rest `Backend`.
    pub fn into_core(self) -> Error {
        if let StoreError::SchemaTooNew { .. } = self {
            return Error::invalid("state database", self.to_string());
        }
        let code = self.sqlite().and_then(rusqlite::Error::sqlite_error_code);
        match code {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::Unavailable {
                endpoint: "the state database".into(),
                reason: format!("{self}: another process holds it locked"),
            },
            Some(ErrorCode::ConstraintViolation) => Error::Conflict(self.to_string()),
            _ => Error::backend(self),
        }
    }
}
