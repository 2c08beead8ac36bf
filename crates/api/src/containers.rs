//! `/api/containers`: list, get, create (from the warm pool), destroy.

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use slipway_core::{ContainerName, EnvironmentRecord, ImageRef, RepoSlug};
use slipway_provision::NewEnvironment;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::json::ApiJson;
use crate::state::ApiState;

/// Most published ports one container may ask for.
const MAX_PORTS: usize = 16;
/// Most labels one container may carry, and their sizes.
const MAX_LABELS: usize = 32;
const MAX_LABEL_KEY: usize = 128;
const MAX_LABEL_VALUE: usize = 256;
/// Memory limits accepted, in MiB.
const MEMORY_MB: std::ops::RangeInclusive<u64> = 16..=1 << 20;
/// Idle minutes after which an environment may be stopped: up to a week.
const AUTO_STOP_MINUTES: std::ops::RangeInclusive<u32> = 1..=7 * 24 * 60;
/// Longest idempotency key accepted.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// One container as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContainerView {
    id: String,
    name: String,
    image: String,
    state: &'static str,
    phase: Option<String>,
    phases: Vec<PhaseView>,
    error: Option<String>,
    host_port: Option<u16>,
    ports: Vec<PortView>,
    repo: Option<String>,
    branch: Option<String>,
    labels: BTreeMap<String, String>,
    from_pool: bool,
    auto_stop_minutes: Option<u32>,
    created_at: i64,
    updated_at: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PhaseView {
    phase: String,
    started_at: i64,
    duration_ms: Option<u64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PortView {
    container_port: u16,
    host_port: u16,
}

impl From<&EnvironmentRecord> for ContainerView {
    fn from(record: &EnvironmentRecord) -> Self {
        Self {
            id: record.id.clone(),
            name: record.name.clone(),
            image: record.image.to_string(),
            state: record.status.as_str(),
            phase: record.phases.last().map(|p| p.phase.clone()),
            phases: record
                .phases
                .iter()
                .map(|p| PhaseView {
                    phase: p.phase.clone(),
                    started_at: p.started_at.unix_millis(),
                    duration_ms: p.duration_ms,
                })
                .collect(),
            error: record.error.clone(),
            host_port: record.host_port,
            ports: record
                .ports
                .iter()
                .map(|p| PortView {
                    container_port: p.container_port,
                    host_port: p.host_port,
                })
                .collect(),
            repo: record.repo.as_ref().map(ToString::to_string),
            branch: record.branch.as_ref().map(ToString::to_string),
            labels: record.labels.clone(),
            from_pool: record.from_pool,
            auto_stop_minutes: record.auto_stop_minutes,
            created_at: record.created_at.unix_millis(),
            updated_at: record.updated_at.unix_millis(),
        }
    }
}

/// `?repo=`, `?state=`, `?label=k=v` (repeatable, all must match).
#[derive(Debug, Default)]
struct ListFilter {
    repo: Option<String>,
    state: Option<String>,
    labels: Vec<(String, String)>,
}

impl ListFilter {
    fn parse(query: Option<&str>) -> ApiResult<Self> {
        let mut filter = Self::default();
        let pairs: Vec<(String, String)> = serde_urlencoded_pairs(query.unwrap_or(""))?;
        for (key, value) in pairs {
            match key.as_str() {
                "repo" => filter.repo = Some(value),
                "state" => filter.state = Some(value),
                "label" => {
                    let (k, v) = value.split_once('=').ok_or_else(|| {
                        ApiError::invalid("`label` filters are written `label=key=value`")
                    })?;
                    filter.labels.push((k.to_owned(), v.to_owned()));
                }
                other => {
                    return Err(ApiError::invalid(format!(
                        "unknown filter `{}`; filter by `repo`, `state` or `label`",
                        other.escape_debug()
                    )))
                }
            }
        }
        Ok(filter)
    }

    fn matches(&self, record: &EnvironmentRecord) -> bool {
        self.repo
            .as_ref()
            .is_none_or(|repo| record.repo.as_ref().is_some_and(|r| r.as_str() == repo))
            && self
                .state
                .as_ref()
                .is_none_or(|state| record.status.as_str() == state)
            && self
                .labels
                .iter()
                .all(|(k, v)| record.labels.get(k) == Some(v))
    }
}

fn serde_urlencoded_pairs(query: &str) -> ApiResult<Vec<(String, String)>> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{query}")
            .parse()
            .map_err(|_| ApiError::invalid("the query string is malformed"))?,
    )
    .map(|q| q.0)
    .map_err(|e| ApiError::invalid(e.body_text()))
}

#[utoipa::path(get, path = "/api/containers", tag = "containers",
    params(
        ("repo" = Option<String>, Query, description = "only containers of this `owner/repo`"),
        ("state" = Option<String>, Query, description = "only containers in this state"),
        ("label" = Option<String>, Query, description = "`key=value`; repeat for more"),
    ),
    responses((status = 200, body = Vec<ContainerView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
/// `GET /api/containers`.
pub(crate) async fn list(
    State(state): State<ApiState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<Vec<ContainerView>>> {
    let filter = ListFilter::parse(query.as_deref())?;
    let records = state.services().environments()?.list().await?;
    Ok(Json(
        records
            .iter()
            .filter(|r| filter.matches(r))
            .map(ContainerView::from)
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/containers/{id}", tag = "containers",
    params(("id" = String, Path, description = "the container's 8 hex characters")),
    responses((status = 200, body = ContainerView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
/// `GET /api/containers/{id}`.
pub(crate) async fn get(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ContainerView>> {
    let record = find(&state, &id).await?;
    state.touch(&record.id);
    Ok(Json(ContainerView::from(&record)))
}

/// The environment `id`, or a 404 for anything that isn't one of this state's.
pub(crate) async fn find(state: &ApiState, id: &str) -> ApiResult<EnvironmentRecord> {
    if !is_container_id(id) {
        return Err(ApiError::not_found(format!(
            "container `{}`",
            id.escape_debug()
        )));
    }
    match state.services().store().environment(id).await? {
        Some(record) => Ok(record),
        None => Err(ApiError::not_found(format!("container `{id}`"))),
    }
}

/// Container ids are 8 lowercase hex characters.
fn is_container_id(id: &str) -> bool {
    id.len() == 8 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `POST /api/containers`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateBody {
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,127}$", example = "web")]
    name: String,
    #[schema(example = "node:24-slim")]
    image: Option<String>,
    /// Container ports to publish on host ports.
    #[schema(max_items = 16)]
    ports: Option<Vec<u16>>,
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,127}$", example = "deps")]
    volume_name: Option<String>,
    pool: Option<bool>,
    #[schema(minimum = 16, maximum = 1048576)]
    memory_mb: Option<u64>,
    /// At most 32.
    labels: Option<BTreeMap<String, String>>,
    #[schema(
        pattern = r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$",
        example = "owner/repo"
    )]
    repo: Option<String>,
    #[schema(minimum = 1, maximum = 10080)]
    auto_stop_minutes: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Created {
    id: String,
    name: String,
    host_port: Option<u16>,
    from_pool: bool,
}

impl CreateBody {
    /// Checks every field; the error names the first that is wrong.
    fn into_request(self, idempotency_key: Option<String>) -> ApiResult<NewEnvironment> {
        let field =
            |name: &str, e: slipway_core::Error| ApiError::invalid(format!("`{name}`: {e}"));
        let name: ContainerName = self.name.parse().map_err(|e| field("name", e))?;
        let image = self
            .image
            .map(|i| i.parse::<ImageRef>())
            .transpose()
            .map_err(|e| field("image", e))?;
        let repo = self
            .repo
            .map(|r| r.parse::<RepoSlug>())
            .transpose()
            .map_err(|e| field("repo", e))?;
        let volume = self
            .volume_name
            .map(|v| v.parse::<ContainerName>())
            .transpose()
            .map_err(|e| field("volumeName", e))?;
        let ports = self.ports.unwrap_or_default();
        if ports.len() > MAX_PORTS {
            return Err(ApiError::invalid(format!(
                "`ports`: at most {MAX_PORTS} ports"
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for port in &ports {
            if *port == 0 || !seen.insert(*port) {
                return Err(ApiError::invalid(format!(
                    "`ports`: {port} is 0 or listed twice; ports are 1-65535, each once"
                )));
            }
        }
        let memory_bytes = match self.memory_mb {
            Some(mb) if MEMORY_MB.contains(&mb) => Some(mb << 20),
            Some(mb) => {
                return Err(ApiError::invalid(format!(
                    "`memoryMb`: {mb} is outside {}-{}",
                    MEMORY_MB.start(),
                    MEMORY_MB.end()
                )))
            }
            None => None,
        };
        let labels = self.labels.unwrap_or_default();
        check_labels(&labels)?;
        if let Some(minutes) = self.auto_stop_minutes {
            if !AUTO_STOP_MINUTES.contains(&minutes) {
                return Err(ApiError::invalid(format!(
                    "`autoStopMinutes`: {minutes} is outside {}-{}",
                    AUTO_STOP_MINUTES.start(),
                    AUTO_STOP_MINUTES.end()
                )));
            }
        }
        Ok(NewEnvironment {
            name: Some(name.to_string()),
            repo,
            image,
            memory_bytes,
            ports,
            cold: self.pool == Some(false),
            volume,
            labels,
            idempotency_key,
            auto_stop_minutes: self.auto_stop_minutes,
        })
    }
}

fn check_labels(labels: &BTreeMap<String, String>) -> ApiResult<()> {
    if labels.len() > MAX_LABELS {
        return Err(ApiError::invalid(format!(
            "`labels`: at most {MAX_LABELS} labels"
        )));
    }
    for (key, value) in labels {
        let key_ok = !key.is_empty()
            && key.len() <= MAX_LABEL_KEY
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/'));
        if !key_ok {
            return Err(ApiError::invalid(format!(
                "`labels`: key `{}` must be 1-{MAX_LABEL_KEY} of letters, digits, `.`, `-`, `_`, `/`",
                key.escape_debug()
            )));
        }
        if slipway_core::labels::is_reserved(key) || key.starts_with("dev.slipway.") {
            return Err(ApiError::invalid(format!(
                "`labels`: `{key}` is one of slipway's own labels"
            )));
        }
        if value.len() > MAX_LABEL_VALUE || value.chars().any(char::is_control) {
            return Err(ApiError::invalid(format!(
                "`labels`: the value of `{key}` must be at most {MAX_LABEL_VALUE} bytes without control characters"
            )));
        }
    }
    Ok(())
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| {
            !k.is_empty()
                && k.len() <= MAX_IDEMPOTENCY_KEY
                && k.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "`Idempotency-Key` must be 1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters"
            ))
        })?;
    Ok(Some(key.to_owned()))
}

#[utoipa::path(post, path = "/api/containers", tag = "containers", request_body = CreateBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key returns the first container")),
    responses((status = 201, body = Created), (status = 200, body = Created, description = "the container an earlier request with this Idempotency-Key made"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
/// `POST /api/containers`: 201 with the container, served from a warm one when one matches;
/// a retry with the same `Idempotency-Key` gets the first one back (200).
pub(crate) async fn create(
    State(state): State<ApiState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateBody>,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let request = body.into_request(key.clone())?;
    if !state.health().engine_reachable() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "engine_unavailable",
            "the container engine is not reachable; retry later",
        ));
    }
    let environments = state.services().environments()?;
    let _serialized = match &key {
        Some(_) => Some(state.idempotency_lock().await),
        None => None,
    };
    if let Some(key) = &key {
        let earlier = environments
            .list()
            .await?
            .into_iter()
            .find(|r| r.idempotency_key.as_deref() == Some(key.as_str()));
        if let Some(record) = earlier {
            return Ok((StatusCode::OK, Json(created(&record))).into_response());
        }
    }
    let started = std::time::Instant::now();
    let record = environments.create(request).await?;
    state
        .metrics()
        .create(record.from_pool, started.elapsed().as_secs_f64());
    state.touch(&record.id);
    tracing::info!(container = %record.id, from_pool = record.from_pool, "container created");
    Ok((StatusCode::CREATED, Json(created(&record))).into_response())
}

fn created(record: &EnvironmentRecord) -> Created {
    Created {
        id: record.id.clone(),
        name: record.name.clone(),
        host_port: record.host_port,
        from_pool: record.from_pool,
    }
}

#[utoipa::path(delete, path = "/api/containers/{id}", tag = "containers",
    params(("id" = String, Path, description = "the container's 8 hex characters")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
/// `DELETE /api/containers/{id}`: 204; the host port is released, the repo's volume stays.
pub(crate) async fn destroy(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let record = find(&state, &id).await?;
    state.services().environments()?.destroy(&record.id).await?;
    state.callbacks().forget(&record.id);
    state.keys().forget(&record.id);
    state.log_hub().forget(&record.id);
    tracing::info!(container = %record.id, "container destroyed");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_eight_hex_characters_are_ids() {
        assert!(is_container_id("0a1b2c3d"));
        for bad in ["0A1B2C3D", "0a1b2c3", "0a1b2c3d4", "../etc/p", "0a1b2c3\n"] {
            assert!(!is_container_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn filters_parse_and_refuse_unknown_keys() {
        let filter = ListFilter::parse(Some("repo=a/b&state=ready&label=team=web")).unwrap();
        assert_eq!(filter.repo.as_deref(), Some("a/b"));
        assert_eq!(filter.labels, [("team".to_owned(), "web".to_owned())]);
        assert!(ListFilter::parse(Some("color=red")).is_err());
        assert!(ListFilter::parse(Some("label=novalue")).is_err());
    }
}
