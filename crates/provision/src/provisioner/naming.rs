//! Names derived from a repository: its dependency store and its main image. `{hash}`
//! is the start of a SHA-256 of the exact slug, so slugs that read alike once made name-safe
//! (`a-b/c` and `a/b-c`, `Org/App` and `org/app`) never share an object.

use sha2::{Digest, Sha256};
use slipway_core::{ContainerName, ImageRef, RepoSlug, Result};

/// The first 12 hex digits of the SHA-256 of the slug exactly as given.
fn slug_hash(repo: &RepoSlug) -> String {
    hex::encode(&Sha256::digest(repo.as_str().as_bytes())[..6])
}

/// Lower-cases and turns every run of characters an image path can't hold into one `-`.
fn image_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

/// Fills `{owner}`, `{repo}` (as given) and `{hash}` into a volume name template.
pub(crate) fn volume_name(template: &str, repo: &RepoSlug) -> Result<ContainerName> {
    template
        .replace("{owner}", repo.owner())
        .replace("{repo}", repo.repo())
        .replace("{hash}", &slug_hash(repo))
        .parse()
}

/// Fills `{owner}`, `{repo}` (made image-safe) and `{hash}` into an image template.
pub(crate) fn main_image(template: &str, repo: &RepoSlug) -> Result<ImageRef> {
    template
        .replace("{owner}", &image_component(repo.owner()))
        .replace("{repo}", &image_component(repo.repo()))
        .replace("{hash}", &slug_hash(repo))
        .parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_like_the_slug_and_end_in_its_hash() {
        let repo: RepoSlug = "Octo-Org/My.App_v2".parse().unwrap();
        let hash = slug_hash(&repo);
        assert_eq!(hash.len(), 12);
        assert_eq!(
            volume_name("{owner}-{repo}-{hash}-node_modules", &repo)
                .unwrap()
                .as_str(),
            format!("Octo-Org-My.App_v2-{hash}-node_modules")
        );
        assert_eq!(
            main_image("slipway/{owner}-{repo}-{hash}:main", &repo)
                .unwrap()
                .as_str(),
            format!("slipway/octo-org-my-app-v2-{hash}:main")
        );
    }

    #[test]
    fn slugs_that_read_alike_get_different_names() {
        let defaults = crate::ProvisionConfig::default();
        let pairs = [
            ("a-b/c", "a/b-c"),
            ("Org/App", "org/app"),
            ("o/a.b", "o/a-b"),
        ];
        for (one, other) in pairs {
            let (one, other): (RepoSlug, RepoSlug) = (one.parse().unwrap(), other.parse().unwrap());
            assert_ne!(
                volume_name(&defaults.volume_template, &one).unwrap(),
                volume_name(&defaults.volume_template, &other).unwrap(),
                "{one} and {other}"
            );
            assert_ne!(
                main_image(&defaults.image_template, &one).unwrap(),
                main_image(&defaults.image_template, &other).unwrap(),
                "{one} and {other}"
            );
        }
        // A fixed slug has a fixed hash: names survive restarts and upgrades.
        assert_eq!(slug_hash(&"a/b".parse().unwrap()), "c14cddc033f6");
    }
}
