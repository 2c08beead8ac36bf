//! What a setup is asked to do, what it reports while doing it, and what it did.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use slipway_core::{
    validate_env_key, CommitId, Error, GitCredentials, GitRef, ImageRef, Redactor, RemoteUrl,
    RepoSlug, RepoSource, Result, Timestamp, REDACTED,
};

/// An environment variable for the install and dev-server processes. Secret values are
/// never logged, never serialized, never put in a container's config and never committed
/// into an image, and they are taken out of the output a setup reports.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
pub struct EnvValue {
    /// The value.
    pub value: String,
    /// Whether it is a secret.
    #[serde(default)]
    pub secret: bool,
}

impl EnvValue {
    /// A plain value.
    pub fn plain(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            secret: false,
        }
    }

    /// A secret value.
    pub fn secret(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            secret: true,
        }
    }
}

impl serde::Serialize for EnvValue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("EnvValue", 2)?;
        if self.secret {
            out.serialize_field("value", REDACTED)?;
        } else {
            out.serialize_field("value", &self.value)?;
        }
        out.serialize_field("secret", &self.secret)?;
        out.end()
    }
}

impl fmt::Debug for EnvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secret {
            f.write_str("<secret>")
        } else {
            self.value.fmt(f)
        }
    }
}

/// A setup: the seed's request fields plus command overrides.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SetupRequest {
    /// The repository.
    pub repo: RepoSlug,
    /// Fetch from here instead of the configured URL template (its mirror is kept apart).
    pub remote: Option<RemoteUrl>,
    /// The branch (or ref); the remote's default branch when `None`.
    pub branch: Option<GitRef>,
    /// Credentials for fetching, used on the host only; `None` uses the service's.
    pub credentials: Option<GitCredentials>,
    /// Environment for install and dev server.
    pub env: BTreeMap<String, EnvValue>,
    /// After a setup of the default branch, commit the container as the repo's main image.
    pub build_main_image: bool,
    /// Replaces the install command detected from the lockfile.
    pub install_command: Option<String>,
    /// Replaces the configured dev-server command.
    pub start_command: Option<String>,
}

/// Longest command accepted.
const MAX_COMMAND: usize = 4096;

impl SetupRequest {
    /// A setup of `repo`'s default branch with defaults for everything else.
    pub fn new(repo: RepoSlug) -> Self {
        Self {
            repo,
            remote: None,
            branch: None,
            credentials: None,
            env: BTreeMap::new(),
            build_main_image: false,
            install_command: None,
            start_command: None,
        }
    }

    /// Sets the branch.
    pub fn with_branch(mut self, branch: GitRef) -> Self {
        self.branch = Some(branch);
        self
    }

    /// Checks env names and values and command overrides.
    pub fn validate(&self) -> Result<()> {
        for (key, value) in &self.env {
            validate_env_key(key)?;
            if value.value.contains('\0') {
                return Err(Error::invalid(
                    "environment variable",
                    format!("the value of `{key}` contains a NUL byte"),
                ));
            }
        }
        for (what, command) in [
            ("install command", &self.install_command),
            ("start command", &self.start_command),
        ] {
            if let Some(command) = command {
                if command.trim().is_empty()
                    || command.len() > MAX_COMMAND
                    || command.contains('\0')
                {
                    return Err(Error::invalid(
                        what,
                        format!("must be 1-{MAX_COMMAND} bytes of shell without NUL"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Where the repository comes from.
    pub fn source(&self) -> RepoSource {
        RepoSource {
            repo: self.repo.clone(),
            remote: self.remote.clone(),
        }
    }

    /// What to take out of the output this setup reports: its secret env values and its
    /// git secret.
    pub(crate) fn redactor(&self) -> Redactor {
        let env = self
            .env
            .values()
            .filter(|v| v.secret)
            .map(|v| v.value.as_str());
        let git = self.credentials.iter().map(|c| c.secret.expose());
        Redactor::new(env.chain(git))
    }

    /// The environment for execs (secrets included: they are only ever passed to processes).
    pub(crate) fn exec_env(&self) -> BTreeMap<String, String> {
        self.env
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect()
    }
}

/// A step of a setup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Fetching the mirror and copying the tree into the container.
    Cloning,
    /// Installing dependencies.
    Installing,
    /// Starting the dev server and waiting for its port.
    Starting,
    /// The dev server answers.
    Ready,
    /// A step failed.
    Error,
}

impl Phase {
    /// The phase as users and callbacks see it: `cloning`, `installing`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Cloning => "cloning",
            Phase::Installing => "installing",
            Phase::Starting => "starting",
            Phase::Ready => "ready",
            Phase::Error => "error",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Progress of a setup, for callbacks and log streams.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SetupEvent {
    /// The phase this is about.
    pub phase: Phase,
    /// `true` when the phase begins; `false` when it ends (with its duration and log).
    pub started: bool,
    /// How long the phase took, when it ended.
    pub duration_ms: Option<u64>,
    /// What the phase printed or did.
    pub log: Vec<String>,
    /// The error, for [`Phase::Error`].
    pub message: Option<String>,
    /// When.
    pub at: Timestamp,
}

/// Where events go; a closed receiver is not an error.
pub type EventSink = tokio::sync::mpsc::UnboundedSender<SetupEvent>;

/// What a successful setup did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SetupOutcome {
    /// The branch set up.
    pub branch: GitRef,
    /// The commit checked out.
    pub commit: CommitId,
    /// Whether the container started from the repo's main image (only a delta was applied).
    pub from_main_image: bool,
    /// Whether dependencies were installed (false: the environment already had them, or linked them from the store).
    pub installed: bool,
    /// The main image committed by this setup, if any.
    pub main_image: Option<ImageRef>,
    /// Each phase and how long it took.
    pub phases: Vec<(Phase, Duration)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let mut request = SetupRequest::new("me/app".parse().unwrap());
        request
            .env
            .insert("API_TOKEN".into(), EnvValue::secret("tok-123"));
        request
            .env
            .insert("NODE_ENV".into(), EnvValue::plain("development"));
        let shown = format!("{request:?}");
        assert!(
            !shown.contains("tok-123") && shown.contains("development"),
            "{shown}"
        );
    }

    #[test]
    fn secrets_never_serialize() {
        let mut request = SetupRequest::new("me/app".parse().unwrap());
        request
            .env
            .insert("API_TOKEN".into(), EnvValue::secret("tok-123"));
        request
            .env
            .insert("NODE_ENV".into(), EnvValue::plain("development"));
        request.credentials = Some(GitCredentials {
            username: "x-access-token".into(),
            secret: slipway_core::Secret::new("ghp-abcdef"),
        });
        let json = serde_json::to_string(&request).unwrap();
        assert!(
            !json.contains("tok-123") && !json.contains("ghp-abcdef"),
            "{json}"
        );
        assert!(json.contains("development"), "{json}");
        let read: SetupRequest = serde_json::from_str(
            r#"{"repo":"me/app","remote":null,"branch":null,"credentials":null,
                "env":{"K":{"value":"v1234","secret":true}},"build_main_image":false,
                "install_command":null,"start_command":null}"#,
        )
        .unwrap();
        assert_eq!(read.env["K"], EnvValue::secret("v1234"));
        assert_eq!(read.redactor().redact("got v1234"), "got <redacted>");
    }

    #[test]
    fn bad_env_and_commands_are_invalid() {
        let mut request = SetupRequest::new("me/app".parse().unwrap());
        request.env.insert("A=B".into(), EnvValue::plain("x"));
        assert!(request.validate().is_err());
        let mut request = SetupRequest::new("me/app".parse().unwrap());
        request.start_command = Some("  ".into());
        assert!(request.validate().is_err());
        SetupRequest::new("me/app".parse().unwrap())
            .validate()
            .unwrap();
    }
}
