//! `/admin/audit`: the audit log (`audit:read`), newest first, with the filter box.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::errors::page_error;
use super::listing::{Column, Controls, ListParams, PageQuery, Pager};
use super::render;
use super::session::{SignedIn, SignedInOnly, Viewer};
use crate::app::AppState;
use crate::auth::permissions::Permission;
use crate::http::error::ApiResult;

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage<'a> {
    viewer: Option<&'a Viewer>,
    csrf: &'a str,
    rows: Vec<EventRow>,
    controls: Controls,
    columns: Vec<Column>,
    pager: Pager,
    total: u64,
    sees_audit: bool,
}

struct EventRow {
    at: String,
    action: String,
    actor: String,
    target: String,
    ip: String,
    details: String,
}

pub async fn audit(
    State(state): State<AppState>,
    SignedInOnly(visitor): SignedInOnly,
    PageQuery(params): PageQuery<ListParams>,
) -> Response {
    match gather(&state, &visitor, params).await {
        Ok(page) => render(page.controls.status(StatusCode::OK), &page),
        Err(err) => page_error(&err, Some(&visitor)),
    }
}

async fn gather<'a>(state: &AppState, visitor: &'a SignedIn, params: ListParams) -> ApiResult<AuditPage<'a>> {
    visitor.principal.require(Permission::AuditRead)?;
    let (listing, controls) = params.check(&crate::audit::SCHEMA, crate::audit::DEFAULT_ORDER);
    let page = crate::audit::list(&state.db, &listing, None).await?;
    let ids: Vec<&str> =
        page.items.iter().flat_map(|e| [e.actor_id.as_deref(), e.target_id.as_deref()]).flatten().collect();
    let names = crate::accounts::store::usernames(&state.db, &ids).await?;
    let who = |id: &Option<String>| match id {
        Some(id) => names.get(id).cloned().unwrap_or_else(|| id.clone()),
        None => "—".to_owned(),
    };
    let rows = page
        .items
        .iter()
        .map(|e| EventRow {
            at: e.at.replace('T', " ").replace('Z', " UTC"),
            action: e.action.clone(),
            actor: who(&e.actor_id),
            target: who(&e.target_id),
            ip: e.ip.clone().unwrap_or_default(),
            details: if e.details.is_null() { String::new() } else { e.details.to_string() },
        })
        .collect();
    let columns = controls.columns("/admin/audit", &[("When", "at"), ("Event", "action"), ("IP", "ip")]);
    Ok(AuditPage {
        viewer: Some(&visitor.viewer),
        csrf: &visitor.csrf,
        pager: controls.pager("/admin/audit", page.total),
        total: page.total.unwrap_or(0),
        columns,
        controls,
        rows,
        sees_audit: true,
    })
}
