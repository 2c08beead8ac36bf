//! Moving files in and out of containers, and committing them to images.

use async_trait::async_trait;
use bollard::models::ContainerConfig;
use bollard::query_parameters::{
    CommitContainerOptions, DownloadFromContainerOptions, UploadToContainerOptions,
};
use futures_util::TryStreamExt;
use slipway_core::prelude::*;
use slipway_core::{CommitRequest, ContainerId, Error, ImageId, Result};

use crate::error::{IntoCore, RuntimeError};
use crate::DockerRuntime;

fn check_path(path: &str) -> Result<()> {
    if path.starts_with('/') && !path.contains('\0') && !path.split('/').any(|c| c == "..") {
        Ok(())
    } else {
        Err(Error::invalid(
            "container path",
            format!(
                "`{}` must be absolute and must not contain `..`",
                path.escape_debug()
            ),
        ))
    }
}

#[async_trait]
impl Files for DockerRuntime {
    async fn upload_tar(&self, id: &ContainerId, path: &str, tar: Vec<u8>) -> Result<()> {
        check_path(path)?;
        let options = UploadToContainerOptions {
            path: path.to_owned(),
            ..UploadToContainerOptions::default()
        };
        self.docker
            .upload_to_container(id.as_str(), Some(options), bollard::body_full(tar.into()))
            .await
            .or_core(self, |source| RuntimeError::Upload {
                id: id.to_string(),
                path: path.to_owned(),
                source,
            })
    }

    async fn download_tar(&self, id: &ContainerId, path: &str) -> Result<Vec<u8>> {
        check_path(path)?;
        let options = DownloadFromContainerOptions {
            path: path.to_owned(),
        };
        let chunks: Vec<bytes::Bytes> = self
            .docker
            .download_from_container(id.as_str(), Some(options))
            .try_collect()
            .await
            .or_core(self, |source| RuntimeError::Download {
                id: id.to_string(),
                path: path.to_owned(),
                source,
            })?;
        Ok(chunks.concat())
    }

    async fn commit(&self, id: &ContainerId, request: &CommitRequest) -> Result<ImageId> {
        let options = CommitContainerOptions {
            container: Some(id.to_string()),
            repo: Some(request.image.repository().to_owned()),
            tag: Some(request.image.tag().unwrap_or("latest").to_owned()),
            pause: request.pause,
            // The engine parses the changes as one Dockerfile, so one per line.
            changes: (!request.changes.is_empty()).then(|| request.changes.join("\n")),
            ..CommitContainerOptions::default()
        };
        let config = ContainerConfig {
            labels: Some(
                request
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            ..ContainerConfig::default()
        };
        let response = self
            .docker
            .commit_container(options, config)
            .await
            .or_core(self, |source| RuntimeError::Commit {
                id: id.to_string(),
                image: request.image.to_string(),
                source,
            })?;
        Ok(ImageId::new(response.id))
    }
}
