//! Who may call which route: one table, [`RULES`], maps every `(method, path template)` of the
//! router to [`Access::Public`] or the weakest [`Role`] allowed to call it.
//!
//! Two middlewares read it, so the table is the only place that decides access:
//! [`super::auth::require_auth`] lets requests to public routes through without a token (see
//! [`needs_auth`]), and [`authorize`], which runs after it, answers 403 problem+json ("requires
//! role X") when the signed-in user's role is weaker than the rule's. A routed operation without a
//! rule is refused with 403 and logged at error (fail closed); `tests/it/api_access.rs` walks every
//! route of the router against this table, so a new route without a rule fails the tests first.
//! (A method that is not routed at all never reaches these layers: the router answers 405.)
//!
//! Roles (see [`crate::role`]): `viewer` reads everything except secrets, `operator` also changes
//! keys and platforms and runs tasks, `admin` also decides trust (host-key re-trust, known_hosts
//! import).

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::AuthUser;
use super::error::ApiError;
use crate::role::Role;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token.
    Public,
    /// A signed-in user (or API token) whose role is at least this one.
    AtLeast(Role),
}

/// One row of the access table: `method` (upper case, e.g. `GET`) on `path`, the route template
/// exactly as registered (`/api/keys/{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

const fn rule(method: &'static str, path: &'static str, access: Access) -> Rule {
    Rule {
        method,
        path,
        access,
    }
}

use Access::{AtLeast, Public};
use Role::{Admin, Operator, Viewer};

/// Every route of the API and who may call it. `HEAD` follows the `GET` rule.
pub const RULES: &[Rule] = &[
    // Operations and documentation: public.
    rule("GET", "/healthz", Public),
    rule("GET", "/readyz", Public),
    // Public unless TESTUM_METRICS_TOKEN is set; then the handler checks that token itself.
    rule("GET", "/metrics", Public),
    rule("GET", "/api/openapi.json", Public),
    rule("GET", "/api/docs", Public),
    rule("GET", "/api/docs/{file}", Public),
    // Signing in and out.
    rule("POST", "/api/auth/login", Public),
    rule("POST", "/api/auth/refresh", Public),
    rule("POST", "/api/auth/logout", AtLeast(Viewer)),
    // Users: admin only, except changing one's own password.
    rule("GET", "/api/users", AtLeast(Admin)),
    rule("POST", "/api/users", AtLeast(Admin)),
    rule("GET", "/api/users/{id}", AtLeast(Admin)),
    rule("PATCH", "/api/users/{id}", AtLeast(Admin)),
    rule("DELETE", "/api/users/{id}", AtLeast(Admin)),
    rule("POST", "/api/users/me/password", AtLeast(Viewer)),
    // Two-factor sign-in: everyone enrols their own; resetting another user's is an admin's.
    rule("GET", "/api/users/me/totp", AtLeast(Viewer)),
    rule("POST", "/api/users/me/totp", AtLeast(Viewer)),
    rule("POST", "/api/users/me/totp/confirm", AtLeast(Viewer)),
    rule("POST", "/api/users/me/totp/disable", AtLeast(Viewer)),
    rule("DELETE", "/api/users/{id}/totp", AtLeast(Admin)),
    // API tokens: everyone manages their own (capped at their role); admins see all.
    rule("GET", "/api/tokens", AtLeast(Viewer)),
    rule("POST", "/api/tokens", AtLeast(Viewer)),
    rule("DELETE", "/api/tokens/{id}", AtLeast(Viewer)),
    // Keys.
    rule("GET", "/api/keys", AtLeast(Viewer)),
    rule("POST", "/api/keys", AtLeast(Operator)),
    rule("GET", "/api/keys/{id}", AtLeast(Viewer)),
    rule("PATCH", "/api/keys/{id}", AtLeast(Operator)),
    rule("DELETE", "/api/keys/{id}", AtLeast(Operator)),
    rule("POST", "/api/keys/{id}/replace", AtLeast(Operator)),
    rule("POST", "/api/keys/{id}/revoke", AtLeast(Operator)),
    rule("POST", "/api/keys/import", AtLeast(Operator)),
    // Platforms.
    rule("GET", "/api/platforms", AtLeast(Viewer)),
    rule("POST", "/api/platforms", AtLeast(Operator)),
    rule("POST", "/api/platforms/import", AtLeast(Operator)),
    rule("GET", "/api/platforms/match", AtLeast(Viewer)),
    rule("GET", "/api/platforms/{id}", AtLeast(Viewer)),
    rule("PATCH", "/api/platforms/{id}", AtLeast(Operator)),
    rule("DELETE", "/api/platforms/{id}", AtLeast(Operator)),
    rule("GET", "/api/platforms/{id}/keys", AtLeast(Viewer)),
    rule("GET", "/api/platforms/{id}/scan", AtLeast(Viewer)),
    rule("GET", "/api/access", AtLeast(Viewer)),
    // Pinning a host key is a trust decision.
    rule("POST", "/api/platforms/{id}/host_key/trust", AtLeast(Admin)),
    rule("POST", "/api/platforms/{id}/deploy_keys", AtLeast(Operator)),
    rule("POST", "/api/platforms/{id}/revoke_keys", AtLeast(Operator)),
    rule("POST", "/api/platforms/{id}/run_command", AtLeast(Operator)),
    // Pinning host keys from known_hosts lines is a trust decision too.
    rule("POST", "/api/known_hosts", AtLeast(Admin)),
    // Tasks.
    rule("GET", "/api/tasks", AtLeast(Viewer)),
    rule("POST", "/api/tasks", AtLeast(Operator)),
    rule("GET", "/api/tasks/{id}", AtLeast(Viewer)),
    rule("GET", "/api/tasks/{id}/output", AtLeast(Viewer)),
    rule("GET", "/api/tasks/{id}/targets", AtLeast(Viewer)),
    rule("GET", "/api/tasks/{id}/output_groups", AtLeast(Viewer)),
    rule("POST", "/api/tasks/{id}/cancel", AtLeast(Operator)),
    rule("GET", "/ws/tasks/{id}", AtLeast(Viewer)),
    // Schedules: they create tasks, so writing them is an operator's.
    rule("GET", "/api/schedules", AtLeast(Viewer)),
    rule("POST", "/api/schedules", AtLeast(Operator)),
    rule("GET", "/api/schedules/{id}", AtLeast(Viewer)),
    rule("PATCH", "/api/schedules/{id}", AtLeast(Operator)),
    rule("DELETE", "/api/schedules/{id}", AtLeast(Operator)),
    // Audit log.
    rule("GET", "/api/audit", AtLeast(Viewer)),
    // Notification endpoints send fleet events out of testum: admin only.
    rule("GET", "/api/notifications", AtLeast(Admin)),
    rule("POST", "/api/notifications", AtLeast(Admin)),
    rule("GET", "/api/notifications/{id}", AtLeast(Admin)),
    rule("PATCH", "/api/notifications/{id}", AtLeast(Admin)),
    rule("DELETE", "/api/notifications/{id}", AtLeast(Admin)),
    rule("POST", "/api/notifications/{id}/test", AtLeast(Admin)),
    rule("GET", "/api/notifications/{id}/deliveries", AtLeast(Admin)),
];

/// The rule for `method` on the route template `path`, if the table has one.
pub fn rule_for(method: &Method, path: &str) -> Option<&'static Rule> {
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    RULES.iter().find(|r| r.path == path && r.method == method)
}

/// Whether `request` must carry credentials: false only for a route the table makes public.
pub fn needs_auth(request: &Request) -> bool {
    let public = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|path| rule_for(request.method(), path.as_str()))
        .is_some_and(|rule| rule.access == Public);
    !public
}

/// Middleware after [`super::auth::require_auth`]: let the request through when the table allows
/// the caller's role, else 403 problem+json "requires role X". A route without a rule is refused
/// with 403 and logged at error.
pub async fn authorize(request: Request, next: Next) -> Response {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let Some(rule) = path
        .as_deref()
        .and_then(|path| rule_for(request.method(), path))
    else {
        tracing::error!(
            method = %request.method(),
            route = path.as_deref().unwrap_or("(unmatched)"),
            "route has no rule in the access table; refused"
        );
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "this route has no access rule; the server refuses it",
        )
        .into_response();
    };
    let needed = rule.access;
    let AtLeast(role) = needed else {
        return next.run(request).await;
    };
    match request.extensions().get::<AuthUser>() {
        Some(user) if user.role >= role => next.run(request).await,
        Some(_) => {
            ApiError::new(StatusCode::FORBIDDEN, format!("requires role {role}")).into_response()
        }
        // require_auth runs first; a request without a user here was not authenticated.
        None => ApiError::unauthorized("an access token is required").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_method_and_path_has_one_rule() {
        for (i, a) in RULES.iter().enumerate() {
            assert!(
                RULES[i + 1..]
                    .iter()
                    .all(|b| (a.method, a.path) != (b.method, b.path)),
                "{} {} twice",
                a.method,
                a.path
            );
            assert!(Method::from_bytes(a.method.as_bytes()).is_ok() && a.method != "HEAD");
        }
    }

    #[test]
    fn head_follows_get_and_trust_is_admin_only() {
        assert_eq!(
            rule_for(&Method::HEAD, "/api/keys").map(|r| r.access),
            Some(AtLeast(Viewer))
        );
        assert_eq!(
            rule_for(&Method::POST, "/api/platforms/{id}/host_key/trust").map(|r| r.access),
            Some(AtLeast(Admin))
        );
        assert!(rule_for(&Method::PUT, "/api/keys").is_none());
    }
}
