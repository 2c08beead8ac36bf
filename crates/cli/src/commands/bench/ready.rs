//! The ready-environment part of `slipway bench setup`: environments of the bench repo's
//! default branch kept ready by [`Environments::fill_ready`], then taken by `up` — timed
//! from the request until the dev server answers HTTP.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use slipway_core::RepoCache;
use slipway_pool::{MemoryBudget, PoolSettings, WarmPool};
use slipway_provision::{EnvironmentSettings, Environments, SetupRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::setup::{Bench, MEMORY};
use super::stats::Samples;

/// How many hand-overs are timed.
const HANDOVERS: usize = 10;

/// Times [`HANDOVERS`] hand-overs of ready environments of the bench repo (which must have
/// its main image), each refilled untimed before the next.
pub(super) async fn handovers(bench: &Bench, cache: Arc<dyn RepoCache>) -> anyhow::Result<Samples> {
    let provisioner = Arc::new(bench.provisioner(cache)?);
    let settings = PoolSettings {
        budget: MemoryBudget::Fixed(4 << 30),
        ..PoolSettings::default()
    };
    let pool = WarmPool::builder(bench.runtime.clone(), bench.store.clone())
        .with_settings(settings)
        .start()
        .await?;
    let environments = Environments::new(
        bench.runtime.clone(),
        Arc::new(pool.clone()),
        bench.store.clone(),
        provisioner,
        EnvironmentSettings {
            base_image: bench.base_image.clone(),
            memory_bytes: MEMORY,
            ready_repos: vec![bench.repo.clone()],
            ..EnvironmentSettings::default()
        },
    );
    let timed = time_handovers(bench, &environments).await;
    for record in environments.list().await? {
        environments.destroy(&record.id).await?;
    }
    // Whatever is left ready goes with the bench's labelled containers.
    pool.shutdown(Duration::from_secs(10)).await?;
    timed
}

async fn time_handovers(bench: &Bench, environments: &Environments) -> anyhow::Result<Samples> {
    let mut samples = Samples::default();
    for _ in 0..HANDOVERS {
        let made = environments
            .fill_ready()
            .await
            .context("making a ready environment failed")?;
        anyhow::ensure!(made == 1, "no ready environment was made");
        let started = Instant::now();
        let record = environments
            .up(None, SetupRequest::new(bench.repo.clone()), None)
            .await?;
        let port = record
            .host_port
            .context("the environment has no host port")?;
        let answer = get(port).await?;
        samples.push(started.elapsed());
        anyhow::ensure!(
            answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"),
            "the dev server answered {answer:?}"
        );
        environments.destroy(&record.id).await?;
    }
    Ok(samples)
}

/// One `GET /` on loopback; the whole answer.
async fn get(port: u16) -> anyhow::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}
