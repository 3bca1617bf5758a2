//! `/login` and `POST /logout`: the API's login rules (IP throttle, lockout, one
//! generic failure) with a cookie instead of tokens.

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::USER_AGENT;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::csrf::{matches, same_origin};
use super::errors::page_error;
use super::render;
use super::session::Viewer;
use super::session::{SignedIn, Visitor, nonce_cookie, read_cookie, session_cookie, set_cookie};
use crate::app::AppState;
use crate::audit::{Action, Event};
use crate::auth::{login as password_login, sessions};
use crate::cluster::Invalidation;
use crate::http::client_ip::ClientIp;
use crate::http::error::{ApiError, ApiResult, FieldError};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    viewer: Option<&'a Viewer>,
    csrf: &'a str,
    /// The name typed, shown again after a failure.
    login: &'a str,
    error: Option<&'a str>,
    registration_open: bool,
}

/// The nonce of a signed-out visitor's forms (its cookie: kept when it has one, so
/// forms open in several tabs all work) and the forms' token.
pub fn fresh_nonce(state: &AppState, headers: &HeaderMap) -> (String, String) {
    let nonce = read_cookie(headers, nonce_cookie(state))
        .filter(|n| crate::auth::opaque::WEB_SESSION.looks_valid(n))
        .unwrap_or_else(|| crate::auth::opaque::WEB_SESSION.generate());
    let csrf = state.csrf.for_nonce(&nonce);
    (nonce, csrf)
}

/// Checks a signed-out visitor's form POST: same origin, and the token made for the
/// nonce in its cookie.
pub fn genuine_form(state: &AppState, headers: &HeaderMap, token: &str) -> ApiResult<()> {
    let nonce = read_cookie(headers, nonce_cookie(state)).unwrap_or_default();
    let genuine = !nonce.is_empty() && matches(&state.csrf.for_nonce(&nonce), token);
    if genuine && same_origin(headers, &state.config.issuer()) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("cross-site request".into()))
    }
}

/// A fresh sign-in form, with its nonce cookie.
fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    login: &str,
    error: Option<&str>,
) -> Response {
    let (nonce, csrf) = fresh_nonce(state, headers);
    let mut response = render(
        status,
        &LoginPage {
            viewer: None,
            csrf: &csrf,
            login,
            error,
            registration_open: state.config.registration_open,
        },
    );
    set_cookie(&mut response, state, nonce_cookie(state), Some(&nonce));
    response
}

pub async fn login_form(
    State(state): State<AppState>,
    Visitor(visitor): Visitor,
    headers: HeaderMap,
) -> Response {
    if visitor.is_some() {
        return Redirect::to("/dashboard").into_response();
    }
    login_page(&state, &headers, StatusCode::OK, "", None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf_token: String,
}

/// A form body (anything else is a 400).
pub fn form<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_urlencoded::from_bytes(body).map_err(|_| ApiError::bad_request("malformed_form", "malformed form"))
}

/// A form's fields in order, for forms that repeat a name (checkboxes, pairs).
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn read(body: &[u8]) -> ApiResult<Self> {
        form(body).map(Self)
    }

    /// The first value named `name` (empty when there is none).
    pub fn first(&self, name: &str) -> String {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
    }

    /// Every value named `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }
}

pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Visitor(visitor): Visitor,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: LoginForm = match form(&body) {
        Ok(form) => form,
        Err(err) => return page_error(&err, None),
    };
    if let Err(err) = genuine_form(&state, &headers, &form.csrf_token) {
        return page_error(&err, None);
    }
    let user_agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    // Signing in again in a browser that is signed in replaces its session.
    let replaced = visitor.as_ref().map(|v| v.session_id.as_str());
    match sign_in(&state, ip, &form, user_agent, replaced).await {
        Ok(Some(secret)) => welcome(&state, &secret),
        Ok(None) => {
            let login: String = form.username.chars().take(256).collect();
            login_page(
                &state,
                &headers,
                StatusCode::UNAUTHORIZED,
                &login,
                Some("Wrong username or password."),
            )
        }
        Err(err) => page_error(&err, None),
    }
}

/// The API's login, to the letter, ending in a web session: its cookie secret, or
/// `None` for the one generic failure.
async fn sign_in(
    state: &AppState,
    ip: std::net::IpAddr,
    form: &LoginForm,
    user_agent: &str,
    replaced: Option<&str>,
) -> ApiResult<Option<String>> {
    state.limiter.hit(ip).await?;
    let user = crate::accounts::store::find_by_login(&state.db, &form.username).await?;
    let attempt = password_login::check_password(state, user.as_ref(), &form.password).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let verified = password_login::settle(state, &mut tx, &attempt).await?;
    let (Some(user), Some(hash)) = (user, verified) else {
        let tried: String = form.username.chars().take(64).collect();
        Event::new(Action::LoginFailed)
            .ip(ip)
            .details(json!({ "username": tried, "via": "web" }))
            .record(&mut tx, now)
            .await?;
        tx.commit().await?;
        return Ok(None);
    };
    let (session_id, secret) =
        open_web_session(state, &mut tx, &user.id, Some(&hash), user_agent, ip).await?;
    if let Some(old) = replaced {
        sessions::revoke(&mut tx, old, now).await?;
    }
    Event::new(Action::LoginSucceeded)
        .actor(&user.id)
        .target(&user.id)
        .ip(ip)
        .details(json!({ "session_id": session_id, "via": "web" }))
        .record(&mut tx, now)
        .await?;
    tx.commit().await?;
    if let Some(old) = replaced {
        state.gate.invalidate(vec![Invalidation::Session(old.to_owned())]).await;
    }
    Ok(Some(secret))
}

/// Opens a session for `user_id` inside `tx` (see `login::open_session`) and gives it
/// a cookie secret: the session's id and the secret.
pub async fn open_web_session(
    state: &AppState,
    tx: &mut crate::store::Tx,
    user_id: &crate::domain::ids::UserId,
    verified_hash: Option<&str>,
    user_agent: &str,
    ip: std::net::IpAddr,
) -> ApiResult<(String, String)> {
    let now = state.clock.now();
    let (session, _) =
        password_login::open_session(tx, user_id, verified_hash, user_agent, &ip.to_string(), now).await?;
    let secret = sessions::attach_web_secret(tx, &session.id).await?;
    Ok((session.id, secret))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

/// Where a fresh sign-in (login, sign-up, setup) lands: the dashboard, with the
/// session cookie set and the sign-in nonce cleared.
pub fn welcome(state: &AppState, secret: &str) -> Response {
    let mut response = Redirect::to("/dashboard").into_response();
    set_cookie(&mut response, state, session_cookie(state), Some(secret));
    set_cookie(&mut response, state, nonce_cookie(state), None);
    response
}

/// What an account form shows for a refused account: the fields (422), or the taken
/// username or e-mail beside its field (409); any other error is not the form's.
pub fn field_errors(err: ApiError) -> Result<(StatusCode, Vec<FieldError>), ApiError> {
    match err {
        ApiError::Validation(errors) => Ok((StatusCode::UNPROCESSABLE_ENTITY, errors)),
        ApiError::Conflict { detail, .. } => {
            let field = if detail.contains("e-mail") { "email" } else { "username" };
            Ok((StatusCode::CONFLICT, vec![FieldError::new(field, detail)]))
        }
        other => Err(other),
    }
}

/// A signed-in visitor's form: checked (same origin, the session's token), then read
/// as `T`.
pub fn checked_form<T: serde::de::DeserializeOwned>(
    state: &AppState,
    visitor: &SignedIn,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<T> {
    let token: CsrfForm = form(body)?;
    check_post(state, visitor, headers, &token.csrf_token)?;
    form(body)
}

/// Checks a signed-in visitor's form POST: same origin and the session's token.
pub fn check_post(state: &AppState, visitor: &SignedIn, headers: &HeaderMap, token: &str) -> ApiResult<()> {
    if same_origin(headers, &state.config.issuer()) && matches(&visitor.csrf, token) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("cross-site request".into()))
    }
}

/// Ends this browser's session (as `POST /api/v1/auth/logout` does).
pub async fn logout(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Visitor(visitor): Visitor,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(visitor) = visitor else {
        return Redirect::to("/").into_response();
    };
    let ended = async {
        let _: CsrfForm = checked_form(&state, &visitor, &headers, &body)?;
        sign_out(&state, &visitor, ip, false).await
    };
    match ended.await {
        Ok(()) => signed_out(&state),
        Err(err) => page_error(&err, Some(&visitor)),
    }
}

/// Ends this browser's session, or (`everywhere`) every session of the account, with
/// the audit row the API's logout writes; caches everywhere forget them.
pub async fn sign_out(
    state: &AppState,
    visitor: &SignedIn,
    ip: std::net::IpAddr,
    everywhere: bool,
) -> ApiResult<()> {
    let now = state.clock.now();
    let user = &visitor.principal.user_id;
    let mut tx = state.db.begin().await?;
    let revoked = if everywhere {
        sessions::revoke_all_of(&mut tx, user, None, now).await?
    } else {
        sessions::revoke(&mut tx, &visitor.session_id, now).await?;
        vec![visitor.session_id.clone()]
    };
    let scope = if everywhere { "all" } else { "current" };
    let details = json!({ "scope": scope, "sessions": revoked, "via": "web" });
    Event::new(Action::Logout).actor(user).target(user).ip(ip).details(details).record(&mut tx, now).await?;
    tx.commit().await?;
    state.gate.invalidate(revoked.into_iter().map(Invalidation::Session).collect()).await;
    Ok(())
}

/// Back to the front page, without the session cookie.
pub fn signed_out(state: &AppState) -> Response {
    let mut response = Redirect::to("/").into_response();
    set_cookie(&mut response, state, session_cookie(state), None);
    response
}
