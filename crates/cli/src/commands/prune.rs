//! `slipway prune`: what `POST /api/maintenance/prune` does, from the command line.

use std::time::Duration;

use clap::Args;
use slipway_app::maintenance::prune;
use slipway_app::{Config, Services};

use crate::commands::{own, Outcome, SHUTDOWN};
use crate::output::print_json;

/// Options of `slipway prune`.
#[derive(Debug, Args)]
pub(crate) struct PruneArgs {
    /// Remove only what is older than this many hours.
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=87_600))]
    older_than_hours: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(config: &Config, args: PruneArgs) -> anyhow::Result<Outcome> {
    let services = Services::open(config, own("prune", false)).await?;
    let outcome = prune(&services, Duration::from_secs(args.older_than_hours * 3600)).await;
    services.shutdown(SHUTDOWN).await?;
    let outcome = outcome?;
    if args.json {
        print_json(&outcome)?;
        return Ok(Outcome::Success);
    }
    for id in &outcome.containers {
        println!("removed container {id}");
    }
    for image in &outcome.images {
        println!("removed image {image}");
    }
    for removed in &outcome.dependencies {
        println!(
            "removed the dependencies of lockfile {} from {}",
            removed.entry, removed.volume
        );
    }
    if outcome.containers.is_empty() && outcome.images.is_empty() && outcome.dependencies.is_empty()
    {
        println!("nothing to prune");
    }
    Ok(Outcome::Success)
}
