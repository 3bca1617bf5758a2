//! Serving a file's bytes: validators (`ETag` from the SHA-256, `Last-Modified`),
//! conditional requests (`If-None-Match`, `If-Modified-Since`, `If-Range`), one byte
//! range (206, or 416 when it cannot be served), and headers that keep a browser from
//! running what it downloads.

use std::ops::Range;
use std::time::{Duration, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::name::{attachment, served_type};
use super::store::File;
use super::upload::IDLE_TIMEOUT;

/// What a request for the bytes gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    NotModified,
    Full,
    Partial(Range<u64>),
    Unsatisfiable,
}

fn etag(file: &File) -> String {
    format!("\"{}\"", file.sha256)
}

fn last_modified(file: &File) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(file.created_at.max(0) as u64))
}

fn header(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether `If-None-Match` lists this file's tag (weak comparison, `*` for any).
fn none_match(list: &str, tag: &str) -> bool {
    list.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == tag)
}

/// Decides from the request's conditional and range headers (RFC 9110 §13, §14).
pub fn plan(file: &File, headers: &HeaderMap) -> Plan {
    let tag = etag(file);
    if let Some(list) = header(headers, header::IF_NONE_MATCH) {
        if none_match(list, &tag) {
            return Plan::NotModified;
        }
    } else if let Some(since) =
        header(headers, header::IF_MODIFIED_SINCE).and_then(|d| httpdate::parse_http_date(d).ok())
        && UNIX_EPOCH + Duration::from_secs(file.created_at.max(0) as u64) <= since
    {
        return Plan::NotModified;
    }
    let Some(range) = header(headers, header::RANGE) else {
        return Plan::Full;
    };
    // A range applies only to the representation the client already has part of.
    if let Some(validator) = header(headers, header::IF_RANGE)
        && validator != tag
        && validator != last_modified(file)
    {
        return Plan::Full;
    }
    // A Range header that does not parse is ignored (the whole file is sent).
    let Ok(parsed) = http_range_header::parse_range_header(range) else {
        return Plan::Full;
    };
    match parsed.validate(file.size) {
        Ok(ranges) if ranges.len() == 1 => Plan::Partial(*ranges[0].start()..ranges[0].end() + 1),
        Err(http_range_header::RangeUnsatisfiableError::Unsatisfiable) => Plan::Unsatisfiable,
        // Several (or overlapping) ranges would need multipart/byteranges: the whole
        // file is what RFC 9110 allows instead.
        _ => Plan::Full,
    }
}

/// A response body that streams `bytes`, ending the response when either side
/// stalls for 30 s: storage that sends nothing, or a client that takes nothing (over
/// HTTP/2 a client can hold a stream open without blocking the socket).
pub fn stream(mut bytes: BoxStream<'static, object_store::Result<Bytes>>) -> Body {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    tokio::spawn(async move {
        loop {
            let chunk = match tokio::time::timeout(IDLE_TIMEOUT, bytes.next()).await {
                Ok(Some(chunk)) => chunk.map_err(std::io::Error::other),
                Ok(None) => return,
                Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "storage stalled")),
            };
            let failed = chunk.is_err();
            // A full channel for 30 s: the client stopped reading. Dropping the sender
            // ends the body short, which aborts the response.
            match tokio::time::timeout(IDLE_TIMEOUT, sender.send(chunk)).await {
                Ok(Ok(())) if !failed => {}
                _ => return,
            }
        }
    });
    Body::from_stream(tokio_stream_of(receiver))
}

fn tokio_stream_of<T: Send + 'static>(
    mut receiver: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

/// The headers every answer about the bytes carries.
fn validators(file: &File, headers: &mut HeaderMap) {
    let mut set = |name, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set(header::ETAG, etag(file));
    set(header::LAST_MODIFIED, last_modified(file));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
}

/// The response for `plan`; `body` streams the planned bytes (empty for HEAD).
pub fn respond(file: &File, plan: &Plan, body: Body) -> Response {
    let (status, length) = match plan {
        // A 304 may only state the length a 200 would have.
        Plan::NotModified => (StatusCode::NOT_MODIFIED, None),
        Plan::Unsatisfiable => (StatusCode::RANGE_NOT_SATISFIABLE, None),
        Plan::Full => (StatusCode::OK, Some(file.size)),
        Plan::Partial(range) => (StatusCode::PARTIAL_CONTENT, Some(range.end - range.start)),
    };
    let body = if length.is_some() { body } else { Body::empty() };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    validators(file, headers);
    if *plan == Plan::NotModified {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(file.size));
    }
    if let Some(length) = length {
        let content_type = HeaderValue::from_str(served_type(&file.content_type))
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        headers.insert(header::CONTENT_TYPE, content_type);
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        if let Ok(disposition) = HeaderValue::from_str(&attachment(&file.name)) {
            headers.insert(header::CONTENT_DISPOSITION, disposition);
        }
        // Even if a browser did open it, it would run nothing and reach nothing.
        headers
            .insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'"));
    }
    let content_range = match plan {
        Plan::Partial(range) => Some(format!("bytes {}-{}/{}", range.start, range.end - 1, file.size)),
        Plan::Unsatisfiable => Some(format!("bytes */{}", file.size)),
        _ => None,
    };
    if let Some(value) = content_range.and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert(header::CONTENT_RANGE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{FileId, UserId};

    fn file() -> File {
        File {
            id: FileId::generate(),
            owner_id: UserId::generate(),
            owner: "ops".into(),
            name: "a.bin".into(),
            size: 100,
            content_type: "application/octet-stream".into(),
            sha256: "ab".repeat(32),
            object_key: "objects/ab/x".into(),
            created_at: 1_700_000_000,
        }
    }

    fn with(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (k.clone(), HeaderValue::from_str(v).unwrap())).collect()
    }

    #[test]
    fn ranges_and_conditions() {
        let f = file();
        let tag = etag(&f);
        assert_eq!(plan(&f, &HeaderMap::new()), Plan::Full);
        assert_eq!(plan(&f, &with(&[(header::RANGE, "bytes=10-19")])), Plan::Partial(10..20));
        assert_eq!(plan(&f, &with(&[(header::RANGE, "bytes=-5")])), Plan::Partial(95..100));
        assert_eq!(plan(&f, &with(&[(header::RANGE, "bytes=90-")])), Plan::Partial(90..100));
        assert_eq!(plan(&f, &with(&[(header::RANGE, "bytes=100-")])), Plan::Unsatisfiable);
        assert_eq!(plan(&f, &with(&[(header::RANGE, "pages=1-2")])), Plan::Full);
        assert_eq!(plan(&f, &with(&[(header::RANGE, "bytes=0-1,5-6")])), Plan::Full);
        assert_eq!(plan(&f, &with(&[(header::IF_NONE_MATCH, &tag)])), Plan::NotModified);
        assert_eq!(plan(&f, &with(&[(header::IF_NONE_MATCH, "\"other\", W/\"x\"")])), Plan::Full);
        assert_eq!(plan(&f, &with(&[(header::IF_NONE_MATCH, "*")])), Plan::NotModified);
        let stale = [(header::RANGE, "bytes=0-9"), (header::IF_RANGE, "\"old\"")];
        assert_eq!(plan(&f, &with(&stale)), Plan::Full);
        let fresh = [(header::RANGE, "bytes=0-9"), (header::IF_RANGE, tag.as_str())];
        assert_eq!(plan(&f, &with(&fresh)), Plan::Partial(0..10));
        let since = last_modified(&f);
        assert_eq!(plan(&f, &with(&[(header::IF_MODIFIED_SINCE, &since)])), Plan::NotModified);
    }
}
