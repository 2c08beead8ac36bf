//! The idle policy against the real engine: an environment nobody used for its
//! `autoStopMinutes` is stopped (as of a clock the test moves), others are left alone, and
//! the next exec starts it again.

mod support;

use std::time::{Duration, Instant};

use slipway_core::prelude::*;
use slipway_core::{ContainerState, ExecRequest};
use slipway_testkit::engine::BUSYBOX_IMAGE;
use slipway_testkit::require_engine;
use support::{call, destroy, router, Fixture, SECRET};

#[tokio::test]
async fn an_idle_environment_is_stopped_and_the_next_exec_starts_it_again() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let fixture = Fixture::new(Some(&engine), BUSYBOX_IMAGE, 0);
    let state = fixture.open().await;
    let router = router(&state);
    let create = |body: &'static str| {
        let router = router.clone();
        async move {
            let answer = call(&router, "POST", "/api/containers", Some(SECRET), Some(body)).await;
            assert_eq!(answer.status, 201, "{}", answer.body);
            answer.body["id"].as_str().unwrap().to_owned()
        }
    };
    let start = Instant::now();
    let idle = create(r#"{"name":"idle","autoStopMinutes":1}"#).await;
    let used = create(r#"{"name":"used","autoStopMinutes":1}"#).await;
    let forever = create(r#"{"name":"forever"}"#).await;
    let bad = call(
        &router,
        "POST",
        "/api/containers",
        Some(SECRET),
        Some(r#"{"name":"bad","autoStopMinutes":0}"#),
    )
    .await;
    assert_eq!(bad.status, 400);

    // Half a minute on (the clock is the test's), nobody is due.
    assert!(state
        .stop_idle(start + Duration::from_secs(30))
        .await
        .is_empty());
    // `used` is asked about two seconds in, so 61 s after the start only `idle` has been
    // idle a minute.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let path = format!("/api/containers/{used}");
    call(&router, "GET", &path, Some(SECRET), None).await;
    let stopped = state.stop_idle(start + Duration::from_secs(61)).await;
    assert_eq!(stopped, std::slice::from_ref(&idle));
    // Later `used` is due too; `forever` never is.
    let stopped = state.stop_idle(start + Duration::from_secs(3600)).await;
    assert_eq!(stopped, std::slice::from_ref(&used));

    let environments = state.services().environments().unwrap();
    let container = environments.container(&idle).await.unwrap();
    let info = engine
        .runtime()
        .inspect_container(&container)
        .await
        .unwrap();
    assert_ne!(info.state, ContainerState::Running);
    let shown = call(
        &router,
        "GET",
        &format!("/api/containers/{idle}"),
        Some(SECRET),
        None,
    )
    .await;
    assert_eq!(shown.body["state"], "stopped", "{}", shown.body);
    let forever_container = environments.container(&forever).await.unwrap();
    let info = engine
        .runtime()
        .inspect_container(&forever_container)
        .await
        .unwrap();
    assert_eq!(info.state, ContainerState::Running);

    // The next exec starts it again.
    let outcome = environments
        .exec(
            &idle,
            ExecRequest::new(["echo", "awake"]).with_working_dir("/"),
        )
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&outcome.stdout).trim(), "awake");
    let shown = call(
        &router,
        "GET",
        &format!("/api/containers/{idle}"),
        Some(SECRET),
        None,
    )
    .await;
    assert_eq!(shown.body["state"], "created", "{}", shown.body);
    for id in [idle, used, forever] {
        destroy(&router, &id).await;
    }
}
