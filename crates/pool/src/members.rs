//! Creating and destroying pooled containers: unique names, slipway's labels, leased host
//! ports, and another port when a foreign process holds the one leased.

use slipway_core::labels::{self};
use slipway_core::{
    run_container, ContainerSpec, Error, PoolKey, PublishedPort, RemoveOptions, Result,
};

use crate::inner::Inner;
use crate::state::Member;

/// How many host ports a creation tries before giving up.
const MAX_PORT_ATTEMPTS: usize = 16;
/// Port leases held by pooled containers are named `pool:<container name>`.
pub(crate) const HOLDER_PREFIX: &str = "pool:";

pub(crate) fn holder(name: &str) -> String {
    format!("{HOLDER_PREFIX}{name}")
}

fn member_name(key: &PoolKey) -> String {
    let unique = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "slipway-pool-{}-{}",
        &key.as_str()[..8.min(key.as_str().len())],
        &unique[..12]
    )
}

impl Inner {
    /// Creates and starts one container of pool `key` from `template`.
    pub(crate) async fn create_member(
        &self,
        key: &PoolKey,
        template: &ContainerSpec,
    ) -> Result<Member> {
        let name = member_name(key);
        let mut spec = template.clone();
        spec.name = Some(name.parse()?);
        spec.labels
            .extend(self.scope().with(labels::POOL_KEY, key.as_str()).labels());
        if let Some(creator) = &self.creator {
            spec.labels
                .insert(labels::CREATOR.to_owned(), creator.to_string());
        }
        let memory_bytes = spec.resources.memory_bytes.unwrap_or_default();
        let holder = holder(&name);
        // The budget is shared with runs and with other processes of this state through the
        // store: this process's own count said yes, the store has the last word.
        let limit = self.lock().budget.limit();
        self.store
            .reserve_memory(&holder, memory_bytes, limit)
            .await?;
        let created = self
            .create_reserved(name, &holder, spec, memory_bytes)
            .await;
        if created.is_err() {
            self.release_memory(&holder).await;
        }
        created
    }

    async fn create_reserved(
        &self,
        name: String,
        holder: &str,
        mut spec: ContainerSpec,
        memory_bytes: u64,
    ) -> Result<Member> {
        for _ in 0..MAX_PORT_ATTEMPTS {
            let mut leased = Vec::new();
            for binding in &mut spec.ports {
                match self.ports.lease(holder).await {
                    Ok(port) => {
                        binding.host_port = Some(port);
                        leased.push(port);
                    }
                    Err(e) => {
                        self.release_ports(holder, &leased).await;
                        return Err(e);
                    }
                }
            }
            match run_container(self.runtime.as_ref(), &spec).await {
                Ok(id) => {
                    let ports = spec
                        .ports
                        .iter()
                        .map(|b| PublishedPort {
                            container_port: b.container_port,
                            host_ip: b.host_ip,
                            host_port: b.host_port.unwrap_or_default(),
                        })
                        .collect();
                    return Ok(Member {
                        id,
                        name,
                        ports,
                        memory_bytes,
                    });
                }
                Err(Error::PortInUse { port }) => {
                    for leased_port in leased {
                        let released = if leased_port == port {
                            self.ports.mark_foreign(port, holder).await
                        } else {
                            self.ports.release(leased_port, holder).await.map(drop)
                        };
                        if let Err(e) = released {
                            tracing::warn!(port = leased_port, error = %e, "failed to release a port lease");
                        }
                    }
                }
                Err(other) => {
                    self.release_ports(holder, &leased).await;
                    return Err(other);
                }
            }
        }
        Err(Error::CapacityExceeded(format!(
            "no bindable host port in {} after {MAX_PORT_ATTEMPTS} attempts",
            self.ports.range()
        )))
    }

    /// Removes a pooled container and gives its ports back. A container already gone is fine.
    pub(crate) async fn destroy_member(&self, member: &Member) -> Result<()> {
        match self
            .runtime
            .remove_container(&member.id, RemoveOptions::force())
            .await
        {
            Ok(()) | Err(Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let ports: Vec<u16> = member.ports.iter().map(|p| p.host_port).collect();
        let holder = holder(&member.name);
        self.release_ports(&holder, &ports).await;
        self.release_memory(&holder).await;
        Ok(())
    }

    /// Gives `holder`'s memory reservation back, logging (not returning) a failure.
    pub(crate) async fn release_memory(&self, holder: &str) {
        if let Err(e) = self.store.release_memory(holder).await {
            tracing::warn!(holder, error = %e, "failed to release a memory reservation");
        }
    }

    /// Releases `holder`'s leases, logging (not returning) failures: callers are already
    /// handling an outcome of their own.
    pub(crate) async fn release_ports(&self, holder: &str, ports: &[u16]) {
        for port in ports {
            if let Err(e) = self.ports.release(*port, holder).await {
                tracing::warn!(port, error = %e, "failed to release a port lease");
            }
        }
    }
}
