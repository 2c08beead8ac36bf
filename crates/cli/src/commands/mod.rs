//! One module per verb; each opens the services it needs and calls `slipway-app`.

pub(crate) mod audit;
pub(crate) mod bench;
pub(crate) mod doctor;
pub(crate) mod env;
pub(crate) mod pool;
pub(crate) mod prune;
pub(crate) mod run;
pub(crate) mod shell;

use std::time::Duration;

use slipway_app::{Access, Holder, LockWait, Ownership};

/// How long a mutating verb waits for another one-shot command that owns the state.
const OWNER_WAIT: Duration = Duration::from_secs(10 * 60);
/// How long background work may take to stop at the end of a verb.
pub(crate) const SHUTDOWN: Duration = Duration::from_secs(30);

/// Parses a `KEY=VALUE` flag whose key must be a portable environment variable name.
pub(crate) fn parse_env_pair(text: &str) -> Result<(String, String), String> {
    let (key, value) = text.split_once('=').ok_or("expected KEY=VALUE")?;
    slipway_core::validate_env_key(key).map_err(|e| e.to_string())?;
    Ok((key.to_owned(), value.to_owned()))
}

/// Parses a `--secret-env` flag: `KEY` takes the value from this process's environment (so
/// it never shows on a command line), `KEY=VALUE` is accepted too.
pub(crate) fn parse_secret_env(text: &str) -> Result<(String, String), String> {
    if text.contains('=') {
        return parse_env_pair(text);
    }
    slipway_core::validate_env_key(text).map_err(|e| e.to_string())?;
    match std::env::var(text) {
        Ok(value) => Ok((text.to_owned(), value)),
        Err(_) => Err(format!(
            "`{text}` is not set in the environment; export it first (or pass {text}=VALUE)"
        )),
    }
}

/// Owning the state for `command` (waiting for another one-shot owner, never for a daemon).
pub(crate) fn own(command: &str, refill: bool) -> Access {
    Access::Own(ownership(command, refill))
}

/// Owning the state for `command` if nobody else does.
pub(crate) fn own_if_free(command: &str) -> Access {
    Access::OwnIfFree(ownership(command, false))
}

fn ownership(command: &str, refill: bool) -> Ownership {
    Ownership {
        holder: Holder::current(format!("slipway {command}"), false),
        wait: LockWait::Up(OWNER_WAIT),
        refill,
    }
}

/// How a command ended, when it did not fail outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Everything asked for was done.
    Success,
    /// The command ran and reported a failure (e.g. a doctor check failed).
    Failed,
    /// Exit with this code (a command run in an environment exited with it).
    Exit(u8),
}
