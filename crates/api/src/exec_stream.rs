//! `POST /api/containers/{id}/exec?stream=true`: the same command, its output sent as
//! Server-Sent Events while it runs — `stdout` and `stderr` events with `{"data"}`, then one
//! `exit` (`{exitCode, timedOut, durationMs, truncated}`) or `error` (`{code, message}`).
//! A client that goes away kills the command and everything it started.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use slipway_core::{ExecRequest, LogSource, OutputTap};
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::exec::ExecAnswer;
use crate::state::ApiState;

/// Bytes of each stream held back because they end inside a UTF-8 character.
#[derive(Default)]
struct Carry {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Carry {
    fn of(&mut self, source: LogSource) -> &mut Vec<u8> {
        match source {
            LogSource::Stderr => &mut self.stderr,
            LogSource::Stdout | LogSource::Console => &mut self.stdout,
        }
    }
}

/// Runs `request` in environment `id` on a task of its own and streams what it prints.
pub(crate) fn stream(
    state: ApiState,
    id: String,
    request: ExecRequest,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let (events, received) = mpsc::unbounded_channel::<Event>();
    let carry = Arc::new(Mutex::new(Carry::default()));
    let tap = {
        let (events, carry) = (events.clone(), carry.clone());
        OutputTap::new(move |source, bytes| {
            let mut carry = carry.lock().unwrap_or_else(|e| e.into_inner());
            let text = decode(carry.of(source), bytes);
            send_output(&events, source, &text);
        })
    };
    // The output is capped per stream (the exec's limit), so the channel holds at most that.
    let request = request.with_tap(tap);
    let task = tokio::spawn(async move {
        let outcome = match state.services().environments() {
            Ok(environments) => environments.exec(&id, request).await,
            Err(e) => Err(e),
        };
        state.touch(&id);
        let mut carry = std::mem::take(&mut *carry.lock().unwrap_or_else(|e| e.into_inner()));
        for source in [LogSource::Stdout, LogSource::Stderr] {
            let rest = String::from_utf8_lossy(carry.of(source)).into_owned();
            send_output(&events, source, &rest);
        }
        let last = match outcome {
            Ok(outcome) => Event::default()
                .event("exit")
                .data(to_json(&ExecAnswer::summary(&outcome))),
            Err(e) => {
                let error = ApiError::from(e);
                Event::default().event("error").data(
                    serde_json::json!({ "code": error.code, "message": error.message }).to_string(),
                )
            }
        };
        let _ = events.send(last);
    });
    let running = AbortOnDrop(task);
    let stream = futures_util::stream::unfold(received, |mut received| async move {
        received.recv().await.map(|event| (Ok(event), received))
    })
    .map(move |event| {
        // The command lives as long as its client reads.
        let _ = &running;
        event
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

fn send_output(events: &mpsc::UnboundedSender<Event>, source: LogSource, text: &str) {
    if text.is_empty() {
        return;
    }
    let name = match source {
        LogSource::Stderr => "stderr",
        LogSource::Stdout | LogSource::Console => "stdout",
    };
    let data = to_json(&serde_json::json!({ "data": text }));
    let _ = events.send(Event::default().event(name).data(data));
}

fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("an exec event serializes")
}

/// Aborts the command's task (which kills the command) when the stream is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `carry` followed by `bytes` as text, keeping back an incomplete character at the end
/// for the next chunk; invalid bytes become U+FFFD.
fn decode(carry: &mut Vec<u8>, bytes: &[u8]) -> String {
    carry.extend_from_slice(bytes);
    let mut text = String::new();
    let mut start = 0;
    loop {
        match std::str::from_utf8(&carry[start..]) {
            Ok(rest) => {
                text.push_str(rest);
                carry.clear();
                return text;
            }
            Err(e) => {
                let valid = start + e.valid_up_to();
                text.push_str(&String::from_utf8_lossy(&carry[start..valid]));
                match e.error_len() {
                    Some(bad) => {
                        text.push(char::REPLACEMENT_CHARACTER);
                        start = valid + bad;
                    }
                    None => {
                        carry.drain(..valid);
                        return text;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_split_across_chunks_arrives_whole() {
        let mut carry = Vec::new();
        let euro = "€".as_bytes();
        assert_eq!(decode(&mut carry, &[b'a', euro[0]]), "a");
        assert_eq!(decode(&mut carry, &euro[1..2]), "");
        assert_eq!(decode(&mut carry, &[euro[2], b'b']), "€b");
        assert!(carry.is_empty());
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut carry = Vec::new();
        assert_eq!(decode(&mut carry, b"x\xffy"), "x\u{FFFD}y");
        assert!(carry.is_empty());
    }
}
