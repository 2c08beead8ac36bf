//! `POST /api/maintenance/prune`: removes what slipway made and nobody uses any more.

use std::time::Duration;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use slipway_app::maintenance::{prune as prune_state, PruneOutcome};

use crate::error::{ApiError, ApiResult};
use crate::json::ApiJson;
use crate::state::ApiState;

/// Longest age accepted: ten years.
const MAX_HOURS: u64 = 24 * 365 * 10;

/// The body of a prune.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PruneBody {
    older_than_hours: u64,
}

/// Removes this state's stopped environment and pool containers and its unused images
/// older than `olderThanHours`, and says what went.
pub(crate) async fn prune(
    State(state): State<ApiState>,
    ApiJson(body): ApiJson<PruneBody>,
) -> ApiResult<Json<PruneOutcome>> {
    if body.older_than_hours > MAX_HOURS {
        return Err(ApiError::invalid(format!(
            "`olderThanHours` is at most {MAX_HOURS}"
        )));
    }
    let age = Duration::from_secs(body.older_than_hours * 3600);
    Ok(Json(prune_state(state.services(), age).await?))
}
