//! The container routes against the real engine: create from the warm pool, setup of a
//! fixture repo found through the URL template with signed callbacks to a real receiver,
//! the dev server on its host port, destroy, and the port used again.

mod support;

use std::io::{Read, Write};
use std::time::Duration;

use slipway_core::prelude::*;
use slipway_core::ExecRequest;
use slipway_testkit::engine::NODE_IMAGE;
use slipway_testkit::synthetic::{node_app, SyntheticRepo};
use slipway_testkit::{require_engine, Need};
use support::receiver::Receiver;
use support::{call, container_of, router, until, Fixture, SECRET};

fn http_get(port: u16) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(stream, "GET / HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

#[tokio::test]
async fn create_setup_with_signed_callbacks_serve_destroy_and_reuse_the_port() {
    let Some(engine) = require_engine!(Need::NodeImage) else {
        return;
    };
    let fixture = Fixture::new(Some(&engine), NODE_IMAGE, 1);
    let repo_name = format!("api-{}", engine.scope());
    let repo = SyntheticRepo::create(&fixture.remote("fixture", &repo_name)).unwrap();
    repo.commit(
        "main",
        None,
        &node_app("from the api", "1.0.0", "hello"),
        &[],
        "main",
    )
    .unwrap();
    let receiver = Receiver::start("callback-secret", 0).await;
    let state = fixture.open().await;
    let router = router(&state);

    // The pool fills in the background; a create then takes a warm container.
    until(Duration::from_secs(60), "a warm container", || async {
        let health = call(&router, "GET", "/health", None, None).await;
        (health.status == 200 && health.body["pool"]["ready"].as_u64() >= Some(1)).then_some(())
    })
    .await;
    let created = call(
        &router,
        "POST",
        "/api/containers",
        Some(SECRET),
        Some(r#"{"name":"web","labels":{"team":"api"}}"#),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["fromPool"], true, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit()));
    let host_port = created.body["hostPort"].as_u64().unwrap() as u16;
    assert!(fixture.ports.contains(host_port), "{host_port}");

    let setup = serde_json::json!({
        "repo": format!("fixture/{repo_name}"),
        "branch": "main",
        "githubToken": "gho_not-a-real-token-0123",
        "callbackUrl": receiver.url,
        "callbackSecret": "callback-secret",
        "hasMainImage": false,
        "buildMainImage": false,
        "envVars": { "SLIPWAY_API_TEST_VAR": "reached-the-dev-server" }
    });
    let accepted = call(
        &router,
        "POST",
        &format!("/api/containers/{id}/setup"),
        Some(SECRET),
        Some(&setup.to_string()),
    )
    .await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    // One setup at a time per container.
    let second = call(
        &router,
        "POST",
        &format!("/api/containers/{id}/setup"),
        Some(SECRET),
        Some(&setup.to_string()),
    )
    .await;
    assert_eq!(second.status, 409, "{}", second.body);
    assert_eq!(second.body["error"]["code"], "conflict");

    let deliveries = until(Duration::from_secs(180), "the ready callback", || async {
        let accepted = receiver.accepted();
        accepted
            .iter()
            .any(|r| matches!(r.body["phase"].as_str(), Some("ready" | "error")))
            .then_some(accepted)
    })
    .await;
    let phases: Vec<&str> = deliveries
        .iter()
        .map(|r| r.body["phase"].as_str().unwrap())
        .collect();
    assert_eq!(
        phases,
        ["cloning", "installing", "starting", "ready"],
        "{deliveries:?}"
    );
    for delivery in &deliveries {
        assert!(delivery.signature_ok, "{delivery:?}");
        assert_eq!(delivery.body["containerId"], id.as_str());
        assert_eq!(delivery.body["deliveryId"], delivery.delivery.as_str());
    }
    let response = http_get(host_port).expect("the dev server answers on its host port");
    assert!(response.ends_with("hello from the api\n"), "{response}");

    // The record shows the phases with their timings, and the filters find it.
    let got = call(
        &router,
        "GET",
        &format!("/api/containers/{id}"),
        Some(SECRET),
        None,
    )
    .await;
    assert_eq!(got.body["state"], "ready", "{}", got.body);
    assert_eq!(got.body["branch"], "main");
    assert_eq!(
        got.body["phases"].as_array().unwrap().len(),
        3,
        "{}",
        got.body
    );
    assert!(got.body["phases"][0]["durationMs"].is_u64(), "{}", got.body);
    for (query, count) in [
        (format!("repo=fixture/{repo_name}"), 1),
        ("state=ready".to_owned(), 1),
        ("label=team=api".to_owned(), 1),
        ("label=team=web".to_owned(), 0),
    ] {
        let listed = call(
            &router,
            "GET",
            &format!("/api/containers?{query}"),
            Some(SECRET),
            None,
        )
        .await;
        assert_eq!(listed.body.as_array().unwrap().len(), count, "{query}");
    }

    // envVars reached the dev server; the token went nowhere near the container.
    let container = container_of(&state, &id).await;
    let environs = engine
        .runtime()
        .exec(
            &container,
            &ExecRequest::new([
                "sh",
                "-c",
                "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'; env",
            ]),
        )
        .await
        .unwrap();
    let environs = String::from_utf8_lossy(&environs.stdout);
    assert!(environs.contains("SLIPWAY_API_TEST_VAR=reached-the-dev-server"));
    assert!(!environs.contains("gho_not-a-real-token"));
    let inspected = engine
        .runtime()
        .inspect_container(&container)
        .await
        .unwrap();
    assert!(!format!("{inspected:?}").contains("gho_not-a-real-token"));
    // Nor anywhere in the state: database, mirrors, callback files.
    for file in walk(&fixture.state_dir()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("gho_not-a-real-token"),
            "the token is in {}",
            file.display()
        );
    }

    // The metrics saw the create, the setup's phases and the requests.
    let metrics = call(&router, "GET", "/metrics", Some(SECRET), None).await;
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8_lossy(&metrics.raw).into_owned();
    for wanted in [
        "slipway_engine_up 1",
        "slipway_pool_ready{",
        "slipway_create_seconds_count{result=\"hit\"} 1",
        "slipway_setups_total{outcome=\"ready\"} 1",
        "slipway_setup_phase_seconds_count{phase=\"cloning\"} 1",
        "slipway_setup_phase_seconds_count{phase=\"installing\"} 1",
        "slipway_http_requests_total{method=\"POST\",route=\"/api/containers\",status=\"201\"} 1",
        "slipway_terminals_open 0",
    ] {
        assert!(text.contains(wanted), "no {wanted} in\n{text}");
    }

    // Destroy: 204, gone from the list, a second destroy is a 404, the port is free again.
    let destroyed = call(
        &router,
        "DELETE",
        &format!("/api/containers/{id}"),
        Some(SECRET),
        None,
    )
    .await;
    assert_eq!(destroyed.status, 204);
    let again = call(
        &router,
        "DELETE",
        &format!("/api/containers/{id}"),
        Some(SECRET),
        None,
    )
    .await;
    assert_eq!(again.status, 404);
    assert_eq!(again.body["error"]["code"], "not_found");
    let leased: Vec<u16> = state
        .services()
        .store()
        .port_leases()
        .await
        .unwrap()
        .into_iter()
        .map(|lease| lease.port)
        .collect();
    assert!(!leased.contains(&host_port), "{leased:?}");
    // Host ports are recycled: a fresh container takes the lowest free port, and after it is
    // destroyed the next one takes that same port again.
    let mut seen = Vec::new();
    for name in ["next-1", "next-2"] {
        let body = format!(r#"{{"name":"{name}","pool":false}}"#);
        let next = call(
            &router,
            "POST",
            "/api/containers",
            Some(SECRET),
            Some(&body),
        )
        .await;
        assert_eq!(next.status, 201, "{}", next.body);
        assert_eq!(next.body["fromPool"], false);
        seen.push(next.body["hostPort"].as_u64().unwrap());
        let path = format!("/api/containers/{}", next.body["id"].as_str().unwrap());
        assert_eq!(
            call(&router, "DELETE", &path, Some(SECRET), None)
                .await
                .status,
            204
        );
    }
    assert_eq!(seen[0], seen[1], "{seen:?}");
    // The warm pool's creations under way finish before the test's cleanup looks.
    state
        .services()
        .stop_background(Duration::from_secs(30))
        .await
        .unwrap();
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test]
async fn a_retried_create_with_the_same_idempotency_key_gets_the_same_container() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let fixture = Fixture::new(Some(&engine), slipway_testkit::engine::BUSYBOX_IMAGE, 0);
    let state = fixture.open().await;
    let router = router(&state);
    let create = |key: &'static str| {
        let router = router.clone();
        async move {
            let request = axum::http::Request::builder()
                .method("POST")
                .uri("/api/containers")
                .header("authorization", format!("Bearer {SECRET}"))
                .header("content-type", "application/json")
                .header("idempotency-key", key)
                .body(axum::body::Body::from(r#"{"name":"retried"}"#))
                .unwrap();
            support::send(&router, request).await
        }
    };
    let (first, second) = tokio::join!(create("key-1"), create("key-1"));
    let statuses = [first.status.as_u16(), second.status.as_u16()];
    assert!(
        statuses.contains(&201) && statuses.contains(&200),
        "{statuses:?}"
    );
    assert_eq!(first.body["id"], second.body["id"]);
    let other = create("key-2").await;
    assert_eq!(other.status, 201);
    assert_ne!(other.body["id"], first.body["id"]);
    let listed = call(&router, "GET", "/api/containers", Some(SECRET), None).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 2, "{}", listed.body);
    for id in [&first.body["id"], &other.body["id"]] {
        let path = format!("/api/containers/{}", id.as_str().unwrap());
        assert_eq!(
            call(&router, "DELETE", &path, Some(SECRET), None)
                .await
                .status,
            204
        );
    }
}
