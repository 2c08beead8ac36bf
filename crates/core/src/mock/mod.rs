//! Test doubles for other crates' tests: mockall mocks of every trait (re-exported here) and
//! hand-written in-memory fakes for stateful logic.

mod fake_runtime;
mod fake_runtime_ops;
mod iter_stream;
mod memory_store;

pub use fake_runtime::{FakeCall, FakeRuntime};
pub use memory_store::MemoryStore;

pub use crate::network::MockNetwork;
pub use crate::pool::MockPool;
pub use crate::repo::MockRepoCache;
pub use crate::runtime::MockRuntime;
pub use crate::sidecar::MockSidecar;
pub use crate::store::MockStore;
