//! `slipway bench runtime`: create, start, exec and remove through slipway's `Runtime` trait
//! vs the same engine calls through raw bollard, interleaved in one run so both see the same
//! engine state, alternating which goes first.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use futures_util::TryStreamExt;
use serde::Serialize;
use slipway_core::labels::Scope;
use slipway_core::prelude::*;
use slipway_core::{
    ContainerId, ContainerSpec, ExecRequest, ImageRef, InstanceId, LabelFilter, RemoveOptions, Role,
};
use slipway_runtime::bollard::exec::{CreateExecOptions, StartExecResults};
use slipway_runtime::bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig};
use slipway_runtime::bollard::query_parameters::{
    CreateContainerOptions, RemoveContainerOptions, StartContainerOptions,
};
use slipway_runtime::bollard::Docker;

use super::stats::{Comparison, Samples};
use crate::commands::Outcome;
use crate::output::{ms, print_json, Table};
use slipway_app::Config;

const OPS: [&str; 4] = ["create", "start", "exec", "remove"];
const WARMUP: usize = 2;
const BENCH_LABEL: &str = "dev.slipway.bench";

/// Options of `slipway bench runtime`.
#[derive(Debug, Args)]
pub(crate) struct RuntimeBenchArgs {
    /// Measured iterations per side (after two warm-up rounds).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    iterations: u32,
    /// Image to run; it needs `sleep`.
    #[arg(long, default_value = "busybox:latest")]
    image: ImageRef,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    endpoint: String,
    image: String,
    iterations: u32,
    ops: BTreeMap<&'static str, Comparison>,
    total: Comparison,
}

/// Per-op samples of one side.
#[derive(Default)]
struct Side {
    ops: HashMap<&'static str, Samples>,
    total: Samples,
}

impl Side {
    fn record(&mut self, timings: [Duration; 4]) {
        for (op, took) in OPS.iter().zip(timings) {
            self.ops.entry(op).or_default().push(took);
        }
        self.total.push(timings.iter().sum());
    }
}

pub(crate) async fn run(config: &Config, args: RuntimeBenchArgs) -> anyhow::Result<Outcome> {
    let runtime = Arc::new(
        config
            .engine
            .connect()
            .await
            .context("failed to connect to the engine")?,
    );
    if !runtime.image_exists(&args.image).await? {
        anyhow::bail!(
            "image {} is not on the engine; pull or build it, or pass --image",
            args.image
        );
    }
    let bench_id = uuid::Uuid::new_v4().simple().to_string();
    let mut labels = Scope::new(Role::Env, &InstanceId::new("bench")).labels();
    labels.insert(BENCH_LABEL.into(), bench_id.clone());
    let spec = ContainerSpec::new(args.image.clone())
        .with_cmd(["sleep", "3600"])
        .with_labels(labels);
    let raw = runtime.bollard();

    let measured = measure(runtime.as_ref(), &raw, &spec, args.iterations as usize).await;
    // Whatever happened, nothing of this run stays on the engine.
    let leftovers = runtime
        .list_containers(&LabelFilter::managed().with(BENCH_LABEL, bench_id))
        .await?;
    for container in leftovers {
        runtime
            .remove_container(&container.id, RemoveOptions::force())
            .await?;
    }
    let (slipway, raw_side) = measured?;

    let report = Report {
        endpoint: runtime.endpoint(),
        image: args.image.to_string(),
        iterations: args.iterations,
        ops: OPS
            .iter()
            .map(|op| (*op, Comparison::of(&slipway.ops[op], &raw_side.ops[op])))
            .collect(),
        total: Comparison::of(&slipway.total, &raw_side.total),
    };
    if args.json {
        print_json(&report)?;
    } else {
        print_table(&report, slipway.total.len());
    }
    Ok(Outcome::Success)
}

async fn measure(
    runtime: &dyn Runtime,
    raw: &Docker,
    spec: &ContainerSpec,
    iterations: usize,
) -> anyhow::Result<(Side, Side)> {
    let (mut slipway, mut direct) = (Side::default(), Side::default());
    for round in 0..WARMUP + iterations {
        // Alternate who goes first so neither side always meets a warmer engine.
        let (a, b) = if round % 2 == 0 {
            let a = cycle_slipway(runtime, spec).await?;
            (a, cycle_raw(raw, spec).await?)
        } else {
            let b = cycle_raw(raw, spec).await?;
            (cycle_slipway(runtime, spec).await?, b)
        };
        if round >= WARMUP {
            slipway.record(a);
            direct.record(b);
        }
    }
    Ok((slipway, direct))
}

async fn timed<T>(future: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let value = future.await;
    (value, started.elapsed())
}

async fn cycle_slipway(
    runtime: &dyn Runtime,
    spec: &ContainerSpec,
) -> anyhow::Result<[Duration; 4]> {
    let (id, create) = timed(runtime.create_container(spec)).await;
    let id: ContainerId = id?;
    let (started, start) = timed(runtime.start_container(&id)).await;
    started?;
    let (outcome, exec) = timed(runtime.exec(&id, &ExecRequest::new(["true"]))).await;
    anyhow::ensure!(
        outcome?.success(),
        "`true` failed in the benchmark container"
    );
    let (removed, remove) = timed(runtime.remove_container(&id, RemoveOptions::force())).await;
    removed?;
    Ok([create, start, exec, remove])
}

/// The same four operations as bollard calls, with the same container configuration (the
/// limits every slipway container gets included).
async fn cycle_raw(docker: &Docker, spec: &ContainerSpec) -> anyhow::Result<[Duration; 4]> {
    let logs = spec.logs.unwrap_or_default();
    let body = ContainerCreateBody {
        image: Some(spec.image.to_string()),
        cmd: spec.cmd.clone(),
        labels: Some(
            spec.labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        host_config: Some(HostConfig {
            pids_limit: spec.resources.pids_limit.map(|n| n as i64),
            log_config: Some(HostConfigLogConfig {
                typ: Some("json-file".into()),
                config: Some(HashMap::from([
                    ("max-size".into(), logs.max_file_bytes.to_string()),
                    ("max-file".into(), logs.max_files.to_string()),
                ])),
            }),
            security_opt: Some(vec!["no-new-privileges:true".into()]),
            ..HostConfig::default()
        }),
        ..ContainerCreateBody::default()
    };
    let (created, create) =
        timed(docker.create_container(None::<CreateContainerOptions>, body)).await;
    let id = created?.id;
    let (started, start) = timed(docker.start_container(&id, None::<StartContainerOptions>)).await;
    started?;
    let (ran, exec) = timed(raw_exec(docker, &id, vec!["true"])).await;
    anyhow::ensure!(
        ran? == Some(0),
        "`true` failed in the raw benchmark container"
    );
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        link: false,
    };
    let (removed, remove) = timed(docker.remove_container(&id, Some(options))).await;
    removed?;
    Ok([create, start, exec, remove])
}

fn print_table(report: &Report, samples: usize) {
    println!(
        "engine {}, image {}, {} iterations per side (interleaved)\n",
        report.endpoint, report.image, samples
    );
    let mut table = Table::new(["op", "slipway p50", "p99", "raw p50", "p99", "ratio p50"]);
    let rows = report
        .ops
        .iter()
        .map(|(op, c)| (*op, c))
        .chain(std::iter::once(("total", &report.total)));
    for (op, c) in rows {
        table.row([
            op.to_owned(),
            ms(c.slipway_p50_ms),
            ms(c.slipway_p99_ms),
            ms(c.raw_p50_ms),
            ms(c.raw_p99_ms),
            format!("{:.3}", c.ratio_p50),
        ]);
    }
    print!("{}", table.render());
}

/// A command run to completion through raw bollard (create, start attached, drain, inspect):
/// its exit code.
pub(crate) async fn raw_exec(
    docker: &Docker,
    container: &str,
    cmd: Vec<&str>,
) -> anyhow::Result<Option<i64>> {
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions {
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                cmd: Some(cmd),
                ..Default::default()
            },
        )
        .await?;
    if let StartExecResults::Attached { output, .. } = docker.start_exec(&exec.id, None).await? {
        output.try_for_each(|_| async { Ok(()) }).await?;
    }
    Ok(docker.inspect_exec(&exec.id).await?.exit_code)
}
