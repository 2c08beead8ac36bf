//! Cloning: fetch the mirror, resolve the branch, and copy the tree (or only the delta from
//! the main image's commit) into the app directory.

use std::time::Duration;

use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use slipway_core::{labels, CommitId, ExecRequest, GitRef, PipeRequest, PipeSession};

use super::{marker_path, Checkout, Result, SetupRun};
use crate::provisioner::setup_error::SetupError;
use crate::provisioner::{scripts, AppStorage, COMMIT_LABEL, DEPENDENCY_STORE_LABEL, MARKER_FILE};

/// How long unpacking a tree in the container may take.
const COPY_TIMEOUT: Duration = Duration::from_secs(300);

/// How a streamed unpack ended.
enum Unpacked {
    /// The tree is in place; the tar's size.
    Done(u64),
    /// The image has no `tar`.
    NoTar,
}

/// What [`scripts::PREPARE`] printed: the link's exit status (`None` when it didn't try),
/// and the fingerprint the dependency directory holds.
fn prepared(output: &str) -> (Option<i64>, Option<String>) {
    let (status, marker) = match output.split_once('\n') {
        Some((first, rest)) => match first.strip_prefix(scripts::LINK_STATUS) {
            Some(status) => (status.trim().parse().ok(), rest),
            None => (None, output),
        },
        None => (None, output),
    };
    let marker = Some(marker.trim().to_owned()).filter(|h| !h.is_empty());
    (status, marker)
}

/// The status [`scripts::UNPACK`] printed last, and what `tar` said before it.
fn unpack_status(output: &str) -> (Option<i32>, &str) {
    match output.rfind(scripts::UNPACK_STATUS) {
        Some(at) => {
            let status = output[at + scripts::UNPACK_STATUS.len()..]
                .trim()
                .parse()
                .ok();
            (status, &output[..at])
        }
        None => (None, output),
    }
}

impl SetupRun<'_> {
    pub(super) async fn clone_phase(&self, log: &mut Vec<String>) -> Result<Checkout> {
        let (cache, source, config) = (
            &self.provisioner.cache,
            &self.source,
            &self.provisioner.config,
        );
        let repo = &source.repo;
        // The container's labels and the fetch don't depend on each other.
        let (info, mirror) = tokio::join!(
            self.provisioner.runtime.inspect_container(self.container),
            cache.ensure(source, self.request.credentials.clone())
        );
        let info = info.map_err(|source| SetupError::Inspect {
            container: self.container.clone(),
            source,
        })?;
        let mirror = mirror.map_err(|error| SetupError::Fetch {
            source_repo: source.clone(),
            source: error,
        })?;
        log.push(if mirror.cloned {
            format!("cloned {repo} into the repo cache")
        } else {
            format!("fetched {repo}")
        });
        let branch = match &self.request.branch {
            Some(branch) => branch.clone(),
            None => cache
                .default_branch(source)
                .await
                .map_err(|error| self.resolve_error("the default branch", error))?,
        };
        let commit = cache
            .resolve(source, &branch)
            .await
            .map_err(|error| self.resolve_error(branch.as_str(), error))?;
        log.push(format!("{branch} is at {commit}"));

        // A container from the repo's main image holds the tree at the image's commit.
        let base = (info.labels.get(labels::REPO) == Some(&repo.to_string()))
            .then(|| {
                info.labels
                    .get(COMMIT_LABEL)
                    .and_then(|c| CommitId::try_from(c.clone()).ok())
            })
            .flatten();
        // Read here so that the app directory's preparation can link the store's install
        // of it while the tree is copied.
        let lockfile = self.lockfile(&commit).await?;
        let hash = lockfile.as_ref().map_or("", |(_, hash)| hash.as_str());
        let marker = marker_path(&config.deps_mount);
        let prepare_args = [
            config.app_dir.as_str(),
            marker.as_str(),
            config.deps_store.as_str(),
            hash,
            config.deps_mount.as_str(),
            MARKER_FILE,
        ];
        let prepare = self.sh_ok("prepare the app directory", scripts::PREPARE, &prepare_args);
        let (installed_hash, from_main_image) = match &base {
            Some(base) => {
                let (installed_hash, delta) =
                    tokio::join!(prepare, self.apply_delta(base, &branch, &commit, log));
                let (installed_hash, delta) = (installed_hash?, delta?);
                if !delta {
                    self.copy_tree_logged(&branch, &commit, log).await?;
                }
                (installed_hash, delta)
            }
            // Reading the dependency directory's marker needn't wait for the tree (nor the
            // tree for it).
            None => {
                let (installed_hash, copied) =
                    tokio::join!(prepare, self.copy_tree_logged(&branch, &commit, log));
                copied?;
                (installed_hash?, false)
            }
        };
        let (link_status, installed_hash) = prepared(&installed_hash);
        Ok(Checkout {
            branch,
            commit,
            from_main_image,
            lockfile,
            link_status,
            installed_hash,
            store: info.labels.get(DEPENDENCY_STORE_LABEL).cloned(),
            image: info.image.clone(),
            memory_bytes: info.memory_limit_bytes,
        })
    }

    /// Brings a main-image container from `base` to `commit` by copying only what changed.
    /// Returns false (after emptying the app directory) when the diff can't be had.
    async fn apply_delta(
        &self,
        base: &CommitId,
        branch: &GitRef,
        commit: &CommitId,
        log: &mut Vec<String>,
    ) -> Result<bool> {
        let (cache, source, config) = (
            &self.provisioner.cache,
            &self.source,
            &self.provisioner.config,
        );
        let diff = match cache.diff(source, base, commit).await {
            Ok(diff) => diff,
            Err(e) => {
                log.push(format!(
                    "the main image's commit {base} is unknown ({e}); copying the whole tree"
                ));
                let mount = config.deps_mount.rsplit('/').next().unwrap_or_default();
                self.sh_ok(
                    "empty the app directory",
                    scripts::CLEAN_APP,
                    &[&config.app_dir, mount],
                )
                .await?;
                return Ok(false);
            }
        };
        if !diff.changed.is_empty() {
            let tar = cache
                .archive_paths(source, commit, &diff.changed)
                .await
                .map_err(|error| self.read_error("the changed files", error))?;
            self.upload(branch, tar).await?;
        }
        if !diff.deleted.is_empty() {
            let mut args = vec![config.app_dir.as_str()];
            args.extend(diff.deleted.iter().map(String::as_str));
            self.sh_ok("remove deleted files", scripts::REMOVE_FILES, &args)
                .await?;
        }
        log.push(format!(
            "started from the main image at {}: {} changed, {} deleted",
            &base.as_str()[..12],
            diff.changed.len(),
            diff.deleted.len()
        ));
        Ok(true)
    }

    /// [`Self::copy_tree`], saying so in `log`.
    pub(super) async fn copy_tree_logged(
        &self,
        branch: &GitRef,
        commit: &CommitId,
        log: &mut Vec<String>,
    ) -> Result<()> {
        let bytes = self.copy_tree(branch, commit).await?;
        log.push(format!(
            "copied the tree ({} KiB) into {}",
            bytes / 1024,
            self.provisioner.config.app_dir
        ));
        Ok(())
    }

    /// Streams the tree at `commit` into the app directory: `tar -x` in the container reads
    /// it on a pipe while the repo cache is still producing it; images without `tar` get it
    /// through the archive API. Returns the tar's size.
    async fn copy_tree(&self, branch: &GitRef, commit: &CommitId) -> Result<u64> {
        let failed = |source| self.copy_error(branch, source);
        let tar = self
            .provisioner
            .cache
            .archive_stream(&self.source, commit)
            .await
            .map_err(|error| self.read_error("the tree", error))?;
        let unpacked = tokio::time::timeout(COPY_TIMEOUT, self.unpack_streamed(branch, tar))
            .await
            .map_err(|_| {
                failed(slipway_core::Error::backend(format!(
                    "`tar -x` in the container ran out of time after {COPY_TIMEOUT:?}"
                )))
            })?;
        match unpacked? {
            Unpacked::Done(bytes) => Ok(bytes),
            Unpacked::NoTar => {
                let tar = self
                    .provisioner
                    .cache
                    .archive(&self.source, commit)
                    .await
                    .map_err(|error| self.read_error("the tree", error))?;
                let bytes = tar.len() as u64;
                let app_dir = &self.provisioner.config.app_dir;
                self.provisioner
                    .runtime
                    .upload_tar(self.container, app_dir, tar)
                    .await
                    .map_err(failed)?;
                Ok(bytes)
            }
        }
    }

    /// Feeds `tar` to [`scripts::UNPACK`] as it arrives.
    async fn unpack_streamed(
        &self,
        branch: &GitRef,
        mut tar: BoxStream<'static, slipway_core::Result<Vec<u8>>>,
    ) -> Result<Unpacked> {
        let app_dir = self.provisioner.config.app_dir.as_str();
        let pipe = PipeRequest::new(["/bin/sh", "-c", scripts::UNPACK, "slipway", app_dir]);
        let PipeSession { mut stdout, input } = self
            .provisioner
            .runtime
            .exec_pipe(self.container, &pipe)
            .await
            .map_err(|source| self.copy_error(branch, source))?;
        let feed = async move {
            let mut input = input;
            let mut bytes = 0u64;
            while let Some(chunk) = tar.next().await {
                let chunk = chunk?;
                bytes += chunk.len() as u64;
                // A closed pipe means `tar` is gone; its status says why.
                if input.write(&chunk).await.is_err() {
                    return Ok(bytes);
                }
            }
            let _ = input.close().await;
            Ok::<_, slipway_core::Error>(bytes)
        };
        let drain = async move {
            let mut output = Vec::new();
            while let Some(Ok(chunk)) = stdout.next().await {
                output.extend_from_slice(&chunk);
            }
            output
        };
        let (fed, output) = tokio::join!(feed, drain);
        let bytes = fed.map_err(|error| self.read_error("the tree", error))?;
        let output = String::from_utf8_lossy(&output);
        match unpack_status(&output) {
            (Some(0), _) => Ok(Unpacked::Done(bytes)),
            (Some(126 | 127), _) => Ok(Unpacked::NoTar),
            (status, messages) => Err(self.copy_error(
                branch,
                self.tar_failed(
                    match status {
                        Some(code) => format!("exited with {code}"),
                        None => "did not finish".to_owned(),
                    },
                    messages,
                ),
            )),
        }
    }

    /// `tar -x` in the container failed as `how` says, printing `messages`; when it ran out
    /// of room in a memory app directory, the error says what to do.
    fn tar_failed(&self, how: String, messages: &str) -> slipway_core::Error {
        let in_memory = self.provisioner.config.app_storage == AppStorage::Memory;
        let hint = if in_memory && messages.contains("No space left on device") {
            " (the tree does not fit in the app directory's tmpfs, half the environment's \
             memory: give the environment more memory or set provision.app_storage = \"volume\")"
        } else {
            ""
        };
        slipway_core::Error::backend(format!(
            "`tar -x` in the container {how}: {}{hint}",
            messages.trim()
        ))
    }

    fn copy_error(&self, branch: &GitRef, source: slipway_core::Error) -> SetupError {
        SetupError::Copy {
            repo: self.source.repo.to_string(),
            branch: branch.clone(),
            container: self.container.clone(),
            source,
        }
    }

    /// Unpacks `tar` into the app directory: `tar -x` in the container fed on its stdin
    /// (about twice as fast as the engine's archive API, which unpacks through the storage
    /// driver's diff path), or the archive API for images without `tar`.
    async fn upload(&self, branch: &GitRef, tar: Vec<u8>) -> Result<()> {
        let failed = |source| self.copy_error(branch, source);
        let app_dir = &self.provisioner.config.app_dir;
        let runtime = &self.provisioner.runtime;
        let mut request = ExecRequest::new(["tar", "-x", "-f", "-", "-C", app_dir.as_str()])
            .with_stdin(tar)
            .with_timeout(COPY_TIMEOUT);
        let outcome = runtime
            .exec(self.container, &request)
            .await
            .map_err(failed)?;
        match outcome.exit_code {
            Some(0) => Ok(()),
            // No `tar` in the image.
            Some(126 | 127) => {
                let tar = request.stdin.take().unwrap_or_default();
                runtime
                    .upload_tar(self.container, app_dir, tar)
                    .await
                    .map_err(failed)
            }
            code => Err(failed(self.tar_failed(
                match code {
                    Some(code) => format!("exited with {code}"),
                    None => format!("ran out of time after {COPY_TIMEOUT:?}"),
                },
                &outcome.stderr_text(),
            ))),
        }
    }

    fn resolve_error(&self, branch: &str, source: slipway_core::Error) -> SetupError {
        SetupError::Resolve {
            repo: self.source.repo.to_string(),
            branch: branch.to_owned(),
            source,
        }
    }

    pub(super) fn read_error(&self, what: &'static str, source: slipway_core::Error) -> SetupError {
        SetupError::Read {
            repo: self.source.repo.to_string(),
            what,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preparation_says_how_linking_went_and_what_the_directory_holds() {
        assert_eq!(
            prepared("slipway-link:0\nabc\n"),
            (Some(0), Some("abc".to_owned()))
        );
        assert_eq!(prepared("slipway-link:11\n"), (Some(11), None));
        assert_eq!(
            prepared("slipway-link:skipped\nabc"),
            (None, Some("abc".to_owned()))
        );
        assert_eq!(prepared("abc\n"), (None, Some("abc".to_owned())));
    }

    #[test]
    fn the_unpack_status_is_the_last_status_line() {
        let ok = format!("{}0\n", scripts::UNPACK_STATUS);
        assert_eq!(unpack_status(&ok), (Some(0), ""));
        let failed = format!("tar: short read\n{}2\n", scripts::UNPACK_STATUS);
        assert_eq!(unpack_status(&failed), (Some(2), "tar: short read\n"));
        assert_eq!(unpack_status("mkdir: permission denied\n").0, None);
    }
}
