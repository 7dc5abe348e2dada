//! Browser sessions: the `testum_session` cookie, its CSRF token, login and logout.
//!
//! `POST /ui/login` (an HTML form: `username`, `password`, and `totp`, the two-factor code of an
//! account that has it on) checks them with the same code as `POST /api/auth/login`
//! ([`crate::api::auth::check_password`], failed logins audited), stores
//! a session whose token is 32 random bytes (only its SHA-256 is kept, see
//! [`Store::create_browser_session`](crate::store::Store::create_browser_session)) and sets the
//! cookie `testum_session` (HttpOnly, SameSite=Strict, Path=/; Secure when serving TLS).
//!
//! The cookie is accepted by `require_auth` when no `Authorization` header is sent (the header
//! wins), see [`require_cookie`]. Requests with an unsafe method (anything but GET, HEAD,
//! OPTIONS) authenticated by the cookie must carry `X-CSRF-Token`: base64url (no padding) of
//! HMAC-SHA-256 of the session token under a key derived from the master key; each page carries
//! it in `<meta name="csrf-token">`. Without it: 403. A WebSocket upgrade authenticated by the
//! cookie must come from the same origin (`Origin` host equals `Host`), else 403. The login form
//! itself must be posted from this site (`Sec-Fetch-Site`, else `Origin`), else 403.

use axum::extract::{ConnectInfo, Extension, Form, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::api::AppState;
use crate::api::auth::{AuthUser, SignedInWith, check_password};
use crate::api::error::ApiError;
use crate::api::totp::TOTP_REQUIRED;
use crate::secret::Secret;

/// Name of the session cookie.
pub const COOKIE: &str = "testum_session";
/// Header that carries the CSRF token on unsafe requests authenticated by the cookie.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a browser session lasts: 12 hours, one working shift.
const SESSION_SECS: i64 = 12 * 3600;
/// Purpose string of the CSRF key derived from the master key.
const CSRF_PURPOSE: &str = "testum ui csrf v1";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The signed-in browser user of a page request and the CSRF token its page must carry.
#[derive(Debug, Clone)]
pub struct PageSession {
    pub user: AuthUser,
    pub csrf: String,
}

/// The session token in the request's `Cookie` header(s), if any.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
        .filter(|v| !v.is_empty())
}

/// Hex SHA-256 of a session token: what the store keeps.
fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn csrf_mac(state: &AppState, token: &str) -> Hmac<Sha256> {
    let mut mac = state.master_key.mac(CSRF_PURPOSE);
    mac.update(token.as_bytes());
    mac
}

/// The CSRF token of session `token`.
fn csrf_token(state: &AppState, token: &str) -> String {
    B64.encode(csrf_mac(state, token).finalize().into_bytes())
}

/// Whether `given` is the CSRF token of session `token` (constant-time comparison).
fn csrf_valid(state: &AppState, token: &str, given: &str) -> bool {
    B64.decode(given.trim())
        .is_ok_and(|bytes| csrf_mac(state, token).verify_slice(&bytes).is_ok())
}

/// The user of the request's live session cookie, with the session token; `None` without a
/// cookie or for an expired, ended or unknown session, or a disabled user.
async fn session_user(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(AuthUser, String)>, ApiError> {
    let Some(token) = cookie_token(headers) else {
        return Ok(None);
    };
    let Some(signed_in) = state.store.browser_session(&token_hash(&token)).await? else {
        return Ok(None);
    };
    Ok(Some((
        AuthUser::load(&state.store, signed_in).await?,
        token,
    )))
}

/// The page session of a request for a UI page: `None` means "show the login page".
pub async fn page_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<PageSession>, ApiError> {
    Ok(session_user(state, headers)
        .await?
        .map(|(user, token)| PageSession {
            csrf: csrf_token(state, &token),
            user,
        }))
}

/// Whether the upgrade request's `Origin` names the host it was sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host)),
        _ => false,
    }
}

/// Whether a form post comes from another site: by `Sec-Fetch-Site` when the browser sends it
/// (only `same-origin` and `none`, a typed URL or bookmark, pass), else by `Origin` (present and
/// not naming the host). A client that sends neither (curl, an old browser) is not refused:
/// login CSRF needs a browser, and browsers send at least `Origin` on a cross-site POST.
fn cross_site(headers: &HeaderMap) -> bool {
    match headers
        .get("sec-fetch-site")
        .map(|v| v.to_str().unwrap_or_default())
    {
        Some(site) => !matches!(site, "same-origin" | "none"),
        None => headers.contains_key(header::ORIGIN) && !same_origin(headers),
    }
}

/// The cookie branch of `require_auth`, for requests without an `Authorization` header: 401
/// without a live session; 403 for an unsafe method without a valid `X-CSRF-Token`, or a
/// WebSocket upgrade from another origin. Else the user goes in the request extensions.
pub async fn require_cookie(
    state: &AppState,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some((user, token)) = session_user(state, request.headers()).await? else {
        return Err(ApiError::unauthorized("an access token is required"));
    };
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe {
        let given = request
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !csrf_valid(state, &token, given) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "a request signed in by the session cookie needs a valid X-CSRF-Token header",
            ));
        }
    }
    if request.headers().contains_key(header::UPGRADE) && !same_origin(request.headers()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "a WebSocket signed in by the session cookie must come from the same origin",
        ));
    }
    request.extensions_mut().insert(user);
    request.extensions_mut().insert(SignedInWith::Cookie {
        token_hash: token_hash(&token),
    });
    Ok(next.run(request).await)
}

/// `Set-Cookie` value for `token`, living `max_age` seconds (0 clears it).
fn cookie(token: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("testum_session=; Max-Age=0"))
}

/// Form of `POST /ui/login`.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: Secret,
    /// The two-factor code (or a recovery code); empty for an account without it.
    #[serde(default)]
    totp: Secret,
}

/// `POST /ui/login`: on success a session cookie and a redirect (303) to the keys page; on
/// failure the login page again with the reason (401). A post from another site is refused with
/// 403 before the password is looked at (login CSRF: a hostile page must not sign the browser
/// into the attacker's account), see [`cross_site`].
pub async fn login(
    State(state): State<AppState>,
    connect_info: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, ApiError> {
    if cross_site(&headers) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "the login form must be posted from this site's own login page",
        ));
    }
    state.login_limiter.check(&form.username)?;
    let remote = connect_info.map(|Extension(ConnectInfo(addr))| addr.ip().to_string());
    let totp = Some(&form.totp).filter(|t| !t.expose().trim().is_empty());
    let user = match check_password(&state, &form.username, &form.password, totp, remote).await {
        Ok(user) => user,
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            let code_asked = e.problem_type.is_some();
            let reason = if e.problem_type == Some(TOTP_REQUIRED) {
                "two-factor sign-in is on for this account: type the password again with the \
                 6-digit code of your authenticator app (or a recovery code)"
            } else {
                &e.detail
            };
            let page = super::pages::login_page(&state, &form.username, Some(reason), code_asked)?;
            return Ok((StatusCode::UNAUTHORIZED, page).into_response());
        }
        Err(e) => return Err(e),
    };
    start(&state, &user).await
}

/// Start a browser session for `user`, who just signed in with the login form: the session
/// stored, its cookie set, and a redirect (303) to the keys page.
pub async fn start(state: &AppState, user: &AuthUser) -> Result<Response, ApiError> {
    let mut response = Redirect::to("/ui/keys").into_response();
    let set_cookie = create(state, user).await?;
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie);
    Ok(response)
}

/// Store a new browser session for `user`; the `Set-Cookie` value that hands it to the browser.
pub async fn create(state: &AppState, user: &AuthUser) -> Result<HeaderValue, ApiError> {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = B64.encode(raw);
    let expires = chrono::Utc::now() + chrono::Duration::seconds(SESSION_SECS);
    state
        .store
        .create_browser_session(user.id, &token_hash(&token), expires)
        .await?;
    Ok(cookie(&token, SESSION_SECS, secure_cookies(state)))
}

/// Whether cookies get `Secure`: testum serves TLS itself, or browsers reach it over HTTPS
/// (`TESTUM_PUBLIC_URL` is `https://`, e.g. behind a TLS-terminating proxy).
pub fn secure_cookies(state: &AppState) -> bool {
    state.tls.is_some()
        || state
            .config
            .oidc
            .public_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://"))
}

/// `POST /ui/logout`: ends the session (the form carries the CSRF token as `csrf`), audited as
/// `auth.logout` like the API's logout, clears the cookie and redirects (303) to the login page.
/// Without a valid CSRF token: 403.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Result<Response, ApiError> {
    if let Some(token) = cookie_token(&headers) {
        if !csrf_valid(&state, &token, &form.csrf) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "logout needs the page's CSRF token",
            ));
        }
        state.store.end_browser_session(&token_hash(&token)).await?;
    }
    let mut response = Redirect::to("/").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie("", 0, secure_cookies(&state)));
    Ok(response)
}

/// Form of `POST /ui/logout`.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; testum_session=tok; b=2"),
        );
        assert_eq!(cookie_token(&headers).as_deref(), Some("tok"));
        headers.insert(header::COOKIE, HeaderValue::from_static("testum_session="));
        assert_eq!(cookie_token(&headers), None);
    }

    #[test]
    fn origin_must_name_the_host() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(!same_origin(&headers));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, HeaderValue::from_static("http://evil.test"));
        assert!(!same_origin(&headers));
    }

    #[test]
    fn only_same_origin_logins_pass() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::HOST,
            HeaderValue::from_static("testum.example:8080"),
        );
        assert!(!cross_site(&headers), "curl sends neither header");
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://testum.example:8080"),
        );
        assert!(!cross_site(&headers));
        headers.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(cross_site(&headers));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.test"),
        );
        assert!(cross_site(&headers));
        for (site, refused) in [
            ("same-origin", false),
            ("none", false),
            ("same-site", true),
            ("cross-site", true),
        ] {
            headers.insert("sec-fetch-site", HeaderValue::from_static(site));
            assert_eq!(cross_site(&headers), refused, "{site}");
        }
    }

    #[test]
    fn cookies_are_http_only_and_strict() {
        let value = cookie("t", 60, true);
        let text = value.to_str().unwrap();
        for part in [
            "HttpOnly",
            "SameSite=Strict",
            "Path=/",
            "Secure",
            "Max-Age=60",
        ] {
            assert!(text.contains(part), "{text}");
        }
    }
}
