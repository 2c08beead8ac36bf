//! Callback delivery against a real HTTP receiver: signed, retried with backoff, each event
//! once and in order.

mod support;

use std::time::Duration;

use slipway_api::callbacks::Callbacks;
use slipway_api::{CallbackEvent, CallbackTarget};
use slipway_core::Secret;
use support::receiver::Receiver;
use support::until;

#[tokio::test]
async fn a_receiver_failing_twice_gets_every_delivery_once_in_order() {
    let receiver = Receiver::start("hook-secret", 2).await;
    let dir = tempfile::tempdir().unwrap();
    let callbacks = Callbacks::new(dir.path().to_owned(), Duration::from_secs(5), 8).unwrap();
    let target = CallbackTarget::new(&receiver.url, &Secret::new("hook-secret")).unwrap();
    let phases = ["cloning", "installing", "starting", "ready"];
    let sent: Vec<CallbackEvent> = phases
        .iter()
        .map(|phase| CallbackEvent::new("0a1b2c3d", phase, "started", None))
        .collect();
    for event in &sent {
        callbacks.send(&target, event.clone());
    }
    let accepted = until(Duration::from_secs(30), "four deliveries", || async {
        let accepted = receiver.accepted();
        (accepted.len() >= phases.len()).then_some(accepted)
    })
    .await;
    // Two failures, then each event exactly once, in the order sent, each signed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.requests(), phases.len() + 2);
    let got: Vec<&str> = accepted
        .iter()
        .map(|r| r.body["phase"].as_str().unwrap())
        .collect();
    assert_eq!(got, phases);
    for (received, event) in accepted.iter().zip(&sent) {
        assert!(received.signature_ok, "{received:?}");
        assert_eq!(received.delivery, event.delivery_id);
        assert_eq!(received.body["deliveryId"], event.delivery_id.as_str());
        assert_eq!(received.body["containerId"], "0a1b2c3d");
    }
}

#[tokio::test]
async fn a_dead_receiver_is_given_up_without_holding_the_sender() {
    // Nothing listens on this port once the listener is dropped.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let callbacks = Callbacks::new(dir.path().to_owned(), Duration::from_millis(500), 3).unwrap();
    let target =
        CallbackTarget::new(&format!("http://127.0.0.1:{port}/hook"), &Secret::new("k")).unwrap();
    let started = std::time::Instant::now();
    callbacks.send(
        &target,
        CallbackEvent::new("0a1b2c3d", "ready", "succeeded", None),
    );
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "send returns at once"
    );
    // Three attempts with 200 ms and 400 ms between them: given up well within the deadline.
    tokio::time::timeout(
        Duration::from_secs(10),
        callbacks.deliver(
            &target,
            &CallbackEvent::new("0a1b2c3d", "error", "failed", None),
        ),
    )
    .await
    .expect("a delivery gives up after its attempts");
}
