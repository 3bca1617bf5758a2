//! `/api/v1/auth/*`: register, login, refresh, logout, verify, sessions.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::login::{self, TokenResponse};
use super::principal::{ExternalIdentity, Principal};
use super::sessions::{self, Refresh, Session};
use crate::accounts::create::{self as accounts, AccountInput, Creation, Link};
use crate::accounts::model::UserView;
use crate::app::AppState;
use crate::audit::{Action, Event};
use crate::clock::rfc3339;
use crate::cluster::Invalidation;
use crate::domain::ids::SessionId;
use crate::http::client_ip::ClientIp;
use crate::http::error::{ApiError, ApiResult, Problem};
use crate::http::extract::{Json, JsonOrForm, OptionalJson, Path, Query};
use crate::http::listing::ListQuery;
use crate::http::paging::Page;

fn user_agent(headers: &HeaderMap) -> &str {
    headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    username: String,
    /// 8 to 128 characters; common, guessable and username-containing passwords are refused.
    #[schema(min_length = 8, max_length = 128)]
    password: String,
    #[schema(format = Email, max_length = 254)]
    email: Option<String>,
    name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RegisterResponse {
    user: UserView,
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: i64,
    session_id: String,
}

/// Create an account (role `user`) and sign in.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth",
    request_body(content = RegisterRequest, content_type = "application/json"),
    responses((status = 201, body = RegisterResponse), (status = 409, body = Problem),
              (status = 422, body = Problem), (status = 429, body = Problem)))]
pub(crate) async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    JsonOrForm(body): JsonOrForm<RegisterRequest>,
) -> ApiResult<impl IntoResponse> {
    state.limiter.hit(ip).await?;
    if !state.config.registration_open {
        return Err(ApiError::Forbidden("self-service registration is closed".into()));
    }
    let input = AccountInput {
        username: &body.username,
        password: Some(&body.password),
        email: body.email.as_deref(),
        name: body.name.as_deref(),
    };
    let min = usize::from(state.config.password_min_length);
    let creation = Creation { roles: &["user"], created_by: None, link: None };
    let account = accounts::validate(&state.hasher, min, &input).await?;
    let now = state.clock.now();
    // The account, its first session and the audit row: one transaction.
    let mut tx = state.db.begin().await?;
    let user = accounts::create(&mut tx, account, creation, now).await?;
    Event::new(Action::UserCreated).actor(&user.id).target(&user.id).ip(ip).record(&mut tx, now).await?;
    let (session, refresh_token) =
        login::open_session(&mut tx, &user.id, None, user_agent(&headers), &ip.to_string(), now).await?;
    tx.commit().await?;
    let tokens = login::issue(&state, &session, refresh_token, &user.roles)?;
    let body = RegisterResponse {
        user: UserView::from(&user),
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        token_type: tokens.token_type,
        expires_in: tokens.expires_in,
        session_id: tokens.session_id,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Username or e-mail address, any case.
    username: String,
    password: String,
}

/// Sign in with a password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body(content = LoginRequest, content_type = "application/json"),
    responses((status = 200, body = TokenResponse), (status = 401, body = Problem), (status = 429, body = Problem)))]
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    JsonOrForm(body): JsonOrForm<LoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
    state.limiter.hit(ip).await?;
    let user = crate::accounts::store::find_by_login(&state.db, &body.username).await?;
    let attempt = login::check_password(&state, user.as_ref(), &body.password).await?;
    let now = state.clock.now();
    // What the attempt means for the account, the session and the audit row: one
    // transaction (the attempt itself was counted before the hash was checked).
    let mut tx = state.db.begin().await?;
    let verified = login::settle(&state, &mut tx, &attempt).await?;
    let (Some(user), Some(hash)) = (user, verified) else {
        let tried: String = body.username.chars().take(64).collect();
        Event::new(Action::LoginFailed)
            .ip(ip)
            .details(json!({ "username": tried }))
            .record(&mut tx, now)
            .await?;
        tx.commit().await?;
        return Err(ApiError::unauthenticated());
    };
    let (session, refresh_token) =
        login::open_session(&mut tx, &user.id, Some(&hash), user_agent(&headers), &ip.to_string(), now)
            .await?;
    let roles = crate::accounts::store::roles_in(&mut tx, &user.id).await?;
    Event::new(Action::LoginSucceeded)
        .actor(&user.id)
        .target(&user.id)
        .ip(ip)
        .details(json!({ "session_id": session.id }))
        .record(&mut tx, now)
        .await?;
    tx.commit().await?;
    Ok(Json(login::issue(&state, &session, refresh_token, &roles)?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

/// Trade a refresh token for a new pair (the old refresh token is rotated out).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body(content = RefreshRequest, content_type = "application/json"),
    responses((status = 200, body = TokenResponse), (status = 401, body = Problem), (status = 429, body = Problem)))]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    JsonOrForm(body): JsonOrForm<RefreshRequest>,
) -> ApiResult<Json<TokenResponse>> {
    state.limiter.hit(ip).await?;
    let now = state.clock.now();
    let grace = state.config.refresh_grace as i64;
    match sessions::refresh(&state.db, &body.refresh_token, grace, now).await? {
        Refresh::Rotated { session, token } => {
            let grant = state.gate.session(&session.id).await?.ok_or_else(ApiError::unauthenticated)?;
            Ok(Json(login::issue(&state, &session, token, &grant.roles)?))
        }
        Refresh::Reused { session } => {
            tracing::warn!(session_id = %session.id, user_id = %session.user_id, "refresh token reuse: session revoked");
            let mut tx = state.db.begin().await?;
            sessions::revoke(&mut tx, &session.id, now).await?;
            Event::new(Action::RefreshReused)
                .target(&session.user_id)
                .ip(ip)
                .details(json!({ "session_id": session.id }))
                .record(&mut tx, now)
                .await?;
            tx.commit().await?;
            state.gate.invalidate(vec![Invalidation::Session(session.id.clone())]).await;
            Err(ApiError::unauthenticated())
        }
        Refresh::Invalid => Err(ApiError::unauthenticated()),
    }
}

#[derive(Deserialize, ToSchema, Default, Clone, Copy, Debug, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogoutScope {
    /// This session only.
    #[default]
    Current,
    /// Every session of the user but this one.
    Others,
    /// Every session of the user.
    All,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    #[serde(default)]
    scope: LogoutScope,
}

/// End this session, the others, or all of them; their access tokens stop working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    request_body(content = Option<LogoutRequest>, content_type = "application/json"),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn logout(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    principal: Principal,
    OptionalJson(body): OptionalJson<LogoutRequest>,
) -> ApiResult<StatusCode> {
    let sid = principal.session_id()?;
    let now = state.clock.now();
    let user = &principal.user_id;
    let mut tx = state.db.begin().await?;
    let revoked = match body.scope {
        LogoutScope::Current => {
            sessions::revoke(&mut tx, sid, now).await?;
            vec![sid.to_owned()]
        }
        LogoutScope::Others => sessions::revoke_all_of(&mut tx, user, Some(sid), now).await?,
        LogoutScope::All => sessions::revoke_all_of(&mut tx, user, None, now).await?,
    };
    let details = json!({ "scope": body.scope, "sessions": revoked });
    Event::new(Action::Logout).actor(user).target(user).ip(ip).details(details).record(&mut tx, now).await?;
    tx.commit().await?;
    state.gate.invalidate(revoked.into_iter().map(Invalidation::Session).collect()).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct VerifyResponse {
    valid: bool,
    user_id: String,
    /// The session of an access token; null for API and outside tokens.
    session_id: Option<String>,
    /// When the presented credential stops working (RFC 3339); null if it does not.
    expires_at: Option<String>,
}

/// Check a credential: signature, expiry, and that its session or token is still live.
#[utoipa::path(get, path = "/api/v1/auth/verify", tag = "auth",
    responses((status = 200, body = VerifyResponse), (status = 401, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn verify(principal: Principal) -> Json<VerifyResponse> {
    Json(VerifyResponse {
        valid: true,
        session_id: principal.session_id().ok().map(str::to_owned),
        user_id: principal.user_id.to_string(),
        expires_at: principal.expires_at.map(rfc3339),
    })
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    id: String,
    created_at: String,
    last_used_at: String,
    expires_at: String,
    user_agent: String,
    ip: String,
    /// True for the session of the token making this request.
    current: bool,
}

impl SessionView {
    fn new(session: &Session, current_id: &str) -> Self {
        Self {
            id: session.id.clone(),
            created_at: rfc3339(session.created_at),
            last_used_at: rfc3339(session.last_used_at),
            expires_at: rfc3339(session.expires_at),
            user_agent: session.user_agent.clone(),
            ip: session.ip.clone(),
            current: session.id == current_id,
        }
    }
}

/// The caller's open sessions, newest first.
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth", params(ListQuery),
    responses((status = 200, body = Page<SessionView>), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn list_sessions(
    State(state): State<AppState>,
    principal: Principal,
    Query(list): Query<ListQuery>,
) -> ApiResult<Json<Page<SessionView>>> {
    let current = principal.session_id()?;
    let listing = list.check(&sessions::SCHEMA, sessions::DEFAULT_ORDER)?;
    let page = sessions::list_open(&state.db, &principal.user_id, state.clock.now(), &listing).await?;
    let views = page.items.iter().map(|s| SessionView::new(s, current)).collect();
    Ok(Json(listing.page_of(views, page.total)))
}

/// End one of the caller's sessions (another user's session is 404).
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", tag = "auth",
    params(("id" = String, Path, description = "Session id")),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn delete_session(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    principal: Principal,
    Path(id): Path<SessionId>,
) -> ApiResult<StatusCode> {
    principal.session_id()?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    if !sessions::revoke_own(&mut tx, &id, &principal.user_id, now).await? {
        return Err(ApiError::NotFound);
    }
    Event::new(Action::SessionRevoked)
        .actor(&principal.user_id)
        .target(&principal.user_id)
        .ip(ip)
        .details(json!({ "session_id": id }))
        .record(&mut tx, now)
        .await?;
    tx.commit().await?;
    state.gate.invalidate(vec![Invalidation::Session(id.to_string())]).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalRegistration {
    username: String,
    email: Option<String>,
    name: Option<String>,
}

/// Create the local account of an outside identity (Firebase/OIDC token as Bearer).
/// Authentication only: no permission is needed; the account gets role `user`.
#[utoipa::path(post, path = "/api/v1/auth/external", tag = "auth", request_body = ExternalRegistration,
    responses((status = 201, body = UserView), (status = 401, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn register_external(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ExternalIdentity(identity): ExternalIdentity,
    Json(body): Json<ExternalRegistration>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let email = body.email.or(identity.email.clone());
    let name = body.name.or(identity.name.clone());
    let input = AccountInput {
        username: &body.username,
        password: None,
        email: email.as_deref(),
        name: name.as_deref(),
    };
    let link = Link { issuer: &identity.issuer, subject: &identity.subject };
    let creation = Creation { roles: &["user"], created_by: None, link: Some(link) };
    let min = usize::from(state.config.password_min_length);
    let account = accounts::validate(&state.hasher, min, &input).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let user = accounts::create(&mut tx, account, creation, now).await?;
    Event::new(Action::ExternalLinked)
        .actor(&user.id)
        .target(&user.id)
        .ip(ip)
        .details(json!({ "issuer": identity.issuer, "subject": identity.subject }))
        .record(&mut tx, now)
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}
