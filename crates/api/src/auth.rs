//! Bearer auth: several secrets valid at once (rotation without downtime), compared in
//! constant time, replaced as a whole on reload.

use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use slipway_core::Secret;
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// The secrets a request may present. Only their SHA-256 digests are kept, so every
/// comparison is of 32 bytes whatever the secret's length.
#[derive(Clone, Default)]
pub struct Secrets {
    digests: Arc<RwLock<Vec<[u8; 32]>>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("count", &self.count())
            .finish()
    }
}

impl Secrets {
    /// Accepts exactly `secrets`.
    pub fn new(secrets: &[Secret]) -> Self {
        let this = Self::default();
        this.replace(secrets);
        this
    }

    /// Makes `secrets` the valid ones, dropping every other (a reload).
    pub fn replace(&self, secrets: &[Secret]) {
        let digests = secrets.iter().map(|s| digest(s.expose())).collect();
        *self.digests.write().unwrap_or_else(|e| e.into_inner()) = digests;
    }

    /// How many secrets are valid.
    pub fn count(&self) -> usize {
        self.digests.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether `token` is one of the secrets; every secret is compared, in constant time.
    pub fn accepts(&self, token: &str) -> bool {
        let presented = digest(token);
        let digests = self.digests.read().unwrap_or_else(|e| e.into_inner());
        let matched = digests.iter().fold(subtle::Choice::from(0), |any, known| {
            any | known.ct_eq(&presented)
        });
        bool::from(matched)
    }
}

pub(crate) fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// The bearer token of a request, if it carries one.
pub fn bearer(request: &Request) -> Option<&str> {
    request
        .headers()
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// `?token=` on the routes a browser opens without headers (event streams); everything
/// else takes the header only. Request logs never carry query strings.
pub fn query_token(request: &Request) -> Option<&str> {
    let path = request.uri().path();
    if !(path.ends_with("/logs") || path.ends_with("/terminal")) {
        return None;
    }
    request
        .uri()
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
}

/// Whether `path` needs a token: everything under `/api`, and `/metrics`.
pub fn is_protected(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/") || path == "/metrics"
}

/// The container a `/api/containers/{id}/…` path names.
fn container_of(path: &str) -> Option<&str> {
    path.strip_prefix("/api/containers/")?.split('/').next()
}

/// Middleware: a request under `/api` (or for `/metrics`) without a valid token gets a 401
/// and goes no further. The header takes an API secret; `?token=` on a terminal or log
/// stream takes an API secret, a ticket for that container, or that container's callback
/// secret.
pub(crate) async fn require_bearer(
    State(state): State<crate::ApiState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if !is_protected(path) {
        return next.run(request).await;
    }
    let allowed = match (bearer(&request), query_token(&request)) {
        (Some(token), _) => state.secrets().accepts(token),
        (None, Some(token)) => {
            let container = container_of(path);
            state.secrets().accepts(token)
                || container.is_some_and(|id| state.tickets().redeem(token, id))
                || match container {
                    Some(id) => opens_by_callback_secret(&state, id, token).await,
                    None => false,
                }
        }
        (None, None) => false,
    };
    if allowed {
        next.run(request).await
    } else {
        ApiError::unauthorized().into_response()
    }
}

/// Whether `token` is the callback secret of container `id`'s last setup.
async fn opens_by_callback_secret(state: &crate::ApiState, id: &str, token: &str) -> bool {
    match state.services().store().environment(id).await {
        Ok(Some(record)) => state.keys().accepts(&record, token),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_valid_secret_is_accepted_and_nothing_else() {
        let secrets = Secrets::new(&[
            Secret::new("old-secret-0123456789"),
            Secret::new("new-secret-0123456789"),
        ]);
        assert!(secrets.accepts("old-secret-0123456789"));
        assert!(secrets.accepts("new-secret-0123456789"));
        assert!(!secrets.accepts("new-secret-012345678"));
        assert!(!secrets.accepts(""));
        secrets.replace(&[Secret::new("new-secret-0123456789")]);
        assert!(!secrets.accepts("old-secret-0123456789"));
        assert!(secrets.accepts("new-secret-0123456789"));
    }

    #[test]
    fn no_secret_accepts_nothing() {
        assert!(!Secrets::default().accepts(""));
        assert!(!Secrets::default().accepts("anything"));
    }
}
