//! `POST /api/containers/{id}/setup`: 202 at once, then cloning → installing → starting →
//! ready (or error) in the background, each phase change called back, signed.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use slipway_core::{EnvironmentStatus, GitCredentials, GitRef, RepoSlug, Secret};
use slipway_provision::{EnvValue, EnvironmentEvent, Phase, SetupRequest};

use crate::callbacks::{CallbackEvent, CallbackTarget};
use crate::containers::find;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::json::ApiJson;
use crate::state::ApiState;

/// Most environment variables one setup may pass.
const MAX_ENV_VARS: usize = 256;
/// Longest value of one of them.
const MAX_ENV_VALUE: usize = 32 << 10;
/// Longest token accepted.
const MAX_TOKEN: usize = 4096;

/// The body of a setup.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SetupBody {
    #[schema(
        pattern = r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$",
        example = "owner/repo"
    )]
    repo: String,
    branch: Option<String>,
    github_token: Option<String>,
    callback_url: Option<String>,
    callback_secret: Option<String>,
    /// Accepted for compatibility; whether a main image exists is looked up, not trusted.
    #[allow(dead_code)]
    has_main_image: Option<bool>,
    build_main_image: Option<bool>,
    env_vars: Option<BTreeMap<String, String>>,
}

impl SetupBody {
    fn into_parts(self) -> ApiResult<(SetupRequest, Option<CallbackTarget>)> {
        let field =
            |name: &str, e: slipway_core::Error| ApiError::invalid(format!("`{name}`: {e}"));
        let repo: RepoSlug = self.repo.parse().map_err(|e| field("repo", e))?;
        let mut request = SetupRequest::new(repo);
        if let Some(branch) = self.branch {
            request.branch = Some(branch.parse::<GitRef>().map_err(|e| field("branch", e))?);
        }
        if let Some(token) = self.github_token {
            if token.is_empty() || token.len() > MAX_TOKEN || token.chars().any(char::is_control) {
                return Err(ApiError::invalid(format!(
                    "`githubToken` must be 1-{MAX_TOKEN} characters without control characters"
                )));
            }
            request.credentials = Some(GitCredentials {
                username: "x-access-token".to_owned(),
                secret: Secret::new(token),
            });
        }
        let env = self.env_vars.unwrap_or_default();
        if env.len() > MAX_ENV_VARS {
            return Err(ApiError::invalid(format!(
                "`envVars`: at most {MAX_ENV_VARS} variables"
            )));
        }
        for (key, value) in env {
            if value.len() > MAX_ENV_VALUE {
                return Err(ApiError::invalid(format!(
                    "`envVars`: the value of `{}` is longer than {MAX_ENV_VALUE} bytes",
                    key.escape_debug()
                )));
            }
            request.env.insert(key, EnvValue::plain(value));
        }
        request.build_main_image = self.build_main_image.unwrap_or(false);
        request.validate().map_err(|e| field("envVars", e))?;
        let callback = match (self.callback_url, self.callback_secret) {
            (Some(url), Some(secret)) => Some(
                CallbackTarget::new(&url, &Secret::new(secret))
                    .map_err(|e| ApiError::invalid(e.to_string()))?,
            ),
            (None, None) => None,
            _ => {
                return Err(ApiError::invalid(
                    "`callbackUrl` and `callbackSecret` come together",
                ))
            }
        };
        Ok((request, callback))
    }
}

#[utoipa::path(post, path = "/api/containers/{id}/setup", tag = "containers", request_body = SetupBody,
    params(("id" = String, Path, description = "the container's 8 hex characters")),
    responses((status = 202, description = "the setup runs in the background"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("bearer" = [])))]
/// `POST /api/containers/{id}/setup`.
pub(crate) async fn setup(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SetupBody>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let (request, callback) = body.into_parts()?;
    let record = find(&state, &id).await?;
    if record.container_id.is_none() {
        return Err(ApiError::from(slipway_core::Error::Conflict(format!(
            "container `{id}` has no container yet"
        ))));
    }
    if let Some(repo) = record.repo.as_ref().filter(|r| **r != request.repo) {
        return Err(ApiError::invalid(format!(
            "`repo`: container `{id}` was made for {repo}; create another one for {}",
            request.repo
        )));
    }
    let guard = state.begin_setup(&record.id)?;
    state.touch(&record.id);
    if let Some(target) = &callback {
        state.callbacks().remember(&record.id, target)?;
        state.keys().set(&record, &target.secret())?;
    }
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<EnvironmentEvent>();
    let forwarder = {
        let state = state.clone();
        let id_for_logs = record.id.clone();
        let callback = callback.clone();
        tokio::spawn(async move {
            let buffer = state.log_hub().buffer(&id_for_logs);
            while let Some(event) = receiver.recv().await {
                for line in &event.event.log {
                    buffer.push("setup", line.clone(), event.event.at);
                }
                let setup = &event.event;
                if let Some(ms) = setup.duration_ms.filter(|_| !setup.started) {
                    state
                        .metrics()
                        .phase(setup.phase.as_str(), ms as f64 / 1000.0);
                }
                match setup.phase {
                    Phase::Ready => state.metrics().setup("ready"),
                    Phase::Error => state.metrics().setup("error"),
                    _ => {}
                }
                if let (Some(target), Some(callback_event)) = (&callback, callback_event(&event)) {
                    state.callbacks().send(target, callback_event);
                }
            }
        })
    };
    let task_state = state.clone();
    let id = record.id.clone();
    tokio::spawn(async move {
        let _guard = guard;
        let outcome = match task_state.services().environments() {
            Ok(environments) => environments.setup(&id, request, Some(sender)).await,
            Err(e) => Err(e),
        };
        let _ = forwarder.await;
        if let Err(error) = &outcome {
            tracing::info!(container = %id, %error, "setup failed");
        }
        task_state.callbacks().forget(&id);
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "id": record.id, "state": "setting_up" })),
    ))
}

/// The callback for one event: a phase beginning, or the end (ready or error).
fn callback_event(event: &EnvironmentEvent) -> Option<CallbackEvent> {
    let setup = &event.event;
    let (status, message) = match setup.phase {
        Phase::Cloning | Phase::Installing | Phase::Starting if setup.started => ("started", None),
        Phase::Ready => ("succeeded", None),
        Phase::Error => ("failed", setup.message.clone()),
        _ => return None,
    };
    Some(CallbackEvent::new(
        &event.environment,
        setup.phase.as_str(),
        status,
        message,
    ))
}

/// Calls back `error` for every setup a crash interrupted (recovery has marked them), once.
pub(crate) fn report_interrupted(state: &ApiState) {
    let interrupted = state
        .services()
        .startup_report()
        .environments
        .interrupted
        .clone();
    for id in interrupted {
        let Some(target) = state.callbacks().remembered(&id) else {
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let message = match state.services().store().environment(&id).await {
                Ok(Some(record)) if record.status == EnvironmentStatus::Error => record.error,
                _ => None,
            }
            .unwrap_or_else(|| "the setup was interrupted by a restart of slipwayd".to_owned());
            let event = CallbackEvent::new(&id, Phase::Error.as_str(), "failed", Some(message));
            state.callbacks().deliver(&target, &event).await;
            state.callbacks().forget(&id);
        });
    }
}
