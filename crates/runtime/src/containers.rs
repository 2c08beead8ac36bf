//! Container lifecycle: create, start, stop, remove, inspect, list, wait.

use std::time::Duration;

use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, ListContainersOptions, RemoveContainerOptions,
    StartContainerOptions, StopContainerOptions,
};
use futures_util::StreamExt;
use slipway_core::{
    ContainerId, ContainerInfo, ContainerSpec, ContainerSummary, Error, LabelFilter, RemoveOptions,
    Result,
};

use crate::convert;
use crate::error::{IntoCore, RuntimeError};
use crate::DockerRuntime;

impl DockerRuntime {
    pub(crate) async fn create(&self, spec: &ContainerSpec) -> Result<ContainerId> {
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

    pub(crate) async fn start(&self, id: &ContainerId) -> Result<()> {
        self.docker
            .start_container(id.as_str(), None::<StartContainerOptions>)
            .await
            .or_core(self, |source| RuntimeError::StartContainer {
                id: id.to_string(),
                source,
            })
    }

    pub(crate) async fn stop(&self, id: &ContainerId, grace: Duration) -> Result<()> {
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

    pub(crate) async fn remove(&self, id: &ContainerId, options: RemoveOptions) -> Result<()> {
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

    pub(crate) async fn inspect(&self, id: &ContainerId) -> Result<ContainerInfo> {
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

    pub(crate) async fn list(&self, filter: &LabelFilter) -> Result<Vec<ContainerSummary>> {
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

    pub(crate) async fn wait(&self, id: &ContainerId) -> Result<i64> {
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
}
