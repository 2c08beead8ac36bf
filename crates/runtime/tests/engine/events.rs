use std::time::Duration;

use futures_util::StreamExt;
use slipway_core::prelude::*;
use slipway_core::{run_container, ContainerAction, RemoveOptions};
use slipway_testkit::require_engine;

#[tokio::test]
async fn a_container_dying_and_being_removed_shows_in_the_event_stream() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let mut events = runtime.container_events(&engine.filter());
    let id = run_container(
        runtime,
        &engine
            .sleeper("events")
            .with_cmd(["sh", "-c", "sleep 0.2; exit 4"]),
    )
    .await
    .unwrap();
    assert_eq!(runtime.wait_container(&id).await.unwrap(), 4);
    runtime
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();

    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|(action, _)| *action == ContainerAction::Destroy)
    {
        let event = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("events arrive")
            .expect("the stream stays open")
            .unwrap();
        assert_eq!(event.id, id, "only this test's containers match the filter");
        assert_eq!(
            event.labels.get("dev.slipway.test").map(String::as_str),
            Some(engine.scope())
        );
        seen.push((event.action, event.exit_code));
    }
    let actions: Vec<_> = seen
        .iter()
        .map(|(a, _)| a.clone())
        .filter(|a| !matches!(a, ContainerAction::Other(_)))
        .collect();
    assert_eq!(
        actions,
        [
            ContainerAction::Start,
            ContainerAction::Die,
            ContainerAction::Destroy
        ]
    );
    assert!(seen.contains(&(ContainerAction::Die, Some(4))), "{seen:?}");
}
