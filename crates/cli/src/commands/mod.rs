//! One module per verb.

pub(crate) mod bench;
pub(crate) mod doctor;
pub(crate) mod env;
pub(crate) mod pool;
pub(crate) mod run;

/// Parses a `KEY=VALUE` flag whose key must be a portable environment variable name.
pub(crate) fn parse_env_pair(text: &str) -> Result<(String, String), String> {
    let (key, value) = text.split_once('=').ok_or("expected KEY=VALUE")?;
    slipway_core::validate_env_key(key).map_err(|e| e.to_string())?;
    Ok((key.to_owned(), value.to_owned()))
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
