//! Error pages in the site's look, with no internals; and the one fallback, which
//! answers a browser with a page and a program with problem+json.

use askama::Template;
use axum::extract::Request;
use axum::http::header::{ACCEPT, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::render;
use super::session::{SignedIn, Viewer};
use crate::http::error::ApiError;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    viewer: Option<&'a Viewer>,
    csrf: &'a str,
}

/// The page for `err`: its status, a short human message, never a cause.
pub fn page_error(err: &ApiError, visitor: Option<&SignedIn>) -> Response {
    let status = err.status();
    let detail;
    let message = match err {
        // What the visitor sent and how to fix it: the error's own words are safe.
        ApiError::PayloadTooLarge { detail: text, .. } | ApiError::UnsupportedMediaType(text) => {
            detail = format!("That was refused: {text}.");
            detail.as_str()
        }
        ApiError::Validation(errors) => {
            let each: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
            detail = format!("That was refused: {}.", each.join("; "));
            detail.as_str()
        }
        _ => general(status),
    };
    let page = ErrorPage {
        title: status.canonical_reason().unwrap_or("Error"),
        message,
        viewer: visitor.map(|v| &v.viewer),
        csrf: visitor.map_or("", |v| v.csrf.as_str()),
    };
    if status.is_server_error()
        && let ApiError::Internal(cause) = err
    {
        tracing::error!(error = format!("{cause:#}"), "internal error on a page");
    }
    let mut response = render(status, &page);
    if let ApiError::TooManyRequests { retry_after } | ApiError::Unavailable { retry_after } = err {
        response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(*retry_after));
    }
    response
}

/// A short message for each status, saying nothing of the cause.
fn general(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "There is nothing here. The link may be old, or the page may have moved.",
        StatusCode::FORBIDDEN => "You are not allowed to do that.",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts. Please wait a minute and try again.",
        StatusCode::BAD_REQUEST => "That request could not be understood.",
        StatusCode::REQUEST_TIMEOUT => "That took too long: nothing arrived for a while. Please try again.",
        StatusCode::SERVICE_UNAVAILABLE => {
            "The service is busy or briefly unavailable. Please try again shortly."
        }
        _ if status.is_server_error() => "Something went wrong on our side. Please try again.",
        _ => "That did not work.",
    }
}

/// Paths nobody serves: a page for browsers, problem+json for the API and programs.
pub async fn fallback(visitor: super::session::Visitor, request: Request) -> Response {
    let path = request.uri().path();
    let wants_html = request
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html && !path.starts_with("/api/") {
        page_error(&ApiError::NotFound, visitor.0.as_ref())
    } else {
        ApiError::NotFound.into_response()
    }
}
