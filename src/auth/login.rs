//! Password login and session issuance, shared by login, registration and refresh.
//!
//! Every failure (unknown user, wrong password, locked or expired account) takes the
//! same time (a real hash is always verified) and gives the same generic 401.

use std::time::Duration;

use serde::Serialize;
use utoipa::ToSchema;

use super::sessions::{self, Session};
use super::throttle;
use crate::accounts::model::User;
use crate::accounts::password::Verdict;
use crate::accounts::store;
use crate::app::AppState;
use crate::clock::Timestamp;
use crate::domain::ids::UserId;
use crate::http::error::{ApiError, ApiResult};
use crate::store::Tx;

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

/// What a password attempt found; [`settle`] writes its consequences inside the
/// operation's transaction.
pub enum Attempt {
    /// The password is right: `hash` is the stored hash (or, when `rehashed`, its
    /// replacement in today's algorithm).
    Match { user_id: UserId, hash: String, rehashed: bool },
    /// A wrong password for an account.
    Mismatch { user_id: UserId },
    /// Unknown, closed, password-less or locked account.
    Refused,
}

/// Checks `password` for `user`. The check is claimed on the account (in a write of
/// its own, committed *before* the hash is checked) only while the settled failures
/// plus the checks in flight stay under the threshold, so concurrent guesses cannot
/// outrun the lock; a check that finds the account busy waits for the others to
/// settle instead of failing, so many right passwords at once all get in. Unknown,
/// closed, password-less and locked accounts do the same work.
pub async fn check_password(state: &AppState, user: Option<&User>, password: &str) -> ApiResult<Attempt> {
    let now = state.clock.now();
    let max = state.config.login_max_failures;
    let candidate = user.filter(|u| u.expired_at.is_none() && u.password_hash.is_some());
    let claimed = match candidate {
        Some(user) => claim(state, &user.id, now, max).await?,
        None => {
            store::claim_nothing(&state.db).await?;
            false
        }
    };
    let stored = candidate.filter(|_| claimed).and_then(|u| u.password_hash.as_deref());
    let verdict = state.hasher.verify(password, stored).await?;
    let (Some(user), Some(stored)) = (candidate, stored) else {
        return Ok(Attempt::Refused);
    };
    let user_id = user.id.clone();
    Ok(match verdict {
        Verdict::Mismatch => Attempt::Mismatch { user_id },
        Verdict::Match => Attempt::Match { user_id, hash: stored.to_owned(), rehashed: false },
        Verdict::MatchNeedsRehash => {
            Attempt::Match { user_id, hash: state.hasher.hash(password).await?, rehashed: true }
        }
    })
}

/// How long a check waits for the account's other checks to settle before giving up
/// (each takes one password hash, tens of milliseconds).
const CLAIM_PATIENCE: Duration = Duration::from_secs(5);

/// Claims a check of `user_id`, waiting while other checks of it are in flight; false
/// when the account is locked (or stays busy past [`CLAIM_PATIENCE`]).
async fn claim(state: &AppState, user_id: &UserId, now: Timestamp, max: u32) -> ApiResult<bool> {
    let deadline = tokio::time::Instant::now() + CLAIM_PATIENCE;
    let mut pause = Duration::from_millis(5);
    loop {
        if store::claim_login_attempt(&state.db, user_id, now, max).await? {
            return Ok(true);
        }
        if store::is_locked(&state.db, user_id, now).await? || tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Writes what `attempt` means for the account inside `tx`: a success clears the
/// failures (and stores an upgraded hash), a failure locks at the threshold. The
/// verified hash on success.
pub async fn settle(state: &AppState, tx: &mut Tx, attempt: &Attempt) -> ApiResult<Option<String>> {
    let now = state.clock.now();
    match attempt {
        Attempt::Match { user_id, hash, rehashed } => {
            store::record_success(tx, user_id).await?;
            if *rehashed {
                store::set_password_hash(tx, user_id, hash, now, user_id).await?;
            }
            Ok(Some(hash.clone()))
        }
        Attempt::Mismatch { user_id } => {
            let failures = store::record_failure(tx, user_id).await?;
            if let Some(period) = throttle::lock_period(failures, state.config.login_max_failures) {
                store::lock_until(tx, user_id, now + period).await?;
                tracing::warn!(user_id = %user_id, failures, period, "account locked after failed logins");
            }
            Ok(None)
        }
        Attempt::Refused => Ok(None),
    }
}

/// Opens a session for `user` inside `tx`. With `verified_hash`, only if the password
/// is still the one just verified (a password change or expiry that lands meanwhile
/// wins). The session and its first refresh token.
pub async fn open_session(
    tx: &mut Tx,
    user_id: &UserId,
    verified_hash: Option<&str>,
    user_agent: &str,
    ip: &str,
    now: Timestamp,
) -> ApiResult<(Session, String)> {
    let opened = sessions::create(tx, user_id, verified_hash, user_agent, ip, now).await?;
    opened.ok_or_else(ApiError::unauthenticated)
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
