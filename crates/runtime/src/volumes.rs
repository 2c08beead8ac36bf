//! Named volumes.

use async_trait::async_trait;
use bollard::models::{Volume, VolumeCreateRequest};
use bollard::query_parameters::{ListVolumesOptions, RemoveVolumeOptions};
use slipway_core::prelude::*;
use slipway_core::{LabelFilter, Result, Timestamp, VolumeInfo, VolumeSpec};

use crate::convert;
use crate::error::{IntoCore, RuntimeError};
use crate::DockerRuntime;

fn volume_info(volume: Volume) -> VolumeInfo {
    VolumeInfo {
        name: volume.name,
        labels: volume.labels.into_iter().collect(),
        created: volume
            .created_at
            .map(|t| Timestamp::from_unix_millis(t.timestamp_millis())),
    }
}

#[async_trait]
impl Volumes for DockerRuntime {
    async fn ensure_volume(&self, spec: &VolumeSpec) -> Result<VolumeInfo> {
        let request = VolumeCreateRequest {
            name: Some(spec.name.to_string()),
            labels: Some(
                spec.labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            ..VolumeCreateRequest::default()
        };
        // Creating an existing volume returns it unchanged, labels and all.
        let volume = self
            .docker
            .create_volume(request)
            .await
            .or_core(self, |source| RuntimeError::CreateVolume {
                name: spec.name.to_string(),
                source,
            })?;
        let info = volume_info(volume);
        spec.check_reuse(&info)?;
        Ok(info)
    }

    async fn remove_volume(&self, name: &str) -> Result<()> {
        self.docker
            .remove_volume(name, None::<RemoveVolumeOptions>)
            .await
            .or_core(self, |source| RuntimeError::RemoveVolume {
                name: name.to_owned(),
                source,
            })
    }

    async fn list_volumes(&self, filter: &LabelFilter) -> Result<Vec<VolumeInfo>> {
        let options = ListVolumesOptions {
            filters: Some(convert::label_filters(filter)),
        };
        let response = self
            .docker
            .list_volumes(Some(options))
            .await
            .or_core(self, |source| RuntimeError::ListVolumes { source })?;
        Ok(response
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(volume_info)
            .collect())
    }
}
