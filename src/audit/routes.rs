//! `GET /api/v1/audit`.

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AuditEntry;
use crate::app::AppState;
use crate::auth::permissions::Permission;
use crate::auth::principal::Principal;
use crate::http::error::{ApiResult, Problem};
use crate::http::extract::Query;
use crate::http::paging::{Page, PageQuery};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

/// Security events, newest first (needs `audit:read`).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(PageQuery),
    responses((status = 200, body = Page<AuditEntry>), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn list_audit(
    State(state): State<AppState>,
    principal: Principal,
    Query(paging): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<AuditEntry>>> {
    principal.require(Permission::AuditRead)?;
    Ok(axum::Json(super::list(&state.db, paging.validate()?).await?))
}
