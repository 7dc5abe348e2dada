//! API errors as RFC 9457 `application/problem+json`, with a field-level `errors` list on 422.
//!
//! Every error kind maps to its status explicitly; internal failures are logged with their cause
//! and answered with a 500 that names none of it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::StoreError;

/// One invalid field: `field` is the JSON name (dotted path for nested values).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    /// The JSON name of the field, e.g. `public_key`, `platform_ids[2]` or `body`.
    pub field: String,
    /// What is wrong with it, for a person.
    pub message: String,
}

/// An error answer of the API.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Seconds for the `Retry-After` header (RFC 9110 §10.2.3) of a 429.
    pub retry_after: Option<u64>,
    /// A problem type of testum's own, when a client must tell this problem from others of the
    /// same status; `None`: `about:blank`.
    pub problem_type: Option<ProblemType>,
}

/// A problem type (RFC 9457 §3.1.1) a client can act on, e.g. by asking for a second factor.
/// The URI is a `tag:` URI (RFC 4151, which RFC 9457 §3.1.1 suggests for types that need not
/// resolve); clients compare it as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProblemType {
    /// The `type` member.
    pub uri: &'static str,
    /// The `title` member: a short summary of the type (the status's phrase stays in `status`).
    pub title: &'static str,
}

/// The body of every error answer (`application/problem+json`, RFC 9457).
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem<'a> {
    /// `about:blank` (the status says what kind of problem it is), or a `tag:testum,2026:...`
    /// URI a client may act on: `tag:testum,2026:totp-required` (401 of login: send `totp`),
    /// `tag:testum,2026:totp-invalid` (401 of login: the second factor was wrong),
    /// `tag:testum,2026:totp-enrolment-required` (403: turn on two-factor sign-in first).
    #[serde(rename = "type")]
    kind: &'static str,
    /// The status's reason phrase, e.g. `Unprocessable Entity`, or the summary of `type`.
    title: &'a str,
    /// The HTTP status code.
    status: u16,
    /// What went wrong, for a person; never a secret or an internal cause.
    detail: &'a str,
    /// On 422 only: every invalid field.
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

impl ApiError {
    /// An error with `status` and a human `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
            problem_type: None,
        }
    }

    /// An error of problem type `problem_type` with `status` and a human `detail`.
    pub fn typed(
        status: StatusCode,
        problem_type: ProblemType,
        detail: impl Into<String>,
    ) -> ApiError {
        ApiError {
            problem_type: Some(problem_type),
            ..ApiError::new(status, detail)
        }
    }

    /// 422 with field errors.
    pub fn invalid(errors: Vec<FieldError>) -> ApiError {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail,
            errors,
            retry_after: None,
            problem_type: None,
        }
    }

    /// 422 for one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::invalid(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    /// 404 naming what was not found.
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, what)
    }

    /// 401 with the same answer for every authentication failure.
    pub fn unauthorized(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// 403: signed in, but the role is too weak for this.
    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, detail)
    }

    /// 429 asking the client to wait `retry_after_secs` seconds.
    pub fn too_many_requests(retry_after_secs: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after_secs),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many attempts; retry in {retry_after_secs} s"),
            )
        }
    }

    /// 500: logs `cause` and tells the client nothing about it.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; the server log has the details",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound => ApiError::not_found("not found"),
            StoreError::Conflict(message) => ApiError::new(StatusCode::CONFLICT, message),
            StoreError::Db(_)
            | StoreError::Corrupt(_)
            | StoreError::Migrate(_)
            | StoreError::Io(_)
            | StoreError::TooNew { .. } => ApiError::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (kind, title) = match self.problem_type {
            Some(problem) => (problem.uri, problem.title),
            None => (
                "about:blank",
                self.status.canonical_reason().unwrap_or("Error"),
            ),
        };
        let body = Problem {
            kind,
            title,
            status: self.status.as_u16(),
            detail: &self.detail,
            errors: &self.errors,
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (self.status, json).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Collects field errors while a request is validated.
#[derive(Debug, Default)]
pub struct Errors(Vec<FieldError>);

impl Errors {
    /// Record that `field` is invalid because `message`.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.to_string(),
            message: message.into(),
        });
    }

    /// Keep the value of a check, or record its error under `field`.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.add(field, e.to_string());
                None
            }
        }
    }

    /// How many errors were recorded so far.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no error was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` when nothing was recorded, else a 422.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(self.0))
        }
    }
}
