//! Git failures and their mapping onto core's kinds.

use slipway_core::Error;

/// A failed git operation, with the repository and git's error as source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[allow(missing_docs)] // each variant's message says what it is
pub enum GitError {
    #[error("failed to clone {repo} from {url}")]
    Clone {
        repo: String,
        url: String,
        #[source]
        source: git2::Error,
    },
    #[error("failed to fetch {repo} from {url}")]
    Fetch {
        repo: String,
        url: String,
        #[source]
        source: git2::Error,
    },
    #[error("failed to open the mirror of {repo}")]
    Open {
        repo: String,
        #[source]
        source: git2::Error,
    },
    #[error("failed to read {what} in {repo}")]
    Read {
        repo: String,
        what: String,
        #[source]
        source: git2::Error,
    },
    #[error("failed to write an archive of {repo}")]
    Archive {
        repo: String,
        #[source]
        source: std::io::Error,
    },
    #[error("stopped fetching {repo}: {reason}")]
    Stopped {
        repo: String,
        reason: crate::repo_cache::StopReason,
    },
    #[error("{repo} holds an entry slipway refuses to copy: {path:?} ({why})")]
    UnsafePath {
        repo: String,
        path: String,
        why: &'static str,
    },
    #[error("failed to prepare the mirror directory {path}")]
    Directory {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn git_source(error: &GitError) -> Option<&git2::Error> {
    std::error::Error::source(error).and_then(|s| s.downcast_ref::<git2::Error>())
}

impl GitError {
    /// Maps onto core's kinds: refused credentials → `Invalid`, a repository or object that
    /// does not exist → `NotFound`, an unreachable remote → `Unavailable`; the rest `Backend`.
    pub fn into_core(self) -> Error {
        if let GitError::Stopped { repo, reason } = &self {
            return match reason {
                crate::repo_cache::StopReason::TooSlow(after) => Error::Timeout {
                    operation: format!("fetching {repo}"),
                    after: *after,
                },
                crate::repo_cache::StopReason::TooBig(_) => {
                    Error::CapacityExceeded(self.to_string())
                }
            };
        }
        if let GitError::UnsafePath { .. } = &self {
            return Error::invalid("repository tree", self.to_string());
        }
        let Some(source) = git_source(&self) else {
            return Error::backend(self);
        };
        let message = source.message().to_ascii_lowercase();
        let (repo, url) = match &self {
            GitError::Clone { repo, url, .. } | GitError::Fetch { repo, url, .. } => {
                (repo.clone(), url.clone())
            }
            GitError::Open { repo, .. } | GitError::Read { repo, .. } => {
                (repo.clone(), String::new())
            }
            _ => return Error::backend(self),
        };
        if message.contains("refusing to send credentials") {
            return Error::invalid("git credentials", format!("{repo}: {}", source.message()));
        }
        if source.code() == git2::ErrorCode::Auth
            || message.contains("authentication")
            || message.contains("401")
        {
            return Error::invalid(
                "git credentials",
                format!(
                    "the remote refused the credentials for {repo}: {}",
                    source.message()
                ),
            );
        }
        let missing = [
            "not found",
            "not exported",
            "does not appear to be a git repository",
            "failed to resolve path",
            "404",
        ];
        if source.code() == git2::ErrorCode::NotFound || missing.iter().any(|m| message.contains(m))
        {
            let at = if url.is_empty() {
                String::new()
            } else {
                format!(" at {url}")
            };
            return Error::not_found(format!("repository `{repo}`{at}"));
        }
        if matches!(
            source.class(),
            git2::ErrorClass::Net
                | git2::ErrorClass::Http
                | git2::ErrorClass::Ssl
                | git2::ErrorClass::Os
        ) && !url.is_empty()
        {
            return Error::Unavailable {
                endpoint: format!("git remote {url}"),
                reason: source.message().to_owned(),
            };
        }
        Error::backend(self)
    }
}
