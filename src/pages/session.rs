//! Who is looking at a page: the session cookie (an opaque secret whose hash names a
//! row of the API's own session table, so logout, "sign out everywhere", password
//! changes, expiry and revocation end it exactly as they end access tokens).

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use cookie::{Cookie, SameSite};

use super::errors::page_error;
use crate::app::AppState;
use crate::auth::permissions::Permission;
use crate::auth::principal::{Credential, Principal};
use crate::auth::sessions::{self, ABSOLUTE_LIFETIME};
use crate::http::error::ApiError;

/// A signed-in visitor.
pub struct SignedIn {
    pub principal: Principal,
    pub session_id: String,
    /// Who the pages say is signed in.
    pub viewer: Viewer,
    /// The `csrf_token` of this session's forms.
    pub csrf: String,
}

/// The signed-in person as every page's header shows them: their name, and which
/// parts of the site are theirs to open.
pub struct Viewer {
    pub name: String,
    /// Users to manage (`users:read`): the admin page is in the menu.
    pub manages: bool,
}

impl std::fmt::Display for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// The visitor of a page, signed in or not.
pub struct Visitor(pub Option<SignedIn>);

/// Whether the server is reached over TLS (its public URL says so): cookies are then
/// `Secure` and `__Host-` prefixed.
fn secure(state: &AppState) -> bool {
    state.config.issuer().starts_with("https://")
}

/// The session cookie's name.
pub fn session_cookie(state: &AppState) -> &'static str {
    if secure(state) { "__Host-hallpass" } else { "hallpass" }
}

/// The cookie holding the sign-in form's nonce.
pub fn nonce_cookie(state: &AppState) -> &'static str {
    if secure(state) { "__Host-hallpass-nonce" } else { "hallpass-nonce" }
}

/// The value of cookie `name` in a request.
pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// Adds `Set-Cookie` for `name` = `value` (`None` removes it), with the flags every
/// cookie of ours has: `HttpOnly`, `SameSite=Lax`, `Path=/`, `Secure` over TLS.
pub fn set_cookie(response: &mut Response, state: &AppState, name: &'static str, value: Option<&str>) {
    let mut cookie = Cookie::build((name, value.unwrap_or_default().to_owned()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(secure(state));
    cookie = match value {
        Some(_) => cookie.max_age(cookie::time::Duration::seconds(ABSOLUTE_LIFETIME)),
        None => cookie.max_age(cookie::time::Duration::ZERO),
    };
    if let Ok(header) = HeaderValue::from_str(&cookie.build().to_string()) {
        response.headers_mut().append(SET_COOKIE, header);
    }
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let fail = |err: ApiError| page_error(&err, None);
        let Some(secret) = read_cookie(&parts.headers, session_cookie(state)) else {
            return Ok(Self(None));
        };
        let now = state.clock.now();
        let found =
            sessions::find_by_web_secret(&state.db, &secret, now).await.map_err(|e| fail(e.into()))?;
        let Some((session_id, last_used_at)) = found else {
            return Ok(Self(None));
        };
        let Some(grant) = state.gate.session(&session_id).await.map_err(fail)? else {
            return Ok(Self(None));
        };
        let user = crate::accounts::store::find_active_with_roles(&state.db, &grant.user_id, &grant.roles)
            .await
            .map_err(|e| fail(e.into()))?;
        let Some(user) = user else {
            return Ok(Self(None));
        };
        // Kept alive at most once a minute, and best effort: a busy database does not
        // fail the page.
        if now - last_used_at >= 60
            && let Err(err) = sessions::touch(&state.db, &session_id, now).await
        {
            tracing::warn!(error = %err, "marking a web session used failed");
        }
        let credential = Credential::Session { session_id: session_id.clone() };
        let principal = Principal::from_grant(&grant, credential, None);
        let viewer = Viewer { name: user.username, manages: principal.can(Permission::UsersRead) };
        Ok(Self(Some(SignedIn { principal, csrf: state.csrf.for_session(&session_id), session_id, viewer })))
    }
}

/// A visitor who must be signed in: anyone else is sent to `/login`.
pub struct SignedInOnly(pub SignedIn);

impl FromRequestParts<AppState> for SignedInOnly {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match Visitor::from_request_parts(parts, state).await? {
            Visitor(Some(visitor)) => Ok(Self(visitor)),
            Visitor(None) => Err(axum::response::Redirect::to("/login").into_response()),
        }
    }
}
