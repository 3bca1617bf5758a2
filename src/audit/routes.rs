//! `GET /api/v1/audit`.

use axum::extract::State;

use super::AuditEntry;
use crate::app::AppState;
use crate::auth::permissions::Permission;
use crate::auth::principal::Principal;
use crate::http::error::ApiError;
use crate::http::error::{ApiResult, Problem};
use crate::http::extract::{Json, Query};
use crate::http::listing::ListQuery;
use crate::http::paging::Page;

/// Security events, newest first (needs `audit:read`).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(ListQuery, AuditCursor),
    responses((status = 200, body = Page<AuditEntry>), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn list_audit(
    State(state): State<AppState>,
    principal: Principal,
    Query(list): Query<ListQuery>,
    Query(cursor): Query<AuditCursor>,
) -> ApiResult<Json<Page<AuditEntry>>> {
    principal.require(Permission::AuditRead)?;
    let after = crate::http::listing::cursor(cursor.after.as_deref());
    if after.is_some() && list.sorts() {
        return Err(ApiError::bad_request(
            "invalid_query",
            "`after` pages the default newest-first order; drop `sort`",
        ));
    }
    let listing = list.check(&super::SCHEMA, super::DEFAULT_ORDER)?;
    Ok(Json(super::list(&state.db, &listing, after).await?))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditCursor {
    /// Keyset paging: the id of the last event seen; returns the events before it.
    after: Option<String>,
}
