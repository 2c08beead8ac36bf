//! Sets up `OWNER/REPO` (default branch, from GitHub unless `SLIPWAY_REPO_URL_TEMPLATE` says
//! otherwise) in a fresh container of `IMAGE` and prints the dev server's URL; `--keep` leaves
//! it running.
//!
//! `cargo run -p slipway-provision --example set_up_a_repo -- octo-org/hello-web node:24-slim`

use std::sync::Arc;

use slipway_core::prelude::*;
use slipway_core::{run_container, InstanceId, RemoveOptions};
use slipway_provision::{GitRepoCache, ProvisionConfig, Provisioner, SetupRequest};
use slipway_runtime::{DockerRuntime, Endpoint};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let repo = args
        .next()
        .ok_or("usage: set_up_a_repo OWNER/REPO [IMAGE] [--keep]")?
        .parse()?;
    let image = args
        .next()
        .unwrap_or_else(|| "node:24-slim".into())
        .parse()?;
    let keep = args.any(|a| a == "--keep");
    let endpoint = Endpoint::from_docker_env(|key| std::env::var(key).ok())?;
    let runtime = Arc::new(DockerRuntime::builder(endpoint).bootstrap().await?);
    let state = tempfile::tempdir()?;
    let mut cache = GitRepoCache::new(state.path().join("repo-cache"));
    if let Ok(template) = std::env::var("SLIPWAY_REPO_URL_TEMPLATE") {
        cache = cache.with_url_template(&template)?;
    }
    let provisioner = Provisioner::new(
        runtime.clone(),
        Arc::new(cache),
        InstanceId::new("example"),
        ProvisionConfig::default(),
    )?;
    provisioner.ensure_dependency_volume(&repo).await?;
    let spec = provisioner.container_spec(Some(&repo), image, 512 << 20)?;
    let container = run_container(runtime.as_ref(), &spec).await?;
    let outcome = provisioner
        .setup(&container, &SetupRequest::new(repo), None)
        .await;
    let info = runtime.inspect_container(&container).await?;
    match &outcome {
        Ok(outcome) => println!(
            "{} at {} serves http://127.0.0.1:{}",
            outcome.branch,
            outcome.commit,
            info.host_port(3000).unwrap_or_default()
        ),
        Err(error) => eprintln!("setup failed: {error}"),
    }
    if !keep {
        runtime
            .remove_container(&container, RemoveOptions::force())
            .await?;
    }
    outcome?;
    Ok(())
}
