//! [`SetupError`]: which step of a setup failed, with the error underneath.

use std::time::Duration;

use slipway_core::{ContainerId, Error, ErrorKind, GitRef, ImageRef, Redactor, RepoSource};

/// A failed step of a setup. Its kind is the underlying error's where there is one (an
/// unreachable remote stays `Unavailable`, a missing branch `NotFound`); a command that ran
/// and failed is `Backend`, one that ran out of time `Timeout`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The request broke a rule; nothing was done.
    #[error(transparent)]
    Invalid(Error),
    /// The container could not be inspected.
    #[error("failed to inspect container {container}")]
    Inspect {
        /// The container.
        container: ContainerId,
        /// Why.
        #[source]
        source: Error,
    },
    /// The repository could not be cloned or fetched into the repo cache.
    #[error("failed to fetch {source_repo} into the repo cache")]
    Fetch {
        /// The repository.
        source_repo: RepoSource,
        /// Why.
        #[source]
        source: Error,
    },
    /// The branch (or the remote's default branch) could not be resolved.
    #[error("failed to resolve {branch} in {repo}")]
    Resolve {
        /// The repository.
        repo: String,
        /// The branch, or "the default branch".
        branch: String,
        /// Why.
        #[source]
        source: Error,
    },
    /// Reading the repository in the cache failed (its tree, a file, a diff).
    #[error("failed to read {what} of {repo} from the repo cache")]
    Read {
        /// The repository.
        repo: String,
        /// What was read.
        what: &'static str,
        /// Why.
        #[source]
        source: Error,
    },
    /// The tree (or a delta of it) could not be copied into the container.
    #[error("failed to copy the tree of {repo} at {branch} into container {container}")]
    Copy {
        /// The repository.
        repo: String,
        /// The branch.
        branch: GitRef,
        /// The container.
        container: ContainerId,
        /// Why.
        #[source]
        source: Error,
    },
    /// A helper command (prepare the app directory, remove files, record the lockfile) could
    /// not be run.
    #[error("failed to {what} in container {container}")]
    Helper {
        /// What the command was for.
        what: &'static str,
        /// The container.
        container: ContainerId,
        /// Why.
        #[source]
        source: Error,
    },
    /// A helper command ran and failed.
    #[error("failed to {what} in container {container}: exit {exit_code:?}: {stderr}")]
    HelperFailed {
        /// What the command was for.
        what: &'static str,
        /// The container.
        container: ContainerId,
        /// Its exit code.
        exit_code: Option<i64>,
        /// What it printed on stderr.
        stderr: String,
    },
    /// The install command ran and failed.
    #[error("`{command}` failed with exit {exit_code:?}:\n{output}")]
    Install {
        /// The command.
        command: String,
        /// Its exit code.
        exit_code: Option<i64>,
        /// The last lines it printed.
        output: String,
    },
    /// The install command ran out of time and was killed.
    #[error("`{command}` timed out after {after:?}{}", memory_hint(*.memory_near_limit))]
    InstallTimedOut {
        /// The command.
        command: String,
        /// Its limit.
        after: Duration,
        /// The container's memory limit in bytes when it was (nearly) used up at the timeout:
        /// a container starved of memory crawls rather than fails.
        memory_near_limit: Option<u64>,
    },
    /// The dev server exited before it listened.
    #[error("the dev server `{command}` exited before listening on port {port}; its last output:\n{output}")]
    DevServerExited {
        /// The command.
        command: String,
        /// The port it should listen on.
        port: u16,
        /// Its last output.
        output: String,
    },
    /// The dev server did not listen within its time.
    #[error("the dev server `{command}` did not listen on port {port} within {after:?}{}; its last output:\n{output}", memory_hint(*.memory_near_limit))]
    DevServerTimedOut {
        /// The command.
        command: String,
        /// The port.
        port: u16,
        /// Its limit.
        after: Duration,
        /// The memory limit when it was (nearly) used up at the timeout.
        memory_near_limit: Option<u64>,
        /// Its last output.
        output: String,
    },
    /// The container a lockfile's dependencies are installed in could not be started.
    #[error("failed to start an installer container of {image} for the dependency store {store}")]
    Installer {
        /// The image.
        image: String,
        /// The dependency store volume.
        store: String,
        /// Why.
        #[source]
        source: Error,
    },
    /// The main image could not be committed.
    #[error("failed to commit the main image {image}")]
    Commit {
        /// The image.
        image: ImageRef,
        /// Why.
        #[source]
        source: Error,
    },
}

impl SetupError {
    /// The error with known secrets taken out of what commands printed (and the commands).
    pub(crate) fn redacted(mut self, redactor: &Redactor) -> Self {
        match &mut self {
            SetupError::HelperFailed { stderr, .. } => redactor.redact_in_place(stderr),
            SetupError::Install {
                command, output, ..
            }
            | SetupError::DevServerExited {
                command, output, ..
            }
            | SetupError::DevServerTimedOut {
                command, output, ..
            } => {
                redactor.redact_in_place(command);
                redactor.redact_in_place(output);
            }
            SetupError::InstallTimedOut { command, .. } => redactor.redact_in_place(command),
            _ => {}
        }
        self
    }

    /// The kind of the failure (see the type's docs).
    pub fn kind(&self) -> ErrorKind {
        match self {
            SetupError::Invalid(source)
            | SetupError::Inspect { source, .. }
            | SetupError::Fetch { source, .. }
            | SetupError::Resolve { source, .. }
            | SetupError::Read { source, .. }
            | SetupError::Copy { source, .. }
            | SetupError::Helper { source, .. }
            | SetupError::Installer { source, .. }
            | SetupError::Commit { source, .. } => source.kind(),
            SetupError::InstallTimedOut { .. } | SetupError::DevServerTimedOut { .. } => {
                ErrorKind::Timeout
            }
            SetupError::HelperFailed { .. }
            | SetupError::Install { .. }
            | SetupError::DevServerExited { .. } => ErrorKind::Backend,
        }
    }
}

/// What a timeout message adds when the container had used up its memory: without swap the
/// kernel then evicts the programs' own pages, and they crawl instead of failing.
fn memory_hint(near_limit: Option<u64>) -> String {
    match near_limit {
        Some(limit) => format!(
            " (the container had used up its {} MiB of memory: give the environment more)",
            limit >> 20
        ),
        None => String::new(),
    }
}

impl From<SetupError> for Error {
    /// The same message as context over the error underneath, so the kind survives.
    fn from(error: SetupError) -> Error {
        let context = error.to_string();
        match error {
            SetupError::Invalid(source) => source,
            SetupError::Inspect { source, .. }
            | SetupError::Fetch { source, .. }
            | SetupError::Resolve { source, .. }
            | SetupError::Read { source, .. }
            | SetupError::Copy { source, .. }
            | SetupError::Helper { source, .. }
            | SetupError::Installer { source, .. }
            | SetupError::Commit { source, .. } => source.context(context),
            SetupError::InstallTimedOut {
                command,
                after,
                memory_near_limit,
            } => Error::Timeout {
                operation: format!("`{command}`{}", memory_hint(memory_near_limit)),
                after,
            },
            SetupError::DevServerTimedOut { after, .. } => Error::Timeout {
                operation: context,
                after,
            },
            SetupError::HelperFailed { .. }
            | SetupError::Install { .. }
            | SetupError::DevServerExited { .. } => Error::backend(context),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_remote_stays_unavailable_and_a_missing_branch_not_found() {
        let fetch = SetupError::Fetch {
            source_repo: RepoSource::new("me/app".parse().unwrap()),
            source: Error::Unavailable {
                endpoint: "git remote https://github.com/me/app.git".into(),
                reason: "connection refused".into(),
            },
        };
        assert_eq!(fetch.kind(), ErrorKind::Unavailable);
        let core = Error::from(fetch);
        assert_eq!(core.kind(), ErrorKind::Unavailable);
        assert!(
            core.to_string()
                .starts_with("failed to fetch me/app into the repo cache: git remote"),
            "{core}"
        );
        let branch = SetupError::Resolve {
            repo: "me/app".into(),
            branch: "feature".into(),
            source: Error::not_found("branch `feature` in `me/app`"),
        };
        assert_eq!(Error::from(branch).kind(), ErrorKind::NotFound);
    }

    #[test]
    fn failed_commands_are_backend_and_slow_ones_timeouts() {
        let install = SetupError::Install {
            command: "npm ci".into(),
            exit_code: Some(1),
            output: "npm ERR! missing lockfile".into(),
        };
        assert_eq!(install.kind(), ErrorKind::Backend);
        assert!(Error::from(install).to_string().contains("npm ERR!"));
        let slow = SetupError::DevServerTimedOut {
            command: "npm run dev".into(),
            port: 3000,
            after: Duration::from_secs(60),
            memory_near_limit: None,
            output: String::new(),
        };
        assert_eq!(Error::from(slow).kind(), ErrorKind::Timeout);
    }
}
