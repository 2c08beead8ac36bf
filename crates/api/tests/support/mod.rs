//! A real `ApiState` over a temporary state directory, a config file with the test's label
//! and host ports of its own, and helpers to call the router in process.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use slipway_api::{app, ApiState, Secrets};
use slipway_app::{Access, Config, Holder, LockWait, Overrides, Ownership, Services};
use slipway_core::Secret;
use slipway_testkit::engine::TEST_LABEL;
use slipway_testkit::{free_port_range, TestEngine};
use tower::ServiceExt as _;

pub mod daemon;
pub mod receiver;
pub mod sse;

/// The API secret the tests use.
pub const SECRET: &str = "test-secret-0123456789abcdef";

/// A state directory and its config file.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub ports: slipway_core::PortRange,
}

impl Fixture {
    /// Environments from `base_image`, `warm` of them kept warm, repos fetched from
    /// `<dir>/remotes/{owner}/{repo}.git`.
    pub fn new(engine: Option<&TestEngine>, base_image: &str, warm: usize) -> Fixture {
        Self::with_provision(engine, base_image, warm, "")
    }

    /// [`Fixture::new`] with more `[provision]` settings.
    pub fn with_provision(
        engine: Option<&TestEngine>,
        base_image: &str,
        warm: usize,
        provision: &str,
    ) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let ports = free_port_range(100);
        let scope = engine.map_or("none".to_owned(), |e| e.scope().to_owned());
        let config_path = dir.path().join("slipway.toml");
        // 512 MiB per environment: `npm run dev` (npm and node side by side) thrashes on its
        // own binaries' pages under 64 MiB and takes minutes to listen.
        std::fs::write(
            &config_path,
            format!(
                "[pool]\nport_range = \"{ports}\"\nmemory_budget_mb = 8192\n\n\
                 [provision]\nbase_image = \"{base_image}\"\nwarm_base = {warm}\nmemory_mb = 512\n\
                 ready_timeout_secs = 60\nurl_template = \"file://{}/remotes/{{owner}}/{{repo}}.git\"\n\
                 labels = {{ \"{TEST_LABEL}\" = \"{scope}\" }}\n{provision}\n",
                dir.path().display()
            ),
        )
        .unwrap();
        Fixture {
            dir,
            config_path,
            ports,
        }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Where repo `owner/repo` must be for the URL template to find it.
    pub fn remote(&self, owner: &str, repo: &str) -> PathBuf {
        self.dir
            .path()
            .join("remotes")
            .join(owner)
            .join(format!("{repo}.git"))
    }

    pub fn config(&self) -> Config {
        self.config_with_host(None)
    }

    pub fn config_with_host(&self, host: Option<&str>) -> Config {
        let overrides = Overrides {
            config: Some(self.config_path.clone()),
            state_dir: Some(self.state_dir()),
            host: host.map(str::to_owned),
            ..Overrides::default()
        };
        let host = std::env::var("DOCKER_HOST").ok();
        Config::load(&overrides, &|key| match key {
            "DOCKER_HOST" => host.clone(),
            _ => None,
        })
        .unwrap()
    }

    /// The services as the owner of the state, and the state over them.
    pub async fn open(&self) -> ApiState {
        self.open_config(self.config()).await
    }

    /// [`Fixture::open`] with the engine at `host`.
    pub async fn open_with_host(&self, host: &str) -> ApiState {
        self.open_config(self.config_with_host(Some(host))).await
    }

    async fn open_config(&self, config: Config) -> ApiState {
        let services = Services::open(
            &config,
            Access::Own(Ownership {
                holder: Holder::current("slipwayd test", true),
                wait: LockWait::Up(Duration::from_secs(30)),
                refill: true,
            }),
        )
        .await
        .unwrap();
        let state =
            ApiState::new(Arc::new(services), Secrets::new(&[Secret::new(SECRET)])).unwrap();
        state.first_look(Duration::from_secs(5)).await;
        state.start_background();
        state
    }

    /// Services over the records only (no engine), enough for auth and input checks.
    pub async fn open_records(&self) -> ApiState {
        let services = Services::open(&self.config(), Access::Records)
            .await
            .unwrap();
        ApiState::new(Arc::new(services), Secrets::new(&[Secret::new(SECRET)])).unwrap()
    }
}

/// A response: status, headers and body as JSON (or `Null`).
pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: serde_json::Value,
    pub raw: Vec<u8>,
}

/// Sends one request through the router.
pub async fn call(
    router: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request
        .body(body.map_or(Body::empty(), |b| Body::from(b.to_owned())))
        .unwrap();
    send(router, request).await
}

pub async fn send(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let raw = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    let body = serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null);
    Answer {
        status,
        headers,
        body,
        raw,
    }
}

pub fn router(state: &ApiState) -> Router {
    app(state.clone())
}

/// Polls `check` every 100 ms until it returns `Some`, failing after `deadline`.
pub async fn until<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Serves `router` on a port of the OS's choosing; its address.
pub async fn serve(router: &Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let served = router.clone();
    tokio::spawn(async move { axum::serve(listener, served).await });
    address
}

/// Creates a container named `name` (asserting 201); its id.
pub async fn create(router: &Router, name: &str) -> String {
    let body = serde_json::json!({ "name": name }).to_string();
    let created = call(router, "POST", "/api/containers", Some(SECRET), Some(&body)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    created.body["id"].as_str().unwrap().to_owned()
}

/// Destroys container `id` (asserting 204).
pub async fn destroy(router: &Router, id: &str) {
    let path = format!("/api/containers/{id}");
    assert_eq!(
        call(router, "DELETE", &path, Some(SECRET), None)
            .await
            .status,
        204
    );
}

/// The engine container of environment `id`.
pub async fn container_of(state: &ApiState, id: &str) -> slipway_core::ContainerId {
    state
        .services()
        .environments()
        .unwrap()
        .container(id)
        .await
        .unwrap()
}

/// Waits (up to `deadline`) until no process in `container` has any of `patterns` in its
/// command line, failing with `what` otherwise.
pub async fn until_no_process(
    engine: &TestEngine,
    container: &slipway_core::ContainerId,
    patterns: &[&str],
    deadline: Duration,
    what: &str,
) {
    until(deadline, what, || async {
        let processes = engine.processes(container).await;
        (!processes
            .iter()
            .any(|p| patterns.iter().any(|pattern| p.contains(pattern))))
        .then_some(())
    })
    .await;
}
