//! The [`RepoCache`] trait: local bare mirrors of git repositories.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_trait::async_trait;
use futures_core::stream::BoxStream;
use futures_core::Stream;

use crate::names::{GitRef, RemoteUrl, RepoSlug};
use crate::time::Timestamp;
use crate::{Error, Result, Secret};

/// A full commit id (40 hex digits).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct CommitId(String);

impl CommitId {
    /// The id as hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CommitId {
    type Error = Error;

    fn try_from(value: String) -> Result<Self> {
        if value.len() == 40 && value.chars().all(|c| c.is_ascii_hexdigit()) {
            Ok(Self(value.to_ascii_lowercase()))
        } else {
            Err(Error::invalid(
                "commit id",
                format!("`{value}` is not 40 hex digits"),
            ))
        }
    }
}

impl From<CommitId> for String {
    fn from(id: CommitId) -> String {
        id.0
    }
}

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Credentials for fetching a repository. The secret never shows or serializes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GitCredentials {
    /// The user name (`x-access-token` for GitHub tokens).
    pub username: String,
    /// The token or password.
    pub secret: Secret,
}

/// Where a repository comes from: its slug, fetched from the configured URL template, or an
/// explicit remote. Mirrors of explicit remotes are kept apart from the template's, so one
/// request's remote never changes where another request's repository is fetched from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct RepoSource {
    /// The repository.
    pub repo: RepoSlug,
    /// Fetch from here instead of the configured template.
    pub remote: Option<RemoteUrl>,
}

impl RepoSource {
    /// `repo` from the configured template.
    pub fn new(repo: RepoSlug) -> Self {
        Self { repo, remote: None }
    }

    /// `repo` from `remote`.
    pub fn with_remote(repo: RepoSlug, remote: RemoteUrl) -> Self {
        Self {
            repo,
            remote: Some(remote),
        }
    }
}

impl fmt::Display for RepoSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.remote {
            Some(remote) => write!(f, "{} ({remote})", self.repo),
            None => self.repo.fmt(f),
        }
    }
}

/// A mirror after [`RepoCache::ensure`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MirrorInfo {
    /// The repository.
    pub repo: RepoSlug,
    /// Where the bare mirror lives.
    pub path: String,
    /// Whether this call cloned it for the first time.
    pub cloned: bool,
    /// When it was last fetched.
    pub fetched_at: Timestamp,
}

/// Paths that differ between two commits.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TreeDiff {
    /// Added or modified files.
    pub changed: Vec<String>,
    /// Removed files.
    pub deleted: Vec<String>,
}

/// A tar produced whole, as a stream of one chunk.
struct Whole(Option<Vec<u8>>);

impl Stream for Whole {
    type Item = Result<Vec<u8>>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.take().map(Ok))
    }
}

/// Bare mirrors of repositories, so that checkouts never touch the network twice.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait RepoCache: Send + Sync {
    /// Clones the mirror the first time, fetches afterwards.
    async fn ensure(
        &self,
        source: &RepoSource,
        credentials: Option<GitCredentials>,
    ) -> Result<MirrorInfo>;
    /// The commit a ref points at; [`Error::NotFound`] naming the ref when it does not exist.
    async fn resolve(&self, source: &RepoSource, reference: &GitRef) -> Result<CommitId>;
    /// The branch the remote's HEAD points at.
    async fn default_branch(&self, source: &RepoSource) -> Result<GitRef>;
    /// A tar of the commit's tree (modes and symlinks kept).
    async fn archive(&self, source: &RepoSource, commit: &CommitId) -> Result<Vec<u8>>;
    /// [`RepoCache::archive`] in chunks as it is produced, so it can be sent while the tree
    /// is still being read (the default produces it whole first).
    async fn archive_stream(
        &self,
        source: &RepoSource,
        commit: &CommitId,
    ) -> Result<BoxStream<'static, Result<Vec<u8>>>> {
        let tar = self.archive(source, commit).await?;
        Ok(Box::pin(Whole(Some(tar))))
    }
    /// A tar of only `paths` (files) of the commit's tree; paths missing at the commit are
    /// skipped.
    async fn archive_paths(
        &self,
        source: &RepoSource,
        commit: &CommitId,
        paths: &[String],
    ) -> Result<Vec<u8>>;
    /// The content of file `path` at the commit, if it exists there.
    async fn read_file(
        &self,
        source: &RepoSource,
        commit: &CommitId,
        path: &str,
    ) -> Result<Option<Vec<u8>>>;
    /// What changed from `from` to `to`.
    async fn diff(&self, source: &RepoSource, from: &CommitId, to: &CommitId) -> Result<TreeDiff>;
}
