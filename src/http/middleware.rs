//! Request-wide middleware: metrics, and problem+json for bare error responses.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::Response;

use super::error::problem_response;
use crate::app::AppState;
use crate::metrics::{RequestLabels, RouteLabels};

/// Counts and times every request by route template.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    // Anything but the standard methods is one label, or clients could mint series.
    let method = match *req.method() {
        Method::GET
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::HEAD
        | Method::OPTIONS => req.method().as_str().to_owned(),
        _ => "OTHER".to_owned(),
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    let status = response.status().as_u16();
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels { method: method.clone(), route: route.clone(), status })
        .inc();
    state
        .metrics
        .latency
        .get_or_create(&RouteLabels { method, route })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Gives error responses made outside our handlers (unknown route, wrong method,
/// timeouts, body limits) the same problem+json shape as ours.
pub async fn problem_defaults(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.headers().contains_key(CONTENT_TYPE)
    {
        return response;
    }
    let (code, detail) = match status.as_u16() {
        404 => ("not_found", "no such resource"),
        405 => ("method_not_allowed", "this method is not allowed on this resource"),
        408 => ("request_timeout", "the request took too long"),
        413 => ("payload_too_large", "the request body is too large"),
        431 => ("headers_too_large", "the request headers are too large"),
        _ => ("error", status.canonical_reason().unwrap_or("error")),
    };
    let mut problem = problem_response(status, code, detail);
    for (name, value) in response.headers() {
        if name != CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            problem.headers_mut().insert(name.clone(), value.clone());
        }
    }
    problem
}
