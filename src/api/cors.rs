//! Cross-origin requests (CORS, per the WHATWG Fetch standard): only for the origins configured in
//! `TESTUM_CORS_ORIGINS`, through tower-http's [`CorsLayer`].
//!
//! With no origin configured nothing is added: no `Access-Control-*` header on any response, so
//! browsers let only testum's own pages call the API. With origins configured, a request whose
//! `Origin` is one of them goes through the CORS layer (preflights answered, `Access-Control-Allow-
//! Origin` set); any other request passes by it untouched, so a foreign origin sees no CORS
//! header at all. Credentials (cookies) are never allowed cross-origin: the browser session cookie
//! is `SameSite=Strict`, and API clients on another origin send `Authorization: Bearer`.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, Uri, header};
use axum::middleware::{self, Next};
use tower::{Layer as _, ServiceExt as _};
use tower_http::cors::CorsLayer;

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// Parse one configured origin: `http` or `https`, a host, an optional port, nothing else (no
/// path, query, user info or wildcard). The result is serialised as browsers send `Origin`:
/// lowercase, without a default port, without a trailing slash. The error names the origin.
pub fn parse_origin(text: &str) -> Result<HeaderValue, String> {
    let bad = |why: &str| {
        format!("{text:?} is not an origin ({why}); expected e.g. https://ops.example.com")
    };
    let text = text.trim();
    if text == "*" || text.contains('*') {
        return Err(bad("wildcards are not allowed: list each origin"));
    }
    let uri: Uri = text.parse().map_err(|_| bad("not a URL"))?;
    let scheme = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => "https",
        Some(s) if s.eq_ignore_ascii_case("http") => "http",
        _ => return Err(bad("the scheme must be http or https")),
    };
    let authority = uri.authority().ok_or_else(|| bad("no host"))?;
    if authority.as_str().contains('@') {
        return Err(bad("user info is not allowed"));
    }
    if uri.path_and_query().is_some_and(|p| p.as_str() != "/") || text.ends_with('/') {
        return Err(bad("no path or trailing slash"));
    }
    let host = authority.host().to_ascii_lowercase();
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let default_port = if scheme == "https" { 443 } else { 80 };
    let origin = match authority.port_u16() {
        Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    };
    HeaderValue::from_str(&origin).map_err(|_| bad("not a valid header value"))
}

/// `router` with CORS for `origins` (see the module docs); unchanged when `origins` is empty.
pub fn apply(router: Router, origins: &[HeaderValue]) -> Router {
    if origins.is_empty() {
        return router;
    }
    let allowed = origins.to_vec();
    let cors = CorsLayer::new()
        .allow_origin(allowed.clone())
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-csrf-token"),
        ])
        // A front end on another origin must be able to read how long a 429 asks it to wait.
        .expose_headers([header::RETRY_AFTER])
        .max_age(PREFLIGHT_MAX_AGE);
    router.layer(middleware::from_fn(move |request: Request, next: Next| {
        let cors = cors.clone();
        let listed = request
            .headers()
            .get(header::ORIGIN)
            .is_some_and(|origin| allowed.contains(origin));
        async move {
            if listed {
                let inner = tower::service_fn(move |request: Request| {
                    let next = next.clone();
                    async move { Ok::<_, Infallible>(next.run(request).await) }
                });
                return match cors.layer(inner).oneshot(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
            }
            let mut response = next.run(request).await;
            // The answer depends on `Origin` (the CORS layer says so itself for listed ones):
            // a cache must not hand this one to a listed origin.
            response
                .headers_mut()
                .append(header::VARY, HeaderValue::from_static("origin"));
            response
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::parse_origin;

    #[test]
    fn origins_are_normalised_as_browsers_send_them() {
        let ok = |t: &str| parse_origin(t).unwrap().to_str().unwrap().to_string();
        assert_eq!(ok("https://Ops.Example.com"), "https://ops.example.com");
        assert_eq!(ok("https://ops.example.com:443"), "https://ops.example.com");
        assert_eq!(ok("http://localhost:3000"), "http://localhost:3000");
        assert_eq!(ok(" http://[::1]:8080 "), "http://[::1]:8080");
    }

    #[test]
    fn anything_but_an_origin_is_refused_naming_it() {
        for bad in [
            "*",
            "https://*.example.com",
            "ops.example.com",
            "ftp://ops.example.com",
            "https://ops.example.com/",
            "https://ops.example.com/app",
            "https://user@ops.example.com",
            "",
        ] {
            let e = parse_origin(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }
}
