//! `POST /api/containers/{id}/exec`: a command to completion, with a timeout after which it
//! and everything it started are killed, and output capped per stream; with `?stream=true`
//! the output arrives as events while it runs ([`crate::exec_stream`]).

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use slipway_core::{ExecOutcome, ExecRequest};

use crate::containers::find;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::json::ApiJson;
use crate::state::ApiState;

/// Timeouts accepted, in milliseconds: up to an hour; a minute unless asked.
const TIMEOUT_MS: std::ops::RangeInclusive<u64> = 1..=3_600_000;
const DEFAULT_TIMEOUT_MS: u64 = 60_000;
/// Output kept per stream.
pub(crate) const OUTPUT_LIMIT: usize = 1 << 20;
/// Most arguments, and the longest command line, accepted.
const MAX_ARGS: usize = 4096;
const MAX_COMMAND_BYTES: usize = 256 << 10;

/// A command: a string runs under `sh -c`, an array runs directly.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(crate) enum Command {
    Shell(String),
    Argv(Vec<String>),
}

/// The body of an exec.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ExecBody {
    command: Command,
    /// Milliseconds; a minute unless given.
    #[schema(minimum = 1, maximum = 3600000)]
    timeout: Option<u64>,
    #[schema(pattern = r"^/", example = "/app")]
    cwd: Option<String>,
    env: Option<BTreeMap<String, String>>,
    stdin: Option<String>,
}

/// What the command did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExecAnswer {
    exit_code: Option<i64>,
    stdout: String,
    stderr: String,
    timed_out: bool,
    duration_ms: u64,
    truncated: bool,
}

/// How a streamed command ended: the data of its `exit` event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExecExit {
    exit_code: Option<i64>,
    timed_out: bool,
    duration_ms: u64,
    truncated: bool,
}

impl ExecAnswer {
    fn of(outcome: ExecOutcome) -> Self {
        let exit = Self::summary(&outcome);
        Self {
            exit_code: exit.exit_code,
            stdout: String::from_utf8_lossy(&outcome.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&outcome.stderr).into_owned(),
            timed_out: exit.timed_out,
            duration_ms: exit.duration_ms,
            truncated: exit.truncated,
        }
    }

    /// The outcome without its output.
    pub(crate) fn summary(outcome: &ExecOutcome) -> ExecExit {
        ExecExit {
            exit_code: outcome.exit_code,
            timed_out: outcome.timed_out,
            duration_ms: u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX),
            truncated: outcome.truncated,
        }
    }
}

/// `?stream=true|false`.
fn wants_stream(query: Option<&str>) -> ApiResult<bool> {
    let mut stream = false;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        stream = match pair.split_once('=').unwrap_or((pair, "")) {
            ("stream", "true") => true,
            ("stream", "false") => false,
            ("stream", _) => return Err(ApiError::invalid("`stream` is `true` or `false`")),
            (key, _) => {
                return Err(ApiError::invalid(format!(
                    "unknown parameter `{}`; use `stream`",
                    key.escape_debug()
                )))
            }
        };
    }
    Ok(stream)
}

impl ExecBody {
    fn into_request(self) -> ApiResult<ExecRequest> {
        let argv = match self.command {
            Command::Shell(line) if line.trim().is_empty() => Vec::new(),
            Command::Shell(line) => vec!["sh".to_owned(), "-c".to_owned(), line],
            Command::Argv(argv) => argv,
        };
        if argv.is_empty() || argv[0].is_empty() {
            return Err(ApiError::invalid("`command` must not be empty"));
        }
        let bytes: usize = argv.iter().map(String::len).sum();
        if argv.len() > MAX_ARGS || bytes > MAX_COMMAND_BYTES {
            return Err(ApiError::invalid(format!(
                "`command` is longer than {MAX_ARGS} arguments or {MAX_COMMAND_BYTES} bytes"
            )));
        }
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT_MS);
        if !TIMEOUT_MS.contains(&timeout) {
            return Err(ApiError::invalid(format!(
                "`timeout` is in milliseconds, {}-{}",
                TIMEOUT_MS.start(),
                TIMEOUT_MS.end()
            )));
        }
        let mut request = ExecRequest::new(argv)
            .with_timeout(Duration::from_millis(timeout))
            .with_output_limit(OUTPUT_LIMIT);
        if let Some(cwd) = self.cwd {
            if !cwd.starts_with('/') {
                return Err(ApiError::invalid("`cwd` must be an absolute path"));
            }
            request = request.with_working_dir(cwd);
        }
        for (key, value) in self.env.unwrap_or_default() {
            request = request.with_env(key, value);
        }
        if let Some(stdin) = self.stdin {
            request = request.with_stdin(stdin.into_bytes());
        }
        request
            .validate()
            .map_err(|e| ApiError::invalid(format!("`command`: {e}")))?;
        Ok(request)
    }
}

#[utoipa::path(post, path = "/api/containers/{id}/exec", tag = "containers", request_body = ExecBody,
    params(("id" = String, Path, description = "the container's 8 hex characters"),
        ("stream" = Option<bool>, Query, description = "send the output as Server-Sent Events while it runs")),
    responses((status = 200, body = ExecAnswer, description = "the command's outcome; with `stream=true`, `text/event-stream` of `stdout`/`stderr` events (`{data}`) and one `exit` (ExecExit) or `error` (ErrorDetail)"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("bearer" = [])))]
/// `POST /api/containers/{id}/exec`.
pub(crate) async fn exec(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    ApiJson(body): ApiJson<ExecBody>,
) -> ApiResult<Response> {
    let stream = wants_stream(query.as_deref())?;
    let request = body.into_request()?;
    let record = find(&state, &id).await?;
    state.touch(&record.id);
    if stream {
        return Ok(crate::exec_stream::stream(state, record.id, request).into_response());
    }
    let outcome = state
        .services()
        .environments()?
        .exec(&record.id, request)
        .await?;
    state.touch(&record.id);
    Ok(Json(ExecAnswer::of(outcome)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_takes_stream_only() {
        assert!(!wants_stream(None).unwrap());
        assert!(wants_stream(Some("stream=true")).unwrap());
        assert!(!wants_stream(Some("stream=false")).unwrap());
        assert!(wants_stream(Some("stream=yes")).is_err());
        assert!(wants_stream(Some("tail=1")).is_err());
    }
}
