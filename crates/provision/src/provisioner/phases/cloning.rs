//! Cloning: fetch the mirror, resolve the branch, and copy the tree (or only the delta from
//! the main image's commit) into the app directory.

use slipway_core::{labels, CommitId, Result};

use super::{marker_path, Checkout, SetupRun};
use crate::provisioner::{scripts, COMMIT_LABEL};

impl SetupRun<'_> {
    pub(super) async fn clone_phase(&self, log: &mut Vec<String>) -> Result<Checkout> {
        let (cache, repo, config) = (
            &self.provisioner.cache,
            &self.request.repo,
            &self.provisioner.config,
        );
        let info = self
            .provisioner
            .runtime
            .inspect_container(self.container)
            .await?;
        let mirror = cache.ensure(repo, self.request.credentials.clone()).await?;
        log.push(if mirror.cloned {
            format!("cloned {repo} into the repo cache")
        } else {
            format!("fetched {repo}")
        });
        let branch = match &self.request.branch {
            Some(branch) => branch.clone(),
            None => cache.default_branch(repo).await?,
        };
        let commit = cache.resolve(repo, &branch).await?;
        log.push(format!("{branch} is at {commit}"));

        let marker = marker_path(&config.deps_mount);
        let installed_hash = self
            .sh_ok(
                "prepare the app directory",
                scripts::PREPARE,
                &[&config.app_dir, &marker],
            )
            .await?;
        let installed_hash = Some(installed_hash.trim().to_owned()).filter(|h| !h.is_empty());

        // A container from the repo's main image holds the tree at the image's commit.
        let base = (info.labels.get(labels::REPO) == Some(&repo.to_string()))
            .then(|| {
                info.labels
                    .get(COMMIT_LABEL)
                    .and_then(|c| CommitId::try_from(c.clone()).ok())
            })
            .flatten();
        let from_main_image = match &base {
            Some(base) => self.apply_delta(base, &commit, log).await?,
            None => false,
        };
        if !from_main_image {
            let tar = cache.archive(repo, &commit).await?;
            log.push(format!(
                "copying the tree ({} KiB) into {}",
                tar.len() / 1024,
                config.app_dir
            ));
            self.provisioner
                .runtime
                .upload_tar(self.container, &config.app_dir, tar)
                .await?;
        }
        Ok(Checkout {
            branch,
            commit,
            from_main_image,
            installed_hash,
        })
    }

    /// Brings a main-image container from `base` to `commit` by copying only what changed.
    /// Returns false (after emptying the app directory) when the diff can't be had.
    pub(super) async fn apply_delta(
        &self,
        base: &CommitId,
        commit: &CommitId,
        log: &mut Vec<String>,
    ) -> Result<bool> {
        let (cache, repo, config) = (
            &self.provisioner.cache,
            &self.request.repo,
            &self.provisioner.config,
        );
        let diff = match cache.diff(repo, base, commit).await {
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
            let tar = cache.archive_paths(repo, commit, &diff.changed).await?;
            self.provisioner
                .runtime
                .upload_tar(self.container, &config.app_dir, tar)
                .await?;
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
}
