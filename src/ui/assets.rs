//! Static assets of the UI, embedded in the binary: `GET /ui/static/app.js`, `platforms.js`,
//! `keys.js`, `account.js` and `app.css`.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::api::error::ApiError;
use crate::api::extract::ApiPath;

const APP_JS: &str = include_str!("static/app.js");
/// The platforms page's own script (target set, bulk delete), loaded by that page only.
const PLATFORMS_JS: &str = include_str!("static/platforms.js");
const APP_CSS: &str = include_str!("static/app.css");
const KEYS_JS: &str = include_str!("static/keys.js");
/// The account page's own script (two-factor set-up), loaded by that page only.
const ACCOUNT_JS: &str = include_str!("static/account.js");

/// `GET /ui/static/{file}`: the embedded file with its content type; 404 for any other name.
pub async fn file(ApiPath(name): ApiPath<String>) -> Result<Response, ApiError> {
    let (body, content_type) = match name.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "platforms.js" => (PLATFORMS_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "keys.js" => (KEYS_JS, "text/javascript; charset=utf-8"),
        "account.js" => (ACCOUNT_JS, "text/javascript; charset=utf-8"),
        _ => return Err(ApiError::not_found(format!("no asset {name:?}"))),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}
