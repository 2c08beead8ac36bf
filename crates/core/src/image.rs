//! Images: building, committing, pushing and pruning.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::ids::ImageId;
use crate::labels::{LabelFilter, Labels};
use crate::names::ImageRef;
use crate::time::Timestamp;

/// What the engine reports about an image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageInfo {
    /// The image id.
    pub id: ImageId,
    /// Tags pointing at it.
    pub tags: Vec<String>,
    /// Labels.
    pub labels: Labels,
    /// When it was created.
    pub created: Option<Timestamp>,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// How many filesystem layers it stacks (what each commit on top of it adds to).
    pub layers: usize,
}

/// A build of a Dockerfile through BuildKit.
#[derive(Clone, PartialEq, Eq)]
pub struct BuildRequest {
    /// The build context as an uncompressed tar.
    pub context: Vec<u8>,
    /// The Dockerfile's path inside the context.
    pub dockerfile: String,
    /// The tag to give the result.
    pub tag: ImageRef,
    /// Labels for the result.
    pub labels: Labels,
    /// `--build-arg`s.
    pub build_args: BTreeMap<String, String>,
    /// The stage to build, if not the last.
    pub target: Option<String>,
    /// Ignore the build cache.
    pub no_cache: bool,
}

impl BuildRequest {
    /// Builds `Dockerfile` from `context` and tags the result `tag`.
    pub fn new(context: Vec<u8>, tag: ImageRef) -> Self {
        Self {
            context,
            dockerfile: "Dockerfile".to_owned(),
            tag,
            labels: Labels::new(),
            build_args: BTreeMap::new(),
            target: None,
            no_cache: false,
        }
    }
}

impl fmt::Debug for BuildRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuildRequest")
            .field("context_bytes", &self.context.len())
            .field("dockerfile", &self.dockerfile)
            .field("tag", &self.tag)
            .field("labels", &self.labels)
            .field("build_args", &self.build_args.keys().collect::<Vec<_>>())
            .field("target", &self.target)
            .field("no_cache", &self.no_cache)
            .finish()
    }
}

/// The result of a build.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BuildOutcome {
    /// The id of the built image.
    pub image_id: ImageId,
    /// Progress lines the builder reported (vertex names and their logs).
    pub log: Vec<String>,
}

/// Turning a container's filesystem into an image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommitRequest {
    /// The reference to tag the new image with.
    pub image: ImageRef,
    /// Labels for the image (replacing the container's).
    pub labels: Labels,
    /// Dockerfile instructions applied on top (`CMD`, `ENV`, `WORKDIR`, …).
    pub changes: Vec<String>,
    /// Pause the container while committing.
    pub pause: bool,
}

impl CommitRequest {
    /// Commits to `image` with `labels`, pausing the container meanwhile.
    pub fn new(image: ImageRef, labels: Labels) -> Self {
        Self {
            image,
            labels,
            changes: Vec::new(),
            pause: true,
        }
    }
}

/// Credentials for a registry. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RegistryCredentials {
    /// The user name.
    pub username: String,
    /// The password or token.
    pub password: String,
    /// The registry, e.g. `192.168.100.1:5000`.
    pub server: String,
}

impl fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("server", &self.server)
            .finish()
    }
}

/// Which unused images a prune may remove.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PruneFilter {
    /// Only images whose labels match.
    pub labels: LabelFilter,
    /// Only images created longer ago than this.
    pub older_than: Option<Duration>,
    /// Only images no tag points at any more (what replacing a tag leaves behind).
    #[serde(default)]
    pub untagged_only: bool,
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PruneReport {
    /// Ids or references of what was removed.
    pub removed: Vec<String>,
    /// Disk space reclaimed, in bytes.
    pub reclaimed_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_debug_hides_the_password() {
        let creds = RegistryCredentials {
            username: "ci".into(),
            password: "hunter2".into(),
            server: "127.0.0.1:5000".into(),
        };
        assert!(!format!("{creds:?}").contains("hunter2"));
    }
}
