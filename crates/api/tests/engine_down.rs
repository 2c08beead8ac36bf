//! The engine going away and coming back, without restarting the server: the engine is
//! reached through a unix-socket relay the test can cut (every connection with it).

mod support;

use std::path::PathBuf;
use std::time::Duration;

use slipway_testkit::engine::BUSYBOX_IMAGE;
use slipway_testkit::{require_engine, Need};
use support::{call, create, destroy, router, until, Fixture, SECRET};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;

/// Relays `listen` to `engine` until dropped; dropping it closes every relayed connection.
struct Relay {
    tasks: JoinSet<()>,
}

impl Relay {
    fn start(listen: &PathBuf, engine: PathBuf) -> Relay {
        let _ = std::fs::remove_file(listen);
        let listener = UnixListener::bind(listen).unwrap();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            // Dropped with the accept loop: aborting it closes every relayed connection.
            let mut connections = JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                let engine = engine.clone();
                connections.spawn(async move {
                    if let Ok(mut upstream) = UnixStream::connect(&engine).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
            }
        });
        Relay { tasks }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}

#[tokio::test]
async fn health_and_creates_answer_503_while_the_engine_is_away_and_recover_without_a_restart() {
    let Some(engine) = require_engine!(Need::LocalSocket) else {
        return;
    };
    let fixture = Fixture::new(Some(&engine), BUSYBOX_IMAGE, 0);
    let socket = fixture.dir.path().join("relay.sock");
    let relay = Relay::start(&socket, engine.local_socket());
    let state = fixture
        .open_with_host(&format!("unix://{}", socket.display()))
        .await;
    let router = router(&state);
    let health = call(&router, "GET", "/health", None, None).await;
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.body["status"], "ok");
    assert!(health.body["engine"]["version"].is_string());

    drop(relay);
    until(
        Duration::from_secs(20),
        "health to say degraded",
        || async {
            let health = call(&router, "GET", "/health", None, None).await;
            (health.status == 503 && health.body["status"] == "degraded").then_some(())
        },
    )
    .await;
    let refused = call(
        &router,
        "POST",
        "/api/containers",
        Some(SECRET),
        Some(r#"{"name":"while-away"}"#),
    )
    .await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "engine_unavailable");
    assert!(refused.headers.contains_key("retry-after"));
    assert!(state
        .services()
        .environments()
        .unwrap()
        .list()
        .await
        .unwrap()
        .is_empty());

    let _relay = Relay::start(&socket, engine.local_socket());
    until(Duration::from_secs(20), "health to be ok again", || async {
        let health = call(&router, "GET", "/health", None, None).await;
        (health.status == 200).then_some(())
    })
    .await;
    let id = create(&router, "after-return").await;
    destroy(&router, &id).await;
}
