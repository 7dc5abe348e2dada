//! Security headers on every response, API answers, errors and 404s included (tower-http's
//! [`SetResponseHeaderLayer`]). A handler that sets one of them itself keeps its own value.
//!
//! - `Content-Security-Policy` [`CONTENT_SECURITY_POLICY`]: scripts, styles, images, fonts,
//!   fetches and WebSockets from testum's own origin only (CSP Level 3 lets `'self'` cover `ws:`
//!   and `wss:` to the same host); no plugins, no `<base>` elsewhere, forms post only to
//!   testum, and no site may frame it (`frame-ancestors 'none'`, clickjacking). `data:` images
//!   are allowed for the icons Swagger UI (`/api/docs`) embeds in its CSS; inline `style`
//!   attributes are allowed because Swagger UI renders some, while inline scripts stay forbidden.
//! - `X-Frame-Options: DENY` (the same for browsers without CSP 2), `X-Content-Type-Options:
//!   nosniff`, `Referrer-Policy: no-referrer` (URLs with task ids never leak to other sites).
//! - `Strict-Transport-Security: max-age=31536000` (RFC 6797) only when testum serves HTTPS
//!   itself; over plain HTTP a browser ignores it, and behind a TLS-terminating proxy the proxy
//!   sets it.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;

/// The policy sent as `Content-Security-Policy`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; \
     connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; \
     frame-ancestors 'none'";

/// `Strict-Transport-Security` under TLS: one year, this host only (other services on sibling
/// names may not speak HTTPS).
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

/// `router` with the security headers on every response; HSTS when `https`.
pub fn apply(router: Router, https: bool) -> Router {
    let headers: [(HeaderName, &'static str); 4] = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    let mut router = router;
    for (name, value) in headers {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    if https {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
        ));
    }
    router
}
