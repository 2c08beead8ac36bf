//! Test support for slipway's crates; never shipped.
//!
//! | module | holds |
//! |---|---|
//! | [`FakeRuntime`] | an in-memory engine: every capability trait of `slipway-core`, call recording, injected failures, held calls |
//! | [`MemoryStore`] | an in-memory `Store` with the SQLite store's rules |
//! | [`FakeRepoCache`] | repositories in memory, behind the `RepoCache` trait |
//! | [`engine`] | tests against a real engine: one skip-or-fail rule, unique names, label-scoped cleanup |
//! | [`synthetic`] | synthetic git repositories (a hermetic node app, filler files) and a `git daemon` |
//! | [`http`] | HTTP GETs to loopback servers that wait until they answer |
//! | [`git_http`] | a smart-HTTP git remote (Basic auth, TLS, redirects) recording where credentials went |

mod fake_repo_cache;
mod fake_runtime;
mod fake_runtime_ops;
mod iter_stream;
mod memory_store;

pub mod engine;
pub mod git_http;
pub mod http;
pub mod synthetic;

pub use engine::{free_port_range, Need, TestEngine};
pub use fake_repo_cache::{tar_of, FakeRepoCache, Tree};
pub use fake_runtime::{FakeCall, FakeRuntime};
pub use memory_store::MemoryStore;
