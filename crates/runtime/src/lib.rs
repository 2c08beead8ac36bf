//! `DockerRuntime`: slipway's [`Runtime`](slipway_core::Runtime) and
//! [`Network`](slipway_core::Network) traits over one Docker engine, with bollard.
//!
//! One [`DockerRuntime`] talks to one [`Endpoint`]: a unix socket, plain TCP (trusted links
//! only), TCP with mutual TLS, or ssh. [`DockerRuntime::builder`] connects, pings within a
//! short timeout (an unreachable engine is `Unavailable` in about two seconds, not two
//! minutes) and negotiates the API version, so one client works with old and new engines.
//!
//! bollard's errors become core's kinds at this crate's edge: a missing object is `NotFound`
//! naming it, a clash `Conflict`, a busy host port `PortInUse`, a dead connection
//! `Unavailable`; [`RuntimeError`] keeps the operation and the engine's message as context.
//!
//! # Example
//!
//! ```no_run
//! use slipway_core::prelude::*;
//! use slipway_core::{run_container, ContainerSpec, ExecRequest, RemoveOptions};
//! use slipway_runtime::{DockerRuntime, Endpoint};
//!
//! # async fn demo() -> slipway_core::Result<()> {
//! let runtime = DockerRuntime::builder(Endpoint::local()).bootstrap().await?;
//! let spec = ContainerSpec::new("busybox:latest".parse()?).with_cmd(["sleep", "60"]);
//! let id = run_container(&runtime, &spec).await?;
//! let outcome = runtime
//!     .exec(&id, &ExecRequest::shell("echo hi").with_timeout(std::time::Duration::from_secs(5)))
//!     .await?;
//! assert_eq!(outcome.stdout_text(), "hi\n");
//! runtime.remove_container(&id, RemoveOptions::force()).await?;
//! # Ok(()) }
//! ```

mod archive;
mod build;
mod containers;
mod convert;
mod docker_runtime;
mod endpoint;
mod error;
mod events;
mod exec;
mod images;
mod logs;
mod networks;
mod system;
mod tty;
mod volumes;

/// The bollard version slipway is built against, for callers that need an unwrapped call.
pub use bollard;
pub use convert::apply_privilege;
pub use docker_runtime::{
    DockerRuntime, DockerRuntimeBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT,
};
pub use endpoint::{Endpoint, TlsFiles, DEFAULT_SOCKET};
pub use error::RuntimeError;
