//! Images: presence, details, pull, tag, push, removal and pruning.

use async_trait::async_trait;
use std::collections::HashMap;

use bollard::auth::DockerCredentials;
use bollard::query_parameters::{
    CreateImageOptions, PruneImagesOptions, PushImageOptions, RemoveImageOptions, TagImageOptions,
};
use futures_util::TryStreamExt;
use slipway_core::prelude::*;
use slipway_core::{
    Error, ImageId, ImageInfo, ImageRef, PruneFilter, PruneReport, RegistryCredentials, Result,
    Timestamp,
};

use crate::convert;
use crate::error::{IntoCore, RuntimeError};
use crate::DockerRuntime;

/// How long an image prune waits for another one to finish, and its backoff.
const PRUNE_RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(60);
const PRUNE_RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(50);
const PRUNE_RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether the engine refused a prune because another one runs.
fn prune_running(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError { status_code: 409, message }
            if message.contains("prune operation is already running")
    )
}

pub(crate) fn engine_credentials(
    credentials: Option<RegistryCredentials>,
) -> Option<DockerCredentials> {
    credentials.map(|c| DockerCredentials {
        username: Some(c.username),
        password: Some(c.password),
        serveraddress: Some(c.server),
        ..DockerCredentials::default()
    })
}

#[async_trait]
impl Images for DockerRuntime {
    async fn inspect_image(&self, image: &ImageRef) -> Result<ImageInfo> {
        let inspected =
            self.docker
                .inspect_image(image.as_str())
                .await
                .or_core(self, |source| RuntimeError::InspectImage {
                    image: image.to_string(),
                    source,
                })?;
        Ok(ImageInfo {
            id: ImageId::new(inspected.id.unwrap_or_default()),
            tags: inspected.repo_tags.unwrap_or_default(),
            labels: convert::labels(inspected.config.and_then(|c| c.labels)),
            created: inspected
                .created
                .map(|t| Timestamp::from_unix_millis(t.timestamp_millis())),
            size_bytes: inspected
                .size
                .and_then(|s| u64::try_from(s).ok())
                .unwrap_or(0),
            layers: inspected
                .root_fs
                .and_then(|root| root.layers)
                .map_or(0, |layers| layers.len()),
        })
    }

    async fn image_exists(&self, image: &ImageRef) -> Result<bool> {
        match self.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(other) => Err(other),
        }
    }

    async fn pull_image(
        &self,
        image: &ImageRef,
        credentials: Option<RegistryCredentials>,
    ) -> Result<()> {
        let options = CreateImageOptions {
            from_image: Some(image.repository().to_owned()),
            tag: Some(
                image
                    .digest()
                    .or(image.tag())
                    .unwrap_or("latest")
                    .to_owned(),
            ),
            ..CreateImageOptions::default()
        };
        self.docker
            .create_image(Some(options), None, engine_credentials(credentials))
            .try_for_each(|_| async { Ok(()) })
            .await
            .or_core(self, |source| RuntimeError::Pull {
                image: image.to_string(),
                source,
            })
    }

    async fn tag_image(&self, source_image: &str, target: &ImageRef) -> Result<()> {
        let options = TagImageOptions {
            repo: Some(target.repository().to_owned()),
            tag: Some(target.tag().unwrap_or("latest").to_owned()),
        };
        self.docker
            .tag_image(source_image, Some(options))
            .await
            .or_core(self, |source| RuntimeError::Tag {
                image: source_image.to_owned(),
                target: target.to_string(),
                source,
            })
    }

    async fn push_image(
        &self,
        image: &ImageRef,
        credentials: Option<RegistryCredentials>,
    ) -> Result<()> {
        let options = PushImageOptions {
            tag: Some(image.tag().unwrap_or("latest").to_owned()),
            platform: None,
        };
        self.docker
            .push_image(
                image.repository(),
                Some(options),
                engine_credentials(credentials),
            )
            .try_for_each(|_| async { Ok(()) })
            .await
            .or_core(self, |source| RuntimeError::Push {
                image: image.to_string(),
                source,
            })
    }

    async fn export_image(&self, image: &ImageRef) -> Result<Vec<u8>> {
        let chunks: Vec<bytes::Bytes> = self
            .docker
            .export_image(image.as_str())
            .try_collect()
            .await
            .or_core(self, |source| RuntimeError::ExportImage {
                image: image.to_string(),
                source,
            })?;
        Ok(chunks.concat())
    }

    async fn remove_image(&self, image: &str, force: bool) -> Result<()> {
        let options = RemoveImageOptions {
            force,
            ..RemoveImageOptions::default()
        };
        self.docker
            .remove_image(image, Some(options), None)
            .await
            .map(drop)
            .or_core(self, |source| RuntimeError::RemoveImage {
                image: image.to_owned(),
                source,
            })
    }

    async fn prune_images(&self, filter: &PruneFilter) -> Result<PruneReport> {
        let mut filters: HashMap<String, Vec<String>> = convert::label_filters(&filter.labels);
        // `dangling=false` is every unused image that matches, tagged or not.
        let dangling = if filter.untagged_only {
            "true"
        } else {
            "false"
        };
        filters.insert("dangling".into(), vec![dangling.into()]);
        if let Some(age) = filter.older_than {
            filters.insert("until".into(), vec![format!("{}s", age.as_secs())]);
        }
        // The engine runs one image prune at a time and refuses a second (409) while one
        // is under way, whoever started it; a prune of ours waits its turn.
        let mut wait = PRUNE_RETRY_FIRST;
        let started = std::time::Instant::now();
        let response = loop {
            let options = PruneImagesOptions {
                filters: Some(filters.clone()),
            };
            match self.docker.prune_images(Some(options)).await {
                Err(error) if prune_running(&error) && started.elapsed() < PRUNE_RETRY_FOR => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(PRUNE_RETRY_MAX);
                }
                other => {
                    break other.or_core(self, |source| RuntimeError::PruneImages { source })?
                }
            }
        };
        let removed = response
            .images_deleted
            .unwrap_or_default()
            .into_iter()
            .filter_map(|item| item.untagged.or(item.deleted))
            .collect();
        Ok(PruneReport {
            removed,
            reclaimed_bytes: response
                .space_reclaimed
                .and_then(|b| u64::try_from(b).ok())
                .unwrap_or(0),
        })
    }
}
