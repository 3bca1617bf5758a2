//! The stylesheet and script, embedded in the binary.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::response::{IntoResponse, Response};

use super::errors::page_error;
use crate::http::error::ApiError;

const CSS: &str = include_str!("../../assets/app.css");
const JS: &str = include_str!("../../assets/app.js");

pub async fn serve(Path(name): Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "app.css" => (CSS, "text/css; charset=utf-8"),
        "app.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return page_error(&ApiError::NotFound, None),
    };
    (
        [(CONTENT_TYPE, kind), (CACHE_CONTROL, "public, max-age=3600"), (X_CONTENT_TYPE_OPTIONS, "nosniff")],
        body,
    )
        .into_response()
}
