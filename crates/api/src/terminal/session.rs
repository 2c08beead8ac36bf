//! A terminal session: an interactive shell in an environment that outlives a dropped
//! socket for a grace period, keeping what it printed in a ring so a reattaching client gets
//! what it missed (as Coder's reconnecting PTY does).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use slipway_core::prelude::*;
use slipway_core::{ContainerId, ExecId, ExecRequest, Result, TtyInput, TtyRequest, TtySize};
use tokio::sync::{broadcast, watch};

/// Bytes of output a session keeps for reattaching clients.
const RING_BYTES: usize = 256 << 10;

/// Where the shell writes its pid, so ending the session can end everything in it.
fn pid_file(session: &str) -> String {
    format!("/tmp/.slipway-tty-{session}")
}

/// The shell: bash when the image has it, else sh; its pid (the session leader's) on record.
fn shell_command(session: &str) -> Vec<String> {
    let script = format!(
        "echo $$ > {}; command -v bash >/dev/null 2>&1 && exec bash -i; exec sh -i",
        pid_file(session)
    );
    vec!["/bin/sh".into(), "-c".into(), script]
}

/// Kills every process of the shell's session (the shell, its jobs, what they started).
fn kill_command(session: &str) -> Vec<String> {
    let file = pid_file(session);
    let script = format!(
        "sid=$(cat {file} 2>/dev/null) || exit 0; rm -f {file}; \
         for p in /proc/[0-9]*; do \
           read -r line < $p/stat 2>/dev/null || continue; \
           rest=${{line##*) }}; set -- $rest; \
           [ \"$4\" = \"$sid\" ] && kill -9 ${{p#/proc/}} 2>/dev/null; \
         done; exit 0"
    );
    vec!["/bin/sh".into(), "-c".into(), script]
}

/// Output kept for reattaching, with the count of every byte ever printed.
struct Ring {
    bytes: VecDeque<u8>,
    total: u64,
}

/// One shell.
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) environment: String,
    container: ContainerId,
    exec: ExecId,
    runtime: Arc<dyn Runtime>,
    input: tokio::sync::Mutex<Box<dyn TtyInput>>,
    ring: Mutex<Ring>,
    output: broadcast::Sender<Vec<u8>>,
    ended: watch::Sender<bool>,
    /// Bumped on every attach, so a grace timer knows whether its detach still stands.
    attachments: watch::Sender<u64>,
}

impl Session {
    /// The bytes printed after byte `from` that the ring still holds, and the position
    /// after them.
    pub(crate) fn since(&self, from: u64) -> (Vec<u8>, u64) {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let kept_from = ring.total - ring.bytes.len() as u64;
        let skip = from.saturating_sub(kept_from).min(ring.bytes.len() as u64) as usize;
        (ring.bytes.iter().skip(skip).copied().collect(), ring.total)
    }

    /// Bytes printed so far.
    pub(crate) fn position(&self) -> u64 {
        self.ring.lock().unwrap_or_else(|e| e.into_inner()).total
    }

    /// Live output from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Vec<u8>> {
        self.output.subscribe()
    }

    /// Whether (and from now on, when) the shell ended.
    pub(crate) fn ended(&self) -> watch::Receiver<bool> {
        self.ended.subscribe()
    }

    /// Types `data`.
    pub(crate) async fn write(&self, data: &[u8]) -> Result<()> {
        self.input.lock().await.write(data).await
    }

    /// Resizes the terminal.
    pub(crate) async fn resize(&self, cols: u16, rows: u16) -> Result<()> {
        self.runtime
            .resize_tty(&self.exec, TtySize { rows, cols })
            .await
    }

    /// Ends the shell and everything it started.
    pub(crate) async fn kill(&self) {
        let request =
            ExecRequest::new(kill_command(&self.id)).with_timeout(Duration::from_secs(10));
        if let Err(error) = self.runtime.exec(&self.container, &request).await {
            tracing::warn!(session = %self.id, %error, "failed to end a terminal's processes");
        }
        let _ = self.input.lock().await.close().await;
        self.ended.send_replace(true);
    }

    fn record(&self, chunk: &[u8]) {
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        ring.total += chunk.len() as u64;
        ring.bytes.extend(chunk);
        let excess = ring.bytes.len().saturating_sub(RING_BYTES);
        ring.bytes.drain(..excess);
    }
}

/// Every open terminal session of this process.
#[derive(Default)]
pub(crate) struct Sessions {
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

impl Sessions {
    /// Starts a shell in `container` of environment `environment`.
    pub(crate) async fn open(
        self: &Arc<Self>,
        runtime: Arc<dyn Runtime>,
        environment: &str,
        container: ContainerId,
        working_dir: &str,
        size: TtySize,
    ) -> Result<Arc<Session>> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut request = TtyRequest::new(shell_command(&id));
        request.working_dir = Some(working_dir.to_owned());
        request.size = size;
        request.env.insert("TERM".into(), "xterm-256color".into());
        let tty = runtime.exec_tty(&container, &request).await?;
        let session = Arc::new(Session {
            id: id.clone(),
            environment: environment.to_owned(),
            container,
            exec: tty.exec,
            runtime,
            input: tokio::sync::Mutex::new(tty.input),
            ring: Mutex::new(Ring {
                bytes: VecDeque::new(),
                total: 0,
            }),
            output: broadcast::channel(1024).0,
            ended: watch::channel(false).0,
            attachments: watch::channel(0).0,
        });
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), session.clone());
        let pumped = session.clone();
        let sessions = self.clone();
        let mut output = tty.output;
        tokio::spawn(async move {
            while let Some(Ok(chunk)) = output.next().await {
                pumped.record(&chunk);
                let _ = pumped.output.send(chunk);
            }
            pumped.ended.send_replace(true);
            sessions.remove(&pumped.id);
        });
        Ok(session)
    }

    /// The session `id` of environment `environment`, if it still runs.
    pub(crate) fn get(&self, id: &str, environment: &str) -> Option<Arc<Session>> {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .filter(|s| s.environment == environment && !*s.ended.borrow())
            .cloned()
    }

    /// How many sessions are open.
    pub(crate) fn count(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    fn remove(&self, id: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// A client attached to `session`.
    pub(crate) fn attached(&self, session: &Session) {
        session.attachments.send_modify(|n| *n += 1);
    }

    /// `session`'s client went away without closing it: unless one attaches within
    /// `grace`, the shell is ended.
    pub(crate) fn detached(self: &Arc<Self>, session: Arc<Session>, grace: Duration) {
        let attachment = *session.attachments.borrow();
        let sessions = self.clone();
        tokio::spawn(async move {
            let mut attachments = session.attachments.subscribe();
            let reattached = tokio::time::timeout(grace, async {
                while *attachments.borrow_and_update() == attachment {
                    if attachments.changed().await.is_err() {
                        return;
                    }
                }
            })
            .await;
            if reattached.is_err() {
                tracing::info!(session = %session.id, "terminal grace over: ending the shell");
                session.kill().await;
                sessions.remove(&session.id);
            }
        });
    }
}
