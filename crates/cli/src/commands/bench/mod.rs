//! `slipway bench …`: measurements users run on their own hosts, always against the raw
//! engine in the same run, reported as ratios.

mod runtime;
mod stats;

use clap::Subcommand;

use crate::commands::Outcome;
use crate::config::Config;

/// What to measure.
#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Create, start, exec and remove through slipway vs the same calls through raw bollard.
    Runtime(runtime::RuntimeBenchArgs),
}

pub(crate) async fn run(config: &Config, command: BenchCommand) -> anyhow::Result<Outcome> {
    match command {
        BenchCommand::Runtime(args) => runtime::run(config, args).await,
    }
}
