//! Making and revoking API tokens: one operation each, shared by the API and the
//! account page (validate, one transaction with its audit row, then invalidate).

use serde_json::json;

use super::store::{self, ApiToken, NewToken};
use crate::app::AppState;
use crate::audit::{Action, Event};
use crate::auth::opaque::API_TOKEN;
use crate::cluster::Invalidation;
use crate::domain::ids::{TokenId, UserId};
use crate::http::error::{ApiError, ApiResult};

/// A token's name: 1 to 100 characters, no control characters; trimmed.
pub fn check_name(raw: &str) -> ApiResult<&str> {
    let name = raw.trim();
    if name.is_empty() || raw.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid("name", "must be 1 to 100 characters without control characters"));
    }
    Ok(name)
}

/// What a new token is, already checked.
pub struct Minting<'a> {
    pub owner: &'a UserId,
    pub actor: &'a UserId,
    pub name: &'a str,
    pub scopes: Option<&'a [String]>,
    pub expires_at: Option<i64>,
}

/// Stores a new token with its audit row; the token and its secret (shown once).
pub async fn mint(state: &AppState, new: Minting<'_>, ip: std::net::IpAddr) -> ApiResult<(ApiToken, String)> {
    let now = state.clock.now();
    let secret = API_TOKEN.generate();
    let hash = API_TOKEN.lookup_hash(&secret);
    let row = NewToken {
        user_id: new.owner,
        name: new.name,
        token_hash: &hash,
        scopes: new.scopes,
        expires_at: new.expires_at,
        created_by: new.actor,
    };
    let mut tx = state.db.begin().await?;
    let token = store::insert(&mut tx, row, now).await?;
    Event::new(Action::TokenCreated)
        .actor(new.actor)
        .target(new.owner)
        .ip(ip)
        .details(json!({ "token_id": token.id, "name": token.name, "scopes": token.scopes }))
        .record(&mut tx, now)
        .await?;
    tx.commit().await?;
    Ok((token, secret))
}

/// Revokes token `id` (of `owner` only, unless `None`), with its audit row; it stops
/// working on the next request, on every node. 404 when there is no such token.
pub async fn revoke(
    state: &AppState,
    actor: &UserId,
    owner: Option<&UserId>,
    id: &TokenId,
    ip: std::net::IpAddr,
) -> ApiResult<()> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let owner_id = store::revoke(&mut tx, id, owner, now).await?.ok_or(ApiError::NotFound)?;
    Event::new(Action::TokenRevoked)
        .actor(actor)
        .target(&owner_id)
        .ip(ip)
        .details(json!({ "token_id": id }))
        .record(&mut tx, now)
        .await?;
    tx.commit().await?;
    state.gate.invalidate(vec![Invalidation::ApiToken(id.to_string())]).await;
    Ok(())
}
