//! Every path and every middleware, in one place.

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderName, HeaderValue, Request, StatusCode};
use axum::{Extension, Router, middleware};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use super::error::{ApiError, problem_response};
use super::middleware::{problem_defaults, track};
use super::ops::{self, OpenApiDocument};
use crate::app::AppState;

/// Largest request body any JSON endpoint accepts.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Longest a request may take end to end.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(OpenApi)]
#[openapi(
    info(title = "Hallpass", description = "Accounts, sessions and tokens for your app."),
    modifiers(&BearerAuth),
    tags((name = "auth"), (name = "users"), (name = "tokens"), (name = "audit"), (name = "runs"), (name = "ops"))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build(),
            ),
        );
    }
}

/// The API description and the routes it describes, before state is attached.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ops::router())
        .merge(crate::auth::routes::router())
        .merge(crate::users::me::router())
        .merge(crate::users::manage::router())
        .merge(crate::tokens::routes::router())
        .merge(crate::audit::routes::router())
        .merge(crate::runs::routes::router())
        .split_for_parts()
}

pub fn build(state: AppState) -> anyhow::Result<Router> {
    let (routes, openapi) = api();
    let document = OpenApiDocument(serde_json::to_vec(&openapi)?.into());
    let request_id = HeaderName::from_static("x-request-id");
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok());
                // The path only: query strings may carry secrets.
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = id.unwrap_or_default())
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(CatchPanicLayer::custom(|_| {
            problem_response(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "internal error")
        }))
        .layer(middleware::from_fn(problem_defaults))
        // Tokens and account data must not sit in caches (RFC 6749 §5.1); responses
        // that may be cached (JWKS) say so themselves.
        .layer(SetResponseHeaderLayer::if_not_present(CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    Ok(routes
        .fallback(|| async { ApiError::NotFound })
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(Extension(document))
        .layer(layers)
        .with_state(state))
}
