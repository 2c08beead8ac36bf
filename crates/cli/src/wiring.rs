//! Building the concrete services from the configuration: the only place that picks them.

use std::sync::Arc;

use anyhow::Context;
use slipway_core::{ContainerSpec, ImageRef, PortBinding};
use slipway_pool::{PoolConfig, PoolSettings, WarmPool};
use slipway_runtime::DockerRuntime;
use slipway_store::SqliteStore;

use crate::config::{Config, PoolDefinition};

/// Opens (creating if needed) the state database.
pub(crate) fn open_store(config: &Config) -> anyhow::Result<Arc<SqliteStore>> {
    let store = SqliteStore::open_in_dir(&config.state_dir)
        .with_context(|| format!("failed to open the state in {}", config.state_dir.display()))?;
    Ok(Arc::new(store))
}

/// Connects to the engine.
pub(crate) async fn connect(config: &Config) -> anyhow::Result<Arc<DockerRuntime>> {
    let runtime = config
        .engine
        .connect()
        .await
        .context("failed to connect to the engine")?;
    Ok(Arc::new(runtime))
}

/// The container spec a `[[pools]]` entry describes.
pub(crate) fn pool_config(
    definition: &PoolDefinition,
    image: Option<&ImageRef>,
) -> anyhow::Result<PoolConfig> {
    let image = match image {
        Some(image) => image.clone(),
        None => definition
            .image
            .parse()
            .with_context(|| format!("invalid image in [[pools]]: {}", definition.image))?,
    };
    let mut spec = ContainerSpec::new(image)
        .with_cmd(definition.cmd.clone())
        .with_init(true);
    for port in &definition.ports {
        spec = spec.with_port(PortBinding::loopback(*port, None));
    }
    for (key, value) in &definition.env {
        spec = spec.with_env(key.clone(), value.clone());
    }
    spec = spec
        .with_memory_limit(definition.memory_mb << 20)
        .with_labels(definition.labels.clone());
    Ok(PoolConfig::new(spec)
        .with_target_size(definition.target)
        .with_min_size(definition.min)
        .with_max_creating(definition.max_creating))
}

/// Everything `slipway env` needs, wired from the configuration.
pub(crate) struct EnvironmentStack {
    pub(crate) runtime: Arc<DockerRuntime>,
    pub(crate) environments: slipway_provision::Environments,
    pub(crate) pool: WarmPool,
}

/// Builds the environment service: the engine, the state, the repo cache under
/// `<state>/repo-cache`, the provisioner and the configured pools (without background
/// refill: a one-shot command only claims). `remote` overrides where one repo is fetched from.
pub(crate) async fn open_environments(
    config: &Config,
    remote: Option<(&slipway_core::RepoSlug, &str)>,
) -> anyhow::Result<EnvironmentStack> {
    use slipway_core::Store as _;
    let (pool, _) = open_pool(config, None, false).await?;
    let runtime = connect(config).await?;
    let store = open_store(config)?;
    let cache = slipway_provision::GitRepoCache::new(config.state_dir.join("repo-cache"))
        .with_url_template(&config.provision.url_template)?;
    if let Some((repo, url)) = remote {
        cache.set_remote(repo, url)?;
    }
    let provisioner = slipway_provision::Provisioner::new(
        runtime.clone(),
        Arc::new(cache),
        store.instance_id(),
        config.provision.config.clone(),
    )?;
    let settings = slipway_provision::EnvironmentSettings {
        base_image: config.provision.base_image.clone(),
        memory_bytes: config.provision.memory_bytes,
        warm_per_repo: config.provision.warm_per_repo,
    };
    let environments = slipway_provision::Environments::new(
        runtime.clone(),
        Arc::new(pool.clone()),
        store,
        Arc::new(provisioner),
        settings,
    );
    Ok(EnvironmentStack {
        runtime,
        environments,
        pool,
    })
}

/// Starts the configured pools (adopting what an earlier run left); `image` replaces every
/// pool's image, `refill` keeps them filled in the background.
pub(crate) async fn open_pool(
    config: &Config,
    image: Option<&ImageRef>,
    refill: bool,
) -> anyhow::Result<(WarmPool, Vec<PoolConfig>)> {
    let runtime = connect(config).await?;
    let store = open_store(config)?;
    let pools = config
        .pool
        .pools
        .iter()
        .map(|definition| pool_config(definition, image))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let settings = PoolSettings {
        budget: config.pool.budget,
        port_range: config.pool.port_range,
        refill,
        ..PoolSettings::default()
    };
    let mut builder = WarmPool::builder(runtime, store).with_settings(settings);
    for pool in &pools {
        builder = builder.with_pool(pool.clone());
    }
    let pool = builder.start().await.context("failed to start the pool")?;
    Ok((pool, pools))
}
