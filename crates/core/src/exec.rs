//! Running commands inside containers.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use futures_core::stream::BoxStream;

use crate::ids::ExecId;
use crate::{validate_env_key, Error, Result};

/// The default cap on captured output, per stream.
pub const DEFAULT_OUTPUT_LIMIT: usize = 8 * 1024 * 1024;

/// A command to run to completion inside a container.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExecRequest {
    /// The command and its arguments (no shell unless the command is one).
    pub cmd: Vec<String>,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// The working directory.
    pub working_dir: Option<String>,
    /// The user to run as.
    pub user: Option<String>,
    /// After this long the command and everything it started is killed.
    pub timeout: Option<Duration>,
    /// Bytes kept per stream; the rest is read and dropped so the command never blocks.
    pub output_limit: usize,
    /// Bytes written to the command's stdin, which is then closed.
    pub stdin: Option<Vec<u8>>,
    /// Sees the output as it arrives (what is kept of it, under the cap), besides the outcome.
    #[serde(skip)]
    pub tap: OutputTap,
}

/// A callback that sees a command's output as it arrives: the stream and the bytes kept of
/// each chunk. It runs on the task collecting the output, so it must not block.
#[derive(Clone, Default)]
pub struct OutputTap(Option<std::sync::Arc<TapFn>>);

type TapFn = dyn Fn(crate::LogSource, &[u8]) + Send + Sync;

impl OutputTap {
    /// A tap calling `f` with each chunk.
    pub fn new(f: impl Fn(crate::LogSource, &[u8]) + Send + Sync + 'static) -> Self {
        Self(Some(std::sync::Arc::new(f)))
    }

    /// Hands `bytes` of `source` to the callback, if there is one and they are not empty.
    pub fn send(&self, source: crate::LogSource, bytes: &[u8]) {
        if let (Some(f), false) = (&self.0, bytes.is_empty()) {
            f(source, bytes);
        }
    }
}

impl fmt::Debug for OutputTap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "OutputTap(set)"
        } else {
            "OutputTap(none)"
        })
    }
}

/// Requests compare by what they run; a tap is where output goes, not part of the command.
impl PartialEq for OutputTap {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for OutputTap {}

impl ExecRequest {
    /// Runs `cmd` with no timeout and the default output cap.
    pub fn new<I, S>(cmd: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            cmd: cmd.into_iter().map(Into::into).collect(),
            env: BTreeMap::new(),
            working_dir: None,
            user: None,
            timeout: None,
            output_limit: DEFAULT_OUTPUT_LIMIT,
            stdin: None,
            tap: OutputTap::default(),
        }
    }

    /// Checks what the engine would otherwise reject late or misread: an empty command,
    /// environment names `sh` can't reach, and NUL anywhere (it would cut a C string short).
    pub fn validate(&self) -> Result<()> {
        validate_command(
            &self.cmd,
            &self.env,
            self.working_dir.as_deref(),
            self.user.as_deref(),
        )
    }

    /// Runs `script` with `/bin/sh -c`.
    pub fn shell(script: impl Into<String>) -> Self {
        Self::new(["/bin/sh".to_owned(), "-c".to_owned(), script.into()])
    }

    /// Kills the command after `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Keeps at most `limit` bytes of each stream.
    pub fn with_output_limit(mut self, limit: usize) -> Self {
        self.output_limit = limit;
        self
    }

    /// Adds an environment variable.
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Sets the working directory.
    pub fn with_working_dir(mut self, dir: impl Into<String>) -> Self {
        self.working_dir = Some(dir.into());
        self
    }

    /// Feeds `input` to stdin.
    pub fn with_stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// Hands the output to `tap` as it arrives.
    pub fn with_tap(mut self, tap: OutputTap) -> Self {
        self.tap = tap;
        self
    }
}

fn validate_command(
    cmd: &[String],
    env: &BTreeMap<String, String>,
    working_dir: Option<&str>,
    user: Option<&str>,
) -> Result<()> {
    if cmd.is_empty() {
        return Err(Error::invalid(
            "command",
            "is empty; give the program and its arguments",
        ));
    }
    let refuse_nul = |what: &str, text: &str| {
        if text.contains('\0') {
            Err(Error::invalid(what, "contains a NUL byte"))
        } else {
            Ok(())
        }
    };
    for arg in cmd {
        refuse_nul("command", arg)?;
    }
    for (key, value) in env {
        validate_env_key(key)?;
        refuse_nul("environment value", value)?;
    }
    refuse_nul("working directory", working_dir.unwrap_or_default())?;
    refuse_nul("user", user.unwrap_or_default())
}

/// How a command ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExecOutcome {
    /// The exit code; `None` when the command was killed at its timeout.
    pub exit_code: Option<i64>,
    /// Captured stdout (at most the request's `output_limit` bytes).
    pub stdout: Vec<u8>,
    /// Captured stderr (at most the request's `output_limit` bytes).
    pub stderr: Vec<u8>,
    /// Whether some output was dropped because of the cap.
    pub truncated: bool,
    /// Whether the command ran out of time and was killed.
    pub timed_out: bool,
    /// How long it ran.
    pub duration: Duration,
}

impl ExecOutcome {
    /// Exited with code 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// Stdout as (lossy) UTF-8.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Stderr as (lossy) UTF-8.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// The size of a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TtySize {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

impl Default for TtySize {
    fn default() -> Self {
        Self { cols: 80, rows: 24 }
    }
}

/// An interactive command with a terminal (a shell for a WebSocket terminal).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TtyRequest {
    /// The command, e.g. `["/bin/sh"]`.
    pub cmd: Vec<String>,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// The working directory.
    pub working_dir: Option<String>,
    /// The user to run as.
    pub user: Option<String>,
    /// The initial terminal size.
    pub size: TtySize,
}

impl TtyRequest {
    /// A terminal running `cmd` at the default size.
    pub fn new<I, S>(cmd: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            cmd: cmd.into_iter().map(Into::into).collect(),
            env: BTreeMap::new(),
            working_dir: None,
            user: None,
            size: TtySize::default(),
        }
    }
}

impl TtyRequest {
    /// The checks of [`ExecRequest::validate`].
    pub fn validate(&self) -> Result<()> {
        validate_command(
            &self.cmd,
            &self.env,
            self.working_dir.as_deref(),
            self.user.as_deref(),
        )
    }
}

/// The writing half of a terminal.
#[async_trait::async_trait]
pub trait TtyInput: Send {
    /// Writes `data` to the terminal and flushes it.
    async fn write(&mut self, data: &[u8]) -> Result<()>;
    /// Closes the terminal's input.
    async fn close(&mut self) -> Result<()>;
}

/// A running interactive command.
pub struct TtySession {
    /// The exec instance, for [`Exec::resize_tty`](crate::Exec::resize_tty).
    pub exec: ExecId,
    /// What the terminal prints.
    pub output: BoxStream<'static, Result<Vec<u8>>>,
    /// What is typed into it.
    pub input: Box<dyn TtyInput>,
}

impl fmt::Debug for TtySession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TtySession")
            .field("exec", &self.exec)
            .finish_non_exhaustive()
    }
}

/// A command whose stdin and stdout are plain byte pipes, with no terminal between: a
/// tunnel into the container, e.g. `nc 127.0.0.1 1234` to reach a port in its network
/// namespace from wherever the engine is (a remote engine included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipeRequest {
    /// The command.
    pub cmd: Vec<String>,
}

impl PipeRequest {
    /// A pipe to `cmd`.
    pub fn new<I, S>(cmd: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            cmd: cmd.into_iter().map(Into::into).collect(),
        }
    }

    /// The checks of [`ExecRequest::validate`].
    pub fn validate(&self) -> Result<()> {
        validate_command(&self.cmd, &BTreeMap::new(), None, None)
    }
}

/// A running piped command: its stdout byte for byte (stderr is not mixed in), and its stdin.
/// Dropping both ends the attachment; the command sees its stdin close.
pub struct PipeSession {
    /// What the command writes to stdout.
    pub stdout: BoxStream<'static, Result<Vec<u8>>>,
    /// What the command reads on stdin.
    pub input: Box<dyn TtyInput>,
}

impl fmt::Debug for PipeSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipeSession").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn nul_bytes_and_empty_commands_are_refused() {
        assert!(ExecRequest::new(["echo", "hi"])
            .with_env("A", "b")
            .validate()
            .is_ok());
        let refused = [
            ExecRequest::new(Vec::<String>::new()),
            ExecRequest::new(["echo", "a\0b"]),
            ExecRequest::new(["true"]).with_env("KEY", "a\0b"),
            ExecRequest::new(["true"]).with_env("1KEY", "v"),
            ExecRequest::new(["true"]).with_working_dir("/tmp\0/x"),
        ];
        for request in refused {
            let error = request.validate().unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Invalid, "{request:?}");
        }
        let mut tty = TtyRequest::new(["sh"]);
        tty.env.insert("K".into(), "\0".into());
        assert_eq!(tty.validate().unwrap_err().kind(), ErrorKind::Invalid);
    }
}
