//! `slipway`: parses the command line, sets up logging, resolves the configuration once and
//! dispatches to one file per verb under `commands/`, each a call into `slipway-app`. Exit
//! codes are decided here only.

mod cli;
mod commands;
mod output;

use std::process::ExitCode;

use clap::Parser;
use slipway_core::ErrorKind;

use crate::cli::{Cli, Command, LogFormat};
use crate::commands::Outcome;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = match cli.global.log_format {
        LogFormat::Text => slipway_app::logging::LogFormat::Text,
        LogFormat::Json => slipway_app::logging::LogFormat::Json,
    };
    let rust_log = std::env::var("RUST_LOG").ok();
    slipway_app::logging::init(format, rust_log.as_deref(), cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::FAILURE,
        Ok(Outcome::Exit(code)) => ExitCode::from(code),
        Err(error) => {
            // Errors may carry what a repository's commands printed.
            eprintln!("error: {}", output::terminal_safe(&format!("{error:#}")));
            if let Some(hint) = hint(&error) {
                eprintln!("hint: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let config =
        slipway_app::Config::load(&cli.global.overrides(), &|key| std::env::var(key).ok())?;
    match cli.command {
        Command::Doctor(args) => commands::doctor::run(&config, args).await,
        Command::Env(env) => commands::env::run(&config, env).await,
        Command::Pool(pool) => commands::pool::run(&config, pool).await,
        Command::Bench(bench) => commands::bench::run(&config, bench).await,
        Command::Run(args) => commands::run::run(&config, args).await,
        Command::Runs { json } => commands::run::runs(&config, json).await,
        Command::Stop { run } => commands::run::stop(&config, run).await,
        Command::Clean(args) => commands::run::clean(&config, args).await,
        Command::Audit(args) => commands::audit::run(&config, args).await,
        Command::Prune(args) => commands::prune::run(&config, args).await,
    }
}

/// What to do next, for errors whose kind suggests it.
fn hint(error: &anyhow::Error) -> Option<&'static str> {
    let kind = error
        .chain()
        .find_map(|e| e.downcast_ref::<slipway_core::Error>())?
        .kind();
    match kind {
        ErrorKind::Unavailable => {
            Some("is the engine running? `slipway doctor` checks it; --host or DOCKER_HOST picks another engine")
        }
        ErrorKind::CapacityExceeded => Some("free capacity (remove environments) or raise the budget in the config"),
        _ => None,
    }
}
