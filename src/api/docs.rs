//! API documentation: the OpenAPI 3.1 document at `GET /api/openapi.json`, generated from the
//! same registrations as the router (utoipa-axum's `routes!`, see [`super::routes`]), and Swagger
//! UI at `GET /api/docs`, whose files are built into the binary (utoipa-swagger-ui's `vendored`
//! feature), so the page works offline and loads nothing from another host. Both are public.
//!
//! The access table ([`super::access::RULES`]) completes the document: every operation that needs
//! a role gets the `bearer` security requirement and its 401 and 403 answers, and says in its
//! description which role it needs. The extractors complete it too ([`input_errors`]): every
//! operation lists the answers its JSON body, query and path parameters can get. Operation ids are `tag.handler` (`keys.list`), unique where
//! handler names alone (`list`, `get`) are not.

use std::sync::{Arc, OnceLock};

use axum::Json;
use axum::extract::Extension;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr};
use utoipa_swagger_ui::Config;

use super::access::{self, Access};
use super::error::{ApiError, FieldError, Problem};
use super::extract::ApiPath;
use super::extract::MAX_BODY_BYTES;

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/api/openapi.json";
/// Where Swagger UI is served; its files are under `/api/docs/{file}`.
pub const DOCS_PATH: &str = "/api/docs";
/// The security scheme name used in the document.
const BEARER: &str = "bearer";

/// The parts of the document that no route contributes: title, security scheme, error schemas.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "testum",
        description = "SSH key registry and fleet commands. Errors are RFC 9457 \
                       application/problem+json; a 422 lists the invalid fields in `errors`. \
                       Lists take `limit` and `cursor` and answer `{items, next_cursor}`."
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&BearerScheme)
)]
pub struct ApiDoc;

struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An access token (JWT) from POST /api/auth/login or /api/auth/refresh, \
                         or an API token (`tsm_...`) from POST /api/tokens, sent as \
                         `Authorization: Bearer <token>` (WebSocket: also `?access_token=`).",
                    ))
                    .build(),
            ),
        );
    }
}

/// The served document.
#[derive(Clone)]
pub struct Document(Arc<utoipa::openapi::OpenApi>);

impl Document {
    /// Complete `openapi` from the access table and keep it for [`openapi_json`].
    pub fn new(mut openapi: utoipa::openapi::OpenApi) -> Document {
        complete(&mut openapi);
        Document(Arc::new(openapi))
    }
}

/// Qualify operation ids with their tag; add security, 401 and 403 to every operation the access
/// table guards.
fn complete(openapi: &mut utoipa::openapi::OpenApi) {
    for (path, item) in openapi.paths.paths.iter_mut() {
        let operations = [
            (Method::GET, &mut item.get),
            (Method::POST, &mut item.post),
            (Method::PUT, &mut item.put),
            (Method::PATCH, &mut item.patch),
            (Method::DELETE, &mut item.delete),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            if let (Some(id), Some([tag, ..])) =
                (&operation.operation_id, &operation.tags.as_deref())
            {
                operation.operation_id = Some(format!("{tag}.{id}"));
            }
            input_errors(operation);
            match access::rule_for(&method, path).map(|r| r.access) {
                Some(Access::Public) => {}
                Some(Access::SignedIn) => guard(operation, "Any signed-in user."),
                Some(Access::AtLeast(role)) => guard(
                    operation,
                    &format!("Requires role `{role}` or higher over the whole fleet."),
                ),
                Some(Access::Scoped(role)) => guard(
                    operation,
                    &format!(
                        "Requires role `{role}` or higher on the platforms it touches (a \
                         grant's scope); platforms out of scope are not listed, and an action \
                         on one is refused whole (403 naming them)."
                    ),
                ),
                None => guard(operation, "No access rule: the server refuses it."),
            }
        }
    }
}

fn guard(operation: &mut Operation, note: &str) {
    operation.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
    operation.description = Some(match operation.description.take() {
        Some(text) => format!("{text}\n\n{note}"),
        None => note.to_string(),
    });
    answers_problem(operation, "401", "No valid access token.");
    answers_problem(
        operation,
        "403",
        "The caller's role is too weak for this route.",
    );
}

/// Add the answers the extractors ([`super::extract`]) give to bad input, where the operation
/// does not document them itself: a JSON body ([`super::extract::ApiJson`]) is 400 when it is
/// not JSON, 413 over [`MAX_BODY_BYTES`], 415 without a JSON `Content-Type`, 422 for a field;
/// query parameters ([`super::extract::ApiQuery`]) are 422 (a repeated parameter, a bad
/// value); a path parameter ([`super::extract::ApiPath`]) that names nothing is 404.
fn input_errors(operation: &mut Operation) {
    let too_large = format!(
        "The body is larger than {} MiB.",
        MAX_BODY_BYTES / (1024 * 1024)
    );
    let mut answers = Vec::new();
    if operation.request_body.is_some() {
        answers.extend([
            ("400", "The body is not valid JSON."),
            ("413", too_large.as_str()),
            (
                "415",
                "The body is not JSON (`Content-Type: application/json` is required).",
            ),
            ("422", "A field is invalid; `errors` names it."),
        ]);
    }
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let has = |place: ParameterIn| {
        parameters
            .iter()
            .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == place))
    };
    if has(ParameterIn::Query) {
        answers.push(("422", "A parameter is invalid; `errors` names it."));
    }
    if has(ParameterIn::Path) {
        answers.push(("404", "Nothing has this id."));
    }
    for (status, text) in answers {
        answers_problem(operation, status, text);
    }
}

/// Document that `operation` answers `status` with problem+json, unless it documents `status`
/// itself.
fn answers_problem(operation: &mut Operation, status: &str, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| RefOr::T(problem_response(description)));
}

/// A documented problem+json answer.
fn problem_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            Content::new(Some(Ref::from_schema_name("Problem"))),
        )
        .build()
}

/// `GET /api/openapi.json`: this API's OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "docs",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn openapi_json(
    Extension(document): Extension<Document>,
) -> Json<utoipa::openapi::OpenApi> {
    Json(document.0.as_ref().clone())
}

/// `GET /api/docs`: Swagger UI over [`OPENAPI_PATH`].
#[utoipa::path(
    get,
    path = "/api/docs",
    tag = "docs",
    responses((status = 200, description = "Swagger UI", content_type = "text/html"))
)]
pub async fn index() -> Response {
    // Trailing slashes are trimmed before routing, so the page is served at `/api/docs` and its
    // relative links (`./swagger-ui.css`) are anchored to `/api/docs/` with a `<base>`.
    match swagger_file("index.html") {
        Ok((_, body)) => {
            let html = String::from_utf8_lossy(&body).replacen(
                "<head>",
                &format!("<head>\n<base href=\"{DOCS_PATH}/\">"),
                1,
            );
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                )],
                html,
            )
                .into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// `GET /api/docs/{file}`: a file of Swagger UI (scripts, styles, icons).
#[utoipa::path(
    get,
    path = "/api/docs/{file}",
    tag = "docs",
    params(("file" = String, Path, description = "File name, e.g. `swagger-ui-bundle.js`")),
    responses(
        (status = 200, description = "The file"),
        (status = 404, description = "No such file", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn asset(ApiPath(file): ApiPath<String>) -> Response {
    match swagger_file(&file) {
        Ok((content_type, body)) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Content type and bytes of Swagger UI's `file`, or 404.
fn swagger_file(file: &str) -> Result<(HeaderValue, Vec<u8>), ApiError> {
    let missing = || ApiError::not_found(format!("no file {file:?} in the API docs"));
    let found = utoipa_swagger_ui::serve(file, swagger_config()).map_err(ApiError::internal)?;
    let found = found.ok_or_else(missing)?;
    let content_type = HeaderValue::from_str(&found.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    Ok((content_type, found.bytes.into_owned()))
}

/// Swagger UI's configuration: our document, and no online validator (it would call another
/// host with the document).
fn swagger_config() -> Arc<Config<'static>> {
    static CONFIG: OnceLock<Arc<Config<'static>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| Arc::new(Config::new([OPENAPI_PATH]).validator_url("none")))
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn swagger_ui_is_built_in_and_offline() {
        let (_, html) = swagger_file("index.html").unwrap();
        assert!(String::from_utf8_lossy(&html).contains("swagger-ui"));
        let (_, init) = swagger_file("swagger-initializer.js").unwrap();
        let init = String::from_utf8_lossy(&init);
        assert!(init.contains(OPENAPI_PATH) && init.contains("\"validatorUrl\": \"none\""));
        assert_eq!(
            swagger_file("nope.js").unwrap_err().status,
            StatusCode::NOT_FOUND
        );
    }
}
