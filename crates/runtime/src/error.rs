//! The runtime's own errors (one variant per failed operation) and their mapping onto core's
//! error kinds.

use std::time::Duration;

use bollard::errors::Error as BollardError;
use slipway_core::Error;

/// A failed engine operation, with the ids involved and bollard's error as the source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[allow(missing_docs)] // each variant's message says what it is
pub enum RuntimeError {
    #[error("failed to connect to the docker engine at {endpoint}")]
    Connect {
        endpoint: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to ping the docker engine")]
    Ping {
        #[source]
        source: BollardError,
    },
    #[error("failed to read the engine's version")]
    Version {
        #[source]
        source: BollardError,
    },
    #[error("failed to read the engine's info")]
    Info {
        #[source]
        source: BollardError,
    },
    #[error("failed to create container from {image}")]
    CreateContainer {
        image: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to start container {id}")]
    StartContainer {
        id: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to stop container {id}")]
    StopContainer {
        id: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to remove container {id}")]
    RemoveContainer {
        id: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to inspect container {id}")]
    InspectContainer {
        id: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to list containers")]
    ListContainers {
        #[source]
        source: BollardError,
    },
    #[error("failed to wait for container {id}")]
    WaitContainer {
        id: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to run a command in container {id}")]
    Exec {
        id: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to kill a timed-out command in container {id}")]
    KillExec {
        id: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to start a terminal in container {id}")]
    ExecTty {
        id: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to resize terminal {exec}")]
    ResizeTty {
        exec: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to read the logs of container {id}")]
    Logs {
        id: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to follow the engine's events")]
    Events {
        #[source]
        source: BollardError,
    },
    #[error("failed to upload an archive to {path} in container {id}")]
    Upload {
        id: String,
        path: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to download {path} from container {id}")]
    Download {
        id: String,
        path: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to commit container {id} as {image}")]
    Commit {
        id: String,
        image: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to export image `{image}`")]
    ExportImage {
        image: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to inspect image {image}")]
    InspectImage {
        image: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to pull {image}")]
    Pull {
        image: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to build image {image}")]
    Build {
        image: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to tag image {image} as {target}")]
    Tag {
        image: String,
        target: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to push image {image}")]
    Push {
        image: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to remove image {image}")]
    RemoveImage {
        image: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to prune images")]
    PruneImages {
        #[source]
        source: BollardError,
    },
    #[error("failed to create volume {name}")]
    CreateVolume {
        name: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to remove volume {name}")]
    RemoveVolume {
        name: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to list volumes")]
    ListVolumes {
        #[source]
        source: BollardError,
    },
    #[error("failed to create network {name}")]
    CreateNetwork {
        name: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to remove network {id}")]
    RemoveNetwork {
        id: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to connect container {container} to network {network}")]
    ConnectNetwork {
        network: String,
        container: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to disconnect container {container} from network {network}")]
    DisconnectNetwork {
        network: String,
        container: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to inspect network {id}")]
    InspectNetwork {
        id: String,
        #[source]
        source: BollardError,
    },
    #[error("failed to list networks")]
    ListNetworks {
        #[source]
        source: BollardError,
    },
}

impl RuntimeError {
    fn bollard(&self) -> Option<&BollardError> {
        std::error::Error::source(self).and_then(|s| s.downcast_ref::<BollardError>())
    }

    /// The object a 404 refers to, phrased for [`Error::NotFound`].
    fn missing_object(&self, engine_message: &str) -> String {
        use RuntimeError::*;
        let lower = engine_message.to_ascii_lowercase();
        match self {
            CreateContainer { image, .. } if lower.contains("image") => format!("image `{image}`"),
            CreateContainer { .. } => engine_message.to_owned(),
            // Starting needs the container's network too; say which is missing.
            StartContainer { .. } if lower.contains("network") => engine_message.to_owned(),
            StartContainer { id, .. }
            | StopContainer { id, .. }
            | RemoveContainer { id, .. }
            | InspectContainer { id, .. }
            | WaitContainer { id, .. }
            | Exec { id, .. }
            | KillExec { id, .. }
            | ExecTty { id, .. }
            | Logs { id, .. }
            | Commit { id, .. } => format!("container `{id}`"),
            Upload { id, path, .. } | Download { id, path, .. } => {
                if lower.contains("no such container") {
                    format!("container `{id}`")
                } else {
                    format!("path `{path}` in container `{id}`")
                }
            }
            ResizeTty { exec, .. } => format!("exec `{exec}`"),
            InspectImage { image, .. }
            | ExportImage { image, .. }
            | Pull { image, .. }
            | Build { image, .. }
            | Push { image, .. }
            | RemoveImage { image, .. }
            | Tag { image, .. } => format!("image `{image}`"),
            CreateVolume { name, .. } | RemoveVolume { name, .. } => format!("volume `{name}`"),
            RemoveNetwork { id, .. } | InspectNetwork { id, .. } => format!("network `{id}`"),
            ConnectNetwork {
                network, container, ..
            }
            | DisconnectNetwork {
                network, container, ..
            } => {
                if lower.contains("network") {
                    format!("network `{network}`")
                } else {
                    format!("container `{container}`")
                }
            }
            _ => engine_message.to_owned(),
        }
    }

    /// Maps onto core's error kinds: 404 → `NotFound` naming the object, 409 → `Conflict`,
    /// a busy host port → `PortInUse`, 400 → `Invalid`, no connection → `Unavailable`
    /// naming `endpoint`, a request timeout → `Timeout`; anything else stays a `Backend`
    /// error with this one as its source.
    pub fn into_core(self, endpoint: &str, request_timeout: Duration) -> Error {
        let Some(source) = self.bollard() else {
            return Error::backend(self);
        };
        if let Some(mapped) = self.registry_failure(source) {
            return mapped;
        }
        match source {
            BollardError::DockerResponseServerError {
                status_code,
                message,
            } => {
                let message = message.trim().to_owned();
                match status_code {
                    404 => Error::not_found(self.missing_object(&message)),
                    // 403 is the engine's "not in this state" (a network with endpoints, …).
                    403 | 409 => Error::Conflict(format!("{self}: {message}")),
                    400 => Error::invalid(
                        self.to_string().replacen("failed to ", "request to ", 1),
                        message,
                    ),
                    _ => match port_in_use(&message) {
                        Some(port) => Error::PortInUse { port },
                        None => Error::backend(self),
                    },
                }
            }
            BollardError::RequestTimeoutError => Error::Timeout {
                operation: self.to_string().replacen("failed to ", "", 1),
                after: request_timeout,
            },
            other => match connection_failure(other) {
                Some(reason) => Error::Unavailable {
                    endpoint: format!("docker engine at {endpoint}"),
                    reason,
                },
                None => Error::backend(self),
            },
        }
    }
}

impl RuntimeError {
    /// A pull or push the engine could not do because of the registry: unreachable is
    /// `Unavailable` naming it, a missing repository or tag `NotFound`.
    fn registry_failure(&self, source: &BollardError) -> Option<Error> {
        let (RuntimeError::Pull { image, .. } | RuntimeError::Push { image, .. }) = self else {
            return None;
        };
        let message = match source {
            BollardError::DockerResponseServerError { message, .. } => message,
            BollardError::DockerStreamError { error } => error,
            _ => return None,
        };
        let lower = message.to_ascii_lowercase();
        let unreachable = [
            "connection refused",
            "no such host",
            "i/o timeout",
            "network is unreachable",
            "tls handshake timeout",
            "server misbehaving",
            "dial tcp",
        ];
        let missing = [
            "manifest unknown",
            "not found",
            "does not exist",
            "repository name not known",
            "pull access denied",
        ];
        let registry = image
            .split('/')
            .next()
            .filter(|host| host.contains(['.', ':']) || *host == "localhost");
        let error = if unreachable.iter().any(|needle| lower.contains(needle)) {
            Error::Unavailable {
                endpoint: format!("registry {}", registry.unwrap_or("docker.io")),
                reason: message.trim().to_owned(),
            }
        } else if missing.iter().any(|needle| lower.contains(needle)) {
            Error::not_found(format!("image `{image}` in its registry"))
        } else {
            return None;
        };
        Some(error.context(self.to_string()))
    }
}

/// Why the engine could not be reached, if that is what `error` says.
pub(crate) fn connection_failure(error: &BollardError) -> Option<String> {
    match error {
        BollardError::SocketNotFoundError(path) => Some(format!("no socket at {path}")),
        BollardError::IOError { err } => Some(err.to_string()),
        BollardError::HyperLegacyError { err } if err.is_connect() => Some(
            std::error::Error::source(err)
                .map_or_else(|| err.to_string(), |cause| cause.to_string()),
        ),
        BollardError::HyperResponseError { err }
            if err.is_closed() || err.is_incomplete_message() =>
        {
            Some(err.to_string())
        }
        _ => None,
    }
}

/// The host port in an engine message such as "Bind for 127.0.0.1:10000 failed: port is
/// already allocated" or "listen tcp4 127.0.0.1:10000: bind: address already in use".
fn port_in_use(message: &str) -> Option<u16> {
    if !(message.contains("port is already allocated")
        || message.contains("address already in use"))
    {
        return None;
    }
    let before = message
        .split("failed: port is already allocated")
        .next()
        .and_then(|m| m.split(": bind: address already in use").next())?;
    before.rsplit(':').next().and_then(|tail| {
        tail.trim()
            .trim_end_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .ok()
    })
}

/// Shorthand used by every operation: wrap a bollard error in the operation's variant and
/// map it onto core's kinds.
pub(crate) trait IntoCore<T> {
    fn or_core(
        self,
        runtime: &crate::DockerRuntime,
        wrap: impl FnOnce(BollardError) -> RuntimeError,
    ) -> slipway_core::Result<T>;
}

impl<T> IntoCore<T> for Result<T, BollardError> {
    fn or_core(
        self,
        runtime: &crate::DockerRuntime,
        wrap: impl FnOnce(BollardError) -> RuntimeError,
    ) -> slipway_core::Result<T> {
        self.map_err(|e| runtime.core_error(wrap(e)))
    }
}

#[cfg(test)]
mod tests {
    use slipway_core::ErrorKind;

    use super::*;

    fn server(status_code: u16, message: &str) -> BollardError {
        BollardError::DockerResponseServerError {
            status_code,
            message: message.into(),
        }
    }

    fn core(err: RuntimeError) -> Error {
        err.into_core("unix:///var/run/docker.sock", Duration::from_secs(120))
    }

    #[test]
    fn a_missing_image_is_not_found_naming_the_image() {
        let err = core(RuntimeError::CreateContainer {
            image: "nope:1".into(),
            source: server(404, "No such image: nope:1"),
        });
        assert_eq!(err.to_string(), "image `nope:1` not found");
    }

    #[test]
    fn a_duplicate_name_is_a_conflict() {
        let err = core(RuntimeError::CreateContainer {
            image: "busybox".into(),
            source: server(409, "Conflict. The container name \"/x\" is already in use"),
        });
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert!(err.to_string().contains("already in use"), "{err}");
    }

    #[test]
    fn a_busy_host_port_is_reported_with_its_number() {
        for message in [
            "driver failed programming external connectivity on endpoint x: Bind for 127.0.0.1:10007 failed: port is already allocated",
            "driver failed programming external connectivity on endpoint x: Error starting userland proxy: listen tcp4 127.0.0.1:10007: bind: address already in use",
        ] {
            let err = core(RuntimeError::StartContainer { id: "c".into(), source: server(500, message) });
            assert!(matches!(err, Error::PortInUse { port: 10007 }), "{message}: {err}");
        }
    }

    #[test]
    fn a_refused_connection_is_unavailable_naming_the_endpoint() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let err = core(RuntimeError::Ping {
            source: BollardError::IOError { err: io },
        });
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(
            err.to_string().contains("unix:///var/run/docker.sock"),
            "{err}"
        );
    }

    #[test]
    fn an_unreachable_registry_is_unavailable_and_a_missing_tag_not_found() {
        let refused = core(RuntimeError::Pull {
            image: "127.0.0.1:9/x:1".into(),
            source: server(
                500,
                "Get \"https://127.0.0.1:9/v2/\": dial tcp 127.0.0.1:9: connect: connection refused",
            ),
        });
        assert_eq!(refused.kind(), ErrorKind::Unavailable, "{refused}");
        assert!(
            refused
                .to_string()
                .starts_with("failed to pull 127.0.0.1:9/x:1: registry 127.0.0.1:9 is unavailable"),
            "{refused}"
        );
        let pushed = core(RuntimeError::Push {
            image: "registry.example:5000/x:1".into(),
            source: BollardError::DockerStreamError {
                error: "dial tcp: lookup registry.example: no such host".into(),
            },
        });
        assert_eq!(pushed.kind(), ErrorKind::Unavailable, "{pushed}");
        let missing = core(RuntimeError::Pull {
            image: "busybox:nope".into(),
            source: server(404, "manifest for busybox:nope not found: manifest unknown"),
        });
        assert_eq!(missing.kind(), ErrorKind::NotFound, "{missing}");
    }

    #[test]
    fn other_failures_keep_the_operation_as_context() {
        let err = core(RuntimeError::Commit {
            id: "c1".into(),
            image: "x:1".into(),
            source: server(500, "disk full"),
        });
        assert_eq!(err.kind(), ErrorKind::Backend);
        assert_eq!(err.to_string(), "failed to commit container c1 as x:1");
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(
            source.as_deref(),
            Some("Docker responded with status code 500: disk full")
        );
    }
}
