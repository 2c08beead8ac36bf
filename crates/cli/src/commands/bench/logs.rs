//! `slipway bench logs`: a real `slipwayd`'s SSE log stream — lines per second of one
//! stream, the latency from the engine receiving a line to the client reading it, and the
//! server's memory with 1,000 streams open — against the engine's own log stream (bollard)
//! in the same run.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use futures_util::StreamExt;
use serde::Serialize;
use slipway_app::{Access, Config, Overrides, Services};
use slipway_core::prelude::*;
use slipway_core::{ContainerId, ImageRef, LogOptions, Timestamp};

use super::http::Connection;
use super::runtime::raw_exec;
use super::server::{remove_scratch, rss_mb, start_server, Server};
use super::stats::{round, Samples};
use crate::commands::Outcome;
use crate::output::print_json;

/// Options of `slipway bench logs`.
#[derive(Debug, Args)]
pub(crate) struct LogsBenchArgs {
    /// Lines written for the throughput measurement.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..=150_000))]
    lines: u32,
    /// Streams held open for the memory measurement.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=5000))]
    streams: u32,
    /// Image of the environment; it needs `sh`, `seq` and `usleep` (busybox) or `sleep`.
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
    lines: u32,
    lines_per_s: f64,
    raw_lines_per_s: f64,
    latency_p50_ms: f64,
    latency_p99_ms: f64,
    raw_latency_p99_ms: f64,
    streams: u32,
    rss_idle_mb: f64,
    rss_1000_streams_mb: f64,
}

/// Lines a reader saw: when each arrived and the engine's timestamp on it.
#[derive(Default)]
struct Seen {
    arrivals: Vec<(Instant, String, i64)>,
}

pub(crate) async fn run(config: &Config, args: LogsBenchArgs) -> anyhow::Result<Outcome> {
    let token = uuid::Uuid::new_v4().simple().to_string();
    let server = start_server(config, &args.image, 0, args.slipwayd.as_deref(), &token)?;
    let measured = measure(config, &args, &server, &token).await;
    let cleanup = remove_scratch(config, server).await;
    let report = measured?;
    cleanup?;
    if args.json {
        print_json(&report)?;
        return Ok(Outcome::Success);
    }
    println!(
        "one SSE stream: {:.0} lines/s (engine log stream: {:.0}); latency p50 {:.2} ms, p99 {:.2} ms \
         (engine: p99 {:.2} ms); {} streams open: {:.1} MB resident ({:.1} MB idle)",
        report.lines_per_s,
        report.raw_lines_per_s,
        report.latency_p50_ms,
        report.latency_p99_ms,
        report.raw_latency_p99_ms,
        report.streams,
        report.rss_1000_streams_mb,
        report.rss_idle_mb
    );
    Ok(Outcome::Success)
}

async fn measure(
    config: &Config,
    args: &LogsBenchArgs,
    server: &Server,
    token: &str,
) -> anyhow::Result<Report> {
    let mut connection = Connection::open(&server.address, token).await?;
    let created = connection
        .request("POST", "/api/containers", Some(r#"{"name":"bench-logs"}"#))
        .await?;
    anyhow::ensure!(created.status == 201, "create answered {}", created.status);
    let body: serde_json::Value = serde_json::from_slice(&created.body)?;
    let id = body["id"].as_str().context("no id")?.to_owned();
    let container = container_of(server, &id).await?;
    let runtime = std::sync::Arc::new(config.engine.connect().await?);
    let docker = runtime.bollard();
    let url = format!(
        "http://{}/api/containers/{id}/logs?token={token}",
        server.address
    );
    let client = reqwest::Client::new();

    // Throughput: one burst of `seq`, read through the API and through the engine at once.
    let api = tokio::spawn(read_sse(
        client.clone(),
        url.clone(),
        None,
        u64::from(args.lines),
        "burst-",
    ));
    let raw = tokio::spawn(read_engine(
        runtime.clone(),
        container.clone(),
        u64::from(args.lines),
        "burst-",
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let script = format!("seq 1 {} | sed 's/^/burst-/' > /proc/1/fd/1", args.lines);
    raw_exec(&docker, container.as_str(), vec!["sh", "-c", &script]).await?;
    let api_seen = api.await??;
    let raw_seen = raw.await??;
    let lines_per_s = rate(&api_seen);
    let raw_lines_per_s = rate(&raw_seen);

    // Latency: paced lines, each compared with the engine's own timestamp on it.
    let paced = 200u64;
    let after = u64::from(args.lines);
    let api = tokio::spawn(read_sse(
        client.clone(),
        url.clone(),
        Some(after),
        paced,
        "paced-",
    ));
    let raw = tokio::spawn(read_engine(
        runtime.clone(),
        container.clone(),
        paced,
        "paced-",
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let script = format!(
        "for i in $(seq 1 {paced}); do echo paced-$i > /proc/1/fd/1; usleep 5000 2>/dev/null || sleep 0.005; done"
    );
    raw_exec(&docker, container.as_str(), vec!["sh", "-c", &script]).await?;
    let latency = latencies(&api.await??);
    let raw_latency = latencies(&raw.await??);

    // Memory: many streams open at once, each having read its first event.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle_mb = rss_mb(server.child.id())?;
    let mut open = Vec::new();
    for _ in 0..args.streams {
        let response = client
            .get(format!("{url}&tail=1"))
            .send()
            .await
            .context("failed to open a log stream")?;
        let mut body = response.bytes_stream();
        body.next().await.context("a stream ended at once")??;
        open.push(body);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_streams = rss_mb(server.child.id())?;
    drop(open);
    let _ = connection
        .request("DELETE", &format!("/api/containers/{id}"), None)
        .await;
    Ok(Report {
        image: args.image.to_string(),
        lines: args.lines,
        lines_per_s: round(lines_per_s, 0),
        raw_lines_per_s: round(raw_lines_per_s, 0),
        latency_p50_ms: round(latency.percentile(50.0), 2),
        latency_p99_ms: round(latency.percentile(99.0), 2),
        raw_latency_p99_ms: round(raw_latency.percentile(99.0), 2),
        streams: args.streams,
        rss_idle_mb: round(rss_idle_mb, 1),
        rss_1000_streams_mb: round(rss_streams, 1),
    })
}

/// The engine container of environment `id` of the scratch server.
pub(crate) async fn container_of(server: &Server, id: &str) -> anyhow::Result<ContainerId> {
    let scratch = Config::load(
        &Overrides {
            state_dir: Some(server.state_dir()),
            ..Overrides::default()
        },
        &|_| None,
    )?;
    let records = Services::open(&scratch, Access::Records).await?;
    records
        .store()
        .environment(id)
        .await?
        .and_then(|r| r.container_id)
        .context("the created environment has no container")
}

/// Lines per second from the first to the last arrival.
fn rate(seen: &Seen) -> f64 {
    match (seen.arrivals.first(), seen.arrivals.last()) {
        (Some(first), Some(last)) if seen.arrivals.len() > 1 => {
            let span = last.0.duration_since(first.0).as_secs_f64().max(1e-6);
            (seen.arrivals.len() - 1) as f64 / span
        }
        _ => 0.0,
    }
}

/// Arrival minus the engine's timestamp, per line.
fn latencies(seen: &Seen) -> Samples {
    let now_ms = Timestamp::now().unix_millis();
    let now = Instant::now();
    let mut samples = Samples::default();
    for (arrived, _, stamped) in &seen.arrivals {
        let arrived_ms = now_ms as f64 - now.duration_since(*arrived).as_secs_f64() * 1000.0;
        let ms = (arrived_ms - *stamped as f64).max(0.0);
        samples.push(Duration::from_secs_f64(ms / 1000.0));
    }
    samples
}

/// Reads the SSE stream at `url` (after line `after`) until `count` lines starting with
/// `prefix` arrived.
async fn read_sse(
    client: reqwest::Client,
    url: String,
    after: Option<u64>,
    count: u64,
    prefix: &'static str,
) -> anyhow::Result<Seen> {
    let mut request = client.get(&url);
    if let Some(after) = after {
        request = request.header("last-event-id", after.to_string());
    }
    let mut body = request.send().await?.bytes_stream();
    let mut buffered = Vec::new();
    let mut seen = Seen::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while (seen.arrivals.len() as u64) < count {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .context("the log stream stalled")?
            .context("the log stream ended")??;
        let arrived = Instant::now();
        buffered.extend_from_slice(&chunk);
        while let Some(end) = buffered.windows(2).position(|w| w == b"\n\n") {
            let frame: Vec<u8> = buffered.drain(..end + 2).collect();
            for line in String::from_utf8_lossy(&frame).lines() {
                let Some(data) = line.strip_prefix("data: ") else {
                    continue;
                };
                let Ok(value) = serde_json::from_str::<serde_json::Value>(data) else {
                    continue;
                };
                let Some(text) = value["line"].as_str().filter(|t| t.starts_with(prefix)) else {
                    continue;
                };
                let stamped = value["timestamp"].as_i64().unwrap_or_default();
                seen.arrivals.push((arrived, text.to_owned(), stamped));
            }
        }
    }
    Ok(seen)
}

/// The same from the engine's log stream directly.
async fn read_engine(
    runtime: std::sync::Arc<slipway_runtime::DockerRuntime>,
    container: ContainerId,
    count: u64,
    prefix: &'static str,
) -> anyhow::Result<Seen> {
    let options = LogOptions {
        follow: true,
        since: Some(Timestamp::now()),
        ..LogOptions::default()
    };
    let mut lines = runtime.logs(&container, &options);
    let mut seen = Seen::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while (seen.arrivals.len() as u64) < count {
        let line = tokio::time::timeout_at(deadline, lines.next())
            .await
            .context("the engine's log stream stalled")?
            .context("the engine's log stream ended")??;
        if line.line.starts_with(prefix) {
            let stamped = line.timestamp.map_or(0, Timestamp::unix_millis);
            seen.arrivals.push((Instant::now(), line.line, stamped));
        }
    }
    Ok(seen)
}
