//! `GET /api/containers/{id}/terminal` (WebSocket): an interactive shell. Binary frames and
//! text frames that aren't control messages are typed in; output comes back as binary
//! frames. Control messages are JSON text frames: `{"type":"resize","cols":C,"rows":R}` and
//! `{"type":"close"}` (ends the shell). The first frame the server sends is
//! `{"type":"session","session":"<id>"}`; a dropped socket leaves the shell running for the
//! grace period, and `?session=<id>` reattaches, replaying what was printed meanwhile.

mod session;

use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use serde::Deserialize;
use slipway_core::TtySize;

use crate::containers::find;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::ApiState;

pub(crate) use session::{Session, Sessions};

/// How often the server pings an idle socket.
const PING_EVERY: Duration = Duration::from_secs(20);

/// A control message from the client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Control {
    Resize { cols: u16, rows: u16 },
    Close,
}

/// `?session=`, `?cols=`, `?rows=` and `?token=` (checked by the auth layer).
#[derive(Debug, Default)]
struct Query {
    session: Option<String>,
    size: TtySize,
}

fn parse_query(query: Option<&str>) -> ApiResult<Query> {
    let mut parsed = Query::default();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let number = |what: &str| {
            value
                .parse::<u16>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| ApiError::invalid(format!("`{what}` is 1-1000")))
        };
        match key {
            "session" => {
                if value.len() != 32 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(ApiError::not_found("terminal session"));
                }
                parsed.session = Some(value.to_owned());
            }
            "cols" => parsed.size.cols = number("cols")?,
            "rows" => parsed.size.rows = number("rows")?,
            "token" => {}
            _ => {
                return Err(ApiError::invalid(format!(
                    "unknown parameter `{}`; use `session`, `cols`, `rows` or `token`",
                    key.escape_debug()
                )))
            }
        }
    }
    Ok(parsed)
}

#[utoipa::path(get, path = "/api/containers/{id}/terminal", tag = "containers",
    params(("id" = String, Path, description = "the container's 8 hex characters"),
        ("session" = Option<String>, Query, description = "reattach to this session"),
        ("cols" = Option<u16>, Query), ("rows" = Option<u16>, Query),
        ("token" = Option<String>, Query, description = "for clients that can't send headers: the API secret, a ticket for this container, or the callback secret of its last setup")),
    responses((status = 101, description = "a WebSocket: binary frames both ways, JSON control frames `resize` and `close`"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 426, body = ErrorBody, description = "the connection can't be upgraded to a WebSocket")),
    security(("bearer" = [])))]
/// `GET /api/containers/{id}/terminal`.
pub(crate) async fn terminal(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let query = parse_query(query.as_deref())?;
    let record = find(&state, &id).await?;
    // Checked after the container, so an unknown one is a 404 however it is asked for.
    let upgrade = upgrade.map_err(|rejection| {
        ApiError::new(
            rejection.status(),
            "websocket_required",
            format!(
                "open the terminal as a WebSocket: {}",
                rejection.body_text()
            ),
        )
    })?;
    state.touch(&record.id);
    let sessions = state.terminals().clone();
    let (session, from) = match &query.session {
        Some(session) => {
            let session = sessions
                .get(session, &record.id)
                .ok_or_else(|| ApiError::not_found("terminal session"))?;
            let from = state.detached_at(&session.id);
            (session, from)
        }
        None => {
            let environments = state.services().environments()?;
            let record = environments.wake(&record.id).await?;
            let container = environments.container(&record.id).await?;
            let working_dir = if record.branch.is_some() { "/app" } else { "/" };
            let session = sessions
                .open(
                    state.services().runtime()?,
                    &record.id,
                    container,
                    working_dir,
                    query.size,
                )
                .await?;
            (session, 0)
        }
    };
    sessions.attached(&session);
    Ok(upgrade.on_upgrade(move |socket| serve(state, session, from, socket)))
}

/// Pumps one socket: replay, then output out and input in, until either side ends.
async fn serve(
    state: ApiState,
    session: std::sync::Arc<Session>,
    from: u64,
    mut socket: WebSocket,
) {
    let hello = serde_json::json!({"type": "session", "session": session.id}).to_string();
    let mut output = session.subscribe();
    let (replay, mut position) = session.since(from);
    let mut ended = session.ended();
    let greeted = socket.send(Message::Text(hello.into())).await.is_ok()
        && (replay.is_empty() || socket.send(Message::Binary(replay.into())).await.is_ok());
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut closed_by_client = false;
    if greeted {
        loop {
            tokio::select! {
                chunk = output.recv() => match chunk {
                    Ok(chunk) => {
                        position += chunk.len() as u64;
                        if socket.send(Message::Binary(chunk.into())).await.is_err() {
                            break;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        // Too slow a reader: send what the ring holds past what it had.
                        let (missed, now) = session.since(position);
                        position = now;
                        if socket.send(Message::Binary(missed.into())).await.is_err() {
                            break;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                },
                _ = ended.changed() => {
                    if *ended.borrow() {
                        let _ = socket.send(Message::Close(None)).await;
                        closed_by_client = true;
                        break;
                    }
                }
                message = socket.recv() => match message {
                    Some(Ok(Message::Binary(data))) => {
                        state.touch(&session.environment);
                        if session.write(&data).await.is_err() { break; }
                    }
                    Some(Ok(Message::Text(text))) => {
                        state.touch(&session.environment);
                        match serde_json::from_str::<Control>(&text) {
                            Ok(Control::Resize { cols, rows }) => {
                                if let Err(error) = session.resize(cols.clamp(1, 1000), rows.clamp(1, 1000)).await {
                                    tracing::info!(session = %session.id, %error, "resize failed");
                                }
                            }
                            Ok(Control::Close) => {
                                session.kill().await;
                                closed_by_client = true;
                                break;
                            }
                            Err(_) => {
                                if session.write(text.as_bytes()).await.is_err() { break; }
                            }
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                },
                _ = ping.tick() => {
                    if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                        break;
                    }
                }
            }
        }
    }
    if !closed_by_client {
        state.remember_detach(&session.id, session.position());
        state
            .terminals()
            .detached(session, state.services().config().server.terminal_grace);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_takes_a_session_a_size_and_a_token() {
        let q = parse_query(Some("cols=120&rows=40&token=x")).unwrap();
        assert_eq!((q.size.cols, q.size.rows), (120, 40));
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            parse_query(Some(&format!("session={id}")))
                .unwrap()
                .session
                .as_deref(),
            Some(id)
        );
        assert!(parse_query(Some("session=../../x")).is_err());
        assert!(parse_query(Some("cols=0")).is_err());
        assert!(parse_query(Some("shell=bash")).is_err());
    }

    #[test]
    fn control_messages_parse_and_anything_else_is_input() {
        assert!(matches!(
            serde_json::from_str::<Control>(r#"{"type":"resize","cols":80,"rows":24}"#),
            Ok(Control::Resize { cols: 80, rows: 24 })
        ));
        assert!(matches!(
            serde_json::from_str::<Control>(r#"{"type":"close"}"#),
            Ok(Control::Close)
        ));
        assert!(serde_json::from_str::<Control>("ls -la\n").is_err());
    }
}
