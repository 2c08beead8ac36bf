//! The [`Store`] implementation: each method runs one module's SQL on the blocking thread.

use async_trait::async_trait;
use slipway_core::{
    AuditEntry, AuditEvent, AuditFilter, AuditVerification, BuildRecord, ContainerId,
    EnvironmentRecord, Error, InstanceId, Lease, PortLease, PortLeaseRequest, Result, RunId,
    RunRecord, Store,
};

use crate::ports::Leased;
use crate::sqlite_store::SqliteStore;
use crate::{audit, ports, records};

#[async_trait]
impl Store for SqliteStore {
    fn instance_id(&self) -> InstanceId {
        self.instance()
    }

    async fn put_environment(&self, record: &EnvironmentRecord) -> Result<()> {
        let record = record.clone();
        self.with_conn(move |conn| records::put_environment(conn, &record))
            .await
    }

    async fn environment(&self, id: &str) -> Result<Option<EnvironmentRecord>> {
        let id = id.to_owned();
        self.with_conn(move |conn| records::environment(conn, &id))
            .await
    }

    async fn environments(&self) -> Result<Vec<EnvironmentRecord>> {
        self.with_conn(|conn| records::environments(conn)).await
    }

    async fn delete_environment(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.with_conn(move |conn| records::delete_environment(conn, &id))
            .await
    }

    async fn put_run(&self, record: &RunRecord) -> Result<()> {
        let record = record.clone();
        self.with_conn(move |conn| records::put_run(conn, &record))
            .await
    }

    async fn run(&self, id: &RunId) -> Result<Option<RunRecord>> {
        let id = id.clone();
        self.with_conn(move |conn| records::run(conn, &id)).await
    }

    async fn runs(&self) -> Result<Vec<RunRecord>> {
        self.with_conn(|conn| records::runs(conn)).await
    }

    async fn lease_port(&self, request: &PortLeaseRequest) -> Result<PortLease> {
        let request = request.clone();
        let range = request.range;
        match self.with_conn(move |conn| ports::lease_port(conn, &request)).await? {
            Leased::Port(lease) => Ok(lease),
            Leased::Exhausted => Err(Error::CapacityExceeded(format!(
                "every host port in {range} is leased or busy; release environments or widen the range"
            ))),
        }
    }

    async fn release_port(&self, port: u16) -> Result<bool> {
        self.with_conn(move |conn| ports::release_port(conn, port))
            .await
    }

    async fn port_leases(&self) -> Result<Vec<PortLease>> {
        self.with_conn(|conn| ports::port_leases(conn)).await
    }

    async fn record_claim(&self, lease: &Lease) -> Result<()> {
        let lease = lease.clone();
        self.with_conn(move |conn| records::record_claim(conn, &lease))
            .await
    }

    async fn claims(&self) -> Result<Vec<Lease>> {
        self.with_conn(|conn| records::claims(conn)).await
    }

    async fn remove_claim(&self, container: &ContainerId) -> Result<bool> {
        let container = container.clone();
        self.with_conn(move |conn| records::remove_claim(conn, &container))
            .await
    }

    async fn record_build(&self, record: &BuildRecord) -> Result<()> {
        let record = record.clone();
        self.with_conn(move |conn| records::record_build(conn, &record))
            .await
    }

    async fn builds(&self, limit: usize) -> Result<Vec<BuildRecord>> {
        self.with_conn(move |conn| records::builds(conn, limit))
            .await
    }

    async fn append_audit(&self, event: &AuditEvent) -> Result<AuditEntry> {
        let event = event.clone();
        self.with_conn(move |conn| audit::append(conn, &event))
            .await
    }

    async fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let filter = filter.clone();
        self.with_conn(move |conn| audit::entries(conn, &filter))
            .await
    }

    async fn verify_audit(&self) -> Result<AuditVerification> {
        self.with_conn(|conn| audit::verify(conn)).await
    }
}
