//! The profile and password forms of `/account`, through the same operations as
//! `PATCH /api/v1/users/me` and `POST /api/v1/users/me/password`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::account::{Shown, show};
use super::auth::{Fields, check_post, checked_form, field_errors, form};
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

/// The profile form: name, e-mail, the profile's one-line text fields, and a new one.
#[derive(Default)]
pub struct ProfileForm {
    pub name: String,
    pub email: String,
    pub fields: Vec<Pair>,
    pub new_key: String,
    pub new_value: String,
}

/// The fields of a stored profile: one-line text (editable on the page), and the
/// rest with their JSON.
pub fn fields(profile: &str) -> (Vec<Pair>, Vec<Pair>) {
    let object: Map<String, Value> = serde_json::from_str(profile).unwrap_or_default();
    let (text, other): (Vec<_>, Vec<_>) =
        object.into_iter().partition(|(_, v)| v.as_str().is_some_and(|t| !t.contains(['\n', '\r'])));
    let text = text.into_iter().map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned())).collect();
    let other = other.into_iter().map(|(k, v)| (k, v.to_string())).collect();
    (text, other)
}

impl ProfileForm {
    /// The form as sent: `profile_key`/`profile_value` pairs in order for the fields
    /// shown, `new_key`/`new_value` for one to add.
    fn read(body: &[u8]) -> Result<Self, ApiError> {
        let fields = Fields::read(body)?;
        let (keys, values) = (fields.all("profile_key"), fields.all("profile_value"));
        Ok(Self {
            name: fields.first("name"),
            email: fields.first("email"),
            fields: keys.into_iter().zip(values).collect(),
            new_key: fields.first("new_key"),
            new_value: fields.first("new_value"),
        })
    }

    /// `stored` with this form's fields applied (an emptied value removes its field),
    /// or what is wrong with the new field.
    fn apply(&self, mut stored: Map<String, Value>) -> (Map<String, Value>, Vec<FieldError>) {
        let mut errors = Vec::new();
        for (key, value) in &self.fields {
            if value.trim().is_empty() {
                stored.remove(key);
            } else if stored.contains_key(key) || key_is_fine(key) {
                stored.insert(key.clone(), Value::String(value.clone()));
            }
        }
        let key = self.new_key.trim();
        if !key.is_empty() {
            if !key_is_fine(key) {
                errors.push(FieldError::new(
                    "new_key",
                    format!("must be at most {MAX_KEY} characters of text"),
                ));
            } else if self.new_value.trim().is_empty() {
                errors.push(FieldError::new("new_value", "give the new field a value"));
            } else {
                stored.insert(key.to_owned(), Value::String(self.new_value.clone()));
            }
        }
        (stored, errors)
    }
}

fn key_is_fine(key: &str) -> bool {
    key.chars().count() <= MAX_KEY && !key.chars().any(char::is_control)
}

pub async fn save_profile(
    State(state): State<AppState>,
    SignedInOnly(visitor): SignedInOnly,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let read = async {
        let _: super::auth::CsrfForm = checked_form(&state, &visitor, &headers, &body)?;
        let typed = ProfileForm::read(&body)?;
        let user = crate::accounts::store::find(&state.db, &visitor.principal.user_id)
            .await?
            .ok_or(ApiError::NotFound)?;
        Ok::<_, ApiError>((typed, serde_json::from_str(&user.profile).unwrap_or_default()))
    };
    let (typed, stored) = match read.await {
        Ok(read) => read,
        Err(err) => return page_error(&err, Some(&visitor)),
    };
    let (profile, mut errors) = typed.apply(stored);
    let email = typed.email.trim();
    let patch = MePatch {
        username: None,
        email: Some((!email.is_empty()).then(|| email.to_owned())),
        name: Some(typed.name.clone()),
        profile: Some(Value::Object(profile)),
    };
    let refused = if errors.is_empty() {
        match me::update(&state, &visitor.principal, patch).await {
            Ok(_) => return Redirect::to("/account?saved=profile").into_response(),
            Err(err) => field_errors(err),
        }
    } else {
        // Every mistake at once: the fields' own checks too.
        errors.extend(patch.validate().err().unwrap_or_default().into_iter().map(FieldError::from));
        Ok((StatusCode::UNPROCESSABLE_ENTITY, errors))
    };
    match refused {
        Ok((status, profile_errors)) => {
            let more = Shown { profile: Some(typed), profile_errors, ..Shown::default() };
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
