//! The idle policy: an environment created with `autoStopMinutes` that nobody used (an API
//! call about it, a setup, an exec) for that long is stopped; the next setup or exec starts
//! it again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use slipway_core::EnvironmentStatus;

use crate::state::ApiState;

/// How often idle environments are looked for.
pub const IDLE_CHECK: Duration = Duration::from_secs(30);

/// When each environment was last used, as this process saw it.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    last: Mutex<HashMap<String, Instant>>,
}

impl Activity {
    pub(crate) fn touch(&self, id: &str) {
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_owned(), Instant::now());
    }

    fn last_used(&self, id: &str, default: Instant) -> Instant {
        *self
            .last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id.to_owned())
            .or_insert(default)
    }
}

impl ApiState {
    /// Stops every environment idle for longer than its `autoStopMinutes` as of `now`;
    /// returns their ids. An environment never seen by this process counts from its start.
    pub async fn stop_idle(&self, now: Instant) -> Vec<String> {
        let Ok(environments) = self.services().environments() else {
            return Vec::new();
        };
        let Ok(records) = environments.list().await else {
            return Vec::new();
        };
        let mut stopped = Vec::new();
        for record in records {
            let Some(minutes) = record.auto_stop_minutes else {
                continue;
            };
            let busy =
                record.status.is_in_progress() || record.status == EnvironmentStatus::Stopped;
            let idle = now
                .saturating_duration_since(self.activity().last_used(&record.id, self.started()));
            if busy || idle < Duration::from_secs(u64::from(minutes) * 60) {
                continue;
            }
            match environments.stop(&record.id).await {
                Ok(_) => {
                    tracing::info!(container = %record.id, minutes, "stopped for being idle");
                    stopped.push(record.id);
                }
                Err(error) => {
                    tracing::warn!(container = %record.id, %error, "failed to stop an idle environment")
                }
            }
        }
        stopped
    }

    /// Looks for idle environments every [`IDLE_CHECK`] while the state lives.
    pub(crate) fn spawn_idle_watch(&self) {
        let state = self.downgrade();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(IDLE_CHECK).await;
                let Some(state) = ApiState::upgrade(&state) else {
                    return;
                };
                state.stop_idle(Instant::now()).await;
            }
        });
    }
}
