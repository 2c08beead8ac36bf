//! `slipway doctor`: the app layer's checks, as a table or JSON; exits 1 when one failed.

use clap::Args;
use slipway_app::doctor::{self, DoctorReport};
use slipway_app::Config;
use slipway_core::{ImageRef, PortRange};

use crate::commands::Outcome;
use crate::output::{print_json, Table};

/// Options of `slipway doctor`.
#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// Image to start a test container from (it needs `sleep` and `sh`).
    #[arg(long, default_value = "busybox:latest")]
    image: ImageRef,
    /// Host-port range dev servers are published on.
    #[arg(long, value_name = "FIRST-LAST", default_value = "10000-20000")]
    ports: PortRange,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(config: &Config, args: DoctorArgs) -> anyhow::Result<Outcome> {
    let report = doctor::run(config, &args.image, args.ports).await;
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

fn print_human(report: &DoctorReport) {
    let mut table = Table::new(["", "check", "result"]);
    for check in &report.checks {
        table.row([check.status.as_str(), check.name, &check.detail]);
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
