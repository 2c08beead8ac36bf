//! Cloning and fetching bare mirrors with git2 (blocking; run on a worker thread).

use std::cell::Cell;
use std::path::Path;

use git2::{AutotagOption, Direction, FetchOptions, FetchPrune, RemoteCallbacks, Repository};
use slipway_core::{GitCredentials, RemoteUrl, RepoSlug};

use crate::error::GitError;

const REFSPECS: [&str; 2] = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];

/// Callbacks that answer a credential request once; a second request means the remote
/// refused them, and asking again would loop.
fn callbacks(credentials: Option<&GitCredentials>) -> RemoteCallbacks<'_> {
    let mut callbacks = RemoteCallbacks::new();
    let asked = Cell::new(false);
    callbacks.credentials(move |_url, _username, _allowed| match credentials {
        Some(creds) if !asked.replace(true) => {
            git2::Cred::userpass_plaintext(&creds.username, &creds.secret)
        }
        Some(_) => Err(git2::Error::new(
            git2::ErrorCode::Auth,
            git2::ErrorClass::Http,
            "authentication failed",
        )),
        None => Err(git2::Error::new(
            git2::ErrorCode::Auth,
            git2::ErrorClass::Http,
            "the remote asks for credentials and none were given",
        )),
    });
    callbacks
}

fn fetch_options(credentials: Option<&GitCredentials>) -> FetchOptions<'_> {
    let mut options = FetchOptions::new();
    options
        .remote_callbacks(callbacks(credentials))
        .prune(FetchPrune::On)
        .download_tags(AutotagOption::All);
    options
}

/// Points the mirror's HEAD at the remote's default branch.
fn follow_default_branch(
    repo: &Repository,
    credentials: Option<&GitCredentials>,
) -> Result<(), git2::Error> {
    let mut remote = repo.find_remote("origin")?;
    let connection = remote.connect_auth(Direction::Fetch, Some(callbacks(credentials)), None)?;
    let branch = connection.default_branch()?;
    if let Ok(branch) = branch.as_str() {
        repo.set_head(branch)?;
    }
    Ok(())
}

/// Clones `repo` from `url` the first time, fetches afterwards; returns whether it cloned.
/// The mirror's origin follows `url` (the configured template may change between runs).
pub(crate) fn sync(
    slug: &RepoSlug,
    path: &Path,
    url: &RemoteUrl,
    credentials: Option<&GitCredentials>,
) -> Result<bool, GitError> {
    if path.exists() {
        let repo = Repository::open_bare(path).map_err(|source| GitError::Open {
            repo: slug.to_string(),
            source,
        })?;
        let current = repo
            .find_remote("origin")
            .ok()
            .and_then(|r| r.url().ok().map(str::to_owned));
        if current.as_deref() != Some(url.as_str()) {
            repo.remote_set_url("origin", url.as_str())
                .map_err(|source| GitError::Open {
                    repo: slug.to_string(),
                    source,
                })?;
        }
        let url = url.to_string();
        let fail = |source| GitError::Fetch {
            repo: slug.to_string(),
            url: url.clone(),
            source,
        };
        let mut origin = repo.find_remote("origin").map_err(fail)?;
        origin
            .fetch(&REFSPECS, Some(&mut fetch_options(credentials)), None)
            .map_err(fail)?;
        // The default branch rarely moves; a failure to learn it must not fail the fetch.
        if let Err(e) = follow_default_branch(&repo, credentials) {
            tracing::debug!(repo = %slug, error = %e, "could not read the remote's default branch");
        }
        return Ok(false);
    }
    clone(slug, path, url.as_str(), credentials)?;
    Ok(true)
}

/// Clones into a temporary sibling directory and renames it into place, so a failed clone
/// leaves no broken mirror.
fn clone(
    slug: &RepoSlug,
    path: &Path,
    url: &str,
    credentials: Option<&GitCredentials>,
) -> Result<(), GitError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    let dir_error = |source| GitError::Directory {
        path: parent.display().to_string(),
        source,
    };
    std::fs::create_dir_all(parent).map_err(dir_error)?;
    let staging = parent.join(format!(
        ".{}.clone-{}",
        slug.repo(),
        uuid::Uuid::new_v4().simple()
    ));
    let result = (|| {
        let fail = |source| GitError::Clone {
            repo: slug.to_string(),
            url: url.to_owned(),
            source,
        };
        let repo = Repository::init_bare(&staging).map_err(fail)?;
        let mut origin = repo
            .remote_with_fetch("origin", url, REFSPECS[0])
            .map_err(fail)?;
        repo.remote_add_fetch("origin", REFSPECS[1]).map_err(fail)?;
        origin
            .fetch(&REFSPECS, Some(&mut fetch_options(credentials)), None)
            .map_err(fail)?;
        if let Err(e) = follow_default_branch(&repo, credentials) {
            tracing::debug!(repo = %slug, error = %e, "could not read the remote's default branch");
        }
        std::fs::rename(&staging, path).map_err(|source| GitError::Directory {
            path: path.display().to_string(),
            source,
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}
