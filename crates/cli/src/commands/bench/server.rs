//! A scratch `slipwayd` for the API benchmarks: its own state directory and config, started
//! as a process, stopped and cleaned up after.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use slipway_app::{Access, Config, Overrides, Services};
use slipway_core::labels::{self, LabelFilter};
use slipway_core::prelude::*;
use slipway_core::{ImageRef, RemoveOptions};

/// Lines the scratch server keeps per container (enough for the log benchmark's burst).
pub(crate) const LOG_LINES: usize = 200_000;

/// Memory of each environment in the benchmarks, MiB.
pub(crate) const MEMORY_MB: u64 = 32;

/// The scratch server and everything it made, removed when dropped.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) address: String,
    state: tempfile::TempDir,
}

impl Server {
    /// The scratch state directory the server owns.
    pub(crate) fn state_dir(&self) -> std::path::PathBuf {
        self.state.path().join("state")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a `slipwayd` (`binary`, else the one next to this executable) on a fresh
/// scratch state keeping `warm` containers of `image` warm, accepting `token`.
pub(crate) fn start_server(
    config: &Config,
    image: &ImageRef,
    warm: u32,
    binary: Option<&Path>,
    token: &str,
) -> anyhow::Result<Server> {
    let state = tempfile::tempdir().context("failed to create a scratch state directory")?;
    let config_file = state.path().join("slipway.toml");
    std::fs::write(
        &config_file,
        format!(
            "[pool]\nmemory_budget_mb = {}\n\n[provision]\nbase_image = \"{}\"\nmemory_mb = {MEMORY_MB}\n\
             warm_base = {}\n\n[server]\nlog_buffer_lines = {LOG_LINES}\n",
            (u64::from(warm) + 8) * MEMORY_MB * 2,
            image,
            warm,
        ),
    )
    .context("failed to write the scratch config")?;
    let binary = match binary {
        Some(path) => path.to_owned(),
        None => std::env::current_exe()?.with_file_name("slipwayd"),
    };
    let mut child = Command::new(&binary)
        .arg("--config")
        .arg(&config_file)
        .arg("--state-dir")
        .arg(state.path().join("state"))
        .args(["--listen", "127.0.0.1:0"])
        .arg("--host")
        .arg(config.engine.endpoint.to_string())
        .env("SLIPWAY_API_SECRET", token)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| {
            format!(
                "failed to start {} (build it with `cargo build --release -p slipway-api`, or \
                 pass --slipwayd)",
                binary.display()
            )
        })?;
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().context("no stdout")?),
        &mut line,
    )?;
    let address = line
        .trim()
        .strip_prefix("slipwayd listening on http://")
        .with_context(|| format!("slipwayd did not start: {line:?}"))?
        .to_owned();
    Ok(Server {
        child,
        address,
        state,
    })
}

/// A process's resident memory, MB.
pub(crate) fn rss_mb(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("failed to read the server's /proc status")?;
    let kb: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .context("no VmRSS in /proc status")?;
    Ok(kb / 1024.0)
}

/// Stops the server (gracefully: its pool finishes the creations under way) and removes
/// every container and network of its scratch state.
pub(crate) async fn remove_scratch(config: &Config, mut server: Server) -> anyhow::Result<()> {
    let _ = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.child.try_wait()?.is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = server.child.kill();
    let _ = server.child.wait();
    let scratch = Config::load(
        &Overrides {
            state_dir: Some(server.state.path().join("state")),
            ..Overrides::default()
        },
        &|_| None,
    )?;
    let services = Services::open(&scratch, Access::Records).await?;
    let instance = services.store().instance_id();
    let runtime = config.engine.connect().await?;
    let ours = LabelFilter::managed().with(labels::INSTANCE, instance.as_str());
    for container in runtime.list_containers(&ours).await? {
        runtime
            .remove_container(&container.id, RemoveOptions::force())
            .await?;
    }
    for network in runtime.list_networks(&ours).await? {
        runtime.remove_network(&network.id).await?;
    }
    Ok(())
}
