//! The installer: a short-lived container of the environment's image with the repo's
//! dependency store mounted writable, where a lockfile's dependencies are installed and then
//! published to the store under the lockfile's fingerprint. No environment ever holds the
//! store writable, and what the store holds is what the install produced, before any dev
//! server ran.

use slipway_core::{run_container, ContainerId, Mount, RemoveOptions, Role};

use super::{Checkout, Result, SetupRun};
use crate::provisioner::scripts;
use crate::provisioner::setup_error::SetupError;

impl SetupRun<'_> {
    /// Installs `command`'s dependencies for the lockfile `hash` into `store` from a
    /// container of its own, removed afterwards whatever happened (the first error wins).
    pub(super) async fn install_in_store(
        &self,
        checkout: &Checkout,
        store: &str,
        command: &str,
        hash: &str,
        log: &mut Vec<String>,
    ) -> Result<()> {
        let provisioner = self.provisioner;
        let failed = |source| SetupError::Installer {
            image: checkout.image.clone(),
            store: store.to_owned(),
            source,
        };
        let image = checkout.image.parse().map_err(failed)?;
        let memory = checkout
            .memory_bytes
            .unwrap_or(slipway_core::DEFAULT_POOL_MEMORY_BYTES);
        // The environment's own shape (app directory off the storage driver, network,
        // limits), without its port, with the store writable.
        let mut spec = provisioner
            .container_spec(None, image, memory)
            .map_err(failed)?
            .with_labels(provisioner.labels(Role::Build, &self.source.repo))
            .with_mount(Mount::Volume {
                name: store.to_owned(),
                target: provisioner.config.deps_store.clone(),
                read_only: false,
            });
        spec.ports.clear();
        let runtime = provisioner.runtime.as_ref();
        let installer = run_container(runtime, &spec).await.map_err(failed)?;
        let installed = self
            .install_inside(&installer, checkout, command, hash, log)
            .await;
        let removed = runtime
            .remove_container(&installer, RemoveOptions::force())
            .await;
        installed?;
        if let Err(e) = removed {
            tracing::warn!(container = %installer, error = %e, "failed to remove an installer container");
        }
        Ok(())
    }

    async fn install_inside(
        &self,
        installer: &ContainerId,
        checkout: &Checkout,
        command: &str,
        hash: &str,
        log: &mut Vec<String>,
    ) -> Result<()> {
        let config = &self.provisioner.config;
        let run = self.in_container(installer);
        // The install may run the package's own scripts, which may need any of its files.
        run.copy_tree_logged(&checkout.branch, &checkout.commit, log)
            .await?;
        run.run_install(command, log).await?;
        run.sh_ok(
            "publish the installed dependencies to the store",
            scripts::PUBLISH_DEPS,
            &[&config.deps_mount, &config.deps_store, hash],
        )
        .await?;
        Ok(())
    }
}
