//! Who may call which route: one table, [`RULES`], maps every `(method, path template)` of the
//! router to who may call it ([`Access`]): anyone, any signed-in user, the weakest [`Role`]
//! allowed over the whole fleet, or the weakest role allowed on the platforms the route touches.
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
//! import) and manages users, groups and grants.
//!
//! Scopes (see [`crate::grants`]): a user's role may hold on part of the fleet only. A route
//! about something else than platforms ([`Access::AtLeast`]) needs the role fleet-wide. A route
//! about platforms or tasks ([`Access::Scoped`]) lets through a user who holds the role
//! somewhere; its handler then checks the role on each platform it touches
//! ([`super::scope`]): an action is refused whole (403 naming the platforms out of scope), a
//! list shows only the platforms in scope.

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::AuthUser;
use super::error::ApiError;
use crate::grants::Grants;
use crate::role::Role;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token.
    Public,
    /// Any signed-in user, even one without any role (their own account).
    SignedIn,
    /// A signed-in user (or API token) whose fleet-wide role is at least this one.
    AtLeast(Role),
    /// A signed-in user who holds at least this role on some platforms; the handler checks the
    /// role on every platform the request touches.
    Scoped(Role),
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

use Access::{AtLeast, Public, Scoped, SignedIn};
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
    rule("POST", "/api/auth/logout", SignedIn),
    // Users, groups and grants: fleet-wide admin only, except changing one's own password.
    rule("GET", "/api/users", AtLeast(Admin)),
    rule("POST", "/api/users", AtLeast(Admin)),
    rule("GET", "/api/users/{id}", AtLeast(Admin)),
    rule("PATCH", "/api/users/{id}", AtLeast(Admin)),
    rule("DELETE", "/api/users/{id}", AtLeast(Admin)),
    rule("POST", "/api/users/me/password", SignedIn),
    // Two-factor sign-in: everyone enrols their own; resetting another user's is an admin's.
    rule("GET", "/api/users/me/totp", SignedIn),
    rule("POST", "/api/users/me/totp", SignedIn),
    rule("POST", "/api/users/me/totp/confirm", SignedIn),
    rule("POST", "/api/users/me/totp/disable", SignedIn),
    rule("DELETE", "/api/users/{id}/totp", AtLeast(Admin)),
    rule("GET", "/api/groups", AtLeast(Admin)),
    rule("POST", "/api/groups", AtLeast(Admin)),
    rule("GET", "/api/groups/{id}", AtLeast(Admin)),
    rule("PATCH", "/api/groups/{id}", AtLeast(Admin)),
    rule("DELETE", "/api/groups/{id}", AtLeast(Admin)),
    rule("GET", "/api/grants", AtLeast(Admin)),
    rule("POST", "/api/grants", AtLeast(Admin)),
    rule("DELETE", "/api/grants/{id}", AtLeast(Admin)),
    // API tokens: everyone manages their own (capped at their strongest role); fleet-wide
    // admins see all.
    rule("GET", "/api/tokens", SignedIn),
    rule("POST", "/api/tokens", SignedIn),
    rule("DELETE", "/api/tokens/{id}", SignedIn),
    // Keys: the registry is shared; registering one touches no platform. Changing or deleting
    // one (its expiry removes it wherever it is) is fleet-wide; replacing and revoking it
    // everywhere are checked on every platform they reach.
    rule("GET", "/api/keys", Scoped(Viewer)),
    rule("POST", "/api/keys", Scoped(Operator)),
    rule("GET", "/api/keys/{id}", Scoped(Viewer)),
    rule("PATCH", "/api/keys/{id}", AtLeast(Operator)),
    rule("DELETE", "/api/keys/{id}", AtLeast(Operator)),
    rule("POST", "/api/keys/{id}/replace", Scoped(Operator)),
    rule("POST", "/api/keys/{id}/revoke", Scoped(Operator)),
    rule("POST", "/api/keys/import", Scoped(Operator)),
    // Platforms: lists show the platforms in scope; each change is checked on its platform.
    rule("GET", "/api/platforms", Scoped(Viewer)),
    rule("POST", "/api/platforms", Scoped(Operator)),
    // An import creates and updates platforms by name across the inventory.
    rule("POST", "/api/platforms/import", AtLeast(Operator)),
    rule("GET", "/api/platforms/match", Scoped(Viewer)),
    rule("GET", "/api/platforms/{id}", Scoped(Viewer)),
    rule("PATCH", "/api/platforms/{id}", Scoped(Operator)),
    rule("DELETE", "/api/platforms/{id}", Scoped(Operator)),
    rule("GET", "/api/platforms/{id}/keys", Scoped(Viewer)),
    rule("GET", "/api/platforms/{id}/scan", Scoped(Viewer)),
    rule("GET", "/api/access", Scoped(Viewer)),
    // Pinning a host key is a trust decision.
    rule("POST", "/api/platforms/{id}/host_key/trust", Scoped(Admin)),
    rule("POST", "/api/platforms/{id}/deploy_keys", Scoped(Operator)),
    rule("POST", "/api/platforms/{id}/revoke_keys", Scoped(Operator)),
    rule("POST", "/api/platforms/{id}/run_command", Scoped(Operator)),
    // Pinning host keys from known_hosts lines is a trust decision too.
    rule("POST", "/api/known_hosts", Scoped(Admin)),
    // Tasks: seen through their targets in scope; created and cancelled only with the role on
    // every target.
    rule("GET", "/api/tasks", Scoped(Viewer)),
    rule("POST", "/api/tasks", Scoped(Operator)),
    rule("GET", "/api/tasks/{id}", Scoped(Viewer)),
    rule("GET", "/api/tasks/{id}/output", Scoped(Viewer)),
    rule("GET", "/api/tasks/{id}/targets", Scoped(Viewer)),
    rule("GET", "/api/tasks/{id}/output_groups", Scoped(Viewer)),
    rule("POST", "/api/tasks/{id}/cancel", Scoped(Operator)),
    rule("GET", "/ws/tasks/{id}", Scoped(Viewer)),
    // Schedules: they create tasks, so writing them is an operator's; a firing is checked on
    // every platform against its creator's grants.
    rule("GET", "/api/schedules", Scoped(Viewer)),
    rule("POST", "/api/schedules", Scoped(Operator)),
    rule("GET", "/api/schedules/{id}", Scoped(Viewer)),
    rule("PATCH", "/api/schedules/{id}", Scoped(Operator)),
    rule("DELETE", "/api/schedules/{id}", Scoped(Operator)),
    // Audit log: it names every platform, so fleet-wide.
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
    let refused = match (rule.access, request.extensions().get::<AuthUser>()) {
        (Public, _) => None,
        // require_auth runs first; a request without a user here was not authenticated.
        (_, None) => Some(ApiError::unauthorized("an access token is required")),
        (access, Some(user)) => {
            refusal(access, &user.grants).map(|detail| ApiError::new(StatusCode::FORBIDDEN, detail))
        }
    };
    match refused {
        None => next.run(request).await,
        Some(error) => error.into_response(),
    }
}

/// Why `grants` may not call a route with `access`, if they may not: `requires role X`, or
/// for a role held on part of the fleet only where the route needs it fleet-wide, `requires
/// role X on the whole fleet`.
pub fn refusal(access: Access, grants: &Grants) -> Option<String> {
    match access {
        Public | SignedIn => None,
        AtLeast(role) if grants.fleet() >= Some(role) => None,
        AtLeast(role) if grants.strongest() >= Some(role) => Some(format!(
            "requires role {role} on the whole fleet; your grants cover only part of it"
        )),
        Scoped(role) if grants.strongest() >= Some(role) => None,
        AtLeast(role) | Scoped(role) => Some(format!("requires role {role}")),
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
            Some(Scoped(Viewer))
        );
        assert_eq!(
            rule_for(&Method::POST, "/api/platforms/{id}/host_key/trust").map(|r| r.access),
            Some(Scoped(Admin))
        );
        assert!(rule_for(&Method::PUT, "/api/keys").is_none());
    }

    #[test]
    fn fleet_routes_refuse_a_scoped_role_and_scoped_routes_let_it_through() {
        let web: crate::selector::Selector = "tag:web".parse().unwrap();
        let scoped_admin = Grants::new(
            Some(Viewer),
            [crate::grants::ScopedGrant {
                role: Admin,
                selector: web,
            }],
        );
        assert_eq!(refusal(Scoped(Admin), &scoped_admin), None);
        assert_eq!(refusal(AtLeast(Viewer), &scoped_admin), None);
        assert_eq!(
            refusal(AtLeast(Admin), &scoped_admin).as_deref(),
            Some("requires role admin on the whole fleet; your grants cover only part of it")
        );
        let nobody = Grants::new(None, []);
        assert_eq!(refusal(SignedIn, &nobody), None);
        assert_eq!(
            refusal(Scoped(Viewer), &nobody).as_deref(),
            Some("requires role viewer")
        );
        assert_eq!(
            refusal(AtLeast(Operator), &Grants::fleet_wide(Viewer)).as_deref(),
            Some("requires role operator")
        );
    }
}
