use crate::{Error, Result};

use super::{has_control, validated_name};

/// A git remote URL: `https://`, `http://`, `git://` or `file://`, with a host (but for
/// `file://`), without credentials (they go through a credential callback, never a URL),
/// whitespace or control characters.
///
/// ```
/// use slipway_core::RemoteUrl;
/// assert!("https://github.com/me/app.git".parse::<RemoteUrl>().is_ok());
/// assert!("https://me:tok@github.com/me/app.git".parse::<RemoteUrl>().is_err());
/// assert!("ext::sh -c touch% /tmp/pwned".parse::<RemoteUrl>().is_err());
/// ```
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct RemoteUrl(String);

validated_name!(RemoteUrl);

const SCHEMES: &[&str] = &["https://", "http://", "git://", "file://"];
const MAX_LEN: usize = 2048;

impl RemoteUrl {
    fn validate(url: &str) -> Result<()> {
        let invalid = |reason: &str| {
            Err(Error::invalid(
                "remote URL",
                format!(
                    "`{}` {reason}; expected https://, http://, git:// or file:// without credentials",
                    url.escape_debug()
                ),
            ))
        };
        let Some(scheme) = SCHEMES.iter().find(|scheme| url.starts_with(*scheme)) else {
            return invalid("has an unsupported scheme");
        };
        if url.len() > MAX_LEN {
            return invalid("is too long");
        }
        if has_control(url) || url.chars().any(char::is_whitespace) {
            return invalid("contains whitespace or control characters");
        }
        let authority = url[scheme.len()..].split('/').next().unwrap_or_default();
        if authority.contains('@') {
            return invalid("carries credentials; pass a token instead");
        }
        if *scheme != "file://" && authority.is_empty() {
            return invalid("has no host");
        }
        Ok(())
    }

    /// The scheme, e.g. `https`.
    pub fn scheme(&self) -> &str {
        self.0.split("://").next().unwrap_or_default()
    }

    /// The host (and port) the URL points at; empty for `file://`.
    pub fn authority(&self) -> &str {
        self.0
            .split_once("://")
            .map_or("", |(_, rest)| rest.split('/').next().unwrap_or_default())
    }

    /// Whether credentials may be sent to it: only over `https`, which protects them in
    /// transit and authenticates the host.
    pub fn carries_credentials_safely(&self) -> bool {
        self.scheme() == "https"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_remote_urls() {
        for ok in [
            "https://github.com/me/app.git",
            "git://127.0.0.1:9418/me/app",
            "file:///srv/git/me/app.git",
            "http://host/x",
        ] {
            ok.parse::<RemoteUrl>().unwrap();
        }
    }

    #[test]
    fn refuses_credentials_odd_schemes_and_whitespace() {
        for bad in [
            "https://x-access-token:gho_secret@github.com/me/app.git",
            "https://me@github.com/me/app.git",
            "ext::sh -c touch% /tmp/pwned",
            "ssh://git@github.com/me/app",
            "--upload-pack=evil",
            "https://github.com/me/app .git",
            "https://github.com/me/app\u{7}.git",
            "https:///path",
        ] {
            let err = bad.parse::<RemoteUrl>().unwrap_err();
            assert!(
                err.to_string().contains("without credentials"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn only_https_carries_credentials() {
        let https: RemoteUrl = "https://github.com:443/me/app.git".parse().unwrap();
        assert!(https.carries_credentials_safely());
        assert_eq!(https.authority(), "github.com:443");
        for plain in [
            "http://github.com/me/app",
            "git://h/me/app",
            "file:///srv/me/app",
        ] {
            assert!(!plain
                .parse::<RemoteUrl>()
                .unwrap()
                .carries_credentials_safely());
        }
    }
}
