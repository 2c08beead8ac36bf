//! `POST /api/containers/{id}/exec` against the real engine: exit codes, both streams, stdin,
//! env and cwd, the output cap, a timeout that leaves nothing of the command running, and the
//! streamed form.

mod support;

use std::time::Duration;

use slipway_testkit::engine::BUSYBOX_IMAGE;
use slipway_testkit::require_engine;
use support::sse::{self, Sse};
use support::{
    call, container_of, create, destroy, router, serve, until_no_process, Fixture, SECRET,
};

#[tokio::test]
async fn exec_runs_to_completion_caps_output_and_kills_everything_at_its_timeout() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let fixture = Fixture::new(Some(&engine), BUSYBOX_IMAGE, 0);
    let state = fixture.open().await;
    let router = router(&state);
    let id = create(&router, "exec").await;
    let path = format!("/api/containers/{id}/exec");
    let exec = |body: serde_json::Value| {
        let router = router.clone();
        let path = path.clone();
        async move {
            call(
                &router,
                "POST",
                &path,
                Some(SECRET),
                Some(&body.to_string()),
            )
            .await
        }
    };

    let ran =
        exec(serde_json::json!({"command": "echo hi; echo oops >&2; exit 3", "timeout": 10000}))
            .await;
    assert_eq!(ran.status, 200, "{}", ran.body);
    assert_eq!(ran.body["exitCode"], 3);
    assert_eq!(ran.body["stdout"], "hi\n");
    assert_eq!(ran.body["stderr"], "oops\n");
    assert_eq!(ran.body["timedOut"], false);
    assert_eq!(ran.body["truncated"], false);
    assert!(ran.body["durationMs"].is_u64());

    // An array runs without a shell: the argument keeps its space and `$X` stays literal.
    let argv = exec(serde_json::json!({"command": ["echo", "a b", "$X"]})).await;
    assert_eq!(argv.body["stdout"], "a b $X\n", "{}", argv.body);
    let piped = exec(serde_json::json!({
        "command": "cat; echo \"$GREETING\"; pwd",
        "stdin": "from stdin\n",
        "env": {"GREETING": "hello"},
        "cwd": "/tmp"
    }))
    .await;
    assert_eq!(
        piped.body["stdout"], "from stdin\nhello\n/tmp\n",
        "{}",
        piped.body
    );

    let capped = exec(serde_json::json!({"command": "yes | head -c 3000000"})).await;
    assert_eq!(
        capped.body["truncated"], true,
        "{}",
        capped.body["truncated"]
    );
    assert_eq!(capped.body["stdout"].as_str().unwrap().len(), 1 << 20);
    assert_eq!(capped.body["exitCode"], 0);

    // Past its timeout the command and what it left behind are killed.
    let timed = exec(serde_json::json!({
        "command": "sleep 300 & setsid sh -c 'sleep 301' & sleep 302",
        "timeout": 500
    }))
    .await;
    assert_eq!(timed.status, 200, "{}", timed.body);
    assert_eq!(timed.body["timedOut"], true, "{}", timed.body);
    assert!(timed.body["exitCode"].is_null());
    let container = container_of(&state, &id).await;
    until_no_process(
        &engine,
        &container,
        &["sleep 30"],
        Duration::from_secs(10),
        "nothing of the command left",
    )
    .await;

    for (body, what) in [
        (serde_json::json!({"command": ""}), "an empty command"),
        (serde_json::json!({"command": []}), "an empty argv"),
        (
            serde_json::json!({"command": "true", "timeout": 0}),
            "no time",
        ),
        (
            serde_json::json!({"command": "true", "timeout": 4_000_000}),
            "too long",
        ),
        (
            serde_json::json!({"command": "true", "cwd": "tmp"}),
            "a relative cwd",
        ),
        (
            serde_json::json!({"command": "true", "env": {"A": "x\u{0}y"}}),
            "NUL in env",
        ),
        (
            serde_json::json!({"command": "true", "env": {"1A": "x"}}),
            "a bad env key",
        ),
        (serde_json::json!({"command": 5}), "a number"),
        (
            serde_json::json!({"command": "true", "user": "root"}),
            "an unknown field",
        ),
    ] {
        let answer = exec(body).await;
        assert_eq!(answer.status, 400, "{what}: {}", answer.body);
    }
    let unknown = call(
        &router,
        "POST",
        "/api/containers/0a1b2c3d/exec",
        Some(SECRET),
        Some(r#"{"command":"true"}"#),
    )
    .await;
    assert_eq!(unknown.status, 404);
    destroy(&router, &id).await;
}

#[tokio::test]
async fn a_streamed_exec_sends_output_while_it_runs_and_a_client_that_leaves_kills_it() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let fixture = Fixture::new(Some(&engine), BUSYBOX_IMAGE, 0);
    let state = fixture.open().await;
    let router = router(&state);
    let address = serve(&router).await;
    let id = create(&router, "exec-stream").await;
    let url = format!("http://{address}/api/containers/{id}/exec?stream=true");
    let post = |body: serde_json::Value| {
        reqwest::Client::new()
            .post(&url)
            .bearer_auth(SECRET)
            .json(&body)
    };
    let ended = |events: &[Sse]| {
        events
            .last()
            .is_some_and(|e| matches!(e.event.as_deref(), Some("exit" | "error")))
    };
    let text_of = |events: &[Sse], stream: &str| -> String {
        events
            .iter()
            .filter(|e| e.event.as_deref() == Some(stream))
            .map(|e| e.data["data"].as_str().unwrap().to_owned())
            .collect()
    };

    let events = sse::read(
        post(serde_json::json!({
            "command": "echo one; echo two >&2; sleep 0.2; printf 'thr€e\\n'; exit 4",
            "timeout": 10000
        })),
        ended,
    )
    .await;
    assert_eq!(text_of(&events, "stdout"), "one\nthr€e\n", "{events:?}");
    assert_eq!(text_of(&events, "stderr"), "two\n", "{events:?}");
    let exit = &events.last().unwrap().data;
    assert_eq!(exit["exitCode"], 4, "{exit}");
    assert_eq!(exit["timedOut"], false);
    assert!(
        exit.get("stdout").is_none(),
        "the exit event carries no output"
    );

    let timed = sse::read(
        post(serde_json::json!({"command": "echo waiting; sleep 30", "timeout": 300})),
        ended,
    )
    .await;
    assert_eq!(text_of(&timed, "stdout"), "waiting\n");
    let exit = &timed.last().unwrap().data;
    assert_eq!(exit["timedOut"], true, "{exit}");
    assert!(exit["exitCode"].is_null());

    // The first line arrives while the command still runs; leaving then kills it.
    let started = sse::read(
        post(serde_json::json!({"command": "echo started; sleep 312; echo never"})),
        |events| !events.is_empty(),
    )
    .await;
    assert_eq!(text_of(&started, "stdout"), "started\n");
    let container = container_of(&state, &id).await;
    until_no_process(
        &engine,
        &container,
        &["sleep 312"],
        Duration::from_secs(10),
        "the abandoned command killed",
    )
    .await;

    let bad = call(
        &router,
        "POST",
        &format!("/api/containers/{id}/exec?stream=yes"),
        Some(SECRET),
        Some(r#"{"command":"true"}"#),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    destroy(&router, &id).await;
}
