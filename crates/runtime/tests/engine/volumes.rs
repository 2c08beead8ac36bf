use std::collections::HashMap;

use slipway_core::labels::{self, Scope};
use slipway_core::prelude::*;
use slipway_core::{
    run_container, ErrorKind, InstanceId, Mount, RemoveOptions, Role, VolumeInfo, VolumeSpec,
};
use slipway_runtime::bollard::models::VolumeCreateRequest;
use slipway_testkit::engine::TestEngine;
use slipway_testkit::require_engine;

use crate::support::sh;

/// The volumes carrying this test's scope label.
async fn scoped_volumes(engine: &TestEngine) -> Vec<VolumeInfo> {
    engine
        .runtime()
        .list_volumes(&engine.filter())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_volume_is_created_once_reused_and_outlives_its_containers() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let spec = VolumeSpec {
        name: engine.unique_name("deps"),
        labels: engine.labels(Role::Env),
    };
    let created = runtime.ensure_volume(&spec).await.unwrap();
    assert_eq!(created.name, spec.name.as_str());
    assert_eq!(
        runtime.ensure_volume(&spec).await.unwrap().name,
        created.name
    );

    let mount = Mount::Volume {
        name: created.name.clone(),
        target: "/deps".into(),
        read_only: false,
    };
    let writer = run_container(runtime, &engine.sleeper("vw").with_mount(mount.clone()))
        .await
        .unwrap();
    sh(runtime, &writer, "echo shared > /deps/file").await;
    runtime
        .remove_container(&writer, RemoveOptions::force())
        .await
        .unwrap();

    let reader = run_container(runtime, &engine.sleeper("vr").with_mount(mount))
        .await
        .unwrap();
    assert_eq!(sh(runtime, &reader, "cat /deps/file").await, "shared\n");
    runtime
        .remove_container(&reader, RemoveOptions::force())
        .await
        .unwrap();

    let listed = scoped_volumes(&engine).await;
    assert_eq!(
        listed.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
        [created.name.as_str()]
    );
    runtime.remove_volume(&created.name).await.unwrap();
    assert!(scoped_volumes(&engine).await.is_empty());
}

#[tokio::test]
async fn a_managed_volume_of_another_state_or_repo_is_refused_and_left_alone() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let name = engine.unique_name("theirs");
    let mut theirs = engine.scope_labels();
    theirs.extend(
        Scope::new(Role::Env, &InstanceId::new("another-state"))
            .with(labels::REPO, "me/app")
            .labels(),
    );
    runtime
        .ensure_volume(&VolumeSpec {
            name: name.clone(),
            labels: theirs.clone(),
        })
        .await
        .unwrap();

    let mut ours = engine.labels(Role::Env);
    ours.insert(labels::REPO.into(), "me/app".into());
    let mut other_repo = theirs.clone();
    other_repo.insert(labels::REPO.into(), "me/other".into());
    for labels in [ours, other_repo] {
        let err = runtime
            .ensure_volume(&VolumeSpec {
                name: name.clone(),
                labels,
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
        assert!(
            err.to_string().contains("belongs to something else"),
            "{err}"
        );
    }
    let still = runtime
        .bollard()
        .inspect_volume(name.as_str())
        .await
        .unwrap();
    assert_eq!(
        still.labels.into_iter().collect::<slipway_core::Labels>(),
        theirs
    );
}

#[tokio::test]
async fn a_foreign_volume_with_the_same_name_is_refused_and_left_alone() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let name = engine.unique_name("foreign");
    engine.remove_later_volume(name.as_str());
    let raw = runtime.bollard();
    raw.create_volume(VolumeCreateRequest {
        name: Some(name.to_string()),
        labels: Some(HashMap::from([(
            "owner".to_owned(),
            "someone-else".to_owned(),
        )])),
        ..VolumeCreateRequest::default()
    })
    .await
    .unwrap();

    let spec = VolumeSpec {
        name: name.clone(),
        labels: engine.labels(Role::Env),
    };
    let err = runtime.ensure_volume(&spec).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().contains("not managed by slipway"), "{err}");
    let still = raw.inspect_volume(name.as_str()).await.unwrap();
    assert_eq!(
        still.labels.get("owner").map(String::as_str),
        Some("someone-else")
    );
    assert_eq!(
        engine.cleanup().await,
        1,
        "the foreign volume is removed with the test"
    );
}

#[tokio::test]
async fn removing_a_missing_volume_is_not_found() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let err = engine
        .runtime()
        .remove_volume("slipway-test-never-made")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "volume `slipway-test-never-made` not found"
    );
}

#[tokio::test]
async fn a_scratch_volume_carries_the_container_s_labels_and_goes_with_it() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let spec = engine.sleeper("scratch").with_mount(Mount::Scratch {
        target: "/app".into(),
    });
    let container = run_container(runtime, &spec).await.unwrap();
    sh(runtime, &container, "echo tree > /app/file").await;
    let volumes = scoped_volumes(&engine).await;
    assert_eq!(volumes.len(), 1, "{volumes:?}");
    assert!(engine.filter().matches(&volumes[0].labels), "{volumes:?}");
    runtime
        .remove_container(&container, RemoveOptions::force())
        .await
        .unwrap();
    assert!(scoped_volumes(&engine).await.is_empty());
}

#[tokio::test]
async fn an_executable_tmpfs_runs_scripts_and_a_plain_one_does_not() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let tmpfs = |target: &str, executable| Mount::Tmpfs {
        target: target.into(),
        size_bytes: Some(8 << 20),
        executable,
    };
    let spec = engine
        .sleeper("tmpfs")
        .with_mount(tmpfs("/app", true))
        .with_mount(tmpfs("/scratch", false));
    let container = run_container(runtime, &spec).await.unwrap();
    let run = "for dir in /app /scratch; do printf '#!/bin/sh\\necho ran\\n' > $dir/x; chmod +x $dir/x; $dir/x 2>/dev/null || echo refused; done";
    assert_eq!(sh(runtime, &container, run).await, "ran\nrefused\n");
    let size = "df -k /app | tail -1 | awk '{print $2}'";
    assert_eq!(sh(runtime, &container, size).await, "8192\n");
    runtime
        .remove_container(&container, RemoveOptions::force())
        .await
        .unwrap();
}
