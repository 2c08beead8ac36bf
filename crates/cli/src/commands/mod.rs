//! One module per verb.

pub(crate) mod bench;
pub(crate) mod doctor;
pub(crate) mod env;
pub(crate) mod pool;
pub(crate) mod run;

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
