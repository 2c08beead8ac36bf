//! Every `/api/*` route needs a valid bearer token; several are valid at once and a reload
//! replaces them. Runs over the records only: no engine is needed to be refused.

mod support;

use slipway_api::{Secrets, API_ROUTES};
use slipway_core::Secret;
use support::{call, router, Fixture, SECRET};

#[tokio::test]
async fn every_api_route_refuses_a_missing_or_wrong_token() {
    let fixture = Fixture::new(None, "slipway-test/busybox:1", 0);
    let state = fixture.open_records().await;
    let router = router(&state);
    // The listed routes, and paths no route has: the auth layer sits over the whole of
    // `/api`, its fallback included, so a route added later can't skip it.
    let unrouted = [
        ("GET", "/api/"),
        ("GET", "/api/anything"),
        ("POST", "/api/containers/0a1b2c3d/terminal"),
        ("PUT", "/api/containers"),
    ];
    for (method, path) in API_ROUTES.iter().chain(unrouted.iter()) {
        for token in [None, Some("wrong-secret-0123456789"), Some("")] {
            let answer = call(&router, method, path, token, Some("{}")).await;
            assert_eq!(answer.status, 401, "{method} {path} with {token:?}");
            assert_eq!(
                answer.body["error"]["code"], "unauthorized",
                "{method} {path}"
            );
        }
        // A secret's prefix or a longer string is no secret.
        let near = &SECRET[..SECRET.len() - 1];
        let answer = call(&router, method, path, Some(near), Some("{}")).await;
        assert_eq!(answer.status, 401, "{method} {path}");
    }
    // With the token every listed route exists (whatever it then says about the request).
    for (method, path) in API_ROUTES {
        let answer = call(&router, method, path, Some(SECRET), Some("{}")).await;
        assert_ne!(answer.status, 401, "{method} {path}");
        assert_ne!(
            answer.body["error"]["message"], "route not found",
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn health_needs_no_token_and_lists_no_secret() {
    let fixture = Fixture::new(None, "slipway-test/busybox:1", 0);
    let state = fixture.open_records().await;
    let answer = call(&router(&state), "GET", "/health", None, None).await;
    // Opened without an engine: degraded, and it says so.
    assert_eq!(answer.status, 503);
    assert_eq!(answer.body["status"], "degraded");
    assert_eq!(answer.body["engine"]["reachable"], false);
    assert!(!String::from_utf8_lossy(&answer.raw).contains(SECRET));
}

#[tokio::test]
async fn rotation_accepts_old_and_new_then_only_the_new_after_reload() {
    let fixture = Fixture::new(None, "slipway-test/busybox:1", 0);
    let state = fixture.open_records().await;
    let router = router(&state);
    let (old, new) = ("old-secret-0123456789abcdef", "new-secret-0123456789abcdef");
    let secrets: &Secrets = state.secrets();
    secrets.replace(&[Secret::new(old)]);
    let status = |token: &'static str| {
        let router = router.clone();
        async move {
            call(&router, "GET", "/api/containers", Some(token), None)
                .await
                .status
        }
    };
    assert_ne!(status(old).await, 401);
    assert_eq!(status(new).await, 401);
    // The secrets file gains the new secret: both work.
    let file = &state.services().config().server.secrets_file;
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, format!("{old}\n{new}\n")).unwrap();
    secrets.replace(&state.services().config().server.load_secrets().unwrap());
    assert_ne!(status(old).await, 401);
    assert_ne!(status(new).await, 401);
    // Then only the new one.
    std::fs::write(file, format!("{new}\n")).unwrap();
    secrets.replace(&state.services().config().server.load_secrets().unwrap());
    assert_eq!(status(old).await, 401);
    assert_ne!(status(new).await, 401);
}
