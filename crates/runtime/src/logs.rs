//! Container output as a stream of lines.

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use futures_util::stream::{self, BoxStream};
use futures_util::StreamExt;
use slipway_core::{ContainerId, LogLine, LogOptions, LogSource, Result};

use crate::convert;
use crate::error::RuntimeError;
use crate::DockerRuntime;

impl DockerRuntime {
    pub(crate) fn log_stream(
        &self,
        id: &ContainerId,
        options: &LogOptions,
    ) -> BoxStream<'static, Result<LogLine>> {
        let engine_options = LogsOptions {
            follow: options.follow,
            stdout: options.stdout,
            stderr: options.stderr,
            since: options
                .since
                .map_or(0, |t| i32::try_from(t.unix_seconds()).unwrap_or(i32::MAX)),
            until: 0,
            timestamps: options.timestamps,
            tail: options
                .tail
                .map_or_else(|| "all".to_owned(), |n| n.to_string()),
        };
        let timestamps = options.timestamps;
        let runtime = self.clone();
        let container = id.to_string();
        self.docker
            .logs(id.as_str(), Some(engine_options))
            .flat_map(move |frame| {
                let lines = match frame {
                    Ok(frame) => split_frame(frame, timestamps).into_iter().map(Ok).collect(),
                    Err(source) => vec![Err(runtime.core_error(RuntimeError::Logs {
                        id: container.clone(),
                        source,
                    }))],
                };
                stream::iter(lines)
            })
            .boxed()
    }
}

/// Splits one engine frame into lines; with timestamps, the frame starts with an RFC 3339
/// time and a space.
fn split_frame(frame: LogOutput, timestamps: bool) -> Vec<LogLine> {
    let (source, bytes) = match frame {
        LogOutput::StdOut { message } => (LogSource::Stdout, message),
        LogOutput::StdErr { message } => (LogSource::Stderr, message),
        LogOutput::Console { message } => (LogSource::Console, message),
        LogOutput::StdIn { .. } => return Vec::new(),
    };
    let text = String::from_utf8_lossy(&bytes);
    let (timestamp, body) = match text.split_once(' ') {
        Some((stamp, rest)) if timestamps => (convert::timestamp(stamp), rest),
        _ => (None, text.as_ref()),
    };
    let body = body.strip_suffix('\n').unwrap_or(body);
    body.split('\n')
        .map(|line| LogLine {
            source,
            line: line.strip_suffix('\r').unwrap_or(line).to_owned(),
            timestamp,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use slipway_core::Timestamp;

    use super::*;

    #[test]
    fn frames_split_into_timestamped_lines() {
        let frame = LogOutput::StdErr {
            message: "2024-02-16T22:57:36.789123456Z [dev] ready on port 3000\n".into(),
        };
        let lines = split_frame(frame, true);
        assert_eq!(
            lines,
            vec![LogLine {
                source: LogSource::Stderr,
                line: "[dev] ready on port 3000".into(),
                timestamp: Some(Timestamp::from_unix_millis(1_708_124_256_789)),
            }]
        );
    }

    #[test]
    fn frames_without_timestamps_keep_their_text() {
        let lines = split_frame(
            LogOutput::StdOut {
                message: "a b\nc\n".into(),
            },
            false,
        );
        let text: Vec<_> = lines.iter().map(|l| l.line.as_str()).collect();
        assert_eq!(text, ["a b", "c"]);
        assert!(lines.iter().all(|l| l.timestamp.is_none()));
    }
}
