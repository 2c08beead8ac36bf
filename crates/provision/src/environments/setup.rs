//! Setting an environment up: the provisioner's phases, followed into the record and passed
//! on as events that name the environment.

use std::sync::Arc;

use slipway_core::prelude::*;
use slipway_core::{EnvironmentRecord, EnvironmentStatus, Error, PhaseTiming, Result, Timestamp};

use super::{Environments, NewEnvironment};
use crate::provisioner::{Phase, SetupEvent, SetupRequest};

/// One event of one environment's setup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EnvironmentEvent {
    /// The environment.
    pub environment: String,
    /// What happened.
    #[serde(flatten)]
    pub event: SetupEvent,
}

/// Where environment events go; a closed receiver is not an error.
pub type EnvironmentEvents = tokio::sync::mpsc::UnboundedSender<EnvironmentEvent>;

/// Marks an environment busy for as long as it lives.
struct Busy<'a> {
    environments: &'a Environments,
    id: String,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.environments
            .busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

impl Environments {
    /// [`Environments::create`] for the request's repo (a ready environment of it when there
    /// is one, see [`Environments::fill_ready`]), then [`Environments::setup`].
    pub async fn up(
        &self,
        name: Option<String>,
        request: SetupRequest,
        events: Option<EnvironmentEvents>,
    ) -> Result<EnvironmentRecord> {
        request.validate()?;
        let record = self
            .create(NewEnvironment {
                name,
                repo: Some(request.repo.clone()),
                ..NewEnvironment::default()
            })
            .await?;
        self.setup(&record.id, request, events).await
    }

    /// Sets up `request` in environment `id`, following the phases into its record and
    /// passing every event on to `events`. On failure the record ends in `error` with the
    /// message and the container stays (its logs tell what happened) until destroyed. One
    /// setup at a time per environment; an environment made for one repo takes no other.
    pub async fn setup(
        &self,
        id: &str,
        mut request: SetupRequest,
        events: Option<EnvironmentEvents>,
    ) -> Result<EnvironmentRecord> {
        request.validate()?;
        let _busy = self.mark_busy(id)?;
        let mut record = self.wake(id).await?;
        let container = record
            .container_id
            .clone()
            .ok_or_else(|| Error::Conflict(format!("environment `{id}` has no container yet")))?;
        if let Some(repo) = record.repo.as_ref().filter(|repo| **repo != request.repo) {
            return Err(Error::invalid(
                "repository",
                format!(
                    "environment `{id}` was made for {repo} (its dependency store is {repo}'s); \
                     create another one for {}",
                    request.repo
                ),
            ));
        }
        if let Some(ready) = self.settle_taken(&record, &request, events.as_ref()).await {
            return Ok(ready);
        }
        if request.credentials.is_none() {
            request.credentials.clone_from(&self.settings.credentials);
        }
        record.repo = Some(request.repo.clone());
        if !super::ready::is_ready(&record) {
            self.note_set_up(&request.repo);
        }
        record.branch.clone_from(&request.branch);
        record.error = None;
        record.phases.clear();

        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel::<SetupEvent>();
        let follower = tokio::spawn(follow(
            Arc::clone(&self.store),
            record.clone(),
            receiver,
            events,
        ));
        let outcome = self
            .provisioner
            .setup(&container, &request, Some(&sender))
            .await;
        drop(sender);
        if let Ok(phases) = follower.await {
            record.phases = phases;
        }

        record.updated_at = Timestamp::now();
        match outcome {
            Ok(outcome) => {
                record.status = EnvironmentStatus::Ready;
                record.branch = Some(outcome.branch);
                self.store.put_environment(&record).await?;
                Ok(record)
            }
            Err(error) => {
                let error = Error::from(error);
                record.status = EnvironmentStatus::Error;
                record.error = Some(error.to_string());
                self.store.put_environment(&record).await?;
                Err(error)
            }
        }
    }

    fn mark_busy(&self, id: &str) -> Result<Busy<'_>> {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        if !busy.insert(id.to_owned()) {
            return Err(Error::Conflict(format!(
                "environment `{id}` is already being set up"
            )));
        }
        Ok(Busy {
            environments: self,
            id: id.to_owned(),
        })
    }
}

/// Writes each phase into the record as it begins and passes every event on.
async fn follow(
    store: Arc<dyn Store>,
    mut record: EnvironmentRecord,
    mut receiver: tokio::sync::mpsc::UnboundedReceiver<SetupEvent>,
    events: Option<EnvironmentEvents>,
) -> Vec<PhaseTiming> {
    while let Some(event) = receiver.recv().await {
        let status = match event.phase {
            Phase::Cloning => Some(EnvironmentStatus::Cloning),
            Phase::Installing => Some(EnvironmentStatus::Installing),
            Phase::Starting => Some(EnvironmentStatus::Starting),
            _ => None,
        };
        if status.is_some() && !event.started {
            let name = event.phase.as_str();
            if let Some(timing) = record.phases.iter_mut().rev().find(|t| t.phase == name) {
                timing.duration_ms = event.duration_ms;
            }
        }
        if let Some(status) = status.filter(|_| event.started) {
            record.phases.push(PhaseTiming {
                phase: event.phase.as_str().to_owned(),
                started_at: event.at,
                duration_ms: None,
            });
            record.status = status;
            record.updated_at = Timestamp::now();
            if let Err(e) = store.put_environment(&record).await {
                tracing::warn!(environment = %record.id, error = %e, "failed to record a phase");
            }
        }
        if let Some(events) = &events {
            let _ = events.send(EnvironmentEvent {
                environment: record.id.clone(),
                event,
            });
        }
    }
    record.phases
}
