//! Starts a `docker:dind` run of `IMAGE` (default `docker:28-dind`) with a BuildKit sidecar,
//! prints what `BUILDKIT_HOST` says inside, waits for it, and stops it.
//!
//! `cargo run -p slipway-buildkit --example dind_run -- docker:28-dind`

use std::sync::Arc;

use slipway_buildkit::{BuildkitConfig, BuildkitSidecar, RunManager, RunSpec};
use slipway_core::prelude::*;
use slipway_core::DockerMode;
use slipway_runtime::{DockerRuntime, Endpoint};
use slipway_store::SqliteStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let image = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "docker:28-dind".into())
        .parse()?;
    let endpoint = Endpoint::from_docker_env(|key| std::env::var(key).ok())?;
    let runtime = Arc::new(DockerRuntime::builder(endpoint).bootstrap().await?);
    let state = tempfile::tempdir()?;
    let store = Arc::new(SqliteStore::open_in_dir(state.path())?);
    let sidecar = BuildkitSidecar::new(
        runtime.clone(),
        store.instance_id(),
        BuildkitConfig::default(),
    )?;
    let runs = RunManager::new(
        runtime.clone(),
        runtime,
        store.clone(),
        Arc::new(sidecar),
        store.instance_id(),
    );
    let spec = RunSpec::new(image)
        .with_docker(DockerMode::Dind)
        .with_command(["sh", "-c", "echo BUILDKIT_HOST=$BUILDKIT_HOST"]);
    let run = runs.create(spec).await?;
    println!("run {} exited with {}", run.id, runs.wait(&run.id).await?);
    runs.stop(&run.id).await?;
    Ok(())
}
