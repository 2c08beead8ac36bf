//! Plain HTTP/1.0 requests to servers on loopback, waiting until they answer.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// GETs `path` from `127.0.0.1:port` until it answers or `within` passes (a server that just
/// started may not listen yet); returns the status line and the body.
pub async fn get_within(port: u16, path: &str, within: Duration) -> (String, String) {
    let deadline = Instant::now() + within;
    loop {
        let attempt = async {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
            stream
                .write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
                .await?;
            let mut response = String::new();
            stream.read_to_string(&mut response).await?;
            Ok::<_, std::io::Error>(response)
        };
        match attempt.await {
            Ok(response) if response.starts_with("HTTP/1.") => {
                let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
                let status = head.lines().next().unwrap_or_default().to_owned();
                return (status, body.to_owned());
            }
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            other => panic!("GET 127.0.0.1:{port}{path} never answered: {other:?}"),
        }
    }
}

/// The body of `GET /` from `127.0.0.1:port`, waiting up to 30 s for the server to answer.
pub async fn get(port: u16) -> String {
    get_within(port, "/", Duration::from_secs(30)).await.1
}
