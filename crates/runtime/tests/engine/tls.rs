//! The tcp+TLS endpoint against a real mutual-TLS front for the engine: a throwaway CA, a
//! server certificate for `localhost`, client certificates from the right and a wrong CA.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use slipway_core::prelude::*;
use slipway_core::ErrorKind;
use slipway_runtime::{DockerRuntime, Endpoint, TlsFiles};
use slipway_testkit::{require_engine, Need};
use tokio::net::{TcpListener, UnixStream};

/// A CA that signs certificates.
struct Authority {
    issuer: Issuer<'static, KeyPair>,
    cert: Certificate,
}

impl Authority {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Self {
            issuer: Issuer::new(params, key),
            cert,
        }
    }

    /// A certificate for `names` (client auth when `client`) and its key.
    fn sign(&self, names: &[&str], client: bool) -> (Certificate, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        if client {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        (params.signed_by(&key, &self.issuer).unwrap(), key)
    }

    /// Writes `ca.pem`, `cert.pem` and `key.pem` for a client signed by `self` into `dir`.
    fn client_files(&self, ca: &Authority, dir: &Path) -> TlsFiles {
        let (cert, key) = self.sign(&[], true);
        std::fs::write(dir.join("ca.pem"), ca.cert.pem()).unwrap();
        std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
        TlsFiles::in_dir(dir)
    }
}

/// A TLS front on loopback that demands a client certificate from `ca` and forwards to the
/// engine's socket.
async fn tls_front(ca: &Authority, socket: PathBuf) -> (u16, tokio::task::JoinHandle<()>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert.der().clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let (cert, key) = ca.sign(&["localhost", "127.0.0.1"], false);
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert.der().clone(), ca.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, socket) = (acceptor.clone(), socket.clone());
            connections.spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if let Ok(mut engine) = UnixStream::connect(socket).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut engine).await;
                }
            });
        }
    });
    (port, task)
}

#[tokio::test]
async fn a_tls_endpoint_with_the_right_client_certificate_reaches_the_engine() {
    let Some(engine) = require_engine!(Need::LocalSocket) else {
        return;
    };
    let socket = engine.local_socket();
    let ca = Authority::new("slipway test CA");
    let (port, front) = tls_front(&ca, socket).await;
    let dir = tempfile::tempdir().unwrap();
    let files = ca.client_files(&ca, dir.path());

    let endpoint = Endpoint::Tls {
        host: "localhost".into(),
        port,
        files,
    };
    let runtime = DockerRuntime::builder(endpoint).bootstrap().await.unwrap();
    assert!(!runtime.version().await.unwrap().version.is_empty());
    assert_eq!(runtime.endpoint(), format!("tcp+tls://localhost:{port}"));
    front.abort();
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused_on_the_connect_timeout() {
    let Some(engine) = require_engine!(Need::LocalSocket) else {
        return;
    };
    let socket = engine.local_socket();
    let ca = Authority::new("slipway test CA");
    let stranger = Authority::new("someone else's CA");
    let (port, front) = tls_front(&ca, socket).await;
    let dir = tempfile::tempdir().unwrap();
    // The client trusts the server's CA but presents a certificate the server does not.
    let files = stranger.client_files(&ca, dir.path());

    let started = Instant::now();
    let err = DockerRuntime::builder(Endpoint::Tls {
        host: "localhost".into(),
        port,
        files,
    })
    .with_connect_timeout(Duration::from_millis(500))
    .bootstrap()
    .await
    .unwrap_err();
    // Far below the 120 s request timeout: the connect timeout decided.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    front.abort();
}

#[tokio::test]
async fn missing_certificate_files_are_invalid_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::Tls {
        host: "localhost".into(),
        port: 2376,
        files: TlsFiles::in_dir(dir.path()),
    };
    let err = DockerRuntime::builder(endpoint)
        .bootstrap()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    assert!(err.to_string().contains("ca.pem"), "{err}");
}
