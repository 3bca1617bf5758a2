//! `/api/v1/files…`: upload, list, metadata, bytes, delete, share links, usage.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::links::{DEFAULT_LIFETIME, MAX_LIFETIME};
use super::manage;
use super::store::{self, File};
use crate::app::AppState;
use crate::auth::permissions::Permission;
use crate::auth::principal::Principal;
use crate::clock::rfc3339;
use crate::domain::ids::FileId;
use crate::http::client_ip::ClientIp;
use crate::http::error::{ApiError, ApiResult, Problem};
use crate::http::extract::{Json, OptionalJson, Path, Query};
use crate::http::listing::ListQuery;
use crate::http::paging::Page;

#[derive(Serialize, ToSchema)]
pub struct Owner {
    pub id: String,
    pub username: String,
}

#[derive(Serialize, ToSchema)]
pub struct FileView {
    pub id: String,
    /// The display name (sanitized: no path, no control characters, ≤ 255 bytes).
    pub name: String,
    /// Bytes.
    pub size: u64,
    pub content_type: String,
    /// Hex SHA-256 of the bytes (also the download's `ETag`).
    pub sha256: String,
    pub owner: Owner,
    pub created_at: String,
}

impl From<File> for FileView {
    fn from(file: File) -> Self {
        Self {
            id: file.id.into_string(),
            name: file.name,
            size: file.size,
            content_type: file.content_type,
            sha256: file.sha256,
            owner: Owner { id: file.owner_id.into_string(), username: file.owner },
            created_at: rfc3339(file.created_at),
        }
    }
}

async fn find(state: &AppState, id: &FileId) -> ApiResult<File> {
    manage::find(state, id).await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The file's name, for a raw body (any `Content-Type` but `multipart/form-data`).
    name: Option<String>,
}

/// Upload a file (`files:write`): `multipart/form-data` (the first part with a
/// filename, whatever its field name) or a raw body named by `?name=`. Streamed to
/// storage; larger than `HALLPASS_MAX_UPLOAD_BYTES` or past the owner's quota → 413.
#[utoipa::path(post, path = "/api/v1/files", tag = "files", params(UploadQuery),
    request_body(content(("multipart/form-data"), ("application/octet-stream")), description = "the file"),
    responses((status = 201, body = FileView), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 408, body = Problem), (status = 413, body = Problem),
              (status = 422, body = Problem), (status = 503, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn upload_file(
    State(state): State<AppState>,
    principal: Principal,
    ClientIp(ip): ClientIp,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<FileView>)> {
    principal.require(Permission::FilesWrite)?;
    let owner = principal.user_id.clone();
    // Run to the end even if the client goes away mid-way, so that the object is
    // either aborted or stored and recorded: never left half-done.
    let task = tokio::spawn(async move {
        super::receive::receive(&state, owner, ip, query.name, &headers, body, |_| Ok(())).await
    });
    let file = task.await.map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("upload task")))??;
    Ok((StatusCode::CREATED, Json(FileView::from(file))))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FileCursor {
    /// Keyset paging in the default order: the id of the last file seen.
    after: Option<String>,
}

/// Every file (`files:read`), filtered, sorted and paged; newest first. Filter on
/// `name, size, content_type, owner` (username), `owner_id`, `created_at`.
#[utoipa::path(get, path = "/api/v1/files", tag = "files", params(ListQuery, FileCursor),
    responses((status = 200, body = Page<FileView>), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn list_files(
    State(state): State<AppState>,
    principal: Principal,
    Query(list): Query<ListQuery>,
    Query(cursor): Query<FileCursor>,
) -> ApiResult<Json<Page<FileView>>> {
    principal.require(Permission::FilesRead)?;
    let after = crate::http::listing::cursor(cursor.after.as_deref());
    if after.is_some() && list.sorts() {
        return Err(ApiError::bad_request("invalid_query", "`after` pages the default order; drop `sort`"));
    }
    let listing = list.check(&store::SCHEMA, store::DEFAULT_ORDER)?;
    let after = match after {
        Some(id) => Some(
            match FileId::parse(id) {
                Some(id) => store::find(&state.db, &id).await?,
                None => None,
            }
            .ok_or_else(|| ApiError::bad_request("invalid_query", "`after` must be the id of a file"))?,
        ),
        None => None,
    };
    let (files, total) = store::list(&state.db, after.as_ref(), &listing).await?;
    Ok(Json(listing.page_of(files.into_iter().map(FileView::from).collect(), total)))
}

/// One file's metadata (`files:read`).
#[utoipa::path(get, path = "/api/v1/files/{id}", tag = "files", params(("id" = String, Path)),
    responses((status = 200, body = FileView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn get_file(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<FileId>,
) -> ApiResult<Json<FileView>> {
    principal.require(Permission::FilesRead)?;
    Ok(Json(FileView::from(find(&state, &id).await?)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkQuery {
    /// A share link's token (from `POST /api/v1/files/{id}/links`): no credentials needed.
    link: Option<String>,
}

/// The bytes (`files:read`, or a share link): streamed, `Range` (one range → 206),
/// `ETag`/`If-None-Match` (304), `If-Range`, `HEAD`. Always an attachment; active
/// content (HTML, SVG, XML, scripts) is served as `application/octet-stream`.
#[utoipa::path(get, path = "/api/v1/files/{id}/content", tag = "files", params(("id" = String, Path), LinkQuery),
    responses((status = 200, description = "the bytes", content_type = "application/octet-stream"),
              (status = 206, description = "the requested range", content_type = "application/octet-stream"),
              (status = 304, description = "not modified"), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 416, description = "the range is outside the file"), (status = 503, body = Problem)),
    security(("bearer" = []), ()))]
pub(crate) async fn download(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    method: Method,
    Path(id): Path<FileId>,
    Query(query): Query<LinkQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let file = match query.link.as_deref() {
        Some(token) => shared(&state, &id, token).await?,
        None => {
            principal?.require(Permission::FilesRead)?;
            find(&state, &id).await?
        }
    };
    manage::send(&state, &file, &method, &headers).await
}

/// The file a share link opens, if the link is genuine, unexpired, and its creator
/// could still make it (an active account that owns the file or holds
/// `files:admin`).
async fn shared(state: &AppState, id: &FileId, token: &str) -> ApiResult<File> {
    let refused = || ApiError::Forbidden("this link is not valid (it may have expired)".into());
    let link = state.files.links.verify(id, token).ok_or_else(refused)?;
    if link.expires_at <= state.clock.now() {
        return Err(refused());
    }
    let file = find(state, id).await?;
    let creator = crate::accounts::store::find(&state.db, &link.creator).await?.ok_or_else(refused)?;
    let allowed = creator.id == file.owner_id
        || state.roles.permissions(&creator.roles).contains(Permission::FilesAdmin);
    if creator.expired_at.is_some() || !allowed {
        return Err(refused());
    }
    Ok(file)
}

/// Delete a file: its owner or `files:admin` (204); the bytes go at once.
#[utoipa::path(delete, path = "/api/v1/files/{id}", tag = "files", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 503, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn delete_file(
    State(state): State<AppState>,
    principal: Principal,
    ClientIp(ip): ClientIp,
    Path(id): Path<FileId>,
) -> ApiResult<StatusCode> {
    manage::delete(&state, &principal, ip, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct NewLink {
    /// Seconds the link works, a whole number from 1 to 604800 (7 days); default 3600.
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 604800)]
    expires_in: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct ShareLink {
    /// Downloads the file without credentials until `expires_at`.
    pub url: String,
    pub expires_at: String,
}

/// A share link (owner or `files:admin`): an expiring signed URL of the bytes.
#[utoipa::path(post, path = "/api/v1/files/{id}/links", tag = "files", params(("id" = String, Path)),
    request_body(content = Option<NewLink>),
    responses((status = 201, body = ShareLink), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn create_link(
    State(state): State<AppState>,
    principal: Principal,
    ClientIp(ip): ClientIp,
    Path(id): Path<FileId>,
    OptionalJson(body): OptionalJson<NewLink>,
) -> ApiResult<(StatusCode, Json<ShareLink>)> {
    principal.require(Permission::FilesRead)?;
    // A number, so that `60.0` is the 60 it means; fractions are refused.
    let lifetime = body.expires_in.unwrap_or(DEFAULT_LIFETIME as f64);
    if lifetime.fract() != 0.0 || !(1.0..=MAX_LIFETIME as f64).contains(&lifetime) {
        return Err(ApiError::invalid(
            "expires_in",
            format!("must be a whole number of seconds from 1 to {MAX_LIFETIME}"),
        ));
    }
    let (url, expires_at) = manage::share(&state, &principal, ip, &id, lifetime as i64).await?;
    Ok((StatusCode::CREATED, Json(ShareLink { url, expires_at: rfc3339(expires_at) })))
}

#[derive(Serialize, ToSchema)]
pub struct Usage {
    pub used_bytes: u64,
    pub quota_bytes: u64,
    pub files: u64,
}

/// What the caller's files take up, and their quota.
#[utoipa::path(get, path = "/api/v1/files/usage", tag = "files",
    responses((status = 200, body = Usage), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub(crate) async fn usage(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Usage>> {
    principal.require(Permission::FilesRead)?;
    let (used_bytes, files) = store::usage(&state.db, &principal.user_id).await?;
    Ok(Json(Usage { used_bytes, quota_bytes: state.files.quota_bytes, files }))
}
