//! The error every trait in slipway returns, and the kinds callers branch on.

use std::fmt;
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
/// [`Error::context`] adds what was being done without changing the kind.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The named object does not exist (`what` reads like "image `busybox:1`").
    NotFound {
        /// The object that was looked for, e.g. "container `slipway-abc`".
        what: String,
    },
    /// The request clashes with existing state (a name in use, a lease already held).
    Conflict(String),
    /// A host port could not be bound because something else holds it.
    PortInUse {
        /// The host port that was asked for.
        port: u16,
    },
    /// Input broke a rule; `reason` says what is allowed.
    Invalid {
        /// The kind of input, e.g. "container name".
        what: String,
        /// What was wrong and what is allowed.
        reason: String,
    },
    /// A backend (the engine, a git remote) could not be reached.
    Unavailable {
        /// What was being reached, e.g. "docker engine at unix:///var/run/docker.sock".
        endpoint: String,
        /// Why it could not be reached.
        reason: String,
    },
    /// An operation did not finish in time.
    Timeout {
        /// The operation that ran out of time.
        operation: String,
        /// The limit that was exceeded.
        after: Duration,
    },
    /// A capacity budget (memory, ports, pool size) has no room for the request.
    CapacityExceeded(String),
    /// Any other failure of a backend, with the adapter's own context as the source.
    Backend(BoxError),
    /// What was being done when `inner` happened; its kind is `inner`'s.
    Context {
        /// What was being done, e.g. "failed to create the network of run 3f2a".
        context: String,
        /// The error it led to.
        inner: Box<Error>,
    },
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
    /// The kind of this error; context never changes it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Conflict(_) | Error::PortInUse { .. } => ErrorKind::Conflict,
            Error::Invalid { .. } => ErrorKind::Invalid,
            Error::Unavailable { .. } => ErrorKind::Unavailable,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::CapacityExceeded(_) => ErrorKind::CapacityExceeded,
            Error::Backend(_) => ErrorKind::Backend,
            Error::Context { inner, .. } => inner.kind(),
        }
    }

    /// The error under every layer of context.
    pub fn root(&self) -> &Error {
        match self {
            Error::Context { inner, .. } => inner.root(),
            other => other,
        }
    }

    /// Says what was being done when this happened, keeping the kind:
    /// `error.context("failed to create the run network")`.
    pub fn context(self, context: impl Into<String>) -> Self {
        Error::Context {
            context: context.into(),
            inner: Box::new(self),
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

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound { what } => write!(f, "{what} not found"),
            Error::Conflict(message) => write!(f, "conflict: {message}"),
            Error::PortInUse { port } => write!(f, "host port {port} is already in use"),
            Error::Invalid { what, reason } => write!(f, "invalid {what}: {reason}"),
            Error::Unavailable { endpoint, reason } => {
                write!(f, "{endpoint} is unavailable: {reason}")
            }
            Error::Timeout { operation, after } => {
                write!(f, "{operation} timed out after {after:?}")
            }
            Error::CapacityExceeded(message) => write!(f, "capacity exceeded: {message}"),
            Error::Backend(source) => source.fmt(f),
            // The inner message is part of this one, so `source()` skips it (no repeats in
            // `{:#}` chains) and goes on with what lies beneath it.
            Error::Context { context, inner } => write!(f, "{context}: {inner}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Transparent: the backend error's own chain continues below it.
            Error::Backend(source) => source.source(),
            Error::Context { inner, .. } => inner.source(),
            _ => None,
        }
    }
}

/// [`Error::context`] on results.
pub trait ResultExt<T> {
    /// Adds context to the error, keeping its kind.
    fn context(self, context: impl Into<String>) -> Result<T>;
    /// Adds lazily built context to the error, keeping its kind.
    fn with_context<C: Into<String>>(self, context: impl FnOnce() -> C) -> Result<T>;
}

impl<T> ResultExt<T> for Result<T> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|e| e.context(context))
    }

    fn with_context<C: Into<String>>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| e.context(context()))
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

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[derive(Debug)]
    struct Cause;

    impl fmt::Display for Cause {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("the socket closed")
        }
    }

    impl std::error::Error for Cause {}

    #[derive(Debug)]
    struct Wrapped(Cause);

    impl fmt::Display for Wrapped {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("failed to create container from busybox")
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

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

    #[test]
    fn context_keeps_the_kind_and_the_message_underneath() {
        let err = Error::Conflict("network name `slipway-1` is in use".into())
            .context("failed to create the network of run 1")
            .context("failed to create run 1");
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert_eq!(
            err.to_string(),
            "failed to create run 1: failed to create the network of run 1: conflict: network \
             name `slipway-1` is in use"
        );
        assert!(matches!(err.root(), Error::Conflict(_)));
        let unavailable: Result<()> = Err(Error::Unavailable {
            endpoint: "registry 127.0.0.1:5999".into(),
            reason: "connection refused".into(),
        });
        assert_eq!(
            unavailable.context("failed to pull").unwrap_err().kind(),
            ErrorKind::Unavailable
        );
    }

    #[test]
    fn context_and_backend_keep_the_source_chain_without_repeating_it() {
        let err = Error::backend(Wrapped(Cause)).context("failed to start the sidecar");
        assert_eq!(
            err.to_string(),
            "failed to start the sidecar: failed to create container from busybox"
        );
        assert_eq!(err.source().unwrap().to_string(), "the socket closed");
        assert!(err.source().unwrap().source().is_none());
    }
}
