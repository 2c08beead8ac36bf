//! slipway's application layer: what any frontend needs, named once.
//!
//! - [`config`]: the `slipway.toml` schema, layered over the libraries' defaults with the
//!   environment (through a lookup closure) and flags on top; the plain-TCP refusal; TLS
//!   through the runtime's `Endpoint`; git credentials.
//! - [`Services`]: one engine client, one store, the pool, [`Environments`] and
//!   [`RunManager`]; opened for reading, or as the one owner of the state directory
//!   ([`StateLock`]), which reconciles once at start.
//! - [`doctor`]: the host checks as data.
//! - [`logging`]: the binaries' log setup, with the engine client's bodies kept out.
//!
//! This is the only crate that names concrete types; the CLI and the API sit on it.
//!
//! # Example
//!
//! ```no_run
//! use slipway_app::{Access, Config, Overrides, Services};
//!
//! # async fn demo() -> slipway_core::Result<()> {
//! let config = Config::load(&Overrides::default(), &|key| std::env::var(key).ok())?;
//! let services = Services::open(&config, Access::Read).await?;
//! for environment in services.environments()?.list().await? {
//!     println!("{} {}", environment.id, environment.status);
//! }
//! services.shutdown(std::time::Duration::from_secs(5)).await?;
//! # Ok(()) }
//! ```
//!
//! [`Environments`]: slipway_provision::Environments
//! [`RunManager`]: slipway_buildkit::RunManager

pub mod config;
pub mod doctor;
pub mod logging;
pub mod maintenance;
mod pool_view;
mod services;
mod state_lock;

pub use config::{Config, Overrides};
pub use pool_view::PoolView;
pub use services::{Access, Ownership, Services, StartupReport};
pub use state_lock::{Holder, LockWait, StateLock, LOCK_FILE};
