//! `/api/v1/users` and `/api/v1/users/{id}`: user management.
//!
//! Who reaches whom: everyone reaches themselves (with `profile:*`); managers
//! (`users:read`/`users:write`) reach active users whose roles are all plain
//! (`user`, `operator`); administrators (`users:admin`) reach everyone. A user out of
//! reach does not exist for the caller (404).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::lifecycle;
use super::me::{MePatch, nullable};
use crate::accounts::create::{self as accounts, AccountInput, Creation};
use crate::accounts::model::{User, UserView};
use crate::accounts::store;
use crate::app::AppState;
use crate::audit::{Action, Event};
use crate::auth::permissions::{PLAIN_ROLES, Permission};
use crate::auth::principal::Principal;
use crate::cluster::Invalidation;
use crate::domain::account::parse_json_object;
use crate::domain::ids::UserId;
use crate::domain::{Invalid, password_policy};
use crate::http::client_ip::ClientIp;
use crate::http::error::{ApiError, ApiResult, Problem};
use crate::http::extract::{Json, Path, Query};
use crate::http::listing::ListQuery;
use crate::http::paging::Page;

fn is_plain(user: &User) -> bool {
    user.roles.iter().all(|r| PLAIN_ROLES.contains(&r.as_str()))
}

/// The user `id` if the caller may read (or, with `write`, change) it; else 404.
pub async fn reachable(state: &AppState, principal: &Principal, id: &UserId, write: bool) -> ApiResult<User> {
    let user = store::find(&state.db, id).await?.ok_or(ApiError::NotFound)?;
    if principal.can(Permission::UsersAdmin) {
        return Ok(user);
    }
    if user.expired_at.is_some() {
        return Err(ApiError::NotFound);
    }
    if user.id == principal.user_id {
        principal.require(if write { Permission::ProfileWrite } else { Permission::ProfileRead })?;
        return Ok(user);
    }
    let needed = if write { Permission::UsersWrite } else { Permission::UsersRead };
    if principal.can(needed) && is_plain(&user) { Ok(user) } else { Err(ApiError::NotFound) }
}

/// Names every role in `roles` that does not exist (422).
fn check_roles(state: &AppState, roles: &[String]) -> ApiResult<()> {
    let unknown: Vec<&str> = roles.iter().map(String::as_str).filter(|r| !state.roles.exists(r)).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let known: Vec<&str> = state.roles.names().collect();
    Err(ApiError::invalid(
        "roles",
        format!("unknown roles: {}; the roles are {}", unknown.join(", "), known.join(", ")),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListParams {
    /// Administrators only: include expired users.
    #[serde(default)]
    include_expired: bool,
}

/// Users the caller manages (`users:read`): managers see plain users, admins everyone.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserListParams, ListQuery),
    responses((status = 200, body = Page<UserView>), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn list_users(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<UserListParams>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Page<UserView>>> {
    principal.require(Permission::UsersRead)?;
    let listing = query.check(&store::SCHEMA, store::DEFAULT_ORDER)?;
    let (users, total) = list(&state, &principal, params.include_expired, &listing).await?;
    Ok(Json(listing.page_of(users.iter().map(UserView::from).collect(), total)))
}

/// The users within the caller's reach (`users:read`): managers see plain users,
/// admins everyone (and, asking for them, the expired).
pub async fn list(
    state: &AppState,
    principal: &Principal,
    include_expired: bool,
    listing: &crate::http::listing::Listing,
) -> ApiResult<(Vec<User>, Option<u64>)> {
    principal.require(Permission::UsersRead)?;
    let admin = principal.can(Permission::UsersAdmin);
    if include_expired && !admin {
        return Err(ApiError::Forbidden("only administrators see expired users".into()));
    }
    let only_roles = (!admin).then_some(&PLAIN_ROLES[..]);
    Ok(store::list(&state.db, include_expired, only_roles, listing).await?)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    username: String,
    /// 8 to 128 characters; common, guessable and username-containing passwords are refused.
    #[schema(min_length = 8, max_length = 128)]
    password: String,
    #[schema(format = Email, max_length = 254)]
    email: Option<String>,
    name: Option<String>,
    /// Default `["user"]`; managers may only give `user` and `operator`.
    roles: Option<Vec<String>>,
}

/// Create a user (`users:write`).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUserRequest,
    responses((status = 201, body = UserView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    principal: Principal,
    Json(body): Json<NewUserRequest>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let roles = body.roles.unwrap_or_else(|| vec!["user".into()]);
    let input = AccountInput {
        username: &body.username,
        password: Some(&body.password),
        email: body.email.as_deref(),
        name: body.name.as_deref(),
    };
    let user = create(&state, &principal, ip, &input, &roles).await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

/// Creates a user with `roles` (`users:write`; managers give plain roles only).
pub async fn create(
    state: &AppState,
    principal: &Principal,
    ip: std::net::IpAddr,
    input: &AccountInput<'_>,
    roles: &[String],
) -> ApiResult<User> {
    principal.require(Permission::UsersWrite)?;
    let known = check_roles(state, roles);
    let plain = roles.iter().all(|r| PLAIN_ROLES.contains(&r.as_str()));
    if known.is_ok() && !principal.can(Permission::UsersAdmin) && !plain {
        return Err(ApiError::Forbidden(
            "managers may only create users with the user and operator roles".into(),
        ));
    }
    let role_names: Vec<&str> = roles.iter().map(String::as_str).collect();
    let creation = Creation { roles: &role_names, created_by: Some(&principal.user_id), link: None };
    let min = usize::from(state.config.password_min_length);
    let now = state.clock.now();
    // Every field is checked, the roles with the rest, before anything is written.
    let account = match (known, accounts::validate(&state.hasher, min, input).await) {
        (Ok(()), Ok(account)) => account,
        (Err(ApiError::Validation(mut errors)), Err(ApiError::Validation(more))) => {
            errors.extend(more);
            return Err(ApiError::Validation(errors));
        }
        (Err(err), _) | (_, Err(err)) => return Err(err),
    };
    let mut tx = state.db.begin().await?;
    let user = accounts::create(&mut tx, account, creation, now).await?;
    Event::new(Action::UserCreated)
        .actor(&principal.user_id)
        .target(&user.id)
        .ip(ip)
        .details(json!({ "roles": user.roles }))
        .record(&mut tx, now)
        .await?;
    tx.commit().await?;
    Ok(user)
}

/// A user (yourself, or someone you manage).
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path)),
    responses((status = 200, body = UserView), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn get_user(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<UserId>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(UserView::from(&reachable(&state, &principal, &id, false).await?)))
}

/// Editable fields; `roles`, `id` and timestamps are refused (422).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    username: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Email, max_length = 254)]
    email: Option<Option<String>>,
    name: Option<String>,
    #[schema(value_type = Option<Object>)]
    profile: Option<serde_json::Value>,
    /// Administrators only.
    #[schema(value_type = Option<Object>)]
    attributes: Option<serde_json::Value>,
    /// Administrators only, from a signed-in session; ends that user's sessions.
    #[schema(min_length = 8, max_length = 128)]
    password: Option<String>,
}

/// Edit a user.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path)),
    request_body = UserPatch,
    responses((status = 200, body = UserView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn patch_user(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    principal: Principal,
    Path(id): Path<UserId>,
    Json(patch): Json<UserPatch>,
) -> ApiResult<Json<UserView>> {
    let user = reachable(&state, &principal, &id, true).await?;
    if user.expired_at.is_some() {
        return Err(ApiError::NotFound);
    }
    if patch.attributes.is_some() || patch.password.is_some() {
        principal.require(Permission::UsersAdmin)?;
    }
    if patch.password.is_some() && principal.is_api_token() {
        return Err(ApiError::Forbidden("API tokens cannot change passwords".into()));
    }
    // Every field is checked, and the password hashed, before the first write.
    let mut errors: Vec<Invalid> = Vec::new();
    let attributes = patch
        .attributes
        .as_ref()
        .and_then(|a| parse_json_object("attributes", a).map_err(|e| errors.push(e)).ok());
    let username = patch.username.as_deref().unwrap_or(&user.username).to_owned();
    let change =
        MePatch { username: patch.username, email: patch.email, name: patch.name, profile: patch.profile }
            .validate()
            .map_err(|invalid| errors.extend(invalid))
            .ok();
    let min = usize::from(state.config.password_min_length);
    if let Some(password) = patch.password.as_deref()
        && let Err(invalid) = password_policy::check(password, &username, min)
    {
        errors.push(invalid);
    }
    let Some(mut change) = change.filter(|_| errors.is_empty()) else {
        return Err(errors.into());
    };
    change.attributes = attributes;
    if let Some(password) = patch.password.as_deref() {
        change.password_hash = Some(state.hasher.hash(password).await?);
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let updated =
        store::update_account(&mut tx, &user.id, &change, now, &principal.user_id, user.roles.clone())
            .await?
            .ok_or(ApiError::NotFound)?;
    let mut invalidate = Vec::new();
    if change.password_hash.is_some() {
        let keep = principal.session_id().ok().filter(|_| user.id == principal.user_id);
        invalidate =
            lifecycle::password_changed(&mut tx, &user.id, keep, &principal.user_id, ip, now).await?;
    }
    tx.commit().await?;
    state.gate.invalidate(invalidate).await;
    Ok(Json(UserView::from(&updated)))
}

/// Expire a user: sessions and API tokens end at once, logins fail.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn delete_user(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    principal: Principal,
    Path(id): Path<UserId>,
) -> ApiResult<StatusCode> {
    expire(&state, &principal, ip, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Expires user `id` (someone the caller may change): sessions and tokens end.
pub async fn expire(
    state: &AppState,
    principal: &Principal,
    ip: std::net::IpAddr,
    id: &UserId,
) -> ApiResult<()> {
    let user = reachable(state, principal, id, true).await?;
    let mut tx = state.db.begin().await?;
    let expired = lifecycle::expire(&mut tx, &user, &principal.user_id, ip, state.clock.now()).await?;
    let invalidate = expired.ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    state.gate.invalidate(invalidate).await;
    Ok(())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolesRequest {
    roles: Vec<String>,
}

/// Replace a user's roles (administrators only); effective on the user's next request.
#[utoipa::path(put, path = "/api/v1/users/{id}/roles", tag = "users", params(("id" = String, Path)),
    request_body = RolesRequest,
    responses((status = 200, body = UserView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn set_roles(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    principal: Principal,
    Path(id): Path<UserId>,
    Json(body): Json<RolesRequest>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(UserView::from(&replace_roles(&state, &principal, ip, &id, &body.roles).await?)))
}

/// Replaces the roles of user `id` (administrators only), keeping an administrator.
pub async fn replace_roles(
    state: &AppState,
    principal: &Principal,
    ip: std::net::IpAddr,
    id: &UserId,
    roles: &[String],
) -> ApiResult<User> {
    principal.require(Permission::UsersAdmin)?;
    check_roles(state, roles)?;
    let user =
        store::find(&state.db, id).await?.filter(|u| u.expired_at.is_none()).ok_or(ApiError::NotFound)?;
    let mut roles: Vec<&str> = roles.iter().map(String::as_str).collect();
    roles.sort_unstable();
    roles.dedup();
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    if !roles.contains(&"admin") {
        lifecycle::keep_an_admin(&mut tx, &user).await?;
    }
    store::set_roles(&mut tx, &user.id, &roles, now, &principal.user_id).await?;
    Event::new(Action::RolesChanged)
        .actor(&principal.user_id)
        .target(&user.id)
        .ip(ip)
        .details(json!({ "from": user.roles, "to": roles }))
        .record(&mut tx, now)
        .await?;
    tx.commit().await?;
    state.gate.invalidate(vec![Invalidation::User(user.id.to_string())]).await;
    let roles = roles.into_iter().map(str::to_owned).collect();
    Ok(User { roles, updated_at: now, updated_by: Some(principal.user_id.to_string()), ..user })
}
