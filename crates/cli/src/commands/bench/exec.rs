//! `slipway bench exec`: `POST /api/containers/{id}/exec` of a real `slipwayd` against a raw
//! bollard exec of the same command in the same container, interleaved in one run.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use slipway_app::{Access, Config, Overrides, Services};
use slipway_core::ImageRef;

use super::http::Connection;
use super::runtime::raw_exec;
use super::server::{remove_scratch, start_server};
use super::stats::{Comparison, Samples};
use crate::commands::Outcome;
use crate::output::{ms, print_json, Table};

/// Options of `slipway bench exec`.
#[derive(Debug, Args)]
pub(crate) struct ExecBenchArgs {
    /// Execs measured of each kind.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=1000))]
    iterations: u32,
    /// Image of the environment; it needs `tail` and `true`.
    #[arg(long, default_value = "node:24-slim")]
    image: ImageRef,
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
    exec_p50_ms: f64,
    exec_p99_ms: f64,
    raw_exec_p50_ms: f64,
    raw_exec_p99_ms: f64,
    /// API exec p50 over raw bollard exec p50.
    exec_ratio_p50: f64,
}

pub(crate) async fn run(config: &Config, args: ExecBenchArgs) -> anyhow::Result<Outcome> {
    let token = uuid::Uuid::new_v4().simple().to_string();
    let server = start_server(config, &args.image, 0, args.slipwayd.as_deref(), &token)?;
    let measured = measure(config, &args, &server, &token).await;
    let cleanup = remove_scratch(config, server).await;
    let comparison = measured?;
    cleanup?;
    let report = Report {
        image: args.image.to_string(),
        iterations: args.iterations,
        exec_p50_ms: comparison.slipway_p50_ms,
        exec_p99_ms: comparison.slipway_p99_ms,
        raw_exec_p50_ms: comparison.raw_p50_ms,
        raw_exec_p99_ms: comparison.raw_p99_ms,
        exec_ratio_p50: comparison.ratio_p50,
    };
    if args.json {
        print_json(&report)?;
        return Ok(Outcome::Success);
    }
    let mut table = Table::new(["", "p50", "p99"]);
    table.row([
        "POST /api/containers/{id}/exec".to_owned(),
        ms(report.exec_p50_ms),
        ms(report.exec_p99_ms),
    ]);
    table.row([
        "raw bollard exec".to_owned(),
        ms(report.raw_exec_p50_ms),
        ms(report.raw_exec_p99_ms),
    ]);
    println!(
        "{} execs of `true` of each, interleaved\n",
        report.iterations
    );
    print!("{}", table.render());
    println!("\nratio p50 {:.3}", report.exec_ratio_p50);
    Ok(Outcome::Success)
}

async fn measure(
    config: &Config,
    args: &ExecBenchArgs,
    server: &super::server::Server,
    token: &str,
) -> anyhow::Result<Comparison> {
    let mut connection = Connection::open(&server.address, token).await?;
    let created = connection
        .request("POST", "/api/containers", Some(r#"{"name":"bench-exec"}"#))
        .await?;
    anyhow::ensure!(
        created.status == 201,
        "create answered {}: {}",
        created.status,
        String::from_utf8_lossy(&created.body)
    );
    let body: serde_json::Value = serde_json::from_slice(&created.body)?;
    let id = body["id"].as_str().context("no id in the create answer")?;
    let scratch = Config::load(
        &Overrides {
            state_dir: Some(server.state_dir()),
            ..Overrides::default()
        },
        &|_| None,
    )?;
    let records = Services::open(&scratch, Access::Records).await?;
    let container = records
        .store()
        .environment(id)
        .await?
        .and_then(|r| r.container_id)
        .context("the created environment has no container")?;
    let docker = config.engine.connect().await?.bollard();
    let path = format!("/api/containers/{id}/exec");
    let body = r#"{"command":["true"],"timeout":30000}"#;
    let mut api = Samples::default();
    let mut raw = Samples::default();
    for _ in 0..args.iterations {
        let started = Instant::now();
        let answer = connection.request("POST", &path, Some(body)).await?;
        api.push(started.elapsed());
        anyhow::ensure!(
            answer.status == 200
                && String::from_utf8_lossy(&answer.body).contains("\"exitCode\":0"),
            "exec answered {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
        let started = Instant::now();
        let code = raw_exec(&docker, container.as_str(), vec!["true"]).await?;
        raw.push(started.elapsed());
        anyhow::ensure!(code == Some(0), "the raw exec of `true` failed");
    }
    let _ = connection
        .request("DELETE", &format!("/api/containers/{id}"), None)
        .await;
    // Let the engine settle the removal before the scratch cleanup looks.
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(Comparison::of(&api, &raw))
}
