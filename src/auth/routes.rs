//! `/api/v1/auth/*`: register, login, refresh, logout, verify, sessions.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::login::{self, TokenResponse};
use super::principal::Principal;
use super::sessions::{self, Refresh, Session};
use crate::app::AppState;
use crate::clock::rfc3339;
use crate::cluster::Invalidation;
use crate::http::client_ip::ClientIp;
use crate::http::error::{ApiError, ApiResult, Problem};
use crate::http::extract::{JsonOrForm, OptionalJson, Query};
use crate::http::paging::{Page, PageQuery};
use crate::users::accounts::{self, AccountInput};
use crate::users::model::UserView;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(verify))
        .routes(routes!(list_sessions))
        .routes(routes!(delete_session))
}

fn user_agent(headers: &HeaderMap) -> &str {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    username: String,
    password: String,
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
async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    JsonOrForm(body): JsonOrForm<RegisterRequest>,
) -> ApiResult<impl IntoResponse> {
    state.limiter.hit(ip).await?;
    if !state.config.registration_open {
        return Err(ApiError::Forbidden(
            "self-service registration is closed".into(),
        ));
    }
    let input = AccountInput {
        username: &body.username,
        password: &body.password,
        email: body.email.as_deref(),
        name: body.name.as_deref(),
    };
    let min = usize::from(state.config.password_min_length);
    let user = accounts::create(
        &state.db,
        &state.hasher,
        min,
        &input,
        &["user"],
        None,
        state.clock.now(),
    )
    .await?;
    let tokens = login::open_session(&state, &user, user_agent(&headers), &ip.to_string()).await?;
    let body = RegisterResponse {
        user: UserView::from(&user),
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        token_type: tokens.token_type,
        expires_in: tokens.expires_in,
        session_id: tokens.session_id,
    };
    Ok((StatusCode::CREATED, axum::Json(body)))
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
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    JsonOrForm(body): JsonOrForm<LoginRequest>,
) -> ApiResult<axum::Json<TokenResponse>> {
    state.limiter.hit(ip).await?;
    let user = match login::authenticate(&state, &body.username, &body.password).await {
        Ok(user) => user,
        Err(err) => {
            tracing::info!(ip = %ip, "login failed");
            return Err(err);
        }
    };
    let tokens = login::open_session(&state, &user, user_agent(&headers), &ip.to_string()).await?;
    Ok(axum::Json(tokens))
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
async fn refresh(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    JsonOrForm(body): JsonOrForm<RefreshRequest>,
) -> ApiResult<axum::Json<TokenResponse>> {
    state.limiter.hit(ip).await?;
    let now = state.clock.now();
    match sessions::refresh(
        &state.db,
        &body.refresh_token,
        state.config.refresh_grace as i64,
        now,
    )
    .await?
    {
        Refresh::Rotated { session, token } => {
            let grant = state
                .gate
                .check(&session.id)
                .await?
                .ok_or_else(ApiError::unauthenticated)?;
            Ok(axum::Json(login::issue(
                &state,
                &session,
                token,
                &grant.roles,
            )?))
        }
        Refresh::Reused { session } => {
            tracing::warn!(session_id = %session.id, user_id = %session.user_id, "refresh token reuse: session revoked");
            state
                .gate
                .invalidate(vec![Invalidation::Session(session.id)])
                .await;
            Err(ApiError::unauthenticated())
        }
        Refresh::Invalid => Err(ApiError::unauthenticated()),
    }
}

#[derive(Deserialize, ToSchema, Default, Clone, Copy)]
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
    responses((status = 204), (status = 401, body = Problem)),
    security(("bearer" = [])))]
async fn logout(
    State(state): State<AppState>,
    principal: Principal,
    OptionalJson(body): OptionalJson<LogoutRequest>,
) -> ApiResult<StatusCode> {
    let now = state.clock.now();
    let sid = principal.session_id.as_str();
    let revoked = match body.scope {
        LogoutScope::Current => {
            sessions::revoke(&state.db, sid, now).await?;
            vec![sid.to_owned()]
        }
        LogoutScope::Others => {
            sessions::revoke_all_of(&state.db, &principal.user_id, Some(sid), now).await?
        }
        LogoutScope::All => {
            sessions::revoke_all_of(&state.db, &principal.user_id, None, now).await?
        }
    };
    state
        .gate
        .invalidate(revoked.into_iter().map(Invalidation::Session).collect())
        .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct VerifyResponse {
    valid: bool,
    user_id: String,
    session_id: String,
    /// When the presented access token expires (RFC 3339).
    expires_at: String,
}

/// Check an access token (signature, expiry, and that its session is still open).
#[utoipa::path(get, path = "/api/v1/auth/verify", tag = "auth",
    responses((status = 200, body = VerifyResponse), (status = 401, body = Problem)),
    security(("bearer" = [])))]
async fn verify(principal: Principal) -> axum::Json<VerifyResponse> {
    axum::Json(VerifyResponse {
        valid: true,
        user_id: principal.user_id,
        session_id: principal.session_id,
        expires_at: rfc3339(principal.token_expires_at),
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
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth", params(PageQuery),
    responses((status = 200, body = Page<SessionView>), (status = 400, body = Problem), (status = 401, body = Problem)),
    security(("bearer" = [])))]
async fn list_sessions(
    State(state): State<AppState>,
    principal: Principal,
    Query(paging): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<SessionView>>> {
    let paging = paging.validate()?;
    let open = sessions::list_open(&state.db, &principal.user_id, state.clock.now()).await?;
    let views = open
        .iter()
        .map(|s| SessionView::new(s, &principal.session_id))
        .collect();
    Ok(axum::Json(paging.slice(views)))
}

/// End one of the caller's sessions (another user's session is 404).
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", tag = "auth",
    params(("id" = String, Path, description = "Session id")),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn delete_session(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let now = state.clock.now();
    let session = sessions::find(&state.db, &id).await?;
    let mine = session.filter(|s| s.user_id == principal.user_id && s.is_open(now));
    if mine.is_none() || !sessions::revoke(&state.db, &id, now).await? {
        return Err(ApiError::NotFound);
    }
    state.gate.invalidate(vec![Invalidation::Session(id)]).await;
    Ok(StatusCode::NO_CONTENT)
}
