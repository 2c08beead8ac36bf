//! Which remote URLs a mirror may fetch from.

use slipway_core::{Error, Result};

/// Where repositories come from unless configured otherwise.
pub const DEFAULT_URL_TEMPLATE: &str = "https://github.com/{owner}/{repo}.git";

const SCHEMES: &[&str] = &["https://", "http://", "git://", "file://"];

/// Accepts `https://`, `http://`, `git://` and `file://` URLs without embedded credentials
/// (credentials go through the credential callback, never into a URL).
pub fn validate_remote_url(url: &str) -> Result<()> {
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
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return invalid("contains whitespace or control characters");
    }
    let rest = &url[scheme.len()..];
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return invalid("carries credentials; pass a token instead");
    }
    if *scheme != "file://" && authority.is_empty() {
        return invalid("has no host");
    }
    Ok(())
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
            validate_remote_url(ok).unwrap();
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
            "https:///path",
        ] {
            let err = validate_remote_url(bad).unwrap_err();
            assert!(
                err.to_string().contains("without credentials"),
                "{bad}: {err}"
            );
        }
    }
}
