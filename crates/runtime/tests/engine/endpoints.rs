use std::time::{Duration, Instant};

use slipway_core::prelude::*;
use slipway_core::ErrorKind;
use slipway_runtime::{DockerRuntime, Endpoint};
use slipway_testkit::{require_engine, Need};
use tokio::net::{TcpListener, UnixStream};

/// A connect timeout far shorter than the request timeout (120 s): a bootstrap that gives up
/// well within `BOUND` gave up on the connect timeout, as it should, not on the request one.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const BOUND: Duration = Duration::from_secs(30);

async fn bootstrap_error(endpoint: Endpoint) -> (slipway_core::Error, Duration) {
    let started = Instant::now();
    let err = DockerRuntime::builder(endpoint)
        .with_connect_timeout(CONNECT_TIMEOUT)
        .bootstrap()
        .await
        .unwrap_err();
    (err, started.elapsed())
}

#[tokio::test]
async fn a_missing_socket_is_unavailable_at_once_and_named() {
    let path = std::env::temp_dir().join(format!("slipway-no-engine-{}.sock", std::process::id()));
    let (err, took) = bootstrap_error(Endpoint::Unix { path: path.clone() }).await;
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(took < BOUND, "{took:?}");
}

#[tokio::test]
async fn a_refused_tcp_connection_is_unavailable_on_the_connect_timeout() {
    // Bind and drop: the port is now closed, so connecting is refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = Endpoint::Tcp {
        host: "127.0.0.1".into(),
        port,
    };
    let (err, took) = bootstrap_error(endpoint).await;
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(
        err.to_string().contains(&format!("tcp://127.0.0.1:{port}")),
        "{err}"
    );
    assert!(took < BOUND, "{took:?}");
}

#[tokio::test]
async fn an_engine_that_accepts_but_never_answers_is_unavailable_on_the_connect_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Hold accepted connections open without answering.
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let (err, took) = bootstrap_error(Endpoint::Tcp {
        host: "127.0.0.1".into(),
        port,
    })
    .await;
    silent.abort();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(took < BOUND, "{took:?}");
}

/// A loopback TCP front for the engine's unix socket. Aborting the returned task drops every
/// proxied connection with it (they live in its `JoinSet`).
async fn tcp_front(socket: std::path::PathBuf) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((mut client, _)) = listener.accept().await {
            let socket = socket.clone();
            connections.spawn(async move {
                if let Ok(mut engine) = UnixStream::connect(socket).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut engine).await;
                }
            });
        }
    });
    (port, task)
}

#[tokio::test]
async fn a_tcp_endpoint_reaches_the_engine() {
    let Some(engine) = require_engine!(Need::LocalSocket) else {
        return;
    };
    let socket = engine.local_socket();
    let (port, front) = tcp_front(socket).await;
    let runtime = DockerRuntime::builder(Endpoint::Tcp {
        host: "127.0.0.1".into(),
        port,
    })
    .bootstrap()
    .await
    .unwrap();
    assert!(!runtime.version().await.unwrap().version.is_empty());
    assert_eq!(runtime.endpoint(), format!("tcp://127.0.0.1:{port}"));
    front.abort();
}

#[tokio::test]
async fn calls_on_a_vanished_engine_are_unavailable() {
    let Some(engine) = require_engine!(Need::LocalSocket) else {
        return;
    };
    let socket = engine.local_socket();
    let (port, front) = tcp_front(socket).await;
    let runtime = DockerRuntime::builder(Endpoint::Tcp {
        host: "127.0.0.1".into(),
        port,
    })
    .bootstrap()
    .await
    .unwrap();
    front.abort();
    let _ = front.await;
    let err = runtime.info().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
}
