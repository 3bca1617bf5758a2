//! `/account`: the profile, and the sessions of the account — every browser and
//! program signed in — with "end this one" and "sign out everywhere".

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::auth::{CsrfForm, checked_form, sign_out, signed_out};
use super::errors::page_error;
use super::listing::PageQuery;
use super::profile::ProfileForm;
use super::render;
use super::runs::error_for;
use super::session::Viewer;
use super::session::{SignedIn, SignedInOnly};
use crate::app::AppState;
use crate::audit::{Action, Event};
use crate::auth::permissions::Permission;
use crate::auth::sessions;
use crate::cluster::Invalidation;
use crate::domain::ids::{SessionId, TokenId};
use crate::http::client_ip::ClientIp;
use crate::http::error::{ApiError, ApiResult, FieldError};
use crate::http::listing::Listing;
use crate::tokens::{self, store as tokens_store};

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    viewer: Option<&'a Viewer>,
    csrf: &'a str,
    roles: String,
    sessions: Vec<SessionRow>,
    tokens: Vec<TokenRow>,
    /// The profile form: as stored, or as typed when it was refused.
    profile: ProfileForm,
    /// Profile fields the form does not edit (not one line of text), as JSON.
    other_fields: Vec<(String, String)>,
    min_length: u8,
    more: Shown,
}

/// What the page shows besides the account: the outcome of a form.
#[derive(Default)]
pub struct Shown {
    /// A token just made: its secret, shown this once.
    pub new_secret: Option<String>,
    pub token_error: Option<String>,
    /// The profile form as typed, when it was refused, and why.
    pub profile: Option<ProfileForm>,
    pub profile_errors: Vec<FieldError>,
    pub password_errors: Vec<FieldError>,
    pub notice: Option<&'static str>,
}

impl AccountPage<'_> {
    fn error_for(&self, field: &str) -> Option<&str> {
        error_for(&self.more.profile_errors, field).or_else(|| error_for(&self.more.password_errors, field))
    }
}

struct TokenRow {
    id: String,
    name: String,
    created: String,
    last_used: String,
    expires: String,
}

/// A moment that may not have come: `none` then.
fn maybe_when(at: Option<i64>, none: &str) -> String {
    at.map_or_else(|| none.to_owned(), super::when)
}

struct SessionRow {
    id: String,
    device: String,
    ip: String,
    last_used: String,
    current: bool,
}

/// Sessions shown (the newest).
const SHOWN: u64 = 50;

#[derive(Deserialize, Default)]
pub struct Outcome {
    #[serde(default)]
    saved: String,
}

pub async fn account(
    State(state): State<AppState>,
    SignedInOnly(visitor): SignedInOnly,
    PageQuery(outcome): PageQuery<Outcome>,
) -> Response {
    let notice = match outcome.saved.as_str() {
        "profile" => Some("Profile saved."),
        "password" => Some("Password changed. Every other browser and program was signed out."),
        _ => None,
    };
    show(&state, &visitor, StatusCode::OK, Shown { notice, ..Shown::default() }).await
}

/// The account page, with the outcome of a form.
pub async fn show(state: &AppState, visitor: &SignedIn, status: StatusCode, mut more: Shown) -> Response {
    match gather(state, visitor).await {
        Ok(mut page) => {
            if let Some(typed) = more.profile.take() {
                page.profile = typed;
            }
            render(status, &AccountPage { more, ..page })
        }
        Err(err) => page_error(&err, Some(visitor)),
    }
}

async fn gather<'a>(state: &AppState, visitor: &'a SignedIn) -> ApiResult<AccountPage<'a>> {
    let user_id = &visitor.principal.user_id;
    let user = crate::accounts::store::find(&state.db, user_id).await?.ok_or(ApiError::NotFound)?;
    let order = sessions::DEFAULT_ORDER.to_vec();
    let listing = Listing { page: 0, count: SHOWN, total: false, filter: None, order };
    let open = sessions::list_open(&state.db, user_id, state.clock.now(), &listing).await?.items;
    let sessions = open
        .into_iter()
        .map(|s| SessionRow {
            current: s.id == visitor.session_id,
            device: if s.user_agent.is_empty() {
                "unknown".into()
            } else {
                s.user_agent.chars().take(80).collect()
            },
            ip: s.ip,
            last_used: super::when(s.last_used_at),
            id: s.id,
        })
        .collect();
    let token_listing = Listing {
        page: 0,
        count: SHOWN,
        total: false,
        filter: None,
        order: tokens_store::DEFAULT_ORDER.to_vec(),
    };
    let tokens = tokens_store::list_of(&state.db, user_id, &token_listing)
        .await?
        .items
        .into_iter()
        .map(|t| TokenRow {
            created: super::when(t.created_at),
            last_used: maybe_when(t.last_used_at, "never"),
            expires: maybe_when(t.expires_at, "never"),
            id: t.id,
            name: t.name,
        })
        .collect();
    let (fields, other_fields) = super::profile::fields(&user.profile);
    let profile = ProfileForm {
        name: user.name,
        email: user.email.unwrap_or_default(),
        fields,
        ..ProfileForm::default()
    };
    Ok(AccountPage {
        tokens,
        profile,
        other_fields,
        min_length: state.config.password_min_length,
        more: Shown::default(),
        viewer: Some(&visitor.viewer),
        csrf: &visitor.csrf,
        roles: user.roles.join(", "),
        sessions,
    })
}

#[derive(Deserialize)]
pub struct EndForm {
    #[serde(default)]
    session_id: String,
}

/// Ends one of the account's sessions (this browser's too: then it is signed out).
pub async fn end_session(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    SignedInOnly(visitor): SignedInOnly,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ended = async {
        let form: EndForm = checked_form(&state, &visitor, &headers, &body)?;
        let id = SessionId::parse(&form.session_id).ok_or(ApiError::NotFound)?;
        let now = state.clock.now();
        let user = &visitor.principal.user_id;
        let mut tx = state.db.begin().await?;
        if !sessions::revoke_own(&mut tx, &id, user, now).await? {
            return Err(ApiError::NotFound);
        }
        let details = json!({ "session_id": id, "via": "web" });
        Event::new(Action::SessionRevoked)
            .actor(user)
            .target(user)
            .ip(ip)
            .details(details)
            .record(&mut tx, now)
            .await?;
        tx.commit().await?;
        state.gate.invalidate(vec![Invalidation::Session(id.to_string())]).await;
        Ok(id.as_str() == visitor.session_id)
    };
    match ended.await {
        Ok(true) => signed_out(&state),
        Ok(false) => Redirect::to("/account").into_response(),
        Err(err) => page_error(&err, Some(&visitor)),
    }
}

/// Ends every session of the account: every browser, every access token.
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    SignedInOnly(visitor): SignedInOnly,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ended = async {
        let _: CsrfForm = checked_form(&state, &visitor, &headers, &body)?;
        sign_out(&state, &visitor, ip, true).await
    };
    match ended.await {
        Ok(()) => signed_out(&state),
        Err(err) => page_error(&err, Some(&visitor)),
    }
}

#[derive(Deserialize)]
pub struct NewTokenForm {
    #[serde(default)]
    name: String,
}

/// Makes an API token for the signed-in user; its secret is shown once, on the page.
pub async fn create_token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    SignedInOnly(visitor): SignedInOnly,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let made = async {
        let form: NewTokenForm = checked_form(&state, &visitor, &headers, &body)?;
        visitor.principal.require(Permission::TokensWrite)?;
        let name = tokens::issue::check_name(&form.name)?;
        let user = &visitor.principal.user_id;
        let minting =
            tokens::issue::Minting { owner: user, actor: user, name, scopes: None, expires_at: None };
        Ok::<_, ApiError>(tokens::issue::mint(&state, minting, ip).await?.1)
    };
    match made.await {
        Ok(secret) => {
            let more = Shown { new_secret: Some(secret), ..Shown::default() };
            show(&state, &visitor, StatusCode::CREATED, more).await
        }
        Err(ApiError::Validation(errors)) => {
            let token_error = errors.first().map(|e| format!("The name {}.", e.message));
            show(
                &state,
                &visitor,
                StatusCode::UNPROCESSABLE_ENTITY,
                Shown { token_error, ..Shown::default() },
            )
            .await
        }
        Err(err) => page_error(&err, Some(&visitor)),
    }
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    token_id: String,
}

/// Revokes one of the signed-in user's API tokens.
pub async fn revoke_token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    SignedInOnly(visitor): SignedInOnly,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let revoked = async {
        let form: RevokeForm = checked_form(&state, &visitor, &headers, &body)?;
        visitor.principal.require(Permission::TokensWrite)?;
        let id = TokenId::parse(&form.token_id).ok_or(ApiError::NotFound)?;
        let user = &visitor.principal.user_id;
        tokens::issue::revoke(&state, user, Some(user), &id, ip).await
    };
    match revoked.await {
        Ok(()) => Redirect::to("/account").into_response(),
        Err(err) => page_error(&err, Some(&visitor)),
    }
}
