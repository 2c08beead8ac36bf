//! Helpers for tests against a real engine (feature `test-support`).
//!
//! [`TestEngine::connect`] finds the engine named by `DOCKER_HOST` (or the local socket). When
//! none answers, or the offline test images are missing, it returns `None` so the test can
//! skip — unless `SLIPWAY_REQUIRE_DOCKER=1`, where it panics: CI must never skip silently.
//! Everything a test creates carries a per-engine label `dev.slipway.test=<id>`, and
//! [`TestEngine::cleanup`] (also run on drop) removes exactly those objects.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use slipway_core::{
    labels, ContainerName, ContainerSpec, ImageRef, InstanceId, LabelFilter, Labels, Network,
    PruneFilter, RemoveOptions, Role, Runtime,
};

use crate::{DockerRuntime, Endpoint};

/// A tiny image with busybox applets (`sh`, `httpd`, `wget`, `nc`, …), built by `scripts/test`.
pub const BUSYBOX_IMAGE: &str = "slipway-test/busybox:1";
/// Debian with node, npm and git, built by `scripts/test`.
pub const NODE_IMAGE: &str = "slipway-test/node:1";
/// A stand-in for a BuildKit sidecar: serves its `/etc` over HTTP on port 1234 (so
/// `GET /hostname` tells which container answered) and ignores its arguments.
/// Built from the busybox image by [`TestEngine::buildkit_standin`] when missing.
pub const BUILDKIT_STANDIN_IMAGE: &str = "slipway-test/buildkit-standin:1";
/// The label that scopes a test's objects for cleanup.
pub const TEST_LABEL: &str = "dev.slipway.test";
/// Set to `1` to make a missing engine or image a failure instead of a skip.
pub const REQUIRE_ENV: &str = "SLIPWAY_REQUIRE_DOCKER";

/// Connects for a test or returns from it: `let Some(engine) = require_engine!() else { return };`
#[macro_export]
macro_rules! require_engine {
    () => {
        $crate::testing::TestEngine::connect().await
    };
}

/// A connection to the test engine plus a unique scope for what the test creates.
pub struct TestEngine {
    runtime: Arc<DockerRuntime>,
    endpoint: Endpoint,
    scope: String,
    instance: InstanceId,
    counter: AtomicU32,
}

fn required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

fn skip_or_fail(reason: &str) -> Option<TestEngine> {
    assert!(!required(), "{REQUIRE_ENV}=1 but {reason}");
    eprintln!("skipping: {reason} (run scripts/test to set up an engine and the test images)");
    None
}

/// The endpoint tests use: `DOCKER_HOST` and friends, like the docker CLI.
pub fn test_endpoint() -> Endpoint {
    Endpoint::from_docker_env(|key| std::env::var(key).ok())
        .expect("DOCKER_HOST is not a valid endpoint")
}

impl TestEngine {
    /// Connects to the test engine and checks the test images are there; see the module docs.
    pub async fn connect() -> Option<TestEngine> {
        let endpoint = test_endpoint();
        let runtime = match DockerRuntime::builder(endpoint.clone()).bootstrap().await {
            Ok(runtime) => runtime,
            Err(e) => return skip_or_fail(&format!("no engine answers: {e}")),
        };
        let image: ImageRef = BUSYBOX_IMAGE.parse().expect("valid test image reference");
        match runtime.image_exists(&image).await {
            Ok(true) => {}
            Ok(false) => {
                return skip_or_fail(&format!("the test image {BUSYBOX_IMAGE} is missing"))
            }
            Err(e) => return skip_or_fail(&format!("the engine failed to answer: {e}")),
        }
        let scope = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
        Some(TestEngine {
            runtime: Arc::new(runtime),
            endpoint,
            instance: InstanceId::new(format!("test-{scope}")),
            scope,
            counter: AtomicU32::new(0),
        })
    }

    /// The runtime under test.
    pub fn runtime(&self) -> &DockerRuntime {
        &self.runtime
    }

    /// The runtime under test, shared.
    pub fn shared(&self) -> Arc<DockerRuntime> {
        Arc::clone(&self.runtime)
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

    /// slipway's managed labels for `role`, plus this test's scope label.
    pub fn labels(&self, role: Role) -> Labels {
        let mut labels = labels::managed(role, &self.instance);
        labels.insert(TEST_LABEL.to_owned(), self.scope.clone());
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
        let mut context = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(dockerfile.len() as u64);
        header.set_mode(0o644);
        context
            .append_data(&mut header, "Dockerfile", dockerfile.as_bytes())
            .expect("writing to memory");
        let context = context.into_inner().expect("writing to memory");
        self.runtime
            .build_image(&slipway_core::BuildRequest::new(context, image.clone()))
            .await
            .expect("the BuildKit stand-in image builds from the busybox image");
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
        cleanup_scope(self.runtime.as_ref(), &self.filter()).await
    }
}

async fn cleanup_scope(runtime: &DockerRuntime, filter: &LabelFilter) -> usize {
    let mut removed = 0;
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
        let filter = self.filter();
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
                    cleanup_scope(&runtime, &filter).await;
                }
            });
        });
        let _ = worker.join();
    }
}
