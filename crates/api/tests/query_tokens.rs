//! `?token=` on a container's log stream and terminal: the API secret, a ticket, or the
//! callback secret its setup was given — that container's only, and only while it exists.

mod support;

use axum::body::Body;
use axum::http::Request;
use slipway_testkit::engine::BUSYBOX_IMAGE;
use slipway_testkit::require_engine;
use support::receiver::Receiver;
use support::{call, create, destroy, router, Fixture, SECRET};
use tower::ServiceExt;

/// The status of a GET of `path`, without reading the body (a log stream never ends).
async fn status_of(router: &axum::Router, path: &str) -> u16 {
    let request = Request::get(path).body(Body::empty()).unwrap();
    router
        .clone()
        .oneshot(request)
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Starts a setup of `id` with callback secret `secret` (of a repo that doesn't exist: the
/// key is the container's from the moment the setup is accepted).
async fn set_up(router: &axum::Router, id: &str, receiver: &Receiver, secret: &str) {
    let body = serde_json::json!({
        "repo": "fixture/no-such-repo",
        "callbackUrl": receiver.url,
        "callbackSecret": secret,
    });
    let path = format!("/api/containers/{id}/setup");
    let accepted = call(router, "POST", &path, Some(SECRET), Some(&body.to_string())).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
}

#[tokio::test]
async fn a_callback_secret_opens_its_own_container_s_streams_only() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let fixture = Fixture::new(Some(&engine), BUSYBOX_IMAGE, 0);
    let state = fixture.open().await;
    let router = router(&state);
    let receiver = Receiver::start("unused", 0).await;
    let (a, b) = (
        create(&router, "keys-a").await,
        create(&router, "keys-b").await,
    );
    let logs = |id: &str, token: &str| format!("/api/containers/{id}/logs?token={token}");

    assert_eq!(
        status_of(&router, &logs(&a, "callback-secret-of-a")).await,
        401
    );
    set_up(&router, &a, &receiver, "callback-secret-of-a").await;
    set_up(&router, &b, &receiver, "callback-secret-of-b").await;
    assert_eq!(
        status_of(&router, &logs(&a, "callback-secret-of-a")).await,
        200
    );
    assert_eq!(
        status_of(&router, &logs(&b, "callback-secret-of-b")).await,
        200
    );
    assert_eq!(
        status_of(&router, &logs(&a, "callback-secret-of-b")).await,
        401
    );
    assert_eq!(
        status_of(&router, &logs(&a, "callback-secret-of-")).await,
        401
    );
    // The terminal takes it too (this request isn't an upgrade, so it goes no further).
    let terminal = format!("/api/containers/{a}/terminal?token=callback-secret-of-a");
    assert_eq!(status_of(&router, &terminal).await, 400);
    let wrong = format!("/api/containers/{a}/terminal?token=callback-secret-of-b");
    assert_eq!(status_of(&router, &wrong).await, 401);
    // Only the streams take query tokens; everything else wants the header.
    let get = format!("/api/containers/{a}?token=callback-secret-of-a");
    assert_eq!(status_of(&router, &get).await, 401);

    // A second setup with another secret replaces the key.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut replaced = false;
    for _ in 0..50 {
        let body = serde_json::json!({
            "repo": "fixture/no-such-repo",
            "callbackUrl": receiver.url,
            "callbackSecret": "second-secret-of-a",
        });
        let path = format!("/api/containers/{a}/setup");
        let answer = call(
            &router,
            "POST",
            &path,
            Some(SECRET),
            Some(&body.to_string()),
        )
        .await;
        if answer.status == 202 {
            replaced = true;
            break;
        }
        assert_eq!(answer.status, 409, "{}", answer.body);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(replaced, "the first setup of a ended");
    assert_eq!(
        status_of(&router, &logs(&a, "second-secret-of-a")).await,
        200
    );
    assert_eq!(
        status_of(&router, &logs(&a, "callback-secret-of-a")).await,
        401
    );

    destroy(&router, &a).await;
    assert_eq!(
        status_of(&router, &logs(&a, "second-secret-of-a")).await,
        401
    );
    let keys = fixture.state_dir().join("keys");
    assert!(!keys.join(format!("{a}.key")).exists());
    assert!(keys.join(format!("{b}.key")).exists());
    destroy(&router, &b).await;
}
