//! `slipway bench run`: a dind run made ready (network + healthy sidecar + main started +
//! its inner daemon answering) and torn down, against the same objects created and removed
//! through raw bollard with no health check, interleaved in one run.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use slipway_app::{Access, Services};
use slipway_buildkit::{inner_daemon, CleanOptions, BUILDKIT_ALIAS, BUILDKIT_PORT};
use slipway_core::labels::Scope;
use slipway_core::{ImageRef, Role};
use slipway_runtime::bollard::exec::{CreateExecOptions, StartExecResults};
use slipway_runtime::bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkCreateRequest, NetworkingConfig,
    VolumeCreateRequest,
};
use slipway_runtime::bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptions, RemoveVolumeOptions,
    StartContainerOptions,
};
use slipway_runtime::bollard::Docker;

use super::stats::{round, Samples};
use crate::commands::run::{DockerArg, SidecarArgs};
use crate::commands::Outcome;
use crate::output::{ms, print_json, Table};
use slipway_app::Config;

/// Options of `slipway bench run`.
#[derive(Debug, Args)]
pub(crate) struct RunBenchArgs {
    /// The run mode measured (only dind has steps worth measuring).
    #[arg(long, value_enum, default_value_t = DockerArg::Dind)]
    docker: DockerArg,
    /// Runs measured.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=500))]
    iterations: u32,
    /// The main container's image (default: buildkit.run_image).
    #[arg(long)]
    image: Option<ImageRef>,
    /// The sidecar (its image must be on the engine) and the runs' privilege.
    #[command(flatten)]
    sidecar: SidecarArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    iterations: u32,
    sidecar_image: String,
    probe: String,
    /// Whether slipway started a daemon in each run (off with `--no-inner-daemon`).
    inner_daemon: bool,
    /// `create` until the run is `running`: network, sidecar healthy, main started (and,
    /// with the inner daemon, that daemon answering).
    ready_p50_ms: f64,
    ready_p99_ms: f64,
    /// The same as `ready_*` when the runs have an inner daemon.
    inner_ready_p50_ms: Option<f64>,
    inner_ready_p99_ms: Option<f64>,
    /// `stop`: main, sidecar, network removed.
    teardown_p50_ms: f64,
    teardown_p99_ms: f64,
    /// The same objects through raw bollard, without a health check.
    raw_ready_p50_ms: f64,
    raw_teardown_p50_ms: f64,
    ready_ratio_p50: f64,
    teardown_ratio_p50: f64,
}

pub(crate) async fn run(config: &Config, args: RunBenchArgs) -> anyhow::Result<Outcome> {
    anyhow::ensure!(
        args.docker == DockerArg::Dind,
        "bench run measures docker:dind runs; pass --docker dind"
    );
    let image = args.image.unwrap_or_else(|| config.runs.run_image.clone());
    let template = args.sidecar.dind_spec(config, image.clone());
    let mut buildkit = config.runs.buildkit.clone();
    if let Some(sidecar_image) = &template.sidecar.image {
        buildkit.image = sidecar_image.clone();
    }
    if let Some(probe) = template.sidecar.probe {
        buildkit.probe = probe;
    }
    // A scratch state and a BuildKit cache of its own: bench runs never mix with real ones,
    // and what they leave is removed at the end.
    let bench_id = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let state = tempfile::tempdir().context("failed to create a temporary state directory")?;
    let mut scratch = config.clone();
    scratch.state_dir = state.path().to_owned();
    scratch.runs.buildkit.cache_key = format!("bench-{bench_id}");
    let services = Services::open(&scratch, Access::Read).await?;
    let runtime = services.docker()?;
    for needed in [&image, &buildkit.image] {
        anyhow::ensure!(
            slipway_core::Images::image_exists(runtime.as_ref(), needed).await?,
            "image {needed} is not on the engine (pass --image / --buildkit-image)"
        );
    }
    let manager = services.runs()?;
    let raw = runtime.bollard();
    let privilege = template.effective_privilege();
    let (mut ready, mut teardown, mut raw_ready, mut raw_teardown) = (
        Samples::default(),
        Samples::default(),
        Samples::default(),
        Samples::default(),
    );
    for round_no in 0..args.iterations {
        let spec = template.clone().with_command(["sleep", "3600"]);
        let started = Instant::now();
        let record = manager.create(spec).await.context("a run failed")?;
        ready.push(started.elapsed());
        let started = Instant::now();
        manager.stop(&record.id).await?;
        teardown.push(started.elapsed());

        let name = format!("slipway-bench-{bench_id}-{round_no}");
        let raw_spec = RawRun {
            name: &name,
            image: &image,
            sidecar_image: &buildkit.image,
            sidecar_command: &buildkit.command,
            inner_daemon: template.inner_daemon,
            privilege: &privilege,
        };
        let (up, down) = raw_run(&raw, &raw_spec)
            .await
            .context("the raw bollard run failed")?;
        raw_ready.push(up);
        raw_teardown.push(down);
    }
    manager
        .clean(&CleanOptions {
            dry_run: false,
            volumes_unused_for: Some(Duration::ZERO),
            ..CleanOptions::default()
        })
        .await
        .context("failed to remove the bench's BuildKit state volume")?;
    let p50 = |s: &Samples| round(s.percentile(50.0), 1);
    let inner = template.inner_daemon;
    let report = Report {
        iterations: args.iterations,
        sidecar_image: buildkit.image.to_string(),
        probe: buildkit.probe.to_string(),
        inner_daemon: inner,
        ready_p50_ms: p50(&ready),
        ready_p99_ms: round(ready.percentile(99.0), 1),
        inner_ready_p50_ms: inner.then(|| p50(&ready)),
        inner_ready_p99_ms: inner.then(|| round(ready.percentile(99.0), 1)),
        teardown_p50_ms: p50(&teardown),
        teardown_p99_ms: round(teardown.percentile(99.0), 1),
        raw_ready_p50_ms: p50(&raw_ready),
        raw_teardown_p50_ms: p50(&raw_teardown),
        ready_ratio_p50: round(p50(&ready) / p50(&raw_ready), 2),
        teardown_ratio_p50: round(p50(&teardown) / p50(&raw_teardown), 2),
    };
    if args.json {
        print_json(&report)?;
    } else {
        let mut table = Table::new(["", "slipway p50", "slipway p99", "raw bollard p50", "ratio"]);
        let what = if inner {
            "ready (network, sidecar, main, inner daemon)"
        } else {
            "ready (network, sidecar, main)"
        };
        table.row([
            what.to_owned(),
            ms(report.ready_p50_ms),
            ms(report.ready_p99_ms),
            ms(report.raw_ready_p50_ms),
            format!("{:.2}", report.ready_ratio_p50),
        ]);
        table.row([
            "teardown".to_owned(),
            ms(report.teardown_p50_ms),
            ms(report.teardown_p99_ms),
            ms(report.raw_teardown_p50_ms),
            format!("{:.2}", report.teardown_ratio_p50),
        ]);
        println!(
            "{} dind runs, sidecar {} ({} probe)\n",
            report.iterations, report.sidecar_image, report.probe
        );
        print!("{}", table.render());
    }
    Ok(Outcome::Success)
}

/// What one raw run creates.
struct RawRun<'a> {
    name: &'a str,
    image: &'a ImageRef,
    sidecar_image: &'a ImageRef,
    sidecar_command: &'a [String],
    /// The main container runs slipway's init on a volume of its own, with the run's
    /// privilege, and is ready when its daemon answers.
    inner_daemon: bool,
    privilege: &'a slipway_core::PrivilegeProfile,
}

/// Runs `script` in `container` through raw bollard; its exit code.
async fn raw_exec(
    raw: &Docker,
    container: &str,
    script: &str,
) -> Result<Option<i64>, slipway_runtime::bollard::errors::Error> {
    use futures_util::StreamExt as _;
    let exec = raw
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(vec![
                    "/bin/sh".to_owned(),
                    "-c".to_owned(),
                    script.to_owned(),
                ]),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..CreateExecOptions::default()
            },
        )
        .await?;
    if let StartExecResults::Attached { mut output, .. } = raw.start_exec(&exec.id, None).await? {
        while output.next().await.is_some() {}
    }
    Ok(raw.inspect_exec(&exec.id).await?.exit_code)
}

/// Network, sidecar (aliased `buildkit`) and main container through raw bollard, started
/// (and the inner daemon answering, when there is one), then removed; returns both
/// durations. Removal is attempted even when a step fails.
async fn raw_run(raw: &Docker, run: &RawRun<'_>) -> anyhow::Result<(Duration, Duration)> {
    let RawRun {
        name,
        image,
        sidecar_image,
        sidecar_command,
        inner_daemon,
        privilege,
    } = *run;
    let volume = format!("{name}-docker");
    let labels: std::collections::HashMap<String, String> =
        Scope::new(Role::Run, &slipway_core::InstanceId::new("bench"))
            .labels()
            .into_iter()
            .collect();
    let started = Instant::now();
    let created = async {
        raw.create_network(NetworkCreateRequest {
            name: name.to_owned(),
            labels: Some(labels.clone()),
            ..NetworkCreateRequest::default()
        })
        .await?;
        if inner_daemon {
            raw.create_volume(VolumeCreateRequest {
                name: Some(volume.clone()),
                labels: Some(labels.clone()),
                ..VolumeCreateRequest::default()
            })
            .await?;
        }
        for (suffix, image, cmd, alias) in [
            (
                "sidecar",
                sidecar_image,
                sidecar_command.to_vec(),
                Some(BUILDKIT_ALIAS),
            ),
            ("main", image, vec!["sleep".into(), "3600".into()], None),
        ] {
            let main = suffix == "main";
            let mut host = HostConfig {
                network_mode: Some(name.to_owned()),
                ..HostConfig::default()
            };
            let (mut entrypoint, mut cmd) = (None, cmd);
            if main && inner_daemon {
                let (init, wrapped) = (
                    [
                        "/bin/sh".to_owned(),
                        "-c".to_owned(),
                        inner_daemon::INIT.to_owned(),
                    ],
                    ["slipway-dind".to_owned()].into_iter().chain(cmd).collect(),
                );
                entrypoint = Some(init.to_vec());
                cmd = wrapped;
                slipway_runtime::apply_privilege(&mut host, privilege);
                host.binds = Some(vec![format!("{volume}:{}", inner_daemon::DATA_ROOT)]);
            }
            let endpoint = EndpointSettings {
                aliases: alias.map(|a| vec![a.to_owned()]),
                ..EndpointSettings::default()
            };
            let body = ContainerCreateBody {
                image: Some(image.to_string()),
                entrypoint,
                cmd: Some(cmd),
                labels: Some(labels.clone()),
                env: Some(vec![format!(
                    "BUILDKIT_HOST=tcp://{BUILDKIT_ALIAS}:{BUILDKIT_PORT}"
                )]),
                host_config: Some(host),
                networking_config: Some(NetworkingConfig {
                    endpoints_config: Some([(name.to_owned(), endpoint)].into()),
                }),
                ..ContainerCreateBody::default()
            };
            let options = CreateContainerOptionsBuilder::default()
                .name(&format!("{name}-{suffix}"))
                .build();
            let id = raw.create_container(Some(options), body).await?.id;
            raw.start_container(&id, None::<StartContainerOptions>)
                .await?;
            if main && inner_daemon {
                let ready = raw_exec(raw, &id, inner_daemon::WAIT_READY).await?;
                raw_exec(raw, &id, inner_daemon::GO).await?;
                if ready != Some(0) {
                    return Ok(Err(anyhow::anyhow!(
                        "the raw run's inner daemon did not answer (exit {ready:?})"
                    )));
                }
            }
        }
        Ok::<_, slipway_runtime::bollard::errors::Error>(Ok(()))
    }
    .await;
    let up = started.elapsed();
    let started = Instant::now();
    let mut removed = Ok(());
    for suffix in ["main", "sidecar"] {
        let options = RemoveContainerOptions {
            force: true,
            ..RemoveContainerOptions::default()
        };
        if let Err(e) = raw
            .remove_container(&format!("{name}-{suffix}"), Some(options))
            .await
        {
            removed = removed.and(Err(e));
        }
    }
    if let Err(e) = raw.remove_network(name).await {
        removed = removed.and(Err(e));
    }
    if inner_daemon {
        if let Err(e) = raw
            .remove_volume(&volume, None::<RemoveVolumeOptions>)
            .await
        {
            removed = removed.and(Err(e));
        }
    }
    let down = started.elapsed();
    created??;
    removed?;
    Ok((up, down))
}
