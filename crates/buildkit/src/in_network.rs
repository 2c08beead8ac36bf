//! The health probe run from inside the sidecar's own network namespace, through the engine:
//! it works wherever the engine is (a local socket, ssh, TLS, Docker Desktop's VM), where
//! the slipway process can't reach a bridge address.
//!
//! - `grpc`: BuildKit's `ListWorkers`, sent by slipway's own gRPC client through a relay
//!   exec in the sidecar (`timeout N nc 127.0.0.1 PORT`, present in `moby/buildkit`'s Alpine
//!   base and in busybox), its stdin and stdout as the connection.
//! - `tcp`: the sidecar's socket table (`/proc/net/tcp{,6}`) lists the port as listening.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use hyper_util::rt::TokioIo;
use slipway_core::prelude::*;
use slipway_core::{ContainerId, ExecRequest, PipeRequest, PipeSession};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tonic::transport::{Endpoint, Uri};

use crate::health::{count_workers, HealthProbe};

/// The TCP state `LISTEN` in `/proc/net/tcp`.
const LISTEN: &str = "0A";

impl HealthProbe {
    /// One check of the BuildKit listening on `port` in `container`, made from inside the
    /// container's network namespace; the error says why it is not healthy yet.
    pub async fn check_in_container(
        self,
        runtime: Arc<dyn Runtime>,
        container: &ContainerId,
        port: u16,
        timeout: Duration,
    ) -> std::result::Result<(), String> {
        match self {
            HealthProbe::Tcp => {
                let request = ExecRequest::new(["cat", "/proc/net/tcp", "/proc/net/tcp6"])
                    .with_timeout(timeout);
                // `cat` fails on a host without IPv6, after printing the IPv4 table.
                let outcome = runtime
                    .exec(container, &request)
                    .await
                    .map_err(|e| format!("reading the sidecar's sockets: {e}"))?;
                if listens_on(&outcome.stdout_text(), port) {
                    Ok(())
                } else {
                    Err(format!("nothing listens on port {port} in the sidecar yet"))
                }
            }
            HealthProbe::Grpc => {
                let workers = tokio::time::timeout(
                    timeout,
                    list_workers_through_relay(runtime, container, port, timeout),
                )
                .await
                .map_err(|_| {
                    format!("BuildKit in the sidecar did not answer within {timeout:?}")
                })??;
                if workers == 0 {
                    return Err("BuildKit in the sidecar has no workers yet".to_owned());
                }
                Ok(())
            }
        }
    }
}

async fn list_workers_through_relay(
    runtime: Arc<dyn Runtime>,
    container: &ContainerId,
    port: u16,
    timeout: Duration,
) -> std::result::Result<usize, String> {
    let relay = relay(port, timeout);
    let container = container.clone();
    let connector = tower::service_fn(move |_: Uri| {
        let (runtime, container, relay) = (Arc::clone(&runtime), container.clone(), relay.clone());
        async move {
            tunnel(runtime.as_ref(), &container, &relay)
                .await
                .map(TokioIo::new)
        }
    });
    let channel = Endpoint::from_static("http://buildkit")
        .connect_timeout(timeout)
        .timeout(timeout)
        .connect_with_connector(connector)
        .await
        .map_err(|e| {
            format!(
                "grpc through a relay in the sidecar: {e} (the grpc probe relays through \
                 `timeout` and `nc` in the sidecar image; an image without them needs the tcp probe)"
            )
        })?;
    count_workers(channel).await
}

/// The relay command: BuildKit's port seen from inside the sidecar, for no longer than a
/// probe may take (so a relay never outlives its probe for long).
fn relay(port: u16, timeout: Duration) -> PipeRequest {
    let seconds = timeout.as_secs() + 2;
    PipeRequest::new([
        "timeout".to_owned(),
        seconds.to_string(),
        "nc".to_owned(),
        "127.0.0.1".to_owned(),
        port.to_string(),
    ])
}

/// A byte stream whose far end is `relay`'s stdin and stdout in `container`. The copying
/// tasks end when either side closes.
async fn tunnel(
    runtime: &dyn Runtime,
    container: &ContainerId,
    relay: &PipeRequest,
) -> std::io::Result<DuplexStream> {
    let PipeSession {
        mut stdout,
        mut input,
    } = runtime
        .exec_pipe(container, relay)
        .await
        .map_err(std::io::Error::other)?;
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let (mut from_client, mut to_client) = tokio::io::split(theirs);
    tokio::spawn(async move {
        while let Some(Ok(chunk)) = stdout.next().await {
            if to_client.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to_client.shutdown().await;
    });
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 16 * 1024];
        while let Ok(read @ 1..) = from_client.read(&mut buffer).await {
            if input.write(&buffer[..read]).await.is_err() {
                break;
            }
        }
        let _ = input.close().await;
    });
    Ok(ours)
}

/// Whether a `/proc/net/tcp`-format table lists a socket listening on `port`.
fn listens_on(table: &str, port: u16) -> bool {
    let wanted = format!("{port:04X}");
    table.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(local), Some(state)) = (fields.get(1), fields.get(3)) else {
            return false;
        };
        *state == LISTEN
            && local
                .rsplit_once(':')
                .is_some_and(|(_, local_port)| local_port.eq_ignore_ascii_case(&wanted))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:04D2 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
";

    #[test]
    fn only_a_listening_socket_on_the_port_counts() {
        assert!(listens_on(TABLE, 3000));
        // Port 1234 (04D2) has only an established connection, not a listener.
        assert!(!listens_on(TABLE, 1234));
        assert!(!listens_on("", 1234));
        let v6 = "   0: 00000000000000000000000000000000:04D2 00000000000000000000000000000000:0000 0A 0 0 0 0 0 1";
        assert!(listens_on(v6, 1234));
    }

    #[test]
    fn the_relay_outlives_a_probe_only_briefly() {
        let relay = relay(1234, Duration::from_millis(900));
        assert_eq!(relay.cmd, ["timeout", "2", "nc", "127.0.0.1", "1234"]);
    }
}
