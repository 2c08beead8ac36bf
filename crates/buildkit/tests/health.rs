//! The gRPC health client against a real BuildKit: the engine's embedded one, reached through
//! the engine's `/grpc` endpoint (an HTTP upgrade to h2c on the engine's socket).

use std::time::Duration;

use hyper_util::rt::TokioIo;
use slipway_buildkit::{count_workers, HealthProbe};
use slipway_testkit::{require_engine, Need};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::{Channel, Endpoint, Uri};

/// A stream to the engine's embedded BuildKit: the engine's `/grpc` endpoint, upgraded to
/// h2c on its local socket.
async fn upgraded(socket: &std::path::Path) -> std::io::Result<tokio::net::UnixStream> {
    let mut stream = tokio::net::UnixStream::connect(socket).await?;
    stream
        .write_all(
            b"POST /grpc HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\n\
              Upgrade: h2c\r\nContent-Length: 0\r\n\r\n",
        )
        .await?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).await?;
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    if !head.starts_with("HTTP/1.1 101") {
        return Err(std::io::Error::other(format!("no upgrade: {head}")));
    }
    Ok(stream)
}

/// A gRPC channel to the engine's embedded BuildKit.
async fn embedded_buildkit(socket: std::path::PathBuf) -> Channel {
    Endpoint::from_static("http://embedded.buildkit")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { upgraded(&socket).await.map(TokioIo::new) }
        }))
        .await
        .expect("the engine's /grpc endpoint upgrades")
}

/// A TCP address where the engine's embedded BuildKit answers, as a sidecar's would.
async fn buildkit_on_tcp(socket: std::path::PathBuf) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let socket = socket.clone();
            tokio::spawn(async move {
                if let Ok(mut buildkit) = upgraded(&socket).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut buildkit).await;
                }
            });
        }
    });
    address
}

#[tokio::test]
async fn the_engine_s_embedded_buildkit_lists_its_workers() {
    let Some(engine) = require_engine!(Need::LocalSocket) else {
        return;
    };
    let channel = embedded_buildkit(engine.local_socket()).await;
    let workers = count_workers(channel).await.unwrap();
    assert!(workers >= 1, "BuildKit reports {workers} workers");
}

#[tokio::test]
async fn the_default_grpc_probe_passes_against_a_real_buildkit_over_tcp() {
    let Some(engine) = require_engine!(Need::LocalSocket) else {
        return;
    };
    let address = buildkit_on_tcp(engine.local_socket()).await;
    HealthProbe::default()
        .check(address, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(HealthProbe::default(), HealthProbe::Grpc);
}

#[tokio::test]
async fn a_server_that_is_not_buildkit_fails_the_grpc_probe_but_passes_tcp() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket.write_all(b"HTTP/1.0 200 OK\r\n\r\nnot grpc\n").await;
        }
    });
    HealthProbe::Tcp
        .check(address, Duration::from_secs(2))
        .await
        .unwrap();
    HealthProbe::Grpc
        .check(address, Duration::from_secs(2))
        .await
        .unwrap_err();
}
