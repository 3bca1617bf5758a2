//! `/admin/users/{id}`: one user within the visitor's reach — their account, their
//! roles (administrators change them) and expiry. Anyone out of reach is a 404, as
//! on the API.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::auth::{CsrfForm, checked_form};
use super::errors::page_error;
use super::listing::PageQuery;
use super::render;
use super::session::{SignedIn, SignedInOnly, Viewer};
use crate::accounts::model::User;
use crate::app::AppState;
use crate::auth::permissions::Permission;
use crate::domain::ids::UserId;
use crate::http::client_ip::ClientIp;
use crate::http::error::{ApiError, ApiResult};
use crate::users::manage;

#[derive(Template)]
#[template(path = "admin_user.html")]
struct UserPage<'a> {
    viewer: Option<&'a Viewer>,
    csrf: &'a str,
    id: String,
    username: String,
    name: String,
    email: String,
    created: String,
    /// When the account was expired, if it was.
    expired: Option<String>,
    /// Every role, and whether the user holds it.
    roles: Vec<(String, bool)>,
    held: String,
    can_set_roles: bool,
    can_expire: bool,
    sees_audit: bool,
    error: Option<String>,
    notice: Option<&'static str>,
}

fn id_of(id: &str) -> ApiResult<UserId> {
    UserId::parse(id).ok_or(ApiError::NotFound)
}

pub async fn user(
    State(state): State<AppState>,
    SignedInOnly(visitor): SignedInOnly,
    Path(id): Path<String>,
    PageQuery(outcome): PageQuery<Outcome>,
) -> Response {
    let notice = match outcome.saved.as_str() {
        "roles" => Some("Roles saved. They apply from the user's next request."),
        _ => None,
    };
    show(&state, &visitor, &id, StatusCode::OK, None, notice).await
}

#[derive(serde::Deserialize, Default)]
pub struct Outcome {
    #[serde(default)]
    saved: String,
}

async fn show(
    state: &AppState,
    visitor: &SignedIn,
    id: &str,
    status: StatusCode,
    error: Option<String>,
    notice: Option<&'static str>,
) -> Response {
    let found = async {
        visitor.principal.require(Permission::UsersRead)?;
        manage::reachable(state, &visitor.principal, &id_of(id)?, false).await
    };
    match found.await {
        Ok(user) => render(status, &page(state, visitor, user, error, notice)),
        Err(err) => page_error(&err, Some(visitor)),
    }
}

fn page<'a>(
    state: &AppState,
    visitor: &'a SignedIn,
    user: User,
    error: Option<String>,
    notice: Option<&'static str>,
) -> UserPage<'a> {
    let principal = &visitor.principal;
    let roles = state.roles.names().map(|r| (r.to_owned(), user.roles.iter().any(|h| h == r))).collect();
    let active = user.expired_at.is_none();
    UserPage {
        viewer: Some(&visitor.viewer),
        csrf: &visitor.csrf,
        roles,
        held: user.roles.join(", "),
        can_set_roles: active && principal.can(Permission::UsersAdmin),
        can_expire: active && principal.can(Permission::UsersWrite) && user.id != principal.user_id,
        sees_audit: principal.can(Permission::AuditRead),
        created: super::when(user.created_at),
        expired: user.expired_at.map(super::when),
        id: user.id.into_string(),
        username: user.username,
        name: user.name,
        email: user.email.unwrap_or_default(),
        error,
        notice,
    }
}

/// Replaces the user's roles with those ticked (administrators only).
pub async fn set_roles(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    SignedInOnly(visitor): SignedInOnly,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let saved = async {
        let _: CsrfForm = checked_form(&state, &visitor, &headers, &body)?;
        let roles = super::auth::Fields::read(&body)?.all("roles");
        manage::replace_roles(&state, &visitor.principal, ip, &id_of(&id)?, &roles).await
    };
    match saved.await {
        Ok(_) => Redirect::to(&format!("/admin/users/{id}?saved=roles")).into_response(),
        Err(err @ (ApiError::Validation(_) | ApiError::Conflict { .. })) => {
            let message = match &err {
                ApiError::Validation(errors) => {
                    errors.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join("; ")
                }
                ApiError::Conflict { detail, .. } => detail.clone(),
                _ => String::new(),
            };
            show(&state, &visitor, &id, err.status(), Some(message), None).await
        }
        Err(err) => page_error(&err, Some(&visitor)),
    }
}

/// Expires the user: every session and token of theirs ends at once.
pub async fn expire(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    SignedInOnly(visitor): SignedInOnly,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let expired = async {
        let _: CsrfForm = checked_form(&state, &visitor, &headers, &body)?;
        visitor.principal.require(Permission::UsersWrite)?;
        manage::expire(&state, &visitor.principal, ip, &id_of(&id)?).await
    };
    match expired.await {
        Ok(()) => Redirect::to("/admin").into_response(),
        Err(err @ ApiError::Conflict { .. }) => {
            let message =
                if let ApiError::Conflict { detail, .. } = &err { detail.clone() } else { String::new() };
            show(&state, &visitor, &id, err.status(), Some(message), None).await
        }
        Err(err) => page_error(&err, Some(&visitor)),
    }
}
