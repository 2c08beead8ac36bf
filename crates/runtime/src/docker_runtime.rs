//! [`DockerRuntime`]: one connection to one engine, and how it is made.

use std::time::Duration;

use bollard::{Docker, API_DEFAULT_VERSION};
use slipway_core::{Error, Result, RuntimeCapabilities};

use crate::endpoint::Endpoint;
use crate::error::RuntimeError;

/// How long one request may wait for the engine's response headers unless configured.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How long connecting and the first ping may take unless configured.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// slipway's [`Runtime`](slipway_core::Runtime) and [`Network`](slipway_core::Network) over
/// one Docker engine. Cheap to clone: clones share the connection pool.
#[derive(Clone, Debug)]
pub struct DockerRuntime {
    pub(crate) docker: Docker,
    pub(crate) endpoint: Endpoint,
    pub(crate) request_timeout: Duration,
    pub(crate) privileged_allowed: bool,
}

/// Settings for connecting to an engine; finish with [`DockerRuntimeBuilder::bootstrap`].
#[derive(Clone, Debug)]
pub struct DockerRuntimeBuilder {
    endpoint: Endpoint,
    request_timeout: Duration,
    connect_timeout: Duration,
    privileged_allowed: bool,
}

impl DockerRuntime {
    /// Starts configuring a connection to `endpoint`.
    pub fn builder(endpoint: Endpoint) -> DockerRuntimeBuilder {
        DockerRuntimeBuilder {
            endpoint,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            privileged_allowed: true,
        }
    }

    /// The endpoint this runtime talks to.
    pub fn endpoint_config(&self) -> &Endpoint {
        &self.endpoint
    }

    /// A clone of the underlying bollard client, for callers that need an engine call slipway
    /// does not wrap (and for comparing against raw bollard in benchmarks).
    pub fn bollard(&self) -> Docker {
        self.docker.clone()
    }

    pub(crate) fn core_error(&self, error: RuntimeError) -> Error {
        error.into_core(&self.endpoint.to_string(), self.request_timeout)
    }

    pub(crate) fn capabilities_now(&self) -> RuntimeCapabilities {
        RuntimeCapabilities {
            privileged: self.privileged_allowed,
            sidecars: true,
            host_socket: self
                .endpoint
                .local_socket()
                .map(|p| p.display().to_string()),
        }
    }
}

impl DockerRuntimeBuilder {
    /// How long one request may wait for the engine's response headers (default 120 s).
    /// Streams (logs, builds, pushes, long execs) are not cut off by it.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long connecting and the first ping may take before the engine counts as
    /// unavailable (default 2 s).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Whether callers may ask this runtime for privileged containers (default yes). Hosts
    /// that forbid them set this so that dind runs fail up front with a clear message.
    pub fn with_privileged_allowed(mut self, allowed: bool) -> Self {
        self.privileged_allowed = allowed;
        self
    }

    /// Connects, pings and negotiates the API version, all within the connect timeout.
    /// An engine that can't be reached is [`Error::Unavailable`] naming the endpoint.
    pub async fn bootstrap(self) -> Result<DockerRuntime> {
        let endpoint_text = self.endpoint.to_string();
        let unavailable = |reason: String| Error::Unavailable {
            endpoint: format!("docker engine at {endpoint_text}"),
            reason,
        };
        if let Endpoint::Unix { path } = &self.endpoint {
            if !path.exists() {
                return Err(unavailable(format!(
                    "no socket at {}: is the engine running?",
                    path.display()
                )));
            }
        }
        let docker =
            connect(&self.endpoint, self.request_timeout).map_err(|source| match source {
                bollard::errors::Error::CertPathError { path } => Error::invalid(
                    "TLS files",
                    format!(
                        "cannot read {}; DOCKER_CERT_PATH must hold ca.pem, cert.pem and key.pem",
                        path.display()
                    ),
                ),
                bollard::errors::Error::CertParseError { path }
                | bollard::errors::Error::CertMultipleKeys { path, .. } => Error::invalid(
                    "TLS files",
                    format!("{} is not a single PEM certificate or key", path.display()),
                ),
                source => Error::backend(RuntimeError::Connect {
                    endpoint: endpoint_text.clone(),
                    source,
                }),
            })?;
        let negotiated = tokio::time::timeout(self.connect_timeout, async {
            docker.ping().await?;
            docker.negotiate_version().await
        })
        .await
        .map_err(|_| unavailable(format!("no answer within {:?}", self.connect_timeout)))?;
        let docker = negotiated.map_err(|source| {
            let error = RuntimeError::Ping { source };
            match error.into_core(&endpoint_text, self.request_timeout) {
                Error::Backend(source) => unavailable(source.to_string()),
                other => other,
            }
        })?;
        tracing::debug!(endpoint = %endpoint_text, api = %docker.client_version(), "connected to docker engine");
        Ok(DockerRuntime {
            docker,
            endpoint: self.endpoint,
            request_timeout: self.request_timeout,
            privileged_allowed: self.privileged_allowed,
        })
    }
}

fn connect(endpoint: &Endpoint, timeout: Duration) -> Result<Docker, bollard::errors::Error> {
    let secs = timeout.as_secs().max(1);
    match endpoint {
        Endpoint::Unix { path } => {
            Docker::connect_with_unix(&path.to_string_lossy(), secs, API_DEFAULT_VERSION)
        }
        Endpoint::Tcp { host, port } => Docker::connect_with_http(
            &format!("tcp://{}:{port}", url_host(host)),
            secs,
            API_DEFAULT_VERSION,
        ),
        Endpoint::Tls { host, port, files } => Docker::connect_with_ssl(
            &format!("tcp://{}:{port}", url_host(host)),
            &files.key,
            &files.cert,
            &files.ca,
            secs,
            API_DEFAULT_VERSION,
        ),
        Endpoint::Ssh { destination, port } => {
            let address = match port {
                Some(port) => format!("ssh://{destination}:{port}"),
                None => format!("ssh://{destination}"),
            };
            Docker::connect_with_ssh(&address, secs, API_DEFAULT_VERSION, None)
        }
    }
}

fn url_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}
