use std::time::Duration;

use slipway_core::prelude::*;
use slipway_core::{run_container, ErrorKind, ExecRequest, NetworkSpec, RemoveOptions, Role};
use slipway_testkit::require_engine;

#[tokio::test]
async fn a_network_alias_resolves_from_a_second_container() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let name = engine.unique_name("net");
    let spec = NetworkSpec {
        name: name.clone(),
        labels: engine.labels(Role::Run),
        internal: false,
        isolated: false,
    };
    let network = runtime.create_network(&spec).await.unwrap();

    let server = engine
        .sleeper("srv")
        .with_cmd(["httpd", "-f", "-p", "1234", "-h", "/www"])
        .with_network(name.as_str(), vec!["buildkit".into()]);
    let server = run_container(runtime, &server).await.unwrap();
    let client = run_container(runtime, &engine.sleeper("cli"))
        .await
        .unwrap();
    runtime.connect(&network, &client, &[]).await.unwrap();

    let info = runtime.inspect_network(&network).await.unwrap();
    assert_eq!(info.name, name.as_str());
    assert_eq!(info.containers.len(), 2, "{info:?}");

    let fetch = ExecRequest::shell("for i in $(seq 1 50); do wget -qO- http://buildkit:1234/ && exit 0; sleep 0.1; done; exit 1")
        .with_timeout(Duration::from_secs(20));
    let outcome = runtime.exec(&client, &fetch).await.unwrap();
    assert_eq!(outcome.stdout_text(), "slipway test page\n", "{outcome:?}");

    runtime.disconnect(&network, &client).await.unwrap();
    let outcome = runtime
        .exec(
            &client,
            &ExecRequest::shell("timeout 2 wget -qO- http://buildkit:1234/"),
        )
        .await
        .unwrap();
    assert!(
        !outcome.success(),
        "the alias must not resolve once disconnected"
    );

    let err = runtime.remove_network(&network).await.unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::Conflict,
        "a network with endpoints can't go: {err}"
    );
    runtime
        .remove_container(&server, RemoveOptions::force())
        .await
        .unwrap();
    runtime
        .remove_container(&client, RemoveOptions::force())
        .await
        .unwrap();
    runtime.remove_network(&network).await.unwrap();
    let err = runtime.inspect_network(&network).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn a_duplicate_network_name_is_a_conflict() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let spec = NetworkSpec {
        name: engine.unique_name("dupnet"),
        labels: engine.labels(Role::Run),
        internal: true,
        isolated: false,
    };
    let first = runtime.create_network(&spec).await.unwrap();
    let err = runtime.create_network(&spec).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        runtime.list_networks(&engine.filter()).await.unwrap().len(),
        1
    );
    runtime.remove_network(&first).await.unwrap();
}

/// Whether a client on network `name` fetches the page of a server on it (by address).
async fn reaches(engine: &slipway_testkit::TestEngine, name: &str, isolated: bool) -> bool {
    let runtime = engine.runtime();
    let network = runtime
        .create_network(&NetworkSpec {
            name: engine.unique_name(name),
            labels: engine.labels(Role::Env),
            internal: false,
            isolated,
        })
        .await
        .unwrap();
    let attached = runtime.inspect_network(&network).await.unwrap().name;
    let server = engine
        .sleeper("srv")
        .with_cmd(["httpd", "-f", "-p", "3000", "-h", "/www"])
        .with_network(attached.as_str(), Vec::new());
    let server = run_container(runtime, &server).await.unwrap();
    let address = runtime.inspect_container(&server).await.unwrap().networks[&attached]
        .ip_address
        .unwrap();
    let client = engine
        .sleeper("cli")
        .with_network(attached.as_str(), Vec::new());
    let client = run_container(runtime, &client).await.unwrap();
    // The server answers itself either way: a refusal is the network's doing.
    let local = ExecRequest::shell(
        "for i in $(seq 1 50); do wget -qO- http://127.0.0.1:3000/ && exit 0; sleep 0.1; done; exit 1",
    )
    .with_timeout(Duration::from_secs(20));
    assert!(runtime.exec(&server, &local).await.unwrap().success());
    let fetch = ExecRequest::shell(format!("timeout 3 wget -qO- http://{address}:3000/"))
        .with_timeout(Duration::from_secs(20));
    runtime.exec(&client, &fetch).await.unwrap().success()
}

#[tokio::test]
async fn containers_on_an_isolated_network_can_t_reach_each_other() {
    let Some(engine) = require_engine!() else {
        return;
    };
    assert!(
        reaches(&engine, "open", false).await,
        "the baseline fetch works"
    );
    assert!(
        !reaches(&engine, "isolated", true).await,
        "isolation let it through"
    );
}

#[tokio::test]
async fn an_existing_network_is_joined_only_when_it_is_ours() {
    let Some(engine) = require_engine!() else {
        return;
    };
    let runtime = engine.runtime();
    let spec = NetworkSpec {
        name: engine.unique_name("ensure"),
        labels: engine.labels(Role::Env),
        internal: false,
        isolated: true,
    };
    let created = slipway_core::ensure_network(runtime, &spec).await.unwrap();
    let again = slipway_core::ensure_network(runtime, &spec).await.unwrap();
    assert_eq!(created, again);

    let mut theirs = spec.clone();
    theirs.labels = engine.scope_labels();
    theirs.name = engine.unique_name("theirs");
    runtime.create_network(&theirs).await.unwrap();
    let mut wanted = theirs.clone();
    wanted.labels = engine.labels(Role::Env);
    let err = slipway_core::ensure_network(runtime, &wanted)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
}
