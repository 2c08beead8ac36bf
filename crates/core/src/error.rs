//! The error every trait in slipway returns, and the kinds callers branch on.

use std::time::Duration;

/// A boxed error from a backend (bollard, git2, rusqlite, …) with its own context.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with slipway's [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in the terms a caller can act on.
///
/// Adapter crates keep their own per-operation error enums (with the ids involved and the
/// foreign source) and convert into this type at the trait boundary: the kind tells the caller
/// what to do, the message or [`Error::Backend`] source tells a human what happened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The named object does not exist (`what` reads like "image `busybox:1`").
    #[error("{what} not found")]
    NotFound {
        /// The object that was looked for, e.g. "container `slipway-abc`".
        what: String,
    },
    /// The request clashes with existing state (a name in use, a lease already held).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A host port could not be bound because something else holds it.
    #[error("host port {port} is already in use")]
    PortInUse {
        /// The host port that was asked for.
        port: u16,
    },
    /// Input broke a rule; `reason` says what is allowed.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// The kind of input, e.g. "container name".
        what: String,
        /// What was wrong and what is allowed.
        reason: String,
    },
    /// A backend (the engine, a git remote) could not be reached.
    #[error("{endpoint} is unavailable: {reason}")]
    Unavailable {
        /// What was being reached, e.g. "docker engine at unix:///var/run/docker.sock".
        endpoint: String,
        /// Why it could not be reached.
        reason: String,
    },
    /// An operation did not finish in time.
    #[error("{operation} timed out after {after:?}")]
    Timeout {
        /// The operation that ran out of time.
        operation: String,
        /// The limit that was exceeded.
        after: Duration,
    },
    /// A capacity budget (memory, ports, pool size) has no room for the request.
    #[error("capacity exceeded: {0}")]
    CapacityExceeded(String),
    /// Any other failure of a backend, with the adapter's own context as the source.
    #[error(transparent)]
    Backend(BoxError),
}

/// The kind of an [`enum@Error`], for matching without destructuring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// See [`Error::NotFound`].
    NotFound,
    /// See [`Error::Conflict`] and [`Error::PortInUse`].
    Conflict,
    /// See [`Error::Invalid`].
    Invalid,
    /// See [`Error::Unavailable`].
    Unavailable,
    /// See [`Error::Timeout`].
    Timeout,
    /// See [`Error::CapacityExceeded`].
    CapacityExceeded,
    /// See [`Error::Backend`].
    Backend,
}

impl Error {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Conflict(_) | Error::PortInUse { .. } => ErrorKind::Conflict,
            Error::Invalid { .. } => ErrorKind::Invalid,
            Error::Unavailable { .. } => ErrorKind::Unavailable,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::CapacityExceeded(_) => ErrorKind::CapacityExceeded,
            Error::Backend(_) => ErrorKind::Backend,
        }
    }

    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound { what: what.into() }
    }

    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Backend`].
    pub fn backend(source: impl Into<BoxError>) -> Self {
        Error::Backend(source.into())
    }
}

impl ErrorKind {
    /// A stable snake_case name, used as the `code` of API errors.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::CapacityExceeded => "capacity_exceeded",
            ErrorKind::Backend => "backend",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_in_use_is_a_conflict() {
        assert_eq!(Error::PortInUse { port: 10000 }.kind(), ErrorKind::Conflict);
    }

    #[test]
    fn backend_displays_its_source_message() {
        let err = Error::backend("failed to create container from busybox");
        assert_eq!(err.to_string(), "failed to create container from busybox");
        assert_eq!(err.kind().as_str(), "backend");
    }

    #[test]
    fn not_found_names_the_object() {
        let err = Error::not_found("image `nope:1`");
        assert_eq!(err.to_string(), "image `nope:1` not found");
    }
}
