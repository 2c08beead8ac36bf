//! [`GitRepoCache`]: bare mirrors of repositories on the host, so that checkouts never touch
//! the network twice and credentials never leave the host.

mod mirror;
mod remote_url;
mod tree;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use slipway_core::{
    CommitId, Error, GitCredentials, GitRef, MirrorInfo, RemoteUrl, RepoCache, RepoSource, Result,
    Timestamp, TreeDiff,
};
use tokio::time::Instant;

use crate::error::GitError;
pub use remote_url::{validate_remote_url, DEFAULT_URL_TEMPLATE};

/// Bare mirrors under `<root>/<owner>/<repo>.git` (from the URL template) and
/// `<root>/remotes/<hash of the URL>/<owner>/<repo>.git` (from an explicit remote), so an
/// explicit remote never changes where the template's mirror fetches from.
///
/// The first [`RepoCache::ensure`] clones (into a temporary directory renamed into place, so a
/// failed clone leaves nothing behind); later ones fetch. Concurrent `ensure` calls for one
/// mirror share a single fetch. Credentials reach git only through a credential callback:
/// never a URL, the mirror's config, a file or a log.
pub struct GitRepoCache {
    root: PathBuf,
    url_template: String,
    fetches: Mutex<HashMap<PathBuf, FetchSlot>>,
}

/// The last fetch of one repository (when it finished, what it gave); held while fetching so
/// that concurrent requests wait for, and share, one fetch.
type FetchSlot = Arc<tokio::sync::Mutex<Option<(Instant, MirrorInfo)>>>;

impl GitRepoCache {
    /// A cache rooted at `root` (created on first use), fetching from GitHub by default.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            url_template: DEFAULT_URL_TEMPLATE.to_owned(),
            fetches: Mutex::new(HashMap::new()),
        }
    }

    /// Sets the template remote URLs are made from; `{owner}` and `{repo}` are replaced.
    pub fn with_url_template(mut self, template: &str) -> Result<Self> {
        if !template.contains("{owner}") || !template.contains("{repo}") {
            return Err(Error::invalid(
                "remote URL template",
                format!("`{template}` needs {{owner}} and {{repo}}"),
            ));
        }
        validate_remote_url(&template.replace("{owner}", "o").replace("{repo}", "r"))?;
        self.url_template = template.to_owned();
        Ok(self)
    }

    /// Where the mirror of `source` lives.
    pub fn mirror_path(&self, source: &RepoSource) -> PathBuf {
        let base = match &source.remote {
            None => self.root.clone(),
            Some(remote) => {
                let hash = hex::encode(Sha256::digest(remote.as_str().as_bytes()));
                self.root.join("remotes").join(&hash[..16])
            }
        };
        base.join(source.repo.owner())
            .join(format!("{}.git", source.repo.repo()))
    }

    /// The root of the cache.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `source` is fetched from.
    pub fn remote_url(&self, source: &RepoSource) -> Result<RemoteUrl> {
        match &source.remote {
            Some(remote) => Ok(remote.clone()),
            None => self
                .url_template
                .replace("{owner}", source.repo.owner())
                .replace("{repo}", source.repo.repo())
                .parse(),
        }
    }

    fn slot(&self, path: &Path) -> FetchSlot {
        Arc::clone(
            self.fetches
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(path.to_owned())
                .or_default(),
        )
    }

    async fn blocking<T, F>(work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, GitError> + Send + 'static,
    {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| Error::backend(format!("a git worker thread failed: {e}")))?
            .map_err(GitError::into_core)
    }
}

#[async_trait]
impl RepoCache for GitRepoCache {
    async fn ensure(
        &self,
        source: &RepoSource,
        credentials: Option<GitCredentials>,
    ) -> Result<MirrorInfo> {
        let requested = Instant::now();
        let path = self.mirror_path(source);
        let url = self.remote_url(source)?;
        let slot = self.slot(&path);
        let mut last = slot.lock().await;
        // A fetch that finished after this request arrived was in flight for it: share it.
        if let Some((finished, info)) = last.as_ref() {
            if *finished >= requested {
                return Ok(info.clone());
            }
        }
        let repo_owned = source.repo.clone();
        let info = Self::blocking(move || {
            let cloned = mirror::sync(&repo_owned, &path, &url, credentials.as_ref())?;
            Ok(MirrorInfo {
                repo: repo_owned,
                path: path.display().to_string(),
                cloned,
                fetched_at: Timestamp::now(),
            })
        })
        .await?;
        *last = Some((Instant::now(), info.clone()));
        Ok(info)
    }

    async fn resolve(&self, source: &RepoSource, reference: &GitRef) -> Result<CommitId> {
        let (path, repo, reference) = (
            self.mirror_path(source),
            source.repo.clone(),
            reference.clone(),
        );
        let (wanted, in_repo) = (reference.clone(), repo.clone());
        Self::blocking(move || tree::resolve(&path, &repo, &reference))
            .await?
            .ok_or_else(|| Error::not_found(format!("branch `{wanted}` in `{in_repo}`")))
    }

    async fn default_branch(&self, source: &RepoSource) -> Result<GitRef> {
        let (path, repo) = (self.mirror_path(source), source.repo.clone());
        Self::blocking(move || tree::default_branch(&path, &repo)).await
    }

    async fn archive(&self, source: &RepoSource, commit: &CommitId) -> Result<Vec<u8>> {
        let (path, repo, commit) = (
            self.mirror_path(source),
            source.repo.clone(),
            commit.clone(),
        );
        Self::blocking(move || tree::archive(&path, &repo, &commit, None)).await
    }

    async fn archive_paths(
        &self,
        source: &RepoSource,
        commit: &CommitId,
        paths: &[String],
    ) -> Result<Vec<u8>> {
        let (path, repo, commit, paths) = (
            self.mirror_path(source),
            source.repo.clone(),
            commit.clone(),
            paths.to_vec(),
        );
        Self::blocking(move || tree::archive(&path, &repo, &commit, Some(&paths))).await
    }

    async fn read_file(
        &self,
        source: &RepoSource,
        commit: &CommitId,
        file: &str,
    ) -> Result<Option<Vec<u8>>> {
        let (path, repo, commit, file) = (
            self.mirror_path(source),
            source.repo.clone(),
            commit.clone(),
            file.to_owned(),
        );
        Self::blocking(move || tree::read_file(&path, &repo, &commit, &file)).await
    }

    async fn diff(&self, source: &RepoSource, from: &CommitId, to: &CommitId) -> Result<TreeDiff> {
        let (path, repo, from, to) = (
            self.mirror_path(source),
            source.repo.clone(),
            from.clone(),
            to.clone(),
        );
        Self::blocking(move || tree::diff(&path, &repo, &from, &to)).await
    }
}
