//! `slipwayd` as a process: secrets rotated with SIGHUP, JSON log lines with request ids and
//! no query strings, SIGTERM leaving environments running, and a restart listing them again
//! with the same host port.

mod support;

use std::process::Stdio;
use std::time::Duration;

use slipway_core::prelude::*;
use slipway_core::ContainerState;
use slipway_testkit::engine::BUSYBOX_IMAGE;
use slipway_testkit::require_engine;
use support::daemon::Daemon;
use support::{until, Fixture, SECRET};

const NEW_SECRET: &str = "rotated-secret-0123456789abcdef";

async fn status(client: &reqwest::Client, url: &str, token: &str) -> u16 {
    client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn sighup_rotates_secrets_sigterm_leaves_environments_and_a_restart_finds_them() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let fixture = Fixture::new(Some(&engine), BUSYBOX_IMAGE, 0);
    let secrets = fixture.state_dir().join("api-secrets");
    std::fs::create_dir_all(fixture.state_dir()).unwrap();
    std::fs::write(&secrets, format!("{SECRET}\n")).unwrap();
    let log_path = fixture.dir.path().join("slipwayd.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let daemon = Daemon::start_with(
        &fixture,
        &["--log-format", "json"],
        Stdio::from(log),
        "info",
    );
    let client = reqwest::Client::new();
    let list = format!("{}/api/containers", daemon.url);

    // A query string that looks like a token never reaches the log.
    let with_query = format!("{list}?token=query-token-must-not-be-logged");
    assert_eq!(status(&client, &with_query, SECRET).await, 400);
    let created: serde_json::Value = client
        .post(&list)
        .bearer_auth(SECRET)
        .json(&serde_json::json!({"name": "survivor"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let port = created["hostPort"].as_u64().unwrap();

    // Rotation: both secrets, then only the new one.
    std::fs::write(&secrets, format!("{SECRET}\n{NEW_SECRET}\n")).unwrap();
    daemon.signal("HUP");
    until(Duration::from_secs(10), "the new secret", || async {
        (status(&client, &list, NEW_SECRET).await == 200).then_some(())
    })
    .await;
    assert_eq!(status(&client, &list, SECRET).await, 200);
    std::fs::write(&secrets, format!("{NEW_SECRET}\n")).unwrap();
    daemon.signal("HUP");
    until(
        Duration::from_secs(10),
        "the old secret refused",
        || async { (status(&client, &list, SECRET).await == 401).then_some(()) },
    )
    .await;
    assert_eq!(status(&client, &list, NEW_SECRET).await, 200);

    // SIGTERM: a clean exit, the environment's container still running.
    daemon.signal("TERM");
    let mut daemon = daemon;
    let exit = tokio::task::spawn_blocking(move || {
        let exit = daemon.child.wait().unwrap();
        drop(daemon);
        exit
    })
    .await
    .unwrap();
    assert!(exit.success(), "{exit:?}");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!log.contains("query-token-must-not-be-logged"), "{log}");
    assert!(!log.contains(SECRET) && !log.contains(NEW_SECRET), "{log}");
    let request_lines: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["fields"]["message"] == "request")
        .collect();
    assert!(!request_lines.is_empty(), "no request lines in JSON: {log}");
    for line in &request_lines {
        assert!(line["fields"]["request"].is_u64(), "{line}");
        assert!(line["fields"]["path"].is_string(), "{line}");
    }

    let records = slipway_app::Services::open(&fixture.config(), slipway_app::Access::Records)
        .await
        .unwrap();
    let record = records.store().environment(&id).await.unwrap().unwrap();
    let info = engine
        .runtime()
        .inspect_container(record.container_id.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(info.state, ContainerState::Running);

    // Started again, it lists the environment with the same host port.
    let daemon = Daemon::start(&fixture);
    let list = format!("{}/api/containers", daemon.url);
    let listed: Vec<serde_json::Value> = client
        .get(&list)
        .bearer_auth(NEW_SECRET)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["hostPort"].as_u64(), Some(port));
    let deleted = client
        .delete(format!("{list}/{id}"))
        .bearer_auth(NEW_SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert!(daemon.stop().success());
}
