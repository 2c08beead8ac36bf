//! `[server]`: how `slipwayd` listens, who may call it and how it calls back.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use slipway_core::{Error, Result, Secret};

use super::file::FileServer;

/// Where `slipwayd` listens unless told.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The file of API secrets inside the state directory, one per line.
pub const API_SECRETS_FILE: &str = "api-secrets";
/// Shortest API secret accepted: a guessable secret is no secret.
pub const MIN_SECRET_LEN: usize = 16;

/// The API server's settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// Secrets from `SLIPWAY_API_SECRET` (comma-separated), valid for the life of the process.
    pub env_secrets: Vec<Secret>,
    /// A file of secrets, one per line, read at start and again on every reload (rotation).
    pub secrets_file: PathBuf,
    /// How long one callback delivery may take.
    pub callback_timeout: Duration,
    /// Deliveries of one callback before it is given up.
    pub callback_attempts: u32,
    /// Lines of output kept per environment for log streams.
    pub log_buffer_lines: usize,
    /// How long a terminal's shell outlives its dropped socket.
    pub terminal_grace: Duration,
}

impl ServerConfig {
    pub(super) fn resolve(
        file: FileServer,
        state_dir: &Path,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let listen_text = var("SLIPWAY_LISTEN")
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen_text.parse().map_err(|_| {
            Error::invalid(
                "server.listen (SLIPWAY_LISTEN)",
                format!(
                    "`{}` is not an address like 127.0.0.1:8080",
                    listen_text.escape_debug()
                ),
            )
        })?;
        let env_secrets = match var("SLIPWAY_API_SECRET") {
            Some(list) => parse_secrets(&list.replace(',', "\n"), "SLIPWAY_API_SECRET")?,
            None => Vec::new(),
        };
        Ok(Self {
            listen,
            env_secrets,
            secrets_file: file
                .api_secrets_file
                .unwrap_or_else(|| state_dir.join(API_SECRETS_FILE)),
            callback_timeout: Duration::from_secs(file.callback_timeout_secs.unwrap_or(10)),
            callback_attempts: file.callback_attempts.unwrap_or(8).max(1),
            log_buffer_lines: file.log_buffer_lines.unwrap_or(10_000).max(1),
            terminal_grace: Duration::from_secs(file.terminal_grace_secs.unwrap_or(300)),
        })
    }

    /// Every secret valid now: the environment's and the file's (a missing file holds none).
    pub fn load_secrets(&self) -> Result<Vec<Secret>> {
        let mut secrets = self.env_secrets.clone();
        match std::fs::read_to_string(&self.secrets_file) {
            Ok(text) => secrets.extend(parse_secrets(
                &text,
                &self.secrets_file.display().to_string(),
            )?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::invalid(
                    "api secrets",
                    format!("cannot read {}: {e}", self.secrets_file.display()),
                ))
            }
        }
        Ok(secrets)
    }
}

/// One secret per line; blank lines and `#` comments skipped; short ones refused.
fn parse_secrets(text: &str, source: &str) -> Result<Vec<Secret>> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            if line.len() < MIN_SECRET_LEN {
                Err(Error::invalid(
                    "api secret",
                    format!(
                        "a secret in {source} is shorter than {MIN_SECRET_LEN} characters; use \
                         e.g. `openssl rand -hex 32`"
                    ),
                ))
            } else {
                Ok(Secret::new(line))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(vars: &[(&str, &str)], file: FileServer) -> Result<ServerConfig> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ServerConfig::resolve(file, Path::new("/state"), &|key| {
            vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn listens_on_loopback_unless_told() {
        let config = resolve(&[], FileServer::default()).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.secrets_file, Path::new("/state/api-secrets"));
        let file = FileServer {
            listen: Some("0.0.0.0:9000".into()),
            ..FileServer::default()
        };
        let config = resolve(&[("SLIPWAY_LISTEN", "127.0.0.1:9100")], file).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:9100");
        let error = resolve(&[("SLIPWAY_LISTEN", "everywhere")], FileServer::default());
        assert!(error.unwrap_err().to_string().contains("everywhere"));
    }

    #[test]
    fn secrets_come_comma_separated_and_short_ones_are_refused() {
        let config = resolve(
            &[(
                "SLIPWAY_API_SECRET",
                "0123456789abcdef0123,fedcba9876543210fedc",
            )],
            FileServer::default(),
        )
        .unwrap();
        let secrets: Vec<&str> = config.env_secrets.iter().map(Secret::expose).collect();
        assert_eq!(secrets, ["0123456789abcdef0123", "fedcba9876543210fedc"]);
        let error = resolve(&[("SLIPWAY_API_SECRET", "short")], FileServer::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains("shorter than 16"), "{error}");
        assert!(!error.contains("short,"), "the value stays out: {error}");
    }

    #[test]
    fn the_secrets_file_is_read_again_on_every_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets");
        let config = resolve(
            &[],
            FileServer {
                api_secrets_file: Some(path.clone()),
                ..FileServer::default()
            },
        )
        .unwrap();
        assert!(config.load_secrets().unwrap().is_empty());
        std::fs::write(
            &path,
            "# rotated\nold-secret-0123456789\nnew-secret-0123456789\n",
        )
        .unwrap();
        assert_eq!(config.load_secrets().unwrap().len(), 2);
        std::fs::write(&path, "new-secret-0123456789\n").unwrap();
        let secrets = config.load_secrets().unwrap();
        assert_eq!(secrets.len(), 1);
        assert_eq!(secrets[0].expose(), "new-secret-0123456789");
    }
}
