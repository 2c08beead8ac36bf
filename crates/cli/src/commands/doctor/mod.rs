//! `slipway doctor`: can this engine and host run slipway? Each check says what it found
//! and, when something is wrong, how to fix it. Exits non-zero when a needed check fails.

mod checks;

use clap::Args;
use serde::Serialize;
use slipway_core::{ImageRef, PortRange};

use crate::commands::Outcome;
use crate::config::Config;
use crate::output::{print_json, Table};

/// Options of `slipway doctor`.
#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// Image to start a test container from (it needs `sleep` and `sh`).
    #[arg(long, default_value = "busybox:latest")]
    image: ImageRef,
    /// Host-port range dev servers are published on.
    #[arg(long, value_name = "FIRST-LAST", default_value = "10000-20000", value_parser = parse_range)]
    ports: PortRange,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn parse_range(text: &str) -> Result<PortRange, String> {
    crate::config::parse_port_range(text).map_err(|e| format!("{e:#}"))
}

/// The result of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    /// Fine.
    Ok,
    /// Works, but something is worth knowing or only optional features are affected.
    Warn,
    /// slipway can't work until this is fixed.
    Fail,
    /// Not checked because an earlier check failed.
    Skipped,
}

/// One line of the report.
#[derive(Debug, Serialize)]
pub(crate) struct Check {
    name: &'static str,
    status: Status,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
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

#[derive(Serialize)]
struct Report {
    ok: bool,
    endpoint: String,
    checks: Vec<Check>,
}

pub(crate) async fn run(config: &Config, args: DoctorArgs) -> anyhow::Result<Outcome> {
    let checks = checks::run_all(config, &args.image, args.ports).await;
    let report = Report {
        ok: checks.iter().all(|c| c.status != Status::Fail),
        endpoint: config.engine.endpoint.to_string(),
        checks,
    };
    if args.json {
        print_json(&report)?;
    } else {
        print_human(&report);
    }
    Ok(if report.ok {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

fn print_human(report: &Report) {
    let mut table = Table::new(["", "check", "result"]);
    for check in &report.checks {
        let mark = match check.status {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skipped => "-",
        };
        table.row([mark, check.name, &check.detail]);
    }
    print!("engine: {}\n\n{}", report.endpoint, table.render());
    let fixes: Vec<_> = report
        .checks
        .iter()
        .filter_map(|c| c.fix.as_ref().map(|f| (c.name, f)))
        .collect();
    if !fixes.is_empty() {
        println!("\nto fix:");
        for (name, fix) in fixes {
            println!("  {name}: {fix}");
        }
    }
    println!(
        "\n{}",
        if report.ok {
            "slipway can run here."
        } else {
            "slipway can't run here until the failures above are fixed."
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_parse_with_clear_errors() {
        assert_eq!(parse_range("10000-20000").unwrap(), PortRange::DEFAULT);
        assert!(parse_range("10000").unwrap_err().contains("FIRST-LAST"));
        assert!(parse_range("10-x").unwrap_err().contains("not a port"));
        assert!(parse_range("20-10").is_err());
    }
}
