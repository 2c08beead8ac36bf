//! A dev environment end to end through the application layer: a repository served over
//! git, an environment created from the pool and set up (clone → npm ci → dev server), its
//! page fetched over HTTP on its host port, commands run in it, destroyed — and the next
//! environment gets the port back.

use std::time::Duration;

use slipway_core::{EnvironmentStatus, ExecRequest, RemoteUrl};
use slipway_e2e::Stack;
use slipway_provision::SetupRequest;
use slipway_testkit::http;
use slipway_testkit::synthetic::{node_app, GitDaemon, SyntheticRepo};

#[tokio::test]
async fn a_repo_becomes_a_dev_server_on_a_host_port_that_is_reused_after_destroy() {
    let Some(stack) = Stack::start("").await else {
        return;
    };
    let slug = format!("e2e/app-{}", stack.engine.scope());
    let repo = SyntheticRepo::create(&stack.dir().join(format!("{slug}.git"))).unwrap();
    repo.commit(
        "main",
        None,
        &node_app("end to end", "1.0.0", "hello"),
        &[],
        "main",
    )
    .unwrap();
    let daemon = GitDaemon::serve(stack.dir()).await.unwrap();
    let remote: RemoteUrl = daemon.url(&format!("{slug}.git")).parse().unwrap();

    let services = stack.owner().await;
    let environments = services.environments().unwrap();
    let mut request = SetupRequest::new(slug.parse().unwrap());
    request.remote = Some(remote.clone());
    let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
    let ready = environments
        .up(None, request.clone(), Some(sender))
        .await
        .unwrap();
    assert_eq!(ready.status, EnvironmentStatus::Ready);
    let port = ready.host_port.unwrap();
    assert!(stack.config.pools.settings.port_range.contains(port));
    let page = http::get(port).await;
    assert_eq!(page, "hello end to end\n");
    let mut phases = Vec::new();
    while let Ok(event) = events.try_recv() {
        assert_eq!(event.environment, ready.id);
        phases.push((event.event.phase, event.event.started));
    }
    assert!(phases.len() >= 7, "{phases:?}");

    // The record in the store and the container on the engine say the same.
    let record = services
        .store()
        .environment(&ready.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record, ready);
    let container = record.container_id.clone().unwrap();
    let info = services
        .runtime()
        .unwrap()
        .inspect_container(&container)
        .await
        .unwrap();
    assert_eq!(info.host_port(3000), Some(port));
    let ran = environments
        .exec(
            &ready.id,
            ExecRequest::new(["node", "-e", "console.log(require('greeting'))"]),
        )
        .await
        .unwrap();
    assert_eq!(ran.stdout_text().trim(), "hello");
    let slow = environments
        .exec(
            &ready.id,
            ExecRequest::shell("sleep 300").with_timeout(Duration::from_secs(1)),
        )
        .await
        .unwrap();
    assert!(slow.timed_out);

    // Destroyed: container gone, port back; the next environment gets the same port.
    environments.destroy(&ready.id).await.unwrap();
    assert!(services
        .runtime()
        .unwrap()
        .inspect_container(&container)
        .await
        .is_err());
    assert!(services.store().port_leases().await.unwrap().is_empty());
    let next = environments.up(None, request, None).await.unwrap();
    assert_eq!(next.host_port, Some(port), "the lowest free port again");
    assert_eq!(http::get(port).await, "hello end to end\n");
    environments.destroy(&next.id).await.unwrap();
    services.shutdown(Duration::from_secs(10)).await.unwrap();
}
