//! The fake's implementation of [`Runtime`] and [`Network`]: engine semantics in memory.

use std::time::Duration;

use async_trait::async_trait;
use futures_core::stream::BoxStream;

use crate::fake_runtime::{fake_info, FakeContainer, FakeRuntime};
use crate::iter_stream::IterStream;
use slipway_core::labels::LabelFilter;
use slipway_core::prelude::*;
use slipway_core::{
    BuildOutcome, BuildRequest, CommitRequest, ContainerAction, ContainerEvent, ContainerId,
    ContainerInfo, ContainerSpec, ContainerState, ContainerSummary, EngineInfo, EngineVersion,
    Error, ExecId, ExecOutcome, ExecRequest, ImageId, ImageInfo, ImageRef, LogLine, LogOptions,
    NetworkId, NetworkInfo, NetworkSpec, PipeRequest, PipeSession, PruneFilter, PruneReport,
    PublishedPort, RegistryCredentials, RemoveOptions, Result, RuntimeCapabilities, Timestamp,
    TtyInput, TtyRequest, TtySession, TtySize, VolumeInfo, VolumeSpec,
};

fn no_such_container(id: &ContainerId) -> Error {
    Error::not_found(format!("container `{id}`"))
}

#[async_trait]
impl Engine for FakeRuntime {
    fn endpoint(&self) -> String {
        "fake://engine".into()
    }

    fn capabilities(&self) -> RuntimeCapabilities {
        RuntimeCapabilities {
            privileged: true,
            sidecars: true,
            host_socket: None,
        }
    }

    async fn ping(&self) -> Result<()> {
        drop(self.enter("ping", "")?);
        Ok(())
    }

    async fn version(&self) -> Result<EngineVersion> {
        drop(self.enter("version", "")?);
        Ok(EngineVersion {
            version: "0.0.0-fake".into(),
            api_version: "1.41".into(),
            min_api_version: "1.12".into(),
            negotiated_api_version: "1.41".into(),
            os: "linux".into(),
            arch: "amd64".into(),
            kernel_version: "fake".into(),
        })
    }

    async fn info(&self) -> Result<EngineInfo> {
        let state = self.enter("info", "")?;
        Ok(fake_info(&state))
    }
}

#[async_trait]
impl Containers for FakeRuntime {
    async fn create_container(&self, spec: &ContainerSpec) -> Result<ContainerId> {
        spec.validate()?;
        drop(self.enter("create_container", spec.image.as_str())?);
        self.gate("create_container").await;
        let mut state = self.lock();
        if !state.images.contains_key(spec.image.as_str()) {
            return Err(Error::not_found(format!("image `{}`", spec.image)));
        }
        if let Some(name) = &spec.name {
            if state.find(name.as_str()).is_some() {
                return Err(Error::Conflict(format!(
                    "container name `{name}` is already in use"
                )));
            }
        }
        let id = ContainerId::new(state.fresh_id("c"));
        let name = spec
            .name
            .as_ref()
            .map_or_else(|| format!("fake-{id}"), ToString::to_string);
        state.containers.insert(
            id.to_string(),
            FakeContainer {
                id: id.clone(),
                name,
                spec: spec.clone(),
                state: ContainerState::Created,
                exit_code: None,
                oom_killed: false,
                created: Timestamp::now(),
                host_ports: Vec::new(),
            },
        );
        Ok(id)
    }

    async fn start_container(&self, id: &ContainerId) -> Result<()> {
        drop(self.enter("start_container", id.as_str())?);
        self.gate("start_container").await;
        let mut state = self.lock();
        let container = state
            .find(id.as_str())
            .ok_or_else(|| no_such_container(id))?
            .clone();
        if container.state.is_running() {
            return Ok(());
        }
        let taken: Vec<u16> = state
            .containers
            .values()
            .filter(|c| c.state.is_running())
            .flat_map(|c| c.host_ports.iter().map(|(_, host)| *host))
            .chain(state.busy_host_ports.iter().copied())
            .collect();
        let mut host_ports = Vec::new();
        for binding in &container.spec.ports {
            let host = match binding.host_port {
                Some(port) if taken.contains(&port) => return Err(Error::PortInUse { port }),
                Some(port) => port,
                None => (32768..=60999)
                    .find(|p| !taken.contains(p))
                    .unwrap_or(32768),
            };
            host_ports.push((binding.container_port, host));
        }
        let entry = state
            .find_mut(id.as_str())
            .ok_or_else(|| no_such_container(id))?;
        entry.state = ContainerState::Running;
        entry.exit_code = None;
        entry.host_ports = host_ports;
        let id = entry.id.clone();
        state.emit(&id, ContainerAction::Start);
        Ok(())
    }

    async fn stop_container(&self, id: &ContainerId, _grace: Duration) -> Result<()> {
        let mut state = self.enter("stop_container", id.as_str())?;
        let container = state
            .find_mut(id.as_str())
            .ok_or_else(|| no_such_container(id))?;
        if container.state.is_running() {
            container.state = ContainerState::Exited;
            container.exit_code = Some(0);
            let id = container.id.clone();
            state.emit(&id, ContainerAction::Die);
        }
        Ok(())
    }

    async fn remove_container(&self, id: &ContainerId, options: RemoveOptions) -> Result<()> {
        drop(self.enter("remove_container", id.as_str())?);
        self.gate("remove_container").await;
        let mut state = self.lock();
        let container = state
            .find(id.as_str())
            .ok_or_else(|| no_such_container(id))?;
        if container.state.is_running() && !options.force {
            return Err(Error::Conflict(format!(
                "container `{id}` is running: stop it first or force the removal"
            )));
        }
        let (key, running) = (container.id.clone(), container.state.is_running());
        if running {
            state.emit(&key, ContainerAction::Die);
        }
        state.emit(&key, ContainerAction::Destroy);
        let key = key.to_string();
        state.containers.remove(&key);
        for (_, _, members) in state.networks.values_mut() {
            members.retain(|m| m.as_str() != key);
        }
        Ok(())
    }

    async fn inspect_container(&self, id: &ContainerId) -> Result<ContainerInfo> {
        let state = self.enter("inspect_container", id.as_str())?;
        let c = state
            .find(id.as_str())
            .ok_or_else(|| no_such_container(id))?;
        let networks = c
            .spec
            .network
            .iter()
            .map(|n| {
                (
                    n.network.clone(),
                    slipway_core::NetworkEndpoint {
                        ip_address: None,
                        aliases: n.aliases.clone(),
                    },
                )
            })
            .collect();
        Ok(ContainerInfo {
            id: c.id.clone(),
            name: c.name.clone(),
            image: c.spec.image.to_string(),
            image_id: ImageId::new(format!("sha256:{}", c.spec.image)),
            labels: c.spec.labels.clone(),
            state: c.state,
            exit_code: c.exit_code,
            oom_killed: c.oom_killed,
            started_at: c.state.is_running().then_some(c.created),
            ports: c
                .host_ports
                .iter()
                .zip(&c.spec.ports)
                .map(|((container_port, host_port), binding)| PublishedPort {
                    container_port: *container_port,
                    host_ip: binding.host_ip,
                    host_port: *host_port,
                })
                .collect(),
            networks,
            memory_limit_bytes: c.spec.resources.memory_bytes,
        })
    }

    async fn list_containers(&self, filter: &LabelFilter) -> Result<Vec<ContainerSummary>> {
        let state = self.enter(
            "list_containers",
            format!("{:?}", filter.to_engine_filters()),
        )?;
        let mut found: Vec<_> = state
            .containers
            .values()
            .filter(|c| filter.matches(&c.spec.labels))
            .map(|c| ContainerSummary {
                id: c.id.clone(),
                names: vec![c.name.clone()],
                image: c.spec.image.to_string(),
                labels: c.spec.labels.clone(),
                state: c.state,
                created: c.created,
            })
            .collect();
        found.sort_by_key(|c| (c.created, c.id.clone()));
        Ok(found)
    }

    async fn wait_container(&self, id: &ContainerId) -> Result<i64> {
        let state = self.enter("wait_container", id.as_str())?;
        let c = state
            .find(id.as_str())
            .ok_or_else(|| no_such_container(id))?;
        c.exit_code
            .ok_or_else(|| Error::Conflict(format!("fake container `{id}` is still running")))
    }

    fn logs(&self, id: &ContainerId, _options: &LogOptions) -> BoxStream<'static, Result<LogLine>> {
        let lines: Vec<Result<LogLine>> = match self.enter("logs", id.as_str()) {
            Err(e) => vec![Err(e)],
            Ok(state) => match state.find(id.as_str()) {
                None => vec![Err(no_such_container(id))],
                Some(c) => state
                    .logs
                    .get(c.id.as_str())
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(Ok)
                    .collect(),
            },
        };
        Box::pin(IterStream(lines.into_iter()))
    }

    fn container_events(&self, filter: &LabelFilter) -> BoxStream<'static, Result<ContainerEvent>> {
        let (sender, receiver) = futures_channel::mpsc::unbounded();
        match self.enter(
            "container_events",
            format!("{:?}", filter.to_engine_filters()),
        ) {
            Ok(mut state) => state.watchers.push((filter.clone(), sender)),
            Err(e) => {
                let _ = sender.unbounded_send(Err(e));
            }
        }
        Box::pin(receiver)
    }
}

#[async_trait]
impl Exec for FakeRuntime {
    async fn exec(&self, id: &ContainerId, request: &ExecRequest) -> Result<ExecOutcome> {
        drop(self.enter("exec", id.as_str())?);
        self.gate("exec").await;
        let state = self.lock();
        let c = state
            .find(id.as_str())
            .ok_or_else(|| no_such_container(id))?;
        if !c.state.is_running() {
            return Err(Error::Conflict(format!("container `{id}` is not running")));
        }
        let handler = state.exec_handler.clone();
        drop(state);
        Ok(match handler {
            Some(handler) => handler(id, request),
            None => ExecOutcome {
                exit_code: Some(0),
                ..ExecOutcome::default()
            },
        })
    }

    async fn exec_tty(&self, id: &ContainerId, request: &TtyRequest) -> Result<TtySession> {
        let outcome = self
            .exec(id, &ExecRequest::new(request.cmd.clone()))
            .await?;
        let chunks = vec![Ok(outcome.stdout)].into_iter();
        Ok(TtySession {
            exec: ExecId::new(format!("tty-{id}")),
            output: Box::pin(IterStream(chunks)),
            input: Box::new(FakeTtyInput(self.clone())),
        })
    }

    async fn resize_tty(&self, exec: &ExecId, _size: TtySize) -> Result<()> {
        drop(self.enter("resize_tty", exec.as_str())?);
        Ok(())
    }

    /// The command's stdout as the exec handler answers it, in one chunk; input is dropped.
    async fn exec_pipe(&self, id: &ContainerId, request: &PipeRequest) -> Result<PipeSession> {
        let outcome = self
            .exec(id, &ExecRequest::new(request.cmd.clone()))
            .await?;
        let chunks = vec![Ok(outcome.stdout)].into_iter();
        Ok(PipeSession {
            stdout: Box::pin(IterStream(chunks)),
            input: Box::new(FakeTtyInput(self.clone())),
        })
    }
}

#[async_trait]
impl Files for FakeRuntime {
    async fn upload_tar(&self, id: &ContainerId, path: &str, _tar: Vec<u8>) -> Result<()> {
        let state = self.enter("upload_tar", format!("{id}:{path}"))?;
        state
            .find(id.as_str())
            .ok_or_else(|| no_such_container(id))?;
        Ok(())
    }

    async fn download_tar(&self, id: &ContainerId, path: &str) -> Result<Vec<u8>> {
        let state = self.enter("download_tar", format!("{id}:{path}"))?;
        state
            .find(id.as_str())
            .ok_or_else(|| no_such_container(id))?;
        Ok(Vec::new())
    }

    async fn commit(&self, id: &ContainerId, request: &CommitRequest) -> Result<ImageId> {
        let mut state = self.enter("commit", id.as_str())?;
        state
            .find(id.as_str())
            .ok_or_else(|| no_such_container(id))?;
        state
            .images
            .insert(request.image.to_string(), request.labels.clone());
        Ok(ImageId::new(format!("sha256:{}", request.image)))
    }
}

#[async_trait]
impl Images for FakeRuntime {
    async fn image_exists(&self, image: &ImageRef) -> Result<bool> {
        let state = self.enter("image_exists", image.as_str())?;
        Ok(state.images.contains_key(image.as_str()))
    }

    async fn inspect_image(&self, image: &ImageRef) -> Result<ImageInfo> {
        let state = self.enter("inspect_image", image.as_str())?;
        let labels = state
            .images
            .get(image.as_str())
            .ok_or_else(|| Error::not_found(format!("image `{image}`")))?;
        Ok(ImageInfo {
            id: ImageId::new(format!("sha256:{image}")),
            tags: vec![image.to_string()],
            labels: labels.clone(),
            created: None,
            size_bytes: 0,
            layers: 1,
        })
    }

    async fn pull_image(
        &self,
        image: &ImageRef,
        _credentials: Option<RegistryCredentials>,
    ) -> Result<()> {
        drop(self.enter("pull_image", image.as_str())?);
        Err(Error::Unavailable {
            endpoint: "registry of fake engine".into(),
            reason: format!("cannot pull `{image}`: the fake engine has no registry"),
        })
    }

    async fn tag_image(&self, source: &str, target: &ImageRef) -> Result<()> {
        let mut state = self.enter("tag_image", source)?;
        let labels = state
            .images
            .get(source)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("image `{source}`")))?;
        state.images.insert(target.to_string(), labels);
        Ok(())
    }

    async fn push_image(
        &self,
        image: &ImageRef,
        _credentials: Option<RegistryCredentials>,
    ) -> Result<()> {
        let state = self.enter("push_image", image.as_str())?;
        if !state.images.contains_key(image.as_str()) {
            return Err(Error::not_found(format!("image `{image}`")));
        }
        Ok(())
    }

    async fn export_image(&self, image: &ImageRef) -> Result<Vec<u8>> {
        let state = self.enter("export_image", image.as_str())?;
        if !state.images.contains_key(image.as_str()) {
            return Err(Error::not_found(format!("image `{image}`")));
        }
        Ok(format!("fake archive of {image}").into_bytes())
    }

    async fn remove_image(&self, image: &str, _force: bool) -> Result<()> {
        let mut state = self.enter("remove_image", image)?;
        state
            .images
            .remove(image)
            .map(drop)
            .ok_or_else(|| Error::not_found(format!("image `{image}`")))
    }

    async fn prune_images(&self, filter: &PruneFilter) -> Result<PruneReport> {
        let mut state = self.enter("prune_images", "")?;
        if filter.untagged_only {
            // Every image here is known by its tag.
            return Ok(PruneReport::default());
        }
        let in_use: Vec<String> = state
            .containers
            .values()
            .map(|c| c.spec.image.to_string())
            .collect();
        let removed: Vec<String> = state
            .images
            .iter()
            .filter(|(name, labels)| filter.labels.matches(labels) && !in_use.contains(name))
            .map(|(name, _)| name.clone())
            .collect();
        for name in &removed {
            state.images.remove(name);
        }
        Ok(PruneReport {
            removed,
            reclaimed_bytes: 0,
        })
    }
}

#[async_trait]
impl ImageBuild for FakeRuntime {
    async fn build_image(&self, request: &BuildRequest) -> Result<BuildOutcome> {
        let mut state = self.enter("build_image", request.tag.as_str())?;
        state
            .images
            .insert(request.tag.to_string(), request.labels.clone());
        Ok(BuildOutcome {
            image_id: ImageId::new(format!("sha256:{}", request.tag)),
            log: Vec::new(),
        })
    }
}

#[async_trait]
impl Volumes for FakeRuntime {
    async fn ensure_volume(&self, spec: &VolumeSpec) -> Result<VolumeInfo> {
        let mut state = self.enter("ensure_volume", spec.name.as_str())?;
        let labels = state
            .volumes
            .entry(spec.name.to_string())
            .or_insert_with(|| spec.labels.clone());
        let info = VolumeInfo {
            name: spec.name.to_string(),
            labels: labels.clone(),
            created: None,
        };
        spec.check_reuse(&info)?;
        Ok(info)
    }

    async fn remove_volume(&self, name: &str) -> Result<()> {
        let mut state = self.enter("remove_volume", name)?;
        state
            .volumes
            .remove(name)
            .map(drop)
            .ok_or_else(|| Error::not_found(format!("volume `{name}`")))
    }

    async fn list_volumes(&self, filter: &LabelFilter) -> Result<Vec<VolumeInfo>> {
        let state = self.enter("list_volumes", "")?;
        Ok(state
            .volumes
            .iter()
            .filter(|(_, labels)| filter.matches(labels))
            .map(|(name, labels)| VolumeInfo {
                name: name.clone(),
                labels: labels.clone(),
                created: None,
            })
            .collect())
    }
}

#[async_trait]
impl Network for FakeRuntime {
    async fn create_network(&self, spec: &NetworkSpec) -> Result<NetworkId> {
        let mut state = self.enter("create_network", spec.name.as_str())?;
        if state
            .networks
            .values()
            .any(|(name, _, _)| name == spec.name.as_str())
        {
            return Err(Error::Conflict(format!(
                "network `{}` already exists",
                spec.name
            )));
        }
        let id = state.fresh_id("n");
        state.networks.insert(
            id.clone(),
            (spec.name.to_string(), spec.labels.clone(), Vec::new()),
        );
        Ok(NetworkId::new(id))
    }

    async fn remove_network(&self, network: &NetworkId) -> Result<()> {
        let mut state = self.enter("remove_network", network.as_str())?;
        let key = network_key(&state.networks, network)?;
        if !state.networks[&key].2.is_empty() {
            return Err(Error::Conflict(format!(
                "network `{network}` has active endpoints"
            )));
        }
        state.networks.remove(&key);
        Ok(())
    }

    async fn connect(
        &self,
        network: &NetworkId,
        container: &ContainerId,
        _aliases: &[String],
    ) -> Result<()> {
        let mut state = self.enter("connect", format!("{network}:{container}"))?;
        state
            .find(container.as_str())
            .ok_or_else(|| no_such_container(container))?;
        let key = network_key(&state.networks, network)?;
        if let Some(entry) = state.networks.get_mut(&key) {
            entry.2.push(container.clone());
        }
        Ok(())
    }

    async fn disconnect(&self, network: &NetworkId, container: &ContainerId) -> Result<()> {
        let mut state = self.enter("disconnect", format!("{network}:{container}"))?;
        let key = network_key(&state.networks, network)?;
        if let Some(entry) = state.networks.get_mut(&key) {
            entry.2.retain(|c| c != container);
        }
        Ok(())
    }

    async fn inspect_network(&self, network: &NetworkId) -> Result<NetworkInfo> {
        let state = self.enter("inspect_network", network.as_str())?;
        let key = network_key(&state.networks, network)?;
        let (name, labels, containers) = &state.networks[&key];
        Ok(NetworkInfo {
            id: NetworkId::new(key.clone()),
            name: name.clone(),
            labels: labels.clone(),
            containers: containers.clone(),
        })
    }

    async fn list_networks(&self, filter: &LabelFilter) -> Result<Vec<NetworkInfo>> {
        let state = self.enter("list_networks", "")?;
        Ok(state
            .networks
            .iter()
            .filter(|(_, (_, labels, _))| filter.matches(labels))
            .map(|(id, (name, labels, _))| NetworkInfo {
                id: NetworkId::new(id.clone()),
                name: name.clone(),
                labels: labels.clone(),
                containers: Vec::new(),
            })
            .collect())
    }
}

type FakeNetworks =
    std::collections::BTreeMap<String, (String, slipway_core::Labels, Vec<ContainerId>)>;

fn network_key(networks: &FakeNetworks, network: &NetworkId) -> Result<String> {
    networks
        .iter()
        .find(|(id, (name, _, _))| id.as_str() == network.as_str() || name == network.as_str())
        .map(|(id, _)| id.clone())
        .ok_or_else(|| Error::not_found(format!("network `{network}`")))
}

struct FakeTtyInput(FakeRuntime);

#[async_trait]
impl TtyInput for FakeTtyInput {
    async fn write(&mut self, data: &[u8]) -> Result<()> {
        self.0.lock().tty_input.extend_from_slice(data);
        Ok(())
    }

    async fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_core::ErrorKind;
    use slipway_core::PortBinding;

    fn spec() -> ContainerSpec {
        ContainerSpec::new("busybox:1".parse().unwrap())
    }

    #[tokio::test]
    async fn records_calls_and_simulates_lifecycle() {
        let fake = FakeRuntime::new().with_image("busybox:1");
        let id = fake.create_container(&spec()).await.unwrap();
        fake.start_container(&id).await.unwrap();
        assert!(fake
            .inspect_container(&id)
            .await
            .unwrap()
            .state
            .is_running());
        fake.remove_container(&id, RemoveOptions::force())
            .await
            .unwrap();
        let ops: Vec<_> = fake.calls().iter().map(|c| c.op).collect();
        assert_eq!(
            ops,
            [
                "create_container",
                "start_container",
                "inspect_container",
                "remove_container"
            ]
        );
        assert!(fake.container_ids().is_empty());
    }

    #[tokio::test]
    async fn fails_exactly_the_nth_call() {
        let fake = FakeRuntime::new().with_image("busybox:1");
        fake.fail_nth_call(2, ErrorKind::Unavailable);
        let id = fake.create_container(&spec()).await.unwrap();
        let err = fake.start_container(&id).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        fake.start_container(&id).await.unwrap();
    }

    #[tokio::test]
    async fn missing_images_duplicate_names_and_busy_ports_fail_like_an_engine() {
        let fake = FakeRuntime::new().with_image("busybox:1");
        let missing = ContainerSpec::new("nope:1".parse().unwrap());
        assert_eq!(
            fake.create_container(&missing).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );

        let named = spec().with_name("same".parse().unwrap());
        fake.create_container(&named).await.unwrap();
        assert_eq!(
            fake.create_container(&named).await.unwrap_err().kind(),
            ErrorKind::Conflict
        );

        fake.occupy_host_port(10000);
        let id = fake
            .create_container(&spec().with_port(PortBinding::loopback(3000, Some(10000))))
            .await
            .unwrap();
        let err = fake.start_container(&id).await.unwrap_err();
        assert!(matches!(err, Error::PortInUse { port: 10000 }), "{err}");
    }

    #[tokio::test]
    async fn watchers_hear_about_matching_containers_only() {
        use futures_util::StreamExt;
        let fake = FakeRuntime::new().with_image("busybox:1");
        let mut watched = spec();
        watched.labels.insert("watch".into(), "me".into());
        let mut events = fake.container_events(&LabelFilter::default().with("watch", "me"));
        let ignored = slipway_core::run_container(&fake, &spec()).await.unwrap();
        let id = slipway_core::run_container(&fake, &watched).await.unwrap();
        fake.kill_behind_the_back(&ignored, false);
        fake.kill_behind_the_back(&id, true);
        let actions: Vec<_> = [
            events.next().await,
            events.next().await,
            events.next().await,
        ]
        .into_iter()
        .map(|e| {
            let e = e.unwrap().unwrap();
            assert_eq!(e.id, id);
            e.action
        })
        .collect();
        assert_eq!(
            actions,
            [
                ContainerAction::Start,
                ContainerAction::Oom,
                ContainerAction::Die
            ]
        );
    }

    #[tokio::test]
    async fn a_container_killed_behind_the_back_reports_exited() {
        let fake = FakeRuntime::new().with_image("busybox:1");
        let id = slipway_core::run_container(&fake, &spec()).await.unwrap();
        fake.kill_behind_the_back(&id, true);
        let info = fake.inspect_container(&id).await.unwrap();
        assert_eq!(info.state, ContainerState::Exited);
        assert!(info.oom_killed);
    }
}
