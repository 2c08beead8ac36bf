//! Settling what a crash left: records without a container, claims without a record, and
//! setups that were under way. Run by the process that owns the state, once, at start.

use std::collections::HashSet;

use slipway_core::{EnvironmentStatus, Error, Result, Timestamp};

use super::Environments;

/// What [`Environments::recover`] settled.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RecoveryReport {
    /// Records of environments that never got their container, deleted.
    pub forgotten: Vec<String>,
    /// Containers claimed for environments that were never recorded, given back.
    pub released: Vec<String>,
    /// Environments whose setup was interrupted (or whose container is gone), now `error`.
    pub interrupted: Vec<String>,
}

impl Environments {
    /// Settles what an earlier process left. Only the owner of the state calls this, when no
    /// creation or setup of another process can be under way.
    pub async fn recover(&self) -> Result<RecoveryReport> {
        let mut report = RecoveryReport::default();
        let records = self.store.environments().await?;
        let containers: HashSet<String> = records
            .iter()
            .filter_map(|r| r.container_id.as_ref().map(ToString::to_string))
            .collect();

        for lease in self.store.claims().await? {
            if !containers.contains(lease.container_id.as_str()) {
                // A crash between the claim and the record's update: nobody can reach it.
                self.pool.release(&lease).await?;
                report.released.push(lease.container_id.to_string());
            }
        }

        for mut record in records {
            let Some(container) = record.container_id.clone() else {
                self.store.delete_environment(&record.id).await?;
                report.forgotten.push(record.id);
                continue;
            };
            let gone = matches!(
                self.runtime.inspect_container(&container).await,
                Err(Error::NotFound { .. })
            );
            let reason = if gone {
                Some("its container is gone".to_owned())
            } else if record.status.is_in_progress() {
                Some(format!(
                    "interrupted while {}: the slipway process doing it stopped",
                    record.status
                ))
            } else {
                None
            };
            let Some(reason) = reason.filter(|_| record.status != EnvironmentStatus::Error) else {
                continue;
            };
            record.status = EnvironmentStatus::Error;
            record.error = Some(reason);
            record.updated_at = Timestamp::now();
            self.store.put_environment(&record).await?;
            report.interrupted.push(record.id);
        }
        Ok(report)
    }
}
