//! `/` and `/dashboard`.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::render;
use super::session::Visitor;

#[derive(Template)]
#[template(path = "landing.html")]
struct Landing<'a> {
    username: Option<&'a str>,
    csrf: &'a str,
    registration_open: bool,
}

/// The front page; signed-in visitors go on to their dashboard.
pub async fn landing(
    state: axum::extract::State<crate::app::AppState>,
    Visitor(visitor): Visitor,
) -> Response {
    if visitor.is_some() {
        return Redirect::to("/dashboard").into_response();
    }
    let page = Landing { username: None, csrf: "", registration_open: state.config.registration_open };
    render(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard<'a> {
    username: Option<&'a str>,
    csrf: &'a str,
}

/// The signed-in home page.
pub async fn dashboard(Visitor(visitor): Visitor) -> Response {
    let Some(visitor) = visitor else {
        return Redirect::to("/login").into_response();
    };
    render(StatusCode::OK, &Dashboard { username: Some(&visitor.username), csrf: &visitor.csrf })
}
