//! `slipway bench terminal`: the echo round trip of one keystroke through a real
//! `slipwayd`'s WebSocket terminal against the same through a raw engine TTY exec in the
//! same container, interleaved; what slipwayd adds at p99.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use slipway_core::prelude::*;
use slipway_core::{ImageRef, TtyRequest};
use tokio_tungstenite::tungstenite::Message;

use super::http::Connection;
use super::logs::container_of;
use super::server::{remove_scratch, start_server};
use super::stats::{round, Samples};
use crate::commands::Outcome;
use crate::output::print_json;

/// Options of `slipway bench terminal`.
#[derive(Debug, Args)]
pub(crate) struct TerminalBenchArgs {
    /// Keystrokes measured each way.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=2000))]
    keystrokes: u32,
    /// Image of the environment; it needs `sh`.
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
    keystrokes: u32,
    terminal_p50_ms: f64,
    terminal_p99_ms: f64,
    raw_tty_p50_ms: f64,
    raw_tty_p99_ms: f64,
    /// slipwayd's p99 minus the raw TTY's p99.
    terminal_added_p99_ms: f64,
}

pub(crate) async fn run(
    config: &slipway_app::Config,
    args: TerminalBenchArgs,
) -> anyhow::Result<Outcome> {
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
        "keystroke echo through slipwayd: p50 {:.2} ms, p99 {:.2} ms; raw engine TTY: p50 {:.2} ms, \
         p99 {:.2} ms; added at p99: {:.2} ms",
        report.terminal_p50_ms,
        report.terminal_p99_ms,
        report.raw_tty_p50_ms,
        report.raw_tty_p99_ms,
        report.terminal_added_p99_ms
    );
    Ok(Outcome::Success)
}

async fn measure(
    config: &slipway_app::Config,
    args: &TerminalBenchArgs,
    server: &super::server::Server,
    token: &str,
) -> anyhow::Result<Report> {
    let mut connection = Connection::open(&server.address, token).await?;
    let created = connection
        .request(
            "POST",
            "/api/containers",
            Some(r#"{"name":"bench-terminal"}"#),
        )
        .await?;
    anyhow::ensure!(created.status == 201, "create answered {}", created.status);
    let body: serde_json::Value = serde_json::from_slice(&created.body)?;
    let id = body["id"].as_str().context("no id")?.to_owned();
    let container = container_of(server, &id).await?;
    let runtime = config.engine.connect().await?;

    let url = format!(
        "ws://{}/api/containers/{id}/terminal?token={token}",
        server.address
    );
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(&url, None, true)
        .await
        .context("failed to open the terminal")?;
    let mut raw = runtime
        .exec_tty(&container, &TtyRequest::new(["/bin/sh", "-i"]))
        .await?;
    // Let both shells print their prompts before timing anything.
    tokio::time::sleep(Duration::from_millis(500)).await;
    drain_socket(&mut socket).await;
    drain_raw(&mut raw).await;

    let mut api = Samples::default();
    let mut direct = Samples::default();
    for n in 0..args.keystrokes {
        let key = [b'a' + (n % 26) as u8];
        let started = Instant::now();
        socket.send(Message::Binary(key.to_vec().into())).await?;
        loop {
            match tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
                Ok(Some(Ok(Message::Binary(data)))) if data.contains(&key[0]) => break,
                Ok(Some(Ok(_))) => {}
                other => anyhow::bail!("no echo through slipwayd: {other:?}"),
            }
        }
        api.push(started.elapsed());
        let started = Instant::now();
        raw.input.write(&key).await?;
        loop {
            match tokio::time::timeout(Duration::from_secs(5), raw.output.next()).await {
                Ok(Some(Ok(data))) if data.contains(&key[0]) => break,
                Ok(Some(Ok(_))) => {}
                other => anyhow::bail!("no echo from the engine's TTY: {other:?}"),
            }
        }
        direct.push(started.elapsed());
    }
    let _ = socket
        .send(Message::Text(r#"{"type":"close"}"#.into()))
        .await;
    let _ = raw.input.write(b"\x15exit\n").await;
    let _ = connection
        .request("DELETE", &format!("/api/containers/{id}"), None)
        .await;
    let (api99, raw99) = (api.percentile(99.0), direct.percentile(99.0));
    Ok(Report {
        image: args.image.to_string(),
        keystrokes: args.keystrokes,
        terminal_p50_ms: round(api.percentile(50.0), 2),
        terminal_p99_ms: round(api99, 2),
        raw_tty_p50_ms: round(direct.percentile(50.0), 2),
        raw_tty_p99_ms: round(raw99, 2),
        terminal_added_p99_ms: round((api99 - raw99).max(0.0), 2),
    })
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn drain_socket(socket: &mut Socket) {
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(100), socket.next()).await {}
}

async fn drain_raw(session: &mut slipway_core::TtySession) {
    while let Ok(Some(_)) =
        tokio::time::timeout(Duration::from_millis(100), session.output.next()).await
    {}
}
