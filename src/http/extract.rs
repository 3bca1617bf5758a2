//! App-owned extractors: malformed bodies and queries come back as our problem+json,
//! never as the framework's plain text.

use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{ApiError, FieldError};

/// A JSON request body (`Content-Type: application/json`), or a JSON response.
pub struct Json<T>(pub T);

/// Bytes reserved for a response body up front: a page of runs fits without regrowing.
const RESPONSE_BUFFER: usize = 16 * 1024;

/// Serialized into one buffer sized for a page of items (axum's own `Json` starts at
/// 128 bytes and copies as it grows).
impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(RESPONSE_BUFFER);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
            Err(err) => {
                ApiError::Internal(anyhow::Error::new(err).context("serializing a response")).into_response()
            }
        }
    }
}

/// A JSON or `application/x-www-form-urlencoded` body (login, register).
pub struct JsonOrForm<T>(pub T);

/// A JSON body that may be left out entirely; an empty body means `T::default()`.
pub struct OptionalJson<T>(pub T);

/// A query string; bad values are a 400 naming the parameter.
pub struct Query<T>(pub T);

/// Path parameters (`/runs/{id}`): a segment that does not decode (`%FF`) is a 400
/// problem, not the framework's plain text; one that cannot name anything (an id
/// that is not an id) is a 404, as a missing object is.
pub struct Path<T>(pub T);

enum BodyKind {
    Json,
    Form,
    Other,
}

fn body_kind(headers: &HeaderMap) -> Option<BodyKind> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let mime = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    Some(if mime == "application/json" || mime.ends_with("+json") {
        BodyKind::Json
    } else if mime == "application/x-www-form-urlencoded" {
        BodyKind::Form
    } else {
        BodyKind::Other
    })
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large("payload_too_large", "the request body is too large")
        } else {
            ApiError::bad_request("unreadable_body", "the request body could not be read")
        }
    })
}

/// Deserializes JSON, telling syntax errors (400) from wrong fields (422, naming every
/// field that is wrong, not only the first).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let malformed = |err: serde_json::Error| {
        ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {err}"))
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let first = match serde_path_to_error::deserialize(&mut de) {
        Ok(value) => return de.end().map(|()| value).map_err(malformed),
        Err(err) => err,
    };
    // A broken document is a 400 even when its beginning already fails the schema.
    let document: serde_json::Value = serde_json::from_slice(bytes).map_err(malformed)?;
    let mut errors = every_field_error::<T>(document);
    if errors.is_empty() {
        errors.push(field_error(&first.path().to_string(), &first.into_inner().to_string()));
    }
    Err(ApiError::Validation(errors))
}

/// Values tried in place of a missing required field so that the fields after it are
/// checked too; the field itself is already reported.
const STAND_INS: [&str; 6] = ["\"\"", "0", "false", "[]", "{}", "null"];
/// Enough rounds for any body our limits let in; each round settles one field.
const MAX_ROUNDS: usize = 64;

/// Deserializes `document` again and again, each time setting aside the field the
/// last error was about, until it fits: every wrong field is named once.
fn every_field_error<T: DeserializeOwned>(mut document: serde_json::Value) -> Vec<FieldError> {
    let mut errors: Vec<FieldError> = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let Err(err) = serde_path_to_error::deserialize::<_, T>(&document) else { break };
        let error = field_error(&err.path().to_string(), &err.into_inner().to_string());
        let key = error.field.split(['.', '[']).next().unwrap_or_default().to_owned();
        let missing = error.message.starts_with("missing field");
        if !errors.iter().any(|seen| seen.field.split(['.', '[']).next() == Some(key.as_str())) {
            errors.push(error);
        }
        let Some(object) = document.as_object_mut().filter(|_| !key.is_empty()) else { break };
        if !missing {
            object.remove(&key);
            continue;
        }
        let fits = |document: &serde_json::Value| match serde_path_to_error::deserialize::<_, T>(document) {
            Ok(_) => true,
            Err(err) => {
                let field = field_error(&err.path().to_string(), &err.into_inner().to_string()).field;
                field.split(['.', '[']).next() != Some(key.as_str())
            }
        };
        let stand_in = STAND_INS.iter().find_map(|raw| {
            let value: serde_json::Value = serde_json::from_str(raw).ok()?;
            document.as_object_mut()?.insert(key.clone(), value);
            fits(&document).then_some(())
        });
        if stand_in.is_none() {
            break;
        }
    }
    errors
}

fn parse_form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(bytes));
    serde_path_to_error::deserialize(de).map_err(|err| {
        ApiError::Validation(vec![field_error(&err.path().to_string(), &err.into_inner().to_string())])
    })
}

/// Serde's message names the problem; the path (or the field serde names) says where.
fn field_error(path: &str, message: &str) -> FieldError {
    let field = if path.is_empty() || path == "." {
        named_field(message).unwrap_or_default()
    } else {
        path.to_owned()
    };
    let message = message.split(" at line ").next().unwrap_or(message).to_owned();
    FieldError::new(field, message)
}

/// Pulls `x` out of serde messages like "missing field `x`" / "unknown field `x`".
fn named_field(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

fn wrong_type(expected: &str) -> ApiError {
    ApiError::UnsupportedMediaType(format!("the body must be sent as {expected}"))
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match body_kind(req.headers()) {
            Some(BodyKind::Json) => Ok(Self(parse_json(&read_body(req, state).await?)?)),
            _ => Err(wrong_type("application/json")),
        }
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonOrForm<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match body_kind(req.headers()) {
            Some(BodyKind::Json) => Ok(Self(parse_json(&read_body(req, state).await?)?)),
            Some(BodyKind::Form) => Ok(Self(parse_form(&read_body(req, state).await?)?)),
            _ => Err(wrong_type("application/json or application/x-www-form-urlencoded")),
        }
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let kind = body_kind(req.headers());
        let body = read_body(req, state).await?;
        match kind {
            // No body at all; a body that says it is JSON must be JSON.
            _ if body.is_empty() => Ok(Self(T::default())),
            None if body.iter().all(u8::is_ascii_whitespace) => Ok(Self(T::default())),
            // `null` is no body too, as the API description allows.
            Some(BodyKind::Json) => Ok(Self(parse_json::<Option<T>>(&body)?.unwrap_or_default())),
            _ => Err(wrong_type("application/json")),
        }
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(Self).map_err(|err| {
            let path = err.path().to_string();
            let message = err.into_inner().to_string();
            let field = named_field(&message).filter(|_| path == ".").unwrap_or(path);
            ApiError::bad_request("invalid_query", format!("query parameter `{field}`: {message}"))
        })
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(PathRejection::FailedToDeserializePathParams(err))
                if !matches!(err.kind(), ErrorKind::InvalidUtf8InPathParam { .. }) =>
            {
                Err(ApiError::NotFound)
            }
            Err(rejection) => {
                tracing::debug!(error = %rejection.body_text(), "unusable path parameter");
                Err(ApiError::bad_request("invalid_path", "a path segment is not valid UTF-8"))
            }
        }
    }
}
