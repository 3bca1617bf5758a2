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
pub async fn authenticate(state: &AppState, login: &str, password: &str) -> ApiResult<User> {
    let user = store::find_by_login(&state.db, login).await?;
    let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
    let verdict = state.hasher.verify(password, stored).await?;
    let Some(user) = user else {
        return Err(ApiError::unauthenticated());
    };
    let now = state.clock.now();
    if user.expired_at.is_some() || throttle::is_locked(user.locked_until, now) {
        return Err(ApiError::unauthenticated());
    }
    match verdict {
        Verdict::Mismatch => {
            record_failure(state, &user).await?;
            Err(ApiError::unauthenticated())
        }
        Verdict::Match | Verdict::MatchNeedsRehash => {
            store::record_success(&state.db, &user.id).await?;
            if verdict == Verdict::MatchNeedsRehash {
                let hash = state.hasher.hash(password).await?;
                store::set_password_hash(&state.db, &user.id, &hash, now, &user.id).await?;
            }
            Ok(user)
        }
    }
}

/// Counts a wrong password against the account, locking it past the threshold.
pub async fn record_failure(state: &AppState, user: &User) -> ApiResult<()> {
    let failures = store::record_failure(&state.db, &user.id).await?;
    if let Some(period) = throttle::lock_period(failures, state.config.login_max_failures) {
        store::lock_until(&state.db, &user.id, state.clock.now() + period).await?;
        tracing::warn!(user_id = %user.id, failures, period, "account locked after failed logins");
    }
    Ok(())
}

/// Opens a session for `user` and returns its first tokens.
pub async fn open_session(
    state: &AppState,
    user: &User,
    user_agent: &str,
    ip: &str,
) -> ApiResult<TokenResponse> {
    let (session, refresh_token) =
        sessions::create(&state.db, &user.id, user_agent, ip, state.clock.now()).await?;
    issue(state, &session, refresh_token, &user.roles)
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
