use crate::{Error, Result};

use super::{has_control, validated_name};

/// A git reference name (branch, tag, full ref or commit id) following `git check-ref-format`:
/// no leading `-`, no `..`, no control characters, none of space `~ ^ : ? * [ \`, no `@{`,
/// not `@`, no component starting with `.` or ending in `.lock`, no empty component, and not
/// ending in `/` or `.`; at most 255 bytes.
///
/// ```
/// use slipway_core::GitRef;
/// assert!("feature/login-form".parse::<GitRef>().is_ok());
/// assert!("--upload-pack=evil".parse::<GitRef>().is_err());
/// ```
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct GitRef(String);

validated_name!(GitRef);

const MAX_LEN: usize = 255;
const FORBIDDEN: &[char] = &[' ', '~', '^', ':', '?', '*', '[', '\\'];

impl GitRef {
    fn validate(value: &str) -> Result<()> {
        let reason = Self::problem(value);
        match reason {
            None => Ok(()),
            Some(reason) => Err(Error::invalid(
                "git ref",
                format!(
                    "`{}` {reason}; refs follow git check-ref-format (no leading `-`, no `..`, \
                     no spaces or control characters)",
                    value.escape_debug()
                ),
            )),
        }
    }

    fn problem(value: &str) -> Option<String> {
        if value.is_empty() || value.len() > MAX_LEN {
            return Some(format!("must have 1-{MAX_LEN} bytes"));
        }
        if value.starts_with('-') {
            return Some("starts with `-`".into());
        }
        if has_control(value) {
            return Some("contains a control character".into());
        }
        if let Some(bad) = value.chars().find(|c| FORBIDDEN.contains(c)) {
            return Some(format!("contains `{bad}`"));
        }
        if value.contains("..") {
            return Some("contains `..`".into());
        }
        if value.contains("@{") || value == "@" {
            return Some("contains `@{` or is `@`".into());
        }
        if value.ends_with('/') || value.ends_with('.') {
            return Some("ends with `/` or `.`".into());
        }
        for component in value.split('/') {
            if component.is_empty() {
                return Some("has an empty path component".into());
            }
            if component.starts_with('.') {
                return Some("has a component starting with `.`".into());
            }
            if component.ends_with(".lock") {
                return Some("has a component ending in `.lock`".into());
            }
        }
        None
    }

    /// Whether this looks like a full or abbreviated commit id (7–40 hex digits).
    pub fn is_commit_id(&self) -> bool {
        (7..=40).contains(&self.0.len()) && self.0.chars().all(|c| c.is_ascii_hexdigit())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_branches_tags_and_commits() {
        for ok in [
            "main",
            "feature/login-form",
            "refs/heads/main",
            "v1.2.3",
            "a@b",
            "0123abc",
            "release_2026.11",
        ] {
            assert!(ok.parse::<GitRef>().is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_what_git_rejects() {
        for bad in [
            "",
            "-x",
            "--upload-pack=sh",
            "a..b",
            "a b",
            "a~1",
            "a^",
            "a:b",
            "a?",
            "a*",
            "a[",
            "a\\b",
            "a\tb",
            "a\u{7f}",
            "@",
            "a@{1}",
            "a/",
            "a.",
            "a//b",
            "/a",
            ".hidden",
            "a/.b",
            "x.lock",
            "a/b.lock/c",
        ] {
            let err = bad.parse::<GitRef>().unwrap_err();
            assert!(
                err.to_string().contains("check-ref-format"),
                "{bad:?}: {err}"
            );
        }
        assert!("a".repeat(256).parse::<GitRef>().is_err());
    }

    #[test]
    fn recognises_commit_ids() {
        assert!("0123abcd".parse::<GitRef>().unwrap().is_commit_id());
        assert!(!"main".parse::<GitRef>().unwrap().is_commit_id());
    }
}
