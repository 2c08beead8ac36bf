use crate::{Error, Result};

use super::validated_name;

/// A repository slug `owner/repo`: each part 1–100 characters of `[A-Za-z0-9_.-]`, not
/// starting with `.` or `-`, and no `..` anywhere (slugs become paths in the repo cache).
///
/// ```
/// use slipway_core::RepoSlug;
/// let slug: RepoSlug = "octo-org/hello.world".parse().unwrap();
/// assert_eq!(slug.owner(), "octo-org");
/// assert_eq!(slug.repo(), "hello.world");
/// assert!("octo/../etc".parse::<RepoSlug>().is_err());
/// ```
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct RepoSlug(String);

validated_name!(RepoSlug);

const MAX_PART: usize = 100;

impl RepoSlug {
    fn validate(value: &str) -> Result<()> {
        let invalid = |reason: String| {
            Err(Error::invalid(
                "repository",
                format!(
                    "`{}` {reason}; expected `owner/repo` where each part has 1-{MAX_PART} of \
                     A-Z a-z 0-9 `_` `.` `-`, does not start with `.` or `-`, and has no `..`",
                    value.escape_debug()
                ),
            ))
        };
        let Some((owner, repo)) = value.split_once('/') else {
            return invalid("has no `/`".into());
        };
        if value.contains("..") {
            return invalid("contains `..`".into());
        }
        for (label, part) in [("owner", owner), ("repo", repo)] {
            if part.is_empty() || part.len() > MAX_PART {
                return invalid(format!("has an {label} of the wrong length"));
            }
            if part.starts_with(['.', '-']) {
                return invalid(format!("has an {label} starting with `.` or `-`"));
            }
            if let Some(bad) = part
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
            {
                return invalid(format!("contains `{}`", bad.escape_debug()));
            }
        }
        Ok(())
    }

    /// The owner (user or organisation).
    pub fn owner(&self) -> &str {
        self.0.split_once('/').map(|(owner, _)| owner).unwrap_or("")
    }

    /// The repository name.
    pub fn repo(&self) -> &str {
        self.0.split_once('/').map(|(_, repo)| repo).unwrap_or("")
    }

    /// `owner-repo`, the form used in image and volume names (lower-cased for images).
    pub fn dashed(&self) -> String {
        format!("{}-{}", self.owner(), self.repo())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_github_style_slugs() {
        for ok in ["a/b", "octo-org/hello.world", "A_1/x-y.z", "o/repo.git"] {
            assert!(ok.parse::<RepoSlug>().is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_paths_and_odd_characters() {
        for bad in [
            "", "a", "a/", "/b", "a/b/c", "../b", "a/..", "a/b..c", ".a/b", "a/-b", "a b/c",
            "a/b\n", "a/b;rm",
        ] {
            let err = bad.parse::<RepoSlug>().unwrap_err();
            assert!(err.to_string().contains("owner/repo"), "{bad}: {err}");
        }
    }

    #[test]
    fn splits_owner_and_repo() {
        let slug: RepoSlug = "me/app".parse().unwrap();
        assert_eq!((slug.owner(), slug.repo()), ("me", "app"));
        assert_eq!(slug.dashed(), "me-app");
    }
}
