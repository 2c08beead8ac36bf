//! `slipway bench ls`: how fast `slipway env ls` answers on a state with N environments,
//! against the engine's own listing (`docker ps`) in the same run. `env ls` reads only the
//! store: no engine connection, no pool.

use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use slipway_app::Config;
use slipway_core::prelude::*;
use slipway_core::{ContainerId, EnvironmentRecord, EnvironmentStatus, Timestamp};
use slipway_store::SqliteStore;

use super::stats::{round, Samples};
use crate::commands::Outcome;
use crate::output::{ms, print_json, Table};

/// Options of `slipway bench ls`.
#[derive(Debug, Args)]
pub(crate) struct LsBenchArgs {
    /// Environments recorded in the scratch state.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    environments: u32,
    /// Invocations measured of each.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=1000))]
    iterations: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    environments: u32,
    iterations: u32,
    env_ls_p50_ms: f64,
    env_ls_p99_ms: f64,
    /// `docker ps -a` of slipway's containers; absent without a docker CLI.
    docker_ps_p50_ms: Option<f64>,
    /// env ls p50 over docker ps p50.
    ratio_p50: Option<f64>,
}

pub(crate) async fn run(config: &Config, args: LsBenchArgs) -> anyhow::Result<Outcome> {
    let state = tempfile::tempdir().context("failed to create a temporary state directory")?;
    let store = SqliteStore::open_in_dir(state.path())?;
    for n in 0..args.environments {
        store.put_environment(&record(n)).await?;
    }
    let empty_config = state.path().join("slipway.toml");
    std::fs::write(&empty_config, "").context("failed to write an empty config file")?;
    let me = std::env::current_exe().context("failed to find the slipway binary")?;
    let mut ls = Samples::default();
    let mut ps = Samples::default();
    let docker_host = config.engine.endpoint.to_string();
    let has_docker = Command::new("docker").arg("--version").output().is_ok();
    for _ in 0..args.iterations {
        ls.push(timed(
            Command::new(&me)
                .args(["--config"])
                .arg(&empty_config)
                .args(["env", "ls", "--json"])
                .env("SLIPWAY_STATE_DIR", state.path()),
        )?);
        if has_docker {
            ps.push(timed(
                Command::new("docker")
                    .args(["ps", "-a", "--filter", "label=dev.slipway.managed=true"])
                    .env("DOCKER_HOST", docker_host.replace("tcp+tls://", "tcp://")),
            )?);
        }
    }
    let docker = (ps.len() > 0).then(|| round(ps.percentile(50.0), 2));
    let report = Report {
        environments: args.environments,
        iterations: args.iterations,
        env_ls_p50_ms: round(ls.percentile(50.0), 2),
        env_ls_p99_ms: round(ls.percentile(99.0), 2),
        docker_ps_p50_ms: docker,
        ratio_p50: docker.map(|d| round(ls.percentile(50.0) / d, 2)),
    };
    if args.json {
        print_json(&report)?;
        return Ok(Outcome::Success);
    }
    let mut table = Table::new(["", "p50", "p99"]);
    table.row([
        "slipway env ls".to_owned(),
        ms(report.env_ls_p50_ms),
        ms(report.env_ls_p99_ms),
    ]);
    if has_docker {
        table.row([
            "docker ps".to_owned(),
            ms(ps.percentile(50.0)),
            ms(ps.percentile(99.0)),
        ]);
    }
    println!(
        "{} environments recorded; {} runs of each\n",
        args.environments, args.iterations
    );
    print!("{}", table.render());
    Ok(Outcome::Success)
}

/// Runs `command` to completion, checking it succeeded; how long it took.
fn timed(command: &mut Command) -> anyhow::Result<std::time::Duration> {
    let started = Instant::now();
    let status = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("failed to run a timed command")?;
    let took = started.elapsed();
    anyhow::ensure!(status.success(), "a timed command failed: {status}");
    Ok(took)
}

/// The `n`th synthetic environment: ready, on a port, of some repo.
fn record(n: u32) -> EnvironmentRecord {
    let now = Timestamp::now();
    EnvironmentRecord {
        id: format!("{n:08x}"),
        name: format!("bench-{n}"),
        container_id: Some(ContainerId::new(format!("{n:064x}"))),
        image: "slipway/bench-app:main".parse().expect("valid"),
        pool_key: None,
        repo: Some(format!("bench/app-{n}").parse().expect("valid")),
        branch: Some("main".parse().expect("valid")),
        host_port: u16::try_from(10_000 + n % 10_000).ok(),
        memory_bytes: 512 << 20,
        status: EnvironmentStatus::Ready,
        error: None,
        created_at: now,
        updated_at: now,
        ports: Vec::new(),
        labels: Default::default(),
        phases: Vec::new(),
        idempotency_key: None,
        from_pool: false,
        auto_stop_minutes: None,
    }
}
