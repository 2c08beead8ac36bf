//! The doctor: can this engine and host run slipway? Each check says what it found and, when
//! something is wrong, how to fix it — as data, for a table, `--json` or an HTTP body.

mod checks;

use serde::Serialize;
use slipway_core::{ImageRef, PortRange};

use crate::config::Config;

/// The result of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but something is worth knowing or only optional features are affected.
    Warn,
    /// slipway can't work until this is fixed.
    Fail,
    /// Not checked because an earlier check failed.
    Skipped,
}

impl Status {
    /// How a table shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skipped => "-",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// How it went.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub(crate) fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    pub(crate) fn warn(
        name: &'static str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            name,
            status: Status::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    pub(crate) fn fail(
        name: &'static str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            name,
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    pub(crate) fn skipped(name: &'static str) -> Self {
        Self {
            name,
            status: Status::Skipped,
            detail: "not checked: the engine is unreachable".into(),
            fix: None,
        }
    }
}

/// Every check, and whether slipway can run.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    /// No check failed.
    pub ok: bool,
    /// The engine checked.
    pub endpoint: String,
    /// The checks, in order.
    pub checks: Vec<Check>,
}

/// Runs every check: the engine (reachable, versions, storage, memory against the configured
/// budget), a container of `image` starting and running a command, privileged and the
/// capability profile, the host-port range, and the state directory.
pub async fn run(config: &Config, image: &ImageRef, ports: PortRange) -> DoctorReport {
    let checks = checks::run_all(config, image, ports).await;
    DoctorReport {
        ok: checks.iter().all(|c| c.status != Status::Fail),
        endpoint: config.engine.endpoint.to_string(),
        checks,
    }
}
