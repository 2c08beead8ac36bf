//! [`ApiState`]: what every handler shares.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use slipway_app::Services;
use slipway_core::{Error, Result};

use crate::auth::Secrets;
use crate::callbacks::Callbacks;
use crate::container_keys::ContainerKeys;
use crate::health::Health;
use crate::idle::Activity;
use crate::log_hub::LogHub;
use crate::metrics::Metrics;
use crate::terminal::Sessions;
use crate::tickets::Tickets;

/// The directory, inside the state directory, where running setups keep their callback.
const CALLBACKS_DIR: &str = "callbacks";
/// The directory, inside the state directory, of the containers' callback-secret keys.
const KEYS_DIR: &str = "keys";

/// The services, the valid secrets, the health snapshot and the callback queues.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    services: Arc<Services>,
    secrets: Secrets,
    health: Health,
    callbacks: Callbacks,
    /// Each container's callback secret, as a key to its terminal and logs.
    keys: ContainerKeys,
    started: Instant,
    /// Environments with a setup under way (one at a time each).
    setups: Mutex<HashSet<String>>,
    /// When each environment was last used.
    activity: Activity,
    /// Each environment's recent output.
    log_hub: LogHub,
    /// Open terminal sessions.
    terminals: Arc<Sessions>,
    /// What `/metrics` reports.
    metrics: Metrics,
    /// Single-use tickets for browsers.
    tickets: Tickets,
    /// Where each detached terminal's client stopped reading.
    detaches: Mutex<std::collections::HashMap<String, u64>>,
    /// Held while a create with an idempotency key looks for an earlier one and records its
    /// own, so two retries racing each other still make one environment.
    idempotent_creates: tokio::sync::Mutex<()>,
}

impl ApiState {
    /// State over `services` accepting `secrets`. Callbacks follow the server settings of
    /// the services' configuration.
    pub fn new(services: Arc<Services>, secrets: Secrets) -> Result<Self> {
        let server = &services.config().server;
        let callbacks = Callbacks::new(
            services.config().state_dir.join(CALLBACKS_DIR),
            server.callback_timeout,
            server.callback_attempts,
        )?;
        let log_lines = server.log_buffer_lines;
        let keys = ContainerKeys::new(services.config().state_dir.join(KEYS_DIR));
        Ok(Self {
            inner: Arc::new(Inner {
                services,
                secrets,
                health: Health::default(),
                callbacks,
                keys,
                started: Instant::now(),
                setups: Mutex::default(),
                activity: Activity::default(),
                log_hub: LogHub::new(log_lines),
                terminals: Arc::default(),
                metrics: Metrics::default(),
                tickets: Tickets::default(),
                detaches: Mutex::default(),
                idempotent_creates: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The services.
    pub fn services(&self) -> &Arc<Services> {
        &self.inner.services
    }

    /// The valid secrets.
    pub fn secrets(&self) -> &Secrets {
        &self.inner.secrets
    }

    /// The health snapshot.
    pub fn health(&self) -> &Health {
        &self.inner.health
    }

    /// The callback queues.
    pub fn callbacks(&self) -> &Callbacks {
        &self.inner.callbacks
    }

    pub(crate) fn keys(&self) -> &ContainerKeys {
        &self.inner.keys
    }

    /// When the server started.
    pub fn started(&self) -> Instant {
        self.inner.started
    }

    /// Marks environment `id` as used now (for the idle policy).
    pub fn touch(&self, id: &str) {
        self.inner.activity.touch(id);
    }

    pub(crate) fn tickets(&self) -> &Tickets {
        &self.inner.tickets
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub(crate) fn terminals(&self) -> &Arc<Sessions> {
        &self.inner.terminals
    }

    /// Notes that terminal `session`'s client went away having been sent `position` bytes.
    pub(crate) fn remember_detach(&self, session: &str, position: u64) {
        self.inner
            .detaches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(session.to_owned(), position);
    }

    /// Where terminal `session`'s last client stopped (0: it never detached).
    pub(crate) fn detached_at(&self, session: &str) -> u64 {
        self.inner
            .detaches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(session)
            .unwrap_or(0)
    }

    pub(crate) fn log_hub(&self) -> &LogHub {
        &self.inner.log_hub
    }

    pub(crate) fn activity(&self) -> &Activity {
        &self.inner.activity
    }

    pub(crate) fn downgrade(&self) -> std::sync::Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    pub(crate) fn upgrade(inner: &std::sync::Weak<Inner>) -> Option<ApiState> {
        inner.upgrade().map(|inner| ApiState { inner })
    }

    pub(crate) async fn idempotency_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.idempotent_creates.lock().await
    }

    /// Marks `id` as being set up; a conflict if it already is.
    pub(crate) fn begin_setup(&self, id: &str) -> Result<SetupGuard> {
        let mut setups = self.inner.setups.lock().unwrap_or_else(|e| e.into_inner());
        if !setups.insert(id.to_owned()) {
            return Err(Error::Conflict(format!(
                "container `{id}` is already being set up"
            )));
        }
        Ok(SetupGuard {
            state: self.clone(),
            id: id.to_owned(),
        })
    }

    /// Starts the health probe and reports setups a crash interrupted; call once, in the
    /// process that serves.
    pub fn start_background(&self) {
        self.inner
            .health
            .spawn_probe(Arc::downgrade(&self.inner.services));
        crate::setup::report_interrupted(self);
        self.spawn_idle_watch();
        let state = self.clone();
        tokio::spawn(async move {
            let store = state.services().store();
            state
                .keys()
                .purge(|id| {
                    let store = store.clone();
                    async move { store.environment(&id).await.ok().flatten() }
                })
                .await;
        });
    }

    /// Waits until the first health look is done (at most `timeout`).
    pub async fn first_look(&self, timeout: Duration) {
        let _ =
            tokio::time::timeout(timeout, self.inner.health.refresh(&self.inner.services)).await;
    }
}

/// Clears an environment's "setting up" mark when dropped.
pub(crate) struct SetupGuard {
    state: ApiState,
    id: String,
}

impl Drop for SetupGuard {
    fn drop(&mut self) {
        self.state
            .inner
            .setups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}
