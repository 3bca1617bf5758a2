//! Web pages for people: server-rendered HTML (askama templates under `templates/`,
//! checked at compile time), one small stylesheet and script embedded in the binary,
//! cookie sessions on the API's own session table, and CSRF tokens on every form.
//!
//! A page is a template struct and a handler in this module (or, later, in its
//! feature's module) plus one line in [`router`].

mod account;
mod admin;
mod admin_user;
mod assets;
mod audit;
mod auth;
mod chart;
pub mod csrf;
mod errors;
mod files;
mod home;
mod listing;
mod profile;
mod run_edit;
mod runs;
pub mod session;
pub mod setup;
mod signup;

use askama::Template;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header::{CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use crate::app::AppState;
use crate::runs::routes::IMPORT_LIMIT;
pub use errors::{fallback, page_error};

/// No inline script, nothing from elsewhere, never framed.
const CSP: &str =
    "default-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Every page path and the handler that serves it.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home::landing))
        .route("/dashboard", get(home::dashboard))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/signup", get(signup::signup_form).post(signup::signup))
        .route("/setup", get(setup::setup_form).post(setup::setup))
        .route("/account", get(account::account))
        .route("/account/profile", post(profile::save_profile))
        .route("/account/password", post(profile::change_password))
        .route("/account/sessions/end", post(account::end_session))
        .route("/account/sign-out-everywhere", post(account::sign_out_everywhere))
        .route("/account/tokens", post(account::create_token))
        .route("/account/tokens/revoke", post(account::revoke_token))
        .route("/runs", get(runs::runs).post(runs::add))
        .route("/runs/import", post(runs::import_csv).layer(DefaultBodyLimit::max(IMPORT_LIMIT)))
        .route("/runs/{id}/edit", get(run_edit::edit_form).post(run_edit::save))
        .route("/runs/{id}/delete", post(run_edit::delete))
        .route("/files", get(files::files).post(files::upload).layer(DefaultBodyLimit::disable()))
        .route("/files/{id}/download", get(files::download))
        .route("/files/{id}/delete", post(files::delete))
        .route("/files/{id}/share", post(files::share))
        .route("/admin", get(admin::users))
        .route("/admin/users", post(admin::create))
        .route("/admin/users/{id}", get(admin_user::user))
        .route("/admin/users/{id}/roles", post(admin_user::set_roles))
        .route("/admin/users/{id}/expire", post(admin_user::expire))
        .route("/admin/audit", get(audit::audit))
        .route("/assets/{name}", get(assets::serve))
}

/// A rendered template with `status`, and the headers every page carries (personal
/// pages are never cached: `Cache-Control: no-store` is the server's default).
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    let mut response = match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "rendering a page failed");
            let fallback =
                "<!doctype html><html lang=\"en\"><title>Error</title><p>Something went wrong.</p></html>";
            (StatusCode::INTERNAL_SERVER_ERROR, Html(fallback)).into_response()
        }
    };
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

/// A moment as pages show it: `2026-12-03 19:51:57 UTC`.
pub fn when(at: crate::clock::Timestamp) -> String {
    crate::clock::rfc3339(at).replace('T', " ").replace('Z', " UTC")
}
