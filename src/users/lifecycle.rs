//! Account changes with consequences beyond the row: expiry and password changes end
//! sessions and tokens everywhere, and are audited. Each runs inside the caller's
//! transaction; the caller invalidates caches once it has committed.

use std::net::IpAddr;

use serde_json::json;

use crate::accounts::model::User;
use crate::accounts::store;
use crate::audit::{Action, Event};
use crate::auth::sessions;
use crate::clock::Timestamp;
use crate::cluster::Invalidation;
use crate::domain::ids::UserId;
use crate::http::error::{ApiError, ApiResult};
use crate::store::{Tx, take_lock};

/// Refuses to leave the deployment without an active administrator (409). Takes the
/// `admins` lock, so the answer holds until `tx` commits: of two administrators
/// demoting each other at the same moment, the second is refused.
pub async fn keep_an_admin(tx: &mut Tx, user: &User) -> ApiResult<()> {
    if !user.roles.iter().any(|r| r == "admin") {
        return Ok(());
    }
    take_lock(tx, "admins").await?;
    if store::other_admins(tx, &user.id).await? == 0 {
        return Err(ApiError::conflict(
            "last_admin",
            "this is the last administrator; appoint another first",
        ));
    }
    Ok(())
}

/// Expires `user` (keeping an administrator): its sessions and API tokens die. `None`
/// when the user was already expired; else what to invalidate once committed.
pub async fn expire(
    tx: &mut Tx,
    user: &User,
    actor_id: &UserId,
    ip: IpAddr,
    now: Timestamp,
) -> ApiResult<Option<Vec<Invalidation>>> {
    keep_an_admin(tx, user).await?;
    if !store::expire(tx, &user.id, now, actor_id).await? {
        return Ok(None);
    }
    let ended = sessions::revoke_all_of(tx, &user.id, None, now).await?;
    let revoked = crate::tokens::store::revoke_all_of(tx, &user.id, now).await?;
    Event::new(Action::UserExpired)
        .actor(actor_id)
        .target(&user.id)
        .ip(ip)
        .details(json!({ "sessions": ended.len(), "tokens": revoked.len() }))
        .record(tx, now)
        .await?;
    Ok(Some(vec![Invalidation::User(user.id.to_string())]))
}

/// After a password change (the new hash already written in `tx`): ends the user's
/// sessions except `keep` and records the change. Returns the sessions to invalidate.
pub async fn password_changed(
    tx: &mut Tx,
    user_id: &UserId,
    keep: Option<&str>,
    actor_id: &UserId,
    ip: IpAddr,
    now: Timestamp,
) -> ApiResult<Vec<Invalidation>> {
    let ended = sessions::revoke_all_of(tx, user_id, keep, now).await?;
    Event::new(Action::PasswordChanged)
        .actor(actor_id)
        .target(user_id)
        .ip(ip)
        .details(json!({ "sessions_ended": ended.len() }))
        .record(tx, now)
        .await?;
    Ok(ended.into_iter().map(Invalidation::Session).collect())
}
