//! [`FakeRepoCache`]: repositories in memory, for unit tests of what sits on a repo cache.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use slipway_core::{
    CommitId, Error, GitCredentials, GitRef, MirrorInfo, RepoCache, RepoSlug, RepoSource, Result,
    Timestamp, TreeDiff,
};

/// Files of one commit, by path.
pub type Tree = BTreeMap<String, Vec<u8>>;

#[derive(Default)]
struct FakeRepo {
    default_branch: String,
    branches: BTreeMap<String, CommitId>,
    commits: BTreeMap<CommitId, Tree>,
    fetched: bool,
}

#[derive(Default)]
struct State {
    repos: BTreeMap<RepoSlug, FakeRepo>,
    calls: Vec<String>,
    next: u64,
}

/// A [`RepoCache`] over repositories written with [`FakeRepoCache::commit`]; records each
/// call (`ensure`, `archive`, `archive_paths`, `diff`, …) for assertions. Explicit remotes
/// are ignored: every source of a slug reads the same repository.
#[derive(Clone, Default)]
pub struct FakeRepoCache {
    state: Arc<Mutex<State>>,
}

impl FakeRepoCache {
    /// No repositories.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Points `branch` of `repo` at a new commit holding `tree`; the first branch of a repo
    /// is its default branch. Returns the commit.
    pub fn commit(&self, repo: &str, branch: &str, tree: &[(&str, &str)]) -> CommitId {
        let mut state = self.lock();
        state.next += 1;
        let id = CommitId::try_from(format!("{:040x}", state.next)).expect("40 hex digits");
        let slug: RepoSlug = repo.parse().expect("a valid test slug");
        let entry = state.repos.entry(slug).or_default();
        if entry.default_branch.is_empty() {
            entry.default_branch = branch.to_owned();
        }
        entry.branches.insert(branch.to_owned(), id.clone());
        entry.commits.insert(
            id.clone(),
            tree.iter()
                .map(|(path, content)| ((*path).to_owned(), content.as_bytes().to_vec()))
                .collect(),
        );
        id
    }

    /// Every call so far, as `op repo`.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    fn with_repo<T>(
        &self,
        op: &str,
        source: &RepoSource,
        read: impl FnOnce(&mut FakeRepo) -> Result<T>,
    ) -> Result<T> {
        let mut state = self.lock();
        state.calls.push(format!("{op} {}", source.repo));
        let repo = state
            .repos
            .get_mut(&source.repo)
            .ok_or_else(|| Error::not_found(format!("repository `{}`", source.repo)))?;
        read(repo)
    }
}

fn tree_of<'a>(repo: &'a FakeRepo, commit: &CommitId) -> Result<&'a Tree> {
    repo.commits
        .get(commit)
        .ok_or_else(|| Error::not_found(format!("commit {commit}")))
}

/// A tar of `files`.
pub fn tar_of<'a>(files: impl IntoIterator<Item = (&'a String, &'a Vec<u8>)>) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        tar.append_data(&mut header, path, content.as_slice())
            .expect("writing to memory");
    }
    tar.into_inner().expect("writing to memory")
}

#[async_trait]
impl RepoCache for FakeRepoCache {
    async fn ensure(
        &self,
        source: &RepoSource,
        _credentials: Option<GitCredentials>,
    ) -> Result<MirrorInfo> {
        self.with_repo("ensure", source, |repo| {
            let cloned = !repo.fetched;
            repo.fetched = true;
            Ok(MirrorInfo {
                repo: source.repo.clone(),
                path: format!("memory://{}", source.repo),
                cloned,
                fetched_at: Timestamp::now(),
            })
        })
    }

    async fn resolve(&self, source: &RepoSource, reference: &GitRef) -> Result<CommitId> {
        self.with_repo("resolve", source, |repo| {
            repo.branches
                .get(reference.as_str())
                .cloned()
                .ok_or_else(|| {
                    Error::not_found(format!("branch `{reference}` in `{}`", source.repo))
                })
        })
    }

    async fn default_branch(&self, source: &RepoSource) -> Result<GitRef> {
        self.with_repo("default_branch", source, |repo| repo.default_branch.parse())
    }

    async fn archive(&self, source: &RepoSource, commit: &CommitId) -> Result<Vec<u8>> {
        self.with_repo("archive", source, |repo| Ok(tar_of(tree_of(repo, commit)?)))
    }

    async fn archive_paths(
        &self,
        source: &RepoSource,
        commit: &CommitId,
        paths: &[String],
    ) -> Result<Vec<u8>> {
        self.with_repo("archive_paths", source, |repo| {
            let tree = tree_of(repo, commit)?;
            Ok(tar_of(tree.iter().filter(|(path, _)| paths.contains(path))))
        })
    }

    async fn read_file(
        &self,
        source: &RepoSource,
        commit: &CommitId,
        path: &str,
    ) -> Result<Option<Vec<u8>>> {
        self.with_repo("read_file", source, |repo| {
            Ok(tree_of(repo, commit)?.get(path).cloned())
        })
    }

    async fn diff(&self, source: &RepoSource, from: &CommitId, to: &CommitId) -> Result<TreeDiff> {
        self.with_repo("diff", source, |repo| {
            let (before, after) = (tree_of(repo, from)?, tree_of(repo, to)?);
            Ok(TreeDiff {
                changed: after
                    .iter()
                    .filter(|(path, content)| before.get(*path) != Some(content))
                    .map(|(path, _)| path.clone())
                    .collect(),
                deleted: before
                    .keys()
                    .filter(|path| !after.contains_key(*path))
                    .cloned()
                    .collect(),
            })
        })
    }
}
