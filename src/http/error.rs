//! The one error type of the API, rendered as RFC 9457 `application/problem+json`.
//!
//! Every handler returns `Result<_, ApiError>`. Server faults are logged with their
//! cause chain and answered with an opaque body, so internals and secrets never leak.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::Invalid;
use crate::store::{EMAIL_KEY, EXTERNAL_IDENTITY_KEY, StoreError, USERNAME_KEY};

/// One invalid field of a request body or query.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    /// A `filter` or `sort` parameter that does not parse or check; `position` is
    /// the 0-based character where the trouble is.
    #[error("{detail}")]
    InvalidFilter { code: &'static str, position: usize, detail: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("{detail}")]
    PayloadTooLarge { code: &'static str, detail: String },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("request fields are invalid")]
    Validation(Vec<FieldError>),
    #[error("too many requests")]
    TooManyRequests { retry_after: u64 },
    #[error("request timed out")]
    Timeout,
    #[error("a service this request depends on is unavailable")]
    Unavailable { retry_after: u64 },
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

/// The problem document; `errors` only for validation failures.
#[derive(Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// For `invalid_filter` / `invalid_sort`: the 0-based character position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
}

impl ApiError {
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::BadRequest { code, detail: detail.into() }
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict { code, detail: detail.into() }
    }

    pub fn too_large(code: &'static str, detail: impl Into<String>) -> Self {
        Self::PayloadTooLarge { code, detail: detail.into() }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// The one answer for every failed authentication, whatever the reason.
    pub fn unauthenticated() -> Self {
        Self::Unauthorized("missing, invalid or expired credentials".into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } | Self::InvalidFilter { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Conflict { code, .. }
            | Self::InvalidFilter { code, .. }
            | Self::PayloadTooLarge { code, .. } => code,
            Self::Unauthorized(_) => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Validation(_) => "validation_failed",
            Self::TooManyRequests { .. } => "rate_limited",
            Self::Timeout => "request_timeout",
            Self::Unavailable { .. } => "service_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    fn problem(&self) -> Problem {
        let status = self.status();
        let errors = match self {
            Self::Validation(errors) => Some(errors.clone()),
            _ => None,
        };
        let detail = match &errors {
            Some(errors) => {
                errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ")
            }
            None => self.to_string(),
        };
        Problem {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail,
            code: self.code().into(),
            errors,
            position: match self {
                Self::InvalidFilter { position, .. } => Some(*position),
                _ => None,
            },
        }
    }
}

/// A problem+json response for `status`, used where no `ApiError` exists (bare
/// responses produced by the framework or middleware).
pub fn problem_response(status: StatusCode, code: &str, detail: &str) -> Response {
    let problem = Problem {
        kind: "about:blank".into(),
        title: status.canonical_reason().unwrap_or("Error").into(),
        status: status.as_u16(),
        detail: detail.into(),
        code: code.into(),
        errors: None,
        position: None,
    };
    render(status, &problem)
}

fn render(status: StatusCode, problem: &Problem) -> Response {
    let body = serde_json::to_vec(problem).unwrap_or_default();
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            tracing::error!(error = format!("{cause:#}"), "internal error");
        }
        let mut response = render(self.status(), &self.problem());
        let headers = response.headers_mut();
        match self {
            Self::Unauthorized(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="hallpass", error="invalid_token""#),
                );
            }
            Self::TooManyRequests { retry_after } | Self::Unavailable { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after.max(1)));
            }
            _ => {}
        }
        response
    }
}

/// The one mapping of store errors to HTTP: unavailable and busy are worth a retry
/// (503), a named unique key is the conflict it means (409), anything unexpected is
/// logged and answered 500.
impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %err, "database unavailable");
                Self::Unavailable { retry_after: 2 }
            }
            StoreError::Busy(_) => {
                tracing::warn!(error = %err, "database busy");
                Self::Unavailable { retry_after: 1 }
            }
            StoreError::Unique(Some(USERNAME_KEY)) => {
                Self::conflict("username_taken", "that username is already taken")
            }
            StoreError::Unique(Some(EMAIL_KEY)) => {
                Self::conflict("email_taken", "that e-mail address is already in use")
            }
            StoreError::Unique(Some(EXTERNAL_IDENTITY_KEY)) => {
                Self::conflict("already_linked", "this outside identity already has an account")
            }
            StoreError::Unique(_) => Self::conflict("conflict", "the record already exists"),
            StoreError::UnstorableText => Self::bad_request(
                "invalid_text",
                "the request contains characters that cannot be stored (e.g. NUL)",
            ),
            other => Self::Internal(anyhow::Error::new(other).context("database")),
        }
    }
}

/// File storage that fails is worth a retry; the cause is logged, never shown.
impl From<object_store::Error> for ApiError {
    fn from(err: object_store::Error) -> Self {
        tracing::warn!(error = %err, "file storage failed");
        Self::Unavailable { retry_after: 2 }
    }
}

impl From<redis::RedisError> for ApiError {
    fn from(err: redis::RedisError) -> Self {
        tracing::warn!(error = %err, "redis unavailable");
        Self::Unavailable { retry_after: 2 }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl From<Invalid> for FieldError {
    fn from(invalid: Invalid) -> Self {
        Self { field: invalid.field, message: invalid.message }
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        Self::Validation(vec![invalid.into()])
    }
}

/// Every refused field of a request at once.
impl From<Vec<Invalid>> for ApiError {
    fn from(invalid: Vec<Invalid>) -> Self {
        Self::Validation(invalid.into_iter().map(FieldError::from).collect())
    }
}
