//! Account changes with consequences beyond the row: expiry and password changes end
//! sessions and tokens everywhere, and are audited.

use std::net::IpAddr;

use serde_json::json;

use super::model::User;
use super::store;
use crate::app::AppState;
use crate::audit::{Action, Event};
use crate::auth::sessions;
use crate::cluster::Invalidation;
use crate::domain::Invalid;
use crate::domain::password_policy;
use crate::http::error::{ApiError, ApiResult};

/// Refuses to leave the deployment without an active administrator (409).
pub async fn keep_an_admin(state: &AppState, user: &User) -> ApiResult<()> {
    if user.roles.iter().any(|r| r == "admin") && store::other_admins(&state.db, &user.id).await? == 0 {
        return Err(ApiError::conflict(
            "last_admin",
            "this is the last administrator; appoint another first",
        ));
    }
    Ok(())
}

/// Expires `user_id`: its sessions and API tokens die at once. False when the user
/// was already expired or does not exist.
pub async fn expire(state: &AppState, user_id: &str, actor_id: &str, ip: IpAddr) -> ApiResult<bool> {
    let now = state.clock.now();
    if !store::expire(&state.db, user_id, now, actor_id).await? {
        return Ok(false);
    }
    let ended = sessions::revoke_all_of(&state.db, user_id, None, now).await?;
    let revoked = crate::tokens::store::revoke_all_of(&state.db, user_id, now).await?;
    state.gate.invalidate(vec![Invalidation::User(user_id.to_owned())]).await;
    Event::new(Action::UserExpired)
        .actor(actor_id)
        .target(user_id)
        .ip(ip)
        .details(json!({ "sessions": ended.len(), "tokens": revoked.len() }))
        .record(&state.db, now)
        .await?;
    Ok(true)
}

/// Sets a new password (checked against the policy; errors name `field`) and ends
/// the user's sessions except `keep`.
pub async fn set_password(
    state: &AppState,
    user: &User,
    new_password: &str,
    field: &str,
    keep: Option<&str>,
    actor_id: &str,
    ip: IpAddr,
) -> ApiResult<()> {
    let min = usize::from(state.config.password_min_length);
    password_policy::check(new_password, &user.username, min).map_err(|e| Invalid::new(field, e.message))?;
    let hash = state.hasher.hash(new_password).await?;
    let now = state.clock.now();
    store::set_password_hash(&state.db, &user.id, &hash, now, actor_id).await?;
    let ended = sessions::revoke_all_of(&state.db, &user.id, keep, now).await?;
    let count = ended.len();
    state.gate.invalidate(ended.into_iter().map(Invalidation::Session).collect()).await;
    Event::new(Action::PasswordChanged)
        .actor(actor_id)
        .target(&user.id)
        .ip(ip)
        .details(json!({ "sessions_ended": count }))
        .record(&state.db, now)
        .await?;
    Ok(())
}
