//! [`GitRepoCache`]: bare mirrors of repositories on the host, so that checkouts never touch
//! the network twice and credentials never leave the host.

mod mirror;
mod remote_url;
mod stream;
mod tree;
mod tree_cache;

pub use mirror::StopReason;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use sha2::{Digest, Sha256};
use slipway_core::{
    CommitId, Error, GitCredentials, GitRef, MirrorInfo, RemoteUrl, RepoCache, RepoSource, Result,
    Timestamp, TreeDiff,
};
use tokio::time::Instant;

use crate::error::GitError;
pub use remote_url::{validate_remote_url, DEFAULT_URL_TEMPLATE};
use stream::ChunkWriter;
use tree_cache::TreeCache;

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
    pinned_certificate: Option<Vec<u8>>,
    fetch_timeout: Duration,
    max_fetch_bytes: u64,
}

/// How long one clone or fetch may take unless configured.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How much one clone or fetch may receive unless configured.
pub const DEFAULT_MAX_FETCH_BYTES: u64 = 4 << 30;

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
            pinned_certificate: None,
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
            max_fetch_bytes: DEFAULT_MAX_FETCH_BYTES,
        }
    }

    /// Trusts this certificate (PEM) for https remotes besides the system's CAs — a
    /// self-hosted git server with a certificate of its own.
    pub fn with_trusted_certificate(mut self, pem: &str) -> Result<Self> {
        self.pinned_certificate = Some(pem_to_der(pem)?);
        Ok(self)
    }

    /// Stops a clone or fetch that takes longer than `timeout` or receives more than
    /// `max_bytes` (a stalled or hostile remote must not hold a mirror forever).
    pub fn with_fetch_limits(mut self, timeout: Duration, max_bytes: u64) -> Self {
        self.fetch_timeout = timeout;
        self.max_fetch_bytes = max_bytes;
        self
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
        let limits = mirror::FetchLimits {
            pinned_certificate: self.pinned_certificate.clone(),
            max_bytes: self.max_fetch_bytes,
            timeout: self.fetch_timeout,
            deadline: std::time::Instant::now() + self.fetch_timeout,
        };
        let timeout = self.fetch_timeout;
        let work = Self::blocking(move || {
            let cloned = mirror::sync(&repo_owned, &path, &url, credentials.as_ref(), &limits)?;
            Ok(MirrorInfo {
                repo: repo_owned,
                path: path.display().to_string(),
                cloned,
                fetched_at: Timestamp::now(),
            })
        });
        // A remote that stalls sends nothing the fetch's own callbacks could stop on: give up
        // waiting (and the mirror's slot) a little after the deadline.
        let info = tokio::time::timeout(timeout + timeout.min(Duration::from_secs(5)), work)
            .await
            .map_err(|_| Error::Timeout {
                operation: format!("fetching {}", source.repo),
                after: timeout,
            })??;
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

    async fn archive_stream(
        &self,
        source: &RepoSource,
        commit: &CommitId,
    ) -> Result<BoxStream<'static, Result<Vec<u8>>>> {
        let (path, repo, commit) = (
            self.mirror_path(source),
            source.repo.clone(),
            commit.clone(),
        );
        let (mut writer, stream) = ChunkWriter::channel();
        tokio::task::spawn_blocking(move || {
            let trees = TreeCache::beside(&path);
            // On failure the stream ends with the error, never short as if complete.
            match trees.copy_into(&commit, &mut writer) {
                Ok(true) => return,
                Ok(false) => {}
                Err(error) => {
                    let error =
                        Error::backend(format!("reading the kept tree of {commit}: {error}"));
                    return writer.fail(error);
                }
            }
            let mut recording = trees.record(&commit, &mut writer);
            match tree::archive_into(&path, &repo, &commit, None, &mut recording) {
                Ok(()) => {
                    let copy = recording.finish();
                    // The stream ends here; the copy is kept after.
                    drop(writer);
                    if let Some(copy) = copy {
                        copy.keep();
                    }
                }
                Err(error) => {
                    drop(recording);
                    writer.fail(error.into_core());
                }
            }
        });
        Ok(stream)
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

/// The DER bytes of a PEM certificate.
fn pem_to_der(pem: &str) -> Result<Vec<u8>> {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .skip_while(|line| !line.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|line| !line.starts_with("-----END CERTIFICATE-----"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .ok()
        .filter(|der| !der.is_empty())
        .ok_or_else(|| Error::invalid("certificate", "expected one PEM CERTIFICATE block"))
}
