//! A container engine, as capability traits: [`Engine`], [`Containers`], [`Exec`],
//! [`Files`], [`Images`], [`ImageBuild`], [`Volumes`] and [`Network`](crate::Network).
//! [`Runtime`] is all of them; a backend that has only some (a build-only remote engine)
//! implements only those, and callers ask for only what they use.
//!
//! Every method maps engine failures onto [`Error`](crate::Error) kinds: a missing object is
//! `NotFound` naming it, a name clash `Conflict`, an unreachable engine `Unavailable`.

use std::time::Duration;

use async_trait::async_trait;
use futures_core::stream::BoxStream;

use crate::container::{ContainerInfo, ContainerSummary, RemoveOptions};
use crate::engine::{EngineInfo, EngineVersion, RuntimeCapabilities};
use crate::events::ContainerEvent;
use crate::exec::{
    ExecOutcome, ExecRequest, PipeRequest, PipeSession, TtyRequest, TtySession, TtySize,
};
use crate::ids::{ContainerId, ExecId, ImageId};
use crate::image::{
    BuildOutcome, BuildRequest, CommitRequest, ImageInfo, PruneFilter, PruneReport,
    RegistryCredentials,
};
use crate::labels::LabelFilter;
use crate::logs::{LogLine, LogOptions};
use crate::names::ImageRef;
use crate::network::Network;
use crate::spec::ContainerSpec;
use crate::volume::{VolumeInfo, VolumeSpec};
use crate::Result;

/// The engine itself: where it is, what it can do, whether it answers.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Engine: Send + Sync {
    /// A description of the engine for messages, e.g. `unix:///var/run/docker.sock`.
    fn endpoint(&self) -> String;
    /// What this runtime can do without trying.
    fn capabilities(&self) -> RuntimeCapabilities;
    /// Checks that the engine answers.
    async fn ping(&self) -> Result<()>;
    /// The engine's versions and the negotiated API version.
    async fn version(&self) -> Result<EngineVersion>;
    /// Facts about the engine's host.
    async fn info(&self) -> Result<EngineInfo>;
}

/// Container lifecycle, output and events.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Containers: Send + Sync {
    /// Creates a container; nothing is left behind if creation fails.
    async fn create_container(&self, spec: &ContainerSpec) -> Result<ContainerId>;
    /// Starts a created container; starting a running one is not an error.
    async fn start_container(&self, id: &ContainerId) -> Result<()>;
    /// Stops a container, killing it after `grace`; stopping a stopped one is not an error.
    async fn stop_container(&self, id: &ContainerId, grace: Duration) -> Result<()>;
    /// Removes a container.
    async fn remove_container(&self, id: &ContainerId, options: RemoveOptions) -> Result<()>;
    /// Full details of a container.
    async fn inspect_container(&self, id: &ContainerId) -> Result<ContainerInfo>;
    /// Containers (running or not) whose labels match `filter`.
    async fn list_containers(&self, filter: &LabelFilter) -> Result<Vec<ContainerSummary>>;
    /// Waits until the container exits and returns its exit code.
    async fn wait_container(&self, id: &ContainerId) -> Result<i64>;
    /// A container's output, line by line.
    fn logs(&self, id: &ContainerId, options: &LogOptions) -> BoxStream<'static, Result<LogLine>>;
    /// Lifecycle events, from now on, of containers whose labels match `filter`.
    fn container_events(&self, filter: &LabelFilter) -> BoxStream<'static, Result<ContainerEvent>>;
}

/// Commands inside running containers.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Exec: Send + Sync {
    /// Runs a command to completion. A command that outlives the request's timeout is killed
    /// together with everything it started, and the outcome says `timed_out`.
    async fn exec(&self, id: &ContainerId, request: &ExecRequest) -> Result<ExecOutcome>;
    /// Starts an interactive command with a terminal.
    async fn exec_tty(&self, id: &ContainerId, request: &TtyRequest) -> Result<TtySession>;
    /// Resizes the terminal of an interactive command.
    async fn resize_tty(&self, exec: &ExecId, size: TtySize) -> Result<()>;
    /// Starts a command with its stdin and stdout as raw byte pipes (no terminal).
    async fn exec_pipe(&self, id: &ContainerId, request: &PipeRequest) -> Result<PipeSession>;
}

/// A container's filesystem: archives in and out, and commits into images.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Files: Send + Sync {
    /// Extracts a tar archive into directory `path` (which must exist) of the container.
    async fn upload_tar(&self, id: &ContainerId, path: &str, tar: Vec<u8>) -> Result<()>;
    /// A tar archive of `path` in the container.
    async fn download_tar(&self, id: &ContainerId, path: &str) -> Result<Vec<u8>>;
    /// Turns the container's filesystem into an image.
    async fn commit(&self, id: &ContainerId, request: &CommitRequest) -> Result<ImageId>;
}

/// Images on the engine and in registries.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Images: Send + Sync {
    /// Whether the image is present on the engine.
    async fn image_exists(&self, image: &ImageRef) -> Result<bool>;
    /// Details of an image.
    async fn inspect_image(&self, image: &ImageRef) -> Result<ImageInfo>;
    /// Pulls an image from its registry.
    async fn pull_image(
        &self,
        image: &ImageRef,
        credentials: Option<RegistryCredentials>,
    ) -> Result<()>;
    /// Gives image `source` (a reference or id) the reference `target`.
    async fn tag_image(&self, source: &str, target: &ImageRef) -> Result<()>;
    /// Pushes an image to its registry.
    async fn push_image(
        &self,
        image: &ImageRef,
        credentials: Option<RegistryCredentials>,
    ) -> Result<()>;
    /// Removes an image (a reference or id).
    async fn remove_image(&self, image: &str, force: bool) -> Result<()>;
    /// Removes unused images matching `filter`.
    async fn prune_images(&self, filter: &PruneFilter) -> Result<PruneReport>;
    /// The image as a `docker save` tar archive (to load it into another daemon).
    async fn export_image(&self, image: &ImageRef) -> Result<Vec<u8>>;
}

/// Image builds with the engine's BuildKit.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ImageBuild: Send + Sync {
    /// Builds an image.
    async fn build_image(&self, request: &BuildRequest) -> Result<BuildOutcome>;
}

/// Named volumes.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Volumes: Send + Sync {
    /// Creates a volume if missing; an existing volume is reused only if slipway manages it.
    async fn ensure_volume(&self, spec: &VolumeSpec) -> Result<VolumeInfo>;
    /// Removes a volume.
    async fn remove_volume(&self, name: &str) -> Result<()>;
    /// Volumes whose labels match `filter`.
    async fn list_volumes(&self, filter: &LabelFilter) -> Result<Vec<VolumeInfo>>;
}

/// One container engine with every capability; implemented for anything that has them all.
pub trait Runtime:
    Engine + Containers + Exec + Files + Images + ImageBuild + Volumes + Network
{
}

impl<T> Runtime for T where
    T: Engine + Containers + Exec + Files + Images + ImageBuild + Volumes + Network + ?Sized
{
}

/// Creates and starts a container; if starting fails the container is removed and the start
/// error returned. A failure of that removal is dropped so it never hides the start error;
/// the container keeps its labels, so orphan cleanup still finds it.
pub async fn run_container(runtime: &dyn Containers, spec: &ContainerSpec) -> Result<ContainerId> {
    let id = runtime.create_container(spec).await?;
    if let Err(start_error) = runtime.start_container(&id).await {
        // The start error is what the caller needs; removal is best effort.
        let _ = runtime.remove_container(&id, RemoveOptions::force()).await;
        return Err(start_error);
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[tokio::test]
    async fn run_container_removes_what_failed_to_start_and_keeps_the_start_error() {
        let mut runtime = MockContainers::new();
        runtime
            .expect_create_container()
            .returning(|_| Ok(ContainerId::new("c1")));
        runtime
            .expect_start_container()
            .returning(|_| Err(Error::PortInUse { port: 10000 }));
        runtime
            .expect_remove_container()
            .withf(|id, opts| id.as_str() == "c1" && opts.force)
            .times(1)
            .returning(|_, _| Err(Error::backend("removal failed too")));

        let spec = ContainerSpec::new("busybox:1".parse().unwrap());
        let err = run_container(&runtime, &spec).await.unwrap_err();
        assert!(matches!(err, Error::PortInUse { port: 10000 }), "{err}");
    }
}
