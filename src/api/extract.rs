//! Extractors that answer bad input with problem+json: JSON bodies ([`ApiJson`]), query strings
//! ([`ApiQuery`]), path parameters ([`ApiPath`]), ids in paths ([`parse_id`]) and list paging
//! ([`Paging`]).

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::error::ApiError;
use crate::store::{Cursor, PageRequest};

/// Largest accepted JSON body, in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON request body. Not JSON → 415/400; a field of the wrong shape, missing or unknown → 422
/// naming the field.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| {
                let v = v.trim();
                v.eq_ignore_ascii_case("application/json") || v.ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the request body must be JSON (Content-Type: application/json)",
            ));
        }
        let body = Bytes::from_request(request, state).await.map_err(|e| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("cannot read the request body: {e}"),
            )
        })?;
        parse_json(&body).map(ApiJson)
    }
}

/// Parse `body` as `T`, mapping serde's errors to field errors.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(value) => Ok(value),
        Err(e) => {
            let inner = e.inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("the request body is not valid JSON: {inner}"),
                ));
            }
            let mut message = strip_position(&inner.to_string());
            let path = e.path().to_string();
            // serde reports a missing field at its parent's path; every other error at the
            // field's own path.
            let field = match (message.strip_prefix("missing field `"), path.as_str()) {
                (Some(rest), ".") => rest.split('`').next().unwrap_or("body").to_string(),
                (Some(rest), parent) => {
                    format!("{parent}.{}", rest.split('`').next().unwrap_or(""))
                }
                (None, ".") => "body".to_string(),
                (None, _) => path,
            };
            if message.starts_with("missing field `") {
                // The field is named already; say what is wrong in the words of a form.
                message = "is required".to_string();
            } else if field.ends_with("_at") {
                message.push_str("; expected an RFC 3339 timestamp such as 2027-01-31T00:00:00Z");
            }
            Err(ApiError::field(field, message))
        }
    }
}

/// The field named by serde's "missing field `x`" / "unknown field `x`, expected ...".
fn named_field(message: &str) -> Option<&str> {
    let rest = message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("unknown field `"))?;
    rest.split('`').next()
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

/// A query string parsed into `T`; a bad parameter → 422 naming it.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        refuse_nul(query)?;
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|e| {
                let message = e.to_string();
                let field = named_field(&message).unwrap_or("query").to_string();
                ApiError::field(field, message)
            })
    }
}

/// A query value with a NUL byte (`%00`) can name nothing and PostgreSQL refuses it in text
/// ("invalid byte sequence for encoding UTF8: 0x00", a 500 before this check; SQLite matched
/// everything): 422 naming the field, on both backends.
fn refuse_nul(query: &str) -> Result<(), ApiError> {
    // A URI cannot hold a raw NUL, only `%00`: parse the pairs (to name the field) only then.
    if !query.contains("%00") {
        return Ok(());
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    match pairs
        .iter()
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
    {
        Some((name, _)) => Err(ApiError::field(
            name.replace('\0', "\\0"),
            "must not contain a NUL byte (%00)",
        )),
        None => Ok(()),
    }
}

/// Path parameters parsed into `T` (the routes take them as `String`). A parameter whose
/// percent-encoded bytes are not UTF-8 (`/api/keys/%FF`) cannot name anything: 404
/// problem+json, like an id that is not a UUID ([`parse_id`]), where axum's own `Path` answers a
/// text/plain 400.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(ApiError::not_found(
                format!("nothing at this path ({})", e.body_text()),
            )),
            // A handler that reads parameters its route does not have: a bug of this server.
            Err(e) => Err(ApiError::internal(e.body_text())),
        }
    }
}

/// `limit` and `cursor` of list endpoints.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Page size, 1 to 500 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Default and largest page size.
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

impl Paging {
    /// Check `limit` (1..=500, default 50) and `cursor`.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let limit = page_limit(self.limit.as_deref()).map_err(|e| ApiError::field("limit", e))?;
        let cursor = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(text) => Some(Cursor::decode(text).ok_or_else(|| {
                ApiError::field("cursor", "is not a cursor returned by this list")
            })?),
        };
        Ok(PageRequest { limit, cursor })
    }
}

/// A list's `limit` query value: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent; the error
/// says why, for the field `limit`.
pub fn page_limit(text: Option<&str>) -> Result<u32, String> {
    bounded_limit(text, DEFAULT_LIMIT, MAX_LIMIT)
}

/// A `limit` query value from 1 to `max`, `default` when absent. An empty `limit=` is refused
/// like any other value that is not a number in range: the document says `minimum: 1`, and a
/// client that sends an empty value meant something it did not get.
pub fn bounded_limit(text: Option<&str>, default: u32, max: u32) -> Result<u32, String> {
    match text {
        None => Ok(default),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| format!("must be a whole number from 1 to {max}")),
    }
}

/// Parse a path id; anything that is not a UUID cannot name a `what`, so it is a 404.
pub fn parse_id(text: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::not_found(format!("no {what} with id {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        port: Option<u16>,
    }

    #[test]
    fn json_errors_name_the_field() {
        let e = parse_json::<Body>(br#"{"port": 22}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.errors[0].field, "name");
        assert_eq!(e.errors[0].message, "is required");
        let e = parse_json::<Body>(br#"{"name": "a", "nmae": 1}"#).unwrap_err();
        assert_eq!(e.errors[0].field, "nmae");
        let e = parse_json::<Body>(br#"{"name": 5}"#).unwrap_err();
        assert_eq!(e.errors[0].field, "name");
        let e = parse_json::<Body>(br#"{"name": "#).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn paging_limits() {
        let paging = |limit: &str| Paging {
            limit: Some(limit.into()),
            cursor: None,
        };
        assert_eq!(paging("10").page().unwrap().limit, 10);
        assert!(paging("0").page().is_err());
        assert!(paging("501").page().is_err());
        assert!(paging("x").page().is_err());
        // Issue 13: an empty `limit=` is refused like other bad values, not read as the default.
        assert_eq!(paging("").page().unwrap_err().errors[0].field, "limit");
        let absent = Paging {
            limit: None,
            cursor: None,
        };
        assert_eq!(absent.page().unwrap().limit, DEFAULT_LIMIT);
        let bad_cursor = Paging {
            limit: None,
            cursor: Some("garbage".into()),
        };
        assert_eq!(bad_cursor.page().unwrap_err().errors[0].field, "cursor");
    }
}
