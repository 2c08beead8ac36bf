use crate::{Error, Result};

use super::validated_name;

/// An image reference `[registry[:port]/]path[:tag][@algo:hex]` following the distribution
/// reference grammar: lower-case path components of `[a-z0-9]` joined by `.`, `_`, `__` or
/// dashes; a tag of up to 128 `[A-Za-z0-9_.-]` not starting with `.` or `-`; a name of at most
/// 255 characters.
///
/// ```
/// use slipway_core::ImageRef;
/// let image: ImageRef = "127.0.0.1:5000/team/api:dev".parse().unwrap();
/// assert_eq!(image.registry(), Some("127.0.0.1:5000"));
/// assert_eq!(image.repository(), "127.0.0.1:5000/team/api");
/// assert_eq!(image.tag(), Some("dev"));
/// assert!("Team/API".parse::<ImageRef>().is_err());
/// ```
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct ImageRef(String);

validated_name!(ImageRef);

const MAX_NAME: usize = 255;
const MAX_TAG: usize = 128;

/// The pieces of a reference, borrowed from it.
struct Parts<'a> {
    registry: Option<&'a str>,
    repository: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

fn split(value: &str) -> Parts<'_> {
    let (rest, digest) = match value.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (value, None),
    };
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (repository, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    let registry = repository.split_once('/').and_then(|(first, _)| {
        (first.contains(['.', ':'])
            || first == "localhost"
            || first.chars().any(char::is_uppercase))
        .then_some(first)
    });
    Parts {
        registry,
        repository,
        tag,
        digest,
    }
}

fn check_registry(registry: &str) -> std::result::Result<(), String> {
    let (host, port) = match registry.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (registry, None),
    };
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || !port.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("has a bad registry port `{port}`"));
        }
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
            && !c.starts_with('-')
            && !c.ends_with('-')
    };
    if host.is_empty() || !host.split('.').all(component_ok) {
        return Err(format!("has a bad registry host `{host}`"));
    }
    Ok(())
}

fn check_path_component(component: &str) -> std::result::Result<(), String> {
    let bad = || {
        Err(format!(
            "has a bad path component `{component}` (lower-case letters and digits, joined by \
             `.`, `_`, `__` or dashes)"
        ))
    };
    if component.is_empty() {
        return bad();
    }
    let is_alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !component.starts_with(is_alnum) || !component.ends_with(is_alnum) {
        return bad();
    }
    let mut run = String::new();
    for c in component.chars() {
        if is_alnum(c) {
            if !(run.is_empty()
                || run == "."
                || run == "_"
                || run == "__"
                || run.chars().all(|s| s == '-'))
            {
                return bad();
            }
            run.clear();
        } else if matches!(c, '.' | '_' | '-') {
            run.push(c);
        } else {
            return bad();
        }
    }
    Ok(())
}

fn check_tag(tag: &str) -> std::result::Result<(), String> {
    let valid = !tag.is_empty()
        && tag.len() <= MAX_TAG
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "has a bad tag `{tag}` (1-{MAX_TAG} of A-Z a-z 0-9 `_` `.` `-`, not starting with `.` or `-`)"
        ))
    }
}

fn check_digest(digest: &str) -> std::result::Result<(), String> {
    let bad = || {
        Err(format!(
            "has a bad digest `{digest}` (expected `algorithm:hex`)"
        ))
    };
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return bad();
    };
    let algorithm_ok = algorithm.starts_with(|c: char| c.is_ascii_alphabetic())
        && algorithm
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '.'));
    if !algorithm_ok || hex.len() < 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return bad();
    }
    Ok(())
}

impl ImageRef {
    fn validate(value: &str) -> Result<()> {
        Self::problem(value).map_err(|reason| {
            Error::invalid(
                "image reference",
                format!(
                    "`{}` {reason}; expected `[registry[:port]/]path[:tag][@digest]`",
                    value.escape_debug()
                ),
            )
        })
    }

    fn problem(value: &str) -> std::result::Result<(), String> {
        if value.is_empty() {
            return Err("is empty".into());
        }
        let parts = split(value);
        if parts.repository.len() > MAX_NAME {
            return Err(format!("has a name longer than {MAX_NAME} characters"));
        }
        let path = match parts.registry {
            Some(registry) => {
                check_registry(registry)?;
                &parts.repository[registry.len() + 1..]
            }
            None => parts.repository,
        };
        path.split('/').try_for_each(check_path_component)?;
        parts.tag.map(check_tag).transpose()?;
        parts.digest.map(check_digest).transpose()?;
        Ok(())
    }

    /// The registry host (and port), when the reference names one.
    pub fn registry(&self) -> Option<&str> {
        split(&self.0).registry
    }

    /// The reference without tag or digest, e.g. `127.0.0.1:5000/team/api`.
    pub fn repository(&self) -> &str {
        split(&self.0).repository
    }

    /// The tag, when one is given.
    pub fn tag(&self) -> Option<&str> {
        split(&self.0).tag
    }

    /// The digest, when one is given.
    pub fn digest(&self) -> Option<&str> {
        split(&self.0).digest
    }

    /// The same repository with `tag` (and no digest).
    pub fn with_tag(&self, tag: &str) -> Result<ImageRef> {
        format!("{}:{tag}", self.repository()).parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_references_docker_accepts() {
        for ok in [
            "busybox",
            "busybox:1.36",
            "library/busybox:latest",
            "slipway/me-app:main",
            "localhost/app",
            "localhost:5000/app:dev",
            "192.168.100.1:5000/team/api:tilt-dev",
            "registry.example.com/a/b/c",
            "my_app__x.y-z:v1",
            "a--b",
            "moby/buildkit:v0.12.5",
            "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(ok.parse::<ImageRef>().is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_malformed_references() {
        for bad in [
            "",
            "Busybox",
            "busybox:",
            "busybox:-x",
            "busybox:.x",
            "-busybox",
            "busy box",
            "a//b",
            "a/",
            "a..b",
            "a___b",
            "a:tag@sha256:short",
            "host:99999999/app",
            "-host.com/app",
            "app;rm -rf",
        ] {
            let err = bad.parse::<ImageRef>().unwrap_err();
            assert!(
                err.to_string().contains("[registry[:port]/]path"),
                "{bad:?}: {err}"
            );
        }
        assert!(format!("a:{}", "t".repeat(129))
            .parse::<ImageRef>()
            .is_err());
    }

    #[test]
    fn splits_registry_repository_tag_and_digest() {
        let image: ImageRef = "localhost:5000/team/api:dev".parse().unwrap();
        assert_eq!(image.registry(), Some("localhost:5000"));
        assert_eq!(image.repository(), "localhost:5000/team/api");
        assert_eq!(image.tag(), Some("dev"));
        assert_eq!(image.digest(), None);

        let plain: ImageRef = "team/api".parse().unwrap();
        assert_eq!(plain.registry(), None);
        assert_eq!(plain.tag(), None);
        assert_eq!(plain.with_tag("main").unwrap().as_str(), "team/api:main");
    }
}
