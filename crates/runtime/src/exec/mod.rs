//! Commands run to completion inside a container, with a timeout that really kills.
//!
//! Every command runs through a tiny shim that first prints which process it is, then
//! replaces itself with the command. When the timeout passes, or the caller drops the
//! future, the command and everything it started is killed and that is confirmed
//! ([`kill`]'s docs say how). The command runs on a task of its own, so a dropped caller
//! can't leave it running.

mod capture;
mod kill;

use std::convert::Infallible;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use slipway_core::prelude::*;
use slipway_core::{
    ContainerId, Error, ExecId, ExecOutcome, ExecRequest, PipeRequest, PipeSession, Result,
    TtyRequest, TtySession, TtySize,
};
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

use crate::error::{IntoCore, RuntimeError};
use crate::DockerRuntime;
use capture::{drain, until_root, Captured};

/// How long to wait for the engine to record an exit code after the output stream ends.
const EXIT_CODE_GRACE: Duration = Duration::from_secs(2);

/// How long a timed-out command may take to say which process it is.
const ROOT_GRACE: Duration = Duration::from_secs(5);

/// How a command's collection ended.
enum Ending {
    Finished(Result<(), bollard::errors::Error>),
    TimedOut,
    Abandoned,
}

#[async_trait]
impl Exec for DockerRuntime {
    async fn exec(&self, id: &ContainerId, request: &ExecRequest) -> Result<ExecOutcome> {
        request.validate()?;
        // Dropping this future drops `_abandon`, which the task takes as "kill it now".
        let (_abandon, abandoned) = oneshot::channel::<Infallible>();
        let runtime = self.clone();
        let (id, request) = (id.clone(), request.clone());
        let task = tokio::spawn(async move { runtime.run_command(&id, &request, abandoned).await });
        task.await.map_err(|e| {
            Error::backend(format!("the task running a command ended abnormally: {e}"))
        })?
    }

    async fn exec_tty(&self, id: &ContainerId, request: &TtyRequest) -> Result<TtySession> {
        self.open_tty(id, request).await
    }

    async fn resize_tty(&self, exec: &ExecId, size: TtySize) -> Result<()> {
        self.resize(exec, size).await
    }

    async fn exec_pipe(&self, id: &ContainerId, request: &PipeRequest) -> Result<PipeSession> {
        self.open_pipe(id, request).await
    }
}

impl DockerRuntime {
    async fn run_command(
        &self,
        id: &ContainerId,
        request: &ExecRequest,
        abandoned: oneshot::Receiver<Infallible>,
    ) -> Result<ExecOutcome> {
        let exec_error = |source| RuntimeError::Exec {
            id: id.to_string(),
            source,
        };
        let mut cmd = vec![
            "/bin/sh".to_owned(),
            "-c".to_owned(),
            kill::SHIM.to_owned(),
            "slipway-exec".to_owned(),
        ];
        cmd.extend(request.cmd.iter().cloned());
        let env = request
            .env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let created = self
            .docker
            .create_exec(
                id.as_str(),
                CreateExecOptions {
                    attach_stdin: Some(request.stdin.is_some()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    env: Some(env),
                    cmd: Some(cmd),
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
        let StartExecResults::Attached {
            mut output,
            mut input,
        } = attached
        else {
            return Err(Error::backend(format!(
                "failed to run a command in container {id}: the engine detached it"
            )));
        };

        let limit = request.output_limit;
        let mut captured = Captured::shimmed(request.tap.clone());
        // Stdin is written while output is drained, so a command that never reads it (or
        // fills its output pipe first) can't stall the exec past its deadline.
        let feed = async {
            if let Some(stdin) = &request.stdin {
                // A command that exits without reading its input is not an error.
                if input.write_all(stdin).await.is_ok() {
                    let _ = input.shutdown().await;
                }
            }
            drop(input);
        };
        let deadline = async {
            match request.timeout {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        let ending = {
            let collect = drain(&mut output, &mut captured, limit);
            tokio::pin!(feed, deadline, collect, abandoned);
            let mut fed = false;
            loop {
                tokio::select! {
                    result = &mut collect => break Ending::Finished(result),
                    () = &mut feed, if !fed => fed = true,
                    () = &mut deadline => break Ending::TimedOut,
                    _ = &mut abandoned => break Ending::Abandoned,
                }
            }
        };
        let outcome = |exit_code, timed_out, mut captured: Captured| {
            captured.finish(limit);
            ExecOutcome {
                exit_code,
                stdout: captured.stdout,
                stderr: captured.stderr,
                truncated: captured.truncated,
                timed_out,
                duration: started.elapsed(),
            }
        };
        if let Ending::Finished(result) = ending {
            result.or_core(self, exec_error)?;
            let exit_code = self
                .exit_code(&created.id)
                .await
                .or_core(self, exec_error)?;
            return Ok(outcome(exit_code, false, captured));
        }
        // A command killed within its first moments may not have said who it is yet.
        let _ =
            tokio::time::timeout(ROOT_GRACE, until_root(&mut output, &mut captured, limit)).await;
        if captured.root.is_none() {
            // It never started (e.g. its working directory is missing) or it is over: there
            // is nothing to kill, and what the engine recorded is the outcome.
            if let Ok(exec) = self.docker.inspect_exec(&created.id).await {
                if exec.running == Some(false) {
                    return match ending {
                        Ending::Abandoned => {
                            Err(Error::backend("the command was abandoned by its caller"))
                        }
                        _ => Ok(outcome(exec.exit_code, false, captured)),
                    };
                }
            }
        }
        let killed = self.kill_tree(id, captured.root).await;
        match ending {
            Ending::Abandoned => {
                if let Err(e) = &killed {
                    tracing::warn!(container = %id, error = %e, "failed to kill an abandoned command");
                }
                Err(Error::backend("the command was abandoned by its caller"))
            }
            _ => {
                killed?;
                tracing::debug!(container = %id, "killed a command at its timeout");
                Ok(outcome(None, true, captured))
            }
        }
    }

    pub(crate) async fn exit_code(
        &self,
        exec_id: &str,
    ) -> Result<Option<i64>, bollard::errors::Error> {
        let deadline = Instant::now() + EXIT_CODE_GRACE;
        loop {
            let inspected = self.docker.inspect_exec(exec_id).await?;
            if inspected.running != Some(true) || Instant::now() >= deadline {
                return Ok(inspected.exit_code);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
