//! The audit log: what slipway did to the engine, append-only and hash-chained.

use std::collections::BTreeMap;

use crate::ids::RunId;
use crate::time::Timestamp;

/// Something slipway did that an operator may need to account for later.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditEvent {
    /// What happened, in snake_case: `run_created`, `buildkit_sidecar_started`, …
    pub kind: String,
    /// The run it concerns, if any.
    pub run_id: Option<RunId>,
    /// The engine objects involved, e.g. `network_id` → id.
    pub resources: BTreeMap<String, String>,
    /// A human-readable detail (never a secret).
    pub detail: Option<String>,
}

impl AuditEvent {
    /// An event of `kind` with nothing attached yet.
    pub fn new(kind: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            run_id: None,
            resources: BTreeMap::new(),
            detail: None,
        }
    }

    /// Attaches the run.
    pub fn with_run(mut self, run: &RunId) -> Self {
        self.run_id = Some(run.clone());
        self
    }

    /// Attaches an engine object.
    pub fn with_resource(mut self, name: impl Into<String>, id: impl Into<String>) -> Self {
        self.resources.insert(name.into(), id.into());
        self
    }

    /// Attaches a detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// An event as stored: numbered, timed, and chained to the entry before it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    /// Position in the log, from 1 without gaps.
    pub seq: u64,
    /// When it was appended.
    pub at: Timestamp,
    /// The event.
    pub event: AuditEvent,
    /// The hash of the previous entry (all zeros for the first).
    pub prev_hash: String,
    /// The hash of this entry, covering `prev_hash`, `seq`, `at` and the event.
    pub hash: String,
}

/// Which entries to read.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditFilter {
    /// Only entries about this run.
    pub run_id: Option<RunId>,
    /// Only entries of this kind.
    pub kind: Option<String>,
    /// At most this many, newest last.
    pub limit: Option<usize>,
}

/// The result of checking the chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditVerification {
    /// Entries checked.
    pub entries: u64,
    /// The first problem found, if any.
    pub problem: Option<AuditProblem>,
}

impl AuditVerification {
    /// Whether the chain is intact.
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

/// Where and how the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditProblem {
    /// The entry at which the break shows.
    pub seq: u64,
    /// What is wrong there.
    pub reason: String,
}
