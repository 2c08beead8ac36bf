//! Attached commands: interactive ones with a terminal, and piped ones (raw stdin/stdout).

use std::pin::Pin;

use async_trait::async_trait;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, ResizeExecOptions, StartExecOptions, StartExecResults};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use slipway_core::{
    ContainerId, Error, ExecId, PipeRequest, PipeSession, Result, TtyInput, TtyRequest, TtySession,
    TtySize,
};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::error::{IntoCore, RuntimeError};
use crate::DockerRuntime;

struct EngineTtyInput {
    writer: Pin<Box<dyn AsyncWrite + Send>>,
    container: String,
}

#[async_trait]
impl TtyInput for EngineTtyInput {
    async fn write(&mut self, data: &[u8]) -> Result<()> {
        let result = async {
            self.writer.write_all(data).await?;
            self.writer.flush().await
        }
        .await;
        result.map_err(|e| write_error(&self.container, e))
    }

    async fn close(&mut self) -> Result<()> {
        self.writer
            .shutdown()
            .await
            .map_err(|e| write_error(&self.container, e))
    }
}

fn write_error(container: &str, error: std::io::Error) -> Error {
    Error::backend(format!(
        "failed to write to the terminal of container {container}: {error}"
    ))
}

/// What [`DockerRuntime::attach`] starts.
struct AttachedCommand {
    cmd: Vec<String>,
    env: Vec<String>,
    user: Option<String>,
    working_dir: Option<String>,
    tty: bool,
}

impl DockerRuntime {
    pub(crate) async fn open_tty(
        &self,
        id: &ContainerId,
        request: &TtyRequest,
    ) -> Result<TtySession> {
        request.validate()?;
        let command = AttachedCommand {
            cmd: request.cmd.clone(),
            env: request
                .env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
            user: request.user.clone(),
            working_dir: request.working_dir.clone(),
            tty: true,
        };
        let (exec, output, input) = self.attach(id, command).await?;
        self.resize(&exec, request.size).await?;
        Ok(TtySession {
            exec,
            output,
            input,
        })
    }

    pub(crate) async fn open_pipe(
        &self,
        id: &ContainerId,
        request: &PipeRequest,
    ) -> Result<PipeSession> {
        request.validate()?;
        let command = AttachedCommand {
            cmd: request.cmd.clone(),
            env: Vec::new(),
            user: None,
            working_dir: None,
            tty: false,
        };
        let (_, stdout, input) = self.attach(id, command).await?;
        Ok(PipeSession { stdout, input })
    }

    /// Starts `command` attached. With a terminal its output is the terminal's; without,
    /// only stdout, byte for byte.
    async fn attach(
        &self,
        id: &ContainerId,
        command: AttachedCommand,
    ) -> Result<(
        ExecId,
        BoxStream<'static, Result<Vec<u8>>>,
        Box<dyn TtyInput>,
    )> {
        let tty = command.tty;
        let tty_error = |source| RuntimeError::ExecTty {
            id: id.to_string(),
            source,
        };
        let created = self
            .docker
            .create_exec(
                id.as_str(),
                CreateExecOptions {
                    attach_stdin: Some(true),
                    attach_stdout: Some(true),
                    attach_stderr: Some(tty),
                    tty: Some(tty),
                    env: Some(command.env),
                    cmd: Some(command.cmd),
                    user: command.user,
                    working_dir: command.working_dir,
                    ..CreateExecOptions::default()
                },
            )
            .await
            .or_core(self, tty_error)?;
        let started = self
            .docker
            .start_exec(
                &created.id,
                Some(StartExecOptions {
                    tty,
                    ..StartExecOptions::default()
                }),
            )
            .await
            .or_core(self, tty_error)?;
        let StartExecResults::Attached { output, input } = started else {
            return Err(Error::backend(format!(
                "failed to start a command in container {id}: the engine detached it"
            )));
        };
        let runtime = self.clone();
        let container = id.to_string();
        let output = output.map(move |chunk| match chunk {
            Ok(LogOutput::Console { message } | LogOutput::StdOut { message }) => {
                Ok(message.to_vec())
            }
            Ok(LogOutput::StdErr { message }) if tty => Ok(message.to_vec()),
            Ok(LogOutput::StdErr { .. } | LogOutput::StdIn { .. }) => Ok(Vec::new()),
            Err(source) => Err(runtime.core_error(RuntimeError::ExecTty {
                id: container.clone(),
                source,
            })),
        });
        let input: Box<dyn TtyInput> = Box::new(EngineTtyInput {
            writer: input,
            container: id.to_string(),
        });
        Ok((ExecId::new(created.id), output.boxed(), input))
    }

    pub(crate) async fn resize(&self, exec: &ExecId, size: TtySize) -> Result<()> {
        self.docker
            .resize_exec(
                exec.as_str(),
                ResizeExecOptions {
                    height: size.rows,
                    width: size.cols,
                },
            )
            .await
            .or_core(self, |source| RuntimeError::ResizeTty {
                exec: exec.to_string(),
                source,
            })
    }
}
