//! [`ApiError`]: every failure as `{"error": {"code", "message"}}` with the status its kind
//! calls for.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use slipway_core::{Error, ErrorKind};

/// Seconds a client is asked to wait when the engine is down or capacity is exhausted.
const RETRY_AFTER_SECS: &str = "5";

/// An error as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code (`invalid_request`, `not_found`, …).
    pub code: &'static str,
    /// What went wrong, for a human.
    pub message: String,
}

impl ApiError {
    /// A 400 naming what was wrong.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// A 404 for `what`.
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// A 401.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid `Authorization: Bearer <secret>` header is required",
        )
    }

    /// Any status with a code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        let (status, code) = match error.kind() {
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ErrorKind::Conflict => (StatusCode::CONFLICT, "conflict"),
            ErrorKind::Invalid => (StatusCode::BAD_REQUEST, "invalid_request"),
            ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "engine_unavailable"),
            ErrorKind::CapacityExceeded => (StatusCode::SERVICE_UNAVAILABLE, "capacity_exhausted"),
            ErrorKind::Timeout => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        if status.is_server_error() {
            tracing::warn!(error = %message, "request failed");
        }
        Self::new(status, code, message)
    }
}

/// The body of every error answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// An error's code and message.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable machine-readable code: `invalid_request`, `unauthorized`, `not_found`,
    /// `conflict`, `payload_too_large`, `unsupported_media_type`, `websocket_required`,
    /// `engine_unavailable`, `capacity_exhausted`, `timeout`, `internal`.
    pub code: String,
    /// What went wrong, for a human.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        response
    }
}

/// A handler's result.
pub type ApiResult<T> = std::result::Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_statuses() {
        let cases = [
            (Error::not_found("environment `ab`"), 404),
            (Error::Conflict("busy".into()), 409),
            (Error::invalid("name", "bad"), 400),
            (Error::CapacityExceeded("memory".into()), 503),
            (
                Error::Conflict("clash".into()).context("creating the network"),
                409,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(ApiError::from(error).status.as_u16(), status);
        }
    }

    #[test]
    fn unavailable_answers_retry_after() {
        let error = ApiError::from(Error::CapacityExceeded("no memory left".into()));
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
    }
}
