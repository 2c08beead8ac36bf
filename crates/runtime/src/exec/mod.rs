//! Commands run to completion inside a container, with a timeout that really kills.
//!
//! The engine has no API to kill an exec. Every exec gets a unique marker in its
//! environment, which every process it starts inherits; on timeout a second exec stops, then
//! kills, every process whose environment carries the marker, and checks none is left.

use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::{Stream, StreamExt};
use slipway_core::prelude::*;
use slipway_core::{
    validate_env_key, ContainerId, Error, ExecId, ExecOutcome, ExecRequest, Result, TtyRequest,
    TtySession, TtySize,
};
use tokio::io::AsyncWriteExt;

use crate::error::{IntoCore, RuntimeError};
use crate::DockerRuntime;

/// The environment variable carrying an exec's marker.
const MARKER_VAR: &str = "SLIPWAY_EXEC_ID";

/// Stops every marked process (so none can fork), kills them, then confirms none is left.
/// Zombies have an empty environ and no longer match. Needs `sh`, `tr`, `grep` and `kill`.
const KILL_MARKED: &str = r#"m="SLIPWAY_EXEC_ID=$1"
marked() { for d in /proc/[0-9]*; do tr '\0' '\n' <"$d/environ" 2>/dev/null | grep -qxF "$m" && echo "${d#/proc/}"; done; }
for sig in STOP KILL; do for p in $(marked); do kill -s "$sig" "$p" 2>/dev/null; done; done
tries=0
while [ -n "$(marked)" ]; do
  tries=$((tries + 1)); [ "$tries" -gt 100 ] && exit 1
  for p in $(marked); do kill -s KILL "$p" 2>/dev/null; done
done"#;

/// How long to wait for the engine to record an exit code after the output stream ends.
const EXIT_CODE_GRACE: Duration = Duration::from_secs(2);

fn unique_marker() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{nanos:x}-{:x}-{:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Output captured so far, kept outside the collecting future so a timeout does not lose it.
#[derive(Default)]
struct Captured {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    truncated: bool,
}

impl Captured {
    fn push(&mut self, chunk: LogOutput, limit: usize) {
        let (target, bytes) = match chunk {
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                (&mut self.stdout, message)
            }
            LogOutput::StdErr { message } => (&mut self.stderr, message),
            LogOutput::StdIn { .. } => return,
        };
        let room = limit.saturating_sub(target.len());
        if bytes.len() > room {
            self.truncated = true;
        }
        target.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

async fn drain<S>(
    mut output: S,
    captured: &mut Captured,
    limit: usize,
) -> Result<(), bollard::errors::Error>
where
    S: Stream<Item = Result<LogOutput, bollard::errors::Error>> + Unpin,
{
    while let Some(chunk) = output.next().await {
        captured.push(chunk?, limit);
    }
    Ok(())
}

#[async_trait]
impl Exec for DockerRuntime {
    async fn exec(&self, id: &ContainerId, request: &ExecRequest) -> Result<ExecOutcome> {
        if request.cmd.is_empty() {
            return Err(Error::invalid(
                "command",
                "is empty; give the program and its arguments",
            ));
        }
        for key in request.env.keys() {
            validate_env_key(key)?;
        }
        let marker = unique_marker();
        let mut env: Vec<String> = request
            .env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        env.push(format!("{MARKER_VAR}={marker}"));
        let exec_error = |source| RuntimeError::Exec {
            id: id.to_string(),
            source,
        };
        let created = self
            .docker
            .create_exec(
                id.as_str(),
                CreateExecOptions {
                    attach_stdin: Some(request.stdin.is_some()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    env: Some(env),
                    cmd: Some(request.cmd.clone()),
                    user: request.user.clone(),
                    working_dir: request.working_dir.clone(),
                    ..CreateExecOptions::default()
                },
            )
            .await
            .or_core(self, exec_error)?;
        let started = Instant::now();
        let attached = self
            .docker
            .start_exec(&created.id, Some(StartExecOptions::default()))
            .await
            .or_core(self, exec_error)?;
        let StartExecResults::Attached { output, mut input } = attached else {
            return Err(Error::backend(format!(
                "failed to run a command in container {id}: the engine detached it"
            )));
        };
        if let Some(stdin) = &request.stdin {
            // A command that exits without reading its input is not an error.
            if input.write_all(stdin).await.is_ok() {
                let _ = input.shutdown().await;
            }
        }
        drop(input);

        let mut captured = Captured::default();
        let finished = match request.timeout {
            None => Some(drain(output, &mut captured, request.output_limit).await),
            Some(limit) => {
                tokio::time::timeout(limit, drain(output, &mut captured, request.output_limit))
                    .await
                    .ok()
            }
        };
        let outcome = |exit_code, timed_out, captured: Captured| ExecOutcome {
            exit_code,
            stdout: captured.stdout,
            stderr: captured.stderr,
            truncated: captured.truncated,
            timed_out,
            duration: started.elapsed(),
        };
        match finished {
            Some(result) => {
                result.or_core(self, exec_error)?;
                let exit_code = self
                    .exit_code(&created.id)
                    .await
                    .or_core(self, exec_error)?;
                Ok(outcome(exit_code, false, captured))
            }
            None => {
                self.kill_marked(id, &marker).await?;
                tracing::debug!(container = %id, cmd = ?request.cmd, "killed a command at its timeout");
                Ok(outcome(None, true, captured))
            }
        }
    }

    async fn exec_tty(&self, id: &ContainerId, request: &TtyRequest) -> Result<TtySession> {
        self.open_tty(id, request).await
    }

    async fn resize_tty(&self, exec: &ExecId, size: TtySize) -> Result<()> {
        self.resize(exec, size).await
    }
}

impl DockerRuntime {
    async fn exit_code(&self, exec_id: &str) -> Result<Option<i64>, bollard::errors::Error> {
        let deadline = Instant::now() + EXIT_CODE_GRACE;
        loop {
            let inspected = self.docker.inspect_exec(exec_id).await?;
            if inspected.running != Some(true) || Instant::now() >= deadline {
                return Ok(inspected.exit_code);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Kills every process carrying `marker` in its environment, and confirms they are gone.
    async fn kill_marked(&self, id: &ContainerId, marker: &str) -> Result<()> {
        let kill_error = |source| RuntimeError::KillExec {
            id: id.to_string(),
            source,
        };
        let created = self
            .docker
            .create_exec(
                id.as_str(),
                CreateExecOptions::<String> {
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    cmd: Some(vec![
                        "/bin/sh".into(),
                        "-c".into(),
                        KILL_MARKED.into(),
                        "sh".into(),
                        marker.into(),
                    ]),
                    user: Some("0".into()),
                    ..CreateExecOptions::default()
                },
            )
            .await
            .or_core(self, kill_error)?;
        let mut captured = Captured::default();
        if let StartExecResults::Attached { output, .. } = self
            .docker
            .start_exec(&created.id, Some(StartExecOptions::default()))
            .await
            .or_core(self, kill_error)?
        {
            drain(output, &mut captured, 64 * 1024)
                .await
                .or_core(self, kill_error)?;
        }
        match self.exit_code(&created.id).await.or_core(self, kill_error)? {
            Some(0) => Ok(()),
            code => Err(Error::backend(format!(
                "failed to kill a timed-out command in container {id}: the killer exited with {code:?} ({})",
                String::from_utf8_lossy(&captured.stderr).trim()
            ))),
        }
    }
}
