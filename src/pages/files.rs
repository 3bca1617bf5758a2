//! `/files`: every file (filter, sort, paging), download links; an upload form for
//! those who may upload (with a progress bar when scripts run); delete and share for
//! a file's owner (or `files:admin`).

use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::{check_post, checked_form};
use super::errors::page_error;
use super::listing::{Column, Controls, ListParams, PageQuery, Pager};
use super::render;
use super::session::Viewer;
use super::session::{SignedIn, SignedInOnly};
use crate::app::AppState;
use crate::auth::permissions::Permission;
use crate::domain::ids::FileId;
use crate::files::{manage, receive, store};
use crate::http::client_ip::ClientIp;
use crate::http::error::{ApiError, ApiResult};

#[derive(Template)]
#[template(path = "files.html")]
struct FilesPage<'a> {
    viewer: Option<&'a Viewer>,
    csrf: &'a str,
    rows: Vec<FileRow>,
    controls: Controls,
    columns: Vec<Column>,
    pager: Pager,
    total: u64,
    can_upload: bool,
    used: String,
    quota: String,
    max_upload: String,
    notice: Option<String>,
    /// A share link just made, and when it expires.
    link: Option<(String, String)>,
}

struct FileRow {
    id: String,
    name: String,
    size: String,
    owner: String,
    created: String,
    manage: bool,
}

/// Bytes for people: `1.4 MiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} bytes") } else { format!("{value:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_people_read_them() {
        assert_eq!(super::bytes(0), "0 bytes");
        assert_eq!(super::bytes(1023), "1023 bytes");
        assert_eq!(super::bytes(1536), "1.5 KiB");
        assert_eq!(super::bytes(100 * 1024 * 1024), "100.0 MiB");
        assert_eq!(super::bytes(u64::MAX), "16777216.0 TiB");
    }
}

#[derive(Deserialize, Default)]
pub struct Outcome {
    #[serde(default)]
    uploaded: Option<String>,
    #[serde(default)]
    deleted: Option<String>,
}

pub async fn files(
    State(state): State<AppState>,
    SignedInOnly(visitor): SignedInOnly,
    PageQuery(params): PageQuery<ListParams>,
    PageQuery(outcome): PageQuery<Outcome>,
) -> Response {
    // The link names the file by id, so only a real file's name is ever shown.
    let uploaded = match outcome.uploaded.as_deref().and_then(FileId::parse) {
        Some(id) => manage::find(&state, &id).await.ok().map(|f| f.name),
        None => None,
    };
    let notice = match (uploaded, outcome.deleted.is_some()) {
        (Some(name), _) => Some(format!("Uploaded {name}.")),
        (_, true) => Some("File deleted.".to_owned()),
        _ => None,
    };
    show(&state, &visitor, params, StatusCode::OK, notice, None).await
}

async fn show(
    state: &AppState,
    visitor: &SignedIn,
    params: ListParams,
    status: StatusCode,
    notice: Option<String>,
    link: Option<(String, String)>,
) -> Response {
    match gather(state, visitor, params).await {
        Ok(page) => render(page.controls.status(status), &FilesPage { notice, link, ..page }),
        Err(err) => page_error(&err, Some(visitor)),
    }
}

async fn gather<'a>(state: &AppState, visitor: &'a SignedIn, params: ListParams) -> ApiResult<FilesPage<'a>> {
    let principal = &visitor.principal;
    principal.require(Permission::FilesRead)?;
    let (listing, controls) = params.check(&store::SCHEMA, store::DEFAULT_ORDER);
    let (files, total) = store::list(&state.db, None, &listing).await?;
    let rows = files
        .into_iter()
        .map(|f| FileRow {
            manage: manage::may_manage(principal, &f),
            id: f.id.into_string(),
            name: f.name,
            size: bytes(f.size),
            owner: f.owner,
            created: super::when(f.created_at),
        })
        .collect();
    let (used, _) = store::usage(&state.db, &principal.user_id).await?;
    let columns = controls.columns(
        "/files",
        &[("Name", "name"), ("Size", "size"), ("Owner", "owner"), ("Uploaded", "created_at")],
    );
    Ok(FilesPage {
        viewer: Some(&visitor.viewer),
        csrf: &visitor.csrf,
        pager: controls.pager("/files", total),
        total: total.unwrap_or(0),
        columns,
        controls,
        rows,
        can_upload: principal.can(Permission::FilesWrite),
        used: bytes(used),
        quota: bytes(state.files.quota_bytes),
        max_upload: bytes(state.files.max_upload_bytes),
        notice: None,
        link: None,
    })
}

/// Takes an upload from the form (streamed, as the API takes one); the form's
/// `csrf_token` comes before its file and is checked before a byte is stored.
pub async fn upload(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    SignedInOnly(visitor): SignedInOnly,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let uploaded = async {
        visitor.principal.require(Permission::FilesWrite)?;
        let owner = visitor.principal.user_id.clone();
        let (task_state, csrf) = (state.clone(), visitor.csrf.clone());
        let task = tokio::spawn(async move {
            let accept = |incoming: &crate::files::upload::Incoming| {
                let token = incoming.fields.iter().find(|(k, _)| k == "csrf_token").map(|(_, v)| v.as_str());
                let genuine = token.is_some_and(|t| super::csrf::matches(&csrf, t))
                    && super::csrf::same_origin(&headers, &task_state.config.issuer());
                if genuine { Ok(()) } else { Err(ApiError::Forbidden("cross-site request".into())) }
            };
            receive::receive(&task_state, owner, ip, None, &headers, body, accept).await
        });
        task.await.map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("upload task")))?
    };
    match uploaded.await {
        Ok(file) => Redirect::to(&format!("/files?uploaded={}", file.id)).into_response(),
        Err(err) => page_error(&err, Some(&visitor)),
    }
}

/// The bytes of a file, for a signed-in visitor.
pub async fn download(
    State(state): State<AppState>,
    SignedInOnly(visitor): SignedInOnly,
    Path(id): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let sent = async {
        visitor.principal.require(Permission::FilesRead)?;
        let id = FileId::parse(&id).ok_or(ApiError::NotFound)?;
        let file = manage::find(&state, &id).await?;
        manage::send(&state, &file, &method, &headers).await
    };
    sent.await.unwrap_or_else(|err| page_error(&err, Some(&visitor)))
}

pub async fn delete(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    SignedInOnly(visitor): SignedInOnly,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let deleted = async {
        let _: super::auth::CsrfForm = checked_form(&state, &visitor, &headers, &body)?;
        let id = FileId::parse(&id).ok_or(ApiError::NotFound)?;
        manage::delete(&state, &visitor.principal, ip, &id).await
    };
    match deleted.await {
        Ok(()) => Redirect::to("/files?deleted=1").into_response(),
        Err(err) => page_error(&err, Some(&visitor)),
    }
}

#[derive(Deserialize)]
pub struct ShareForm {
    #[serde(default)]
    csrf_token: String,
    /// Hours the link works: 1, 24 or 168.
    #[serde(default)]
    hours: String,
}

pub async fn share(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    SignedInOnly(visitor): SignedInOnly,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let shared = async {
        let form: ShareForm = super::auth::form(&body)?;
        check_post(&state, &visitor, &headers, &form.csrf_token)?;
        let hours = match form.hours.as_str() {
            "" | "1" => 1,
            "24" => 24,
            "168" => 168,
            _ => return Err(ApiError::invalid("hours", "must be 1, 24 or 168")),
        };
        let id = FileId::parse(&id).ok_or(ApiError::NotFound)?;
        manage::share(&state, &visitor.principal, ip, &id, hours * 3600).await
    };
    match shared.await {
        Ok((url, expires_at)) => {
            let expires = super::when(expires_at);
            show(&state, &visitor, ListParams::default(), StatusCode::CREATED, None, Some((url, expires)))
                .await
        }
        Err(err) => page_error(&err, Some(&visitor)),
    }
}
