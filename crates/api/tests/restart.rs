//! `slipwayd` killed with SIGKILL in the middle of creates and setups, again and again: after
//! each start every environment is listed once, every container of the state is accounted
//! for, no host port is held twice, and an interrupted setup is called back as `error`.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use slipway_app::{Access, Services};
use slipway_core::labels::{self, LabelFilter};
use slipway_core::prelude::*;
use slipway_testkit::engine::BUSYBOX_IMAGE;
use slipway_testkit::require_engine;
use slipway_testkit::synthetic::{node_app, SyntheticRepo};
use support::daemon::Daemon;
use support::receiver::Receiver;
use support::{until, Fixture, SECRET};

async fn post(client: &reqwest::Client, url: String, body: String) -> Option<serde_json::Value> {
    let response = client
        .post(url)
        .bearer_auth(SECRET)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .ok()?;
    response.json().await.ok()
}

#[tokio::test]
async fn kill_9_during_creates_and_setups_loses_no_container_and_leases_no_port_twice() {
    let Some(engine) = require_engine!() else {
        return;
    };
    // Installs take long enough for the kill to land in the middle of one.
    let fixture = Fixture::with_provision(
        Some(&engine),
        BUSYBOX_IMAGE,
        2,
        "install_command = \"sleep 60\"",
    );
    let repo_name = format!("restart-{}", engine.scope());
    SyntheticRepo::create(&fixture.remote("fixture", &repo_name))
        .unwrap()
        .commit(
            "main",
            None,
            &node_app("restart", "1.0.0", "hi"),
            &[],
            "main",
        )
        .unwrap();
    std::fs::create_dir_all(fixture.state_dir()).unwrap();
    std::fs::write(
        fixture.state_dir().join("api-secrets"),
        format!("{SECRET}\n"),
    )
    .unwrap();
    let receiver = Receiver::start("restart-secret", 0).await;
    let client = reqwest::Client::new();

    let mut setups = Vec::new();
    for round in 0..4u64 {
        let daemon = Daemon::start(&fixture);
        let creates: Vec<_> = (0..3)
            .map(|i| {
                post(
                    &client,
                    format!("{}/api/containers", daemon.url),
                    format!(r#"{{"name":"r{round}-{i}"}}"#),
                )
            })
            .collect();
        let made = futures_util::future::join_all(creates).await;
        // One setup per round, killed while it installs.
        if let Some(id) = made.iter().flatten().find_map(|b| b["id"].as_str()) {
            let body = serde_json::json!({
                "repo": format!("fixture/{repo_name}"),
                "callbackUrl": receiver.url,
                "callbackSecret": "restart-secret",
            });
            let accepted = post(
                &client,
                format!("{}/api/containers/{id}/setup", daemon.url),
                body.to_string(),
            )
            .await;
            if accepted.is_some() {
                setups.push(id.to_owned());
            }
        }
        // More creates in flight when the kill lands, at a different moment each round.
        let url = daemon.url.clone();
        let client2 = client.clone();
        let in_flight = tokio::spawn(async move {
            post(
                &client2,
                format!("{url}/api/containers"),
                format!(r#"{{"name":"late-{round}"}}"#),
            )
            .await
        });
        tokio::time::sleep(Duration::from_millis(20 + round * 90)).await;
        daemon.kill_9();
        let _ = in_flight.await;
    }
    assert!(!setups.is_empty(), "no setup was started");

    let daemon = Daemon::start(&fixture);
    let listed: Vec<serde_json::Value> = client
        .get(format!("{}/api/containers", daemon.url))
        .bearer_auth(SECRET)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed.iter().map(|c| c["id"].as_str().unwrap()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "listed twice: {ids:?}");
    let ports: Vec<u64> = listed
        .iter()
        .filter_map(|c| c["hostPort"].as_u64())
        .collect();
    assert_eq!(ports.len(), listed.len(), "every environment has its port");
    assert_eq!(
        ports.iter().collect::<HashSet<_>>().len(),
        ports.len(),
        "a host port twice: {ports:?}"
    );
    for c in &listed {
        assert!(
            !c["state"]
                .as_str()
                .is_some_and(|s| s == "creating" || s == "installing"),
            "left in progress after recovery: {c}"
        );
    }

    // Every container of the state is an environment's or an unclaimed warm one; every
    // environment's container exists.
    let records = Services::open(&fixture.config(), Access::Records)
        .await
        .unwrap();
    let store = records.store();
    let instance = store.instance_id();
    let environments = store.environments().await.unwrap();
    let held: HashSet<String> = environments
        .iter()
        .filter_map(|r| r.container_id.as_ref().map(ToString::to_string))
        .collect();
    let claims: HashSet<String> = store
        .claims()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.container_id.to_string())
        .collect();
    assert!(claims.is_subset(&held), "a claim without an environment");
    let containers = engine
        .runtime()
        .list_containers(&LabelFilter::managed().with(labels::INSTANCE, instance.as_str()))
        .await
        .unwrap();
    let in_engine: HashSet<String> = containers.iter().map(|c| c.id.to_string()).collect();
    for id in &held {
        assert!(in_engine.contains(id), "environment container {id} lost");
    }
    for container in &containers {
        assert!(
            held.contains(container.id.as_str())
                || container.labels.get(labels::ROLE).map(String::as_str) == Some("pool"),
            "a container nobody accounts for: {:?}",
            container.names
        );
    }
    let leases = store.port_leases().await.unwrap();
    let leased: Vec<u16> = leases.iter().map(|l| l.port).collect();
    assert_eq!(leased.iter().collect::<HashSet<_>>().len(), leased.len());
    for port in &ports {
        assert!(leased.contains(&(*port as u16)), "port {port} not leased");
    }

    // The interrupted setups were called back as errors.
    let errors = until(Duration::from_secs(30), "the error callbacks", || async {
        let accepted = receiver.accepted();
        let errored: HashSet<String> = accepted
            .iter()
            .filter(|r| r.body["phase"] == "error" && r.signature_ok)
            .map(|r| r.body["containerId"].as_str().unwrap().to_owned())
            .collect();
        setups
            .iter()
            .all(|id| errored.contains(id))
            .then_some(errored)
    })
    .await;
    assert!(!errors.is_empty());

    for id in ids {
        let status = client
            .delete(format!("{}/api/containers/{id}", daemon.url))
            .bearer_auth(SECRET)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 204);
    }
    assert!(daemon.stop().success());
}
