//! `slipway run|runs|stop|clean|audit`: runs with Docker inside.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use futures_util::StreamExt;
use slipway_buildkit::{BuildkitSidecar, CleanOptions, HealthProbe, RunManager, RunSpec};
use slipway_core::prelude::*;
use slipway_core::{
    AuditFilter, ContainerName, DockerMode, ImageRef, LogOptions, LogSource, PrivilegeProfile,
    RunId, RunRecord,
};
use slipway_runtime::DockerRuntime;

use crate::commands::{parse_env_pair, Outcome};
use crate::config::{Config, Privilege};
use crate::output::{print_json, Table};
use crate::wiring::{connect, open_store};

/// How long a run's record may sit in `creating`/`stopping` before start-up recovery
/// treats it as abandoned (another slipway process may be working on it).
const RECOVERY_GRACE: Duration = Duration::from_secs(120);

/// The Docker access of `slipway run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DockerArg {
    /// No Docker inside.
    None,
    /// The host engine's socket (host root).
    Host,
    /// An own daemon with a BuildKit sidecar.
    Dind,
}

/// Options of `slipway run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// How the run gets Docker.
    #[arg(long, value_enum, default_value_t = DockerArg::None)]
    docker: DockerArg,
    /// The main container's image (default: buildkit.run_image).
    #[arg(long)]
    image: Option<ImageRef>,
    /// The main container's name.
    #[arg(long)]
    name: Option<ContainerName>,
    /// Follow the run's output until it exits, then stop it and exit with its code.
    #[arg(long)]
    attach: bool,
    #[command(flatten)]
    sidecar: SidecarArgs,
    /// Environment variables, `KEY=VALUE`.
    #[arg(long = "env", short = 'e', value_name = "KEY=VALUE", value_parser = parse_env_pair)]
    env: Vec<(String, String)>,
    /// The command (default: the image's).
    #[arg(last = true)]
    command: Vec<String>,
}

/// Options of `slipway clean`.
#[derive(Debug, Args)]
pub(crate) struct CleanArgs {
    /// Show what would be removed; remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// Also remove BuildKit state volumes unused for `--volume-days`.
    #[arg(long)]
    volumes: bool,
    /// Days without a run after which a state volume counts as unused.
    #[arg(long, default_value_t = 30)]
    volume_days: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Options of `slipway audit`.
#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// Check the hash chain; exit 1 when it is broken.
    #[arg(long)]
    verify: bool,
    /// Only this run's events.
    #[arg(long)]
    run: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// The sidecar and privilege flags of `slipway run` and `slipway bench run`.
#[derive(Debug, Args)]
pub(crate) struct SidecarArgs {
    /// The privilege of a dind run and its sidecar (default: buildkit.privilege).
    #[arg(long, value_enum)]
    privilege: Option<Privilege>,
    /// The BuildKit sidecar image (default: buildkit.image).
    #[arg(long)]
    buildkit_image: Option<ImageRef>,
    /// How the sidecar's health is checked (default: buildkit.probe).
    #[arg(long, value_parser = parse_probe)]
    buildkit_probe: Option<HealthProbe>,
}

impl SidecarArgs {
    /// The configured sidecar with these flags applied, and the privilege of dind runs.
    pub(crate) fn resolve(
        self,
        config: &Config,
    ) -> (slipway_buildkit::BuildkitConfig, PrivilegeProfile) {
        let mut buildkit = config.runs.buildkit.clone();
        let privilege = self.privilege.unwrap_or(config.runs.privilege).profile();
        buildkit.privilege = privilege.clone();
        if let Some(image) = self.buildkit_image {
            buildkit.image = image;
        }
        if let Some(probe) = self.buildkit_probe {
            buildkit.probe = probe;
        }
        (buildkit, privilege)
    }
}

fn parse_probe(text: &str) -> Result<HealthProbe, String> {
    text.parse().map_err(|e: slipway_core::Error| e.to_string())
}

/// The engine, the state and a run manager, after start-up recovery.
pub(crate) struct RunStack {
    pub(crate) runtime: Arc<DockerRuntime>,
    pub(crate) manager: RunManager,
}

/// Wires a [`RunManager`] from the configuration and settles runs a crash left behind.
pub(crate) async fn open_runs(
    config: &Config,
    buildkit: slipway_buildkit::BuildkitConfig,
) -> anyhow::Result<RunStack> {
    let runtime = connect(config).await?;
    let store = open_store(config)?;
    let sidecar = BuildkitSidecar::new(runtime.clone(), store.instance_id(), buildkit)?;
    let manager = RunManager::new(
        runtime.clone(),
        runtime.clone(),
        store.clone(),
        Arc::new(sidecar),
        store.instance_id(),
    );
    let settled = manager
        .recover_idle_for(RECOVERY_GRACE)
        .await
        .context("failed to recover runs left by an earlier crash")?;
    for run in settled {
        eprintln!("recovered run {run}: its resources were removed");
    }
    Ok(RunStack { runtime, manager })
}

pub(crate) async fn run(config: &Config, args: RunArgs) -> anyhow::Result<Outcome> {
    let (buildkit, privilege) = args.sidecar.resolve(config);
    let stack = open_runs(config, buildkit).await?;
    let mut spec = RunSpec::new(args.image.unwrap_or_else(|| config.runs.run_image.clone()))
        .with_docker(match args.docker {
            DockerArg::None => DockerMode::None,
            DockerArg::Host => DockerMode::Host,
            DockerArg::Dind => DockerMode::Dind,
        })
        .with_command(args.command);
    if args.docker == DockerArg::Dind {
        spec = spec.with_privilege(privilege);
    }
    spec.name = args.name;
    spec.env.extend(args.env);
    let record = stack
        .manager
        .create(spec)
        .await
        .context("failed to create the run")?;
    if !args.attach {
        println!("{}", record.id);
        return Ok(Outcome::Success);
    }
    let main = record
        .main_container_id
        .clone()
        .context("the run has no main container")?;
    let options = LogOptions {
        follow: true,
        ..LogOptions::default()
    };
    let mut lines = stack.runtime.logs(&main, &options);
    while let Some(line) = lines.next().await {
        let line = line?;
        match line.source {
            LogSource::Stderr => eprintln!("{}", line.line),
            _ => println!("{}", line.line),
        }
    }
    let code = stack.runtime.wait_container(&main).await?;
    stack.manager.stop(&record.id).await?;
    Ok(Outcome::Exit(u8::try_from(code).unwrap_or(1)))
}

pub(crate) async fn runs(config: &Config, json: bool) -> anyhow::Result<Outcome> {
    let stack = open_runs(config, config.runs.buildkit.clone()).await?;
    let runs = stack.manager.list().await?;
    if json {
        print_json(&runs)?;
    } else {
        print_runs(&runs);
    }
    Ok(Outcome::Success)
}

pub(crate) async fn stop(config: &Config, run: String) -> anyhow::Result<Outcome> {
    let stack = open_runs(config, config.runs.buildkit.clone()).await?;
    let record = stack
        .manager
        .stop(&RunId::new(run.clone()))
        .await
        .with_context(|| format!("failed to stop run {run}"))?;
    println!("{} {}", record.id, state_name(&record));
    Ok(Outcome::Success)
}

pub(crate) async fn clean(config: &Config, args: CleanArgs) -> anyhow::Result<Outcome> {
    let stack = open_runs(config, config.runs.buildkit.clone()).await?;
    let options = CleanOptions {
        dry_run: args.dry_run,
        volumes_unused_for: args
            .volumes
            .then(|| Duration::from_secs(args.volume_days * 24 * 3600)),
    };
    let report = stack.manager.clean(&options).await?;
    if args.json {
        print_json(&report)?;
        return Ok(Outcome::Success);
    }
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for (kind, names) in [
        ("container", &report.containers),
        ("network", &report.networks),
        ("volume", &report.volumes),
    ] {
        for name in names {
            println!("{verb} {kind} {name}");
        }
    }
    if report.containers.is_empty() && report.networks.is_empty() && report.volumes.is_empty() {
        println!("nothing to clean");
    }
    Ok(Outcome::Success)
}

pub(crate) async fn audit(config: &Config, args: AuditArgs) -> anyhow::Result<Outcome> {
    let store = open_store(config)?;
    if args.verify {
        let verification = store.verify_audit().await?;
        if args.json {
            print_json(&verification)?;
        } else if let Some(problem) = &verification.problem {
            println!(
                "audit log BROKEN after {} entries: {problem:?}",
                verification.entries
            );
        } else {
            println!("audit log intact: {} entries", verification.entries);
        }
        return Ok(if verification.is_intact() {
            Outcome::Success
        } else {
            Outcome::Failed
        });
    }
    let filter = AuditFilter {
        run_id: args.run.map(RunId::new),
        ..AuditFilter::default()
    };
    let entries = store.audit_entries(&filter).await?;
    if args.json {
        print_json(&entries)?;
        return Ok(Outcome::Success);
    }
    let mut table = Table::new(["seq", "age", "event", "run", "resources", "detail"]);
    for entry in entries {
        table.row([
            entry.seq.to_string(),
            format!("{}s ago", entry.at.elapsed().as_secs()),
            entry.event.kind,
            entry
                .event
                .run_id
                .map(|r| r.to_string())
                .unwrap_or_default(),
            entry
                .event
                .resources
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
            entry.event.detail.unwrap_or_default(),
        ]);
    }
    print!("{}", table.render());
    Ok(Outcome::Success)
}

fn state_name(record: &RunRecord) -> String {
    format!("{:?}", record.state).to_lowercase()
}

fn print_runs(runs: &[RunRecord]) {
    let mut table = Table::new(["id", "mode", "image", "state", "age", "error"]);
    for run in runs {
        let age = run.created_at.elapsed().as_secs();
        table.row([
            run.id.to_string(),
            format!("{:?}", run.mode).to_lowercase(),
            run.image.to_string(),
            state_name(run),
            format!("{}m{:02}s", age / 60, age % 60),
            run.error
                .as_deref()
                .and_then(|e| e.lines().next())
                .unwrap_or_default()
                .to_owned(),
        ]);
    }
    print!("{}", table.render());
}
