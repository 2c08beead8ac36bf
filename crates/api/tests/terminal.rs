//! The terminal WebSocket against the real engine: typing and reading, resizing, several at
//! once, a dropped socket reattached with its session getting what was printed meanwhile,
//! and an explicit close ending the shell and its children.

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use slipway_testkit::engine::BUSYBOX_IMAGE;
use slipway_testkit::require_engine;
use support::{
    call, container_of, create, destroy, router, serve, until, until_no_process, Fixture, SECRET,
};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> (Socket, String) {
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let hello = match socket.next().await.unwrap().unwrap() {
        Message::Text(text) => serde_json::from_str::<serde_json::Value>(&text).unwrap(),
        other => panic!("the first frame is {other:?}"),
    };
    assert_eq!(hello["type"], "session");
    (socket, hello["session"].as_str().unwrap().to_owned())
}

/// Reads output until it contains `wanted` (or 20 s pass); all of it.
async fn read_until(socket: &mut Socket, wanted: &str) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !seen.contains(wanted) {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Ok(Some(Ok(Message::Binary(data)))) => seen.push_str(&String::from_utf8_lossy(&data)),
            Ok(Some(Ok(_))) => {}
            other => panic!("no {wanted:?} in {seen:?}: {other:?}"),
        }
    }
    seen
}

/// Waits until `session` can no longer be reattached (it ends just after its processes).
async fn reattach_refused(url: &str, session: &str) {
    let url = format!("{url}&session={session}");
    until(
        Duration::from_secs(10),
        "the session to be gone",
        || async {
            tokio_tungstenite::connect_async(&url)
                .await
                .is_err()
                .then_some(())
        },
    )
    .await;
}

async fn typed(socket: &mut Socket, text: &str) {
    socket.send(Message::Text(text.into())).await.unwrap();
}

#[tokio::test]
async fn type_resize_reattach_and_close_a_terminal() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let fixture = Fixture::new(Some(&engine), BUSYBOX_IMAGE, 0);
    let state = fixture.open().await;
    let router = router(&state);
    let address = serve(&router).await;
    let id = create(&router, "tty").await;
    let url = format!("ws://{address}/api/containers/{id}/terminal?token={SECRET}");

    let refused = tokio_tungstenite::connect_async(format!(
        "ws://{address}/api/containers/{id}/terminal?token=wrong-secret-0123456789"
    ))
    .await;
    assert!(refused.is_err(), "a wrong token is refused");

    // A browser's way in: a single-use ticket instead of the secret.
    let ticket = call(
        &router,
        "POST",
        &format!("/api/containers/{id}/tickets"),
        Some(SECRET),
        None,
    )
    .await;
    assert_eq!(ticket.status, 201, "{}", ticket.body);
    let ticket = ticket.body["ticket"].as_str().unwrap().to_owned();
    let with_ticket = format!("ws://{address}/api/containers/{id}/terminal?token={ticket}");
    let (mut by_ticket, _) = connect(&with_ticket).await;
    by_ticket
        .send(Message::Text(r#"{"type":"close"}"#.into()))
        .await
        .unwrap();
    assert!(
        tokio_tungstenite::connect_async(&with_ticket)
            .await
            .is_err(),
        "a ticket opens once"
    );

    let (mut first, session) = connect(&format!("{url}&cols=80&rows=24")).await;
    typed(&mut first, "echo hi-$((40+2))\n").await;
    read_until(&mut first, "hi-42").await;
    first
        .send(Message::Text(
            r#"{"type":"resize","cols":100,"rows":30}"#.into(),
        ))
        .await
        .unwrap();
    typed(&mut first, "stty size\n").await;
    read_until(&mut first, "30 100").await;
    // Binary frames are typed too.
    first
        .send(Message::Binary(b"echo bin-$((1+1))\n".to_vec().into()))
        .await
        .unwrap();
    read_until(&mut first, "bin-2").await;

    // A second terminal at the same time is a shell of its own.
    let (mut second, other) = connect(&url).await;
    assert_ne!(other, session);
    typed(&mut second, "echo second-$((2*3))\n").await;
    read_until(&mut second, "second-6").await;
    second
        .send(Message::Text(r#"{"type":"close"}"#.into()))
        .await
        .unwrap();

    // Dropped while something is still to print; reattached, it is replayed.
    typed(&mut first, "sleep 1; echo printed-$((6*7))-meanwhile\n").await;
    drop(first);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (mut again, same) = connect(&format!("{url}&session={session}")).await;
    assert_eq!(same, session);
    read_until(&mut again, "printed-42-meanwhile").await;
    typed(&mut again, "echo still-$((3+4))\n").await;
    read_until(&mut again, "still-7").await;

    // An explicit close ends the shell and what it started.
    typed(&mut again, "sleep 311 &\n").await;
    let container = container_of(&state, &id).await;
    until(Duration::from_secs(10), "the background job", || async {
        engine
            .processes(&container)
            .await
            .iter()
            .any(|p| p.contains("sleep 311"))
            .then_some(())
    })
    .await;
    again
        .send(Message::Text(r#"{"type":"close"}"#.into()))
        .await
        .unwrap();
    until_no_process(
        &engine,
        &container,
        &["sleep 311", "sh -i"],
        Duration::from_secs(10),
        "nothing of the shell left",
    )
    .await;
    reattach_refused(&url, &session).await;
    destroy(&router, &id).await;
}

#[tokio::test]
async fn a_shell_nobody_reattaches_within_the_grace_is_ended() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let fixture = Fixture::with_provision(
        Some(&engine),
        BUSYBOX_IMAGE,
        0,
        "\n[server]\nterminal_grace_secs = 1",
    );
    let state = fixture.open().await;
    let router = router(&state);
    let address = serve(&router).await;
    let id = create(&router, "grace").await;
    let url = format!("ws://{address}/api/containers/{id}/terminal?token={SECRET}");
    let (mut socket, session) = connect(&url).await;
    typed(&mut socket, "sleep 312 & echo started-$((5+5))\n").await;
    read_until(&mut socket, "started-10").await;
    drop(socket);
    let container = container_of(&state, &id).await;
    until_no_process(
        &engine,
        &container,
        &["sleep 312"],
        Duration::from_secs(15),
        "the shell ended after its grace",
    )
    .await;
    reattach_refused(&url, &session).await;
    destroy(&router, &id).await;
}
