//! `/api/v1/users/me`: the caller's own account.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use super::lifecycle;
use crate::accounts::model::UserView;
use crate::accounts::store::{self, ProfileChange};
use crate::app::AppState;
use crate::auth::login;
use crate::auth::permissions::Permission;
use crate::auth::principal::Principal;
use crate::domain::account::{Email, Username, parse_name, parse_profile};
use crate::domain::{Invalid, password_policy};
use crate::http::client_ip::ClientIp;
use crate::http::error::{ApiError, ApiResult, Problem};
use crate::http::extract::Json;

async fn load(state: &AppState, principal: &Principal) -> ApiResult<crate::accounts::model::User> {
    store::find_active_with_roles(&state.db, &principal.user_id, &principal.roles)
        .await?
        .ok_or_else(ApiError::unauthenticated)
}

/// The caller's own account, with what they may do.
#[derive(serde::Serialize, ToSchema)]
pub struct MeView {
    #[serde(flatten)]
    user: UserView,
    /// The caller's effective permissions: their roles' permissions, narrowed by the
    /// scopes of the API token in use, if any.
    permissions: Vec<String>,
}

impl MeView {
    fn of(user: &crate::accounts::model::User, principal: &Principal) -> Self {
        Self { user: UserView::from(user), permissions: principal.permissions.names() }
    }
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users",
    responses((status = 200, body = MeView), (status = 401, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn get_me(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<MeView>> {
    principal.require(Permission::ProfileRead)?;
    Ok(Json(MeView::of(&load(&state, &principal).await?, &principal)))
}

/// Distinguishes a field sent as `null` (Some(None)) from one left out (None).
pub(crate) fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Editable fields; anything else (`roles`, `id`, `attributes`, timestamps) is refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MePatch {
    pub(crate) username: Option<String>,
    /// `null` removes the address.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Email, max_length = 254)]
    pub(crate) email: Option<Option<String>>,
    pub(crate) name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub(crate) profile: Option<serde_json::Value>,
}

impl MePatch {
    pub(crate) fn validate(self) -> Result<ProfileChange, Vec<Invalid>> {
        let mut errors: Vec<Invalid> = Vec::new();
        let mut change = ProfileChange::default();
        if let Some(raw) = self.username {
            change.username = Username::parse(&raw).map_err(|e| errors.push(e)).ok();
        }
        match self.email {
            Some(Some(raw)) => change.email = Email::parse(&raw).map_err(|e| errors.push(e)).ok().map(Some),
            Some(None) => change.email = Some(None),
            None => {}
        }
        if let Some(raw) = self.name {
            change.name = parse_name(&raw).map_err(|e| errors.push(e)).ok();
        }
        if let Some(value) = self.profile {
            change.profile = parse_profile(&value).map_err(|e| errors.push(e)).ok();
        }
        if errors.is_empty() { Ok(change) } else { Err(errors) }
    }
}

/// Edit the caller's username, e-mail, name or profile.
#[utoipa::path(patch, path = "/api/v1/users/me", tag = "users", request_body = MePatch,
    responses((status = 200, body = MeView), (status = 401, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn patch_me(
    State(state): State<AppState>,
    principal: Principal,
    Json(patch): Json<MePatch>,
) -> ApiResult<Json<MeView>> {
    Ok(Json(MeView::of(&update(&state, &principal, patch).await?, &principal)))
}

/// Applies `patch` to the caller's own account.
pub async fn update(
    state: &AppState,
    principal: &Principal,
    patch: MePatch,
) -> ApiResult<crate::accounts::model::User> {
    principal.require(Permission::ProfileWrite)?;
    let change = patch.validate().map_err(ApiError::from)?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let roles = principal.roles.to_vec();
    let user = store::update_account(&mut tx, &principal.user_id, &change, now, &principal.user_id, roles)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    tx.commit().await?;
    Ok(user)
}

/// Close the caller's account: it is expired and every session and API token ends.
#[utoipa::path(delete, path = "/api/v1/users/me", tag = "users",
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn delete_me(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    principal: Principal,
) -> ApiResult<StatusCode> {
    principal.require(Permission::ProfileWrite)?;
    let user = load(&state, &principal).await?;
    let mut tx = state.db.begin().await?;
    let expired = lifecycle::expire(&mut tx, &user, &user.id, ip, state.clock.now()).await?;
    let invalidate = expired.ok_or_else(ApiError::unauthenticated)?;
    tx.commit().await?;
    state.gate.invalidate(invalidate).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    /// 8 to 128 characters; common, guessable and username-containing passwords are refused.
    #[schema(min_length = 8, max_length = 128)]
    new_password: String,
}

/// Change the caller's password; every other session ends.
#[utoipa::path(post, path = "/api/v1/users/me/password", tag = "users", request_body = PasswordChange,
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn change_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    principal: Principal,
    Json(body): Json<PasswordChange>,
) -> ApiResult<StatusCode> {
    set_password(&state, &principal, ip, &body.current_password, &body.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the caller's password (from a session; the current one must match);
/// every other session ends.
pub async fn set_password(
    state: &AppState,
    principal: &Principal,
    ip: std::net::IpAddr,
    current: &str,
    new: &str,
) -> ApiResult<()> {
    let session_id = principal.session_id()?;
    // A stolen access token must not become a password-guessing oracle: the same
    // IP budget and account lock as login apply.
    state.limiter.hit(ip).await?;
    let user = load(state, principal).await?;
    let min = usize::from(state.config.password_min_length);
    password_policy::check(new, &user.username, min).map_err(|e| Invalid::new("new_password", e.message))?;
    let attempt = login::check_password(state, Some(&user), current).await?;
    let hash = match attempt {
        login::Attempt::Match { .. } => Some(state.hasher.hash(new).await?),
        _ => None,
    };
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    login::settle(state, &mut tx, &attempt).await?;
    let Some(hash) = hash else {
        // The failed attempt counts (and may lock the account): that much is kept.
        tx.commit().await?;
        return Err(ApiError::invalid(
            "current_password",
            "does not match the current password (or too many attempts: try again later)",
        ));
    };
    store::set_password_hash(&mut tx, &user.id, &hash, now, &user.id).await?;
    let invalidate =
        lifecycle::password_changed(&mut tx, &user.id, Some(session_id), &user.id, ip, now).await?;
    tx.commit().await?;
    state.gate.invalidate(invalidate).await;
    Ok(())
}
