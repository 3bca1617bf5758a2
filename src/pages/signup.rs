//! `/signup`: self-service accounts (hidden when registration is closed), with the
//! API's rules — every invalid field named at once — and a session straight away.

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::USER_AGENT;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::{field_errors, form, fresh_nonce, genuine_form, open_web_session, welcome};
use super::errors::page_error;
use super::render;
use super::session::Viewer;
use super::session::{Visitor, nonce_cookie, set_cookie};
use crate::accounts::create::{self as accounts, AccountInput, Creation};
use crate::app::AppState;
use crate::audit::{Action, Event};
use crate::http::client_ip::ClientIp;
use crate::http::error::{ApiError, ApiResult, FieldError};

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage<'a> {
    viewer: Option<&'a Viewer>,
    csrf: &'a str,
    form: &'a SignupForm,
    errors: &'a [FieldError],
    min_length: u8,
}

impl SignupPage<'_> {
    /// The message for `field`, if it was refused.
    fn error_for(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
    }
}

#[derive(Deserialize, Default)]
pub struct SignupForm {
    /// The username asked for (the form field `username`).
    #[serde(default, rename = "username")]
    pub login: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf_token: String,
}

fn signup_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    form: &SignupForm,
    errors: &[FieldError],
) -> Response {
    let (nonce, csrf) = fresh_nonce(state, headers);
    let min_length = state.config.password_min_length;
    let mut response = render(status, &SignupPage { viewer: None, csrf: &csrf, form, errors, min_length });
    set_cookie(&mut response, state, nonce_cookie(state), Some(&nonce));
    response
}

pub async fn signup_form(
    State(state): State<AppState>,
    Visitor(visitor): Visitor,
    headers: HeaderMap,
) -> Response {
    if !state.config.registration_open {
        return page_error(&ApiError::NotFound, visitor.as_ref());
    }
    if visitor.is_some() {
        return Redirect::to("/dashboard").into_response();
    }
    signup_page(&state, &headers, StatusCode::OK, &SignupForm::default(), &[])
}

pub async fn signup(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !state.config.registration_open {
        return page_error(&ApiError::NotFound, None);
    }
    let form: SignupForm = match form(&body) {
        Ok(form) => form,
        Err(err) => return page_error(&err, None),
    };
    if let Err(err) = genuine_form(&state, &headers, &form.csrf_token) {
        return page_error(&err, None);
    }
    let user_agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    match create(&state, ip, &form, user_agent).await {
        Ok(secret) => welcome(&state, &secret),
        Err(err) => match field_errors(err) {
            Ok((status, errors)) => signup_page(&state, &headers, status, &form, &errors),
            Err(err) => page_error(&err, None),
        },
    }
}

/// The API's registration, to the letter, ending in a web session: its cookie secret.
async fn create(
    state: &AppState,
    ip: std::net::IpAddr,
    form: &SignupForm,
    user_agent: &str,
) -> ApiResult<String> {
    state.limiter.hit(ip).await?;
    let input = AccountInput {
        username: &form.login,
        password: Some(&form.password),
        email: Some(form.email.as_str()),
        name: Some(form.name.as_str()),
    };
    let min = usize::from(state.config.password_min_length);
    let account = accounts::validate(&state.hasher, min, &input).await?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let user =
        accounts::create(&mut tx, account, Creation { roles: &["user"], created_by: None, link: None }, now)
            .await?;
    Event::new(Action::UserCreated).actor(&user.id).target(&user.id).ip(ip).record(&mut tx, now).await?;
    let (_, secret) = open_web_session(state, &mut tx, &user.id, None, user_agent, ip).await?;
    tx.commit().await?;
    Ok(secret)
}
