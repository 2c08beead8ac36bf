//! Where a Docker engine is, and how to reach it.

use std::fmt;
use std::path::PathBuf;

use slipway_core::{Error, Result};

/// The default engine socket on Linux.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
const DEFAULT_TCP_PORT: u16 = 2375;
const DEFAULT_TLS_PORT: u16 = 2376;

/// Client certificate files for a TLS engine (the layout of `DOCKER_CERT_PATH`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA that signed the engine's certificate (`ca.pem`).
    pub ca: PathBuf,
    /// The client certificate (`cert.pem`).
    pub cert: PathBuf,
    /// The client key (`key.pem`).
    pub key: PathBuf,
}

impl TlsFiles {
    /// `ca.pem`, `cert.pem` and `key.pem` inside `dir`.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }
}

/// One Docker engine endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A local unix socket.
    Unix {
        /// The socket path.
        path: PathBuf,
    },
    /// Plain, unauthenticated TCP: only for trusted links, and only when marked insecure.
    Tcp {
        /// Host name or address.
        host: String,
        /// Port (2375 by default).
        port: u16,
    },
    /// TCP with mutual TLS.
    Tls {
        /// Host name or address; must match the engine's certificate.
        host: String,
        /// Port (2376 by default).
        port: u16,
        /// Client certificate files.
        files: TlsFiles,
    },
    /// The remote engine's socket reached through `ssh` (the system client and its config).
    Ssh {
        /// `[user@]host`.
        destination: String,
        /// Port, when not 22.
        port: Option<u16>,
    },
}

impl Endpoint {
    /// The local engine's default socket.
    pub fn local() -> Self {
        Endpoint::Unix {
            path: PathBuf::from(DEFAULT_SOCKET),
        }
    }

    /// Parses a `DOCKER_HOST`-style address: `unix:///path`, `tcp://host[:port]`,
    /// `ssh://[user@]host[:port]`. With `tls`, a `tcp://` address becomes [`Endpoint::Tls`].
    pub fn parse(address: &str, tls: Option<TlsFiles>) -> Result<Self> {
        let invalid = |reason: &str| {
            Error::invalid(
                "engine endpoint",
                format!(
                    "`{}` {reason}; expected unix:///path, tcp://host[:port] or \
                     ssh://[user@]host[:port]",
                    address.escape_debug()
                ),
            )
        };
        let (scheme, rest) = address
            .split_once("://")
            .ok_or_else(|| invalid("has no scheme"))?;
        match scheme {
            "unix" => {
                if !rest.starts_with('/') || rest.contains('\0') {
                    return Err(invalid("needs an absolute socket path"));
                }
                Ok(Endpoint::Unix {
                    path: PathBuf::from(rest),
                })
            }
            "tcp" | "http" | "https" => {
                let default_port = if tls.is_some() || scheme == "https" {
                    DEFAULT_TLS_PORT
                } else {
                    DEFAULT_TCP_PORT
                };
                let (host, port) = split_host_port(rest.trim_end_matches('/'), default_port)
                    .map_err(|reason| invalid(&reason))?;
                match (tls, scheme) {
                    (Some(files), _) => Ok(Endpoint::Tls { host, port, files }),
                    (None, "https") => Err(invalid("needs client certificates for TLS")),
                    (None, _) => Ok(Endpoint::Tcp { host, port }),
                }
            }
            "ssh" => {
                let rest = rest.trim_end_matches('/');
                let (destination, port) = match rest.rsplit_once(':') {
                    Some((dest, port)) => (dest, Some(parse_port(port).map_err(|r| invalid(&r))?)),
                    None => (rest, None),
                };
                let host = destination.rsplit('@').next().unwrap_or("");
                if host.is_empty() || !valid_host(host) || destination.starts_with('-') {
                    return Err(invalid("has a bad host"));
                }
                Ok(Endpoint::Ssh {
                    destination: destination.to_owned(),
                    port,
                })
            }
            _ => Err(invalid("has an unsupported scheme")),
        }
    }

    /// Resolves the endpoint the way the docker CLI does from `DOCKER_HOST`,
    /// `DOCKER_TLS_VERIFY` (any non-empty value) and `DOCKER_CERT_PATH` (default
    /// `$HOME/.docker`). `lookup` reads a variable; the library never reads the environment.
    pub fn from_docker_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let non_empty = |key: &str| lookup(key).filter(|v| !v.is_empty());
        let Some(host) = non_empty("DOCKER_HOST") else {
            return Ok(Self::local());
        };
        let tls = match non_empty("DOCKER_TLS_VERIFY") {
            None => None,
            Some(_) => {
                let dir = non_empty("DOCKER_CERT_PATH")
                    .map(PathBuf::from)
                    .or_else(|| non_empty("HOME").map(|home| PathBuf::from(home).join(".docker")))
                    .ok_or_else(|| {
                        Error::invalid(
                            "engine endpoint",
                            "DOCKER_TLS_VERIFY is set but neither DOCKER_CERT_PATH nor HOME is",
                        )
                    })?;
                Some(TlsFiles::in_dir(dir))
            }
        };
        Self::parse(&host, tls)
    }

    /// Whether the engine runs on this host (its socket can be mounted into containers).
    pub fn local_socket(&self) -> Option<&std::path::Path> {
        match self {
            Endpoint::Unix { path } => Some(path),
            _ => None,
        }
    }

    /// Whether traffic to the engine is unauthenticated and unencrypted over a network.
    pub fn is_insecure(&self) -> bool {
        matches!(self, Endpoint::Tcp { .. })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix { path } => write!(f, "unix://{}", path.display()),
            Endpoint::Tcp { host, port } => write!(f, "tcp://{}:{port}", bracket(host)),
            Endpoint::Tls { host, port, .. } => write!(f, "tcp+tls://{}:{port}", bracket(host)),
            Endpoint::Ssh {
                destination,
                port: Some(port),
            } => write!(f, "ssh://{destination}:{port}"),
            Endpoint::Ssh {
                destination,
                port: None,
            } => write!(f, "ssh://{destination}"),
        }
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

fn parse_port(port: &str) -> std::result::Result<u16, String> {
    match port.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!("has a bad port `{port}`")),
    }
}

fn valid_host(host: &str) -> bool {
    host.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
}

fn split_host_port(rest: &str, default_port: u16) -> std::result::Result<(String, u16), String> {
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (host, after) = inner.split_once(']').ok_or("has an unclosed `[`")?;
        (host, after.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    if host.is_empty() || !valid_host(host) {
        return Err("has a bad host".into());
    }
    let port = port.map(parse_port).transpose()?.unwrap_or(default_port);
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key| map.get(key).cloned()
    }

    #[test]
    fn parses_every_supported_scheme() {
        assert_eq!(
            Endpoint::parse("unix:///run/docker.sock", None)
                .unwrap()
                .to_string(),
            "unix:///run/docker.sock"
        );
        assert_eq!(
            Endpoint::parse("tcp://192.168.100.2:2375", None).unwrap(),
            Endpoint::Tcp {
                host: "192.168.100.2".into(),
                port: 2375
            }
        );
        assert_eq!(
            Endpoint::parse("tcp://build-box", None).unwrap(),
            Endpoint::Tcp {
                host: "build-box".into(),
                port: 2375
            }
        );
        let tls = Endpoint::parse("tcp://build-box", Some(TlsFiles::in_dir("/certs"))).unwrap();
        assert!(matches!(tls, Endpoint::Tls { port: 2376, .. }), "{tls:?}");
        assert_eq!(
            Endpoint::parse("ssh://me@192.168.100.2:2222", None).unwrap(),
            Endpoint::Ssh {
                destination: "me@192.168.100.2".into(),
                port: Some(2222)
            }
        );
        assert_eq!(
            Endpoint::parse("tcp://[::1]:2375", None)
                .unwrap()
                .to_string(),
            "tcp://[::1]:2375"
        );
    }

    #[test]
    fn rejects_bad_addresses_saying_what_is_allowed() {
        for bad in [
            "",
            "docker.sock",
            "unix://relative.sock",
            "tcp://",
            "tcp://host:0",
            "tcp://host:99999",
            "tcp://ho st:1",
            "https://host:2376",
            "ssh://",
            "ssh://-oProxyCommand=x",
            "npipe:////./pipe/docker_engine",
        ] {
            let err = Endpoint::parse(bad, None).unwrap_err();
            assert!(
                err.to_string().contains("expected unix:///path"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn resolves_like_the_docker_cli() {
        assert_eq!(
            Endpoint::from_docker_env(env(&[])).unwrap(),
            Endpoint::local()
        );
        assert_eq!(
            Endpoint::from_docker_env(env(&[("DOCKER_HOST", "tcp://10.0.0.2:2375")])).unwrap(),
            Endpoint::Tcp {
                host: "10.0.0.2".into(),
                port: 2375
            }
        );
        let tls = Endpoint::from_docker_env(env(&[
            ("DOCKER_HOST", "tcp://10.0.0.2"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("HOME", "/home/me"),
        ]))
        .unwrap();
        assert_eq!(
            tls,
            Endpoint::Tls {
                host: "10.0.0.2".into(),
                port: 2376,
                files: TlsFiles::in_dir("/home/me/.docker"),
            }
        );
        let with_path = Endpoint::from_docker_env(env(&[
            ("DOCKER_HOST", "tcp://10.0.0.2:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", "/certs"),
        ]))
        .unwrap();
        assert!(
            matches!(with_path, Endpoint::Tls { files, .. } if files == TlsFiles::in_dir("/certs"))
        );
    }

    #[test]
    fn knows_which_endpoints_are_local_or_insecure() {
        assert!(Endpoint::local().local_socket().is_some());
        assert!(Endpoint::parse("tcp://h", None).unwrap().is_insecure());
        assert!(!Endpoint::parse("ssh://h", None).unwrap().is_insecure());
    }
}
