//! First-administrator setup: while no administrator exists, `serve` prints a
//! one-time link (`/setup?token=…`: 256 random bits, stored hashed, valid for an
//! hour, used once); the page behind it creates the first administrator. Once one
//! exists, `/setup` is a 404.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header::USER_AGENT;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::auth::{field_errors, form, fresh_nonce, genuine_form, open_web_session, welcome};
use super::errors::page_error;
use super::render;
use super::session::Viewer;
use super::session::{nonce_cookie, set_cookie};
use crate::accounts::create::{self as accounts, AccountInput, Creation};
use crate::app::AppState;
use crate::audit::{Action, Event};
use crate::http::client_ip::ClientIp;
use crate::http::error::{ApiError, ApiResult, FieldError};
use crate::params;
use crate::store::StoreError;

/// How long a setup link works.
const LIFETIME: i64 = 3600;

crate::statements! {
    INSERT_SETUP_TOKEN = "INSERT INTO setup_tokens (token_hash, expires_at) VALUES ($1, $2)";
    LIVE_SETUP_TOKEN = "SELECT COUNT(*) FROM setup_tokens WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2";
    USE_SETUP_TOKEN = "UPDATE setup_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2";
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::new().chain_update(b"hallpass setup token\0").chain_update(token).finalize())
}

/// A new setup link when no administrator exists yet.
pub async fn setup_link(state: &AppState) -> Result<Option<String>, StoreError> {
    if crate::accounts::store::any_admin(&state.db).await? {
        return Ok(None);
    }
    let token = crate::auth::opaque::SETUP_TOKEN.generate();
    let expires_at = state.clock.now() + LIFETIME;
    state.db.execute(INSERT_SETUP_TOKEN, params![token_hash(&token), expires_at]).await?;
    Ok(Some(format!("{}/setup?token={token}", state.config.issuer())))
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage<'a> {
    viewer: Option<&'a Viewer>,
    csrf: &'a str,
    token: &'a str,
    form: &'a SetupForm,
    errors: &'a [FieldError],
}

impl SetupPage<'_> {
    fn error_for(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
    }
}

#[derive(Deserialize, Default)]
pub struct SetupForm {
    #[serde(default, rename = "username")]
    pub login: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf_token: String,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// Whether `/setup` is there at all (no administrator yet) and `token` is live.
async fn check(state: &AppState, token: &str) -> ApiResult<()> {
    if crate::accounts::store::any_admin(&state.db).await? {
        return Err(ApiError::NotFound);
    }
    let live = state.db.count(LIVE_SETUP_TOKEN, params![token_hash(token), state.clock.now()]).await?;
    if live == 0 {
        return Err(ApiError::Forbidden(
            "this setup link is not valid (it may have expired or been used)".into(),
        ));
    }
    Ok(())
}

fn setup_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    form: &SetupForm,
    token: &str,
    errors: &[FieldError],
) -> Response {
    let (nonce, csrf) = fresh_nonce(state, headers);
    let mut response = render(status, &SetupPage { viewer: None, csrf: &csrf, token, form, errors });
    set_cookie(&mut response, state, nonce_cookie(state), Some(&nonce));
    response
}

pub async fn setup_form(
    State(state): State<AppState>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
) -> Response {
    match check(&state, &query.token).await {
        Ok(()) => setup_page(&state, &headers, StatusCode::OK, &SetupForm::default(), &query.token, &[]),
        Err(err) => page_error(&err, None),
    }
}

pub async fn setup(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: SetupForm = match form(&body) {
        Ok(form) => form,
        Err(err) => return page_error(&err, None),
    };
    if let Err(err) = genuine_form(&state, &headers, &form.csrf_token) {
        return page_error(&err, None);
    }
    if let Err(err) = check(&state, &form.token).await {
        return page_error(&err, None);
    }
    let user_agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    match create_admin(&state, ip, &form, user_agent).await {
        Ok(secret) => welcome(&state, &secret),
        Err(err) => match field_errors(err) {
            Ok((status, errors)) => setup_page(&state, &headers, status, &form, &form.token, &errors),
            Err(err) => page_error(&err, None),
        },
    }
}

/// The first administrator, the link used up, the audit row and a session: one
/// transaction, serialized with every other change to who is an administrator.
async fn create_admin(
    state: &AppState,
    ip: std::net::IpAddr,
    form: &SetupForm,
    user_agent: &str,
) -> ApiResult<String> {
    let input = AccountInput {
        username: &form.login,
        password: Some(&form.password),
        email: Some(&form.email),
        name: None,
    };
    let min = usize::from(state.config.password_min_length);
    let account = accounts::validate(&state.hasher, min, &input).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    crate::store::take_lock(&mut tx, "admins").await?;
    let admins: i64 = tx.fetch_one(crate::accounts::store::COUNT_ADMINS, &[]).await?;
    if admins > 0 || tx.execute(USE_SETUP_TOKEN, params![token_hash(&form.token), now]).await? != 1 {
        return Err(ApiError::NotFound);
    }
    let creation = Creation { roles: &["admin"], created_by: None, link: None };
    let user = accounts::create(&mut tx, account, creation, now).await?;
    Event::new(Action::UserCreated)
        .actor(&user.id)
        .target(&user.id)
        .ip(ip)
        .details(serde_json::json!({ "roles": ["admin"], "via": "setup" }))
        .record(&mut tx, now)
        .await?;
    let (_, secret) = open_web_session(state, &mut tx, &user.id, None, user_agent, ip).await?;
    tx.commit().await?;
    Ok(secret)
}
