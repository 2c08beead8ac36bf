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
            &ExecRequest::shell("wget -qO- -T 2 http://buildkit:1234/"),
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
