//! `/api/v1/users/me`: the caller's own account.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::UserView;
use super::store::{self, ProfileChange};
use crate::app::AppState;
use crate::auth::login;
use crate::auth::password::Verdict;
use crate::auth::principal::Principal;
use crate::auth::sessions;
use crate::cluster::Invalidation;
use crate::domain::account::{Email, Username, parse_name, parse_profile};
use crate::domain::password_policy;
use crate::http::error::{ApiError, ApiResult, FieldError, Problem};
use crate::http::extract::Json;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_me, patch_me, delete_me))
        .routes(routes!(change_password))
}

async fn load(state: &AppState, principal: &Principal) -> ApiResult<super::model::User> {
    store::find_active_with_roles(&state.db, &principal.user_id, &principal.roles)
        .await?
        .ok_or_else(ApiError::unauthenticated)
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users",
    responses((status = 200, body = UserView), (status = 401, body = Problem)),
    security(("bearer" = [])))]
async fn get_me(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<axum::Json<UserView>> {
    Ok(axum::Json(UserView::from(&load(&state, &principal).await?)))
}

/// Distinguishes a field sent as `null` (Some(None)) from one left out (None).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Editable fields; anything else (`roles`, `id`, `attributes`, timestamps) is refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MePatch {
    username: Option<String>,
    /// `null` removes the address.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    email: Option<Option<String>>,
    name: Option<String>,
    #[schema(value_type = Option<Object>)]
    profile: Option<serde_json::Value>,
}

impl MePatch {
    fn validate(self) -> ApiResult<ProfileChange> {
        let mut errors: Vec<FieldError> = Vec::new();
        let mut change = ProfileChange::default();
        if let Some(raw) = self.username {
            change.username = Username::parse(&raw).map_err(|e| errors.push(e)).ok();
        }
        match self.email {
            Some(Some(raw)) => {
                change.email = Email::parse(&raw)
                    .map_err(|e| errors.push(e))
                    .ok()
                    .map(Some)
            }
            Some(None) => change.email = Some(None),
            None => {}
        }
        if let Some(raw) = self.name {
            change.name = parse_name(&raw).map_err(|e| errors.push(e)).ok();
        }
        if let Some(value) = self.profile {
            change.profile = parse_profile(&value).map_err(|e| errors.push(e)).ok();
        }
        if errors.is_empty() {
            Ok(change)
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

/// Edit the caller's username, e-mail, name or profile.
#[utoipa::path(patch, path = "/api/v1/users/me", tag = "users", request_body = MePatch,
    responses((status = 200, body = UserView), (status = 401, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn patch_me(
    State(state): State<AppState>,
    principal: Principal,
    Json(patch): Json<MePatch>,
) -> ApiResult<axum::Json<UserView>> {
    let change = patch.validate()?;
    load(&state, &principal).await?;
    store::update_profile(
        &state.db,
        &principal.user_id,
        &change,
        state.clock.now(),
        &principal.user_id,
    )
    .await?;
    Ok(axum::Json(UserView::from(&load(&state, &principal).await?)))
}

/// Close the caller's account: it is expired and every session ends.
#[utoipa::path(delete, path = "/api/v1/users/me", tag = "users",
    responses((status = 204), (status = 401, body = Problem)),
    security(("bearer" = [])))]
async fn delete_me(State(state): State<AppState>, principal: Principal) -> ApiResult<StatusCode> {
    let now = state.clock.now();
    if !store::expire(&state.db, &principal.user_id, now, &principal.user_id).await? {
        return Err(ApiError::unauthenticated());
    }
    sessions::revoke_all_of(&state.db, &principal.user_id, None, now).await?;
    state
        .gate
        .invalidate(vec![Invalidation::User(principal.user_id)])
        .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// Change the caller's password; every other session ends.
#[utoipa::path(post, path = "/api/v1/users/me/password", tag = "users", request_body = PasswordChange,
    responses((status = 204), (status = 401, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn change_password(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<PasswordChange>,
) -> ApiResult<StatusCode> {
    let user = load(&state, &principal).await?;
    let verdict = state
        .hasher
        .verify(&body.current_password, user.password_hash.as_deref())
        .await?;
    if verdict == Verdict::Mismatch {
        // A stolen access token must not become a password-guessing oracle.
        login::record_failure(&state, &user).await?;
        return Err(ApiError::invalid(
            "current_password",
            "does not match the current password",
        ));
    }
    let min = usize::from(state.config.password_min_length);
    password_policy::check(&body.new_password, &user.username, min)
        .map_err(|e| ApiError::Validation(vec![FieldError::new("new_password", e.message)]))?;
    let hash = state.hasher.hash(&body.new_password).await?;
    let now = state.clock.now();
    store::set_password_hash(&state.db, &user.id, &hash, now, &user.id).await?;
    let ended =
        sessions::revoke_all_of(&state.db, &user.id, Some(&principal.session_id), now).await?;
    state
        .gate
        .invalidate(ended.into_iter().map(Invalidation::Session).collect())
        .await;
    Ok(StatusCode::NO_CONTENT)
}
