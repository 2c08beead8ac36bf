//! Helpers for slipway's end-to-end scenarios: whole flows across crates, against a real
//! engine, a real SQLite file and real HTTP. The scenarios live in `tests/`.

use std::time::{Duration, Instant};

use slipway_core::labels::Scope;
use slipway_core::{InstanceId, Labels, Role};
use slipway_store::SqliteStore;
use slipway_testkit::TestEngine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A test engine plus a fresh state directory, as a slipway binary would compose them.
pub struct Stack {
    /// The engine, scoped to this test.
    pub engine: TestEngine,
    /// The store in [`Stack::state_dir`].
    pub store: SqliteStore,
    state_dir: tempfile::TempDir,
}

impl Stack {
    /// Connects to the test engine (or `None` to skip; see `slipway_runtime::testing`) and
    /// opens a store in a new state directory.
    pub async fn start() -> Option<Stack> {
        let engine = TestEngine::connect().await?;
        let state_dir = tempfile::tempdir().expect("a temporary state directory");
        let store = SqliteStore::open_in_dir(state_dir.path()).expect("the store opens");
        Some(Stack {
            engine,
            store,
            state_dir,
        })
    }

    /// The state directory.
    pub fn state_dir(&self) -> &std::path::Path {
        self.state_dir.path()
    }

    /// slipway's labels for `role` under this state's instance id, plus the test scope.
    pub fn labels(&self, role: Role) -> Labels {
        let instance: InstanceId = slipway_core::Store::instance_id(&self.store);
        let mut labels = Scope::new(role, &instance).labels();
        labels.extend(self.engine.scope_labels());
        labels
    }
}

/// GETs `path` from `127.0.0.1:port` over HTTP/1.0 until it answers or `within` passes;
/// returns the status line and the body.
pub async fn http_get(port: u16, path: &str, within: Duration) -> (String, String) {
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

/// The README's code runs as a doctest, so the embedding example can't drift from the API.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
