//! The main image: after a setup of the default branch, the container committed as the
//! repo's image, so the next environment starts from it and only applies a delta.

use slipway_core::{CommitRequest, ImageRef, Result, Role};

use super::{Checkout, SetupRun};
use crate::provisioner::{COMMIT_LABEL, LOCKFILE_LABEL};

impl SetupRun<'_> {
    pub(super) async fn maybe_commit_main_image(
        &self,
        checkout: &Checkout,
        lock_hash: Option<String>,
    ) -> Result<Option<ImageRef>> {
        if !self.request.build_main_image {
            return Ok(None);
        }
        let repo = &self.request.repo;
        if checkout.branch != self.provisioner.cache.default_branch(repo).await? {
            return Ok(None);
        }
        let image = self.provisioner.main_image(repo)?;
        let mut labels = self.provisioner.labels(Role::Build, repo);
        labels.insert(COMMIT_LABEL.to_owned(), checkout.commit.to_string());
        labels.insert(LOCKFILE_LABEL.to_owned(), lock_hash.unwrap_or_default());
        self.provisioner
            .runtime
            .commit(self.container, &CommitRequest::new(image.clone(), labels))
            .await?;
        Ok(Some(image))
    }
}
