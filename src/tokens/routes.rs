//! `/api/v1/tokens`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use super::issue::{Minting, mint};
use super::store::{self, ApiToken};
use crate::app::AppState;
use crate::auth::permissions::{Permission, PermissionSet};
use crate::auth::principal::Principal;
use crate::clock::rfc3339;
use crate::domain::ids::{TokenId, UserId};
use crate::http::client_ip::ClientIp;
use crate::http::error::{ApiError, ApiResult, Problem};
use crate::http::extract::{Json, Path, Query};
use crate::http::listing::ListQuery;
use crate::http::paging::Page;

#[derive(Serialize, ToSchema)]
pub struct TokenView {
    id: String,
    user_id: String,
    name: String,
    /// The secret, shown only in the response that creates the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    /// Permissions the token is limited to; null means the owner's permissions.
    scopes: Option<Vec<String>>,
    created_at: String,
    expires_at: Option<String>,
    last_used_at: Option<String>,
}

impl TokenView {
    fn new(token: ApiToken, secret: Option<String>) -> Self {
        Self {
            id: token.id,
            user_id: token.user_id.into_string(),
            name: token.name,
            token: secret,
            scopes: token.scopes,
            created_at: rfc3339(token.created_at),
            expires_at: token.expires_at.map(rfc3339),
            last_used_at: token.last_used_at.map(rfc3339),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    name: String,
    /// Permissions to limit the token to (each held by its owner); leave out for all of the owner's.
    scopes: Option<Vec<String>>,
    /// RFC 3339; leave out for a token that does not expire.
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    /// Administrators only: the user (e.g. a service account) who will own the token.
    #[schema(value_type = Option<String>)]
    user_id: Option<UserId>,
}

/// Create an API token; its secret is shown once, in this response.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateToken,
    responses((status = 201, body = TokenView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn create_token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    principal: Principal,
    Json(body): Json<CreateToken>,
) -> ApiResult<(StatusCode, Json<TokenView>)> {
    principal.require(Permission::TokensWrite)?;
    if principal.is_api_token() {
        return Err(ApiError::Forbidden("API tokens cannot create tokens".into()));
    }
    let now = state.clock.now();
    let name = super::issue::check_name(&body.name)?;
    let owner_permissions = match body.user_id.as_ref() {
        None => principal.permissions,
        Some(id) if *id == principal.user_id => principal.permissions,
        Some(id) => {
            principal.require(Permission::UsersAdmin)?;
            let owner = crate::accounts::store::find(&state.db, id).await?.filter(|u| u.expired_at.is_none());
            state.roles.permissions(&owner.ok_or(ApiError::NotFound)?.roles)
        }
    };
    let scopes = match &body.scopes {
        None => None,
        Some(names) if names.is_empty() => {
            return Err(ApiError::invalid("scopes", "must name at least one permission, or be left out"));
        }
        Some(names) => {
            let set = PermissionSet::parse(names.iter().map(String::as_str))
                .map_err(|unknown| ApiError::invalid("scopes", format!("unknown permissions {unknown:?}")))?;
            if !set.is_subset_of(owner_permissions) {
                return Err(ApiError::Forbidden("scopes must be permissions the token's owner holds".into()));
            }
            Some(set.names())
        }
    };
    let expires_at = match body.expires_at.as_deref() {
        None => None,
        Some(text) => {
            let at = OffsetDateTime::parse(text, &Rfc3339)
                .map_err(|_| ApiError::invalid("expires_at", "must be an RFC 3339 date-time"))?
                .unix_timestamp();
            if at <= now {
                return Err(ApiError::invalid("expires_at", "must be in the future"));
            }
            Some(at)
        }
    };
    let owner_id = body.user_id.as_ref().unwrap_or(&principal.user_id);
    let minting =
        Minting { owner: owner_id, actor: &principal.user_id, name, scopes: scopes.as_deref(), expires_at };
    let (token, secret) = mint(&state, minting, ip).await?;
    Ok((StatusCode::CREATED, Json(TokenView::new(token, Some(secret)))))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenListQuery {
    /// Administrators only: list this user's tokens instead of your own.
    #[param(value_type = Option<String>)]
    user_id: Option<UserId>,
}

/// Your live API tokens, newest first (secrets are never shown again).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", params(TokenListQuery, ListQuery),
    responses((status = 200, body = Page<TokenView>), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn list_tokens(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<TokenListQuery>,
    Query(list): Query<ListQuery>,
) -> ApiResult<Json<Page<TokenView>>> {
    let listing = list.check(&store::SCHEMA, store::DEFAULT_ORDER)?;
    let user_id = match query.user_id.as_ref() {
        Some(id) if *id != principal.user_id => {
            principal.require(Permission::UsersAdmin)?;
            id
        }
        _ => &principal.user_id,
    };
    let page = store::list_of(&state.db, user_id, &listing).await?;
    let items = page.items.into_iter().map(|t| TokenView::new(t, None)).collect();
    Ok(Json(listing.page_of(items, page.total)))
}

/// Revoke an API token; it stops working on the next request.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "Token id")),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn delete_token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    principal: Principal,
    Path(id): Path<TokenId>,
) -> ApiResult<StatusCode> {
    principal.require(Permission::TokensWrite)?;
    let owner = (!principal.can(Permission::UsersAdmin)).then_some(&principal.user_id);
    super::issue::revoke(&state, &principal.user_id, owner, &id, ip).await?;
    Ok(StatusCode::NO_CONTENT)
}
