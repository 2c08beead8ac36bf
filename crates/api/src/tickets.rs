//! Short-lived single-use tickets: what a browser puts in `?token=` to open one container's
//! terminal or log stream, instead of the API secret.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use crate::containers::find;
use crate::error::{ApiResult, ErrorBody};
use crate::state::ApiState;

/// How long a ticket is good for.
pub(crate) const TICKET_LIFETIME: Duration = Duration::from_secs(60);
/// Tickets outstanding at most (older ones are dropped first).
const MAX_TICKETS: usize = 10_000;

/// Outstanding tickets: which container each opens and until when.
#[derive(Debug, Default)]
pub(crate) struct Tickets {
    issued: Mutex<HashMap<String, (String, Instant)>>,
}

impl Tickets {
    /// A new ticket for `container`.
    pub(crate) fn issue(&self, container: &str) -> String {
        let ticket = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let now = Instant::now();
        let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        issued.retain(|_, (_, expires)| *expires > now);
        if issued.len() >= MAX_TICKETS {
            if let Some(oldest) = issued
                .iter()
                .min_by_key(|(_, (_, expires))| *expires)
                .map(|(t, _)| t.clone())
            {
                issued.remove(&oldest);
            }
        }
        issued.insert(
            ticket.clone(),
            (container.to_owned(), now + TICKET_LIFETIME),
        );
        ticket
    }

    /// Whether `ticket` opens `container` now; a ticket is used up by the first try.
    pub(crate) fn redeem(&self, ticket: &str, container: &str) -> bool {
        let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        match issued.remove(ticket) {
            Some((for_container, expires)) => {
                for_container == container && expires > Instant::now()
            }
            None => false,
        }
    }
}

/// A ticket, as issued.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Ticket {
    /// Pass it as `?token=` to this container's `/terminal` or `/logs`, once.
    ticket: String,
    expires_in_seconds: u64,
}

#[utoipa::path(post, path = "/api/containers/{id}/tickets", tag = "containers",
    params(("id" = String, Path, description = "the container's 8 hex characters")),
    responses((status = 201, body = Ticket), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
/// `POST /api/containers/{id}/tickets`.
pub(crate) async fn issue(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Ticket>)> {
    let record = find(&state, &id).await?;
    let ticket = state.tickets().issue(&record.id);
    Ok((
        StatusCode::CREATED,
        Json(Ticket {
            ticket,
            expires_in_seconds: TICKET_LIFETIME.as_secs(),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_opens_its_container_once() {
        let tickets = Tickets::default();
        let ticket = tickets.issue("0a1b2c3d");
        assert_eq!(ticket.len(), 64);
        assert!(!tickets.redeem(&ticket, "ffffffff"), "another container");
        // The failed try used it up.
        assert!(!tickets.redeem(&ticket, "0a1b2c3d"));
        let ticket = tickets.issue("0a1b2c3d");
        assert!(tickets.redeem(&ticket, "0a1b2c3d"));
        assert!(!tickets.redeem(&ticket, "0a1b2c3d"), "single use");
        assert!(!tickets.redeem("made-up", "0a1b2c3d"));
    }
}
