//! The main image: after a setup of the default branch, the container committed as the
//! repo's image, so the next environment starts from it and only applies a delta.

use slipway_core::{CommitRequest, ImageRef, Role};

use super::{Checkout, Result, SetupRun};
use crate::provisioner::setup_error::SetupError;
use crate::provisioner::{MainImage, COMMIT_LABEL, LOCKFILE_LABEL};

impl SetupRun<'_> {
    pub(super) async fn maybe_commit_main_image(
        &self,
        checkout: &Checkout,
        lock_hash: Option<String>,
    ) -> Result<Option<ImageRef>> {
        if !self.request.build_main_image {
            return Ok(None);
        }
        let repo = &self.source.repo;
        let default = self
            .provisioner
            .cache
            .default_branch(&self.source)
            .await
            .map_err(|error| self.read_error("the default branch", error))?;
        if checkout.branch != default {
            return Ok(None);
        }
        let image = self
            .provisioner
            .main_image(repo)
            .map_err(SetupError::Invalid)?;
        let image = match self
            .provisioner
            .main_image_state(repo)
            .await
            .map_err(|source| SetupError::Commit { image, source })?
        {
            MainImage::Ours(image) | MainImage::Absent(image) => image,
            MainImage::Foreign(image) => {
                tracing::warn!(%image, "not committing the main image: its tag holds an image slipway did not commit for this repo");
                return Ok(None);
            }
        };
        let mut labels = self.provisioner.labels(Role::Build, repo);
        labels.insert(COMMIT_LABEL.to_owned(), checkout.commit.to_string());
        labels.insert(LOCKFILE_LABEL.to_owned(), lock_hash.unwrap_or_default());
        self.provisioner
            .runtime
            .commit(self.container, &CommitRequest::new(image.clone(), labels))
            .await
            .map_err(|source| SetupError::Commit {
                image: image.clone(),
                source,
            })?;
        Ok(Some(image))
    }
}
