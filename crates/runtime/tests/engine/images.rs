use std::time::Duration;

use slipway_core::prelude::*;
use slipway_core::{
    run_container, BuildRequest, CommitRequest, ContainerSpec, ErrorKind, ImageId, ImageRef,
    PruneFilter, RemoveOptions, Role,
};
use slipway_testkit::engine::TestEngine;
use slipway_testkit::{require_engine, Need};

use crate::support::sh;

fn image_name(engine: &TestEngine, what: &str) -> ImageRef {
    format!("slipway-test/{what}-{}:1", engine.scope())
        .parse()
        .unwrap()
}

/// Commits a fresh sleeper container as `image` with `labels` and removes the container.
async fn commit_sleeper(
    engine: &TestEngine,
    image: &ImageRef,
    labels: slipway_core::Labels,
) -> ImageId {
    let runtime = engine.runtime();
    let id = run_container(runtime, &engine.sleeper("commit-sleeper"))
        .await
        .unwrap();
    let committed = runtime
        .commit(&id, &CommitRequest::new(image.clone(), labels))
        .await
        .unwrap();
    runtime
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();
    committed
}

fn context(dockerfile: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    builder
        .append_data(&mut header, "Dockerfile", dockerfile.as_bytes())
        .unwrap();
    builder.into_inner().unwrap()
}

#[tokio::test]
async fn a_committed_container_runs_as_an_image() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let id = run_container(runtime, &engine.sleeper("commit"))
        .await
        .unwrap();
    sh(runtime, &id, "echo committed > /root/marker").await;

    let image = image_name(&engine, "commit");
    let mut request = CommitRequest::new(image.clone(), engine.labels(Role::Build));
    request
        .changes
        .push(r#"CMD ["cat", "/root/marker"]"#.into());
    runtime.commit(&id, &request).await.unwrap();
    runtime
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();

    assert!(runtime.image_exists(&image).await.unwrap());
    let info = runtime.inspect_image(&image).await.unwrap();
    assert_eq!(
        info.labels.get("dev.slipway.role").map(String::as_str),
        Some("build")
    );
    assert!(info.tags.contains(&image.to_string()), "{:?}", info.tags);

    let spec = ContainerSpec::new(image.clone()).with_labels(engine.labels(Role::Env));
    let from_image = run_container(runtime, &spec).await.unwrap();
    assert_eq!(runtime.wait_container(&from_image).await.unwrap(), 0);
    runtime
        .remove_container(&from_image, RemoveOptions::force())
        .await
        .unwrap();
    runtime.remove_image(image.as_str(), false).await.unwrap();
    assert!(!runtime.image_exists(&image).await.unwrap());
}

#[tokio::test]
async fn builds_go_through_buildkit_with_cache_mounts() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let image = image_name(&engine, "build");
    let dockerfile = format!(
        "FROM {}\nRUN --mount=type=cache,target=/cache echo built > /built && ls /cache >/dev/null\nCMD [\"cat\", \"/built\"]\n",
        engine.busybox()
    );
    let mut request = BuildRequest::new(context(&dockerfile), image.clone());
    request.labels = engine.labels(Role::Build);
    let outcome = runtime.build_image(&request).await.unwrap();
    assert!(
        outcome.image_id.as_str().starts_with("sha256:"),
        "{outcome:?}"
    );
    // `RUN --mount` only parses under BuildKit, so reaching here proves the builder.
    assert!(
        outcome
            .log
            .iter()
            .any(|l| l.contains("RUN --mount=type=cache")),
        "{:?}",
        outcome.log
    );

    let spec = ContainerSpec::new(image.clone()).with_labels(engine.labels(Role::Env));
    let id = run_container(runtime, &spec).await.unwrap();
    assert_eq!(runtime.wait_container(&id).await.unwrap(), 0);
    runtime
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();
    runtime.remove_image(image.as_str(), true).await.unwrap();
}

#[tokio::test]
async fn a_failing_build_reports_the_step() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let image = image_name(&engine, "broken");
    let dockerfile = format!("FROM {}\nRUN exit 9\n", engine.busybox());
    let err = engine
        .runtime()
        .build_image(&BuildRequest::new(context(&dockerfile), image))
        .await
        .unwrap_err();
    let chain = format!(
        "{err}: {}",
        std::error::Error::source(&err)
            .map(ToString::to_string)
            .unwrap_or_default()
    );
    assert!(chain.contains("failed to build image"), "{chain}");
    assert!(
        chain.contains("exit 9") || chain.contains("exit code: 9"),
        "{chain}"
    );
}

#[tokio::test]
async fn tag_and_push_reach_a_real_registry() {
    let Some(engine) = require_engine!(Need::Registry) else {
        return;
    };
    let registry = slipway_testkit::engine::test_registry().expect("Need::Registry checked it");
    let runtime = engine.runtime();
    let target: ImageRef = format!("{registry}/slipway-test/push-{}:v1", engine.scope())
        .parse()
        .unwrap();
    engine.remove_later_image(target.as_str());
    runtime
        .tag_image(engine.busybox().as_str(), &target)
        .await
        .unwrap();
    runtime.push_image(&target, None).await.unwrap();

    let tags = registry_get(
        &registry,
        &format!("/v2/slipway-test/push-{}/tags/list", engine.scope()),
    )
    .await;
    assert!(tags.contains("\"v1\""), "{tags}");
    runtime.remove_image(target.as_str(), false).await.unwrap();
    assert!(
        runtime.image_exists(&engine.busybox()).await.unwrap(),
        "removing a tag keeps the image"
    );
}

/// GET over plain HTTP/1.0 (the registry is on loopback).
async fn registry_get(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn pushing_to_an_unreachable_registry_fails_clearly() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target: ImageRef = format!(
        "127.0.0.1:{port}/slipway-test/nowhere-{}:v1",
        engine.scope()
    )
    .parse()
    .unwrap();
    engine.remove_later_image(target.as_str());
    runtime
        .tag_image(engine.busybox().as_str(), &target)
        .await
        .unwrap();
    let err = runtime.push_image(&target, None).await.unwrap_err();
    assert_eq!(err.kind(), slipway_core::ErrorKind::Unavailable, "{err}");
    assert!(
        err.to_string().contains(&format!(
            "failed to push image {target}: registry 127.0.0.1:{port} is unavailable"
        )),
        "{err}"
    );
    runtime.remove_image(target.as_str(), false).await.unwrap();
}

#[tokio::test]
async fn prune_removes_only_matching_images_older_than_asked() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let image = image_name(&engine, "prune");
    commit_sleeper(&engine, &image, engine.labels(Role::Build)).await;

    let young = PruneFilter {
        labels: engine.filter(),
        older_than: Some(Duration::from_secs(3600)),
        untagged_only: false,
    };
    assert!(runtime
        .prune_images(&young)
        .await
        .unwrap()
        .removed
        .is_empty());
    assert!(runtime.image_exists(&image).await.unwrap());

    let other_scope = PruneFilter {
        labels: slipway_core::LabelFilter::managed().with("dev.slipway.test", "someone-else"),
        older_than: None,
        untagged_only: false,
    };
    runtime.prune_images(&other_scope).await.unwrap();
    assert!(runtime.image_exists(&image).await.unwrap());

    let all = PruneFilter {
        labels: engine.filter(),
        older_than: None,
        untagged_only: false,
    };
    let report = runtime.prune_images(&all).await.unwrap();
    assert!(
        report
            .removed
            .iter()
            .any(|r| r.contains(image.repository())),
        "{report:?}"
    );
    assert!(!runtime.image_exists(&image).await.unwrap());
    assert!(runtime.image_exists(&engine.busybox()).await.unwrap());
}

#[tokio::test]
async fn prunes_at_the_same_time_all_succeed() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    // The engine runs one image prune at a time and answers others with a conflict while
    // one deletes; each of ours waits for its turn instead.
    let mut images = Vec::new();
    for n in 0..3 {
        let image = image_name(&engine, &format!("prune-many-{n}"));
        commit_sleeper(&engine, &image, engine.labels(Role::Build)).await;
        images.push(image);
    }
    let all = PruneFilter {
        labels: engine.filter(),
        older_than: None,
        untagged_only: false,
    };
    let prunes = futures_util::future::join_all((0..6).map(|_| runtime.prune_images(&all))).await;
    let removed: Vec<String> = prunes
        .into_iter()
        .flat_map(|prune| prune.expect("every prune succeeds").removed)
        .collect();
    for image in &images {
        assert!(!runtime.image_exists(image).await.unwrap(), "{image}");
        assert!(
            removed.iter().any(|r| r.contains(image.repository())),
            "{image} in {removed:?}"
        );
    }
}

#[tokio::test]
async fn a_missing_image_is_reported_by_name() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let missing: ImageRef = "slipway-test/never-built:1".parse().unwrap();
    assert!(!engine.runtime().image_exists(&missing).await.unwrap());
    let err = engine.runtime().inspect_image(&missing).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "image `slipway-test/never-built:1` not found"
    );
    let err = engine
        .runtime()
        .remove_image(missing.as_str(), false)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn an_untagged_only_prune_takes_what_a_retag_left_and_keeps_the_tagged_image() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let image = image_name(&engine, "retag");
    let mut ids = Vec::new();
    // Two commits to one tag: the first is left untagged.
    for round in ["one", "two"] {
        let mut labels = engine.labels(Role::Build);
        labels.insert("dev.slipway.round".into(), round.into());
        ids.push(commit_sleeper(&engine, &image, labels).await);
    }
    let untagged = PruneFilter {
        labels: engine.filter(),
        older_than: None,
        untagged_only: true,
    };
    let report = runtime.prune_images(&untagged).await.unwrap();
    // The report names the image and its layers.
    let removed = |id: &slipway_core::ImageId| report.removed.iter().any(|r| r == id.as_str());
    assert!(removed(&ids[0]), "{report:?} {ids:?}");
    assert!(!removed(&ids[1]), "{report:?} {ids:?}");
    assert_eq!(runtime.inspect_image(&image).await.unwrap().id, ids[1]);
    runtime.remove_image(image.as_str(), false).await.unwrap();
}
