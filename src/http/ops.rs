//! Operational endpoints: liveness, readiness, metrics, the OpenAPI document, JWKS.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, Problem};
use super::extract::Json;
use crate::app::AppState;

#[derive(Serialize, ToSchema)]
pub struct Status {
    status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = Status)))]
pub(crate) async fn healthz() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// Readiness: the database, file storage (and Redis, if configured) answer.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, body = Status), (status = 503, body = Problem)))]
pub(crate) async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Status>> {
    state.db.ping().await?;
    state.cluster.ping().await?;
    state.files.storage.ping().await?;
    Ok(Json(Status { status: "ready" }))
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, content_type = "text/plain")))]
pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
}

/// The OpenAPI document, generated from the code.
#[derive(Clone)]
pub struct OpenApiDocument(pub Bytes);

/// This API's OpenAPI 3.1 description.
#[utoipa::path(get, path = "/openapi.json", tag = "ops", responses((status = 200, content_type = "application/json")))]
pub(crate) async fn openapi(Extension(doc): Extension<OpenApiDocument>) -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], doc.0)
}

/// Public keys that verify our access tokens (RFC 7517).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "ops", responses((status = 200, content_type = "application/json")))]
pub(crate) async fn jwks(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    Ok(([(CACHE_CONTROL, "public, max-age=300")], Json(state.keys.jwks())))
}
