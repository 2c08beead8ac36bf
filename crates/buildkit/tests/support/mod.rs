//! What the run tests share: a run manager on the test engine with a BuildKit stand-in
//! sidecar (busybox httpd on port 1234, probed with `tcp`), and the checks they make.
// Each test binary uses part of it.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use slipway_buildkit::{BuildkitConfig, BuildkitSidecar, HealthProbe, RunManager, RunSpec};
use slipway_core::prelude::*;
use slipway_core::{
    labels, AuditFilter, CapabilityProfile, DockerMode, ExecRequest, Labels, PrivilegeProfile,
    RunId,
};
use slipway_runtime::DockerRuntime;
use slipway_store::SqliteStore;
use slipway_testkit::engine::{Need, TestEngine, TEST_LABEL};

pub(crate) struct Stack {
    pub(crate) engine: TestEngine,
    pub(crate) manager: RunManager,
    pub(crate) store: Arc<SqliteStore>,
    pub(crate) _dir: tempfile::TempDir,
}

pub(crate) fn test_labels(engine: &TestEngine) -> Labels {
    Labels::from([(TEST_LABEL.to_owned(), engine.scope().to_owned())])
}

pub(crate) async fn stack_with(
    runtime: Option<Arc<DockerRuntime>>,
    adjust: impl FnOnce(&mut BuildkitConfig),
) -> Option<Stack> {
    stack_for(&[], runtime, adjust).await
}

pub(crate) async fn stack_with_needs(needs: &[Need]) -> Option<Stack> {
    stack_for(needs, None, |_| {}).await
}

pub(crate) async fn stack_for(
    needs: &[Need],
    runtime: Option<Arc<DockerRuntime>>,
    adjust: impl FnOnce(&mut BuildkitConfig),
) -> Option<Stack> {
    let engine = TestEngine::connect_with(needs).await?;
    let runtime = runtime.unwrap_or_else(|| engine.shared());
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open_in_dir(dir.path()).unwrap());
    let mut config = BuildkitConfig {
        image: engine.buildkit_standin().await,
        probe: HealthProbe::Tcp,
        cache_key: format!("test-{}", engine.scope()),
        privilege: PrivilegeProfile::Default,
        labels: test_labels(&engine),
        ..BuildkitConfig::default()
    };
    adjust(&mut config);
    let sidecar = BuildkitSidecar::new(runtime.clone(), store.instance_id(), config).unwrap();
    let manager = RunManager::new(
        runtime.clone(),
        runtime,
        store.clone(),
        Arc::new(sidecar),
        store.instance_id(),
    )
    .with_labels(test_labels(&engine));
    Some(Stack {
        engine,
        manager,
        store,
        _dir: dir,
    })
}

pub(crate) async fn stack() -> Option<Stack> {
    stack_with(None, |_| {}).await
}

/// A dind run of busybox, which brings no daemon: these tests are about the sidecar and the
/// network (`inner_daemon.rs` runs a real one).
pub(crate) fn dind(stack: &Stack) -> RunSpec {
    RunSpec::new(stack.engine.busybox())
        .with_docker(DockerMode::Dind)
        .with_inner_daemon(false)
        .with_command(["sleep", "3600"])
        .with_privilege(PrivilegeProfile::Capabilities(
            CapabilityProfile::near_privileged(),
        ))
        .with_env("GREETING", "hello")
}

pub(crate) async fn sh(
    stack: &Stack,
    container: &slipway_core::ContainerId,
    script: &str,
) -> (i64, String) {
    sh_within(stack, container, script, Duration::from_secs(10)).await
}

pub(crate) async fn sh_within(
    stack: &Stack,
    container: &slipway_core::ContainerId,
    script: &str,
    limit: Duration,
) -> (i64, String) {
    let out = stack
        .engine
        .runtime()
        .exec(container, &ExecRequest::shell(script).with_timeout(limit))
        .await
        .unwrap();
    (
        out.exit_code.unwrap_or(-1),
        format!("{}{}", out.stdout_text(), out.stderr_text()),
    )
}

/// This test's containers and networks carrying `run`'s label.
pub(crate) async fn leftovers(stack: &Stack, run: &RunId) -> (usize, usize) {
    let filter = stack.engine.filter().with(labels::RUN_ID, run.to_string());
    let runtime = stack.engine.runtime();
    (
        runtime.list_containers(&filter).await.unwrap().len(),
        runtime.list_networks(&filter).await.unwrap().len(),
    )
}

pub(crate) async fn audit_kinds(stack: &Stack, run: &RunId) -> Vec<String> {
    let filter = AuditFilter {
        run_id: Some(run.clone()),
        ..AuditFilter::default()
    };
    stack
        .store
        .audit_entries(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.event.kind)
        .collect()
}

/// A dind run of the dind test image whose daemon slipway starts.
pub(crate) fn real_dind(stack: &Stack) -> RunSpec {
    RunSpec::new(stack.engine.dind())
        .with_docker(DockerMode::Dind)
        .with_command(["sleep", "3600"])
        .with_privilege(PrivilegeProfile::Capabilities(
            CapabilityProfile::near_privileged(),
        ))
}

/// This run's volumes (the inner daemon's storage).
pub(crate) async fn run_volumes(stack: &Stack, run: &RunId) -> Vec<String> {
    let filter = stack.engine.filter().with(labels::RUN_ID, run.to_string());
    let volumes = stack.engine.runtime().list_volumes(&filter).await.unwrap();
    volumes.into_iter().map(|v| v.name.to_string()).collect()
}

/// Shell that writes a `FROM scratch` build context to `/b` and enters it.
pub(crate) const SCRATCH_CONTEXT: &str =
    "mkdir -p /b && cd /b && echo x >f && printf 'FROM scratch\\nCOPY f /f\\n' >Dockerfile";
