//! User-defined networks.

use async_trait::async_trait;
use std::collections::HashMap;

use bollard::models::{
    EndpointSettings, NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest,
};
use bollard::query_parameters::{InspectNetworkOptions, ListNetworksOptions};
use slipway_core::prelude::*;
use slipway_core::{ContainerId, Error, LabelFilter, NetworkId, NetworkInfo, NetworkSpec, Result};

use crate::convert;
use crate::error::{IntoCore, RuntimeError};
use crate::DockerRuntime;

#[async_trait]
impl Network for DockerRuntime {
    async fn create_network(&self, spec: &NetworkSpec) -> Result<NetworkId> {
        // Engines before API 1.44 accept duplicate names; refuse them here.
        if let Some(existing) = self.network_named(spec.name.as_str()).await? {
            return Err(Error::Conflict(format!(
                "network `{}` already exists ({})",
                spec.name, existing.id
            )));
        }
        let request = NetworkCreateRequest {
            name: spec.name.to_string(),
            driver: Some("bridge".into()),
            internal: Some(spec.internal),
            options: spec.isolated.then(|| {
                HashMap::from([(
                    "com.docker.network.bridge.enable_icc".to_owned(),
                    "false".to_owned(),
                )])
            }),
            labels: Some(
                spec.labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            ..NetworkCreateRequest::default()
        };
        let response = self
            .docker
            .create_network(request)
            .await
            .or_core(self, |source| RuntimeError::CreateNetwork {
                name: spec.name.to_string(),
                source,
            })?;
        Ok(NetworkId::new(response.id))
    }

    async fn remove_network(&self, network: &NetworkId) -> Result<()> {
        self.docker
            .remove_network(network.as_str())
            .await
            .or_core(self, |source| RuntimeError::RemoveNetwork {
                id: network.to_string(),
                source,
            })
    }

    async fn connect(
        &self,
        network: &NetworkId,
        container: &ContainerId,
        aliases: &[String],
    ) -> Result<()> {
        let request = NetworkConnectRequest {
            container: container.to_string(),
            endpoint_config: Some(EndpointSettings {
                aliases: (!aliases.is_empty()).then(|| aliases.to_vec()),
                ..EndpointSettings::default()
            }),
        };
        self.docker
            .connect_network(network.as_str(), request)
            .await
            .or_core(self, |source| RuntimeError::ConnectNetwork {
                network: network.to_string(),
                container: container.to_string(),
                source,
            })
    }

    async fn disconnect(&self, network: &NetworkId, container: &ContainerId) -> Result<()> {
        let request = NetworkDisconnectRequest {
            container: container.to_string(),
            force: Some(true),
        };
        self.docker
            .disconnect_network(network.as_str(), request)
            .await
            .or_core(self, |source| RuntimeError::DisconnectNetwork {
                network: network.to_string(),
                container: container.to_string(),
                source,
            })
    }

    async fn inspect_network(&self, network: &NetworkId) -> Result<NetworkInfo> {
        let inspected = self
            .docker
            .inspect_network(network.as_str(), None::<InspectNetworkOptions>)
            .await
            .or_core(self, |source| RuntimeError::InspectNetwork {
                id: network.to_string(),
                source,
            })?;
        Ok(NetworkInfo {
            id: NetworkId::new(inspected.id.unwrap_or_default()),
            name: inspected.name.unwrap_or_default(),
            labels: convert::labels(inspected.labels),
            containers: inspected
                .containers
                .unwrap_or_default()
                .into_keys()
                .map(ContainerId::new)
                .collect(),
        })
    }

    async fn list_networks(&self, filter: &LabelFilter) -> Result<Vec<NetworkInfo>> {
        let options = ListNetworksOptions {
            filters: Some(convert::label_filters(filter)),
        };
        let found = self
            .docker
            .list_networks(Some(options))
            .await
            .or_core(self, |source| RuntimeError::ListNetworks { source })?;
        Ok(found
            .into_iter()
            .map(|n| NetworkInfo {
                id: NetworkId::new(n.id.unwrap_or_default()),
                name: n.name.unwrap_or_default(),
                labels: convert::labels(n.labels),
                containers: Vec::new(),
            })
            .collect())
    }
}

impl DockerRuntime {
    async fn network_named(&self, name: &str) -> Result<Option<NetworkInfo>> {
        // The engine's name filter matches substrings; compare exactly.
        let options = ListNetworksOptions {
            filters: Some(HashMap::from([("name".to_owned(), vec![name.to_owned()])])),
        };
        let found = self
            .docker
            .list_networks(Some(options))
            .await
            .or_core(self, |source| RuntimeError::ListNetworks { source })?;
        Ok(found
            .into_iter()
            .find(|n| n.name.as_deref() == Some(name))
            .map(|n| NetworkInfo {
                id: NetworkId::new(n.id.unwrap_or_default()),
                name: n.name.unwrap_or_default(),
                labels: convert::labels(n.labels),
                containers: Vec::new(),
            }))
    }
}
