//! `Principal`: who is calling, as an extractor. A handler that takes one is
//! authenticated; one that does not is public.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::app::AppState;
use crate::clock::Timestamp;
use crate::http::error::ApiError;

/// An authenticated caller: a user acting through an open session.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    pub session_id: String,
    /// Roles as the database says now (not as the token claims).
    pub roles: Arc<[String]>,
    /// When the presented access token expires.
    pub token_expires_at: Timestamp,
}

/// The credential of an `Authorization: Bearer …` header (scheme case-insensitive).
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    #[tracing::instrument(name = "authenticate", skip_all)]
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).ok_or_else(ApiError::unauthenticated)?;
        let claims = state
            .tokens
            .verify(token)
            .await
            .ok_or_else(ApiError::unauthenticated)?;
        let grant = state
            .gate
            .check(&claims.sid)
            .await?
            .filter(|g| g.user_id == claims.sub)
            .ok_or_else(ApiError::unauthenticated)?;
        Ok(Self {
            user_id: grant.user_id.clone(),
            session_id: claims.sid.clone(),
            roles: grant.roles.clone(),
            token_expires_at: claims.exp,
        })
    }
}
