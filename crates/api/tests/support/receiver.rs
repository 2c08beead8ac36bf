//! A real HTTP callback receiver on 127.0.0.1 that records what it accepted and can be told
//! to fail its first requests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use slipway_api::{CallbackTarget, DELIVERY_HEADER, SIGNATURE_HEADER};

/// One accepted delivery.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: serde_json::Value,
    pub delivery: String,
    pub signature_ok: bool,
}

#[derive(Clone)]
struct Shared {
    secret: String,
    fail_first: usize,
    seen: Arc<AtomicUsize>,
    accepted: Arc<Mutex<Vec<Received>>>,
}

/// The receiver; stops with the test's runtime.
pub struct Receiver {
    pub url: String,
    shared: Shared,
}

impl Receiver {
    /// Verifies signatures with `secret`; answers 500 to the first `fail_first` requests.
    pub async fn start(secret: &str, fail_first: usize) -> Receiver {
        let shared = Shared {
            secret: secret.to_owned(),
            fail_first,
            seen: Arc::default(),
            accepted: Arc::default(),
        };
        let router = Router::new()
            .route("/hook", post(hook))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Receiver { url, shared }
    }

    /// What was accepted, in order.
    pub fn accepted(&self) -> Vec<Received> {
        self.shared.accepted.lock().unwrap().clone()
    }

    /// Requests seen, failed ones included.
    pub fn requests(&self) -> usize {
        self.shared.seen.load(Ordering::SeqCst)
    }
}

async fn hook(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let n = shared.seen.fetch_add(1, Ordering::SeqCst);
    if n < shared.fail_first {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let delivery = headers
        .get(DELIVERY_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    shared.accepted.lock().unwrap().push(Received {
        body: serde_json::from_slice(&body).unwrap_or_default(),
        delivery,
        signature_ok: CallbackTarget::verify(&shared.secret, &body, signature),
    });
    StatusCode::NO_CONTENT
}
