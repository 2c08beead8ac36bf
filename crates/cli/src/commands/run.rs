//! `slipway run|runs|stop|clean`: runs with Docker inside.

use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use futures_util::StreamExt;
use slipway_app::config::PrivilegeChoice;
use slipway_app::{Access, Config, Services};
use slipway_buildkit::{CleanOptions, HealthProbe, RunSpec, SidecarOverrides};
use slipway_core::{ContainerName, DockerMode, ImageRef, LogSource, RunId, RunRecord};

use crate::commands::{own, own_if_free, parse_env_pair, Outcome, SHUTDOWN};
use crate::output::{age, print_json, Passthrough, Table};

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

impl DockerArg {
    fn mode(self) -> DockerMode {
        match self {
            DockerArg::None => DockerMode::None,
            DockerArg::Host => DockerMode::Host,
            DockerArg::Dind => DockerMode::Dind,
        }
    }
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
    /// The main container's memory limit in MiB (default: buildkit.run_memory_mb, 2048).
    #[arg(long, value_parser = clap::value_parser!(u64).range(6..=(1 << 30)))]
    memory_mb: Option<u64>,
    /// docker:dind: copy this image from the engine into the run's daemon before the
    /// command starts (repeatable).
    #[arg(long = "load-image", value_name = "IMAGE")]
    load_images: Vec<ImageRef>,
    /// docker:dind: keep the run's daemon storage (images, build cache) under KEY for the
    /// next run with the same key; one live run per key.
    #[arg(long, value_name = "KEY")]
    docker_cache: Option<String>,
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
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=36_500))]
    volume_days: u64,
    /// Also delete records of runs that ended, and audit entries, older than this many days.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=36_500))]
    records_days: Option<u64>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// The sidecar and privilege flags of `slipway run` and `slipway bench run`.
#[derive(Debug, Args)]
pub(crate) struct SidecarArgs {
    /// The privilege of a dind run and its sidecar (default: buildkit.privilege).
    #[arg(long, value_parser = parse_privilege)]
    privilege: Option<PrivilegeChoice>,
    /// The BuildKit sidecar image (default: buildkit.image).
    #[arg(long)]
    buildkit_image: Option<ImageRef>,
    /// How the sidecar's health is checked (default: buildkit.probe).
    #[arg(long, value_parser = parse_probe)]
    buildkit_probe: Option<HealthProbe>,
    /// The sidecar's memory limit in MiB (default: buildkit.memory_mb, 1024).
    #[arg(long, value_parser = clap::value_parser!(u64).range(6..=(1 << 30)))]
    buildkit_memory_mb: Option<u64>,
    /// docker:dind: the image starts its own Docker daemon (by default slipway starts
    /// `dockerd` in the run and runs the command once it answers).
    #[arg(long)]
    no_inner_daemon: bool,
}

impl SidecarArgs {
    /// A dind spec of `image` with these flags over the configuration: the run's and the
    /// sidecar's privilege, the sidecar image and probe.
    pub(crate) fn dind_spec(&self, config: &Config, image: ImageRef) -> RunSpec {
        let privilege = self.privilege.unwrap_or(config.runs.privilege).profile();
        RunSpec::new(image)
            .with_docker(DockerMode::Dind)
            .with_privilege(privilege.clone())
            .with_sidecar(SidecarOverrides {
                image: self.buildkit_image.clone(),
                probe: self.buildkit_probe,
                privilege: Some(privilege),
                health_timeout: None,
                memory_bytes: self.buildkit_memory_mb.map(|mb| mb << 20),
            })
            .with_inner_daemon(!self.no_inner_daemon)
    }
}

fn parse_probe(text: &str) -> Result<HealthProbe, String> {
    text.parse().map_err(|e: slipway_core::Error| e.to_string())
}

fn parse_privilege(text: &str) -> Result<PrivilegeChoice, String> {
    text.parse().map_err(|e: slipway_core::Error| e.to_string())
}

/// Settling what a crash left is the owner's job: when another process owns the state, a
/// run is still created, and the owner settles.
async fn open(config: &Config, access: Access) -> anyhow::Result<Services> {
    let services = Services::open(config, access).await?;
    for run in &services.startup_report().runs {
        eprintln!("recovered run {run}: its resources were removed");
    }
    Ok(services)
}

pub(crate) async fn run(config: &Config, args: RunArgs) -> anyhow::Result<Outcome> {
    let image = args
        .image
        .clone()
        .unwrap_or_else(|| config.runs.run_image.clone());
    let mut spec = match args.docker {
        DockerArg::Dind => args.sidecar.dind_spec(config, image),
        other => RunSpec::new(image).with_docker(other.mode()),
    }
    .with_command(args.command)
    .with_memory_limit(
        args.memory_mb
            .map_or(config.runs.run_memory_bytes, |mb| mb << 20),
    );
    spec.pids_limit = config.runs.run_pids_limit;
    spec.load_images = args.load_images;
    spec.docker_cache = args.docker_cache;
    spec.name = args.name;
    spec.env.extend(args.env);
    let services = open(config, own_if_free("run")).await?;
    let outcome = create(&services, spec, args.attach).await;
    services.shutdown(SHUTDOWN).await?;
    outcome
}

async fn create(services: &Services, spec: RunSpec, attach: bool) -> anyhow::Result<Outcome> {
    let runs = services.runs()?;
    let record = runs
        .create(spec)
        .await
        .context("failed to create the run")?;
    if !attach {
        println!("{}", record.id);
        return Ok(Outcome::Success);
    }
    let mut lines = runs.attach(&record.id).await?;
    let shown = Passthrough::new();
    while let Some(line) = lines.next().await {
        let line = line?;
        match line.source {
            LogSource::Stderr => eprintln!("{}", shown.err(&line.line)),
            _ => println!("{}", shown.out(&line.line)),
        }
    }
    let code = runs.wait(&record.id).await?;
    runs.stop(&record.id).await?;
    Ok(Outcome::Exit(u8::try_from(code).unwrap_or(1)))
}

pub(crate) async fn runs(config: &Config, json: bool) -> anyhow::Result<Outcome> {
    let services = Services::open(config, Access::Records).await?;
    let mut runs = services.store().runs().await?;
    runs.sort_by_key(|run| std::cmp::Reverse(run.created_at));
    if json {
        print_json(&runs)?;
    } else {
        print_runs(&runs);
    }
    Ok(Outcome::Success)
}

pub(crate) async fn stop(config: &Config, run: String) -> anyhow::Result<Outcome> {
    let services = open(config, own_if_free("stop")).await?;
    let record = services
        .runs()?
        .stop(&RunId::new(run.clone()))
        .await
        .with_context(|| format!("failed to stop run {run}"))?;
    services.shutdown(SHUTDOWN).await?;
    println!("{} {}", record.id, record.state);
    Ok(Outcome::Success)
}

pub(crate) async fn clean(config: &Config, args: CleanArgs) -> anyhow::Result<Outcome> {
    let services = open(config, own("clean", false)).await?;
    let options = CleanOptions {
        dry_run: args.dry_run,
        volumes_unused_for: args
            .volumes
            .then(|| Duration::from_secs(args.volume_days * 24 * 3600)),
        records_older_than: args
            .records_days
            .map(|days| Duration::from_secs(days * 24 * 3600)),
    };
    let report = services.runs()?.clean(&options).await?;
    services.shutdown(SHUTDOWN).await?;
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
    if report.run_records + report.audit_entries > 0 {
        println!(
            "deleted {} run records and {} audit entries",
            report.run_records, report.audit_entries
        );
    }
    if report == slipway_buildkit::CleanReport::default() {
        println!("nothing to clean");
    }
    Ok(Outcome::Success)
}

fn print_runs(runs: &[RunRecord]) {
    let mut table = Table::new(["id", "mode", "image", "state", "age", "error"]);
    for run in runs {
        table.row([
            run.id.to_string(),
            run.mode.to_string(),
            run.image.to_string(),
            run.state.to_string(),
            age(run.created_at),
            run.error
                .as_deref()
                .and_then(|e| e.lines().next())
                .unwrap_or_default()
                .to_owned(),
        ]);
    }
    print!("{}", table.render());
}
