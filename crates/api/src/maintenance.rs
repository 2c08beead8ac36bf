//! `POST /api/maintenance/prune`: removes what slipway made and nobody uses any more.

use std::time::Duration;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use slipway_app::maintenance::prune as prune_state;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::json::ApiJson;
use crate::state::ApiState;

/// Longest age accepted: ten years.
const MAX_HOURS: u64 = 24 * 365 * 10;

/// The body of a prune.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PruneBody {
    older_than_hours: u64,
}

/// What a prune removed.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PruneAnswer {
    /// Stopped environment and pool containers, by id.
    containers: Vec<String>,
    /// Images, by reference or id.
    images: Vec<String>,
    /// Disk space the images freed, in bytes.
    reclaimed_bytes: u64,
    /// Installs removed from dependency stores, as `volume/fingerprint`.
    dependencies: Vec<String>,
}

#[utoipa::path(post, path = "/api/maintenance/prune", tag = "maintenance", request_body = PruneBody,
    responses((status = 200, body = PruneAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("bearer" = [])))]
/// Removes this state's stopped environment and pool containers, its unused images and
/// the dependency installs no running environment links, older than `olderThanHours`, and
/// says what went.
pub(crate) async fn prune(
    State(state): State<ApiState>,
    ApiJson(body): ApiJson<PruneBody>,
) -> ApiResult<Json<PruneAnswer>> {
    if body.older_than_hours > MAX_HOURS {
        return Err(ApiError::invalid(format!(
            "`olderThanHours` is at most {MAX_HOURS}"
        )));
    }
    let age = Duration::from_secs(body.older_than_hours * 3600);
    let outcome = prune_state(state.services(), age).await?;
    Ok(Json(PruneAnswer {
        containers: outcome.containers,
        images: outcome.images,
        reclaimed_bytes: outcome.reclaimed_bytes,
        dependencies: outcome
            .dependencies
            .into_iter()
            .map(|removed| format!("{}/{}", removed.volume, removed.entry))
            .collect(),
    }))
}
