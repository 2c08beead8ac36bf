//! Starts a container on the engine named by `DOCKER_HOST` (or the local socket), runs a command with a timeout, prints its output and removes the container.
//!
//! `cargo run -p slipway-runtime --example run_a_command -- busybox:latest echo hello`

use std::time::Duration;

use slipway_core::prelude::*;
use slipway_core::{run_container, ContainerSpec, ExecRequest, RemoveOptions};
use slipway_runtime::{DockerRuntime, Endpoint};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let image = args.next().unwrap_or_else(|| "busybox:latest".to_owned());
    let command: Vec<String> = args.collect();
    let command = if command.is_empty() {
        vec!["uname".into(), "-a".into()]
    } else {
        command
    };

    let endpoint = Endpoint::from_docker_env(|key| std::env::var(key).ok())?;
    let runtime = DockerRuntime::builder(endpoint).bootstrap().await?;
    let spec = ContainerSpec::new(image.parse()?)
        .with_cmd(["sleep", "300"])
        .with_init(true);
    let id = run_container(&runtime, &spec).await?;

    let outcome = runtime
        .exec(
            &id,
            &ExecRequest::new(command).with_timeout(Duration::from_secs(30)),
        )
        .await;
    runtime
        .remove_container(&id, RemoveOptions::force())
        .await?;
    let outcome = outcome?;
    print!("{}", outcome.stdout_text());
    eprint!("{}", outcome.stderr_text());
    println!(
        "exit code {:?} after {:?}",
        outcome.exit_code, outcome.duration
    );
    Ok(())
}
