//! `slipway pool status|fill|drain`: the warm pools of this state directory.

use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Serialize;
use slipway_core::{ImageRef, Pool, PoolStatus};
use slipway_pool::{PoolConfig, WarmPool};

use crate::commands::Outcome;
use crate::config::Config;
use crate::output::{ms, print_json, Table};
use crate::wiring::open_pool;

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
struct PoolReport {
    image: String,
    #[serde(flatten)]
    status: PoolStatus,
}

#[derive(Serialize)]
struct Report {
    memory_used_bytes: u64,
    memory_budget_bytes: u64,
    pools: Vec<PoolReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    drained: Option<usize>,
}

const SHUTDOWN: Duration = Duration::from_secs(30);

pub(crate) async fn run(config: &Config, command: PoolCommand) -> anyhow::Result<Outcome> {
    match command {
        PoolCommand::Status(args) => {
            let (pool, configs) = open_pool(config, args.image.as_ref(), false).await?;
            report(&pool, &configs, None, args.json).await?;
            pool.shutdown(SHUTDOWN).await?;
        }
        PoolCommand::Fill(args) => {
            let (pool, configs) = open_pool(config, args.common.image.as_ref(), true).await?;
            let deadline = Duration::from_secs(args.timeout_secs);
            for pool_config in &configs {
                let key = pool_config.key();
                tokio::time::timeout(deadline, pool.fill(&key))
                    .await
                    .with_context(|| format!("pool {key} did not fill within {deadline:?}"))?
                    .with_context(|| {
                        format!("failed to fill pool {key} ({})", pool_config.spec.image)
                    })?;
            }
            report(&pool, &configs, None, args.common.json).await?;
            pool.shutdown(SHUTDOWN).await?;
        }
        PoolCommand::Drain(args) => {
            let (pool, configs) = open_pool(config, args.image.as_ref(), false).await?;
            let drained = pool.drain().await?;
            report(&pool, &configs, Some(drained), args.json).await?;
            pool.shutdown(SHUTDOWN).await?;
        }
    }
    Ok(Outcome::Success)
}

async fn report(
    pool: &WarmPool,
    configs: &[PoolConfig],
    drained: Option<usize>,
    json: bool,
) -> anyhow::Result<()> {
    let (used, limit) = pool.memory();
    let pools = pool
        .status()
        .await?
        .pools
        .into_iter()
        .map(|status| {
            let image = configs
                .iter()
                .find(|c| c.key() == status.key)
                .map(|c| c.spec.image.to_string())
                .unwrap_or_default();
            PoolReport { image, status }
        })
        .collect();
    let report = Report {
        memory_used_bytes: used,
        memory_budget_bytes: limit,
        pools,
        drained,
    };
    if json {
        return print_json(&report);
    }
    if let Some(drained) = drained {
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
    for PoolReport { image, status: s } in &report.pools {
        let health = match (&s.degraded, &s.last_error) {
            (true, Some(error)) => format!("degraded: {error}"),
            (false, Some(error)) => format!("retrying: {error}"),
            _ => "ok".into(),
        };
        table.row([
            s.key.to_string(),
            image.clone(),
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
    println!("\nmemory: {} MiB of {} MiB in use", used >> 20, limit >> 20);
    Ok(())
}
