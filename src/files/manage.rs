//! What may be done to a stored file, by the API and the pages alike: send its
//! bytes, delete it, share it.

use axum::body::Body;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use serde_json::json;

use super::content::{self, Plan};
use super::store::{self, File};
use crate::app::AppState;
use crate::audit::{Action, Event};
use crate::auth::permissions::Permission;
use crate::auth::principal::Principal;
use crate::domain::ids::FileId;
use crate::http::error::{ApiError, ApiResult};

/// How long a delete waits for its bytes to go before answering.
const DELETE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether the caller may delete or share `file`: its owner, or `files:admin`.
pub fn may_manage(principal: &Principal, file: &File) -> bool {
    file.owner_id == principal.user_id || principal.can(Permission::FilesAdmin)
}

pub async fn find(state: &AppState, id: &FileId) -> ApiResult<File> {
    store::find(&state.db, id).await?.ok_or(ApiError::NotFound)
}

/// The bytes of `file` as `GET`/`HEAD` with `headers` asks for them: whole, one
/// range, or not modified; streamed from storage.
pub async fn send(
    state: &AppState,
    file: &File,
    method: &Method,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let plan = content::plan(file, headers);
    let range = match &plan {
        Plan::Full => 0..file.size,
        Plan::Partial(range) => range.clone(),
        Plan::NotModified | Plan::Unsatisfiable => return Ok(content::respond(file, &plan, Body::empty())),
    };
    if method == Method::HEAD || range.is_empty() {
        return Ok(content::respond(file, &plan, Body::empty()));
    }
    let bytes = match state.files.storage.read(&file.object_key, Some(range)).await {
        Err(object_store::Error::NotFound { .. }) => return Err(ApiError::NotFound),
        other => other?,
    };
    Ok(content::respond(file, &plan, content::stream(bytes)))
}

/// Deletes file `id` (its owner or `files:admin`): the row and its audit event, then
/// the bytes.
pub async fn delete(
    state: &AppState,
    principal: &Principal,
    ip: std::net::IpAddr,
    id: &FileId,
) -> ApiResult<()> {
    principal.require(Permission::FilesRead)?;
    let file = find(state, id).await?;
    if !may_manage(principal, &file) {
        return Err(ApiError::Forbidden(
            "only the file's owner or a files administrator may delete it".into(),
        ));
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let key = store::delete(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    Event::new(Action::FileDeleted)
        .actor(&principal.user_id)
        .target(&file.owner_id)
        .ip(ip)
        .details(json!({ "file_id": id, "name": file.name, "size": file.size }))
        .record(&mut tx, now)
        .await?;
    tx.commit().await?;
    // The row is gone, so nothing serves these bytes any more. They are removed right
    // after, outside the request's timeout; if that fails, the sweep removes them.
    let state = state.clone();
    let removal = tokio::spawn(async move {
        if let Err(err) = state.files.storage.delete(&key).await {
            tracing::warn!(error = %err, "removing a deleted file's bytes failed; the sweep will retry");
        }
    });
    // Usually quick: wait a moment, so that a client that deletes and then looks
    // finds the bytes gone.
    let _ = tokio::time::timeout(DELETE_WAIT, removal).await;
    Ok(())
}

/// A share link to file `id` working for `lifetime` seconds (its owner or
/// `files:admin`): the URL and when it expires.
pub async fn share(
    state: &AppState,
    principal: &Principal,
    ip: std::net::IpAddr,
    id: &FileId,
    lifetime: i64,
) -> ApiResult<(String, crate::clock::Timestamp)> {
    principal.require(Permission::FilesRead)?;
    let file = find(state, id).await?;
    if !may_manage(principal, &file) {
        return Err(ApiError::Forbidden(
            "only the file's owner or a files administrator may share it".into(),
        ));
    }
    let now = state.clock.now();
    let expires_at = now + lifetime;
    let token = state.files.links.sign(id, &principal.user_id, expires_at);
    let mut tx = state.db.begin().await?;
    Event::new(Action::FileLinkCreated)
        .actor(&principal.user_id)
        .target(&file.owner_id)
        .ip(ip)
        .details(json!({ "file_id": id, "expires_at": expires_at }))
        .record(&mut tx, now)
        .await?;
    tx.commit().await?;
    Ok((format!("{}/api/v1/files/{id}/content?link={token}", state.config.issuer()), expires_at))
}
