//! `slipway bench pool`: warm claims from a [`WarmPool`] against cold create+start of the
//! same spec through raw bollard, in one run; and how fast the pool refills.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use slipway_core::labels::Scope;
use slipway_core::prelude::*;
use slipway_core::{
    ContainerSpec, ImageRef, LabelFilter, Lease, Pool, PortBinding, RemoveOptions, Role,
};
use slipway_pool::{MemoryBudget, PoolConfig, PoolSettings, WarmPool};
use slipway_runtime::bollard::models::{
    ContainerCreateBody, HostConfig, PortBinding as EnginePortBinding,
};
use slipway_runtime::bollard::query_parameters::{
    CreateContainerOptions, RemoveContainerOptions, StartContainerOptions,
};
use slipway_runtime::bollard::Docker;
use slipway_store::SqliteStore;

use super::stats::{round, Samples};
use crate::commands::Outcome;
use crate::output::{ms, print_json, Table};
use slipway_app::Config;

const BENCH_LABEL: &str = "dev.slipway.bench";
const MEMORY: u64 = 64 << 20;

/// Options of `slipway bench pool`.
#[derive(Debug, Args)]
pub(crate) struct PoolBenchArgs {
    /// Warm claims (and cold creates) to measure.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    iterations: u32,
    /// Image to pool; it needs `tail`.
    #[arg(long, default_value = "busybox:latest")]
    image: ImageRef,
    /// Ready containers the pool keeps (refill throughput is measured filling this many).
    #[arg(long, default_value_t = 3)]
    target: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    endpoint: String,
    image: String,
    iterations: u32,
    claim_p50_ms: f64,
    claim_p99_ms: f64,
    cold_p50_ms: f64,
    cold_p99_ms: f64,
    /// Cold p50 over warm claim p50.
    speedup_p50: f64,
    refill_per_s: f64,
    hits: u64,
    misses: u64,
}

pub(crate) async fn run(config: &Config, args: PoolBenchArgs) -> anyhow::Result<Outcome> {
    let runtime = Arc::new(
        config
            .engine
            .connect()
            .await
            .context("failed to connect to the engine")?,
    );
    if !runtime.image_exists(&args.image).await? {
        anyhow::bail!(
            "image {} is not on the engine; pull or build it, or pass --image",
            args.image
        );
    }
    // A throwaway state so the benchmark never mixes with real pools.
    let state = tempfile::tempdir().context("failed to create a temporary state directory")?;
    let store = Arc::new(SqliteStore::open_in_dir(state.path())?);
    let bench_id = uuid::Uuid::new_v4().simple().to_string();
    let spec = ContainerSpec::new(args.image.clone())
        .with_cmd(["tail", "-f", "/dev/null"])
        .with_labels([(BENCH_LABEL.to_owned(), bench_id.clone())].into())
        .with_port(PortBinding::loopback(3000, None))
        .with_memory_limit(MEMORY);
    let pool_config = PoolConfig::new(spec.clone()).with_target_size(args.target);
    let key = pool_config.key();
    let settings = PoolSettings {
        budget: MemoryBudget::Fixed((u64::from(args.iterations) + args.target as u64 + 8) * MEMORY),
        port_range: config.pools.settings.port_range,
        ..PoolSettings::default()
    };
    let pool = WarmPool::builder(runtime.clone(), store)
        .with_pool(pool_config)
        .with_settings(settings)
        .start()
        .await?;

    let measured = measure(
        &pool,
        &key,
        &runtime.bollard(),
        &spec,
        &bench_id,
        args.iterations,
    )
    .await;
    // Whatever happened, nothing of this run stays on the engine.
    let _ = pool.drain().await;
    pool.shutdown(Duration::from_secs(30)).await?;
    let filter = LabelFilter::default().with(BENCH_LABEL, bench_id);
    for container in runtime.list_containers(&filter).await? {
        runtime
            .remove_container(&container.id, RemoveOptions::force())
            .await?;
    }
    let (claims, cold, refill_per_s) = measured?;
    let status = pool.status().await?.pools.remove(0);
    let report = Report {
        endpoint: runtime.endpoint(),
        image: args.image.to_string(),
        iterations: args.iterations,
        claim_p50_ms: round(claims.percentile(50.0), 3),
        claim_p99_ms: round(claims.percentile(99.0), 3),
        cold_p50_ms: round(cold.percentile(50.0), 2),
        cold_p99_ms: round(cold.percentile(99.0), 2),
        speedup_p50: round(
            cold.percentile(50.0) / claims.percentile(50.0).max(f64::EPSILON),
            1,
        ),
        refill_per_s: round(refill_per_s, 2),
        hits: status.hits,
        misses: status.misses,
    };
    if args.json {
        print_json(&report)?;
    } else {
        print_table(&report);
    }
    Ok(Outcome::Success)
}

async fn measure(
    pool: &WarmPool,
    key: &slipway_core::PoolKey,
    raw: &Docker,
    spec: &ContainerSpec,
    bench_id: &str,
    iterations: u32,
) -> anyhow::Result<(Samples, Samples, f64)> {
    let (mut claims, mut cold) = (Samples::default(), Samples::default());
    let mut leases: Vec<Lease> = Vec::new();
    for _ in 0..iterations {
        // Each claim meets a full pool: what a user sees on a host that keeps up.
        pool.fill(key).await?;
        let started = Instant::now();
        leases.push(pool.claim(key, "bench").await?);
        claims.push(started.elapsed());

        let (id, took) = cold_start(raw, spec, bench_id).await?;
        cold.push(took);
        raw.remove_container(
            &id,
            Some(RemoveContainerOptions {
                force: true,
                v: true,
                link: false,
            }),
        )
        .await?;
    }
    for lease in &leases {
        pool.release(lease).await?;
    }
    pool.drain().await?;
    let started = Instant::now();
    pool.fill(key).await?;
    let target = pool.status().await?.pools.first().map_or(0, |s| s.target);
    let refill_per_s = target as f64 / started.elapsed().as_secs_f64();
    Ok((claims, cold, refill_per_s))
}

/// Create and start with the same configuration as the pool's containers, as raw calls.
async fn cold_start(
    raw: &Docker,
    spec: &ContainerSpec,
    bench_id: &str,
) -> anyhow::Result<(String, Duration)> {
    let mut labels = spec.labels.clone();
    labels.extend(Scope::new(Role::Pool, &slipway_core::InstanceId::new("bench")).labels());
    labels.insert(BENCH_LABEL.into(), bench_id.into());
    let body = ContainerCreateBody {
        image: Some(spec.image.to_string()),
        cmd: spec.cmd.clone(),
        labels: Some(labels.into_iter().collect()),
        exposed_ports: Some(vec!["3000/tcp".into()]),
        host_config: Some(HostConfig {
            port_bindings: Some(
                [(
                    "3000/tcp".to_owned(),
                    Some(vec![EnginePortBinding {
                        host_ip: Some("127.0.0.1".into()),
                        host_port: Some(String::new()),
                    }]),
                )]
                .into(),
            ),
            memory: Some(MEMORY as i64),
            memory_swap: Some(MEMORY as i64),
            init: Some(true),
            ..HostConfig::default()
        }),
        ..ContainerCreateBody::default()
    };
    let started = Instant::now();
    let id = raw
        .create_container(None::<CreateContainerOptions>, body)
        .await?
        .id;
    raw.start_container(&id, None::<StartContainerOptions>)
        .await?;
    Ok((id, started.elapsed()))
}

fn print_table(report: &Report) {
    println!(
        "engine {}, image {}, {} claims\n",
        report.endpoint, report.image, report.iterations
    );
    let mut table = Table::new(["", "p50", "p99"]);
    table.row([
        "warm claim (slipway pool)".to_owned(),
        ms(report.claim_p50_ms),
        ms(report.claim_p99_ms),
    ]);
    table.row([
        "cold create+start (raw bollard)".to_owned(),
        ms(report.cold_p50_ms),
        ms(report.cold_p99_ms),
    ]);
    print!("{}", table.render());
    println!(
        "\nspeedup at p50: {:.1}x; refill: {:.2} containers/s; hits {}, misses {}",
        report.speedup_p50, report.refill_per_s, report.hits, report.misses
    );
}
