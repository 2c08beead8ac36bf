//! Hostile and malformed input, against the real engine: each case gets the right 4xx with
//! a JSON error body, and nothing changes in the engine or the store.

mod support;

use slipway_core::labels::LabelFilter;
use slipway_core::prelude::*;
use slipway_core::ContainerSpec;
use slipway_testkit::engine::BUSYBOX_IMAGE;
use slipway_testkit::require_engine;
use support::{call, create, router, send, Fixture, SECRET};

struct Case {
    method: &'static str,
    path: String,
    body: String,
    content_type: &'static str,
    status: u16,
    what: &'static str,
}

fn case(method: &'static str, path: &str, body: &str, status: u16, what: &'static str) -> Case {
    Case {
        method,
        path: path.to_owned(),
        body: body.to_owned(),
        content_type: "application/json",
        status,
        what,
    }
}

async fn snapshot(
    state: &slipway_api::ApiState,
    engine: &slipway_testkit::TestEngine,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let sorted = |mut names: Vec<String>| {
        // The engine lists in no particular order.
        names.sort();
        names
    };
    let records = state
        .services()
        .environments()
        .unwrap()
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|r| format!("{} {} {}", r.id, r.status, r.updated_at.unix_millis()))
        .collect::<Vec<_>>();
    let containers = engine
        .runtime()
        .list_containers(&LabelFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id.to_string())
        .collect::<Vec<_>>();
    let volumes = engine
        .runtime()
        .list_volumes(&LabelFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.name.to_string())
        .collect::<Vec<_>>();
    (sorted(records), sorted(containers), sorted(volumes))
}

#[tokio::test]
async fn every_hostile_input_gets_a_json_4xx_and_changes_nothing() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let fixture = Fixture::new(Some(&engine), BUSYBOX_IMAGE, 0);
    let state = fixture.open().await;
    let router = router(&state);
    let id = create(&router, "target").await;
    let setup = format!("/api/containers/{id}/setup");
    // A container that isn't slipway's (only the test's cleanup label): its id must not
    // reach it.
    let foreign = engine
        .runtime()
        .create_container(
            &ContainerSpec::new(BUSYBOX_IMAGE.parse().unwrap())
                .with_cmd(["true"])
                .with_labels(engine.scope_labels()),
        )
        .await
        .unwrap();
    let foreign8 = &foreign.as_str()[..8];

    let huge = "a".repeat(10_000);
    let ports17: Vec<String> = (3001..=3017).map(|p| p.to_string()).collect();
    let c = "/api/containers";
    let mut cases = vec![
        case("POST", c, "{", 400, "malformed JSON"),
        case("POST", c, "[]", 400, "an array"),
        case("POST", c, "{}", 400, "no name"),
        case("POST", c, r#"{"name":5}"#, 400, "a number for a name"),
        case(
            "POST",
            c,
            r#"{"name":"ab","color":"red"}"#,
            400,
            "an unknown field",
        ),
        case("POST", c, r#"{"name":"../etc"}"#, 400, "../ in a name"),
        case(
            "POST",
            c,
            r#"{"name":"a\u0007b"}"#,
            400,
            "a control character in a name",
        ),
        case(
            "POST",
            c,
            &format!(r#"{{"name":"{huge}"}}"#),
            400,
            "a huge name",
        ),
        case("POST", c, r#"{"name":"-rm"}"#, 400, "a name like a flag"),
        case("POST", c, r#"{"name":""}"#, 400, "an empty name"),
        case(
            "POST",
            c,
            r#"{"name":"ab","image":"UPPER/Case:1"}"#,
            400,
            "a bad image",
        ),
        case(
            "POST",
            c,
            &format!(r#"{{"name":"ab","image":"{huge}"}}"#),
            400,
            "a huge image",
        ),
        case("POST", c, r#"{"name":"ab","ports":[0]}"#, 400, "port 0"),
        case(
            "POST",
            c,
            r#"{"name":"ab","ports":[70000]}"#,
            400,
            "a port out of range",
        ),
        case(
            "POST",
            c,
            r#"{"name":"ab","ports":["3000"]}"#,
            400,
            "a port as a string",
        ),
        case(
            "POST",
            c,
            r#"{"name":"ab","ports":[3000,3000]}"#,
            400,
            "a port twice",
        ),
        case(
            "POST",
            c,
            &format!(r#"{{"name":"ab","ports":[{}]}}"#, ports17.join(",")),
            400,
            "too many ports",
        ),
        case(
            "POST",
            c,
            r#"{"name":"ab","volumeName":"/etc"}"#,
            400,
            "a host path volume",
        ),
        case(
            "POST",
            c,
            r#"{"name":"ab","volumeName":"../x"}"#,
            400,
            "a climbing volume",
        ),
        case(
            "POST",
            c,
            r#"{"name":"ab","volumeName":"/var/run/docker.sock"}"#,
            400,
            "the engine socket as a volume",
        ),
        case("POST", c, r#"{"name":"ab","memoryMb":0}"#, 400, "no memory"),
        case(
            "POST",
            c,
            r#"{"name":"ab","memoryMb":-1}"#,
            400,
            "negative memory",
        ),
        case(
            "POST",
            c,
            r#"{"name":"ab","memoryMb":99999999999}"#,
            400,
            "absurd memory",
        ),
        case(
            "POST",
            c,
            r#"{"name":"ab","labels":{"dev.slipway.managed":"x"}}"#,
            400,
            "a reserved label",
        ),
        case(
            "POST",
            c,
            r#"{"name":"ab","labels":{"k":"v\n"}}"#,
            400,
            "a control char label",
        ),
        case(
            "POST",
            c,
            r#"{"name":"ab","labels":{"bad key":"v"}}"#,
            400,
            "a bad label key",
        ),
        case(
            "POST",
            c,
            r#"{"name":"ab","repo":"a/../b"}"#,
            400,
            "repo a/../b",
        ),
        case(
            "POST",
            c,
            r#"{"name":"ab","repo":"a"}"#,
            400,
            "a repo without owner",
        ),
        case(
            "POST",
            c,
            r#"{"name":"ab","pool":"yes"}"#,
            400,
            "pool as a string",
        ),
        case(
            "POST",
            c,
            &format!(r#"{{"name":"{}"}}"#, "a".repeat(1 << 20)),
            413,
            "a body over 1 MiB",
        ),
        case(
            "POST",
            &setup,
            r#"{"repo":"a/../b"}"#,
            400,
            "setup repo a/../b",
        ),
        case(
            "POST",
            &setup,
            r#"{"repo":"a/b","branch":"--upload-pack=x"}"#,
            400,
            "a branch like an option",
        ),
        case(
            "POST",
            &setup,
            r#"{"repo":"a/b","branch":"a..b"}"#,
            400,
            "a branch with ..",
        ),
        case(
            "POST",
            &setup,
            r#"{"repo":"a/b","callbackUrl":"file:///etc/passwd","callbackSecret":"s"}"#,
            400,
            "a file:// callback",
        ),
        case(
            "POST",
            &setup,
            r#"{"repo":"a/b","callbackUrl":"gopher://h/","callbackSecret":"s"}"#,
            400,
            "a gopher:// callback",
        ),
        case(
            "POST",
            &setup,
            r#"{"repo":"a/b","callbackUrl":"http://127.0.0.1:9/"}"#,
            400,
            "a callback without a secret",
        ),
        case(
            "POST",
            &setup,
            r#"{"repo":"a/b","envVars":{"1BAD":"x"}}"#,
            400,
            "a bad env key",
        ),
        case(
            "POST",
            &setup,
            r#"{"repo":"a/b","envVars":{"K":"a\u0000b"}}"#,
            400,
            "NUL in an env value",
        ),
        case(
            "POST",
            &setup,
            r#"{"repo":"a/b","extra":1}"#,
            400,
            "an unknown setup field",
        ),
        case(
            "POST",
            &setup,
            r#"{"repo":"a/b","githubToken":""}"#,
            400,
            "an empty token",
        ),
        case(
            "POST",
            &format!("{c}/{foreign8}/setup"),
            r#"{"repo":"a/b"}"#,
            404,
            "setup of an unmanaged container",
        ),
        case(
            "GET",
            &format!("{c}/{foreign8}"),
            "",
            404,
            "an unmanaged container's id",
        ),
        case(
            "DELETE",
            &format!("{c}/{foreign8}"),
            "",
            404,
            "deleting an unmanaged container",
        ),
        case(
            "GET",
            &format!("{c}/{}", foreign.as_str()),
            "",
            404,
            "a full foreign id",
        ),
        case("GET", &format!("{c}/0a1b2c3d"), "", 404, "an unknown id"),
        case(
            "DELETE",
            &format!("{c}/%2e%2e%2fetc"),
            "",
            404,
            "an encoded ../ id",
        ),
        case(
            "GET",
            &format!("{c}?color=red"),
            "",
            400,
            "an unknown filter",
        ),
        case(
            "GET",
            &format!("{c}?label=novalue"),
            "",
            400,
            "a label filter without =",
        ),
        case(
            "GET",
            &format!("{c}/{id}/terminal"),
            "",
            400,
            "a terminal asked for without a WebSocket upgrade",
        ),
        case(
            "GET",
            &format!("{c}/0a1b2c3d/terminal"),
            "",
            404,
            "the terminal of an unknown container",
        ),
        case(
            "POST",
            "/api/maintenance/prune",
            r#"{"olderThanHours":-1}"#,
            400,
            "negative age",
        ),
        case(
            "POST",
            "/api/maintenance/prune",
            r#"{"olderThanHours":"x"}"#,
            400,
            "age string",
        ),
        case(
            "POST",
            "/api/maintenance/prune",
            r#"{"olderThanHours":999999999}"#,
            400,
            "age",
        ),
    ];
    let mut text = case(
        "POST",
        c,
        r#"{"name":"ab"}"#,
        415,
        "a non-JSON content type",
    );
    text.content_type = "text/plain";
    cases.push(text);
    assert!(cases.len() >= 40, "{} cases", cases.len());

    let before = snapshot(&state, &engine).await;
    for case in &cases {
        let mut request = axum::http::Request::builder()
            .method(case.method)
            .uri(&case.path)
            .header("authorization", format!("Bearer {SECRET}"));
        if !case.body.is_empty() {
            request = request.header("content-type", case.content_type);
        }
        let answer = send(
            &router,
            request
                .body(axum::body::Body::from(case.body.clone()))
                .unwrap(),
        )
        .await;
        assert_eq!(
            answer.status.as_u16(),
            case.status,
            "{}: {}",
            case.what,
            String::from_utf8_lossy(&answer.raw)
        );
        let code = answer.body["error"]["code"].as_str();
        let message = answer.body["error"]["message"].as_str();
        assert!(
            code.is_some() && message.is_some_and(|m| !m.is_empty()),
            "{}: not a JSON error: {}",
            case.what,
            String::from_utf8_lossy(&answer.raw)
        );
    }
    // An over-long idempotency key is refused too.
    let request = axum::http::Request::builder()
        .method("POST")
        .uri(c)
        .header("authorization", format!("Bearer {SECRET}"))
        .header("content-type", "application/json")
        .header("idempotency-key", "k".repeat(300))
        .body(axum::body::Body::from(r#"{"name":"ab"}"#))
        .unwrap();
    assert_eq!(send(&router, request).await.status, 400);

    // More memory than the budget holds: capacity, 503 with Retry-After, nothing made.
    let answer = call(
        &router,
        "POST",
        c,
        Some(SECRET),
        Some(r#"{"name":"too-big","memoryMb":1048576}"#),
    )
    .await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.body["error"]["code"], "capacity_exhausted");
    assert!(answer.headers.contains_key("retry-after"));

    assert_eq!(snapshot(&state, &engine).await, before, "something changed");
    assert!(engine.runtime().inspect_container(&foreign).await.is_ok());
    let destroyed = call(&router, "DELETE", &format!("{c}/{id}"), Some(SECRET), None).await;
    assert_eq!(destroyed.status, 204);
}
