//! Is a BuildKit sidecar serving? "Running" is not the answer: real BuildKit is healthy when
//! its gRPC `Control.ListWorkers` answers with at least one worker. Other sidecar images can
//! be probed by a plain TCP connect instead.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use bollard_buildkit_proto::moby::buildkit::v1::control_client::ControlClient;
use bollard_buildkit_proto::moby::buildkit::v1::ListWorkersRequest;
use slipway_core::{Error, Result};
use tonic::transport::{Channel, Endpoint};

/// How a sidecar's health is checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum HealthProbe {
    /// BuildKit's gRPC `ListWorkers` returns at least one worker.
    #[default]
    Grpc,
    /// The port accepts a TCP connection (for stand-in sidecar images).
    Tcp,
}

impl fmt::Display for HealthProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HealthProbe::Grpc => "grpc",
            HealthProbe::Tcp => "tcp",
        })
    }
}

impl FromStr for HealthProbe {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "grpc" => Ok(HealthProbe::Grpc),
            "tcp" => Ok(HealthProbe::Tcp),
            other => Err(Error::invalid(
                "health probe",
                format!("`{}` is not `grpc` or `tcp`", other.escape_debug()),
            )),
        }
    }
}

impl HealthProbe {
    /// One check of the sidecar at `address`; the error says why it is not healthy yet.
    pub async fn check(
        self,
        address: SocketAddr,
        timeout: Duration,
    ) -> std::result::Result<(), String> {
        match self {
            HealthProbe::Tcp => {
                match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(address)).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(format!("tcp connect to {address}: {e}")),
                    Err(_) => Err(format!("tcp connect to {address} timed out")),
                }
            }
            HealthProbe::Grpc => {
                let endpoint = Endpoint::from_shared(format!("http://{address}"))
                    .map_err(|e| e.to_string())?
                    .connect_timeout(timeout)
                    .timeout(timeout);
                let channel = endpoint
                    .connect()
                    .await
                    .map_err(|e| format!("grpc connect to {address}: {e}"))?;
                let workers = count_workers(channel).await?;
                if workers == 0 {
                    return Err(format!("BuildKit at {address} has no workers yet"));
                }
                Ok(())
            }
        }
    }
}

/// Asks BuildKit's control service on `channel` how many workers it has.
pub async fn count_workers(channel: Channel) -> std::result::Result<usize, String> {
    let mut client = ControlClient::new(channel);
    let response = client
        .list_workers(ListWorkersRequest::default())
        .await
        .map_err(|status| format!("ListWorkers failed: {}", status.message()))?;
    Ok(response.into_inner().record.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_parse_and_print() {
        for probe in [HealthProbe::Grpc, HealthProbe::Tcp] {
            assert_eq!(probe.to_string().parse::<HealthProbe>().unwrap(), probe);
        }
        let err = "http".parse::<HealthProbe>().unwrap_err();
        assert!(err.to_string().contains("`http`"), "{err}");
    }

    #[tokio::test]
    async fn a_closed_port_is_not_healthy() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        for probe in [HealthProbe::Tcp, HealthProbe::Grpc] {
            let err = probe
                .check(address, Duration::from_millis(500))
                .await
                .unwrap_err();
            assert!(err.contains(&address.to_string()), "{err}");
        }
    }
}
