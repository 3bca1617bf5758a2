//! The profile and password forms of `/account`, through the same operations as
//! `PATCH /api/v1/users/me` and `POST /api/v1/users/me/password`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::account::{Shown, show};
use super::auth::{check_post, checked_form, field_errors, form};
use super::errors::page_error;
use super::session::SignedInOnly;
use crate::app::AppState;
use crate::http::client_ip::ClientIp;
use crate::http::error::{ApiError, FieldError};
use crate::users::me::{self, MePatch};

/// A name and its value.
type Pair = (String, String);

/// Longest name a new profile field may have.
const MAX_KEY: usize = 64;

/// The fields of a stored profile: those holding text (editable on the page), and
/// the rest with their JSON.
pub fn fields(profile: &str) -> (Vec<Pair>, Vec<Pair>) {
    let object: Map<String, Value> = serde_json::from_str(profile).unwrap_or_default();
    let (text, other): (Vec<_>, Vec<_>) = object.into_iter().partition(|(_, v)| v.is_string());
    let text = text.into_iter().map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned())).collect();
    let other = other.into_iter().map(|(k, v)| (k, v.to_string())).collect();
    (text, other)
}

/// The profile form: name, e-mail, then `profile_key`/`profile_value` pairs in order
/// (the last pair adds a field; an emptied value removes one).
fn read(body: &[u8]) -> Result<(String, String, Vec<Pair>), ApiError> {
    let pairs: Vec<(String, String)> = form(body)?;
    let value =
        |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let keys = pairs.iter().filter(|(k, _)| k == "profile_key").map(|(_, v)| v.trim().to_owned());
    let values = pairs.iter().filter(|(k, _)| k == "profile_value").map(|(_, v)| v.clone());
    Ok((value("name"), value("email"), keys.zip(values).collect()))
}

pub async fn save_profile(
    State(state): State<AppState>,
    SignedInOnly(visitor): SignedInOnly,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let saved = async {
        let _: super::auth::CsrfForm = checked_form(&state, &visitor, &headers, &body)?;
        let (name, email, pairs) = read(&body)?;
        let user = crate::accounts::store::find(&state.db, &visitor.principal.user_id)
            .await?
            .ok_or(ApiError::NotFound)?;
        let mut profile: Map<String, Value> = serde_json::from_str(&user.profile).unwrap_or_default();
        let mut errors = Vec::new();
        for (key, value) in pairs {
            if key.is_empty() {
                continue;
            }
            if key.chars().count() > MAX_KEY || key.chars().any(char::is_control) {
                errors.push(FieldError::new(
                    "profile",
                    format!("a field name has at most {MAX_KEY} characters"),
                ));
            } else if value.trim().is_empty() {
                profile.remove(&key);
            } else {
                profile.insert(key, Value::String(value));
            }
        }
        let email = email.trim();
        let patch = MePatch {
            username: None,
            email: Some((!email.is_empty()).then(|| email.to_owned())),
            name: Some(name.clone()),
            profile: Some(Value::Object(profile)),
        };
        if !errors.is_empty() {
            return Ok(Err((StatusCode::UNPROCESSABLE_ENTITY, errors, name, email.to_owned())));
        }
        match me::update(&state, &visitor.principal, patch).await {
            Ok(_) => Ok(Ok(())),
            Err(err) => {
                field_errors(err).map(|(status, errors)| Err((status, errors, name, email.to_owned())))
            }
        }
    };
    match saved.await {
        Ok(Ok(())) => Redirect::to("/account?saved=profile").into_response(),
        Ok(Err((status, profile_errors, name, email))) => {
            let more = Shown { profile: Some((name, email)), profile_errors, ..Shown::default() };
            show(&state, &visitor, status, more).await
        }
        Err(err) => page_error(&err, Some(&visitor)),
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

/// Changes the password; this browser stays signed in, every other session ends.
pub async fn change_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    SignedInOnly(visitor): SignedInOnly,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let changed = async {
        let form: PasswordForm = form(&body)?;
        check_post(&state, &visitor, &headers, &form.csrf_token)?;
        me::set_password(&state, &visitor.principal, ip, &form.current_password, &form.new_password).await
    };
    match changed.await {
        Ok(()) => Redirect::to("/account?saved=password").into_response(),
        Err(ApiError::Validation(password_errors)) => {
            let more = Shown { password_errors, ..Shown::default() };
            show(&state, &visitor, StatusCode::UNPROCESSABLE_ENTITY, more).await
        }
        Err(err) => page_error(&err, Some(&visitor)),
    }
}
