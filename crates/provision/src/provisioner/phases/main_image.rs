//! The main image: after a setup of the default branch, the repo's tree at that commit on
//! top of the base image, so the next environment starts from it and only applies a delta.
//!
//! It is built in a fresh container of the base image — never committed from the
//! environment, whose image may itself be the previous main image (every commit would stack
//! another layer, until the engine's layer limit) and whose writes outside volumes would be
//! inherited by every branch. It is rebuilt only when it is missing or holds another commit
//! or lockfile.

use slipway_core::{
    CommitRequest, ContainerId, ContainerSpec, Error, ImageInfo, ImageRef, RemoveOptions, Role,
    IDLE_COMMAND,
};

use super::{Checkout, Result, SetupRun};
use crate::provisioner::setup_error::SetupError;
use crate::provisioner::{MainImage, BASE_IMAGE_LABEL, COMMIT_LABEL, LOCKFILE_LABEL};

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
        let failed = |source| SetupError::Commit {
            image: image.clone(),
            source,
        };
        let current = match self
            .provisioner
            .main_image_state(repo)
            .await
            .map_err(failed)?
        {
            MainImage::Ours(image) => Some(self.inspect(&image).await.map_err(failed)?),
            MainImage::Absent => None,
            MainImage::Foreign(image) => {
                tracing::warn!(%image, "not committing the main image: its tag holds an image slipway did not commit for this repo");
                return Ok(None);
            }
        };
        let lock_hash = lock_hash.unwrap_or_default();
        if let Some(current) = &current {
            let holds = |label: &str, value: &str| {
                current.labels.get(label).map(String::as_str) == Some(value)
            };
            if holds(COMMIT_LABEL, checkout.commit.as_str()) && holds(LOCKFILE_LABEL, &lock_hash) {
                return Ok(None);
            }
        }
        let base = self.base_image(current.as_ref()).await.map_err(failed)?;
        let mut labels = self.provisioner.labels(Role::Build, repo);
        labels.insert(COMMIT_LABEL.to_owned(), checkout.commit.to_string());
        labels.insert(LOCKFILE_LABEL.to_owned(), lock_hash);
        labels.insert(BASE_IMAGE_LABEL.to_owned(), base.to_string());
        let tree = self
            .provisioner
            .cache
            .archive(&self.source, &checkout.commit)
            .await
            .map_err(|error| self.read_error("the tree", error))?;
        let tree = under_dir(&self.provisioner.config.app_dir, &tree)
            .map_err(|e| failed(Error::backend(format!("repacking the tree: {e}"))))?;

        let spec = ContainerSpec::new(base)
            .with_cmd(IDLE_COMMAND)
            .with_labels(self.provisioner.labels(Role::Build, repo));
        let runtime = &self.provisioner.runtime;
        let builder = runtime.create_container(&spec).await.map_err(failed)?;
        let committed = self.commit_tree(&builder, tree, &image, labels).await;
        let removed = runtime
            .remove_container(&builder, RemoveOptions::force())
            .await;
        committed.map_err(failed)?;
        if let Err(e) = removed {
            tracing::warn!(container = %builder, error = %e, "failed to remove the container a main image was built in");
        }
        if let Err(e) = self.provisioner.prune_replaced_main_images(repo).await {
            tracing::warn!(%image, error = %e, "failed to remove replaced main images");
        }
        Ok(Some(image))
    }

    async fn inspect(&self, image: &ImageRef) -> slipway_core::Result<ImageInfo> {
        self.provisioner.runtime.inspect_image(image).await
    }

    /// The image the main image is built on: the current main image's base, else the image
    /// this environment was created from (or that image's own base, when it is a main image).
    async fn base_image(&self, current: Option<&ImageInfo>) -> slipway_core::Result<ImageRef> {
        if let Some(base) = current.and_then(|info| info.labels.get(BASE_IMAGE_LABEL)) {
            return base.parse();
        }
        let container = self
            .provisioner
            .runtime
            .inspect_container(self.container)
            .await?;
        let created_from: ImageRef = container.image.parse()?;
        let info = self.inspect(&created_from).await?;
        match info.labels.get(BASE_IMAGE_LABEL) {
            Some(base) => base.parse(),
            None => Ok(created_from),
        }
    }

    async fn commit_tree(
        &self,
        builder: &ContainerId,
        tree: Vec<u8>,
        image: &ImageRef,
        labels: slipway_core::Labels,
    ) -> slipway_core::Result<()> {
        let runtime = &self.provisioner.runtime;
        runtime.upload_tar(builder, "/", tree).await?;
        let mut request = CommitRequest::new(image.clone(), labels);
        request.pause = false;
        runtime.commit(builder, &request).await.map(|_| ())
    }
}

/// `tar` with every entry moved under `dir` (absolute), the directories on the way included,
/// to be extracted at `/`.
fn under_dir(dir: &str, tar: &[u8]) -> std::io::Result<Vec<u8>> {
    let dir = dir.trim_matches('/');
    let mut out = tar::Builder::new(Vec::with_capacity(tar.len() + 4096));
    let mut parent = String::new();
    for component in dir.split('/').filter(|c| !c.is_empty()) {
        parent = if parent.is_empty() {
            component.to_owned()
        } else {
            format!("{parent}/{component}")
        };
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        out.append_data(&mut header, format!("{parent}/"), std::io::empty())?;
    }
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = format!("{dir}/{}", entry.path()?.display());
        let mut header = entry.header().clone();
        match entry.link_name()? {
            Some(target) => {
                let target = target.into_owned();
                out.append_link(&mut header, &path, target)?;
            }
            None => out.append_data(&mut header, &path, &mut entry)?,
        }
    }
    out.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_moves_under_the_app_directory() {
        let mut tree = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(2);
        header.set_mode(0o644);
        tree.append_data(&mut header, "src/a.js", &b"hi"[..])
            .unwrap();
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(0);
        tree.append_link(&mut link, "b.js", "src/a.js").unwrap();
        let moved = under_dir("/srv/app", &tree.into_inner().unwrap()).unwrap();
        let mut archive = tar::Archive::new(&moved[..]);
        let listed: Vec<(String, Option<String>)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.link_name().unwrap().map(|l| l.display().to_string()),
                )
            })
            .collect();
        assert_eq!(
            listed,
            [
                ("srv/".to_owned(), None),
                ("srv/app/".to_owned(), None),
                ("srv/app/src/a.js".to_owned(), None),
                ("srv/app/b.js".to_owned(), Some("src/a.js".to_owned())),
            ]
        );
    }
}
