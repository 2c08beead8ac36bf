//! The Docker daemon slipway starts inside `docker:dind` runs (the dind test image): its
//! own storage, loaded images, a daemon that can't start, storage kept under a cache key.

mod support;

use std::time::Duration;

use slipway_buildkit::{inner_daemon, CleanOptions, RunSpec};
use slipway_core::prelude::*;
use slipway_core::{DockerMode, ErrorKind, PrivilegeProfile, RunState};
use slipway_testkit::engine::Need;

use support::*;

/// A script that builds `tag` `FROM scratch` with the inner daemon and prints its id.
fn build_scratch_image(tag: &str) -> String {
    format!("{SCRATCH_CONTEXT} && docker build -q -t {tag} . >/dev/null && docker images -q {tag}")
}

#[tokio::test]
async fn two_dind_runs_each_get_their_own_inner_daemon_and_storage() {
    let Some(stack) = stack_with_needs(&[Need::DindImage]).await else {
        return;
    };
    let (a, b) = tokio::join!(
        stack.manager.create(real_dind(&stack)),
        stack.manager.create(real_dind(&stack))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let (a_main, b_main) = (
        a.main_container_id.clone().unwrap(),
        b.main_container_id.clone().unwrap(),
    );
    // The command sees the inner daemon, on overlay2, with none of the host's containers.
    let (code, driver) = sh(&stack, &a_main, "docker info --format '{{.Driver}}'").await;
    assert_eq!((code, driver.trim()), (0, "overlay2"), "{driver}");
    let (code, listed) = sh(&stack, &a_main, "docker ps -aq | wc -l").await;
    assert_eq!((code, listed.trim()), (0, "0"), "{listed}");
    let (code, built) = sh(&stack, &a_main, &build_scratch_image("only-in-a:1")).await;
    assert_eq!(code, 0, "{built}");
    assert!(!built.trim().is_empty());
    let (code, seen) = sh(&stack, &b_main, "docker images -q only-in-a:1").await;
    assert_eq!((code, seen.trim()), (0, ""), "run b sees run a's image");

    let (a_volumes, b_volumes) = (
        run_volumes(&stack, &a.id).await,
        run_volumes(&stack, &b.id).await,
    );
    assert_eq!(a_volumes.len(), 1, "{a_volumes:?}");
    assert_eq!(b_volumes.len(), 1, "{b_volumes:?}");
    assert_ne!(a_volumes, b_volumes);
    for run in [&a, &b] {
        stack.manager.stop(&run.id).await.unwrap();
        assert_eq!(leftovers(&stack, &run.id).await, (0, 0));
        assert!(
            run_volumes(&stack, &run.id).await.is_empty(),
            "stop removes the storage"
        );
    }
}

#[tokio::test]
async fn a_loaded_image_runs_inside_before_the_command_starts() {
    let Some(stack) = stack_with_needs(&[Need::DindImage]).await else {
        return;
    };
    // The command itself runs the loaded image: it must be there when the command starts.
    let spec = real_dind(&stack)
        .with_loaded_image(stack.engine.busybox())
        .with_command([
            "sh",
            "-c",
            "docker run --rm slipway-test/busybox:1 echo inner-hello >/tmp/out 2>&1; sleep 3600",
        ]);
    let run = stack.manager.create(spec).await.unwrap();
    let main = run.main_container_id.clone().unwrap();
    let mut said = String::new();
    for _ in 0..100 {
        said = sh(&stack, &main, "cat /tmp/out 2>/dev/null").await.1;
        if !said.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(said.trim(), "inner-hello");
    stack.manager.stop(&run.id).await.unwrap();
    assert_eq!(leftovers(&stack, &run.id).await, (0, 0));
}

#[tokio::test]
async fn a_daemon_that_cannot_start_fails_the_run_with_what_it_said_and_leaves_nothing() {
    let Some(stack) = stack_with_needs(&[Need::DindImage]).await else {
        return;
    };
    // busybox brings no dockerd.
    let mut no_dockerd = real_dind(&stack).with_loaded_image(stack.engine.busybox());
    no_dockerd.image = stack.engine.busybox();
    // Without the capability profile the cgroups can't be mounted read-write.
    let unprivileged = RunSpec::new(stack.engine.dind())
        .with_docker(DockerMode::Dind)
        .with_command(["true"])
        .with_privilege(PrivilegeProfile::Default)
        .with_sidecar(slipway_buildkit::SidecarOverrides {
            privilege: Some(PrivilegeProfile::Default),
            ..Default::default()
        });
    for (spec, expected) in [
        (no_dockerd, "has no dockerd"),
        (unprivileged, "could not mount the cgroup"),
    ] {
        let error = stack.manager.create(spec).await.unwrap_err();
        let run = error.run_id().cloned().expect("the run was recorded");
        let chain = error_chain(&error);
        assert!(chain.contains(expected), "{chain}");
        assert_eq!(leftovers(&stack, &run).await, (0, 0), "{chain}");
        assert!(run_volumes(&stack, &run).await.is_empty());
        assert_eq!(
            stack.store.run(&run).await.unwrap().unwrap().state,
            RunState::Failed
        );
    }
}

/// An error with its sources, one per line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!("\n{cause}"));
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn storage_kept_under_a_cache_key_serves_the_next_run_and_one_live_run_at_a_time() {
    let Some(stack) = stack_with_needs(&[Need::DindImage]).await else {
        return;
    };
    let key = format!("test-{}", stack.engine.scope());
    let first = stack
        .manager
        .create(real_dind(&stack).with_docker_cache(key.clone()))
        .await
        .unwrap();
    let main = first.main_container_id.clone().unwrap();
    let (code, built) = sh(&stack, &main, &build_scratch_image("kept:1")).await;
    assert_eq!(code, 0, "{built}");

    // While the first run lives, its storage is locked: a second run with the key is refused
    // and leaves nothing.
    let refused = stack
        .manager
        .create(real_dind(&stack).with_docker_cache(key.clone()))
        .await
        .unwrap_err();
    assert_eq!(
        refused.kind(),
        ErrorKind::Conflict,
        "{}",
        error_chain(&refused)
    );
    let refused_run = refused.run_id().cloned().unwrap();
    assert_eq!(leftovers(&stack, &refused_run).await, (0, 0));

    stack.manager.stop(&first.id).await.unwrap();
    let second = stack
        .manager
        .create(real_dind(&stack).with_docker_cache(key.clone()))
        .await
        .unwrap();
    let main = second.main_container_id.clone().unwrap();
    let (code, seen) = sh(&stack, &main, "docker images -q kept:1").await;
    assert_eq!(code, 0, "{seen}");
    assert_eq!(
        seen.trim(),
        built.trim(),
        "the next run finds what the first built"
    );
    stack.manager.stop(&second.id).await.unwrap();
    // The kept storage outlives both runs and a clean; no lock is left.
    stack.manager.clean(&CleanOptions::default()).await.unwrap();
    let kept = stack
        .engine
        .runtime()
        .list_volumes(
            &stack
                .engine
                .filter()
                .with(inner_daemon::DOCKER_CACHE_LABEL, key),
        )
        .await
        .unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(stack.store.locks().await.unwrap().is_empty());
}
