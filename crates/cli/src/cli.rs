//! The command line's shape.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use slipway_app::Overrides;

use crate::commands::audit::AuditArgs;
use crate::commands::bench::BenchCommand;
use crate::commands::doctor::DoctorArgs;
use crate::commands::env::EnvCommand;
use crate::commands::pool::PoolCommand;
use crate::commands::run::{CleanArgs, RunArgs};

/// slipway: fast, safe development environments and builds on Docker engines.
#[derive(Debug, Parser)]
#[command(name = "slipway", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// Config file (default: $SLIPWAY_CONFIG, else ./slipway.toml when present).
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,
    /// Engine address: unix:///path, tcp://host:port or ssh://user@host (default: $DOCKER_HOST).
    #[arg(long, short = 'H', global = true, value_name = "ADDRESS")]
    pub(crate) host: Option<String>,
    /// Where slipway keeps its state (default: $SLIPWAY_STATE_DIR, else ./.slipway).
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) state_dir: Option<PathBuf>,
    /// Allow a plain tcp:// engine address (only on a trusted direct link).
    #[arg(long, global = true)]
    pub(crate) allow_insecure_tcp: bool,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
    /// More log output (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}

impl GlobalArgs {
    pub(crate) fn overrides(&self) -> Overrides {
        Overrides {
            config: self.config.clone(),
            host: self.host.clone(),
            state_dir: self.state_dir.clone(),
            allow_insecure_tcp: self.allow_insecure_tcp,
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Check that the engine and this host can run slipway, and say how to fix what can't.
    Doctor(DoctorArgs),
    /// Development environments: a repo at a branch, running its dev server.
    #[command(subcommand)]
    Env(EnvCommand),
    /// Manage the warm pools of this state directory.
    #[command(subcommand)]
    Pool(PoolCommand),
    /// Measure slipway against the raw engine on this host.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Start a run (a container, optionally with Docker inside) and print its id.
    Run(RunArgs),
    /// List runs (a listing settles nothing; run, stop and clean settle crashed runs).
    Runs {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop a run: main container, sidecar, network (the BuildKit state volume stays).
    Stop {
        /// The run id.
        run: String,
    },
    /// Remove sidecars and networks of runs that are not live (and, with --volumes, old state volumes).
    Clean(CleanArgs),
    /// Show (or verify) the audit log.
    Audit(AuditArgs),
    /// Remove this state's stopped environment and pool containers and unused images older than N hours.
    Prune(crate::commands::prune::PruneArgs),
}
