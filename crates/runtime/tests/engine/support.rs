//! Small helpers shared by the engine tests.

use std::time::{Duration, Instant};

use slipway_core::prelude::*;
use slipway_core::{ContainerId, ExecRequest};
use slipway_runtime::DockerRuntime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Runs `script` with `sh -c` and returns its stdout, asserting it succeeded.
pub(crate) async fn sh(runtime: &DockerRuntime, id: &ContainerId, script: &str) -> String {
    let outcome = runtime
        .exec(
            id,
            &ExecRequest::shell(script).with_timeout(Duration::from_secs(30)),
        )
        .await
        .expect("exec runs");
    assert!(outcome.success(), "`{script}` failed: {outcome:?}");
    outcome.stdout_text()
}

/// A plain HTTP/1.0 GET from the host; the response body, once the server answers.
pub(crate) async fn http_get(port: u16, path: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        match try_get(port, path).await {
            Ok(body) => return body,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("GET 127.0.0.1:{port}{path} failed: {e}"),
        }
    }
}

async fn try_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    match response.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.") => Ok(body.to_owned()),
        _ => Err(std::io::Error::other(format!(
            "not an HTTP response: {response:?}"
        ))),
    }
}
