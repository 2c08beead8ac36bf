//! Engine-level calls: ping, version, info.

use async_trait::async_trait;
use slipway_core::prelude::*;
use slipway_core::{EngineInfo, EngineVersion, Result, RuntimeCapabilities};

use crate::error::{IntoCore, RuntimeError};
use crate::DockerRuntime;

fn non_negative(value: Option<i64>) -> u64 {
    value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0)
}

#[async_trait]
impl Engine for DockerRuntime {
    async fn ping(&self) -> Result<()> {
        self.docker
            .ping()
            .await
            .map(drop)
            .or_core(self, |source| RuntimeError::Ping { source })
    }

    async fn version(&self) -> Result<EngineVersion> {
        let version = self
            .docker
            .version()
            .await
            .or_core(self, |source| RuntimeError::Version { source })?;
        Ok(EngineVersion {
            version: version.version.unwrap_or_default(),
            api_version: version.api_version.unwrap_or_default(),
            min_api_version: version.min_api_version.unwrap_or_default(),
            negotiated_api_version: self.docker.client_version().to_string(),
            os: version.os.unwrap_or_default(),
            arch: version.arch.unwrap_or_default(),
            kernel_version: version.kernel_version.unwrap_or_default(),
        })
    }

    async fn info(&self) -> Result<EngineInfo> {
        let info = self
            .docker
            .info()
            .await
            .or_core(self, |source| RuntimeError::Info { source })?;
        Ok(EngineInfo {
            name: info.name.unwrap_or_default(),
            server_version: info.server_version.unwrap_or_default(),
            total_memory_bytes: non_negative(info.mem_total),
            cpus: non_negative(info.ncpu),
            storage_driver: info.driver.unwrap_or_default(),
            cgroup_driver: info
                .cgroup_driver
                .map(|d| d.to_string())
                .unwrap_or_default(),
            cgroup_version: info
                .cgroup_version
                .map(|v| v.to_string())
                .unwrap_or_default(),
            operating_system: info.operating_system.unwrap_or_default(),
            containers_running: non_negative(info.containers_running),
        })
    }

    fn endpoint(&self) -> String {
        self.endpoint.to_string()
    }

    fn capabilities(&self) -> RuntimeCapabilities {
        self.capabilities_now()
    }
}
