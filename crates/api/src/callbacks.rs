//! Signed status callbacks: each phase change of a setup POSTed to the caller's URL, signed
//! with its secret, retried with exponential backoff, in order per container, never holding
//! the setup up.
//!
//! A callback's URL and secret are kept in a 0600 file under the state directory while the
//! setup runs, so the process that settles a setup a crash interrupted can still report it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use slipway_core::{Error, Result, Secret, Timestamp};

/// Header carrying `sha256=<hex HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "X-Slipway-Signature";
/// Header carrying the delivery's id (the same on every retry).
pub const DELIVERY_HEADER: &str = "X-Slipway-Delivery";
/// Longest callback URL accepted.
const MAX_URL: usize = 2048;
/// The first retry's wait; each later one doubles, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Where one container's callbacks go.
#[derive(Clone, Serialize, Deserialize)]
pub struct CallbackTarget {
    /// An http or https URL.
    pub url: String,
    secret: String,
}

impl std::fmt::Debug for CallbackTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackTarget")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl CallbackTarget {
    /// Checks the URL (http or https, with a host, no credentials in it) and keeps the secret.
    pub fn new(url: &str, secret: &Secret) -> Result<Self> {
        let invalid = |reason: &str| Error::invalid("callbackUrl", reason.to_owned());
        if url.len() > MAX_URL {
            return Err(invalid("is longer than 2048 characters"));
        }
        let parsed =
            reqwest::Url::parse(url).map_err(|e| invalid(&format!("is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid("must be an http:// or https:// URL"));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(invalid("must name a host"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(invalid(
                "must not carry credentials (sign with callbackSecret)",
            ));
        }
        if secret.expose().is_empty() {
            return Err(Error::invalid("callbackSecret", "must not be empty"));
        }
        Ok(Self {
            url: parsed.to_string(),
            secret: secret.expose().to_owned(),
        })
    }

    /// `sha256=<hex>` of `body`.
    pub fn sign(&self, body: &[u8]) -> String {
        signature(self.secret.as_bytes(), body)
    }

    /// The secret, which also opens this container's terminal and log stream.
    pub(crate) fn secret(&self) -> Secret {
        Secret::new(self.secret.clone())
    }

    /// Whether `presented` is the signature of `body` with `secret` (for receivers and tests).
    pub fn verify(secret: &str, body: &[u8], presented: &str) -> bool {
        let Some(hex_part) = presented.strip_prefix("sha256=") else {
            return false;
        };
        let Ok(bytes) = hex::decode(hex_part) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(body);
        mac.verify_slice(&bytes).is_ok()
    }
}

fn signature(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// One status change, as POSTed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackEvent {
    /// The container (environment) id.
    pub container_id: String,
    /// `cloning`, `installing`, `starting`, `ready` or `error`.
    pub phase: String,
    /// `started`, `succeeded` or `failed`.
    pub status: String,
    /// What happened, for a human.
    pub message: Option<String>,
    /// When, in milliseconds since the epoch.
    pub timestamp: i64,
    /// This delivery's id, unique per event, the same on every retry.
    pub delivery_id: String,
}

impl CallbackEvent {
    /// An event of `container` now.
    pub fn new(container: &str, phase: &str, status: &str, message: Option<String>) -> Self {
        Self {
            container_id: container.to_owned(),
            phase: phase.to_owned(),
            status: status.to_owned(),
            message,
            timestamp: Timestamp::now().unix_millis(),
            delivery_id: uuid::Uuid::new_v4().to_string(),
        }
    }
}

/// Delivers callbacks; one ordered queue per container.
#[derive(Clone)]
pub struct Callbacks {
    client: reqwest::Client,
    attempts: u32,
    dir: PathBuf,
    /// Each container's queue, so events of consecutive setups stay in order.
    queues: Arc<Mutex<HashMap<String, tokio::sync::mpsc::UnboundedSender<Queued>>>>,
}

struct Queued {
    target: CallbackTarget,
    event: CallbackEvent,
}

impl Callbacks {
    /// Deliveries that give up after `attempts`, each within `timeout`; targets of running
    /// setups kept in `dir`.
    pub fn new(dir: PathBuf, timeout: Duration, attempts: u32) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A redirect would take the signed body somewhere the caller did not name.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::invalid("callback client", e.to_string()))?;
        Ok(Self {
            client,
            attempts: attempts.max(1),
            dir,
            queues: Arc::default(),
        })
    }

    /// Queues `event` for `target`; returns at once.
    pub fn send(&self, target: &CallbackTarget, event: CallbackEvent) {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let container = event.container_id.clone();
        let queued = Queued {
            target: target.clone(),
            event,
        };
        let queued = match queues.get(&container) {
            Some(queue) => match queue.send(queued) {
                Ok(()) => return,
                Err(returned) => returned.0,
            },
            None => queued,
        };
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        let _ = sender.send(queued);
        queues.insert(container.clone(), sender);
        tokio::spawn(self.clone().drain(container, receiver));
    }

    async fn drain(
        self,
        container: String,
        mut receiver: tokio::sync::mpsc::UnboundedReceiver<Queued>,
    ) {
        loop {
            let next = tokio::time::timeout(Duration::from_secs(60), receiver.recv()).await;
            match next {
                Ok(Some(queued)) => self.deliver(&queued.target, &queued.event).await,
                // Idle for a minute (or closed): retire the queue unless something arrived
                // while it was being retired.
                _ => {
                    let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
                    match receiver.try_recv() {
                        Ok(queued) => {
                            drop(queues);
                            self.deliver(&queued.target, &queued.event).await;
                        }
                        Err(_) => {
                            queues.remove(&container);
                            return;
                        }
                    }
                }
            }
        }
    }

    /// POSTs `event` until a 2xx or the attempts run out; failures are logged.
    pub async fn deliver(&self, target: &CallbackTarget, event: &CallbackEvent) {
        let body = serde_json::to_vec(event).expect("a callback event serializes");
        let signature = target.sign(&body);
        let mut wait = FIRST_BACKOFF;
        for attempt in 1..=self.attempts {
            let outcome = self
                .client
                .post(&target.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(SIGNATURE_HEADER, &signature)
                .header(DELIVERY_HEADER, &event.delivery_id)
                .body(body.clone())
                .send()
                .await;
            let failure = match outcome {
                Ok(response) if response.status().is_success() => return,
                Ok(response) => format!("answered {}", response.status()),
                Err(e) => e.without_url().to_string(),
            };
            tracing::info!(container = %event.container_id, phase = %event.phase, attempt, %failure, "callback not delivered");
            if attempt < self.attempts {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_BACKOFF);
            }
        }
        tracing::warn!(container = %event.container_id, phase = %event.phase, delivery = %event.delivery_id, "callback given up");
    }

    /// Keeps `target` for `container` while its setup runs (0600).
    pub fn remember(&self, container: &str, target: &CallbackTarget) -> Result<()> {
        let body = serde_json::to_vec(target).expect("a target serializes");
        crate::private_file::write(&self.path(container), &body)
            .map_err(|e| Error::invalid("callback state", e.to_string()))
    }

    /// The target kept for `container`, if any.
    pub fn remembered(&self, container: &str) -> Option<CallbackTarget> {
        let text = std::fs::read(self.path(container)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Forgets `container`'s target (its setup ended).
    pub fn forget(&self, container: &str) {
        let _ = std::fs::remove_file(self.path(container));
    }

    fn path(&self, container: &str) -> PathBuf {
        self.dir.join(format!("{container}.json"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_the_hmac_of_the_raw_body() {
        let target = CallbackTarget::new("http://127.0.0.1:9/cb", &Secret::new("k")).unwrap();
        let body = br#"{"phase":"ready"}"#;
        let signature = target.sign(body);
        assert!(signature.starts_with("sha256=") && signature.len() == 7 + 64);
        assert!(CallbackTarget::verify("k", body, &signature));
        assert!(!CallbackTarget::verify("other", body, &signature));
        assert!(!CallbackTarget::verify("k", b"{}", &signature));
        // The RFC 4231 test case 2 vector.
        assert_eq!(
            signature_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    fn signature_hex(key: &[u8], body: &[u8]) -> String {
        signature(key, body)["sha256=".len()..].to_owned()
    }

    #[test]
    fn only_http_urls_without_credentials_are_taken() {
        let secret = Secret::new("s");
        for url in [
            "file:///etc/passwd",
            "gopher://host/",
            "ftp://host/x",
            "not a url",
            "http://user:pw@host/",
            "javascript:alert(1)",
        ] {
            assert!(CallbackTarget::new(url, &secret).is_err(), "{url}");
        }
        assert!(CallbackTarget::new("https://example.test/hook", &secret).is_ok());
        assert!(CallbackTarget::new("https://example.test/hook", &Secret::new("")).is_err());
    }

    #[test]
    fn the_secret_never_shows_in_debug() {
        let target =
            CallbackTarget::new("http://127.0.0.1:9/cb", &Secret::new("hunter2-secret")).unwrap();
        assert!(!format!("{target:?}").contains("hunter2"));
    }

    #[test]
    fn targets_are_kept_0600_and_forgotten() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let callbacks = Callbacks::new(dir.path().join("cb"), Duration::from_secs(1), 1).unwrap();
        let target = CallbackTarget::new("http://127.0.0.1:9/cb", &Secret::new("k")).unwrap();
        callbacks.remember("abcd1234", &target).unwrap();
        let mode = std::fs::metadata(callbacks.path("abcd1234"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(callbacks.remembered("abcd1234").unwrap().url, target.url);
        callbacks.forget("abcd1234");
        assert!(callbacks.remembered("abcd1234").is_none());
    }
}
