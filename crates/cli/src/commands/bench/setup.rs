//! `slipway bench setup`: a synthetic repository served by `git daemon` on loopback, set up
//! from a warm repo cache, from a cache that clones over the git protocol every time, and as
//! a branch switch from the prebuilt main image.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use futures_util::StreamExt;
use serde::Serialize;
use slipway_core::prelude::*;
use slipway_core::{
    run_container, ContainerId, ImageRef, LabelFilter, Mount, RemoveOptions, RepoCache, RepoSlug,
    RepoSource, VolumeSpec,
};
use slipway_provision::{GitRepoCache, Phase, ProvisionConfig, Provisioner, SetupRequest};
use slipway_runtime::bollard::exec::{CreateExecOptions, StartExecResults};
use slipway_runtime::bollard::query_parameters::UploadToContainerOptions;
use slipway_runtime::DockerRuntime;
use slipway_store::SqliteStore;
use slipway_testkit::synthetic::{filler_files, node_app, GitDaemon, RepoFile, SyntheticRepo};
use tokio::io::AsyncWriteExt;

use super::ready;
use super::stats::{round, Samples};
use super::wan::{Shape, WanProxy};
use crate::commands::Outcome;
use crate::output::{ms, print_json, Table};
use slipway_app::Config;

const BENCH_LABEL: &str = "dev.slipway.bench";
pub(super) const MEMORY: u64 = 512 << 20;
/// Where the raw copies into a volume or a tmpfs unpack.
const SCRATCH_DIR: &str = "/bench-scratch";

/// Where a raw `tar -x` unpacks the tree: the container's own filesystem (as setups do), a
/// volume, or memory.
#[derive(Debug, Clone, Copy)]
enum CopyTarget {
    Rootfs,
    Volume,
    Tmpfs,
}

/// Options of `slipway bench setup`.
#[derive(Debug, Args)]
pub(crate) struct SetupBenchArgs {
    /// Files in the synthetic repository (besides the node app).
    #[arg(long, default_value_t = 5000)]
    files: usize,
    /// Bytes per file.
    #[arg(long, default_value_t = 5000)]
    file_bytes: usize,
    /// Runs of each kind of setup (the median is reported).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
    iterations: u32,
    /// Image with node, npm and git (default: provision.base_image).
    #[arg(long)]
    image: Option<ImageRef>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    files: usize,
    repo_bytes: usize,
    iterations: u32,
    /// First setup: clone over git://, `npm ci` into an empty dependency store (by an installer container), dev server.
    full_setup_ms: f64,
    /// Warm repo cache and dependency store: fetch, copy the tree, dev server.
    warm_setup_ms: f64,
    /// Of the warm setup: the fetch and the tree copy.
    warm_cloning_ms: f64,
    /// Of the warm setup: the installing phase, with nothing left to do (the store's install
    /// of the lockfile was linked while the tree was copied).
    warm_installing_ms: f64,
    /// Of the warm setup: the dev server's start until its port listens.
    warm_starting_ms: f64,
    /// The warm setup with the repo cache's kept tree of the commit removed first, so the
    /// tree is walked out of the mirror's objects again (what every warm setup did before
    /// trees were kept).
    warm_setup_walked_ms: f64,
    /// The same, but cloning over git:// every time (no repo cache).
    network_clone_setup_ms: f64,
    cache_speedup: f64,
    /// A setup cloning every time through a WAN-shaped link (40 ms round trip, 100 Mbit/s):
    /// what a hosted git service costs without the repo cache.
    wan_clone_setup_ms: f64,
    /// The WAN clone over the warm setup.
    wan_cache_speedup: f64,
    /// Another branch, from the prebuilt main image, lockfile unchanged.
    branch_switch_ms: f64,
    /// Branch switch over full setup.
    branch_switch_ratio: f64,
    /// `ensure` of a mirror with nothing new to fetch.
    noop_fetch_ms: f64,
    /// The engine alone: the same tree's tar uploaded into a fresh container through raw
    /// bollard — the floor under every setup that copies the tree.
    raw_upload_ms: f64,
    /// Warm setup over the raw upload.
    warm_over_raw_upload: f64,
    /// The other path, also through raw bollard: the same tar fed to `tar -x` on the stdin
    /// of an exec in a fresh container (what setups use when the image has `tar`).
    raw_exec_tar_ms: f64,
    /// The same `tar -x` into a volume mounted in the fresh container.
    raw_exec_tar_volume_ms: f64,
    /// The same `tar -x` into a tmpfs mounted in the fresh container.
    raw_exec_tar_tmpfs_ms: f64,
    /// Layers the main image gained over five default-branch setups, each at a new commit
    /// and from a container of the main image (want 0).
    main_image_layer_growth: i64,
    /// A ready environment of the default branch taken by `up`: from the request until the
    /// dev server answered HTTP (median of the hand-overs).
    warm_env_ready_p50_ms: f64,
    /// The same, 99th percentile.
    warm_env_ready_p99_ms: f64,
    /// The hand-over over the warm setup it spares.
    warm_env_ready_over_warm_setup: f64,
}

/// What one benchmark run owns, removed at the end whatever happens.
pub(super) struct Bench {
    pub(super) runtime: Arc<DockerRuntime>,
    pub(super) store: Arc<SqliteStore>,
    pub(super) repo: RepoSlug,
    pub(super) base_image: ImageRef,
    bench_id: String,
    config: ProvisionConfig,
}

impl Bench {
    pub(super) fn provisioner(&self, cache: Arc<dyn RepoCache>) -> anyhow::Result<Provisioner> {
        Ok(Provisioner::new(
            self.runtime.clone(),
            cache,
            self.store.instance_id(),
            self.config.clone(),
        )?)
    }

    /// A repo cache in `dir` fetching the bench repository from `url` (the daemon serves it
    /// at `<owner>/<repo>.git`, so the URL is the cache's template).
    fn cache(&self, dir: &Path, url: &str) -> anyhow::Result<Arc<GitRepoCache>> {
        let template = url.replace(
            &format!("{}/{}.git", self.repo.owner(), self.repo.repo()),
            "{owner}/{repo}.git",
        );
        Ok(Arc::new(
            GitRepoCache::new(dir).with_url_template(&template)?,
        ))
    }

    fn source(&self) -> RepoSource {
        RepoSource::new(self.repo.clone())
    }

    async fn container(
        &self,
        provisioner: &Provisioner,
        image: ImageRef,
        mounts: Vec<Mount>,
    ) -> anyhow::Result<ContainerId> {
        provisioner.ensure_environment_network().await?;
        let mut spec = provisioner.container_spec(Some(&self.repo), image, MEMORY)?;
        spec.mounts.extend(mounts);
        spec.labels
            .insert(BENCH_LABEL.into(), self.bench_id.clone());
        Ok(run_container(self.runtime.as_ref(), &spec).await?)
    }

    /// Times one setup of `branch` in a fresh container of `image`.
    async fn timed_setup(
        &self,
        provisioner: &Provisioner,
        image: ImageRef,
        branch: &str,
    ) -> anyhow::Result<Duration> {
        Ok(self.timed_phases(provisioner, image, branch).await?.0)
    }

    /// [`Bench::timed_setup`] with the time each phase took.
    async fn timed_phases(
        &self,
        provisioner: &Provisioner,
        image: ImageRef,
        branch: &str,
    ) -> anyhow::Result<(Duration, Vec<(Phase, Duration)>)> {
        let container = self.container(provisioner, image, Vec::new()).await?;
        let request = SetupRequest::new(self.repo.clone()).with_branch(branch.parse()?);
        let started = Instant::now();
        let outcome = provisioner.setup(&container, &request, None).await;
        let took = started.elapsed();
        self.runtime
            .remove_container(&container, RemoveOptions::force())
            .await?;
        Ok((took, outcome?.phases))
    }

    /// Times `work` in a fresh container of the base image, which is removed afterwards.
    async fn timed_in_fresh_container(
        &self,
        provisioner: &Provisioner,
        what: &'static str,
        mounts: Vec<Mount>,
        work: impl AsyncFnOnce(&str) -> anyhow::Result<()>,
    ) -> anyhow::Result<Duration> {
        let container = self
            .container(provisioner, self.base_image.clone(), mounts)
            .await?;
        let started = Instant::now();
        let done = work(container.as_str()).await;
        let took = started.elapsed();
        self.runtime
            .remove_container(&container, RemoveOptions::force())
            .await?;
        done.context(what)?;
        Ok(took)
    }

    /// Times bollard's `upload_to_container` of `tree` into a fresh container of the base image.
    async fn timed_raw_upload(
        &self,
        provisioner: &Provisioner,
        tree: &[u8],
    ) -> anyhow::Result<Duration> {
        let docker = self.runtime.bollard();
        let mounts = Vec::new();
        self.timed_in_fresh_container(
            provisioner,
            "raw upload failed",
            mounts,
            async |container| {
                let options = UploadToContainerOptions {
                    path: "/tmp".to_owned(),
                    ..UploadToContainerOptions::default()
                };
                let body = slipway_runtime::bollard::body_full(tree.to_vec().into());
                docker
                    .upload_to_container(container, Some(options), body)
                    .await?;
                Ok(())
            },
        )
        .await
    }

    /// Times `tar -x` of `tree` fed on an exec's stdin (raw bollard) in a fresh container,
    /// unpacked into `target`.
    async fn timed_raw_exec_tar(
        &self,
        provisioner: &Provisioner,
        tree: &[u8],
        target: CopyTarget,
    ) -> anyhow::Result<Duration> {
        let docker = self.runtime.bollard();
        let (mounts, dir) = match target {
            CopyTarget::Rootfs => (Vec::new(), "/tmp".to_owned()),
            CopyTarget::Volume => (
                vec![Mount::Volume {
                    name: self.scratch_volume(provisioner)?.name.to_string(),
                    target: SCRATCH_DIR.to_owned(),
                    read_only: false,
                }],
                // A directory of its own each time: the volume outlives the container.
                format!("{SCRATCH_DIR}/{}", uuid::Uuid::new_v4().simple()),
            ),
            CopyTarget::Tmpfs => (
                vec![Mount::Tmpfs {
                    target: SCRATCH_DIR.to_owned(),
                    size_bytes: Some(MEMORY / 2),
                    executable: true,
                }],
                SCRATCH_DIR.to_owned(),
            ),
        };
        let what = "raw exec tar failed";
        self.timed_in_fresh_container(provisioner, what, mounts, async |container| {
            let unpack = r#"mkdir -p "$1" && exec tar -x -f - -C "$1""#;
            let cmd = ["sh", "-c", unpack, "sh", dir.as_str()]
                .map(String::from)
                .to_vec();
            let options = CreateExecOptions {
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                cmd: Some(cmd),
                ..CreateExecOptions::default()
            };
            let exec = docker.create_exec(container, options).await?;
            let StartExecResults::Attached {
                mut output,
                mut input,
            } = docker.start_exec(&exec.id, None).await?
            else {
                anyhow::bail!("the engine detached the exec");
            };
            let feed = async {
                input.write_all(tree).await?;
                input.shutdown().await
            };
            let drain = async { while output.next().await.is_some() {} };
            let (fed, ()) = tokio::join!(feed, drain);
            fed?;
            let code = docker.inspect_exec(&exec.id).await?.exit_code;
            anyhow::ensure!(code == Some(0), "tar -x exited with {code:?}");
            Ok(())
        })
        .await
    }

    /// The volume the raw copies into a volume unpack into (labelled like the bench's
    /// dependency store), removed by [`Bench::cleanup`].
    fn scratch_volume(&self, provisioner: &Provisioner) -> anyhow::Result<VolumeSpec> {
        let mut volume = provisioner.dependency_volume(&self.repo)?;
        volume.name = format!("slipway-bench-{}", self.bench_id).parse()?;
        Ok(volume)
    }

    async fn cleanup(&self, provisioner: &Provisioner) -> anyhow::Result<()> {
        let filter = LabelFilter::default().with(BENCH_LABEL, self.bench_id.clone());
        for container in self.runtime.list_containers(&filter).await? {
            self.runtime
                .remove_container(&container.id, RemoveOptions::force())
                .await?;
        }
        let image = provisioner.main_image(&self.repo)?;
        if self.runtime.image_exists(&image).await? {
            self.runtime.remove_image(image.as_str(), true).await?;
        }
        // Main images rebuilds replaced while a bench container still ran from them.
        let replaced = slipway_core::PruneFilter {
            labels: filter.clone(),
            older_than: None,
            untagged_only: true,
        };
        self.runtime.prune_images(&replaced).await?;
        for network in self.runtime.list_networks(&filter).await? {
            self.runtime.remove_network(&network.id).await?;
        }
        for volume in [
            provisioner.dependency_volume(&self.repo)?,
            self.scratch_volume(provisioner)?,
        ] {
            match self.runtime.remove_volume(volume.name.as_str()).await {
                Ok(()) | Err(slipway_core::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

fn median(samples: &Samples) -> f64 {
    round(samples.percentile(50.0), 1)
}

pub(crate) async fn run(config: &Config, args: SetupBenchArgs) -> anyhow::Result<Outcome> {
    let runtime = Arc::new(
        config
            .engine
            .connect()
            .await
            .context("failed to connect to the engine")?,
    );
    let base_image = args
        .image
        .clone()
        .unwrap_or_else(|| config.provision.environments.base_image.clone());
    if !runtime.image_exists(&base_image).await? {
        anyhow::bail!(
            "image {base_image} is not on the engine; it needs node, npm and git (pass --image)"
        );
    }
    let work = tempfile::tempdir().context("failed to create a temporary directory")?;
    let bench_id = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let repo: RepoSlug = format!("bench/app-{bench_id}").parse()?;

    // The repository: filler files plus a node app; `feature` changes ten files and the banner.
    let synthetic = SyntheticRepo::create(&work.path().join(format!("{repo}.git")))?;
    let mut main = filler_files(args.files, args.file_bytes, 1);
    main.extend(node_app("on main", "1.0.0", "hello"));
    let repo_bytes = main.iter().map(|f| f.content.len()).sum();
    synthetic.commit("main", None, &main, &[], "main")?;
    let mut feature = filler_files(10.min(args.files), args.file_bytes, 2);
    for (file, original) in feature.iter_mut().zip(&main) {
        file.path.clone_from(&original.path);
    }
    feature.extend(
        node_app("on feature", "1.0.0", "hello")
            .into_iter()
            .filter(|f| f.path == "server.js"),
    );
    synthetic.commit("feature", Some("main"), &feature, &[], "feature")?;
    let daemon = GitDaemon::serve(work.path()).await?;
    let url = daemon.url(&format!("{repo}.git"));

    let store = Arc::new(SqliteStore::open_in_dir(&work.path().join("state"))?);
    let mut provision_config = config.provision.config.clone();
    provision_config
        .labels
        .insert(BENCH_LABEL.into(), bench_id.clone());
    let bench = Bench {
        runtime,
        store,
        repo,
        base_image,
        bench_id,
        config: provision_config,
    };
    let warm_cache = bench.cache(&work.path().join("cache-warm"), &url)?;
    let warm = bench.provisioner(warm_cache.clone())?;
    warm.ensure_dependency_volume(&bench.repo).await?;

    let measured = measure(
        &bench,
        &warm,
        warm_cache.as_ref(),
        work.path(),
        &url,
        args.iterations,
    )
    .await;
    let handovers = match &measured {
        Ok(_) => ready::handovers(&bench, warm_cache.clone()).await,
        Err(_) => Ok(Samples::default()),
    };
    let growth = match &measured {
        Ok(_) => layer_growth(&bench, &warm, &synthetic).await,
        Err(_) => Ok(0),
    };
    bench.cleanup(&warm).await?;
    let (full, warm_phases, warm_samples, network, wan, branch, noop, raw) = measured?;
    let main_image_layer_growth = growth?;
    let handovers = handovers.context("timing the hand-over of ready environments failed")?;

    let report = Report {
        files: args.files,
        repo_bytes,
        iterations: args.iterations,
        full_setup_ms: round(full, 1),
        warm_setup_ms: median(&warm_samples),
        warm_cloning_ms: median(&warm_phases.cloning),
        warm_installing_ms: median(&warm_phases.installing),
        warm_starting_ms: median(&warm_phases.starting),
        warm_setup_walked_ms: median(&warm_phases.walked),
        network_clone_setup_ms: median(&network),
        cache_speedup: round(median(&network) / median(&warm_samples), 2),
        wan_clone_setup_ms: median(&wan),
        wan_cache_speedup: round(median(&wan) / median(&warm_samples), 2),
        branch_switch_ms: median(&branch),
        branch_switch_ratio: round(median(&branch) / full, 3),
        noop_fetch_ms: round(noop.percentile(50.0), 1),
        raw_upload_ms: median(&raw.upload),
        warm_over_raw_upload: round(median(&warm_samples) / median(&raw.upload), 2),
        raw_exec_tar_ms: median(&raw.exec_tar),
        raw_exec_tar_volume_ms: median(&raw.exec_tar_volume),
        raw_exec_tar_tmpfs_ms: median(&raw.exec_tar_tmpfs),
        main_image_layer_growth,
        warm_env_ready_p50_ms: median(&handovers),
        warm_env_ready_p99_ms: round(handovers.percentile(99.0), 1),
        warm_env_ready_over_warm_setup: round(median(&handovers) / median(&warm_samples), 3),
    };
    if args.json {
        print_json(&report)?;
    } else {
        print_table(&report);
    }
    Ok(Outcome::Success)
}

type Measured = (
    f64,
    WarmPhases,
    Samples,
    Samples,
    Samples,
    Samples,
    Samples,
    RawCopies,
);

/// The engine alone: the tree into fresh containers, by each path.
#[derive(Default)]
struct RawCopies {
    upload: Samples,
    exec_tar: Samples,
    exec_tar_volume: Samples,
    exec_tar_tmpfs: Samples,
}

/// The warm setups' phase times.
#[derive(Default)]
struct WarmPhases {
    /// Whole warm setups whose tree was walked again.
    walked: Samples,
    cloning: Samples,
    installing: Samples,
    starting: Samples,
}

/// The link a hosted git service is behind, as the WAN figures assume it.
const WAN: Shape = Shape {
    rtt: Duration::from_millis(40),
    bits_per_second: 100_000_000,
};

async fn measure(
    bench: &Bench,
    warm: &Provisioner,
    cache: &GitRepoCache,
    work: &Path,
    url: &str,
    iterations: u32,
) -> anyhow::Result<Measured> {
    // 1. The first setup ever: clone, npm ci into the empty volume, dev server; main image.
    let container = bench
        .container(warm, bench.base_image.clone(), Vec::new())
        .await?;
    let mut first = SetupRequest::new(bench.repo.clone());
    first.build_main_image = true;
    let outcome = warm
        .setup(&container, &first, None)
        .await
        .context("the first setup failed")?;
    bench
        .runtime
        .remove_container(&container, RemoveOptions::force())
        .await?;
    let full: f64 = outcome
        .phases
        .iter()
        .map(|(_, took)| took.as_secs_f64() * 1000.0)
        .sum();
    let main_image = outcome
        .main_image
        .context("the first setup committed no main image")?;

    let mut wan = Samples::default();
    let mut warm_phases = WarmPhases::default();
    let git_port: u16 = url
        .trim_start_matches("git://127.0.0.1:")
        .split('/')
        .next()
        .and_then(|port| port.parse().ok())
        .context("the git daemon's URL has no loopback port")?;
    let proxy = WanProxy::start(SocketAddr::from(([127, 0, 0, 1], git_port)), WAN).await?;
    let wan_url = url.replace(&format!(":{git_port}/"), &format!(":{}/", proxy.port()));
    let (mut warm_samples, mut network, mut branch, mut noop) = (
        Samples::default(),
        Samples::default(),
        Samples::default(),
        Samples::default(),
    );
    let mut raw = RawCopies::default();
    let mut walked = Samples::default();
    bench
        .runtime
        .ensure_volume(&bench.scratch_volume(warm)?)
        .await?;
    let commit = cache.resolve(&bench.source(), &"main".parse()?).await?;
    let tree = cache.archive(&bench.source(), &commit).await?;
    for round in 0..iterations {
        // 2. Warm repo cache, warm dependency store, fresh container of the base image.
        let (took, phases) = bench
            .timed_phases(warm, bench.base_image.clone(), "main")
            .await?;
        warm_samples.push(took);
        for (phase, took) in phases {
            let samples = match phase {
                Phase::Cloning => &mut warm_phases.cloning,
                Phase::Installing => &mut warm_phases.installing,
                Phase::Starting => &mut warm_phases.starting,
                Phase::Ready | Phase::Error => continue,
            };
            samples.push(took);
        }
        // 2b. The same, the tree walked out of the mirror again (its kept copy removed).
        let kept = cache.mirror_path(&bench.source()).join("slipway-trees");
        if kept.exists() {
            std::fs::remove_dir_all(&kept).context("removing the kept trees")?;
        }
        walked.push(
            bench
                .timed_setup(warm, bench.base_image.clone(), "main")
                .await?,
        );
        // 3. The same with a repo cache that has never seen the repository.
        let cold_cache = bench.cache(&work.join(format!("cache-cold-{round}")), url)?;
        let cold = bench.provisioner(cold_cache)?;
        network.push(
            bench
                .timed_setup(&cold, bench.base_image.clone(), "main")
                .await?,
        );
        // 3b. The same through a WAN-shaped link.
        let wan_cache = bench.cache(&work.join(format!("cache-wan-{round}")), &wan_url)?;
        let over_wan = bench.provisioner(wan_cache)?;
        wan.push(
            bench
                .timed_setup(&over_wan, bench.base_image.clone(), "main")
                .await?,
        );
        // 4. Another branch, from the main image.
        branch.push(
            bench
                .timed_setup(warm, main_image.clone(), "feature")
                .await?,
        );
        // 5. The engine alone: the tree into a fresh container.
        raw.upload.push(bench.timed_raw_upload(warm, &tree).await?);
        for (samples, target) in [
            (&mut raw.exec_tar, CopyTarget::Rootfs),
            (&mut raw.exec_tar_volume, CopyTarget::Volume),
            (&mut raw.exec_tar_tmpfs, CopyTarget::Tmpfs),
        ] {
            samples.push(bench.timed_raw_exec_tar(warm, &tree, target).await?);
        }
    }
    for _ in 0..10 {
        let started = Instant::now();
        cache.ensure(&bench.source(), None).await?;
        noop.push(started.elapsed());
    }
    warm_phases.walked = walked;
    Ok((
        full,
        warm_phases,
        warm_samples,
        network,
        wan,
        branch,
        noop,
        raw,
    ))
}

/// Layers the main image gains over five default-branch setups, each at a new commit on
/// `main`, each from a container of the main image (as an environment of the repo starts).
async fn layer_growth(
    bench: &Bench,
    warm: &Provisioner,
    synthetic: &SyntheticRepo,
) -> anyhow::Result<i64> {
    let image = warm.main_image(&bench.repo)?;
    let layers = |info: slipway_core::ImageInfo| i64::try_from(info.layers).unwrap_or(i64::MAX);
    let before = layers(bench.runtime.inspect_image(&image).await?);
    for round in 0..5 {
        let file = RepoFile::new("docs/round.md", format!("round {round}\n"));
        synthetic.commit("main", Some("main"), &[file], &[], "another commit on main")?;
        let container = bench.container(warm, image.clone(), Vec::new()).await?;
        let mut request = SetupRequest::new(bench.repo.clone()).with_branch("main".parse()?);
        request.build_main_image = true;
        let setup = warm.setup(&container, &request, None).await;
        bench
            .runtime
            .remove_container(&container, RemoveOptions::force())
            .await?;
        setup.context("a default-branch setup failed")?;
    }
    let after = layers(bench.runtime.inspect_image(&image).await?);
    Ok(after - before)
}

fn print_table(report: &Report) {
    println!(
        "synthetic repo: {} files, {:.1} MB, served by git daemon on loopback; median of {} runs\n",
        report.files,
        report.repo_bytes as f64 / 1e6,
        report.iterations
    );
    let mut table = Table::new(["setup", "time"]);
    table.row([
        "first setup (clone, npm ci, start)".to_owned(),
        ms(report.full_setup_ms),
    ]);
    table.row(["warm repo cache".to_owned(), ms(report.warm_setup_ms)]);
    table.row([
        "  of it: fetch and tree copy".to_owned(),
        ms(report.warm_cloning_ms),
    ]);
    table.row([
        "  of it: installing (linked during the copy)".to_owned(),
        ms(report.warm_installing_ms),
    ]);
    table.row([
        "  of it: dev server start until it listens".to_owned(),
        ms(report.warm_starting_ms),
    ]);
    table.row([
        "warm repo cache, the tree walked out of the mirror again".to_owned(),
        ms(report.warm_setup_walked_ms),
    ]);
    table.row([
        "ready environment taken, until it answers HTTP (p50)".to_owned(),
        ms(report.warm_env_ready_p50_ms),
    ]);
    table.row([
        "  the same, p99".to_owned(),
        ms(report.warm_env_ready_p99_ms),
    ]);
    table.row([
        "clone over git:// every time".to_owned(),
        ms(report.network_clone_setup_ms),
    ]);
    table.row([
        "clone through a WAN link (40 ms, 100 Mbit/s) every time".to_owned(),
        ms(report.wan_clone_setup_ms),
    ]);
    table.row([
        "branch switch from the main image".to_owned(),
        ms(report.branch_switch_ms),
    ]);
    table.row([
        "raw engine: the tree's tar through the archive API".to_owned(),
        ms(report.raw_upload_ms),
    ]);
    table.row([
        "raw engine: the tree's tar into `tar -x` on an exec's stdin".to_owned(),
        ms(report.raw_exec_tar_ms),
    ]);
    table.row([
        "  the same into a volume".to_owned(),
        ms(report.raw_exec_tar_volume_ms),
    ]);
    table.row([
        "  the same into a tmpfs".to_owned(),
        ms(report.raw_exec_tar_tmpfs_ms),
    ]);
    table.row([
        "fetch with nothing new".to_owned(),
        ms(report.noop_fetch_ms),
    ]);
    print!("{}", table.render());
    println!(
        "\ncache speedup: {:.1}x (over a WAN link: {:.1}x); branch switch: {:.0}% of a first setup; \
         warm setup: {:.2}x the raw upload; main image layers gained over 5 setups: {}",
        report.cache_speedup,
        report.wan_cache_speedup,
        report.branch_switch_ratio * 100.0,
        report.warm_over_raw_upload,
        report.main_image_layer_growth
    );
}
