//! Which remote URLs a mirror may fetch from (the rules live in core's [`RemoteUrl`]).

use slipway_core::{RemoteUrl, Result};

/// Where repositories come from unless configured otherwise.
pub const DEFAULT_URL_TEMPLATE: &str = "https://github.com/{owner}/{repo}.git";

/// Accepts `https://`, `http://`, `git://` and `file://` URLs without embedded credentials
/// (credentials go through the credential callback, never into a URL).
pub fn validate_remote_url(url: &str) -> Result<()> {
    url.parse::<RemoteUrl>().map(drop)
}
