//! `slipway pool status|fill|drain`: the warm pools of this state directory.

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Serialize;
use slipway_app::{Access, Config, Services};
use slipway_core::{ImageRef, PoolReport};

use crate::commands::{own, Outcome, SHUTDOWN};
use crate::output::{ms, print_json, Table};

/// Pool verbs.
#[derive(Debug, Subcommand)]
pub(crate) enum PoolCommand {
    /// Show each pool: ready, creating, claimed, target, health, hits and misses.
    Status(PoolArgs),
    /// Create containers until every pool is at its target, then show the status.
    Fill(FillArgs),
    /// Remove every unclaimed pooled container (claimed ones stay).
    Drain(PoolArgs),
}

/// Options every pool verb takes.
#[derive(Debug, Args)]
pub(crate) struct PoolArgs {
    /// Use this image for the configured pools instead of theirs.
    #[arg(long)]
    image: Option<ImageRef>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Options of `slipway pool fill`.
#[derive(Debug, Args)]
pub(crate) struct FillArgs {
    #[command(flatten)]
    common: PoolArgs,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
}

#[derive(Serialize)]
struct Report {
    #[serde(flatten)]
    pools: PoolReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    drained: Option<usize>,
}

pub(crate) async fn run(config: &Config, command: PoolCommand) -> anyhow::Result<Outcome> {
    let (common, access) = match &command {
        // Looking never builds a pool, adopts or reaps: it reads the engine and the store.
        PoolCommand::Status(args) => (args, Access::Read),
        PoolCommand::Fill(args) => (&args.common, own("pool fill", true)),
        PoolCommand::Drain(args) => (args, own("pool drain", false)),
    };
    let mut config = config.clone();
    if let Some(image) = &common.image {
        config.pools = config.pools.with_image(image);
    }
    let json = common.json;
    let services = Services::open(&config, access).await?;
    let mut drained = None;
    match command {
        PoolCommand::Status(_) => {}
        PoolCommand::Fill(args) => {
            let deadline = std::time::Duration::from_secs(args.timeout_secs);
            for pool in &config.pools.pools {
                let key = pool.key();
                tokio::time::timeout(deadline, services.pool()?.fill(&key))
                    .await
                    .with_context(|| format!("pool {key} did not fill within {deadline:?}"))?
                    .with_context(|| format!("failed to fill pool {key} ({})", pool.spec.image))?;
            }
        }
        PoolCommand::Drain(_) => drained = Some(services.pool()?.drain().await?),
    }
    let report = Report {
        pools: services.pool_report().await?,
        drained,
    };
    services.shutdown(SHUTDOWN).await?;
    if json {
        print_json(&report)?;
    } else {
        print_human(&report);
    }
    Ok(Outcome::Success)
}

fn print_human(report: &Report) {
    if let Some(drained) = report.drained {
        println!("drained {drained} ready containers\n");
    }
    let mut table = Table::new([
        "pool",
        "image",
        "ready",
        "creating",
        "claimed",
        "target",
        "hits",
        "misses",
        "claim p50",
        "health",
    ]);
    for s in &report.pools.pools {
        let health = match (&s.degraded, &s.last_error) {
            (true, Some(error)) => format!("degraded: {error}"),
            (false, Some(error)) => format!("retrying: {error}"),
            _ => "ok".into(),
        };
        table.row([
            s.key.to_string(),
            s.image.to_string(),
            s.ready.to_string(),
            s.creating.to_string(),
            s.claimed.to_string(),
            s.target.to_string(),
            s.hits.to_string(),
            s.misses.to_string(),
            s.claim_p50_ms.map_or_else(|| "-".into(), ms),
            health,
        ]);
    }
    print!("{}", table.render());
    println!(
        "\nmemory: {} MiB of {} MiB in use",
        report.pools.memory_used_bytes >> 20,
        report.pools.memory_budget_bytes >> 20
    );
}
