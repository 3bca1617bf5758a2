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
use utoipa_axum::routes;

use super::error::problem_response;
use super::middleware::{problem_defaults, track};
use super::ops::{self, OpenApiDocument};
use crate::app::AppState;
use crate::runs::routes::IMPORT_LIMIT;

/// Largest request body any JSON endpoint accepts.
pub const BODY_LIMIT: usize = 64 * 1024;
/// A request that takes this long is logged (with its span: method, path, id).
const SLOW_REQUEST: Duration = Duration::from_secs(1);
/// Longest a request may take end to end.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(OpenApi)]
#[openapi(
    info(title = "Hallpass", description = "Accounts, sessions and tokens for your app."),
    modifiers(&BearerAuth),
    tags((name = "auth"), (name = "users"), (name = "tokens"), (name = "audit"), (name = "runs"), (name = "files"),
         (name = "ops"))
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

/// The API description and the routes it describes, before state is attached: every
/// path and the handler that serves it.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use crate::{audit, auth, files, runs, tokens, users};
    // Imports carry a whole CSV file: the one route with a larger body limit.
    let import = OpenApiRouter::new()
        .routes(routes!(runs::routes::import_runs))
        .layer(DefaultBodyLimit::max(IMPORT_LIMIT));
    // An upload may take as long as its bytes take to arrive: no overall timeout and
    // no body limit here; it has its own size limit and gives up after 30 s without
    // a byte (`files::upload`).
    let upload = OpenApiRouter::new().routes(routes!(files::routes::upload_file));
    let timed = OpenApiRouter::with_openapi(ApiDoc::openapi())
        // /healthz, /readyz, /metrics, /openapi.json, /.well-known/jwks.json
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi))
        .routes(routes!(ops::jwks))
        // /api/v1/auth/…
        .routes(routes!(auth::routes::register))
        .routes(routes!(auth::routes::login))
        .routes(routes!(auth::routes::refresh))
        .routes(routes!(auth::routes::logout))
        .routes(routes!(auth::routes::verify))
        .routes(routes!(auth::routes::list_sessions))
        .routes(routes!(auth::routes::delete_session))
        .routes(routes!(auth::routes::register_external))
        // /api/v1/users/me…
        .routes(routes!(users::me::get_me, users::me::patch_me, users::me::delete_me))
        .routes(routes!(users::me::change_password))
        // /api/v1/users[/{id}[/roles]]
        .routes(routes!(users::manage::list_users, users::manage::create_user))
        .routes(routes!(users::manage::get_user, users::manage::patch_user, users::manage::delete_user))
        .routes(routes!(users::manage::set_roles))
        // /api/v1/tokens…
        .routes(routes!(tokens::routes::create_token, tokens::routes::list_tokens))
        .routes(routes!(tokens::routes::delete_token))
        // /api/v1/audit
        .routes(routes!(audit::routes::list_audit))
        // /api/v1/runs…
        .routes(routes!(runs::routes::create_run, runs::routes::list_runs))
        .routes(routes!(runs::routes::get_run, runs::routes::patch_run, runs::routes::delete_run))
        .routes(routes!(runs::routes::weekly_report))
        .merge(import)
        // /api/v1/files… (upload below); a download's handler answers at once and its
        // body streams afterwards, outside this timeout (a stalled reader is cut by
        // the connection's write timeout, `http::server`).
        .routes(routes!(files::routes::list_files))
        .routes(routes!(files::routes::usage))
        .routes(routes!(files::routes::get_file, files::routes::delete_file))
        .routes(routes!(files::routes::download))
        .routes(routes!(files::routes::create_link))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT));
    timed.merge(upload.layer(DefaultBodyLimit::disable())).split_for_parts()
}

pub fn build(state: AppState) -> anyhow::Result<Router> {
    let (routes, openapi) = api();
    let mut document = serde_json::to_value(&openapi)?;
    let roles: Vec<&str> = state.roles.names().collect();
    super::openapi::refine(&mut document, &roles);
    let document = OpenApiDocument(serde_json::to_vec(&document)?.into());
    let request_id = HeaderName::from_static("x-request-id");
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let id = req.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok());
                    // The path only: query strings may carry secrets.
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = id.unwrap_or_default())
                })
                // Quiet for ordinary requests; a slow one says how slow, in its span.
                .on_response(|res: &axum::http::Response<_>, latency: Duration, _: &tracing::Span| {
                    if latency >= SLOW_REQUEST {
                        let millis = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
                        tracing::warn!(status = res.status().as_u16(), millis, "slow request");
                    }
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
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    Ok(routes
        .merge(crate::pages::router())
        .fallback(crate::pages::fallback)
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(Extension(document))
        .layer(layers)
        .with_state(state))
}
