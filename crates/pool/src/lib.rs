//! `WarmPool`: containers created and started ahead of time, handed out in about a
//! millisecond, refilled in the background, and safe across restarts.
//!
//! A pool is keyed by a [`PoolKey`](slipway_core::PoolKey) derived from the container spec
//! ([`PoolConfig`]); each key keeps `target_size` ready containers (default 3), refilling at
//! most `max_creating` at a time (default 2), at once when fewer than `min_size` (default 1)
//! are ready and after a short delay otherwise.
//!
//! - **Claim** ([`Pool::claim`](slipway_core::Pool::claim)) takes a ready container (checked
//!   to be running) and records the hand-out in the store, whose uniqueness means no
//!   container is handed out twice, even by two processes. With none ready, a claim takes
//!   over a creation already under way, or creates one itself: it never waits longer than a
//!   cold create.
//! - **Capacity**: every container the pool holds or handed out counts its memory limit
//!   against one budget (by default the engine's memory minus 2 GiB); beyond it claims fail
//!   with `CapacityExceeded` saying what is used and free, and refill waits.
//! - **Ports**: published ports get host ports from a [`PortAllocator`] (default
//!   10000–20000, lowest free first, leased in the store); a port held by a foreign process
//!   is passed over.
//! - **Health**: ready containers that die or are removed behind the pool's back are evicted
//!   and replaced (engine events, and a check on claim).
//! - **Failures** back off exponentially; after `degrade_after` failures in a row the pool is
//!   reported degraded with its last error, so a missing image does not hot-loop.
//! - **Restarts**: a new pool over the same store adopts running members of configured
//!   pools as ready and leaves handed-out containers alone. Another unclaimed container of
//!   this state is removed only when the process that created it is gone (pid, start time
//!   and boot id are on its labels) or it is older than `stray_grace`: a pool key that is
//!   not configured in this process is no reason on its own.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use slipway_core::{ContainerSpec, Pool, PortBinding};
//! use slipway_pool::{PoolConfig, WarmPool};
//! use slipway_runtime::{DockerRuntime, Endpoint};
//! use slipway_store::SqliteStore;
//!
//! # async fn demo() -> slipway_core::Result<()> {
//! let runtime = Arc::new(DockerRuntime::builder(Endpoint::local()).bootstrap().await?);
//! let store = Arc::new(SqliteStore::open_in_dir(std::path::Path::new(".slipway"))?);
//! let spec = ContainerSpec::new("node:24-slim".parse()?)
//!     .with_cmd(["tail", "-f", "/dev/null"])
//!     .with_port(PortBinding::loopback(3000, None))
//!     .with_memory_limit(512 << 20);
//! let config = PoolConfig::new(spec);
//! let key = config.key();
//! let pool = WarmPool::builder(runtime, store).with_pool(config).start().await?;
//! pool.fill(&key).await?;
//! let lease = pool.claim(&key, "env-1").await?; // about a millisecond
//! println!("dev server port: {:?}", lease.host_port(3000));
//! pool.release(&lease).await?;
//! pool.shutdown(std::time::Duration::from_secs(5)).await?;
//! # Ok(()) }
//! ```

mod adopt;
mod budget;
mod builder;
mod claim;
mod config;
mod creator;
mod health;
mod inner;
mod members;
mod ports;
mod refill;
mod state;
mod warm_pool;

pub use adopt::Reconciled;
pub use budget::MemoryBudget;
pub use builder::WarmPoolBuilder;
pub use config::PoolSettings;
pub use creator::Creator;
pub use ports::PortAllocator;
pub use slipway_core::PoolConfig;
pub use warm_pool::WarmPool;
