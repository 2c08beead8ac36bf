//! The trait implementations: each method is one call into the module that owns it.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use slipway_core::{
    BuildOutcome, BuildRequest, CommitRequest, ContainerEvent, ContainerId, ContainerInfo,
    ContainerSpec, ContainerSummary, EngineInfo, EngineVersion, ExecId, ExecOutcome, ExecRequest,
    ImageId, ImageInfo, ImageRef, LabelFilter, LogLine, LogOptions, Network, NetworkId,
    NetworkInfo, NetworkSpec, PruneFilter, PruneReport, RegistryCredentials, RemoveOptions, Result,
    Runtime, RuntimeCapabilities, TtyRequest, TtySession, TtySize, VolumeInfo, VolumeSpec,
};

use crate::DockerRuntime;

#[async_trait]
impl Runtime for DockerRuntime {
    fn endpoint(&self) -> String {
        self.endpoint.to_string()
    }

    fn capabilities(&self) -> RuntimeCapabilities {
        self.capabilities_now()
    }

    async fn ping(&self) -> Result<()> {
        self.ping_engine().await
    }

    async fn version(&self) -> Result<EngineVersion> {
        self.engine_version().await
    }

    async fn info(&self) -> Result<EngineInfo> {
        self.engine_info().await
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<ContainerId> {
        self.create(spec).await
    }

    async fn start_container(&self, id: &ContainerId) -> Result<()> {
        self.start(id).await
    }

    async fn stop_container(&self, id: &ContainerId, grace: Duration) -> Result<()> {
        self.stop(id, grace).await
    }

    async fn remove_container(&self, id: &ContainerId, options: RemoveOptions) -> Result<()> {
        self.remove(id, options).await
    }

    async fn inspect_container(&self, id: &ContainerId) -> Result<ContainerInfo> {
        self.inspect(id).await
    }

    async fn list_containers(&self, filter: &LabelFilter) -> Result<Vec<ContainerSummary>> {
        self.list(filter).await
    }

    async fn wait_container(&self, id: &ContainerId) -> Result<i64> {
        self.wait(id).await
    }

    async fn exec(&self, id: &ContainerId, request: &ExecRequest) -> Result<ExecOutcome> {
        self.exec_command(id, request).await
    }

    async fn exec_tty(&self, id: &ContainerId, request: &TtyRequest) -> Result<TtySession> {
        self.open_tty(id, request).await
    }

    async fn resize_tty(&self, exec: &ExecId, size: TtySize) -> Result<()> {
        self.resize(exec, size).await
    }

    fn logs(&self, id: &ContainerId, options: &LogOptions) -> BoxStream<'static, Result<LogLine>> {
        self.log_stream(id, options)
    }

    fn container_events(&self, filter: &LabelFilter) -> BoxStream<'static, Result<ContainerEvent>> {
        self.events_stream(filter)
    }

    async fn upload_tar(&self, id: &ContainerId, path: &str, tar: Vec<u8>) -> Result<()> {
        self.upload(id, path, tar).await
    }

    async fn download_tar(&self, id: &ContainerId, path: &str) -> Result<Vec<u8>> {
        self.download(id, path).await
    }

    async fn commit(&self, id: &ContainerId, request: &CommitRequest) -> Result<ImageId> {
        self.commit_container(id, request).await
    }

    async fn image_exists(&self, image: &ImageRef) -> Result<bool> {
        self.has_image(image).await
    }

    async fn inspect_image(&self, image: &ImageRef) -> Result<ImageInfo> {
        self.inspect_image_ref(image).await
    }

    async fn pull_image(
        &self,
        image: &ImageRef,
        credentials: Option<RegistryCredentials>,
    ) -> Result<()> {
        self.pull(image, credentials).await
    }

    async fn build_image(&self, request: &BuildRequest) -> Result<BuildOutcome> {
        self.build(request).await
    }

    async fn tag_image(&self, source: &str, target: &ImageRef) -> Result<()> {
        self.tag(source, target).await
    }

    async fn push_image(
        &self,
        image: &ImageRef,
        credentials: Option<RegistryCredentials>,
    ) -> Result<()> {
        self.push(image, credentials).await
    }

    async fn remove_image(&self, image: &str, force: bool) -> Result<()> {
        self.remove_image_ref(image, force).await
    }

    async fn prune_images(&self, filter: &PruneFilter) -> Result<PruneReport> {
        self.prune(filter).await
    }

    async fn ensure_volume(&self, spec: &VolumeSpec) -> Result<VolumeInfo> {
        self.ensure(spec).await
    }

    async fn remove_volume(&self, name: &str) -> Result<()> {
        self.remove_volume_named(name).await
    }

    async fn list_volumes(&self, filter: &LabelFilter) -> Result<Vec<VolumeInfo>> {
        self.volumes(filter).await
    }
}

#[async_trait]
impl Network for DockerRuntime {
    async fn create_network(&self, spec: &NetworkSpec) -> Result<NetworkId> {
        self.create_net(spec).await
    }

    async fn remove_network(&self, network: &NetworkId) -> Result<()> {
        self.remove_net(network).await
    }

    async fn connect(
        &self,
        network: &NetworkId,
        container: &ContainerId,
        aliases: &[String],
    ) -> Result<()> {
        self.connect_net(network, container, aliases).await
    }

    async fn disconnect(&self, network: &NetworkId, container: &ContainerId) -> Result<()> {
        self.disconnect_net(network, container).await
    }

    async fn inspect_network(&self, network: &NetworkId) -> Result<NetworkInfo> {
        self.inspect_net(network).await
    }

    async fn list_networks(&self, filter: &LabelFilter) -> Result<Vec<NetworkInfo>> {
        self.list_nets(filter).await
    }
}
