//! `slipway bench api`: a real `slipwayd` on a scratch state — `POST /api/containers` served
//! from its warm pool against `docker run -d` of the same image in the same run, `GET /health`
//! throughput over kept-alive connections, and the server's idle memory.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use slipway_app::Config;
use slipway_core::prelude::*;
use slipway_core::{ImageRef, IDLE_COMMAND};

use super::http::Connection;
use super::server::{remove_scratch, rss_mb, start_server, Server, MEMORY_MB};
use super::stats::{round, Samples};
use crate::commands::Outcome;
use crate::output::{ms, print_json, Table};

/// Options of `slipway bench api`.
#[derive(Debug, Args)]
pub(crate) struct ApiBenchArgs {
    /// Creates measured (through the API, and with `docker run -d`).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=500))]
    iterations: u32,
    /// Image of the environments; it needs `tail`.
    #[arg(long, default_value = "node:24-slim")]
    image: ImageRef,
    /// Seconds of `GET /health` load.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=60))]
    health_seconds: u64,
    /// Connections the health load is spread over.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    connections: u32,
    /// The `slipwayd` binary (default: next to this one).
    #[arg(long)]
    slipwayd: Option<std::path::PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    image: String,
    iterations: u32,
    create_pooled_p50_ms: f64,
    create_pooled_p99_ms: f64,
    /// Creates answered from a warm container.
    pooled_hits: u32,
    docker_run_p50_ms: f64,
    docker_run_p99_ms: f64,
    /// `docker run -d` p50 over pooled create p50.
    speedup_p50: f64,
    health_rps: f64,
    rss_idle_mb: f64,
}

pub(crate) async fn run(config: &Config, args: ApiBenchArgs) -> anyhow::Result<Outcome> {
    let runtime = config
        .engine
        .connect()
        .await
        .context("failed to connect to the engine")?;
    if !runtime.image_exists(&args.image).await? {
        anyhow::bail!(
            "image {} is not on the engine; pull or build it, or pass --image",
            args.image
        );
    }
    let token = uuid::Uuid::new_v4().simple().to_string();
    let server = start_server(
        config,
        &args.image,
        args.iterations + 2,
        args.slipwayd.as_deref(),
        &token,
    )?;
    let outcome = measure(config, &args, &server, &token).await;
    let cleanup = remove_scratch(config, server).await;
    let report = outcome?;
    cleanup?;
    if args.json {
        print_json(&report)?;
        return Ok(Outcome::Success);
    }
    let mut table = Table::new(["", "p50", "p99"]);
    table.row([
        "POST /api/containers (pooled)".to_owned(),
        ms(report.create_pooled_p50_ms),
        ms(report.create_pooled_p99_ms),
    ]);
    table.row([
        "docker run -d".to_owned(),
        ms(report.docker_run_p50_ms),
        ms(report.docker_run_p99_ms),
    ]);
    println!(
        "{} creates of {} ({} from the pool)\n",
        report.iterations, report.image, report.pooled_hits
    );
    print!("{}", table.render());
    println!(
        "\nspeedup p50 {:.1}x · GET /health {:.0} requests/s over {} connections · idle RSS {:.1} MB",
        report.speedup_p50, report.health_rps, args.connections, report.rss_idle_mb
    );
    Ok(Outcome::Success)
}

async fn measure(
    config: &Config,
    args: &ApiBenchArgs,
    server: &Server,
    token: &str,
) -> anyhow::Result<Report> {
    let mut connection = Connection::open(&server.address, token).await?;
    let wanted = u64::from(args.iterations);
    let deadline = Instant::now() + Duration::from_secs(30 + wanted * 3);
    loop {
        let health = connection.request("GET", "/health", None).await?;
        let body: serde_json::Value = serde_json::from_slice(&health.body).unwrap_or_default();
        if body["pool"]["ready"].as_u64() >= Some(wanted) {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the pool did not fill in time: {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Idle: nothing in flight for a moment.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle_mb = rss_mb(server.child.id())?;

    let mut pooled = Samples::default();
    let mut hits = 0;
    for n in 0..args.iterations {
        let body = format!(r#"{{"name":"bench-{n}"}}"#);
        let started = Instant::now();
        let answer = connection
            .request("POST", "/api/containers", Some(&body))
            .await?;
        pooled.push(started.elapsed());
        anyhow::ensure!(
            answer.status == 201,
            "create answered {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
        let created: serde_json::Value = serde_json::from_slice(&answer.body)?;
        if created["fromPool"] == true {
            hits += 1;
        }
    }

    let mut docker = Samples::default();
    let docker_host = config
        .engine
        .endpoint
        .to_string()
        .replace("tcp+tls://", "tcp://");
    let label = format!("{}={}", BENCH_RUN_LABEL, server.address);
    let mut made = Vec::new();
    for _ in 0..args.iterations {
        let started = Instant::now();
        let output = Command::new("docker")
            .args(["run", "-d", "--init", "--memory"])
            .arg(format!("{MEMORY_MB}m"))
            .args(["-p", "127.0.0.1::3000", "--label", &label])
            .arg(args.image.to_string())
            .args(IDLE_COMMAND)
            .env("DOCKER_HOST", &docker_host)
            .output()
            .context("failed to run the docker CLI")?;
        docker.push(started.elapsed());
        anyhow::ensure!(
            output.status.success(),
            "docker run failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        made.push(String::from_utf8_lossy(&output.stdout).trim().to_owned());
    }
    let _ = Command::new("docker")
        .args(["rm", "-f"])
        .args(&made)
        .env("DOCKER_HOST", &docker_host)
        .stdout(Stdio::null())
        .status();

    let health_rps = health_load(&server.address, token, args).await?;
    let pooled_p50 = pooled.percentile(50.0);
    Ok(Report {
        image: args.image.to_string(),
        iterations: args.iterations,
        create_pooled_p50_ms: round(pooled_p50, 2),
        create_pooled_p99_ms: round(pooled.percentile(99.0), 2),
        pooled_hits: hits,
        docker_run_p50_ms: round(docker.percentile(50.0), 2),
        docker_run_p99_ms: round(docker.percentile(99.0), 2),
        speedup_p50: round(docker.percentile(50.0) / pooled_p50, 1),
        health_rps: round(health_rps, 0),
        rss_idle_mb: round(rss_idle_mb, 1),
    })
}

/// The label on the `docker run` side's containers (never one of slipway's own).
const BENCH_RUN_LABEL: &str = "slipway-bench-api";

/// `GET /health` from every connection, back to back, for the configured time.
async fn health_load(address: &str, token: &str, args: &ApiBenchArgs) -> anyhow::Result<f64> {
    let until = Instant::now() + Duration::from_secs(args.health_seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.connections {
        let mut connection = Connection::open(address, token).await?;
        tasks.spawn(async move {
            let mut done = 0u64;
            while Instant::now() < until {
                let answer = connection.request("GET", "/health", None).await?;
                anyhow::ensure!(answer.status == 200, "health answered {}", answer.status);
                done += 1;
            }
            Ok(done)
        });
    }
    let started = Instant::now();
    let mut total = 0;
    while let Some(done) = tasks.join_next().await {
        total += done??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}
