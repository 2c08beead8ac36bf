//! [`GitHttpServer`]: a smart-HTTP git remote for tests — `git http-backend` serving every
//! repository under a directory, behind HTTP Basic auth when asked, over TLS when asked, or
//! only redirecting elsewhere; it records every `Authorization` header it receives, so a
//! test can see exactly where credentials went.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// How a [`GitHttpServer`] behaves.
#[derive(Debug, Clone, Default)]
pub struct GitHttpOptions {
    /// Demand these `(user, password)` over HTTP Basic; anything else gets a 401.
    pub credentials: Option<(String, String)>,
    /// Serve HTTPS with a self-signed certificate for `localhost`.
    pub tls: bool,
    /// Answer every request with a redirect to this URL prefix instead of serving.
    pub redirect_to: Option<String>,
}

/// A running smart-HTTP git remote on loopback; stops when dropped.
pub struct GitHttpServer {
    port: u16,
    tls: bool,
    certificate_pem: Option<String>,
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Served {
    base: PathBuf,
    options: GitHttpOptions,
    seen: Arc<Mutex<Vec<String>>>,
}

impl GitHttpServer {
    /// Serves the repositories under `base` (`<base>/<owner>/<repo>.git`).
    pub async fn serve(base: &Path, options: GitHttpOptions) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let port = listener.local_addr().expect("bound").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (acceptor, certificate_pem) = if options.tls {
            let (acceptor, pem) = tls_acceptor();
            (Some(acceptor), Some(pem))
        } else {
            (None, None)
        };
        let tls = options.tls;
        let served = Arc::new(Served {
            base: base.to_owned(),
            options,
            seen: Arc::clone(&seen),
        });
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (served, acceptor) = (Arc::clone(&served), acceptor.clone());
                tokio::spawn(async move {
                    match acceptor {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                let _ = handle(stream, &served).await;
                            }
                        }
                        None => {
                            let _ = handle(tcp, &served).await;
                        }
                    }
                });
            }
        });
        Self {
            port,
            tls,
            certificate_pem,
            seen,
            task,
        }
    }

    /// The URL of `path` (e.g. `octo/app.git`) on this server (`https://localhost:…` with TLS).
    pub fn url(&self, path: &str) -> String {
        if self.tls {
            format!("https://localhost:{}/{path}", self.port)
        } else {
            format!("http://127.0.0.1:{}/{path}", self.port)
        }
    }

    /// The server's self-signed certificate (PEM), with TLS.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.certificate_pem.as_deref()
    }

    /// Every `Authorization` header received so far, as sent.
    pub fn authorizations(&self) -> Vec<String> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The `user:password` of every Basic `Authorization` header received so far.
    pub fn basic_credentials(&self) -> Vec<String> {
        self.authorizations()
            .iter()
            .filter_map(|header| header.strip_prefix("Basic "))
            .filter_map(|b64| {
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .ok()
            })
            .map(|raw| String::from_utf8_lossy(&raw).into_owned())
            .collect()
    }
}

fn tls_acceptor() -> (tokio_rustls::TlsAcceptor, String) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("a self-signed certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .expect("a usable certificate");
    (
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        certified.cert.pem(),
    )
}

/// One request: its line, headers and body.
struct Request {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<Request> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let target = first.next().unwrap_or_default();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut request = Request {
        method,
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body: Vec::new(),
    };
    if let Some(length) = request
        .header("Content-Length")
        .and_then(|l| l.parse().ok())
    {
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).await?;
        request.body = body;
    } else if request
        .header("Transfer-Encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        request.body = read_chunked(stream).await?;
    }
    Ok(request)
}

async fn read_chunked<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            stream.read_exact(&mut byte).await?;
            line.push(byte[0]);
        }
        let size = usize::from_str_radix(String::from_utf8_lossy(&line).trim(), 16)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidData))?;
        let mut chunk = vec![0u8; size + 2];
        stream.read_exact(&mut chunk).await?;
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

async fn handle<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    served: &Served,
) -> std::io::Result<()> {
    let request = read_request(&mut stream).await?;
    if let Some(auth) = request.header("Authorization") {
        served
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(auth.to_owned());
    }
    if let Some(prefix) = &served.options.redirect_to {
        let location = format!("{prefix}{}?{}", request.path, request.query);
        let response = format!(
            "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return stream.write_all(response.as_bytes()).await;
    }
    if let Some((user, password)) = &served.options.credentials {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        if request.header("Authorization") != Some(expected.as_str()) {
            let response = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            return stream.write_all(response.as_bytes()).await;
        }
    }
    let response = backend(&request, &served.base).await?;
    stream.write_all(&response).await?;
    stream.shutdown().await
}

/// Runs `git http-backend` for the request (CGI) and turns its output into a response.
async fn backend(request: &Request, base: &Path) -> std::io::Result<Vec<u8>> {
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", base)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &request.method)
        .env("PATH_INFO", &request.path)
        .env("QUERY_STRING", &request.query)
        .env(
            "CONTENT_TYPE",
            request.header("Content-Type").unwrap_or_default(),
        )
        .env("CONTENT_LENGTH", request.body.len().to_string())
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped");
    let body = request.body.clone();
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let output = child.wait_with_output().await?;
    let _ = writer.await;
    let out = output.stdout;
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| (at, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|at| (at, 2)))
        .unwrap_or((out.len(), 0));
    let head = String::from_utf8_lossy(&out[..split.0]).into_owned();
    let body = &out[(split.0 + split.1).min(out.len())..];
    let mut status = "200 OK".to_owned();
    let mut response = Vec::new();
    let mut headers = String::new();
    for line in head.lines() {
        match line.split_once(':') {
            Some((key, value)) if key.eq_ignore_ascii_case("Status") => {
                status = value.trim().to_owned();
            }
            Some(_) => headers.push_str(&format!("{}\r\n", line.trim_end())),
            None => {}
        }
    }
    response.extend_from_slice(
        format!(
            "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    response.extend_from_slice(body);
    Ok(response)
}
