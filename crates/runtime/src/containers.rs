//! Container lifecycle: create, start, stop, remove, inspect, list, wait.

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use std::time::Duration;

use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, ListContainersOptions, RemoveContainerOptions,
    StartContainerOptions, StopContainerOptions,
};
use futures_util::StreamExt;
use slipway_core::prelude::*;
use slipway_core::{
    ContainerEvent, ContainerId, ContainerInfo, ContainerSpec, ContainerSummary, Error,
    LabelFilter, LogLine, LogOptions, RemoveOptions, Result,
};

use crate::convert;
use crate::error::{IntoCore, RuntimeError};
use crate::DockerRuntime;

#[async_trait]
impl Containers for DockerRuntime {
    async fn create_container(&self, spec: &ContainerSpec) -> Result<ContainerId> {
        spec.validate()?;
        let options = CreateContainerOptions {
            name: spec.name.as_ref().map(ToString::to_string),
            platform: String::new(),
        };
        let image = spec.image.to_string();
        let response = self
            .docker
            .create_container(Some(options), convert::create_body(spec))
            .await
            .or_core(self, |source| RuntimeError::CreateContainer {
                image,
                source,
            })?;
        for warning in &response.warnings {
            tracing::warn!(container = %response.id, %warning, "engine warning on create");
        }
        Ok(ContainerId::new(response.id))
    }

    async fn start_container(&self, id: &ContainerId) -> Result<()> {
        self.docker
            .start_container(id.as_str(), None::<StartContainerOptions>)
            .await
            .or_core(self, |source| RuntimeError::StartContainer {
                id: id.to_string(),
                source,
            })
    }

    async fn stop_container(&self, id: &ContainerId, grace: Duration) -> Result<()> {
        let options = StopContainerOptions {
            t: Some(i32::try_from(grace.as_secs()).unwrap_or(i32::MAX)),
            signal: None,
        };
        self.docker
            .stop_container(id.as_str(), Some(options))
            .await
            .or_core(self, |source| RuntimeError::StopContainer {
                id: id.to_string(),
                source,
            })
    }

    async fn remove_container(&self, id: &ContainerId, options: RemoveOptions) -> Result<()> {
        let options = RemoveContainerOptions {
            force: options.force,
            v: options.volumes,
            link: false,
        };
        self.docker
            .remove_container(id.as_str(), Some(options))
            .await
            .or_core(self, |source| RuntimeError::RemoveContainer {
                id: id.to_string(),
                source,
            })
    }

    async fn inspect_container(&self, id: &ContainerId) -> Result<ContainerInfo> {
        let response = self
            .docker
            .inspect_container(id.as_str(), None::<InspectContainerOptions>)
            .await
            .or_core(self, |source| RuntimeError::InspectContainer {
                id: id.to_string(),
                source,
            })?;
        Ok(convert::container_info(response))
    }

    async fn list_containers(&self, filter: &LabelFilter) -> Result<Vec<ContainerSummary>> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(convert::label_filters(filter)),
            ..ListContainersOptions::default()
        };
        let found = self
            .docker
            .list_containers(Some(options))
            .await
            .or_core(self, |source| RuntimeError::ListContainers { source })?;
        Ok(found.into_iter().map(convert::container_summary).collect())
    }

    async fn wait_container(&self, id: &ContainerId) -> Result<i64> {
        let mut stream = self.docker.wait_container(id.as_str(), None);
        match stream.next().await {
            Some(Ok(response)) => Ok(response.status_code),
            // bollard reports a non-zero exit as an error; for a wait it is the answer.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(source)) => Err(self.core_error(RuntimeError::WaitContainer { id: id.to_string(), source })),
            None => Err(Error::backend(format!(
                "failed to wait for container {id}: the engine closed the stream without an exit code"
            ))),
        }
    }

    fn logs(&self, id: &ContainerId, options: &LogOptions) -> BoxStream<'static, Result<LogLine>> {
        self.log_stream(id, options)
    }

    fn container_events(&self, filter: &LabelFilter) -> BoxStream<'static, Result<ContainerEvent>> {
        self.events_stream(filter)
    }
}
