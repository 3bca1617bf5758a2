//! `Principal`: who is calling and what they may do, as an extractor. A handler that
//! takes one is authenticated; its permission checks read like the rule:
//! `principal.require(Permission::UsersWrite)?`.
//!
//! Accepted credentials: our access tokens (`Bearer <jwt>`), API tokens
//! (`Token hp_…` or `Bearer hp_…`), and outside identity tokens from the configured
//! issuer whose identity is linked to a local user.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::external::{ExternalClaims, claimed_issuer};
use super::gate::Grant;
use super::opaque::API_TOKEN;
use super::permissions::{Permission, PermissionSet};
use crate::app::AppState;
use crate::clock::Timestamp;
use crate::domain::ids::UserId;
use crate::http::error::{ApiError, ApiResult};

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An access token of an open session.
    Session { session_id: String },
    /// A long-lived API token.
    ApiToken { token_id: String },
    /// An outside identity token, linked to this user.
    External { issuer: String, subject: String },
}

#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: UserId,
    /// Roles as the database says now (not as any token claims).
    pub roles: Arc<[String]>,
    pub permissions: PermissionSet,
    pub credential: Credential,
    /// When the presented credential stops working, if it does.
    pub expires_at: Option<Timestamp>,
}

impl Principal {
    pub fn can(&self, permission: Permission) -> bool {
        self.permissions.contains(permission)
    }

    /// 403 unless the caller holds `permission`.
    pub fn require(&self, permission: Permission) -> ApiResult<()> {
        if self.can(permission) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("this needs the `{permission}` permission")))
        }
    }

    /// The caller's session; 403 for API and outside tokens, which cannot manage
    /// sessions or passwords.
    pub fn session_id(&self) -> ApiResult<&str> {
        match &self.credential {
            Credential::Session { session_id } => Ok(session_id),
            _ => Err(ApiError::Forbidden("this needs a signed-in session, not a token".into())),
        }
    }

    pub fn is_api_token(&self) -> bool {
        matches!(self.credential, Credential::ApiToken { .. })
    }

    pub(crate) fn from_grant(grant: &Grant, credential: Credential, token_expiry: Option<Timestamp>) -> Self {
        let expires_at = match (grant.expires_at, token_expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Self {
            user_id: grant.user_id.clone(),
            roles: grant.roles.clone(),
            permissions: grant.permissions,
            credential,
            expires_at,
        }
    }
}

enum Presented<'a> {
    ApiToken(&'a str),
    Jwt(&'a str),
}

fn presented(parts: &Parts) -> Option<Presented<'_>> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    let credential = credential.trim();
    if credential.is_empty() {
        return None;
    }
    if scheme.eq_ignore_ascii_case("token") {
        Some(Presented::ApiToken(credential))
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Some(if credential.starts_with(API_TOKEN.prefix) {
            Presented::ApiToken(credential)
        } else {
            Presented::Jwt(credential)
        })
    } else {
        None
    }
}

/// A bearer JWT that claims to come from the configured outside issuer.
fn outside_token<'a>(parts: &'a Parts, state: &AppState) -> Option<&'a str> {
    let external = state.external.as_ref()?;
    match presented(parts)? {
        Presented::Jwt(token)
            if claimed_issuer(token).as_deref() == Some(external.settings.issuer.as_str()) =>
        {
            Some(token)
        }
        _ => None,
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    #[tracing::instrument(name = "authenticate", skip_all)]
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let (Some(token), Some(external)) = (outside_token(parts, state), state.external.as_ref()) {
            let claims = external.verify(token).await?;
            let grant = state.gate.external(&claims.issuer, &claims.subject).await?;
            let grant = grant.ok_or_else(|| {
                ApiError::Unauthorized(
                    "this outside identity is not linked to an account; POST /api/v1/auth/external first"
                        .into(),
                )
            })?;
            let credential = Credential::External { issuer: claims.issuer, subject: claims.subject };
            return Ok(Self::from_grant(&grant, credential, None));
        }
        match presented(parts).ok_or_else(ApiError::unauthenticated)? {
            Presented::ApiToken(secret) => {
                let grant = state.gate.api_token(secret).await?.ok_or_else(ApiError::unauthenticated)?;
                let token_id = grant.api_token.as_ref().map(|t| t.id.clone()).unwrap_or_default();
                Ok(Self::from_grant(&grant, Credential::ApiToken { token_id }, None))
            }
            Presented::Jwt(token) => {
                let claims = state.tokens.verify(token).await.ok_or_else(ApiError::unauthenticated)?;
                let grant = state
                    .gate
                    .session(&claims.sid)
                    .await?
                    .filter(|g| g.user_id.as_str() == claims.sub)
                    .ok_or_else(ApiError::unauthenticated)?;
                let credential = Credential::Session { session_id: claims.sid.clone() };
                Ok(Self::from_grant(&grant, credential, Some(claims.exp)))
            }
        }
    }
}

/// A verified outside identity, linked or not (for `POST /api/v1/auth/external`).
pub struct ExternalIdentity(pub ExternalClaims);

impl FromRequestParts<AppState> for ExternalIdentity {
    type Rejection = ApiError;

    #[tracing::instrument(name = "authenticate_external", skip_all)]
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(external) = state.external.as_ref() else {
            return Err(ApiError::NotFound);
        };
        let token = outside_token(parts, state).ok_or_else(ApiError::unauthenticated)?;
        Ok(Self(external.verify(token).await?))
    }
}
