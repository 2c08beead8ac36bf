//! [`Services`]: the one place that picks concrete types — one engine client, one store,
//! the pool (owned, or only viewed), [`Environments`] and [`RunManager`] — and runs start-up
//! recovery once, in the process that owns the state.

use std::sync::Arc;
use std::time::Duration;

use slipway_buildkit::{BuildkitSidecar, RunManager};
use slipway_core::prelude::*;
use slipway_core::{Error, Pool, PoolReport, Result, RunId};
use slipway_pool::{Reconciled, WarmPool};
use slipway_provision::{Environments, GitRepoCache, Provisioner, RecoveryReport};
use slipway_runtime::DockerRuntime;
use slipway_store::SqliteStore;

use crate::config::{Config, ProvisionSetup};
use crate::pool_view::PoolView;
use crate::state_lock::{Holder, LockWait, StateLock};

/// How long a run's record may sit in `creating`/`stopping` before the owner's recovery
/// treats it as abandoned: runs may be created by processes that don't own the state.
const RUN_RECOVERY_GRACE: Duration = Duration::from_secs(120);
/// How often ready environments are checked against the default branch (and made again
/// when one was taken or fell behind).
const READY_REFRESH: Duration = Duration::from_secs(30);

/// What a process may do with the state it opens.
#[derive(Debug, Clone)]
pub enum Access {
    /// Read records only: no engine connection, no pool, no lock.
    Records,
    /// Read records and talk to the engine (logs, exec, runs); pools are only viewed, nothing
    /// is reconciled.
    Read,
    /// Own the state: take its lock as `wait` says, reconcile once, run the pools.
    Own(Ownership),
    /// Own the state when nobody else does, else [`Access::Read`] (a run can be created
    /// either way; only an owner settles what a crash left).
    OwnIfFree(Ownership),
}

/// How an owner owns.
#[derive(Debug, Clone)]
pub struct Ownership {
    /// Who this process is, for whoever can't have the lock.
    pub holder: Holder,
    /// What to do when someone else owns the state.
    pub wait: LockWait,
    /// Keep the pools, and the ready environments, filled in the background (a server
    /// does; a one-shot command that only claims does not).
    pub refill: bool,
}

/// What the owner's start-up recovery settled.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StartupReport {
    /// Pooled containers adopted, reaped or left to their live creators.
    pub pool: Reconciled,
    /// Environments.
    pub environments: RecoveryReport,
    /// Runs whose resources were removed.
    pub runs: Vec<RunId>,
}

/// The pool: run by this process, or only viewed.
enum PoolHandle {
    Owned(WarmPool),
    Viewed(Arc<PoolView>),
}

/// The services one process works with.
pub struct Services {
    config: Config,
    store: Arc<SqliteStore>,
    engine: Option<Engine>,
    lock: Option<StateLock>,
    startup: StartupReport,
}

/// What exists once the engine is connected.
struct Engine {
    runtime: Arc<DockerRuntime>,
    pool: PoolHandle,
    environments: Arc<Environments>,
    runs: RunManager,
    /// The task keeping ready environments, when this process refills.
    ready_keeper: Option<tokio::task::JoinHandle<()>>,
}

impl Services {
    /// Opens the state in `config.state_dir` as `access` says. An owner reconciles before
    /// this returns: pooled containers adopted or reaped, interrupted environments and runs
    /// settled ([`Services::startup_report`]).
    pub async fn open(config: &Config, access: Access) -> Result<Services> {
        let store = Arc::new(SqliteStore::open_in_dir(&config.state_dir)?);
        let (ownership, lock) = match &access {
            Access::Records | Access::Read => (None, None),
            Access::Own(ownership) => {
                let lock = StateLock::acquire(
                    &config.state_dir,
                    &ownership.holder,
                    ownership.wait,
                    |holder| tracing::info!(%holder, "waiting for the owner of the state"),
                )
                .await?;
                (Some(ownership), Some(lock))
            }
            Access::OwnIfFree(ownership) => {
                match StateLock::try_acquire(&config.state_dir, &ownership.holder)? {
                    Some(lock) => (Some(ownership), Some(lock)),
                    None => (None, None),
                }
            }
        };
        let mut services = Services {
            config: config.clone(),
            store,
            engine: None,
            lock,
            startup: StartupReport::default(),
        };
        if !matches!(access, Access::Records) {
            services.engine = Some(services.connect(ownership).await?);
        }
        if services.owns() {
            services.recover().await?;
        }
        Ok(services)
    }

    async fn connect(&self, ownership: Option<&Ownership>) -> Result<Engine> {
        let runtime = Arc::new(self.config.engine.connect().await?);
        let dyn_runtime: Arc<dyn Runtime> = runtime.clone();
        let store: Arc<dyn Store> = self.store.clone();
        let provision = &self.config.provision;
        let cache = GitRepoCache::new(ProvisionSetup::repo_cache_dir(&self.config.state_dir))
            .with_url_template(&provision.url_template)?;
        let provisioner = Provisioner::new(
            dyn_runtime.clone(),
            Arc::new(cache),
            store.instance_id(),
            provision.config.clone(),
        )?;
        let pools = &self.config.pools;
        let pool = match ownership {
            Some(ownership) => {
                let mut builder = WarmPool::builder(dyn_runtime.clone(), store.clone())
                    .with_settings(slipway_pool::PoolSettings {
                        refill: ownership.refill,
                        ..pools.settings.clone()
                    });
                for pool in &pools.pools {
                    builder = builder.with_pool(pool.clone());
                }
                if let Some(base) = self.base_pool(dyn_runtime.as_ref(), &provisioner).await? {
                    builder = builder.with_pool(base);
                }
                PoolHandle::Owned(builder.start().await?)
            }
            None => PoolHandle::Viewed(Arc::new(PoolView::new(
                dyn_runtime.clone(),
                store.clone(),
                pools.settings.clone(),
                pools.pools.clone(),
                self.owner_hint(),
            ))),
        };
        // Runs draw on the budget the pool and environments use, shared through the store.
        let memory_budget = match &pool {
            PoolHandle::Owned(pool) => pool.memory().1,
            PoolHandle::Viewed(_) => pools.settings.budget.resolve(
                slipway_core::Engine::info(runtime.as_ref())
                    .await?
                    .total_memory_bytes,
            ),
        };
        let pool_trait: Arc<dyn Pool> = match &pool {
            PoolHandle::Owned(pool) => Arc::new(pool.clone()),
            PoolHandle::Viewed(view) => view.clone(),
        };
        let environments = Arc::new(Environments::new(
            dyn_runtime.clone(),
            pool_trait,
            store.clone(),
            Arc::new(provisioner),
            provision.environments.clone(),
        ));
        let settings = &provision.environments;
        let wants_ready = !settings.ready_repos.is_empty() || settings.ready_recent > 0;
        let ready_keeper = (wants_ready && ownership.is_some_and(|o| o.refill)).then(|| {
            let environments = Arc::clone(&environments);
            tokio::spawn(async move { environments.keep_ready(READY_REFRESH).await })
        });
        let sidecar = BuildkitSidecar::new(
            dyn_runtime.clone(),
            store.instance_id(),
            self.config.runs.buildkit.clone(),
        )?;
        let runs = RunManager::new(
            dyn_runtime.clone(),
            dyn_runtime,
            store.clone(),
            Arc::new(sidecar),
            store.instance_id(),
        )
        .with_labels(self.config.runs.labels.clone())
        .with_memory_budget(memory_budget);
        Ok(Engine {
            runtime,
            pool,
            environments,
            runs,
            ready_keeper,
        })
    }

    /// The warm pool of the environments' base image, when one is configured and its image
    /// is here (a missing image is reported, not fatal: creates then say what is missing).
    async fn base_pool(
        &self,
        runtime: &dyn Runtime,
        provisioner: &Provisioner,
    ) -> Result<Option<slipway_core::PoolConfig>> {
        let settings = &self.config.provision.environments;
        let Some(config) = Environments::base_pool(provisioner, settings)? else {
            return Ok(None);
        };
        if !runtime.image_exists(&config.spec.image).await? {
            tracing::warn!(image = %config.spec.image, "the base image is missing: no warm environments until it is built or loaded");
            return Ok(None);
        }
        provisioner.ensure_environment_network().await?;
        Ok(Some(config))
    }

    /// Start-up recovery: once, by the owner, after the pool adopted what it could.
    async fn recover(&mut self) -> Result<()> {
        let engine = self.engine_part()?;
        let environments = engine.environments.recover().await?;
        let runs = engine.runs.recover_idle_for(RUN_RECOVERY_GRACE).await?;
        let pool = match &engine.pool {
            PoolHandle::Owned(pool) => pool.reconciled(),
            PoolHandle::Viewed(_) => Reconciled::default(),
        };
        self.startup = StartupReport {
            pool,
            environments,
            runs,
        };
        Ok(())
    }

    fn owner_hint(&self) -> String {
        let dir = self.config.state_dir.display();
        match StateLock::holder(&self.config.state_dir) {
            Some(holder) => format!("the state in {dir} is owned by {holder}"),
            None => format!("only the owner of the state in {dir} may"),
        }
    }

    fn engine_part(&self) -> Result<&Engine> {
        self.engine.as_ref().ok_or_else(|| {
            Error::invalid(
                "services",
                "opened for records only; open them with Access::Read or Access::Own",
            )
        })
    }

    /// The configuration the services were opened with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Whether this process owns the state (holds its lock).
    pub fn owns(&self) -> bool {
        self.lock.is_some()
    }

    /// What start-up recovery settled (empty unless this process owns the state).
    pub fn startup_report(&self) -> &StartupReport {
        &self.startup
    }

    /// The engine.
    pub fn runtime(&self) -> Result<Arc<dyn Runtime>> {
        Ok(self.engine_part()?.runtime.clone())
    }

    /// The engine as its concrete client (benchmarks compare it with raw bollard calls).
    pub fn docker(&self) -> Result<Arc<DockerRuntime>> {
        Ok(self.engine_part()?.runtime.clone())
    }

    /// Environments.
    pub fn environments(&self) -> Result<&Environments> {
        Ok(&self.engine_part()?.environments)
    }

    /// Runs with Docker inside.
    pub fn runs(&self) -> Result<&RunManager> {
        Ok(&self.engine_part()?.runs)
    }

    /// The pools (run by this process when it owns the state, else a read-only view).
    pub fn pool(&self) -> Result<&dyn Pool> {
        Ok(match &self.engine_part()?.pool {
            PoolHandle::Owned(pool) => pool,
            PoolHandle::Viewed(view) => view.as_ref(),
        })
    }

    /// Every pool's state and the memory budget.
    pub async fn pool_report(&self) -> Result<PoolReport> {
        self.pool()?.status().await
    }

    /// Stops background work (the pools' refill and health watch, the ready environments'
    /// keeper), waiting at most `timeout` for creations under way; containers stay for the
    /// next owner to adopt.
    pub async fn stop_background(&self, timeout: Duration) -> Result<()> {
        if let Some(keeper) = self.engine.as_ref().and_then(|e| e.ready_keeper.as_ref()) {
            keeper.abort();
        }
        if let Some(Engine {
            pool: PoolHandle::Owned(pool),
            ..
        }) = &self.engine
        {
            pool.shutdown(timeout).await?;
        }
        Ok(())
    }

    /// [`Services::stop_background`], then lets go of the state.
    pub async fn shutdown(self, timeout: Duration) -> Result<()> {
        self.stop_background(timeout).await?;
        drop(self.lock);
        Ok(())
    }
}
