//! Password login and session issuance, shared by login, registration and refresh.
//!
//! Every failure (unknown user, wrong password, locked or expired account) takes the
//! same time (a real hash is always verified) and gives the same generic 401.

use serde::Serialize;
use utoipa::ToSchema;

use super::password::Verdict;
use super::sessions::{self, Session};
use super::throttle;
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::users::model::User;
use crate::users::store;

/// Tokens for a session.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub session_id: String,
}

/// Checks a login name and password; the user on success.
pub async fn authenticate(state: &AppState, login: &str, password: &str) -> ApiResult<(User, String)> {
    let user = store::find_by_login(&state.db, login).await?;
    let hash = check_password(state, user.as_ref(), password).await?.ok_or_else(ApiError::unauthenticated)?;
    let user = user.ok_or_else(ApiError::unauthenticated)?;
    Ok((user, hash))
}

/// Checks `password` for `user`, returning the (possibly upgraded) stored hash when
/// it matches. The attempt is counted against the account *before* the hash is
/// checked, and reaching the threshold locks the account in the same statement, so
/// concurrent guesses cannot outrun the lock. Unknown, closed, password-less and
/// locked accounts do the same work and get `None`.
pub async fn check_password(
    state: &AppState,
    user: Option<&User>,
    password: &str,
) -> ApiResult<Option<String>> {
    let now = state.clock.now();
    let max = state.config.login_max_failures;
    let candidate = user.filter(|u| u.expired_at.is_none() && u.password_hash.is_some());
    let failures = match candidate {
        Some(user) => store::claim_login_attempt(&state.db, &user.id, now, max).await?,
        None => {
            store::claim_nothing(&state.db).await?;
            None
        }
    };
    let stored = candidate.filter(|_| failures.is_some()).and_then(|u| u.password_hash.as_deref());
    let verdict = state.hasher.verify(password, stored).await?;
    let (Some(user), Some(stored), Some(failures)) = (candidate, stored, failures) else { return Ok(None) };
    match verdict {
        Verdict::Mismatch => {
            if let Some(period) = throttle::lock_period(failures, max) {
                store::lock_until(&state.db, &user.id, now + period).await?;
                tracing::warn!(user_id = %user.id, failures, period, "account locked after failed logins");
            }
            Ok(None)
        }
        Verdict::Match => {
            store::record_success(&state.db, &user.id).await?;
            Ok(Some(stored.to_owned()))
        }
        Verdict::MatchNeedsRehash => {
            store::record_success(&state.db, &user.id).await?;
            let hash = state.hasher.hash(password).await?;
            store::set_password_hash(&state.db, &user.id, &hash, now, &user.id).await?;
            Ok(Some(hash))
        }
    }
}

/// Opens a session for `user` and returns its first tokens. With `verified_hash`,
/// only if the password is still the one just verified (a password change or
/// expiry that lands meanwhile wins).
pub async fn open_session(
    state: &AppState,
    user: &User,
    verified_hash: Option<&str>,
    user_agent: &str,
    ip: &str,
) -> ApiResult<TokenResponse> {
    let now = state.clock.now();
    let opened = sessions::create(&state.db, &user.id, verified_hash, user_agent, ip, now).await?;
    let (session, refresh_token) = opened.ok_or_else(ApiError::unauthenticated)?;
    let roles = store::roles_of(&state.db, &user.id).await?;
    issue(state, &session, refresh_token, &roles)
}

/// The token response for `session` with `refresh_token` and a new access token.
pub fn issue(
    state: &AppState,
    session: &Session,
    refresh_token: String,
    roles: &[String],
) -> ApiResult<TokenResponse> {
    let (access_token, _) = state.tokens.issue(&session.user_id, &session.id, roles)?;
    Ok(TokenResponse {
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in: state.tokens.ttl(),
        session_id: session.id.clone(),
    })
}
