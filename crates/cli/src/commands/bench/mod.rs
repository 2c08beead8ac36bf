//! `slipway bench …`: measurements users run on their own hosts, always against the raw
//! engine in the same run, reported as ratios.

mod api;
mod exec;
mod http;
mod logs;
mod ls;
mod pool;
mod ready;
mod run;
mod runtime;
mod server;
mod setup;
mod stats;
mod terminal;
mod wan;

use clap::Subcommand;

use crate::commands::Outcome;
use slipway_app::Config;

/// What to measure.
#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Create, start, exec and remove through slipway vs the same calls through raw bollard.
    Runtime(runtime::RuntimeBenchArgs),
    /// Warm claims from a pool vs cold create+start of the same spec, and refill throughput.
    Pool(pool::PoolBenchArgs),
    /// Setup to ready from a warm repo cache vs cloning every time, and branch switching.
    Setup(setup::SetupBenchArgs),
    /// A docker:dind run made ready and torn down vs the same objects through raw bollard.
    Run(run::RunBenchArgs),
    /// `slipway env ls` on a state with N environments vs `docker ps`.
    Ls(ls::LsBenchArgs),
    /// A real slipwayd: pooled creates over HTTP vs `docker run -d`, health throughput, RSS.
    Api(api::ApiBenchArgs),
    /// Exec through a real slipwayd's API vs a raw bollard exec in the same container.
    Exec(exec::ExecBenchArgs),
    /// A real slipwayd's SSE logs: lines/s, latency, memory with 1,000 streams; vs the engine.
    Logs(logs::LogsBenchArgs),
    /// Keystroke echo through a real slipwayd's terminal vs a raw engine TTY.
    Terminal(terminal::TerminalBenchArgs),
}

pub(crate) async fn run(config: &Config, command: BenchCommand) -> anyhow::Result<Outcome> {
    match command {
        BenchCommand::Runtime(args) => runtime::run(config, args).await,
        BenchCommand::Pool(args) => pool::run(config, args).await,
        BenchCommand::Setup(args) => setup::run(config, args).await,
        BenchCommand::Run(args) => run::run(config, args).await,
        BenchCommand::Ls(args) => ls::run(config, args).await,
        BenchCommand::Api(args) => api::run(config, args).await,
        BenchCommand::Exec(args) => exec::run(config, args).await,
        BenchCommand::Logs(args) => logs::run(config, args).await,
        BenchCommand::Terminal(args) => terminal::run(config, args).await,
    }
}
