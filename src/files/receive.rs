//! Taking an upload in: the limits that apply (file size, what the owner's quota
//! leaves), streaming it into storage, then one transaction that charges the quota,
//! records the row and its audit event. If that fails, the object goes again.

use axum::body::Body;
use axum::http::HeaderMap;
use serde_json::json;

use super::store::{self, File};
use super::upload::{self, Incoming, UploadError};
use crate::app::AppState;
use crate::audit::{Action, Event};
use crate::domain::ids::{FileId, UserId};
use crate::http::error::{ApiError, ApiResult};

/// Receives the upload in `body` for `owner`. `accept` sees the form before any of
/// the file is stored, and may refuse it.
pub async fn receive(
    state: &AppState,
    owner: UserId,
    ip: std::net::IpAddr,
    name: Option<String>,
    headers: &HeaderMap,
    body: Body,
    accept: impl FnOnce(&Incoming) -> ApiResult<()>,
) -> ApiResult<File> {
    let files = &state.files;
    let (used, _) = store::usage(&state.db, &owner).await?;
    let limit = files.max_upload_bytes.min(files.quota_bytes.saturating_sub(used));
    let too_large = |err: UploadError| match err {
        UploadError::TooLarge { .. } if limit < files.max_upload_bytes => over_quota(used, files.quota_bytes),
        other => upload_error(other, files.max_upload_bytes),
    };
    let incoming = upload::open(headers, name, body, limit).await.map_err(too_large)?;
    accept(&incoming)?;
    let name = super::name::sanitize(&incoming.name);
    let content_type = super::name::content_type(incoming.content_type.as_deref(), &name);
    let stored = upload::store(&files.storage, incoming, limit).await.map_err(too_large)?;
    let now = state.clock.now();
    let file = File {
        id: FileId::generate(),
        owner_id: owner,
        owner: String::new(),
        name,
        size: stored.size,
        content_type,
        sha256: stored.sha256,
        object_key: stored.key,
        created_at: now,
    };
    let recorded = async {
        let mut tx = state.db.begin().await?;
        if !store::claim_quota(&mut tx, &file.owner_id, file.size, files.quota_bytes).await? {
            let (used, _) = store::usage(&state.db, &file.owner_id).await?;
            return Err(over_quota(used, files.quota_bytes));
        }
        store::insert(&mut tx, &file).await?;
        Event::new(Action::FileUploaded)
            .actor(&file.owner_id)
            .target(&file.owner_id)
            .ip(ip)
            .details(
                json!({ "file_id": file.id, "name": file.name, "size": file.size, "sha256": file.sha256 }),
            )
            .record(&mut tx, now)
            .await?;
        let stored: File = tx.fetch_one(store::FIND_FILE, crate::params![&file.id]).await?;
        tx.commit().await?;
        Ok(stored)
    }
    .await;
    let Err(err) = recorded else { return recorded };
    // The object goes only when no row is known to name it: a commit whose answer was
    // lost may have landed. If the database cannot say, the sweep decides later.
    match store::find(&state.db, &file.id).await {
        Ok(Some(row)) => return Ok(row),
        Ok(None) => {
            if let Err(err) = files.storage.delete(&file.object_key).await {
                tracing::warn!(error = %err, "removing an unrecorded upload failed");
            }
        }
        Err(_) => {}
    }
    Err(err)
}

fn over_quota(used: u64, quota: u64) -> ApiError {
    ApiError::too_large(
        "quota_exceeded",
        format!("this file does not fit in your quota: {used} of {quota} bytes are used"),
    )
}

fn upload_error(err: UploadError, max: u64) -> ApiError {
    match err {
        UploadError::TooLarge { .. } => {
            ApiError::too_large("payload_too_large", format!("a file may be at most {max} bytes"))
        }
        UploadError::FormTooLarge => ApiError::too_large("payload_too_large", err.to_string()),
        UploadError::Malformed(detail) => ApiError::bad_request("malformed_multipart", detail),
        UploadError::NoFilePart => ApiError::invalid("file", "the form has no part with a filename"),
        UploadError::NoName => ApiError::invalid("name", "a raw upload needs the file's name in `?name=`"),
        UploadError::Idle => ApiError::Timeout,
        UploadError::Cut => ApiError::bad_request("incomplete_body", "the request body ended early"),
        UploadError::Storage(err) => ApiError::from(err),
        UploadError::Sync(err) => {
            ApiError::from(object_store::Error::Generic { store: "sync", source: Box::new(err) })
        }
    }
}
