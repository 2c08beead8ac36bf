//! `GET /api/containers/{id}/logs` over a real socket against the real engine: lines in
//! order with their numbers, a reconnect with `Last-Event-ID` getting exactly what it missed,
//! `event: gap` when the ring dropped lines, `?tail=N`, the query token, `event: end`.

mod support;

use std::time::Duration;

use slipway_core::prelude::*;
use slipway_core::ExecRequest;
use slipway_testkit::engine::BUSYBOX_IMAGE;
use slipway_testkit::require_engine;
use support::sse::Sse;
use support::{container_of, create, destroy, router, serve, Fixture, SECRET};

/// Reads events from `url` (resuming after `last_event_id`) until `until` says stop.
async fn read_events(
    url: &str,
    last_event_id: Option<u64>,
    until: impl Fn(&[Sse]) -> bool,
) -> Vec<Sse> {
    let mut request = reqwest::Client::new().get(url);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id.to_string());
    }
    support::sse::read(request, until).await
}

fn lines(events: &[Sse]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.event.is_none())
        .map(|e| e.data["line"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_reconnect_gets_exactly_the_lines_it_missed_or_hears_of_the_gap() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let fixture = Fixture::with_provision(
        Some(&engine),
        BUSYBOX_IMAGE,
        0,
        "\n[server]\nlog_buffer_lines = 25",
    );
    let state = fixture.open().await;
    let router = router(&state);
    let base = format!("http://{}", serve(&router).await);

    let id = create(&router, "logs").await;
    let container = container_of(&state, &id).await;
    let write = |from: u32, to: u32| {
        let script = format!("for i in $(seq {from} {to}); do echo line-$i > /proc/1/fd/1; done");
        let runtime = engine.runtime();
        let container = container.clone();
        async move {
            let outcome = runtime
                .exec(&container, &ExecRequest::new(["sh", "-c", &script]))
                .await
                .unwrap();
            assert!(outcome.success(), "{}", outcome.stderr_text());
        }
    };
    let url = format!("{base}/api/containers/{id}/logs?token={SECRET}");
    let unauthorized = reqwest::get(format!(
        "{base}/api/containers/{id}/logs?token=wrong-token-0123456789"
    ))
    .await
    .unwrap();
    assert_eq!(unauthorized.status(), 401);

    write(1, 20).await;
    let first = read_events(&url, None, |e| e.len() >= 10).await;
    let seen: Vec<u64> = first.iter().take(10).map(|e| e.id.unwrap()).collect();
    assert_eq!(seen, (1..=10).collect::<Vec<_>>());
    assert_eq!(
        lines(&first[..10]),
        (1..=10).map(|i| format!("line-{i}")).collect::<Vec<_>>()
    );
    assert_eq!(first[0].data["stream"], "stdout");
    assert!(first[0].data["timestamp"].as_i64().unwrap() > 0);
    // Disconnected after line 10; ten more are written meanwhile.
    write(21, 30).await;
    let rest = read_events(&url, Some(10), |e| lines(e).len() >= 20).await;
    assert_eq!(
        lines(&rest),
        (11..=30).map(|i| format!("line-{i}")).collect::<Vec<_>>(),
        "no duplicate, no gap"
    );
    assert!(rest.iter().all(|e| e.event.is_none()));

    // The ring keeps 25: a client last at line 2 hears that 3 are gone, then gets 6-30.
    let late = read_events(&url, Some(2), |e| lines(e).len() >= 25).await;
    assert_eq!(late[0].event.as_deref(), Some("gap"));
    assert_eq!(late[0].data["missed"], 3);
    assert_eq!(
        lines(&late),
        (6..=30).map(|i| format!("line-{i}")).collect::<Vec<_>>()
    );

    let tail = read_events(&format!("{url}&tail=5"), None, |e| e.len() >= 5).await;
    assert_eq!(
        lines(&tail),
        (26..=30).map(|i| format!("line-{i}")).collect::<Vec<_>>()
    );

    // Destroyed: an open stream ends.
    let open = tokio::spawn({
        let url = url.clone();
        async move {
            read_events(&url, Some(30), |e| {
                e.iter().any(|e| e.event.as_deref() == Some("end"))
            })
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    destroy(&router, &id).await;
    let ended = open.await.unwrap();
    assert_eq!(ended.last().unwrap().event.as_deref(), Some("end"));
}
