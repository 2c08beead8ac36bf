//! Cloning and fetching bare mirrors with git2 (blocking; run on a worker thread).

use std::cell::Cell;
use std::path::Path;
use std::time::{Duration, Instant};

use git2::{
    AutotagOption, Direction, FetchOptions, FetchPrune, RemoteCallbacks, RemoteRedirect, Repository,
};
use slipway_core::{GitCredentials, RemoteUrl, RepoSlug};

use crate::error::GitError;

const REFSPECS: [&str; 2] = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];

/// How far one fetch may go: where credentials may be sent, which certificate is trusted
/// besides the system's, how much may be received and until when.
pub(crate) struct FetchLimits {
    /// DER of a certificate accepted for the remote even though no system CA signed it.
    pub(crate) pinned_certificate: Option<Vec<u8>>,
    /// Bytes a fetch may receive.
    pub(crate) max_bytes: u64,
    /// How long a fetch may take.
    pub(crate) timeout: Duration,
    /// When the fetch is abandoned (started + timeout).
    pub(crate) deadline: Instant,
}

/// Why a fetch was stopped by its own callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// It received more than this many bytes.
    TooBig(u64),
    /// It ran longer than this.
    TooSlow(Duration),
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::TooBig(cap) => {
                write!(f, "it received more than {} MiB, the cap", cap >> 20)
            }
            StopReason::TooSlow(limit) => write!(f, "it ran longer than {limit:?}"),
        }
    }
}

#[derive(Default)]
pub(crate) struct Stopped(Cell<Option<StopReason>>);

impl Stopped {
    pub(crate) fn reason(&self) -> Option<StopReason> {
        self.0.take()
    }
}

/// The callbacks of one fetch from `url`:
/// - credentials only to `url`'s own host, and only over https; once (a second request
///   means the remote refused them, and asking again would loop);
/// - the pinned certificate accepted, anything else checked by the system as usual;
/// - the transfer stopped past the size cap or the deadline.
fn callbacks<'a>(
    url: &'a RemoteUrl,
    credentials: Option<&'a GitCredentials>,
    limits: &'a FetchLimits,
    stopped: &'a Stopped,
) -> RemoteCallbacks<'a> {
    let mut callbacks = RemoteCallbacks::new();
    let asked = Cell::new(false);
    callbacks.credentials(move |asked_for, _username, _allowed| {
        let refuse = |message: String| {
            Err(git2::Error::new(
                git2::ErrorCode::Auth,
                git2::ErrorClass::Callback,
                message,
            ))
        };
        let Some(creds) = credentials else {
            return refuse("the remote asks for credentials and none were given".into());
        };
        if !url.carries_credentials_safely() {
            return refuse(format!(
                "refusing to send credentials to {url}: only https carries them"
            ));
        }
        let host = authority_of(asked_for);
        if host != url.authority() {
            return refuse(format!(
                "refusing to send credentials to {host}: they belong to {}",
                url.authority()
            ));
        }
        if asked.replace(true) {
            return refuse("authentication failed".into());
        }
        git2::Cred::userpass_plaintext(&creds.username, creds.secret.expose())
    });
    if let Some(pinned) = &limits.pinned_certificate {
        callbacks.certificate_check(move |certificate, _host| {
            let matches = certificate
                .as_x509()
                .is_some_and(|x509| x509.data() == pinned.as_slice());
            Ok(if matches {
                git2::CertificateCheckStatus::CertificateOk
            } else {
                git2::CertificateCheckStatus::CertificatePassthrough
            })
        });
    }
    callbacks.transfer_progress(move |progress| {
        let reason = if progress.received_bytes() as u64 > limits.max_bytes {
            Some(StopReason::TooBig(limits.max_bytes))
        } else if Instant::now() > limits.deadline {
            Some(StopReason::TooSlow(limits.timeout))
        } else {
            None
        };
        match reason {
            Some(reason) => {
                stopped.0.set(Some(reason));
                false
            }
            None => true,
        }
    });
    callbacks
}

/// `host[:port]` of a URL as libgit2 hands it to the credential callback.
fn authority_of(url: &str) -> &str {
    url.split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default()
        .rsplit('@')
        .next()
        .unwrap_or_default()
}

fn fetch_options<'a>(
    url: &'a RemoteUrl,
    credentials: Option<&'a GitCredentials>,
    limits: &'a FetchLimits,
    stopped: &'a Stopped,
) -> FetchOptions<'a> {
    let mut options = FetchOptions::new();
    options
        .remote_callbacks(callbacks(url, credentials, limits, stopped))
        .prune(FetchPrune::On)
        .download_tags(AutotagOption::All)
        // Credentials never follow a redirect to wherever the remote says.
        .follow_redirects(RemoteRedirect::None);
    options
}

/// Points the mirror's HEAD at the remote's default branch.
fn follow_default_branch(
    repo: &Repository,
    url: &RemoteUrl,
    credentials: Option<&GitCredentials>,
    limits: &FetchLimits,
) -> Result<(), git2::Error> {
    let stopped = Stopped::default();
    let mut remote = repo.find_remote("origin")?;
    let connection = remote.connect_auth(
        Direction::Fetch,
        Some(callbacks(url, credentials, limits, &stopped)),
        None,
    )?;
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
    limits: &FetchLimits,
) -> Result<bool, GitError> {
    if !path.exists() {
        clone(slug, path, url, credentials, limits)?;
        return Ok(true);
    }
    let open_error = |source| GitError::Open {
        repo: slug.to_string(),
        source,
    };
    let repo = Repository::open_bare(path).map_err(open_error)?;
    let current = repo
        .find_remote("origin")
        .ok()
        .and_then(|r| r.url().ok().map(str::to_owned));
    if current.as_deref() != Some(url.as_str()) {
        repo.remote_set_url("origin", url.as_str())
            .map_err(open_error)?;
    }
    let mut origin = repo
        .find_remote("origin")
        .map_err(|source| fetch_error(slug, url, source, None))?;
    let stopped = Stopped::default();
    origin
        .fetch(
            &REFSPECS,
            Some(&mut fetch_options(url, credentials, limits, &stopped)),
            None,
        )
        .map_err(|source| fetch_error(slug, url, source, stopped.reason()))?;
    // The default branch rarely moves; a failure to learn it must not fail the fetch.
    if let Err(e) = follow_default_branch(&repo, url, credentials, limits) {
        tracing::debug!(repo = %slug, error = %e, "could not read the remote's default branch");
    }
    Ok(false)
}

/// A fetch's failure: stopped by its own limits, or git's error.
fn fetch_error(
    slug: &RepoSlug,
    url: &RemoteUrl,
    source: git2::Error,
    stopped: Option<StopReason>,
) -> GitError {
    match stopped {
        Some(reason) => GitError::Stopped {
            repo: slug.to_string(),
            reason,
        },
        None => GitError::Fetch {
            repo: slug.to_string(),
            url: url.to_string(),
            source,
        },
    }
}

/// Clones into a temporary sibling directory and renames it into place, so a failed clone
/// leaves no broken mirror.
fn clone(
    slug: &RepoSlug,
    path: &Path,
    url: &RemoteUrl,
    credentials: Option<&GitCredentials>,
    limits: &FetchLimits,
) -> Result<(), GitError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    let dir_error = |source| GitError::Directory {
        path: parent.display().to_string(),
        source,
    };
    crate::private_dir::create(parent).map_err(dir_error)?;
    let staging = parent.join(format!(
        ".{}.clone-{}",
        slug.repo(),
        uuid::Uuid::new_v4().simple()
    ));
    let result = (|| {
        let fail = |source| GitError::Clone {
            repo: slug.to_string(),
            url: url.to_string(),
            source,
        };
        let repo = Repository::init_bare(&staging).map_err(fail)?;
        let mut origin = repo
            .remote_with_fetch("origin", url.as_str(), REFSPECS[0])
            .map_err(fail)?;
        repo.remote_add_fetch("origin", REFSPECS[1]).map_err(fail)?;
        let stopped = Stopped::default();
        origin
            .fetch(
                &REFSPECS,
                Some(&mut fetch_options(url, credentials, limits, &stopped)),
                None,
            )
            .map_err(|source| match stopped.reason() {
                Some(reason) => GitError::Stopped {
                    repo: slug.to_string(),
                    reason,
                },
                None => fail(source),
            })?;
        if let Err(e) = follow_default_branch(&repo, url, credentials, limits) {
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
