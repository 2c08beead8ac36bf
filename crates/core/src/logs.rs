//! Container log streams.

use crate::time::Timestamp;

/// Which stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogSource {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// A TTY container's merged output.
    Console,
}

/// One line of a container's output.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogLine {
    /// The stream it came from.
    pub source: LogSource,
    /// The text, without the trailing newline.
    pub line: String,
    /// When the engine saw it, when timestamps were asked for.
    pub timestamp: Option<Timestamp>,
}

/// What part of a container's logs to read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogOptions {
    /// Keep streaming new lines until the container stops.
    pub follow: bool,
    /// Only lines at or after this time (the engine's resolution is one second).
    pub since: Option<Timestamp>,
    /// Ask the engine for a timestamp on each line.
    pub timestamps: bool,
    /// Only the last N lines before following.
    pub tail: Option<usize>,
    /// Include stdout.
    pub stdout: bool,
    /// Include stderr.
    pub stderr: bool,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            follow: false,
            since: None,
            timestamps: true,
            tail: None,
            stdout: true,
            stderr: true,
        }
    }
}

impl LogOptions {
    /// Everything so far, then new lines as they come.
    pub fn follow() -> Self {
        Self {
            follow: true,
            ..Self::default()
        }
    }
}
