//! Receiving an upload: the file part of a `multipart/form-data` body (or a raw body
//! named by `?name=`), streamed into storage with its SHA-256 computed on the way.
//! Nothing is kept in memory beyond the parts in flight, and any failure — a limit,
//! a cut connection, an idle client, storage trouble — aborts the object.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path as Key;

use super::digest::Hasher;
use super::storage::{PARTS_IN_FLIGHT, Storage};

/// An upload that sends nothing for this long is abandoned.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// What a multipart body may carry besides the file: boundaries, part headers, and
/// small fields before the file part. Until the file part begins, this is all the
/// body may hold (the parser keeps what comes before a part's data in memory).
const MULTIPART_OVERHEAD: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// More than `limit` bytes (the file limit, or what the quota leaves).
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the form carries more than {} KiB before its file", MULTIPART_OVERHEAD / 1024)]
    FormTooLarge,
    #[error("malformed multipart body: {0}")]
    Malformed(String),
    #[error("the multipart body has no part with a filename")]
    NoFilePart,
    #[error("a raw upload needs its name in `?name=`")]
    NoName,
    #[error("the client sent nothing for {} s", IDLE_TIMEOUT.as_secs())]
    Idle,
    /// The connection broke or the body ended early.
    #[error("the upload was cut off")]
    Cut,
    #[error("storage: {0}")]
    Storage(#[from] object_store::Error),
    #[error("storage: {0}")]
    Sync(#[from] std::io::Error),
}

/// The file an upload carries, before its bytes are read.
pub struct Incoming {
    /// As the client sent it (not yet sanitized).
    pub name: String,
    pub content_type: Option<String>,
    /// The exact length, when the body is the file (raw uploads with `Content-Length`).
    pub length: Option<u64>,
    /// The form's other fields that came before the file (name, text), as a page's
    /// form sends its `csrf_token`.
    pub fields: Vec<(String, String)>,
    body: BoxStream<'static, Result<Bytes, UploadError>>,
}

/// Finds the file in a request body. `limit` is the most the file may hold; a body
/// that says up front it is larger is refused without reading it.
pub async fn open(
    headers: &HeaderMap,
    name: Option<String>,
    body: Body,
    limit: u64,
) -> Result<Incoming, UploadError> {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let length =
        headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let multipart = content_type
        .and_then(|t| t.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.type_() == mime::MULTIPART && m.subtype() == mime::FORM_DATA);
    if !multipart {
        let name = name.filter(|n| !n.trim().is_empty()).ok_or(UploadError::NoName)?;
        if length.is_some_and(|n| n > limit) {
            return Err(UploadError::TooLarge { limit });
        }
        let body = body.into_data_stream().map_err(|_| UploadError::Cut).boxed();
        let content_type = content_type.map(str::to_owned);
        return Ok(Incoming { name, content_type, length, fields: Vec::new(), body });
    }
    let boundary = multer::parse_boundary(content_type.unwrap_or_default())
        .map_err(|e| UploadError::Malformed(e.to_string()))?;
    if length.is_some_and(|n| n > limit.saturating_add(MULTIPART_OVERHEAD)) {
        return Err(UploadError::TooLarge { limit });
    }
    let budget = Budget::new(MULTIPART_OVERHEAD);
    let metered = budget.meter(body.into_data_stream());
    let mut parts = multer::Multipart::new(metered, boundary);
    let failed = |err: multer::Error| budget.explain(err, limit);
    let mut fields = Vec::new();
    loop {
        let field = tokio::time::timeout(IDLE_TIMEOUT, parts.next_field())
            .await
            .map_err(|_| UploadError::Idle)?
            .map_err(failed)?
            .ok_or(UploadError::NoFilePart)?;
        if let Some(file_name) = field.file_name() {
            let name = file_name.to_owned();
            let content_type = field.content_type().map(ToString::to_string);
            // From here the file's own limit applies (checked as it is stored).
            budget.extend(limit.saturating_add(MULTIPART_OVERHEAD));
            let budget = budget.clone();
            let body = field.map_err(move |e| budget.explain(e, limit)).boxed();
            return Ok(Incoming { name, content_type, length: None, fields, body });
        }
        // A field that is not a file: kept as text (it counts against the budget).
        let mut field = field;
        let key = field.name().unwrap_or_default().to_owned();
        let mut value = Vec::new();
        while let Some(chunk) = tokio::time::timeout(IDLE_TIMEOUT, field.chunk())
            .await
            .map_err(|_| UploadError::Idle)?
            .map_err(failed)?
        {
            value.extend_from_slice(&chunk);
        }
        fields.push((key, String::from_utf8_lossy(&value).into_owned()));
    }
}

/// Bytes a multipart body may still deliver, shared by the metered body and the code
/// that reads its parts.
#[derive(Clone)]
struct Budget {
    allowed: Arc<AtomicU64>,
    read: Arc<AtomicU64>,
}

/// Why a metered body stopped.
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("the body is larger than allowed")]
    OverBudget,
    #[error("the connection broke")]
    Broken,
}

impl Budget {
    fn new(allowed: u64) -> Self {
        Self { allowed: Arc::new(AtomicU64::new(allowed)), read: Arc::new(AtomicU64::new(0)) }
    }

    fn extend(&self, more: u64) {
        let read = self.read.load(Ordering::Relaxed);
        self.allowed.store(read.saturating_add(more), Ordering::Relaxed);
    }

    fn meter<S>(&self, body: S) -> impl futures_util::Stream<Item = Result<Bytes, BodyError>> + use<S>
    where
        S: futures_util::Stream<Item = Result<Bytes, axum::Error>>,
    {
        let budget = self.clone();
        body.map(move |chunk| {
            let chunk = chunk.map_err(|_| BodyError::Broken)?;
            let read = budget.read.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
            if read > budget.allowed.load(Ordering::Relaxed) { Err(BodyError::OverBudget) } else { Ok(chunk) }
        })
    }

    /// What a parser error means: the budget ran out (before the file: a form too
    /// large; in it: a file too large), the connection broke, or the body is malformed.
    fn explain(&self, err: multer::Error, limit: u64) -> UploadError {
        match err {
            multer::Error::StreamReadFailed(cause) => match cause.downcast_ref::<BodyError>() {
                Some(BodyError::OverBudget) if self.allowed.load(Ordering::Relaxed) <= MULTIPART_OVERHEAD => {
                    UploadError::FormTooLarge
                }
                Some(BodyError::OverBudget) => UploadError::TooLarge { limit },
                _ => UploadError::Cut,
            },
            other => UploadError::Malformed(other.to_string()),
        }
    }
}

/// An object stored in full, durably, and not yet referenced by any row.
#[derive(Debug)]
pub struct Stored {
    pub key: Key,
    pub size: u64,
    pub sha256: String,
}

/// Streams the file into a new object. On any failure the object is aborted, so
/// storage holds nothing of it.
pub async fn store(storage: &Storage, incoming: Incoming, limit: u64) -> Result<Stored, UploadError> {
    let key = Storage::new_key();
    let mut writer = storage.writer(&key).await?;
    let Incoming { mut body, length, .. } = incoming;
    let received = async {
        let (mut hasher, mut size) = (Hasher::default(), 0u64);
        loop {
            let chunk = match tokio::time::timeout(IDLE_TIMEOUT, body.next()).await {
                Err(_) => return Err(UploadError::Idle),
                Ok(None) => break,
                Ok(Some(chunk)) => chunk?,
            };
            size += chunk.len() as u64;
            if size > limit {
                return Err(UploadError::TooLarge { limit });
            }
            hasher.update(chunk.clone()).await;
            writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
            writer.put(chunk);
        }
        if length.is_some_and(|expected| expected != size) {
            return Err(UploadError::Cut);
        }
        Ok((size, hasher.finish().await?))
    }
    .await;
    let (size, sha256) = match received {
        Ok(received) => received,
        Err(err) => {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(error = %abort, key = %key, "aborting an upload failed");
            }
            return Err(err);
        }
    };
    // Parts still in flight must land before completing; if one fails, the upload is
    // aborted (S3 keeps the parts of an upload neither completed nor aborted).
    if let Err(err) = writer.wait_for_capacity(0).await {
        if let Err(abort) = writer.abort().await {
            tracing::warn!(error = %abort, key = %key, "aborting an upload failed");
        }
        return Err(err.into());
    }
    if let Err(err) = writer.finish().await {
        // Whatever part of it exists has no row: remove it now (else the sweep will).
        let _ = storage.delete(&key).await;
        return Err(err.into());
    }
    if let Err(err) = storage.sync(&key).await {
        let _ = storage.delete(&key).await;
        return Err(err.into());
    }
    Ok(Stored { key, size, sha256 })
}
