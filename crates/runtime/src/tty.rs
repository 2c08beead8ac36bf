//! Interactive commands with a terminal.

use std::pin::Pin;

use async_trait::async_trait;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, ResizeExecOptions, StartExecOptions, StartExecResults};
use futures_util::StreamExt;
use slipway_core::{ContainerId, Error, ExecId, Result, TtyInput, TtyRequest, TtySession, TtySize};
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

impl DockerRuntime {
    pub(crate) async fn open_tty(
        &self,
        id: &ContainerId,
        request: &TtyRequest,
    ) -> Result<TtySession> {
        request.validate()?;
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
                    attach_stderr: Some(true),
                    tty: Some(true),
                    env: Some(
                        request
                            .env
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect(),
                    ),
                    cmd: Some(request.cmd.clone()),
                    user: request.user.clone(),
                    working_dir: request.working_dir.clone(),
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
                    tty: true,
                    ..StartExecOptions::default()
                }),
            )
            .await
            .or_core(self, tty_error)?;
        let StartExecResults::Attached { output, input } = started else {
            return Err(Error::backend(format!(
                "failed to start a terminal in container {id}: the engine detached it"
            )));
        };
        let exec = ExecId::new(created.id);
        self.resize(&exec, request.size).await?;
        let runtime = self.clone();
        let container = id.to_string();
        let output = output.map(move |chunk| match chunk {
            Ok(
                LogOutput::Console { message }
                | LogOutput::StdOut { message }
                | LogOutput::StdErr { message },
            ) => Ok(message.to_vec()),
            Ok(LogOutput::StdIn { .. }) => Ok(Vec::new()),
            Err(source) => Err(runtime.core_error(RuntimeError::ExecTty {
                id: container.clone(),
                source,
            })),
        });
        Ok(TtySession {
            exec,
            output: output.boxed(),
            input: Box::new(EngineTtyInput {
                writer: input,
                container: id.to_string(),
            }),
        })
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
