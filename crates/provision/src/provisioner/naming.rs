//! Names derived from a repository: its dependency volume and its main image.

use slipway_core::{ContainerName, ImageRef, RepoSlug, Result};

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

/// Fills `{owner}`, `{repo}` (as given) into a volume name template.
pub(crate) fn volume_name(template: &str, repo: &RepoSlug) -> Result<ContainerName> {
    template
        .replace("{owner}", repo.owner())
        .replace("{repo}", repo.repo())
        .parse()
}

/// Fills `{owner}`, `{repo}` (made image-safe) into an image template.
pub(crate) fn main_image(template: &str, repo: &RepoSlug) -> Result<ImageRef> {
    template
        .replace("{owner}", &image_component(repo.owner()))
        .replace("{repo}", &image_component(repo.repo()))
        .parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_seed() {
        let repo: RepoSlug = "Octo-Org/My.App_v2".parse().unwrap();
        assert_eq!(
            volume_name("{owner}-{repo}-node_modules", &repo)
                .unwrap()
                .as_str(),
            "Octo-Org-My.App_v2-node_modules"
        );
        assert_eq!(
            main_image("slipway/{owner}-{repo}:main", &repo)
                .unwrap()
                .as_str(),
            "slipway/octo-org-my-app-v2:main"
        );
    }
}
