//! A dev server on a host port leased from the store: lease, publish, answer over HTTP,
//! audit, tear down, and the port comes back.

use std::time::Duration;

use slipway_core::prelude::*;
use slipway_core::{
    run_container, AuditEvent, AuditFilter, ContainerSpec, Error, PortBinding, PortLeaseRequest,
    PortRange, RemoveOptions, Role,
};
use slipway_e2e::{http_get, Stack};

/// Leases the lowest free port and starts the server on it, passing over ports something
/// outside slipway holds.
async fn start_server(stack: &Stack, range: PortRange) -> (slipway_core::ContainerId, u16) {
    let mut skip = Vec::new();
    loop {
        let lease = stack
            .store
            .lease_port(&PortLeaseRequest {
                range,
                holder: "dev-server".into(),
                skip: skip.clone(),
            })
            .await
            .unwrap();
        let spec = ContainerSpec::new(stack.engine.busybox())
            .with_name(stack.engine.unique_name("dev"))
            .with_labels(stack.labels(Role::Env))
            .with_cmd(["httpd", "-f", "-p", "3000", "-h", "/www"])
            .with_port(PortBinding::loopback(3000, Some(lease.port)));
        match run_container(stack.engine.runtime(), &spec).await {
            Ok(id) => return (id, lease.port),
            Err(Error::PortInUse { port }) => {
                stack.store.release_port(port, "dev-server").await.unwrap();
                skip.push(port);
            }
            Err(other) => panic!("the dev server did not start: {other}"),
        }
    }
}

#[tokio::test]
async fn a_leased_port_serves_the_dev_server_and_is_reused_after_teardown() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let runtime = stack.engine.runtime();
    // A range of our own, with its first port held by a process outside slipway.
    let outsider = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let first = outsider.local_addr().unwrap().port();
    let range = PortRange::new(first, first.saturating_add(20)).unwrap();

    let (id, port) = start_server(&stack, range).await;
    assert_ne!(port, first, "the port held outside slipway is passed over");
    let (status, body) = http_get(port, "/", Duration::from_secs(5)).await;
    assert!(status.contains("200"), "{status}");
    assert_eq!(body, "slipway test page\n");

    let info = runtime.inspect_container(&id).await.unwrap();
    assert_eq!(info.host_port(3000), Some(port));
    assert_eq!(
        info.labels["dev.slipway.instance"],
        stack.store.instance_id().as_str()
    );
    stack
        .store
        .append_audit(
            &AuditEvent::new("environment_created")
                .with_resource("container_id", id.as_str())
                .with_detail(format!("port {port}")),
        )
        .await
        .unwrap();

    runtime
        .remove_container(&id, RemoveOptions::force())
        .await
        .unwrap();
    assert!(stack.store.release_port(port, "dev-server").await.unwrap());
    stack
        .store
        .append_audit(
            &AuditEvent::new("environment_destroyed").with_resource("container_id", id.as_str()),
        )
        .await
        .unwrap();

    let (again, port_again) = start_server(&stack, range).await;
    assert_eq!(
        port_again, port,
        "the released port is the lowest free one again"
    );
    runtime
        .remove_container(&again, RemoveOptions::force())
        .await
        .unwrap();
    stack
        .store
        .release_port(port_again, "dev-server")
        .await
        .unwrap();

    let entries = stack
        .store
        .audit_entries(&AuditFilter::default())
        .await
        .unwrap();
    assert_eq!(
        entries
            .iter()
            .map(|e| e.event.kind.as_str())
            .collect::<Vec<_>>(),
        ["environment_created", "environment_destroyed"]
    );
    assert!(stack.store.verify_audit().await.unwrap().is_intact());
    assert!(stack.store.port_leases().await.unwrap().is_empty());
    assert!(runtime
        .list_containers(&stack.engine.filter())
        .await
        .unwrap()
        .is_empty());
    assert!(stack
        .state_dir()
        .join(slipway_store::DATABASE_FILE)
        .exists());
    drop(outsider);
}
