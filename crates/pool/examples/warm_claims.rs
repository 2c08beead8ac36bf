//! Keeps a pool of `IMAGE` (default `busybox:latest`) warm on the engine named by `DOCKER_HOST`, times five claims, then drains the pool.
//!
//! `cargo run --release -p slipway-pool --example warm_claims -- busybox:latest`

use std::sync::Arc;
use std::time::{Duration, Instant};

use slipway_core::{ContainerSpec, Pool};
use slipway_pool::{PoolConfig, WarmPool};
use slipway_runtime::{DockerRuntime, Endpoint};
use slipway_store::SqliteStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let image = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "busybox:latest".to_owned());
    let endpoint = Endpoint::from_docker_env(|key| std::env::var(key).ok())?;
    let runtime = Arc::new(DockerRuntime::builder(endpoint).bootstrap().await?);
    let state = tempfile::tempdir()?;
    let store = Arc::new(SqliteStore::open_in_dir(state.path())?);
    let spec = ContainerSpec::new(image.parse()?)
        .with_cmd(["tail", "-f", "/dev/null"])
        .with_memory_limit(64 << 20);
    let config = PoolConfig::new(spec).with_target_size(5);
    let key = config.key();
    let pool = WarmPool::builder(runtime, store)
        .with_pool(config)
        .start()
        .await?;

    pool.fill(&key).await?;
    let mut leases = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let lease = pool.claim(&key, "example").await?;
        println!(
            "claimed {} in {:?} (warm: {})",
            lease.container_name,
            started.elapsed(),
            lease.warm
        );
        leases.push(lease);
    }
    for lease in &leases {
        pool.release(lease).await?;
    }
    pool.drain().await?;
    pool.shutdown(Duration::from_secs(10)).await?;
    Ok(())
}
