//! Tests against a real engine.
//!
//! [`TestEngine::connect`] (or [`require_engine!`](crate::require_engine)) finds the engine
//! named by `DOCKER_HOST` (or the local socket) and checks what the test needs. One rule for
//! every prerequisite — the engine, the kind of socket, each test image: when one is missing
//! the test is skipped, unless `SLIPWAY_REQUIRE_DOCKER=1`, where it **fails** with the reason.
//! Each outcome is appended to `$SLIPWAY_TEST_TALLY` (when set), so `scripts/test` can say how
//! many engine tests ran and how many were skipped.
//!
//! Everything a test creates carries `dev.slipway.test=<scope>` (unique per test) and, when
//! `SLIPWAY_TEST_RUN` is set, `dev.slipway.test-run=<run>`; [`TestEngine::cleanup`] (also run
//! on drop, so after a panic too) removes exactly the test's objects.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use slipway_core::labels::Scope;
use slipway_core::prelude::*;
use slipway_core::{
    BuildRequest, ContainerId, ContainerName, ContainerSpec, ImageRef, InstanceId, LabelFilter,
    Labels, PruneFilter, RemoveOptions, Role,
};
use slipway_runtime::{DockerRuntime, Endpoint};

/// A tiny image with busybox applets (`sh`, `httpd`, `wget`, `nc`, …), built by `scripts/test`.
pub const BUSYBOX_IMAGE: &str = "slipway-test/busybox:1";
/// Debian with node, npm and git, built by `scripts/test`.
pub const NODE_IMAGE: &str = "slipway-test/node:1";
/// Debian with Docker (`dockerd`, the CLI, containerd) for docker:dind runs, built by
/// `scripts/test`.
pub const DIND_IMAGE: &str = "slipway-test/dind:2";
/// A stand-in for a BuildKit sidecar: serves its `/etc` over HTTP on port 1234 (so
/// `GET /hostname` tells which container answered) and ignores its arguments.
/// Built from the busybox image by [`TestEngine::buildkit_standin`] when missing.
pub const BUILDKIT_STANDIN_IMAGE: &str = "slipway-test/buildkit-standin:1";
/// A real BuildKit sidecar for tests: the one built into `dockerd`, served on port 1234 (see
/// [`TestEngine::embedded_buildkit`]). Built from [`DIND_IMAGE`].
pub const EMBEDDED_BUILDKIT_IMAGE: &str = "slipway-test/buildkit-embedded:2";
/// The label that scopes a test's objects for cleanup.
pub const TEST_LABEL: &str = "dev.slipway.test";
/// The label that scopes one whole test run (`SLIPWAY_TEST_RUN`) for the leak check.
pub const TEST_RUN_LABEL: &str = "dev.slipway.test-run";
/// Set to `1` to make a missing prerequisite a failure instead of a skip.
pub const REQUIRE_ENV: &str = "SLIPWAY_REQUIRE_DOCKER";
/// A file each engine test appends `ran <test>` or `skipped <test>: <reason>` to.
pub const TALLY_ENV: &str = "SLIPWAY_TEST_TALLY";

/// Connects for a test or returns from it:
/// `let Some(engine) = require_engine!() else { return };`, or with needs:
/// `require_engine!(Need::NodeImage, Need::LocalSocket)`.
#[macro_export]
macro_rules! require_engine {
    ($($need:expr),* $(,)?) => {
        $crate::engine::TestEngine::connect_with(&[$($need),*]).await
    };
}

/// Something an engine test needs besides the engine and the busybox image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The node test image ([`NODE_IMAGE`]).
    NodeImage,
    /// The dind test image ([`DIND_IMAGE`]).
    DindImage,
    /// The engine on a local unix socket (to put a TCP or TLS front before it).
    LocalSocket,
    /// A registry at `SLIPWAY_TEST_REGISTRY` (`scripts/test` starts one).
    Registry,
    /// The remote test engine instead of the local one: a dockerd in a network namespace of
    /// its own, over a veth link with mutual TLS (`SLIPWAY_TEST_REMOTE_ENGINE`, certificates
    /// in `SLIPWAY_TEST_REMOTE_TLS`; `scripts/test` starts it). Its containers' addresses are
    /// not reachable from the test process.
    RemoteEngine,
}

/// The remote test engine's endpoint, when `scripts/test` started one.
pub fn remote_test_endpoint() -> Option<Endpoint> {
    let host = std::env::var("SLIPWAY_TEST_REMOTE_ENGINE")
        .ok()
        .filter(|v| !v.is_empty())?;
    let certs = std::env::var("SLIPWAY_TEST_REMOTE_TLS").ok()?;
    let endpoint = Endpoint::from_docker_env(|key| match key {
        "DOCKER_HOST" => Some(host.clone()),
        "DOCKER_TLS_VERIFY" => Some("1".to_owned()),
        "DOCKER_CERT_PATH" => Some(certs.clone()),
        _ => None,
    })
    .expect("SLIPWAY_TEST_REMOTE_ENGINE is not a valid endpoint");
    Some(endpoint)
}

/// A connection to the test engine plus a unique scope for what the test creates.
pub struct TestEngine {
    runtime: Arc<DockerRuntime>,
    endpoint: Endpoint,
    scope: String,
    instance: InstanceId,
    counter: AtomicU32,
    /// Objects without the test's label (made to look foreign) to remove as well.
    unlabelled: std::sync::Mutex<Unlabelled>,
}

/// Objects a test made without its label, removed with the rest.
#[derive(Debug, Clone, Default)]
struct Unlabelled {
    volumes: Vec<String>,
    images: Vec<String>,
}

fn required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("unnamed test")
        .to_owned()
}

fn tally(line: &str) {
    let Some(path) = std::env::var_os(TALLY_ENV) else {
        return;
    };
    let opened = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path);
    if let Ok(mut file) = opened {
        // One write per line: appends from concurrent tests don't interleave.
        let _ = file.write_all(format!("{line}\n").as_bytes());
    }
}

/// Skips (returns `None`) or, under `SLIPWAY_REQUIRE_DOCKER=1`, fails the test.
pub fn skip_or_fail<T>(reason: &str) -> Option<T> {
    let test = test_name();
    tally(&format!("skipped {test}: {reason}"));
    assert!(!required(), "{REQUIRE_ENV}=1 but {reason}");
    eprintln!(
        "skipping {test}: {reason} (run scripts/test to set up an engine and the test images)"
    );
    None
}

/// The endpoint tests use: `DOCKER_HOST` and friends, like the docker CLI.
pub fn test_endpoint() -> Endpoint {
    Endpoint::from_docker_env(|key| std::env::var(key).ok())
        .expect("DOCKER_HOST is not a valid endpoint")
}

/// The test registry's address (`SLIPWAY_TEST_REGISTRY`), if one was started.
pub fn test_registry() -> Option<String> {
    std::env::var("SLIPWAY_TEST_REGISTRY")
        .ok()
        .filter(|v| !v.is_empty())
}

impl TestEngine {
    /// Connects to the test engine and checks the busybox image is there.
    pub async fn connect() -> Option<TestEngine> {
        Self::connect_with(&[]).await
    }

    /// Connects and checks every need; see the module docs for what a missing one does.
    pub async fn connect_with(needs: &[Need]) -> Option<TestEngine> {
        let endpoint = if needs.contains(&Need::RemoteEngine) {
            match remote_test_endpoint() {
                Some(endpoint) => endpoint,
                None => {
                    return skip_or_fail(
                        "no remote test engine (SLIPWAY_TEST_REMOTE_ENGINE is not set; scripts/test starts one)",
                    )
                }
            }
        } else {
            test_endpoint()
        };
        let runtime = match DockerRuntime::builder(endpoint.clone()).bootstrap().await {
            Ok(runtime) => runtime,
            Err(e) => return skip_or_fail(&format!("no engine answers: {e}")),
        };
        let mut images = vec![BUSYBOX_IMAGE];
        for need in needs {
            match need {
                Need::NodeImage => images.push(NODE_IMAGE),
                Need::DindImage => images.push(DIND_IMAGE),
                Need::LocalSocket if endpoint.local_socket().is_none() => {
                    return skip_or_fail(&format!(
                        "the test engine {endpoint} is not on a local socket"
                    ));
                }
                Need::Registry if test_registry().is_none() => {
                    return skip_or_fail("no test registry (SLIPWAY_TEST_REGISTRY is not set)");
                }
                Need::LocalSocket | Need::Registry | Need::RemoteEngine => {}
            }
        }
        for image in images {
            let reference: ImageRef = image.parse().expect("valid test image reference");
            match runtime.image_exists(&reference).await {
                Ok(true) => {}
                Ok(false) => return skip_or_fail(&format!("the test image {image} is missing")),
                Err(e) => return skip_or_fail(&format!("the engine failed to answer: {e}")),
            }
        }
        tally(&format!("ran {}", test_name()));
        let scope = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
        Some(TestEngine {
            runtime: Arc::new(runtime),
            endpoint,
            instance: InstanceId::new(format!("test-{scope}")),
            scope,
            counter: AtomicU32::new(0),
            unlabelled: std::sync::Mutex::default(),
        })
    }

    /// Removes volume `name` with the test's objects, also after a panic (for volumes made
    /// without slipway's labels on purpose).
    pub fn remove_later_volume(&self, name: &str) {
        self.unlabelled().volumes.push(name.to_owned());
    }

    /// Removes image reference `image` with the test's objects, also after a panic (tags a
    /// test gives an unlabelled image).
    pub fn remove_later_image(&self, image: &str) {
        self.unlabelled().images.push(image.to_owned());
    }

    fn unlabelled(&self) -> std::sync::MutexGuard<'_, Unlabelled> {
        self.unlabelled.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The command lines of the live processes in container `id`, as the engine sees them
    /// from the host (`docker top`), zombies left out: independent of anything the
    /// container's own `/proc` or tools could hide.
    pub async fn processes(&self, id: &ContainerId) -> Vec<String> {
        let top = self
            .runtime
            .bollard()
            .top_processes(
                id.as_str(),
                None::<slipway_runtime::bollard::query_parameters::TopOptions>,
            )
            .await
            .expect("docker top answers");
        let titles = top.titles.unwrap_or_default();
        let command = titles.iter().position(|t| t == "CMD" || t == "COMMAND");
        top.processes
            .unwrap_or_default()
            .into_iter()
            .filter_map(|row| command.and_then(|i| row.get(i).cloned()))
            .filter(|cmd| !cmd.contains("<defunct>"))
            .collect()
    }

    /// The runtime under test.
    pub fn runtime(&self) -> &DockerRuntime {
        &self.runtime
    }

    /// The runtime under test, shared.
    pub fn shared(&self) -> Arc<DockerRuntime> {
        Arc::clone(&self.runtime)
    }

    /// The engine's endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The engine's local socket ([`Need::LocalSocket`] makes sure there is one).
    pub fn local_socket(&self) -> PathBuf {
        self.endpoint
            .local_socket()
            .expect("connect_with(&[Need::LocalSocket]) checked for a local socket")
            .to_owned()
    }

    /// The instance id the test's objects carry.
    pub fn instance(&self) -> &InstanceId {
        &self.instance
    }

    /// This test's scope id (the value of [`TEST_LABEL`]).
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// A name no other test or run uses: `slipway-test-<prefix>-<scope>-<n>`.
    pub fn unique_name(&self, prefix: &str) -> ContainerName {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("slipway-test-{prefix}-{}-{n}", self.scope)
            .parse()
            .expect("test names are valid")
    }

    /// The labels that mark an object as this test's (and this run's), without slipway's own.
    pub fn scope_labels(&self) -> Labels {
        scope_labels(&self.scope)
    }

    /// slipway's labels for `role` under the test's instance, plus the test's scope labels.
    pub fn labels(&self, role: Role) -> Labels {
        let mut labels = Scope::new(role, &self.instance).labels();
        labels.extend(self.scope_labels());
        labels
    }

    /// A filter matching what this test created.
    pub fn filter(&self) -> LabelFilter {
        LabelFilter::managed().with(TEST_LABEL, self.scope.clone())
    }

    /// The busybox test image.
    pub fn busybox(&self) -> ImageRef {
        BUSYBOX_IMAGE.parse().expect("valid test image reference")
    }

    /// The node test image.
    pub fn node(&self) -> ImageRef {
        NODE_IMAGE.parse().expect("valid test image reference")
    }

    /// The dind test image.
    pub fn dind(&self) -> ImageRef {
        DIND_IMAGE.parse().expect("valid test image reference")
    }

    /// The BuildKit stand-in image (probe it with `tcp`), built on first use.
    pub async fn buildkit_standin(&self) -> ImageRef {
        let image: ImageRef = BUILDKIT_STANDIN_IMAGE
            .parse()
            .expect("valid test image reference");
        if self.runtime.image_exists(&image).await.unwrap_or(false) {
            return image;
        }
        let dockerfile = format!(
            "FROM {BUSYBOX_IMAGE}\n\
             ENTRYPOINT [\"sh\", \"-c\", \"echo stand-in listening on 1234 >&2; exec httpd -f -p 1234 -h /etc\", \"standin\"]\n"
        );
        self.runtime
            .build_image(&BuildRequest::new(
                dockerfile_context(&dockerfile),
                image.clone(),
            ))
            .await
            .expect("the BuildKit stand-in image builds from the busybox image");
        image
    }

    /// A real BuildKit sidecar image, built from the dind image on first use: `dockerd`
    /// with its state under `/var/lib/buildkit` and a relay that upgrades each connection to
    /// port 1234 to its `/grpc` endpoint, so gRPC clients (the `grpc` probe, `buildx`'s
    /// remote driver) talk to the BuildKit inside it. It needs the `caps` profile.
    pub async fn embedded_buildkit(&self) -> ImageRef {
        let image: ImageRef = EMBEDDED_BUILDKIT_IMAGE
            .parse()
            .expect("valid test image reference");
        if self.runtime.image_exists(&image).await.unwrap_or(false) {
            return image;
        }
        let dockerfile = format!(
            "FROM {DIND_IMAGE}\n\
             COPY relay.pl /usr/local/lib/relay.pl\n\
             COPY start.sh /usr/local/bin/embedded-buildkit\n\
             ENTRYPOINT [\"sh\", \"/usr/local/bin/embedded-buildkit\"]\n"
        );
        let context = build_context(&[
            ("Dockerfile", dockerfile.as_bytes(), 0o644),
            (
                "relay.pl",
                include_bytes!("embedded_buildkit/relay.pl"),
                0o644,
            ),
            (
                "start.sh",
                include_bytes!("embedded_buildkit/start.sh"),
                0o755,
            ),
        ]);
        self.runtime
            .build_image(&BuildRequest::new(context, image.clone()))
            .await
            .expect("the embedded-BuildKit image builds from the dind image");
        image
    }

    /// A labelled, uniquely named busybox container that sleeps until removed.
    pub fn sleeper(&self, prefix: &str) -> ContainerSpec {
        ContainerSpec::new(self.busybox())
            .with_name(self.unique_name(prefix))
            .with_labels(self.labels(Role::Env))
            .with_cmd(["sleep", "3600"])
            .with_init(true)
    }

    /// Removes every container, network, volume and image carrying this test's scope label;
    /// returns how many objects were removed.
    pub async fn cleanup(&self) -> usize {
        let unlabelled = self.unlabelled().clone();
        cleanup_scope(self.runtime.as_ref(), &self.cleanup_filter(), &unlabelled).await
    }

    /// Everything with the test's scope label, slipway's or not (tests make foreign objects
    /// on purpose, with this label only, to show slipway leaves them alone).
    fn cleanup_filter(&self) -> LabelFilter {
        LabelFilter::default().with(TEST_LABEL, self.scope.clone())
    }
}

/// The labels that mark an object as belonging to test `scope` (and to this test run).
pub fn scope_labels(scope: &str) -> Labels {
    let mut labels = Labels::from([(TEST_LABEL.to_owned(), scope.to_owned())]);
    if let Some(run) = std::env::var("SLIPWAY_TEST_RUN")
        .ok()
        .filter(|r| !r.is_empty())
    {
        labels.insert(TEST_RUN_LABEL.to_owned(), run);
    }
    labels
}

/// A block of `len` host ports that are free right now, below the kernel's ephemeral range
/// (32768 and up) so no outgoing connection takes one meanwhile, at a random place so that
/// concurrent tests rarely pick the same block (and the pool passes over a port taken anyway).
pub fn free_port_range(len: u16) -> slipway_core::PortRange {
    const FIRST: u16 = 20_000;
    const LAST: u16 = 32_000;
    let span = u32::from(LAST - FIRST - len);
    for attempt in 0..200u32 {
        let seed = uuid::Uuid::new_v4().as_u128() as u32 ^ attempt;
        let first = FIRST + u16::try_from(seed % span).expect("span fits u16");
        let last = first + len - 1;
        if (first..=last).all(|port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()) {
            return slipway_core::PortRange::new(first, last).expect("a valid range");
        }
    }
    panic!("no block of {len} free ports between {FIRST} and {LAST}");
}

/// A build context holding only `dockerfile` as `Dockerfile`.
pub fn dockerfile_context(dockerfile: &str) -> Vec<u8> {
    build_context(&[("Dockerfile", dockerfile.as_bytes(), 0o644)])
}

/// A build context (an uncompressed tar) of `(path, contents, mode)` files.
pub fn build_context(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut context = tar::Builder::new(Vec::new());
    for (path, contents, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(*mode);
        context
            .append_data(&mut header, path, *contents)
            .expect("writing to memory");
    }
    context.into_inner().expect("writing to memory")
}

async fn cleanup_scope(
    runtime: &DockerRuntime,
    filter: &LabelFilter,
    unlabelled: &Unlabelled,
) -> usize {
    let mut removed = 0;
    for image in &unlabelled.images {
        removed += usize::from(runtime.remove_image(image, false).await.is_ok());
    }
    for volume in &unlabelled.volumes {
        removed += usize::from(runtime.remove_volume(volume).await.is_ok());
    }
    for container in runtime.list_containers(filter).await.unwrap_or_default() {
        if runtime
            .remove_container(&container.id, RemoveOptions::force())
            .await
            .is_ok()
        {
            removed += 1;
        }
    }
    for network in runtime.list_networks(filter).await.unwrap_or_default() {
        if runtime.remove_network(&network.id).await.is_ok() {
            removed += 1;
        }
    }
    for volume in runtime.list_volumes(filter).await.unwrap_or_default() {
        if runtime.remove_volume(&volume.name).await.is_ok() {
            removed += 1;
        }
    }
    let prune = PruneFilter {
        labels: filter.clone(),
        older_than: None,
        untagged_only: false,
    };
    removed += runtime
        .prune_images(&prune)
        .await
        .map(|r| r.removed.len())
        .unwrap_or(0);
    removed
}

impl Drop for TestEngine {
    fn drop(&mut self) {
        // Best effort, on a fresh connection and runtime: the test's runtime may be shutting down.
        let endpoint = self.endpoint.clone();
        let filter = self.cleanup_filter();
        let unlabelled = self.unlabelled().clone();
        let worker = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let connected = DockerRuntime::builder(endpoint)
                    .with_request_timeout(Duration::from_secs(30))
                    .bootstrap()
                    .await;
                if let Ok(runtime) = connected {
                    cleanup_scope(&runtime, &filter, &unlabelled).await;
                }
            });
        });
        let _ = worker.join();
    }
}
