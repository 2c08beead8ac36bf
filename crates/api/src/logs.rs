//! `GET /api/containers/{id}/logs`: Server-Sent Events of an environment's output (setup
//! phases and the container's stdout/stderr), each with its sequence number as the event id:
//! a client reconnecting with `Last-Event-ID` gets exactly the lines it missed, or an
//! `event: gap` saying how many the ring no longer holds; `event: end` when the output ends.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;

use crate::containers::find;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::log_hub::Buffer;
use crate::state::ApiState;

/// How often a comment keeps an idle stream (and the proxies on its way) alive.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// `?tail=N` and `?token=` (checked by the auth layer).
fn parse_query(query: Option<&str>) -> ApiResult<Option<usize>> {
    let mut tail = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "tail" => {
                tail = Some(
                    value
                        .parse()
                        .map_err(|_| ApiError::invalid("`tail` is a count of lines"))?,
                )
            }
            "token" => {}
            _ => {
                return Err(ApiError::invalid(format!(
                    "unknown parameter `{}`; use `tail` or `token`",
                    key.escape_debug()
                )))
            }
        }
    }
    Ok(tail)
}

#[utoipa::path(get, path = "/api/containers/{id}/logs", tag = "containers",
    params(("id" = String, Path, description = "the container's 8 hex characters"),
        ("tail" = Option<usize>, Query, description = "start this many lines before the end"),
        ("token" = Option<String>, Query, description = "for clients that can't send headers: the API secret, a ticket for this container, or the callback secret of its last setup"),
        ("Last-Event-ID" = Option<u64>, Header, description = "the last line seen: resume after it")),
    responses((status = 200, content_type = "text/event-stream", description = "events `id: <n>` with `data: {line, timestamp, stream}`, `event: gap`, `event: end`"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
/// `GET /api/containers/{id}/logs`.
pub(crate) async fn logs(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let tail = parse_query(query.as_deref())?;
    let last_event_id = match headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::invalid("`Last-Event-ID` is a line number"))?,
        ),
        None => None,
    };
    let record = find(&state, &id).await?;
    state.touch(&record.id);
    let buffer = state.logs_of(&record.id).await?;
    let after = match (last_event_id, tail) {
        (Some(seen), _) => seen,
        (None, Some(n)) => buffer.tail_start(n),
        (None, None) => 0,
    };
    let open = StreamOpen::new(state);
    Ok(Sse::new(events(buffer, after, open)).keep_alive(KeepAlive::new().interval(HEARTBEAT)))
}

/// Counts an open log stream for as long as it lives.
struct StreamOpen(ApiState);

impl StreamOpen {
    fn new(state: ApiState) -> Self {
        state.metrics().log_stream(1);
        Self(state)
    }
}

impl Drop for StreamOpen {
    fn drop(&mut self) {
        self.0.metrics().log_stream(-1);
    }
}

/// The events after line `after`, live, until the output ends.
fn events(
    buffer: Arc<Buffer>,
    after: u64,
    open: StreamOpen,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let changes = buffer.subscribe();
    let state = (buffer, changes, after, VecDeque::<Event>::new(), false);
    let stream = futures_util::stream::unfold(state, step);
    // The counter goes when the stream does.
    futures_util::StreamExt::map(stream, move |event| {
        let _ = &open;
        event
    })
}

type Step = (
    Arc<Buffer>,
    tokio::sync::watch::Receiver<(u64, bool)>,
    u64,
    VecDeque<Event>,
    bool,
);

async fn step(
    (buffer, mut changes, mut after, mut queue, mut ended): Step,
) -> Option<(Result<Event, Infallible>, Step)> {
    loop {
        if let Some(event) = queue.pop_front() {
            return Some((Ok(event), (buffer, changes, after, queue, ended)));
        }
        if ended {
            return None;
        }
        let read = buffer.read_after(after);
        if read.missed > 0 {
            queue.push_back(
                Event::default()
                    .event("gap")
                    .data(serde_json::json!({ "missed": read.missed }).to_string()),
            );
        }
        for entry in read.entries {
            after = entry.seq;
            queue.push_back(
                Event::default()
                    .id(entry.seq.to_string())
                    .data(serde_json::to_string(&entry).expect("a log entry serializes")),
            );
        }
        if !queue.is_empty() {
            continue;
        }
        let (last, done) = *changes.borrow_and_update();
        if done && last <= after {
            queue.push_back(Event::default().event("end").data("{}"));
            ended = true;
            continue;
        }
        if last > after {
            continue;
        }
        if changes.changed().await.is_err() {
            queue.push_back(Event::default().event("end").data("{}"));
            ended = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_takes_tail_and_token_only() {
        assert_eq!(parse_query(Some("tail=20")).unwrap(), Some(20));
        assert_eq!(parse_query(Some("token=x&tail=1")).unwrap(), Some(1));
        assert_eq!(parse_query(None).unwrap(), None);
        assert!(parse_query(Some("tail=many")).is_err());
        assert!(parse_query(Some("follow=1")).is_err());
    }
}
