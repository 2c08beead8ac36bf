//! mockall mocks of every trait, for unit tests of the crates that use them. Hand-written
//! fakes (an in-memory engine and store) live in `slipway-testkit`.

pub use crate::network::MockNetwork;
pub use crate::pool::MockPool;
pub use crate::repo::MockRepoCache;
pub use crate::runtime::{
    MockContainers, MockEngine, MockExec, MockFiles, MockImageBuild, MockImages, MockVolumes,
};
pub use crate::sidecar::MockSidecar;
pub use crate::store::{
    MockAuditLog, MockBudgetStore, MockBuildStore, MockClaimStore, MockEnvironmentStore,
    MockLeaseStore, MockRunStore,
};
